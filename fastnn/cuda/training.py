"""The epoch loop on the GPU: many epochs per call, stopping rules included.

The twin of :mod:`fastnn.cpu.training`. Data, weights, optimizer slots and the
weight backups stay on the device for the whole call; per batch the host only
launches kernels (:mod:`fastnn.cuda.network`), and per epoch it reads back one
small ``stats`` vector (loss, non-finite flag, validation score) for the
stopping rules, which are scalar bookkeeping and run on the host with the CPU
backend's very :func:`~fastnn.cpu.training.end_of_epoch`.

Shuffled epochs visit the samples in the order of a keyed Feistel bijection
(:mod:`fastnn.ops.permutation`) computed inside the kernels that gather batch
rows, so there is neither an order array nor a host shuffle. The order differs
from NumPy's shuffle: shuffled CUDA fits are statistically equivalent to CPU
fits, not identical; unshuffled and ``'gd'`` fits agree.
"""

import math

import numpy as np
from numba import cuda

from ..cpu.training import (
    BEST_LOSS,
    CONVERGED,
    DIVERGED,
    LR,
    N_STATE,
    NO_IMPROVEMENT,
    RUNNING,
    STEP,
    T,
    end_of_epoch,
)
from ..ops import optimizers as opt_ops
from ..ops import permutation as perm_ops
from . import network
from .network import (
    EPOCH_LOSS,
    NON_FINITE,
    SCORE,
    VAL_CORRECT,
    VAL_WEIGHT,
    launch,
    no_rows,
    reduce_launch,
)

__all__ = [
    "BEST_LOSS",
    "CONVERGED",
    "DIVERGED",
    "LR",
    "NO_IMPROVEMENT",
    "N_STATE",
    "RUNNING",
    "STEP",
    "T",
    "accuracy",
    "end_of_epoch",
    "optimizer_step",
    "train_epochs",
]

_device = network._device
_sgd_step = _device(opt_ops.sgd_step)
_adam_step = _device(opt_ops.adam_step)


@_device
def _step(param, grad, slot1, slot2, solver, lr, momentum, nesterov, beta_1,
          beta_2, epsilon):
    """``(param, slot1, slot2)`` after a gd / sgd / adam step (Adam: ``lr`` is lr_t)."""
    if solver == opt_ops.ADAM:
        return _adam_step(param, grad, slot1, slot2, lr, beta_1, beta_2, epsilon)
    if solver == opt_ops.SGD:
        param, slot1 = _sgd_step(param, grad, slot1, lr, momentum, nesterov)
        return param, slot1, slot2
    # gd is MLP's sgd with momentum 0: ``theta + (0 * v - lr * g)``.
    return param + -(lr * grad), slot1, slot2


@cuda.jit
def _optimizer_step(theta, grad, slot1, slot2, solver, lr, momentum, nesterov,
                    beta_1, beta_2, epsilon):
    for p in range(cuda.grid(1), theta.shape[0], cuda.gridsize(1)):
        theta[p], slot1[p], slot2[p] = _step(theta[p], grad[p], slot1[p], slot2[p],
                                             solver, lr, momentum, nesterov, beta_1,
                                             beta_2, epsilon)


@cuda.jit
def update_layer(A_in, D, m, theta, slot1, slot2, offset, alpha, stats, solver, lr,
                 momentum, nesterov, beta_1, beta_2, epsilon):
    """Gradient of one layer's parameters fused with their optimizer step.

    Fused so that the gradient never goes through global memory; one thread per
    parameter (see :func:`fastnn.cuda.network.param_grad`).
    """
    n = (A_in.shape[1] + 1) * D.shape[1]
    sw_sum = stats[network.BATCH_WEIGHT]
    for t in range(cuda.grid(1), n, cuda.gridsize(1)):
        p = offset + t
        g = network.param_grad(t, A_in, D, m, theta, offset, alpha, sw_sum)
        theta[p], slot1[p], slot2[p] = _step(theta[p], g, slot1[p], slot2[p],
                                             solver, lr, momentum, nesterov, beta_1,
                                             beta_2, epsilon)
        if not math.isfinite(theta[p]):
            stats[NON_FINITE] = 1.0


@cuda.jit
def copy(src, dst):
    """``dst[:] = src`` on the device."""
    for p in range(cuda.grid(1), src.shape[0], cuda.gridsize(1)):
        dst[p] = src[p]


@cuda.jit
def _reset_epoch(stats):
    if cuda.grid(1) == 0:
        stats[EPOCH_LOSS] = 0.0
        stats[NON_FINITE] = 0.0
        stats[VAL_CORRECT] = 0.0
        stats[VAL_WEIGHT] = 0.0


def step_size(state, solver, lr_init, beta_1, beta_2):
    """Count one optimizer step in ``state``; return its learning rate.

    Adam's bias-corrected ``lr_t`` is computed here on the host, once per step.
    """
    state[STEP] += 1.0
    if solver == opt_ops.ADAM:
        return opt_ops.adam_learning_rate(lr_init, beta_1, beta_2, state[STEP])
    return state[LR]


def optimizer_step(theta, grad, slot1, slot2, state, solver, lr_init, momentum,
                   nesterov, beta_1, beta_2, epsilon):
    """Apply one gd / sgd / adam update to the device array ``theta`` in place."""
    lr = step_size(state, solver, lr_init, beta_1, beta_2)
    launch(_optimizer_step, theta.shape[0])(theta, grad, slot1, slot2, solver, lr,
                                            momentum, nesterov, beta_1, beta_2,
                                            epsilon)


