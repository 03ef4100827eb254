"""Forward pass, log-loss and backprop of the one-hidden-layer network (CUDA).

The twin of :mod:`fastnn.cpu.network`: same flat ``theta = [W1, b1, W2, b2]``,
same math, compiled from the same :mod:`fastnn.ops` functions with
``cuda.jit(device=True)``. Samples are rows here (``A1`` is batch x hidden), so
neighbouring threads touch neighbouring hidden units and memory accesses
coalesce.

A batch takes six launches, fused so that each intermediate is written once and
read only by a later launch: (1) hidden layer with its activation; (2) output
layer, softmax/logistic, loss and output delta; (3) batch totals (weights, loss,
L2 norm of the weights *before* any update); (4) hidden delta, which must read
``W2`` before (5) the gradient of ``W2``/``b2`` fused with their optimizer step
and (6) the same for ``W1``/``b1`` (:mod:`fastnn.cuda.training`).

Sums are deterministic: every float sum is taken by one thread in a fixed order,
or as fixed per-thread partials added in thread order (no float atomics), so a
fit gives the same bits run after run. Launch shapes come from the module
constants below, read at launch time (tests patch them down to run the
multi-block and grid-stride paths).
"""

import math

import numpy as np
from numba import cuda

from .._config import specialise
from ..ops import activations as act_ops
from ..ops import losses as loss_ops
from ..ops import permutation as perm_ops

#: Threads per block of the elementwise kernels and of the one-block reductions.
THREADS_PER_BLOCK = 128
#: Most blocks per launch; grid-stride loops cover the rest.
MAX_BLOCKS = 4096
#: Rows per launch of :func:`predict_proba` (bounds its hidden-layer buffer).
PREDICT_ROWS = 1 << 16

# What the output kernel does after the forward pass.
PREDICT = 0  # leave the probabilities
TRAIN = 1  # per-row weighted loss, output delta in place of the probabilities
SCORE = 2  # per-row weight if the prediction is right, else 0

# Slots of the float64 ``stats`` vector that kernels fill for the host.
BATCH_WEIGHT = 0  # sum of the batch's sample weights
BATCH_LOSS = 1  # the batch's objective (mean loss + L2 penalty)
EPOCH_LOSS = 2  # sum over the epoch's batches of BATCH_LOSS * batch rows
NON_FINITE = 3  # set to 1 when an update produced a non-finite parameter
VAL_CORRECT = 4  # weight of the correctly predicted validation rows
VAL_WEIGHT = 5  # weight of the validation rows
N_STATS = 6

_device = cuda.jit(device=True)
_identity = _device(act_ops.identity)
_logistic = _device(specialise(act_ops.logistic, exp=math.exp))
_tanh = _device(specialise(act_ops.tanh, _tanh=math.tanh))
_relu = _device(act_ops.relu)
_leaky_relu = _device(act_ops.leaky_relu)
_identity_grad = _device(act_ops.identity_grad)
_logistic_grad = _device(act_ops.logistic_grad)
_tanh_grad = _device(act_ops.tanh_grad)
_relu_grad = _device(act_ops.relu_grad)
_leaky_relu_grad = _device(act_ops.leaky_relu_grad)
_logistic_loss = _device(specialise(loss_ops.logistic_loss, log=math.log))
_softmax_loss_term = _device(specialise(loss_ops.softmax_loss_term, log=math.log))
_mix = _device(perm_ops.mix)
_permute = _device(specialise(perm_ops.permute, mix=_mix))


def n_params(n_features, n_hidden, n_outputs):
    """Length of the flat parameter vector."""
    return n_features * n_hidden + n_hidden + n_hidden * n_outputs + n_outputs


