"""The compiled epoch loop: many epochs per call, stopping rules included.

Python calls :func:`train_epochs` once per chunk of epochs and only does
bookkeeping between chunks; everything that MLPClassifier does per batch or per
epoch (shuffled batches, backprop, optimizer step, loss curve, ``tol`` /
``n_iter_no_change`` counting, learning-rate schedules, the validation score of
early stopping) happens here.
"""

import math

import numpy as np
from numba import prange

from .._config import inline, jit, pjit
from ..ops import optimizers as opt_ops
from .network import (
    BLOCK_ROWS,
    block_gradient,
    block_pass,
    forward_block,
    penalty,
    unpack,
)

_sgd_step = inline(opt_ops.sgd_step)
_adam_step = inline(opt_ops.adam_step)
_adam_learning_rate = inline(opt_ops.adam_learning_rate)

# Slots of the float64 ``state`` vector shared with Python between chunks.
LR = 0  # current learning rate (sgd/gd schedules)
# Best value of the stopping metric, lower is better: the training loss, or
# minus the validation accuracy under early stopping. ``score < best + tol`` is
# then exactly ``-score > -best - tol`` (negation is exact), MLP's rule.
BEST_LOSS = 1
NO_IMPROVEMENT = 2
T = 3  # samples seen, MLPClassifier's ``t_``
STEP = 4  # optimizer steps taken (Adam's bias-correction counter)
N_STATE = 5

# Status codes returned by train_epochs.
RUNNING = 0  # the chunk ran out of epochs
CONVERGED = 1  # tol / n_iter_no_change stopping rule fired
DIVERGED = 2  # non-finite loss or weights: the last good weights are restored


#: Parameters per chunk of the fused gradient + update pass, and the parameter
#: count from which the chunks run on several threads (elementwise, so the
#: result does not depend on the thread count).
UPDATE_CHUNK = 4096
PARALLEL_MIN_PARAMS = 1 << 14


@jit
def _step_size(state, solver, lr_init, beta_1, beta_2):
    """Count one more step; return its learning rate (bias-corrected for Adam)."""
    state[STEP] += 1.0
    if solver == opt_ops.ADAM:
        return _adam_learning_rate(lr_init, beta_1, beta_2, state[STEP])
    return state[LR]


@jit
def _step(theta, grad, slot1, slot2, solver, lr, momentum, nesterov, beta_1,
          beta_2, epsilon):
    """Apply one gd / sgd / adam update to ``theta`` (or a view of it) in place."""
    if solver == opt_ops.ADAM:
        for p in range(theta.shape[0]):
            theta[p], slot1[p], slot2[p] = _adam_step(
                theta[p], grad[p], slot1[p], slot2[p], lr, beta_1, beta_2, epsilon
            )
    elif solver == opt_ops.SGD:
        for p in range(theta.shape[0]):
            theta[p], slot1[p] = _sgd_step(
                theta[p], grad[p], slot1[p], lr, momentum, nesterov
            )
    else:
        # gd is MLP's sgd with momentum 0: ``theta + (0 * v - lr * g)``.
        for p in range(theta.shape[0]):
            theta[p] += -(lr * grad[p])


@jit
def optimizer_step(theta, grad, slot1, slot2, state, solver, lr_init, momentum,
                   nesterov, beta_1, beta_2, epsilon):
    """Apply one gd / sgd / adam update to ``theta`` in place."""
    lr = _step_size(state, solver, lr_init, beta_1, beta_2)
    _step(theta, grad, slot1, slot2, solver, lr, momentum, nesterov, beta_1, beta_2,
          epsilon)


@jit
def _descend_chunk(c, partials, n_blocks, theta, slot1, slot2, shape, alpha, scale,
                   solver, lr, momentum, nesterov, beta_1, beta_2, epsilon):
    lo = c * UPDATE_CHUNK
    hi = min(lo + UPDATE_CHUNK, theta.shape[0])
    d, h, o = shape
    grad = block_gradient(partials, n_blocks, theta, lo, hi, d, h, o, alpha, scale)
    _step(theta[lo:hi], grad, slot1[lo:hi], slot2[lo:hi], solver, lr, momentum,
          nesterov, beta_1, beta_2, epsilon)


