"""The epoch loop on the GPU: many epochs per call, stopping rules included.

The twin of :mod:`fastnn.cpu.training`, with the same bundles and contracts.
Data, weights, optimizer slots and the weight backups stay on the device for the
whole call; per batch the host only launches kernels (:mod:`fastnn.cuda.network`),
and per epoch it reads back one small ``stats`` vector (loss, non-finite flag,
validation score, accuracy or R^2, and validation loss, all summed on the
device). The learning
rates and the stopping rules are scalar bookkeeping:
:func:`fastnn.ops.schedules.step_size` and
:func:`~fastnn.ops.schedules.end_of_epoch` run as plain Python on the host
between launches, on the same ``state`` slots as the CPU backend's.

Shuffled epochs visit the samples in the order of a keyed Feistel bijection
(:mod:`fastnn.ops.permutation`) computed on the device for each batch, so there
is neither an order array nor a host shuffle. The order differs from NumPy's
shuffle: shuffled CUDA fits are statistically equivalent to CPU fits, not
identical; unshuffled and ``'gd'`` fits agree.
"""

import math
from typing import NamedTuple

import numpy as np
from numba import cuda

from ..ops import losses as loss_ops
from ..ops import optimizers as opt_ops
from ..ops import permutation as perm_ops
from ..ops import schedules
from ..ops.layout import unpack
from ..ops.schedules import CONVERGED, DIVERGED, LR_TOO_SMALL, RUNNING
from . import network
from .network import (
    BATCH_WEIGHT,
    EPOCH_LOSS,
    NON_FINITE,
    RESIDUAL,
    SCORE,
    VAL_CORRECT,
    VAL_LOSS,
    VAL_R2,
    VAL_WEIGHT,
    launch,
    no_rows,
    reduce_launch,
)

_device = network._device
_gd_step = _device(opt_ops.gd_step)
_sgd_step = _device(opt_ops.sgd_step)
_adam_step = _device(opt_ops.adam_step)

# Slots of the float64 device vector of the optimizer's constants
# (:func:`coefficients`), read by the update kernels.
MOMENTUM = 0
NESTEROV = 1
BETA_1 = 2
BETA_2 = 3
EPSILON = 4
REST_1 = 5  # 1 - beta_1
REST_2 = 6  # 1 - beta_2
N_COEFFICIENTS = 7


class Visits(NamedTuple):
    """Which training samples the epochs visit, and in which order."""

    #: Device array of the training rows (indices into ``data``).
    rows: np.ndarray
    #: Device int64 array (n_epochs, 4): epoch ``e`` visits ``rows`` in the order
    #: of the Feistel bijection keyed by ``keys[e % n_epochs]``; (0, 4): in order.
    keys: np.ndarray


def coefficients(solver):
    """The solver's update constants as a float64 device vector (slots above).

    Kernels take arrays and scalars, not the :class:`~fastnn.ops.bundles.Solver`
    bundle; this vector keeps the update kernels' argument lists short.
    """
    host = np.zeros(N_COEFFICIENTS)
    host[MOMENTUM] = solver.momentum
    host[NESTEROV] = float(solver.nesterov)
    host[BETA_1] = solver.beta_1
    host[BETA_2] = solver.beta_2
    host[EPSILON] = solver.epsilon
    host[REST_1] = 1.0 - solver.beta_1
    host[REST_2] = 1.0 - solver.beta_2
    return cuda.to_device(host)


@_device
def param_update(param, grad, slot1, slot2, kind, lr, coefs):
    """``(param, slot1, slot2)`` after a gd / sgd / adam step (Adam: ``lr`` is lr_t)."""
    if kind == opt_ops.ADAM:
        return _adam_step(param, grad, slot1, slot2, lr, coefs[BETA_1],
                          coefs[REST_1], coefs[BETA_2], coefs[REST_2],
                          coefs[EPSILON])
    if kind == opt_ops.SGD:
        param, slot1 = _sgd_step(param, grad, slot1, lr, coefs[MOMENTUM],
                                 coefs[NESTEROV] != 0.0)
        return param, slot1, slot2
    return _gd_step(param, grad, lr), slot1, slot2


