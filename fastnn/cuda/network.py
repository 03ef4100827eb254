"""Forward pass, loss and backprop of the one-hidden-layer network (CUDA).

The twin of :mod:`fastnn.cpu.network`: same flat ``theta`` (its segments from
:class:`fastnn.ops.layout.Layout`), same bundles (:mod:`fastnn.ops.bundles`), same
math, compiled from the same :mod:`fastnn.ops` functions with
``cuda.jit(device=True)``. Samples are rows here (``A1`` is batch x hidden), so
neighbouring threads touch neighbouring hidden units and memory accesses
coalesce.

A batch takes seven launches, fused so that each intermediate is written once
and read only by a later launch: (1) the batch's sample indices (the epoch's
keyed order, :func:`batch_samples`); (2) hidden layer with its activation;
(3) output layer (:mod:`fastnn.ops.losses`), loss and output delta; (4) batch totals
(weights, loss, L2 norm of the weights *before* any update); (5) hidden delta,
which must read ``W2`` before (6) the gradient of ``W2``/``b2`` fused with their
optimizer step and (7) the same for ``W1``/``b1`` (:mod:`fastnn.cuda.training`).

Host-side functions take the bundles (``data``, ``net``, ``solver``, ``params``)
and a :class:`Workspace`; the ``@cuda.jit`` kernels take arrays and scalars.

Sums are deterministic: every float sum is taken by one thread in a fixed order,
or as fixed per-thread partials added in thread order (no float atomics), so a
fit gives the same bits run after run. Launch shapes come from the module
constants below, read at launch time (tests patch them down to run the
multi-block and grid-stride paths).

Validation scores: accuracy adds the weights of the correct rows to ``stats``
(:func:`batch_score`); R^2 adds each output's weighted squared residuals to
``Workspace.val_sums`` (:func:`batch_residuals`), and :func:`validation_r2`
takes the targets' weighted means and spreads over the validation rows and
writes the score to ``stats``.
"""

import math
from typing import NamedTuple

import numpy as np
from numba import cuda

from .._config import specialise
from ..ops import activations as act_ops
from ..ops import losses as loss_ops
from ..ops import permutation as perm_ops
from ..ops.layout import unpack

#: Threads per block of the elementwise kernels and of the one-block reductions.
THREADS_PER_BLOCK = 128
#: Most blocks per launch; grid-stride loops cover the rest.
MAX_BLOCKS = 4096
#: Rows per launch of :func:`predict_proba` (bounds its hidden-layer buffer).
PREDICT_ROWS = 1 << 16

# What the output kernel does after the forward pass.
PREDICT = 0  # leave the output activations
TRAIN = 1  # per-row weighted loss, output delta in place of the activations
# Classifier: per-row weight if the prediction is right, else 0; regressor: the
# weighted squared residuals in place of the activations.
SCORE = 2

# Slots of the float64 ``stats`` vector that kernels fill for the host.
BATCH_WEIGHT = 0  # sum of the batch's sample weights
BATCH_LOSS = 1  # the batch's objective (mean loss + L2 penalty)
EPOCH_LOSS = 2  # sum over the epoch's batches of BATCH_LOSS * batch rows
NON_FINITE = 3  # set to 1 when an update produced a non-finite parameter
VAL_CORRECT = 4  # weight of the correctly predicted validation rows
VAL_WEIGHT = 5  # weight of the validation rows
VAL_R2 = 6  # the validation R^2 (regressor)
VAL_LOSS = 7  # sum w l of the validation rows, then their objective
N_STATS = 8

# Rows of ``Workspace.val_sums``, per output (R^2 of the regressor).
TARGET_MEAN = 0  # weighted mean of the validation targets
TARGET_SPREAD = 1  # sum w (y - mean)^2
RESIDUAL = 2  # sum w (y - p)^2
N_VAL_SUMS = 3

#: Per-thread partial sums of the one-block reductions (rows of ``partials``).
N_PARTIALS = 3

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
_squared_error_term = _device(loss_ops.squared_error_term)
_poisson_term = _device(specialise(loss_ops.poisson_term, log=math.log))
_exp_output = _device(specialise(loss_ops.exp_output, exp=math.exp))
loss_term = _device(specialise(
    loss_ops.loss_term, softmax_loss_term=_softmax_loss_term,
    logistic_loss=_logistic_loss, poisson_term=_poisson_term,
    squared_error_term=_squared_error_term))