def _score_rows(X, Y, sample_weight, rows, theta, n_hidden, activation, slope,
                softmax, work):
    """Add the validation weights of ``X[rows]`` to ``stats`` (launches only)."""
    A1, A2, row_a, row_b, partials, stats = (work[1], work[3], work[4], work[5],
                                             work[6], work[7])
    keys = no_rows()
    chunk = A1.shape[0]
    for start in range(0, rows.shape[0], chunk):
        m = min(chunk, rows.shape[0] - start)
        W2, b2 = network.hidden_layer(X, rows, keys, 0, start, m, theta, n_hidden,
                                      activation, slope, work, gather=False)
        launch(network.output_forward, m)(Y, sample_weight, rows, keys, 0, start, m,
                                          A1, W2, b2, softmax, 0.0, SCORE, A2,
                                          row_a, row_b)
        reduce_launch(network.batch_totals)(row_a, row_b, m, theta, 0, 0, 0, 0.0,
                                            SCORE, partials, stats)


def accuracy(X, Y, sample_weight, rows, theta, n_hidden, activation, slope,
             softmax, work):
    """Weighted accuracy of the network on ``X[rows]``, as ``accuracy_score``.

    The twin of :func:`fastnn.cpu.training.accuracy` on device arrays; ``work``
    comes from :func:`fastnn.cuda.network.workspace`.
    """
    stats = work[7]
    launch(_reset_epoch, 1)(stats)
    _score_rows(X, Y, sample_weight, rows, theta, n_hidden, activation, slope,
                softmax, work)
    host = stats.copy_to_host()
    return host[VAL_CORRECT] / host[VAL_WEIGHT]


def _train_batch(X, Y, sample_weight, rows, keys, half, start, m, theta, slot1,
                 slot2, n_hidden, activation, slope, softmax, alpha, eps, solver,
                 lr, optimizer, work):
    """The six launches of one batch (see :mod:`fastnn.cuda.network`)."""
    Xb, A1, D1, A2, stats = work[0], work[1], work[2], work[3], work[7]
    network.forward_backward(X, Y, sample_weight, rows, keys, half, start, m, theta,
                             n_hidden, activation, slope, softmax, alpha, eps, work)
    w2 = X.shape[1] * n_hidden + n_hidden
    launch(update_layer, (n_hidden + 1) * Y.shape[1])(
        A1[:m], A2[:m], m, theta, slot1, slot2, w2, alpha, stats, solver, lr,
        *optimizer
    )
    launch(update_layer, w2)(Xb[:m], D1[:m], m, theta, slot1, slot2, 0, alpha,
                             stats, solver, lr, *optimizer)


def train_epochs(X, Y, sample_weight, rows, keys, theta, backups, slot1, slot2,
                 state, loss_curve, n_hidden, activation, slope, softmax, alpha, eps,
                 solver, batch_size, schedule, lr_init, power_t, momentum, nesterov,
                 beta_1, beta_2, epsilon, tol, n_iter_no_change, work, val_rows,
                 best, val_scores):
    """Run up to ``loss_curve.shape[0]`` epochs; return ``(n_epochs_run, status)``.

    The twin of :func:`fastnn.cpu.training.train_epochs`. ``X``, ``Y``,
    ``sample_weight``, ``rows`` (the training samples), ``theta``, ``backups``
    (2, n_params), ``slot1``, ``slot2``, ``val_rows`` and ``best`` are device
    arrays; ``state``, ``loss_curve`` and ``val_scores`` are host arrays.
    ``keys`` is a device array of shape (n_epochs, 4) holding each epoch's
    Feistel keys, or of shape (0, 4) to visit ``rows`` in order every epoch.
    The rules (batches, stopping, early stopping, divergence restoring the
    weights that started the previous epoch) are those of the CPU twin.
    """
    n = rows.shape[0]
    half = perm_ops.half_bits(n)
    stats = work[7]
    early_stopping = val_rows.shape[0] > 0
    optimizer = (momentum, nesterov, beta_1, beta_2, epsilon)
    n_params = theta.shape[0]
    for epoch in range(loss_curve.shape[0]):
        launch(copy, n_params)(backups[1], backups[0])
        launch(copy, n_params)(theta, backups[1])
        launch(_reset_epoch, 1)(stats)
        epoch_keys = keys[epoch] if keys.shape[0] else no_rows()
        for start in range(0, n, batch_size):
            lr = step_size(state, solver, lr_init, beta_1, beta_2)
            _train_batch(X, Y, sample_weight, rows, epoch_keys, half, start,
                         min(batch_size, n - start), theta, slot1, slot2, n_hidden,
                         activation, slope, softmax, alpha, eps, solver, lr,
                         optimizer, work)
        if early_stopping:
            _score_rows(X, Y, sample_weight, val_rows, theta, n_hidden, activation,
                        slope, softmax, work)
        host = stats.copy_to_host()
        loss = host[EPOCH_LOSS] / n
        if not math.isfinite(loss) or host[NON_FINITE]:
            launch(copy, n_params)(backups[0], theta)
            return epoch, DIVERGED
        loss_curve[epoch] = loss
        state[T] += n
        metric = loss
        if early_stopping:
            score = host[VAL_CORRECT] / host[VAL_WEIGHT]
            val_scores[epoch] = score
            metric = -score
            if metric < state[BEST_LOSS]:
                launch(copy, n_params)(theta, best)
        if end_of_epoch(metric, state, solver, schedule, lr_init, power_t, tol,
                        n_iter_no_change):
            return epoch + 1, CONVERGED
    return loss_curve.shape[0], RUNNING


def feistel_keys(random_state, n_epochs):
    """Keys of ``n_epochs`` shuffled epochs, drawn from ``random_state``."""
    return random_state.randint(0, perm_ops.MASK32 + 1, size=(n_epochs, 4),
                                dtype=np.int64)
