"""The compiled epoch loop: many epochs per call, stopping rules included.

Python calls :func:`train_epochs` once per chunk of epochs and only does
bookkeeping between chunks; everything that MLPClassifier does per batch or per
epoch (shuffled batches, backprop, optimizer step, loss curve, ``tol`` /
``n_iter_no_change`` counting, learning-rate schedules, the validation score of
early stopping) happens here. The schedules and stopping rules are those of
:mod:`fastnn.ops.schedules`, compiled in.
"""

import math

import numpy as np
from numba import prange

from .._config import entry, inline, jit, pjit, scalar
from ..ops import losses as loss_ops
from ..ops import optimizers as opt_ops
from ..ops import schedules
from ..ops.bundles import Params, Solver
from ..ops.layout import Layout
from ..ops.schedules import CONVERGED, DIVERGED, LR_TOO_SMALL, RUNNING
from . import calls, network
from .network import (
    block_pass,
    capacity,
    copy,
    finish_gradient,
    objective,
    rows_loss,
)

_gd_step = scalar(opt_ops.gd_step)
_sgd_step = scalar(opt_ops.sgd_step)
_adam_step = scalar(opt_ops.adam_step)
is_classification = jit(loss_ops.is_classification)
_r2_of_output = scalar(loss_ops.r2_of_output)
step_size = jit(schedules.step_size)
end_of_epoch = jit(schedules.end_of_epoch)


#: Parameters per chunk of the fused gradient + update pass (from
#: :data:`~fastnn.cpu.network.PARALLEL_MIN_PARAMS` parameters the chunks run on
#: several threads; elementwise, so the result does not depend on their number).
UPDATE_CHUNK = 4096


@jit
def update(theta, grad, slot1, slot2, solver, lr):
    """Apply one gd / sgd / adam update to ``theta`` (or a view of it) in place.

    The constants are cast to ``theta``'s dtype first: float32 fits update in
    float32, as MLP's do (vectorised 16 wide: 3.6x faster than mixing in
    float64, measured on P6's 1.28M parameters); float64 fits are unchanged.
    """
    cast = theta.dtype.type
    lr = cast(lr)
    if solver.kind == opt_ops.ADAM:
        beta_1, beta_2 = cast(solver.beta_1), cast(solver.beta_2)
        rest_1, rest_2 = cast(1.0 - solver.beta_1), cast(1.0 - solver.beta_2)
        epsilon = cast(solver.epsilon)
        for p in range(theta.shape[0]):
            theta[p], slot1[p], slot2[p] = _adam_step(
                theta[p], grad[p], slot1[p], slot2[p], lr, beta_1, rest_1, beta_2,
                rest_2, epsilon
            )
    elif solver.kind == opt_ops.SGD:
        momentum = cast(solver.momentum)
        for p in range(theta.shape[0]):
            theta[p], slot1[p] = _sgd_step(
                theta[p], grad[p], slot1[p], lr, momentum, solver.nesterov
            )
    else:
        for p in range(theta.shape[0]):
            theta[p] = _gd_step(theta[p], grad[p], lr)


@inline
def _descend_chunk(c, grads, n_blocks, layout, params, solver, lr, scale):
    lo = c * UPDATE_CHUNK
    hi = min(lo + UPDATE_CHUNK, params.theta.shape[0])
    grad = finish_gradient(grads, n_blocks, layout, params.theta, lo, hi,
                           solver.alpha, scale)
    update(params.theta[lo:hi], grad, params.slot1[lo:hi], params.slot2[lo:hi],
          solver, lr)