@cuda.jit
def update_layer(A_in, D, m, theta, slot1, slot2, offset, alpha, stats, kind, lr,
                 coefs):
    """Gradient of one layer's parameters fused with their optimizer step.

    Fused so that the gradient never goes through global memory; one thread per
    parameter (see :func:`fastnn.cuda.network.param_grad`).
    """
    n = (A_in.shape[1] + 1) * D.shape[1]
    sw_sum = stats[BATCH_WEIGHT]
    for t in range(cuda.grid(1), n, cuda.gridsize(1)):
        p = offset + t
        g = network.param_grad(t, A_in, D, m, theta, offset, alpha, sw_sum)
        theta[p], slot1[p], slot2[p] = param_update(theta[p], g, slot1[p],
                                                    slot2[p], kind, lr, coefs)
        if not math.isfinite(theta[p]):
            stats[NON_FINITE] = 1.0


@cuda.jit
def copy(src, dst):
    """``dst[:] = src`` on the device."""
    for p in range(cuda.grid(1), src.shape[0], cuda.gridsize(1)):
        dst[p] = src[p]


@_device
def _clear_val(stats, val_sums):
    stats[VAL_CORRECT] = 0.0
    stats[VAL_WEIGHT] = 0.0
    stats[VAL_LOSS] = 0.0
    for c in range(val_sums.shape[1]):
        val_sums[RESIDUAL, c] = 0.0


@cuda.jit
def start_epoch(theta, backups, stats, val_sums):
    """``backups = [backups[1], theta]`` and the epoch's ``stats`` and validation
    sums cleared."""
    for p in range(cuda.grid(1), theta.shape[0], cuda.gridsize(1)):
        backups[0, p] = backups[1, p]
        backups[1, p] = theta[p]
    if cuda.grid(1) == 0:
        stats[EPOCH_LOSS] = 0.0
        stats[NON_FINITE] = 0.0
        _clear_val(stats, val_sums)


@cuda.jit
def _clear_scores(stats, val_sums):
    if cuda.grid(1) == 0:
        _clear_val(stats, val_sums)


def _descend(net, params, solver, lr, coefs, work, m):
    """Gradient of the batch in ``work`` fused with the optimizer step: (6), (7).

    The output layer first: ``hidden_delta`` has read ``W2`` already.
    """
    lay = net.layout
    theta, slot1, slot2 = params.theta, params.slot1, params.slot2
    alpha, kind = solver.alpha, solver.kind
    launch(update_layer, lay.size - lay.w2)(
        work.hidden, work.output, m, theta, slot1, slot2, lay.w2, alpha, work.stats,
        kind, lr, coefs
    )
    launch(update_layer, lay.w2)(
        work.inputs, work.hidden_delta, m, theta, slot1, slot2, 0, alpha,
        work.stats, kind, lr, coefs
    )


def _score_launches(data, rows, net, alpha, layers, work):
    """Score ``X[rows]`` into ``work.stats`` (launches only; the caller cleared
    the validation sums: ``_clear_scores`` or ``start_epoch``).

    Both: the objective of the rows (``VAL_LOSS``) from their weighted losses
    and weights (``VAL_WEIGHT``). Classifier: the correct weight
    (``VAL_CORRECT``); regressor: the R^2 (``VAL_R2``), from the residuals
    summed chunk by chunk.
    """
    W1, W2, b2 = layers[0], layers[2], layers[3]
    keys = no_rows()
    chunk = network.batch_rows(work)
    classifier = loss_ops.is_classification(net.output)
    for start in range(0, rows.shape[0], chunk):
        m = min(chunk, rows.shape[0] - start)
        samples = work.samples[:m]
        network.select(rows, keys, 0, start, samples)
        network.hidden_layer(data.X, samples, net, layers, work, gather=False)
        launch(network.output_forward, m)(
            data.Y, data.sample_weight, samples, work.hidden, W2, b2, net.output,
            net.eps, SCORE, work.output, work.row_a, work.row_b, work.row_c
        )
        reduce_launch(network.batch_score, work)(work.row_a, work.row_b, work.row_c,
                                                 m, work.partials, work.stats)
        if not classifier:
            reduce_launch(network.batch_residuals, work)(work.output, m,
                                                         work.partials,
                                                         work.val_sums)
    reduce_launch(network.validation_loss, work)(W1, W2, alpha, work.partials,
                                                 work.stats)
    if not classifier:
        reduce_launch(network.validation_r2, work)(data.Y, data.sample_weight, rows,
                                                   work.partials, work.val_sums,
                                                   work.stats)


def _score(stats, val, net):
    """The validation score from the host copy of ``stats``."""
    if val.trivial:
        return 1.0
    if loss_ops.is_classification(net.output):
        return stats[VAL_CORRECT] / stats[VAL_WEIGHT]
    return stats[VAL_R2]


