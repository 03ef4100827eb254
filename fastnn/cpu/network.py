"""Forward pass, log-loss and backprop of the one-hidden-layer network (CPU).

Parameters live in one flat vector ``theta = [W1, b1, W2, b2]`` (row-major), so
optimizers and L-BFGS see a single array; :func:`unpack` gives the layer views.

A batch is cut into a fixed number of row blocks (:func:`block_layout`); each
block gathers its rows *transposed* (features x rows, the lecture's column
layout), so every elementwise loop runs over contiguous rows and vectorises even
when the layers are tiny. Blocks run in parallel, each into its own partial
gradient, and the partials are added in block order: the result does not depend
on the number of threads. Wide layers go through BLAS (``np.dot``), narrow ones
through hand loops; the caller picks with ``use_blas``.
"""


import numpy as np
from numba import prange

from .._config import inline, jit, jit_sum, pjit, specialise
from ..ops import activations as act_ops
from ..ops import losses as loss_ops
from . import fastmath

#: Rows per block: enough to amortise a BLAS call, small enough to stay in cache.
BLOCK_ROWS = 256
#: Use BLAS once a layer's weight matrix has this many entries (measured on a
#: 2-core AVX-512 machine: below it the hand loops win, above it sgemm does).
BLAS_MIN_WEIGHTS = 2048
#: Multiply-adds per batch under which one thread beats waking the others.
PARALLEL_MIN_WORK = 1 << 18

_exp = fastmath.exp
_identity = inline(act_ops.identity)
_logistic = inline(specialise(act_ops.logistic, exp=fastmath.exp))
_tanh = inline(specialise(act_ops.tanh, _tanh=fastmath.tanh))
_relu = inline(act_ops.relu)
_leaky_relu = inline(act_ops.leaky_relu)
_identity_grad = inline(act_ops.identity_grad)
_logistic_grad = inline(act_ops.logistic_grad)
_tanh_grad = inline(act_ops.tanh_grad)
_relu_grad = inline(act_ops.relu_grad)
_leaky_relu_grad = inline(act_ops.leaky_relu_grad)
_logistic_loss = inline(specialise(loss_ops.logistic_loss, log=fastmath.log))
_softmax_loss_term = inline(specialise(loss_ops.softmax_loss_term, log=fastmath.log))


def n_params(n_features, n_hidden, n_outputs):
    """Length of the flat parameter vector."""
    return n_features * n_hidden + n_hidden + n_hidden * n_outputs + n_outputs