@jit
def _descend_serially(grads, n_blocks, layout, params, solver, lr, scale):
    for c in range(-(-params.theta.shape[0] // UPDATE_CHUNK)):
        _descend_chunk(c, grads, n_blocks, layout, params, solver, lr, scale)


@pjit
def _descend_in_parallel(grads, n_blocks, layout, params, solver, lr, scale):
    # Bundles rebuilt inside the loop, as in fastnn.cpu.network.blocks_in_parallel.
    d, h, o, b1, w2, b2, size = layout
    theta, slot1, slot2, backups, best, state = params
    (kind, schedule, batch_size, lr_init, power_t, momentum, nesterov, beta_1,
     beta_2, epsilon, alpha, tol, n_iter_no_change) = solver
    for c in prange(-(-theta.shape[0] // UPDATE_CHUNK)):
        _descend_chunk(
            np.int64(c), grads, n_blocks, Layout(d, h, o, b1, w2, b2, size),
            Params(theta, slot1, slot2, backups, best, state),
            Solver(kind, schedule, batch_size, lr_init, power_t, momentum, nesterov,
                   beta_1, beta_2, epsilon, alpha, tol, n_iter_no_change),
            lr, scale)


@inline
def descend(grads, n_blocks, layout, params, solver, lr, scale, kernels):
    """Gradient from the blocks' partial ``grads`` and the optimizer step, fused.

    Each chunk of parameters is read once while in cache; this is
    :func:`fastnn.cpu.network.loss_grad`'s gradient followed by the update of
    :func:`update`, operation for operation, chunk by chunk on one thread or
    on several: ``kernels.update`` is the address of either driver
    (:func:`update_call`), so the epoch loop holds the code of neither.
    """
    calls.call(kernels.update, (grads, np.int64(n_blocks), layout, params, solver,
                                lr, scale))


def update_call(grads, layout, params, solver, parallel_update=None):
    """``(kernel, args)`` of :func:`descend`'s ``kernels.update``: the driver
    that updates on one thread, or on threads when ``parallel_update`` (as
    :func:`fastnn.cpu.network.update_parallelism` returns it) is not None."""
    driver = _descend_serially if parallel_update is None else _descend_in_parallel
    return driver, (grads, np.int64(1), layout, params, solver, 0.0, 0.0)


def kernel_calls(data, rows, net, solver, params, work, parallel, parallel_update):
    """:func:`fastnn.cpu.network.kernel_calls` for the epoch loop, with its
    update (:func:`update_call`)."""
    found = network.kernel_calls(data, rows, net, params.theta, work, parallel)
    found["update"] = update_call(work.grads, net.layout, params, solver,
                                  parallel_update)
    return found


def epoch_kernels(data, rows, net, solver, params, work, parallel=None,
                  parallel_update=None):
    """The ``kernels`` argument of :func:`train_epochs` (each compiled or loaded
    first): :func:`kernel_calls`' addresses."""
    return network.kernels(kernel_calls(data, rows, net, solver, params, work,
                                        parallel, parallel_update))


@jit
def _all_finite(a):
    for p in range(a.shape[0]):
        if not math.isfinite(a[p]):
            return False
    return True


@inline
def validate(data, val, net, theta, alpha, work, kernels):
    """``(score, loss)`` of the network on ``X[val.rows]``: MLP's early-stopping
    score, and the objective there (``validation_loss_curve_``).

    The score is the weighted accuracy for a classifier (:func:`accuracy`; 1.0
    when ``val.trivial``), R^2 for a regressor (:func:`r2`). The loss is the
    batch objective of the rows at ``theta`` with L2 strength ``alpha``, as
    training measures a batch's (:func:`fastnn.cpu.network.objective`). The
    rows' outputs go to ``val.out`` first.
    """
    rows, out = val.rows, val.out
    n_blocks, block_rows = capacity(work)
    chunk = n_blocks * block_rows
    for start in range(0, rows.shape[0], chunk):
        block_pass(data, rows[start : start + chunk], net, theta, work, out,
                   kernels)
    loss_sum, weight_sum = rows_loss(data.Y, data.sample_weight, rows, out, net)
    loss = objective(net.layout, theta, alpha, loss_sum, weight_sum)
    if val.trivial:
        return 1.0, loss
    if is_classification(net.output):
        return accuracy(data.Y, data.sample_weight, rows, out,
                        net.output == loss_ops.SOFTMAX), loss
    return r2(data.Y, data.sample_weight, rows, out), loss


@jit
def accuracy(Y, sample_weight, rows, out, softmax):
    """Weighted accuracy of the outputs ``out[rows]``, as ``accuracy_score``.

    A sample counts as correct when its predicted label equals its label: the
    argmax for softmax, every output thresholded at 0.5 for logistic outputs
    (LabelBinarizer's ``> 0.5``), so a multilabel row must match exactly.
    """
    correct = 0.0
    weight = 0.0
    for r in range(rows.shape[0]):
        i = rows[r]
        ok = True
        if softmax:
            best = 0
            for c in range(1, out.shape[1]):
                if out[i, c] > out[i, best]:
                    best = c
            ok = Y[i, best] == 1
        else:
            for c in range(out.shape[1]):
                if (out[i, c] > 0.5) != (Y[i, c] == 1):
                    ok = False
        if ok:
            correct += sample_weight[i]
        weight += sample_weight[i]
    return correct / weight


@jit
def r2(Y, sample_weight, rows, out):
    """Weighted R^2 of the predictions ``out[rows]``, as ``r2_score`` computes it.

    Per output ``1 - sum w (y - p)^2 / sum w (y - ybar)^2`` (``ybar`` the weighted
    mean), then the plain mean over the outputs ("uniform_average"). An output
    predicted exactly scores 1, one with constant targets and errors 0
    (``force_finite``); non-finite predictions give nan, as MLP's score does.
    """
    score = 0.0
    n_out = out.shape[1]
    weight = 0.0
    for r in range(rows.shape[0]):
        weight += sample_weight[rows[r]]
    for c in range(n_out):
        mean = 0.0
        for r in range(rows.shape[0]):
            i = rows[r]
            mean += sample_weight[i] * Y[i, c]
        mean /= weight
        residual = 0.0
        spread = 0.0
        for r in range(rows.shape[0]):
            i = rows[r]
            p = out[i, c]
            if not math.isfinite(p):
                return math.nan
            y = Y[i, c]
            residual += sample_weight[i] * (y - p) * (y - p)
            spread += sample_weight[i] * (y - mean) * (y - mean)
        score += _r2_of_output(residual, spread)
    return score / n_out


@inline
def _epoch(data, order, net, solver, params, work, no_out, kernels):
    """One pass over ``order`` in batches; returns the epoch's mean batch loss.

    ``no_out`` is an empty (0, 0) array: :func:`block_pass`'s training job.
    """
    n = order.shape[0]
    total = 0.0
    for start in range(0, n, solver.batch_size):
        rows = order[start : min(start + solver.batch_size, n)]
        n_blocks, loss_sum, weight_sum = block_pass(
            data, rows, net, params.theta, work, no_out, kernels
        )
        total += objective(net.layout, params.theta, solver.alpha, loss_sum,
                           weight_sum) * rows.shape[0]
        lr = step_size(params.state, solver)
        descend(work.grads, n_blocks, net.layout, params, solver, lr, weight_sum,
                kernels)
    return total / n


@entry
def train_epochs(data, orders, net, solver, params, work, val, curves, kernels):
    """Run up to ``len(curves.loss)`` epochs; return ``(n_epochs_run, status)``.

    ``orders[e % len(orders)]`` is the order in which epoch ``e`` visits the
    training samples (one row per epoch when shuffling, a single row otherwise);
    batches are consecutive slices of it, as ``sklearn.utils.gen_batches`` cuts
    them. ``curves.loss[e]`` receives the epoch's mean batch loss, weighted by
    batch size as MLPClassifier weights it.

    Early stopping is on when ``val`` is not None: after each epoch the
    score and loss (:func:`validate`) on those rows go to ``curves.score[e]``
    and ``curves.val_loss[e]``, and the score drives the ``tol`` /
    ``n_iter_no_change`` rule, and ``params.best`` receives the weights whenever
    the score beats the best so far.

    An epoch's loss is measured at the weights it starts from, so when epoch
    ``e`` diverges the last weights known to give a finite loss are those that
    started epoch ``e - 1`` (``params.backups[0]``): they are restored.
    (Diverging in the fit's first epoch restores the initial weights; the
    caller raises.) ``kernels`` (:func:`epoch_kernels`) holds the addresses of
    the block kernel for these arguments and, where the fit's shapes make
    threads pay, of the parallel drivers: the loop calls them and holds none of
    their code, so it compiles once per dtype and kind of input, with threads
    or without.
    """
    theta, backups, state = params.theta, params.backups, params.state
    n = orders.shape[1]
    no_out = np.empty((0, 0), dtype=theta.dtype)
    for epoch in range(curves.loss.shape[0]):
        copy(backups[1], backups[0])
        copy(theta, backups[1])
        loss = _epoch(data, orders[epoch % orders.shape[0]], net, solver, params,
                      work, no_out, kernels)
        if not (math.isfinite(loss) and _all_finite(theta)):
            copy(backups[0], theta)
            return epoch, DIVERGED
        curves.loss[epoch] = loss
        state[schedules.T] += n
        metric = loss
        if val is not None:
            score, val_loss = validate(data, val, net, theta, solver.alpha, work,
                                       kernels)
            curves.score[epoch] = score
            curves.val_loss[epoch] = val_loss
            metric = -score
            if metric < state[schedules.BEST]:
                copy(theta, params.best)
        decision = end_of_epoch(metric, state, solver)
        curves.new_lr[epoch] = (state[schedules.LR]
                                if decision == schedules.LR_DECREASED else 0.0)
        if decision == schedules.STOP:
            return epoch + 1, CONVERGED
        if decision == schedules.STOP_LR_TOO_SMALL:
            return epoch + 1, LR_TOO_SMALL
    return curves.loss.shape[0], RUNNING