_is_classification = _device(loss_ops.is_classification)
_r2_of_output = _device(loss_ops.r2_of_output)
_output_delta = _device(loss_ops.output_delta)
_objective = _device(loss_ops.objective)
_regularised_gradient = _device(loss_ops.regularised_gradient)
_mix = _device(perm_ops.mix)
_permute = _device(specialise(perm_ops.permute, mix=_mix))


class Workspace(NamedTuple):
    """Device buffers of one batch, allocated once per fit (:func:`workspace`)."""

    #: The batch's sample indices, int64 (batch,).
    samples: np.ndarray
    #: The batch's gathered inputs (batch x n_features), for the first layer's
    #: weight gradient.
    inputs: np.ndarray
    #: Hidden activations A1 (batch x n_hidden).
    hidden: np.ndarray
    #: Hidden deltas (batch x n_hidden).
    hidden_delta: np.ndarray
    #: Output activations A2, then the output deltas or the weighted squared
    #: residuals of the validation R^2 (batch x n_outputs).
    output: np.ndarray
    #: Per-row float64 scratch: the weighted loss (training) or the weight of a
    #: correct prediction (scoring)...
    row_a: np.ndarray
    #: ... and the row's sample weight...
    row_b: np.ndarray
    #: ... and its weighted loss (scoring: the validation loss).
    row_c: np.ndarray
    #: Per-thread partials of the one-block reductions (N_PARTIALS x threads).
    partials: np.ndarray
    #: float64 results read by the host (slots ``BATCH_WEIGHT`` ...).
    stats: np.ndarray
    #: float64 per-output sums of the validation R^2 (N_VAL_SUMS x n_outputs,
    #: rows ``TARGET_MEAN`` ...).
    val_sums: np.ndarray


def workspace(layout, batch_size, dtype):
    """A :class:`Workspace` for batches of at most ``batch_size`` rows."""
    b = batch_size
    return Workspace(
        samples=cuda.device_array(b, dtype=np.int64),
        inputs=cuda.device_array((b, layout.n_features), dtype=dtype),
        hidden=cuda.device_array((b, layout.n_hidden), dtype=dtype),
        hidden_delta=cuda.device_array((b, layout.n_hidden), dtype=dtype),
        output=cuda.device_array((b, layout.n_outputs), dtype=dtype),
        row_a=cuda.device_array(b, dtype=np.float64),
        row_b=cuda.device_array(b, dtype=np.float64),
        row_c=cuda.device_array(b, dtype=np.float64),
        partials=cuda.device_array((N_PARTIALS, THREADS_PER_BLOCK), dtype=np.float64),
        stats=cuda.to_device(np.zeros(N_STATS)),
        val_sums=cuda.to_device(np.zeros((N_VAL_SUMS, layout.n_outputs))),
    )


def batch_rows(work):
    """Most rows of a batch that a workspace takes."""
    return work.samples.shape[0]