@pjit
def _descend_parallel(partials, n_blocks, theta, slot1, slot2, shape, alpha, scale,
                      solver, lr, momentum, nesterov, beta_1, beta_2, epsilon):
    for c in prange(-(-theta.shape[0] // UPDATE_CHUNK)):
        _descend_chunk(c, partials, n_blocks, theta, slot1, slot2, shape, alpha,
                       scale, solver, lr, momentum, nesterov, beta_1, beta_2,
                       epsilon)


@jit
def descend(partials, n_blocks, theta, slot1, slot2, shape, alpha, scale, solver,
            lr, momentum, nesterov, beta_1, beta_2, epsilon):
    """Gradient from the blocks' ``partials`` and the optimizer step, in one pass.

    Fused so that each chunk of parameters is read once while in cache; this is
    :func:`fastnn.cpu.network.loss_grad`'s gradient followed by
    :func:`optimizer_step`, operation for operation.
    """
    if theta.shape[0] >= PARALLEL_MIN_PARAMS:
        _descend_parallel(partials, n_blocks, theta, slot1, slot2, shape, alpha,
                          scale, solver, lr, momentum, nesterov, beta_1, beta_2,
                          epsilon)
    else:
        for c in range(-(-theta.shape[0] // UPDATE_CHUNK)):
            _descend_chunk(c, partials, n_blocks, theta, slot1, slot2, shape, alpha,
                           scale, solver, lr, momentum, nesterov, beta_1, beta_2,
                           epsilon)


@jit
def end_of_epoch(loss, state, solver, schedule, lr_init, power_t, tol,
                 n_iter_no_change):
    """MLPClassifier's per-epoch bookkeeping; returns True when training stops."""
    if loss > state[BEST_LOSS] - tol:
        state[NO_IMPROVEMENT] += 1.0
    else:
        state[NO_IMPROVEMENT] = 0.0
    if loss < state[BEST_LOSS]:
        state[BEST_LOSS] = loss
    if solver != opt_ops.ADAM and schedule == opt_ops.INVSCALING:
        state[LR] = lr_init / (state[T] + 1.0) ** power_t
    if state[NO_IMPROVEMENT] > n_iter_no_change:
        if solver == opt_ops.ADAM or schedule != opt_ops.ADAPTIVE:
            return True
        if state[LR] <= 1e-6:
            return True
        state[LR] /= 5.0
        state[NO_IMPROVEMENT] = 0.0
    return False


@jit
def _all_finite(a):
    for p in range(a.shape[0]):
        if not math.isfinite(a[p]):
            return False
    return True


@jit
def accuracy(X, Y, sample_weight, rows, theta, n_hidden, activation, slope,
             softmax, blas):
    """Weighted accuracy of the network on ``X[rows]``, as ``accuracy_score``.

    A sample counts as correct when its predicted label equals its label: the
    argmax for softmax, every output thresholded at 0.5 for logistic outputs
    (LabelBinarizer's ``> 0.5``), so a multilabel row must match exactly.
    """
    d, o = X.shape[1], Y.shape[1]
    W1, b1, W2, b2 = unpack(theta, d, n_hidden, o)
    m = min(BLOCK_ROWS, rows.shape[0])
    xbuf = np.empty(d * m, dtype=X.dtype)
    ws_a1 = np.empty(n_hidden * m, dtype=X.dtype)
    ws_a2 = np.empty(o * m, dtype=X.dtype)
    scratch = np.empty(2 * m, dtype=X.dtype)
    correct = 0.0
    weight = 0.0
    for start in range(0, rows.shape[0], BLOCK_ROWS):
        block = rows[start : min(start + BLOCK_ROWS, rows.shape[0])]
        k = block.shape[0]
        A2T = ws_a2[: o * k].reshape((o, k))
        forward_block(X, block, W1, b1, W2, b2, activation, slope, softmax, blas,
                      xbuf, ws_a1[: n_hidden * k].reshape((n_hidden, k)), A2T,
                      scratch)
        for r in range(k):
            i = block[r]
            ok = True
            if softmax:
                best = 0
                for c in range(1, o):
                    if A2T[c, r] > A2T[best, r]:
                        best = c
                ok = Y[i, best] == 1
            else:
                for c in range(o):
                    if (A2T[c, r] > 0.5) != (Y[i, c] == 1):
                        ok = False
            if ok:
                correct += sample_weight[i]
            weight += sample_weight[i]
    return correct / weight


@jit
def train_epochs(X, Y, sample_weight, orders, theta, backups, slot1, slot2, state,
                 loss_curve, n_hidden, activation, slope, softmax, alpha, eps,
                 solver, batch_size, schedule, lr_init, power_t, momentum,
                 nesterov, beta_1, beta_2, epsilon, tol, n_iter_no_change, blas,
                 work, val_rows, best, val_scores):
    """Run up to ``loss_curve.shape[0]`` epochs; return ``(n_epochs_run, status)``.

    ``orders[e % len(orders)]`` is the order in which epoch ``e`` visits the
    training samples (one row per epoch when shuffling, a single row otherwise);
    batches are consecutive slices of it, as ``sklearn.utils.gen_batches`` cuts
    them. ``loss_curve[e]`` receives the epoch's mean batch loss, weighted by
    batch size as MLPClassifier weights it.

    Early stopping is on when ``val_rows`` is not empty: after each epoch the
    accuracy on ``X[val_rows]`` goes to ``val_scores[e]`` and drives the
    ``tol`` / ``n_iter_no_change`` rule, and ``best`` receives the weights
    whenever the score beats the best so far.

    ``backups`` (2, n_params) holds the weights at the start of the previous and
    of the current epoch. An epoch's loss is measured at the weights it starts
    from, so when epoch ``e`` diverges the last weights known to give a finite
    loss are those that started epoch ``e - 1``: they are restored. (Diverging in
    the fit's first epoch restores the initial weights; the caller raises.)
    """
    n = orders.shape[1]
    early_stopping = val_rows.shape[0] > 0
    shape = (X.shape[1], n_hidden, Y.shape[1])
    for epoch in range(loss_curve.shape[0]):
        backups[0] = backups[1]
        backups[1] = theta
        order = orders[epoch % orders.shape[0]]
        total = 0.0
        for start in range(0, n, batch_size):
            rows = order[start : min(start + batch_size, n)]
            n_blocks, loss_sum, weight_sum = block_pass(
                X, Y, sample_weight, rows, theta, n_hidden, activation, slope,
                softmax, eps, blas, work
            )
            loss_sum += penalty(theta, *shape, alpha)
            total += loss_sum / weight_sum * rows.shape[0]
            lr = _step_size(state, solver, lr_init, beta_1, beta_2)
            descend(work[6], n_blocks, theta, slot1, slot2, shape, alpha, weight_sum,
                    solver, lr, momentum, nesterov, beta_1, beta_2, epsilon)
        loss = total / n
        if not (math.isfinite(loss) and _all_finite(theta)):
            theta[:] = backups[0]
            return epoch, DIVERGED
        loss_curve[epoch] = loss
        state[T] += n
        metric = loss
        if early_stopping:
            score = accuracy(X, Y, sample_weight, val_rows, theta, n_hidden,
                             activation, slope, softmax, blas)
            val_scores[epoch] = score
            metric = -score
            if metric < state[BEST_LOSS]:
                best[:] = theta
        if end_of_epoch(metric, state, solver, schedule, lr_init, power_t, tol,
                        n_iter_no_change):
            return epoch + 1, CONVERGED
    return loss_curve.shape[0], RUNNING