def validate(data, val, net, theta, alpha, work, parallel=None):
    """``(score, loss)`` of the network on ``X[val.rows]``: MLP's early-stopping
    score, and the objective there (``validation_loss_curve_``).

    The twin of :func:`fastnn.cpu.training.validate` on device arrays
    (``val`` is a :class:`~fastnn.ops.bundles.Validation` of device rows, its
    ``out`` unused), summed on the device. A classifier scores the weighted
    accuracy, as ``accuracy_score``: a sample counts as correct when its
    predicted label equals its label, the argmax for softmax, every output
    thresholded at 0.5 for logistic outputs. A regressor scores the weighted
    R^2, as ``r2_score`` (see :func:`fastnn.cuda.network.validation_r2`).
    ``val.trivial``: a score of 1.0 (one class). The loss is the batch objective
    of the rows at ``theta`` with L2 strength ``alpha``
    (:func:`fastnn.cuda.network.validation_loss`). ``parallel`` is ignored.
    """
    launch(_clear_scores, 1)(work.stats, work.val_sums)
    _score_launches(data, val.rows, net, alpha, unpack(net.layout, theta), work)
    host = work.stats.copy_to_host()
    return _score(host, val, net), float(host[VAL_LOSS])


def train_epochs(data, visits, net, solver, params, work, val, curves):
    """Run up to ``len(curves.loss)`` epochs; return ``(n_epochs_run, status)``.

    The twin of :func:`fastnn.cpu.training.train_epochs`: ``data`` and the arrays
    of ``params`` are device arrays, but ``params.state``, which stays on the
    host; ``visits`` (:class:`Visits`) says which rows each epoch visits, in
    which order, in batches of ``solver.batch_size`` consecutive positions.
    ``curves`` (host) receives each epoch's mean batch loss, validation score and
    loss, and the learning rate the adaptive schedule set (else 0).

    Early stopping is on when ``val`` is not None (a
    :class:`~fastnn.ops.bundles.Validation` of device rows): the score on those
    rows (:func:`validate`) drives the ``tol`` / ``n_iter_no_change``
    rule, and ``params.best`` receives the weights whenever the score beats the
    best so far. Diverging in epoch ``e`` restores the weights that started epoch
    ``e - 1`` (``params.backups[0]``), as on the CPU. Statuses are those of
    :mod:`fastnn.ops.schedules`.
    """
    theta, backups, state = params.theta, params.backups, params.state
    stats = work.stats
    n = visits.rows.shape[0]
    n_keys = visits.keys.shape[0]
    half = perm_ops.half_bits(n)
    coefs = coefficients(solver)
    layers = unpack(net.layout, theta)
    unshuffled = no_rows()
    size = theta.shape[0]
    for epoch in range(curves.loss.shape[0]):
        launch(start_epoch, size)(theta, backups, stats, work.val_sums)
        keys = visits.keys[epoch % n_keys] if n_keys else unshuffled
        for start in range(0, n, solver.batch_size):
            m = min(solver.batch_size, n - start)
            samples = work.samples[:m]
            network.select(visits.rows, keys, half, start, samples)
            network.forward_backward(data, samples, net, layers, solver.alpha, work)
            lr = schedules.step_size(state, solver)
            _descend(net, params, solver, lr, coefs, work, m)
        if val is not None:
            _score_launches(data, val.rows, net, solver.alpha, layers, work)
        host = stats.copy_to_host()
        loss = host[EPOCH_LOSS] / n
        if not math.isfinite(loss) or host[NON_FINITE]:
            launch(copy, size)(backups[0], theta)
            return epoch, DIVERGED
        curves.loss[epoch] = loss
        state[schedules.T] += n
        metric = loss
        if val is not None:
            score = _score(host, val, net)
            curves.score[epoch] = score
            curves.val_loss[epoch] = host[VAL_LOSS]
            metric = -score
            if metric < state[schedules.BEST]:
                launch(copy, size)(theta, params.best)
        decision = schedules.end_of_epoch(metric, state, solver)
        curves.new_lr[epoch] = (state[schedules.LR]
                                if decision == schedules.LR_DECREASED else 0.0)
        if decision == schedules.STOP:
            return epoch + 1, CONVERGED
        if decision == schedules.STOP_LR_TOO_SMALL:
            return epoch + 1, LR_TOO_SMALL
    return curves.loss.shape[0], RUNNING


def feistel_keys(random_state, n_epochs):
    """Keys of ``n_epochs`` shuffled epochs, drawn from ``random_state``."""
    return random_state.randint(0, perm_ops.MASK32 + 1, size=(n_epochs, 4),
                                dtype=np.int64)