def launch(kernel, n_items):
    """``kernel`` configured with enough blocks for ``n_items`` grid-stride items."""
    blocks = min(MAX_BLOCKS, max(1, -(-n_items // THREADS_PER_BLOCK)))
    return kernel[blocks, THREADS_PER_BLOCK]


def reduce_launch(kernel, work):
    """``kernel`` configured as one block, one thread per column of the partials."""
    return kernel[1, work.partials.shape[1]]


def no_rows():
    """An empty index array: as ``rows``, visit positions ``start...`` in order; as
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
def batch_samples(rows, keys, half, start, samples):
    """``samples[r]``: the sample visited at position ``start + r`` (see
    :func:`sample`), for every ``r < len(samples)``."""
    for r in range(cuda.grid(1), samples.shape[0], cuda.gridsize(1)):
        samples[r] = sample(start + r, rows, keys, half)


@cuda.jit
def hidden_forward(X, samples, W1, b1, activation, slope, A1, Xb):
    """``A1[r] = g(X[samples[r]] W1 + b1)`` for every row ``r`` of ``samples``.

    One thread per (row, hidden unit); the product is summed in feature order
    and the bias added last, as the CPU twin does. When ``Xb`` has rows, the
    batch's inputs are also gathered into it for the first layer's gradient.
    """
    d, h = W1.shape
    for t in range(cuda.grid(1), samples.shape[0] * h, cuda.gridsize(1)):
        r = t // h
        j = t - r * h
        i = samples[r]
        z = W1[0, j] * X[i, 0]
        for k in range(1, d):
            z += W1[k, j] * X[i, k]
        A1[r, j] = activate(z + b1[j], activation, slope)
        if j == 0 and Xb.shape[0] > 0:
            for k in range(d):
                Xb[r, k] = X[i, k]


@_device
def _output_row(A1, W2, b2, r, output, A2):
    """Output activations of row ``r``: the output function of code ``output``
    (logistic or exp per output, identity, or softmax over the outputs)."""
    h, o = W2.shape
    for c in range(o):
        z = W2[0, c] * A1[r, 0]
        for j in range(1, h):
            z += W2[j, c] * A1[r, j]
        A2[r, c] = z + b2[c]
    if output == loss_ops.SOFTMAX:
        zmax = A2[r, 0]
        for c in range(1, o):
            zmax = max(zmax, A2[r, c])
        for c in range(o):
            # The select keeps infinite logits finite: inf - inf would be nan.
            z = A2[r, c]
            A2[r, c] = 1.0 if z == zmax else math.exp(z - zmax)
        # Summed in the array's dtype, in class order, as the CPU twin sums.
        total = A2[r, 0]
        for c in range(1, o):
            total += A2[r, c]
        for c in range(o):
            A2[r, c] /= total
    elif output == loss_ops.LOGISTIC:
        for c in range(o):
            A2[r, c] = _logistic(A2[r, c], 0.0)
    elif output == loss_ops.EXP:
        for c in range(o):
            A2[r, c] = _exp_output(A2[r, c])


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


@_device
def _score_row(A2, r, Y, i, w, output, row_a):
    """SCORE mode for row ``r`` (sample ``i``, weight ``w``).

    Classifier: ``row_a[r]`` is ``w`` if the prediction is right, else 0.
    Regressor: ``row_a[r]`` is 0 and ``A2[r, c]`` becomes ``w (y - p)^2`` (in the
    CPU twin's order of operations), nan for a non-finite prediction, which
    makes the R^2 nan.
    """
    if _is_classification(output):
        row_a[r] = w if _correct(A2, r, Y, i, output == loss_ops.SOFTMAX) else 0.0
        return
    row_a[r] = 0.0
    for c in range(A2.shape[1]):
        p = A2[r, c]
        y = Y[i, c]
        A2[r, c] = w * (y - p) * (y - p) if math.isfinite(p) else math.nan


@cuda.jit
def output_forward(Y, sample_weight, samples, A1, W2, b2, output, eps, mode, A2,
                   row_a, row_b, row_c):
    """Output layer of the rows of ``A1``, one thread per row of ``samples``.

    ``Y`` (n_samples, n_outputs) holds the targets in ``A1``'s dtype (the
    classifier's 0/1 indicators, the regressor's values); ``output`` is an output
    code of :mod:`fastnn.ops.losses`. ``mode`` PREDICT leaves the output activations
    in ``A2``. TRAIN writes the weighted loss to ``row_a``, the weight to ``row_b``
    and the output delta ``(A2 - Y) * w`` over ``A2`` (``A - Y`` because every
    output function is its loss's canonical link). SCORE writes the weight to
    ``row_b``, the weighted loss to ``row_c`` (the validation loss) and the row's
    score terms (:func:`_score_row`).
    """
    o = A2.shape[1]
    for r in range(cuda.grid(1), samples.shape[0], cuda.gridsize(1)):
        _output_row(A1, W2, b2, r, output, A2)
        if mode == PREDICT:
            continue
        i = samples[r]
        w = sample_weight[i]
        row_b[r] = w
        loss = 0.0
        if mode == SCORE:
            for c in range(o):
                loss += loss_term(A2[r, c], Y[i, c], output, eps, o)
            row_c[r] = loss * w
            _score_row(A2, r, Y, i, w, output, row_a)
            continue
        for c in range(o):
            loss += loss_term(A2[r, c], Y[i, c], output, eps, o)
            A2[r, c] = _output_delta(A2[r, c], Y[i, c], w)
        row_a[r] = loss * w


@_device
def _strided_sum(a, stop, t, nt):
    s = 0.0
    for k in range(t, stop, nt):
        s += a[k]
    return s


@_device
def _strided_squares(W, t, nt):
    """Thread ``t``'s share of ``sum(W**2)`` over the 2-D ``W``, row-major."""
    n_cols = W.shape[1]
    s = 0.0
    for q in range(t, W.shape[0] * n_cols, nt):
        k = q // n_cols
        w = W[k, q - k * n_cols]
        s += w * w
    return s


@_device
def _row_partials(row_a, row_b, m, partials):
    """Thread's strided shares of ``row_a[:m]`` and ``row_b[:m]`` into ``partials``."""
    t = cuda.threadIdx.x
    nt = cuda.blockDim.x
    partials[0, t] = _strided_sum(row_a, m, t, nt)
    partials[1, t] = _strided_sum(row_b, m, t, nt)


@cuda.jit
def batch_loss(row_a, row_b, m, W1, W2, alpha, partials, stats):
    """The batch objective into ``stats``; one block.

    ``(sum(w l) + alpha ||W||^2 / 2) / s`` with ``s = sum(w)``, at the weights
    before this batch's update, as MLP measures it (and as
    :func:`fastnn.cpu.network.loss_grad` writes it). Each thread sums a fixed
    strided share into ``partials``, then thread 0 adds the partials in thread
    order.
    """
    t = cuda.threadIdx.x
    nt = cuda.blockDim.x
    _row_partials(row_a, row_b, m, partials)
    partials[2, t] = _strided_squares(W1, t, nt) + _strided_squares(W2, t, nt)
    cuda.syncthreads()
    if t == 0:
        a = 0.0
        b = 0.0
        q = 0.0
        for k in range(nt):
            a += partials[0, k]
            b += partials[1, k]
            q += partials[2, k]
        loss = _objective(a, alpha, q, b)
        stats[BATCH_WEIGHT] = b
        stats[BATCH_LOSS] = loss
        stats[EPOCH_LOSS] += loss * m


@cuda.jit
def batch_score(row_a, row_b, row_c, m, partials, stats):
    """Add the correct weight, the weight and the weighted loss of ``m``
    validation rows (SCORE mode's ``row_a``, ``row_b``, ``row_c``) to ``stats``;
    one block."""
    t = cuda.threadIdx.x
    nt = cuda.blockDim.x
    _row_partials(row_a, row_b, m, partials)
    partials[2, t] = _strided_sum(row_c, m, t, nt)
    cuda.syncthreads()
    if t == 0:
        a = 0.0
        b = 0.0
        c = 0.0
        for k in range(nt):
            a += partials[0, k]
            b += partials[1, k]
            c += partials[2, k]
        stats[VAL_CORRECT] += a
        stats[VAL_WEIGHT] += b
        stats[VAL_LOSS] += c


@cuda.jit
def validation_loss(W1, W2, alpha, partials, stats):
    """``stats[VAL_LOSS]``: the objective of the validation rows; one block.

    From the sums :func:`batch_score` added, ``(sum(w l) + alpha ||W||^2 / 2) /
    sum(w)`` (:func:`fastnn.ops.losses.objective`, as :func:`batch_loss` for a
    training batch) at the current weights.
    """
    t = cuda.threadIdx.x
    nt = cuda.blockDim.x
    partials[2, t] = _strided_squares(W1, t, nt) + _strided_squares(W2, t, nt)
    cuda.syncthreads()
    if t == 0:
        q = 0.0
        for k in range(nt):
            q += partials[2, k]
        stats[VAL_LOSS] = _objective(stats[VAL_LOSS], alpha, q, stats[VAL_WEIGHT])


@_device
def _block_sum(partials, t, nt):
    """``sum(partials[0])`` in thread order, for every thread of the block.

    Thread 0 adds the partials and leaves the total in ``partials[1, 0]``; the
    barriers let every thread read it, and reuse ``partials[0]`` afterwards.
    """
    cuda.syncthreads()
    if t == 0:
        s = 0.0
        for k in range(nt):
            s += partials[0, k]
        partials[1, 0] = s
    cuda.syncthreads()
    s = partials[1, 0]
    cuda.syncthreads()
    return s


@cuda.jit
def batch_residuals(A2, m, partials, val_sums):
    """Add each output's ``sum(A2[:m, c])`` to ``val_sums[RESIDUAL, c]``; one block.

    ``A2`` (batch x n_outputs) holds the weighted squared residuals that
    :func:`output_forward` left in SCORE mode (nan where a prediction was not
    finite); ``partials`` (N_PARTIALS x threads) and ``val_sums`` (N_VAL_SUMS x
    n_outputs) are the workspace's.
    """
    t = cuda.threadIdx.x
    nt = cuda.blockDim.x
    for c in range(A2.shape[1]):
        s = 0.0
        for r in range(t, m, nt):
            s += A2[r, c]
        partials[0, t] = s
        s = _block_sum(partials, t, nt)
        if t == 0:
            val_sums[RESIDUAL, c] += s


@_device
def _target_spread(Y, sample_weight, rows, c, weight, partials, val_sums):
    """Weighted mean and ``sum w (y - mean)^2`` of output ``c`` of ``Y[rows]``,
    two passes as the CPU twin takes them, into ``val_sums``."""
    t = cuda.threadIdx.x
    nt = cuda.blockDim.x
    s = 0.0
    for k in range(t, rows.shape[0], nt):
        i = rows[k]
        s += sample_weight[i] * Y[i, c]
    partials[0, t] = s
    mean = _block_sum(partials, t, nt) / weight
    s = 0.0
    for k in range(t, rows.shape[0], nt):
        i = rows[k]
        y = Y[i, c]
        s += sample_weight[i] * (y - mean) * (y - mean)
    partials[0, t] = s
    spread = _block_sum(partials, t, nt)
    if t == 0:
        val_sums[TARGET_MEAN, c] = mean
        val_sums[TARGET_SPREAD, c] = spread


@cuda.jit
def validation_r2(Y, sample_weight, rows, partials, val_sums, stats):
    """``stats[VAL_R2]``: the weighted R^2 of the validation ``rows``; one block.

    The twin of :func:`fastnn.cpu.training.r2`, from the residuals that
    :func:`batch_residuals` summed into ``val_sums``: per output
    ``1 - sum w (y - p)^2 / sum w (y - ybar)^2``, 1 for an output predicted
    exactly, 0 for constant targets with errors (``r2_score``'s
    ``force_finite``), the mean over the outputs; nan when a prediction was not
    finite. ``Y`` (n_samples, n_outputs) and ``sample_weight`` (n_samples,) are
    the data's, ``rows`` the validation samples' indices; ``val_sums``
    (N_VAL_SUMS x n_outputs) receives the targets' means and spreads.
    """
    t = cuda.threadIdx.x
    nt = cuda.blockDim.x
    s = 0.0
    for k in range(t, rows.shape[0], nt):
        s += sample_weight[rows[k]]
    partials[0, t] = s
    weight = _block_sum(partials, t, nt)
    n_out = val_sums.shape[1]
    for c in range(n_out):
        _target_spread(Y, sample_weight, rows, c, weight, partials, val_sums)
    if t == 0:
        score = 0.0
        for c in range(n_out):
            residual = val_sums[RESIDUAL, c]
            spread = val_sums[TARGET_SPREAD, c]
            score += _r2_of_output(residual, spread)
        stats[VAL_R2] = score / n_out


@cuda.jit
def hidden_delta(A1, D2, W2, m, activation, slope, D1):
    """``D1 = (D2 W2^T) * g'(A1)``, one thread per (row, hidden unit)."""
    h, o = W2.shape
    for t in range(cuda.grid(1), m * h, cuda.gridsize(1)):
        r = t // h
        j = t - r * h
        s = W2[j, 0] * D2[r, 0]
        for c in range(1, o):
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
        return _regularised_gradient(s, alpha, theta[offset + t], sw_sum)
    c = t - n_in * n_out
    for r in range(m):
        s += D[r, c]
    return _regularised_gradient(s, 0.0, 0.0, sw_sum)


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


def select(rows, keys, half, start, samples):
    """Launch :func:`batch_samples`: the sample indices of the batch at ``start``."""
    launch(batch_samples, samples.shape[0])(rows, keys, half, start, samples)


def hidden_layer(X, samples, net, layers, work, gather):
    """Launch the hidden layer for the rows of ``samples`` (gathering their inputs
    into ``work.inputs`` when ``gather``)."""
    W1, b1 = layers[0], layers[1]
    Xb = work.inputs if gather else work.inputs[:0]
    launch(hidden_forward, samples.shape[0] * net.layout.n_hidden)(
        X, samples, W1, b1, net.activation, net.slope, work.hidden, Xb
    )


def forward_backward(data, samples, net, layers, alpha, work):
    """Launch (2)-(5) of the batch of ``samples`` (a view of ``work.samples``).

    Leaves the activations and deltas in ``work`` and the batch's objective in
    ``work.stats``. ``layers`` is :func:`fastnn.ops.layout.unpack` of ``theta``.
    """
    m = samples.shape[0]
    W1, _, W2, b2 = layers
    hidden_layer(data.X, samples, net, layers, work, gather=True)
    launch(output_forward, m)(data.Y, data.sample_weight, samples, work.hidden, W2,
                              b2, net.output, net.eps, TRAIN, work.output,
                              work.row_a, work.row_b, work.row_c)
    reduce_launch(batch_loss, work)(work.row_a, work.row_b, m, W1, W2, alpha,
                                    work.partials, work.stats)
    launch(hidden_delta, m * net.layout.n_hidden)(
        work.hidden, work.output, W2, m, net.activation, net.slope,
        work.hidden_delta
    )


def loss_grad(data, rows, net, theta, alpha, work, grad, parallel=None):
    """Mean loss plus L2 penalty of the samples ``X[rows]``, and its gradient.

    The twin of :func:`fastnn.cpu.network.loss_grad` on device arrays: ``data``
    holds device arrays, ``rows`` (at most the workspace's batch size) is a
    device or host index array. The gradient is written into the device array
    ``grad``; the loss is read back and returned. ``parallel`` is ignored.
    """
    rows = use_device(rows)
    m = rows.shape[0]
    lay = net.layout
    samples = work.samples[:m]
    select(rows, no_rows(), 0, 0, samples)
    forward_backward(data, samples, net, unpack(lay, theta), alpha, work)
    launch(layer_grad, lay.w2)(work.inputs, work.hidden_delta, m, theta, 0, alpha,
                               work.stats, grad)
    launch(layer_grad, lay.size - lay.w2)(work.hidden, work.output, m, theta,
                                          lay.w2, alpha, work.stats, grad)
    return float(work.stats.copy_to_host()[BATCH_LOSS])


def predict_proba(X, net, theta, out, parallel=None):
    """Output-layer activations of every row of the device array ``X`` into ``out``.

    The twin of :func:`fastnn.cpu.network.predict_proba`: ``theta`` and ``out``
    (n_samples, n_outputs) are device arrays; ``parallel`` is ignored.
    """
    n = X.shape[0]
    rows, keys = no_rows(), no_rows()
    chunk = min(n, PREDICT_ROWS)
    work = workspace(net.layout, chunk, X.dtype)
    layers = unpack(net.layout, theta)
    W2, b2 = layers[2], layers[3]
    # Unused in PREDICT mode; typed as in training (targets in X's dtype, the
    # classifier's indicators too) so that no variant is compiled.
    Y = cuda.device_array((0, net.layout.n_outputs), dtype=X.dtype)
    sw = cuda.device_array(0, dtype=X.dtype)
    for start in range(0, n, chunk):
        samples = work.samples[: min(chunk, n - start)]
        select(rows, keys, 0, start, samples)
        hidden_layer(X, samples, net, layers, work, gather=False)
        launch(output_forward, samples.shape[0])(
            Y, sw, samples, work.hidden, W2, b2, net.output, net.eps, PREDICT,
            out[start:], work.row_a, work.row_b, work.row_c
        )


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
