"""Forward pass, log-loss and backprop of the one-hidden-layer network (CPU).

Parameters live in one flat vector ``theta = [W1, b1, W2, b2]`` (row-major), so
optimizers and L-BFGS see a single array; :func:`unpack` gives the layer views.
Rows are processed in blocks of ``BLOCK_ROWS``: each block's forward pass, output
delta and gradient contributions are computed while the block is in cache, into
workspace buffers the caller allocates once per fit.
"""

import numpy as np

from .._config import inline, jit
from ..ops import activations as act_ops
from ..ops import losses as loss_ops

BLOCK_ROWS = 128

_identity = inline(act_ops.identity)
_logistic = inline(act_ops.logistic)
_tanh = inline(act_ops.tanh)
_relu = inline(act_ops.relu)
_leaky_relu = inline(act_ops.leaky_relu)
_identity_grad = inline(act_ops.identity_grad)
_logistic_grad = inline(act_ops.logistic_grad)
_tanh_grad = inline(act_ops.tanh_grad)
_relu_grad = inline(act_ops.relu_grad)
_leaky_relu_grad = inline(act_ops.leaky_relu_grad)
_logistic_loss = inline(loss_ops.logistic_loss)
_softmax_loss_term = inline(loss_ops.softmax_loss_term)


def n_params(n_features, n_hidden, n_outputs):
    """Length of the flat parameter vector."""
    return n_features * n_hidden + n_hidden + n_hidden * n_outputs + n_outputs


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
    n, h = Z.shape
    if activation == act_ops.LOGISTIC:
        for r in range(n):
            for j in range(h):
                Z[r, j] = _logistic(Z[r, j], slope)
    elif activation == act_ops.TANH:
        for r in range(n):
            for j in range(h):
                Z[r, j] = _tanh(Z[r, j], slope)
    elif activation == act_ops.RELU:
        for r in range(n):
            for j in range(h):
                Z[r, j] = _relu(Z[r, j], slope)
    elif activation == act_ops.LEAKY_RELU:
        for r in range(n):
            for j in range(h):
                Z[r, j] = _leaky_relu(Z[r, j], slope)


@jit
def activation_backward(D, A, activation, slope):
    """Multiply ``D`` in place by g'(z), written from the output ``A = g(z)``."""
    n, h = D.shape
    if activation == act_ops.LOGISTIC:
        for r in range(n):
            for j in range(h):
                D[r, j] *= _logistic_grad(A[r, j], slope)
    elif activation == act_ops.TANH:
        for r in range(n):
            for j in range(h):
                D[r, j] *= _tanh_grad(A[r, j], slope)
    elif activation == act_ops.RELU:
        for r in range(n):
            for j in range(h):
                D[r, j] *= _relu_grad(A[r, j], slope)
    elif activation == act_ops.LEAKY_RELU:
        for r in range(n):
            for j in range(h):
                D[r, j] *= _leaky_relu_grad(A[r, j], slope)


@jit
def output_activate(Z, softmax):
    """Logistic per output (binary, multilabel) or softmax per row, in place.

    Softmax subtracts the row maximum first, so any finite input gives
    probabilities in [0, 1] without overflow.
    """
    n, o = Z.shape
    if softmax:
        for r in range(n):
            zmax = Z[r, 0]
            for c in range(1, o):
                zmax = max(zmax, Z[r, c])
            total = 0.0
            for c in range(o):
                e = np.exp(Z[r, c] - zmax)
                Z[r, c] = e
                total += e
            for c in range(o):
                Z[r, c] /= total
    else:
        for r in range(n):
            for c in range(o):
                Z[r, c] = _logistic(Z[r, c], 0.0)


@jit
def forward_block(X, rows, W1, b1, W2, b2, activation, slope, softmax, A1, A2):
    """Forward pass of the samples ``X[rows]`` into ``A1[:m]`` and ``A2[:m]``.

    ``A1 = g(X W1 + b1)``; ``A2 = out(A1 W2 + b2)``; ``m = len(rows)``.
    """
    m = rows.shape[0]
    d, h = W1.shape
    o = W2.shape[1]
    for r in range(m):
        i = rows[r]
        for j in range(h):
            A1[r, j] = b1[j]
        for k in range(d):
            xk = X[i, k]
            for j in range(h):
                A1[r, j] += xk * W1[k, j]
    activate(A1[:m], activation, slope)
    for r in range(m):
        for c in range(o):
            A2[r, c] = b2[c]
        for j in range(h):
            a = A1[r, j]
            for c in range(o):
                A2[r, c] += a * W2[j, c]
    output_activate(A2[:m], softmax)