def block_layout(batch_size):
    """``(n_blocks, block_rows)`` for batches of ``batch_size`` rows.

    Depends on the batch size only, never on the thread count.
    """
    n_blocks = -(-batch_size // BLOCK_ROWS)
    return n_blocks, -(-batch_size // n_blocks)


def use_blas(n_features, n_hidden):
    """Whether the layer shapes are wide enough for BLAS to beat hand loops."""
    return n_features * n_hidden >= BLAS_MIN_WEIGHTS


def workspace(n_features, n_hidden, n_outputs, batch_size, dtype):
    """Buffers for :func:`loss_grad`, allocated once per fit.

    One row per block: transposed inputs, hidden activations, hidden deltas,
    output activations, and the block's partial gradient.
    """
    n_blocks, rows = block_layout(batch_size)
    p = n_params(n_features, n_hidden, n_outputs)
    return (
        np.empty((n_blocks, n_features * rows), dtype=dtype),
        np.empty((n_blocks, n_hidden * rows), dtype=dtype),
        np.empty((n_blocks, n_hidden * rows), dtype=dtype),
        np.empty((n_blocks, n_outputs * rows), dtype=dtype),
        np.empty((n_blocks, p), dtype=dtype),
    )


@jit
def unpack(theta, n_features, n_hidden, n_outputs):
    """Views ``(W1, b1, W2, b2)`` into the flat parameter vector ``theta``."""
    d, h, o = n_features, n_hidden, n_outputs
    W1 = theta[: d * h].reshape((d, h))
    b1 = theta[d * h : d * h + h]
    W2 = theta[d * h + h : d * h + h + h * o].reshape((h, o))
    b2 = theta[d * h + h + h * o : d * h + h + h * o + o]
    return W1, b1, W2, b2


@jit
def activate(Z, activation, slope):
    """Apply the hidden activation to ``Z`` in place (branch hoisted out of loops)."""
    Z = Z.ravel()
    if activation == act_ops.LOGISTIC:
        for r in range(Z.shape[0]):
            Z[r] = _logistic(Z[r], slope)
    elif activation == act_ops.TANH:
        for r in range(Z.shape[0]):
            Z[r] = _tanh(Z[r], slope)
    elif activation == act_ops.RELU:
        for r in range(Z.shape[0]):
            Z[r] = _relu(Z[r], slope)
    elif activation == act_ops.LEAKY_RELU:
        for r in range(Z.shape[0]):
            Z[r] = _leaky_relu(Z[r], slope)


@jit
def activation_backward(D, A, activation, slope):
    """Multiply ``D`` in place by g'(z), written from the output ``A = g(z)``."""
    D = D.ravel()
    A = A.ravel()
    if activation == act_ops.LOGISTIC:
        for r in range(D.shape[0]):
            D[r] *= _logistic_grad(A[r], slope)
    elif activation == act_ops.TANH:
        for r in range(D.shape[0]):
            D[r] *= _tanh_grad(A[r], slope)
    elif activation == act_ops.RELU:
        for r in range(D.shape[0]):
            D[r] *= _relu_grad(A[r], slope)
    elif activation == act_ops.LEAKY_RELU:
        for r in range(D.shape[0]):
            D[r] *= _leaky_relu_grad(A[r], slope)


@jit
def output_activate(ZT, softmax):
    """Logistic per output (binary, multilabel) or softmax per sample, in place.

    ``ZT`` is (n_outputs, n_rows). Softmax subtracts each sample's maximum first,
    so any finite input gives probabilities in [0, 1] without overflow.
    """
    o, m = ZT.shape
    if softmax:
        for r in range(m):
            zmax = ZT[0, r]
            for c in range(1, o):
                zmax = max(zmax, ZT[c, r])
            total = 0.0
            for c in range(o):
                # The select keeps infinite logits finite: inf - inf would be nan.
                z = ZT[c, r]
                e = 1.0 if z == zmax else _exp(z - zmax)
                ZT[c, r] = e
                total += e
            for c in range(o):
                ZT[c, r] /= total
    else:
        for c in range(o):
            for r in range(m):
                ZT[c, r] = _logistic(ZT[c, r], 0.0)


@jit
def _dense_t(W, b, XT, ZT, blas):
    """``ZT = W^T XT + b[:, None]``: a layer's pre-activations, transposed."""
    if blas:
        np.dot(W.T, XT, ZT)
        for j in range(ZT.shape[0]):
            for r in range(ZT.shape[1]):
                ZT[j, r] += b[j]
    else:
        for j in range(ZT.shape[0]):
            for r in range(ZT.shape[1]):
                ZT[j, r] = b[j]
            for k in range(XT.shape[0]):
                w = W[k, j]
                for r in range(ZT.shape[1]):
                    ZT[j, r] += w * XT[k, r]


@jit
def _gather_t(X, rows, XT):
    """``XT = X[rows].T``: the block's samples as columns."""
    for r in range(rows.shape[0]):
        i = rows[r]
        for k in range(XT.shape[0]):
            XT[k, r] = X[i, k]


@jit
def forward_block(X, rows, W1, b1, W2, b2, activation, slope, softmax, blas,
                  XT, A1T, A2T):
    """Forward pass of the samples ``X[rows]``, transposed.

    Fills ``XT = X[rows]^T``, ``A1T = g(W1^T XT + b1)`` and
    ``A2T = out(W2^T A1T + b2)``, each of ``len(rows)`` columns.
    """
    _gather_t(X, rows, XT)
    _dense_t(W1, b1, XT, A1T, blas)
    activate(A1T, activation, slope)
    _dense_t(W2, b2, A1T, A2T, blas)
    output_activate(A2T, softmax)


@jit
def block_loss(Y, sample_weight, rows, A2T, softmax, eps, out):
    """Weighted log-loss of each sample of ``rows`` into ``out``; returns the sum."""
    o, m = A2T.shape
    for r in range(m):
        out[r] = 0.0
    for c in range(o):
        for r in range(m):
            if softmax:
                out[r] += _softmax_loss_term(A2T[c, r], Y[rows[r], c], eps)
            else:
                out[r] += _logistic_loss(A2T[c, r], Y[rows[r], c], eps)
    for r in range(m):
        out[r] *= sample_weight[rows[r]]
    return total(out[:m])


@jit_sum
def total(a):
    """Sum of a 1-D array, vectorised (reassociated)."""
    s = 0.0
    for k in range(a.shape[0]):
        s += a[k]
    return s


@jit_sum
def _outer_sum(AT, BT, G, blas):
    """``G = AT BT^T``: sums over the block's rows of outer products."""
    if blas:
        np.dot(AT, BT.T, G)
    else:
        for k in range(AT.shape[0]):
            for j in range(BT.shape[0]):
                s = 0.0
                for r in range(AT.shape[1]):
                    s += AT[k, r] * BT[j, r]
                G[k, j] = s


@jit
def backward_block(Y, sample_weight, rows, W2, activation, slope, blas, XT, A1T,
                   A2T, D1T, gW1, gb1, gW2, gb2):
    """Write the block's unnormalised gradient sums into ``gW1, gb1, gW2, gb2``.

    The output delta is ``A2 - Y`` because logistic and softmax are the canonical
    links of the log-loss; it is weighted by ``sample_weight`` and written over
    ``A2T``. ``D1T = (W2 delta2^T) * g'(Z1)`` is the hidden delta.
    """
    o, m = A2T.shape
    for r in range(m):
        i = rows[r]
        w = sample_weight[i]
        for c in range(o):
            A2T[c, r] = (A2T[c, r] - Y[i, c]) * w
    for c in range(o):
        gb2[c] = total(A2T[c])
    _outer_sum(A1T, A2T, gW2, blas)
    if blas:
        np.dot(W2, A2T, D1T)
    else:
        for j in range(D1T.shape[0]):
            for r in range(m):
                D1T[j, r] = 0.0
            for c in range(o):
                w = W2[j, c]
                for r in range(m):
                    D1T[j, r] += w * A2T[c, r]
    activation_backward(D1T, A1T, activation, slope)
    for j in range(D1T.shape[0]):
        gb1[j] = total(D1T[j])
    _outer_sum(XT, D1T, gW1, blas)


@jit
def _block_loss_grad(b, X, Y, sample_weight, rows, theta, n_hidden, activation,
                     slope, softmax, eps, blas, work, losses, weights):
    """Forward and backward pass of block ``b`` into its own slots of ``work``."""
    d = X.shape[1]
    h = n_hidden
    o = Y.shape[1]
    W1, b1, W2, b2 = unpack(theta, d, h, o)
    ws_x, ws_a1, ws_d1, ws_a2, ws_g = work
    n = rows.shape[0]
    step = -(-n // losses.shape[0])
    block = rows[b * step : min((b + 1) * step, n)]
    m = block.shape[0]
    XT = ws_x[b, : d * m].reshape((d, m))
    A1T = ws_a1[b, : h * m].reshape((h, m))
    D1T = ws_d1[b, : h * m].reshape((h, m))
    A2T = ws_a2[b, : o * m].reshape((o, m))
    gW1, gb1, gW2, gb2 = unpack(ws_g[b], d, h, o)
    forward_block(X, block, W1, b1, W2, b2, activation, slope, softmax, blas,
                  XT, A1T, A2T)
    # D1T is free until backward_block: its first row holds the per-sample losses.
    losses[b] = block_loss(Y, sample_weight, block, A2T, softmax, eps, D1T[0])
    backward_block(Y, sample_weight, block, W2, activation, slope, blas, XT, A1T,
                   A2T, D1T, gW1, gb1, gW2, gb2)
    s = 0.0
    for r in range(m):
        s += sample_weight[block[r]]
    weights[b] = s


@pjit
def _blocks_parallel(X, Y, sample_weight, rows, theta, n_hidden, activation, slope,
                     softmax, eps, blas, work, losses, weights):
    for b in prange(losses.shape[0]):
        _block_loss_grad(b, X, Y, sample_weight, rows, theta, n_hidden, activation,
                         slope, softmax, eps, blas, work, losses, weights)


@jit
def loss_grad(X, Y, sample_weight, rows, theta, grad, n_hidden, activation, slope,
              softmax, alpha, eps, blas, work):
    """Mean log-loss plus L2 penalty of the samples ``X[rows]``, and its gradient.

    Exactly MLPClassifier's objective for one batch: with ``s = sum(sw[rows])``,
    ``loss = sum(sw * l) / s + alpha ||W||^2 / (2 s)``; the gradient is written
    into ``grad`` (same layout as ``theta``). ``work`` comes from
    :func:`workspace`. Returns ``loss``.
    """
    ws_a1, ws_g = work[1], work[4]
    n = rows.shape[0]
    n_blocks = -(-n // (ws_a1.shape[1] // n_hidden))
    losses = np.empty(n_blocks)
    weights = np.empty(n_blocks)
    # Threads pay off only when a block carries real work (hidden units x rows).
    if n_blocks > 1 and n * n_hidden * (X.shape[1] + 8) >= PARALLEL_MIN_WORK:
        _blocks_parallel(X, Y, sample_weight, rows, theta, n_hidden, activation,
                         slope, softmax, eps, blas, work, losses, weights)
    else:
        for b in range(n_blocks):
            _block_loss_grad(b, X, Y, sample_weight, rows, theta, n_hidden,
                             activation, slope, softmax, eps, blas, work, losses,
                             weights)
    total = 0.0
    sw_sum = 0.0
    grad[:] = ws_g[0]
    for b in range(n_blocks):
        total += losses[b]
        sw_sum += weights[b]
        if b > 0:
            grad += ws_g[b]
    return _add_penalty(theta, grad, X.shape[1], n_hidden, Y.shape[1], alpha, total,
                        sw_sum)


@jit
def _add_penalty(theta, grad, d, h, o, alpha, total, sw_sum):
    """Normalise the summed gradient by ``sw_sum`` and add the L2 terms."""
    squares = 0.0
    w2 = d * h + h
    for start, stop in ((0, d * h), (w2, w2 + h * o)):
        for k in range(start, stop):
            squares += theta[k] * theta[k]
            grad[k] += alpha * theta[k]
    for k in range(grad.shape[0]):
        grad[k] /= sw_sum
    return total / sw_sum + 0.5 * alpha * squares / sw_sum


@pjit
def predict_proba(X, theta, n_hidden, activation, slope, softmax, blas, out):
    """Output-layer activations of every row of ``X`` into ``out``."""
    n, d = X.shape
    o = out.shape[1]
    W1, b1, W2, b2 = unpack(theta, d, n_hidden, o)
    n_blocks = -(-n // BLOCK_ROWS)
    rows = np.arange(n)
    for b in prange(n_blocks):
        start = b * BLOCK_ROWS
        stop = min(start + BLOCK_ROWS, n)
        m = stop - start
        XT = np.empty((d, m), dtype=X.dtype)
        A1T = np.empty((n_hidden, m), dtype=X.dtype)
        A2T = np.empty((o, m), dtype=X.dtype)
        forward_block(X, rows[start:stop], W1, b1, W2, b2, activation, slope,
                      softmax, blas, XT, A1T, A2T)
        out[start:stop] = A2T.T