def launch(kernel, n_items):
    """``kernel`` configured with enough blocks for ``n_items`` grid-stride items."""
    blocks = min(MAX_BLOCKS, max(1, -(-n_items // THREADS_PER_BLOCK)))
    return kernel[blocks, THREADS_PER_BLOCK]


def reduce_launch(kernel):
    """``kernel`` configured as one block, for the fixed-order reductions."""
    return kernel[1, THREADS_PER_BLOCK]


def workspace(n_features, n_hidden, n_outputs, batch_size, dtype):
    """Device buffers for one batch, allocated once per fit.

    ``(Xb, A1, D1, A2, row_a, row_b, partials, stats)``: the batch's gathered
    inputs, hidden activations and deltas, output activations (then deltas),
    two per-row scratch vectors, the reduction's per-thread partials and the
    float64 ``stats`` read by the host (slots ``BATCH_WEIGHT`` ...).
    """
    b = batch_size
    return (
        cuda.device_array((b, n_features), dtype=dtype),
        cuda.device_array((b, n_hidden), dtype=dtype),
        cuda.device_array((b, n_hidden), dtype=dtype),
        cuda.device_array((b, n_outputs), dtype=dtype),
        cuda.device_array(b, dtype=np.float64),
        cuda.device_array(b, dtype=np.float64),
        cuda.device_array((3, THREADS_PER_BLOCK), dtype=np.float64),
        cuda.to_device(np.zeros(N_STATS)),
    )


def unpack(theta, n_features, n_hidden, n_outputs):
    """Device views ``(W1, b1, W2, b2)`` into the flat parameter vector ``theta``."""
    d, h, o = n_features, n_hidden, n_outputs
    W1 = theta[: d * h].reshape((d, h))
    b1 = theta[d * h : d * h + h]
    W2 = theta[d * h + h : d * h + h + h * o].reshape((h, o))
    b2 = theta[d * h + h + h * o :]
    return W1, b1, W2, b2


def no_rows():
    """An empty index array: as ``rows``, visit rows ``start...`` in order; as
    ``keys``, do not shuffle."""
    return cuda.device_array(0, dtype=np.int64)


@_device
def activate(z, activation, slope):
    """The hidden activation of code ``activation`` at ``z``."""
    if activation == act_ops.LOGISTIC:
        return _logistic(z, slope)
    if activation == act_ops.TANH:
        return _tanh(z, slope)
    if activation == act_ops.RELU:
        return _relu(z, slope)
    if activation == act_ops.LEAKY_RELU:
        return _leaky_relu(z, slope)
    return _identity(z, slope)


@_device
def activation_grad(a, activation, slope):
    """g'(z) of the hidden activation, written from its output ``a = g(z)``."""
    if activation == act_ops.LOGISTIC:
        return _logistic_grad(a, slope)
    if activation == act_ops.TANH:
        return _tanh_grad(a, slope)
    if activation == act_ops.RELU:
        return _relu_grad(a, slope)
    if activation == act_ops.LEAKY_RELU:
        return _leaky_relu_grad(a, slope)
    return _identity_grad(a, slope)


@_device
def sample(pos, rows, keys, half):
    """Sample visited at position ``pos`` of an epoch.

    ``rows`` lists the samples to visit (empty: all, in order); with four
    ``keys`` the positions are first permuted by the epoch's Feistel bijection.
    """
    if keys.shape[0] == 4:
        pos = _permute(pos, rows.shape[0], half, keys[0], keys[1], keys[2], keys[3])
    if rows.shape[0] == 0:
        return pos
    return rows[pos]


@cuda.jit
def hidden_forward(X, rows, keys, half, start, m, W1, b1, activation, slope, A1,
                   Xb):
    """``A1[r] = g(X[i] W1 + b1)`` for the ``m`` rows from position ``start``.

    One thread per (row, hidden unit). When ``Xb`` has rows, the batch's inputs
    are also gathered into it for the weight gradient of the first layer.
    """
    d, h = W1.shape
    for t in range(cuda.grid(1), m * h, cuda.gridsize(1)):
        r = t // h
        j = t - r * h
        i = sample(start + r, rows, keys, half)
        z = b1[j]
        for k in range(d):
            z += W1[k, j] * X[i, k]
        A1[r, j] = activate(z, activation, slope)
        if j == 0 and Xb.shape[0] > 0:
            for k in range(d):
                Xb[r, k] = X[i, k]


@_device
def _output_row(A1, W2, b2, r, softmax, A2):
    """Output activations of row ``r``: logistic per output or softmax."""
    h, o = W2.shape
    for c in range(o):
        z = b2[c]
        for j in range(h):
            z += W2[j, c] * A1[r, j]
        A2[r, c] = z
    if softmax:
        zmax = A2[r, 0]
        for c in range(1, o):
            zmax = max(zmax, A2[r, c])
        total = 0.0
        for c in range(o):
            # The select keeps infinite logits finite: inf - inf would be nan.
            z = A2[r, c]
            e = 1.0 if z == zmax else math.exp(z - zmax)
            A2[r, c] = e
            total += e
        for c in range(o):
            A2[r, c] /= total
    else:
        for c in range(o):
            A2[r, c] = _logistic(A2[r, c], 0.0)


@_device
def _correct(A2, r, Y, i, softmax):
    """Whether row ``r``'s prediction matches ``Y[i]`` (argmax, or all > 0.5)."""
    o = A2.shape[1]
    if softmax:
        best = 0
        for c in range(1, o):
            if A2[r, c] > A2[r, best]:
                best = c
        return Y[i, best] == 1
    for c in range(o):
        if (A2[r, c] > 0.5) != (Y[i, c] == 1):
            return False
    return True


@cuda.jit
def output_forward(Y, sample_weight, rows, keys, half, start, m, A1, W2, b2,
                   softmax, eps, mode, A2, row_a, row_b):
    """Output layer of the ``m`` rows of ``A1``, one thread per row.

    ``mode`` PREDICT leaves the probabilities in ``A2``. TRAIN writes the
    weighted loss to ``row_a``, the weight to ``row_b`` and the output delta
    ``(A2 - Y) * w`` over ``A2`` (``A - Y`` because logistic and softmax are the
    canonical links of the log-loss). SCORE writes the weight of a correct
    prediction (else 0) to ``row_a`` and the weight to ``row_b``.
    """
    o = A2.shape[1]
    for r in range(cuda.grid(1), m, cuda.gridsize(1)):
        _output_row(A1, W2, b2, r, softmax, A2)
        if mode == PREDICT:
            continue
        i = sample(start + r, rows, keys, half)
        w = sample_weight[i]
        row_b[r] = w
        if mode == SCORE:
            row_a[r] = w if _correct(A2, r, Y, i, softmax) else 0.0
            continue
        loss = 0.0
        for c in range(o):
            if softmax:
                loss += _softmax_loss_term(A2[r, c], Y[i, c], eps)
            else:
                loss += _logistic_loss(A2[r, c], Y[i, c], eps)
            A2[r, c] = (A2[r, c] - Y[i, c]) * w
        row_a[r] = loss * w


@_device
def _strided_sum(a, start, stop, t, nt):
    s = 0.0
    for k in range(start + t, stop, nt):
        s += a[k]
    return s


@_device
def _strided_squares(a, start, stop, t, nt):
    s = 0.0
    for k in range(start + t, stop, nt):
        s += a[k] * a[k]
    return s


@cuda.jit
def batch_totals(row_a, row_b, m, theta, w1_stop, w2_start, w2_stop, alpha, mode,
                 partials, stats):
    """Sum ``row_a``, ``row_b`` (and the squared weights) into ``stats``; one block.

    Each thread sums a fixed strided share into ``partials``, then thread 0 adds
    the partials in thread order. TRAIN: the batch objective
    ``sum(w l) / s + alpha ||W||^2 / (2 s)`` with ``s = sum(w)``, at the weights
    before this batch's update, as MLPClassifier measures it. SCORE: accumulate
    the validation weights.
    """
    t = cuda.threadIdx.x
    nt = cuda.blockDim.x
    partials[0, t] = _strided_sum(row_a, 0, m, t, nt)
    partials[1, t] = _strided_sum(row_b, 0, m, t, nt)
    partials[2, t] = 0.0
    if mode == TRAIN:
        partials[2, t] = _strided_squares(theta, 0, w1_stop, t, nt) + (
            _strided_squares(theta, w2_start, w2_stop, t, nt)
        )
    cuda.syncthreads()
    if t == 0:
        a = 0.0
        b = 0.0
        q = 0.0
        for k in range(nt):
            a += partials[0, k]
            b += partials[1, k]
            q += partials[2, k]
        if mode == TRAIN:
            loss = a / b + 0.5 * alpha * q / b
            stats[BATCH_WEIGHT] = b
            stats[BATCH_LOSS] = loss
            stats[EPOCH_LOSS] += loss * m
        else:
            stats[VAL_CORRECT] += a
            stats[VAL_WEIGHT] += b


@cuda.jit
def hidden_delta(A1, D2, W2, m, activation, slope, D1):
    """``D1 = (D2 W2^T) * g'(A1)``, one thread per (row, hidden unit)."""
    h, o = W2.shape
    for t in range(cuda.grid(1), m * h, cuda.gridsize(1)):
        r = t // h
        j = t - r * h
        s = 0.0
        for c in range(o):
            s += W2[j, c] * D2[r, c]
        D1[r, j] = s * activation_grad(A1[r, j], activation, slope)


@_device
def param_grad(t, A_in, D, m, theta, offset, alpha, sw_sum):
    """Gradient of parameter ``offset + t`` of a layer with input ``A_in``, delta ``D``.

    The layer's parameters are ``W`` (n_in x n_out, row-major) then ``b``:
    ``(A_in^T D + alpha W) / s`` and ``sum(D) / s``, each summed over the ``m``
    rows in order by this one thread.
    """
    n_in = A_in.shape[1]
    n_out = D.shape[1]
    s = 0.0
    if t < n_in * n_out:
        k = t // n_out
        j = t - k * n_out
        for r in range(m):
            s += A_in[r, k] * D[r, j]
        return (s + alpha * theta[offset + t]) / sw_sum
    c = t - n_in * n_out
    for r in range(m):
        s += D[r, c]
    return s / sw_sum


@cuda.jit
def layer_grad(A_in, D, m, theta, offset, alpha, stats, grad):
    """Gradient of one layer's parameters into ``grad[offset:...]``."""
    n = (A_in.shape[1] + 1) * D.shape[1]
    for t in range(cuda.grid(1), n, cuda.gridsize(1)):
        grad[offset + t] = param_grad(t, A_in, D, m, theta, offset, alpha,
                                      stats[BATCH_WEIGHT])


@cuda.jit
def all_finite_flags(X, flags):
    """Set ``flags[0]`` when ``X`` holds a nan, ``flags[1]`` when it holds an inf.

    Every thread that finds one stores the same 1, so the result does not depend
    on the order the threads ran in.
    """
    n, d = X.shape
    for t in range(cuda.grid(1), n * d, cuda.gridsize(1)):
        x = X[t // d, t % d]
        if x != x:
            flags[0] = 1
        elif math.isinf(x):
            flags[1] = 1


def hidden_layer(X, rows, keys, half, start, m, theta, n_hidden, activation, slope,
                 work, gather):
    """Launch the hidden layer for ``m`` rows from ``start``; return ``(W2, b2)``."""
    d, o = X.shape[1], work[3].shape[1]
    W1, b1, W2, b2 = unpack(theta, d, n_hidden, o)
    Xb = work[0] if gather else work[0][:0]
    launch(hidden_forward, m * n_hidden)(X, rows, keys, half, start, m, W1, b1,
                                         activation, slope, work[1], Xb)
    return W2, b2


def forward_backward(X, Y, sample_weight, rows, keys, half, start, m, theta,
                     n_hidden, activation, slope, softmax, alpha, eps, work):
    """Launch (1)-(4) of a batch: activations, deltas and ``stats`` of its objective."""
    A1, D1, A2, row_a, row_b, partials, stats = work[1:]
    d, o = X.shape[1], Y.shape[1]
    W2, b2 = hidden_layer(X, rows, keys, half, start, m, theta, n_hidden,
                          activation, slope, work, gather=True)
    launch(output_forward, m)(Y, sample_weight, rows, keys, half, start, m, A1, W2,
                              b2, softmax, eps, TRAIN, A2, row_a, row_b)
    w2 = d * n_hidden + n_hidden
    reduce_launch(batch_totals)(row_a, row_b, m, theta, d * n_hidden, w2,
                                w2 + n_hidden * o, alpha, TRAIN, partials, stats)
    launch(hidden_delta, m * n_hidden)(A1, A2, W2, m, activation, slope, D1)


def loss_grad(X, Y, sample_weight, rows, theta, grad, n_hidden, activation, slope,
              softmax, alpha, eps, work):
    """Mean log-loss plus L2 penalty of the samples ``X[rows]``, and its gradient.

    The twin of :func:`fastnn.cpu.network.loss_grad` on device arrays (``rows``
    at most the workspace's batch size). The gradient is written into the device
    array ``grad``; the loss is read back and returned.
    """
    Xb, A1, D1, A2, stats = work[0], work[1], work[2], work[3], work[7]
    m = rows.shape[0]
    forward_backward(X, Y, sample_weight, rows, no_rows(), 0, 0, m, theta, n_hidden,
                     activation, slope, softmax, alpha, eps, work)
    w2 = X.shape[1] * n_hidden + n_hidden
    launch(layer_grad, w2)(Xb[:m], D1[:m], m, theta, 0, alpha, stats, grad)
    launch(layer_grad, (n_hidden + 1) * Y.shape[1])(A1[:m], A2[:m], m, theta, w2,
                                                     alpha, stats, grad)
    return float(stats.copy_to_host()[BATCH_LOSS])


def predict_proba(X, theta, n_hidden, activation, slope, softmax, out):
    """Output-layer activations of every row of the device array ``X`` into ``out``."""
    n = X.shape[0]
    o = out.shape[1]
    rows, keys = no_rows(), no_rows()
    chunk = min(n, PREDICT_ROWS)
    work = workspace(X.shape[1], n_hidden, o, chunk, X.dtype)
    # Unused in PREDICT mode; typed as in training so that no variant is compiled.
    Y = cuda.device_array((0, o), dtype=np.uint8)
    sw = cuda.device_array(0, dtype=X.dtype)
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        W2, b2 = hidden_layer(X, rows, keys, 0, start, m, theta, n_hidden,
                              activation, slope, work, gather=False)
        launch(output_forward, m)(Y, sw, rows, keys, 0, start, m, work[1], W2, b2,
                                  softmax, 0.0, PREDICT, out[start:], work[4],
                                  work[5])


def use_device(X):
    """``X`` as a numba device array: used in place when already on the GPU."""
    if getattr(X, "__cuda_ndarray__", False):
        return X
    if hasattr(X, "__cuda_array_interface__"):
        return cuda.as_cuda_array(X)
    return cuda.to_device(np.ascontiguousarray(X))


def nonfinite(X):
    """``(has_nan, has_inf)`` of a device array, by a small device reduction."""
    flags = cuda.to_device(np.zeros(2, dtype=np.int32))
    launch(all_finite_flags, X.shape[0] * X.shape[1])(X, flags)
    has_nan, has_inf = flags.copy_to_host()
    return bool(has_nan), bool(has_inf)