@jit
def block_loss(Y, sample_weight, rows, A2, softmax, eps):
    """Weighted sum over ``rows`` of the per-sample log-loss."""
    m = rows.shape[0]
    o = A2.shape[1]
    total = 0.0
    for r in range(m):
        i = rows[r]
        loss = 0.0
        for c in range(o):
            if softmax:
                loss += _softmax_loss_term(A2[r, c], Y[i, c], eps)
            else:
                loss += _logistic_loss(A2[r, c], Y[i, c], eps)
        total += sample_weight[i] * loss
    return total


@jit
def backward_block(X, Y, sample_weight, rows, W2, activation, slope, A1, A2, D1,
                   gW1, gb1, gW2, gb2):
    """Add the block's unnormalised gradient sums to ``gW1, gb1, gW2, gb2``.

    The output delta is ``A2 - Y`` because logistic and softmax are the canonical
    links of the log-loss; it is weighted by ``sample_weight`` and written over
    ``A2``. ``D1 = (delta2 W2^T) * g'(Z1)`` is the hidden delta.
    """
    m = rows.shape[0]
    d, h = gW1.shape
    o = gW2.shape[1]
    for r in range(m):
        i = rows[r]
        w = sample_weight[i]
        for c in range(o):
            A2[r, c] = (A2[r, c] - Y[i, c]) * w
            gb2[c] += A2[r, c]
        for j in range(h):
            s = 0.0
            a = A1[r, j]
            for c in range(o):
                gW2[j, c] += a * A2[r, c]
                s += A2[r, c] * W2[j, c]
            D1[r, j] = s
    activation_backward(D1[:m], A1[:m], activation, slope)
    for r in range(m):
        i = rows[r]
        for j in range(h):
            gb1[j] += D1[r, j]
        for k in range(d):
            xk = X[i, k]
            for j in range(h):
                gW1[k, j] += xk * D1[r, j]


@jit
def loss_grad(X, Y, sample_weight, rows, theta, grad, n_hidden, activation, slope,
              softmax, alpha, eps, A1, A2, D1):
    """Mean log-loss plus L2 penalty of the samples ``X[rows]``, and its gradient.

    Exactly MLPClassifier's objective for one batch: with ``s = sum(sw[rows])``,
    ``loss = sum(sw * l) / s + alpha ||W||^2 / (2 s)``; the gradient is written
    into ``grad`` (same layout as ``theta``). Returns ``loss``.
    """
    d = X.shape[1]
    o = Y.shape[1]
    W1, b1, W2, b2 = unpack(theta, d, n_hidden, o)
    gW1, gb1, gW2, gb2 = unpack(grad, d, n_hidden, o)
    grad[:] = 0.0
    n = rows.shape[0]
    sw_sum = 0.0
    total = 0.0
    for start in range(0, n, BLOCK_ROWS):
        block = rows[start : min(start + BLOCK_ROWS, n)]
        forward_block(X, block, W1, b1, W2, b2, activation, slope, softmax, A1, A2)
        total += block_loss(Y, sample_weight, block, A2, softmax, eps)
        backward_block(X, Y, sample_weight, block, W2, activation, slope, A1, A2, D1,
                       gW1, gb1, gW2, gb2)
        for r in range(block.shape[0]):
            sw_sum += sample_weight[block[r]]
    squares = 0.0
    for k in range(d * n_hidden):
        squares += theta[k] * theta[k]
    for k in range(W2.size):
        squares += W2.flat[k] * W2.flat[k]
    for k in range(d * n_hidden):
        grad[k] = (grad[k] + alpha * theta[k]) / sw_sum
    for j in range(n_hidden):
        gb1[j] /= sw_sum
    for j in range(n_hidden):
        for c in range(o):
            gW2[j, c] = (gW2[j, c] + alpha * W2[j, c]) / sw_sum
    for c in range(o):
        gb2[c] /= sw_sum
    return total / sw_sum + 0.5 * alpha * squares / sw_sum


@jit
def predict_proba(X, theta, n_hidden, activation, slope, softmax, out):
    """Output-layer activations of every row of ``X`` into ``out``."""
    n, d = X.shape
    o = out.shape[1]
    W1, b1, W2, b2 = unpack(theta, d, n_hidden, o)
    A1 = np.empty((BLOCK_ROWS, n_hidden), dtype=X.dtype)
    rows = np.arange(n)
    for start in range(0, n, BLOCK_ROWS):
        stop = min(start + BLOCK_ROWS, n)
        forward_block(X, rows[start:stop], W1, b1, W2, b2, activation, slope,
                      softmax, A1, out[start:stop])
