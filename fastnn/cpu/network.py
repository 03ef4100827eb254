"""Forward pass, loss and backprop of the one-hidden-layer network (CPU).

Parameters live in one flat vector ``theta`` (:mod:`fastnn.ops.layout`), so
optimizers and L-BFGS see a single array.

A batch is cut into a fixed number of row blocks (:func:`block_layout`). Inside a
block, activations and deltas are stored *transposed* (units x rows, the
lecture's column layout), so every elementwise loop runs over contiguous rows and
vectorises even when the layers are tiny. Blocks run in parallel, each into its
own partial gradient, and the partials are added in block order: the result does
not depend on the number of threads.

Narrow layers go through hand loops, which read the block's inputs transposed
(features x rows); wide layers go through BLAS (:mod:`fastnn.cpu.blas`), which
reads them as gathered rows. :func:`use_blas` decides, by shape.

``X`` is a dense array or a :class:`~fastnn.ops.bundles.CSR` bundle of sparse
rows: the first layer's product and gradient (:func:`_dense_first_layer` and
:func:`_dense_first_layer_grad`, or their sparse twins over
:mod:`fastnn.cpu.sparse`) are chosen by its type in Python, where the block
kernel's loop kernels are looked up by address (:func:`kernel_calls`), so that a
dense fit compiles no sparse kernel and the other way round.

Every kernel takes the bundles of :mod:`fastnn.ops.bundles` and a
:class:`Workspace`; one entry point, :func:`block_pass`, runs a batch's blocks
for training (loss and gradient) or for prediction (output activations into a
non-empty ``out``), so that predicting after a fit reuses the code the fit
compiled. (The job is told by ``out``'s shape, not by an integer constant:
numba would type a constant argument as a literal and compile the whole call
tree once per job.)
"""

from typing import NamedTuple

import numpy as np
from numba import prange
from numba.core import types

from .._config import by_type, entry, inline, jit, jit_sum, pjit, scalar, specialise
from .._numba_cache import will_compile
from ..ops import activations as act_ops
from ..ops import layout as layout_ops
from ..ops import losses as loss_ops
from ..ops.bundles import CSR, Data, Network, row_indices
from ..ops.layout import Layout
from . import calls, fastmath, sparse
from .blas import gemm

#: Most rows per block of a batch worth parallelising (sgemm is efficient from
#: ~256 rows), and the fewest blocks such a batch is cut into, so that a
#: default-sized batch (200 rows) keeps two cores busy.
BLOCK_ROWS = 256
MIN_PARALLEL_BLOCKS = 2
#: Most rows per block of a batch too small to parallelise: fewer, longer loops.
SERIAL_BLOCK_ROWS = 512
#: Use BLAS once ``n_features * n_hidden`` reaches this: below it the hand loops
#: win, above it sgemm/dgemm do, in float32 and float64 alike (measured with
#: ``python benches/crossover.py`` on a 2-core AVX-512 machine: loops 10% faster
#: at 2 x 4, even at 2 x 16, BLAS 6-14% faster at 64 weights, 2-4x from 1024).
BLAS_MIN_WEIGHTS = 32
#: Below this many input features the BLAS path computes the first layer's
#: gradient untransposed (see :func:`backward_block`).
NARROW_INPUTS = 32
#: Per-row slots of the workspace's ``weights`` buffer: the sample weight, then
#: the softmax's running maximum and total (scratch).
ROW_SLOTS = 3
#: Multiply-adds per batch under which one thread beats waking the others.
PARALLEL_MIN_WORK = 1 << 18
#: Parameters from which the optimizer update runs on several threads.
PARALLEL_MIN_PARAMS = 1 << 14
#: Most blocks a batch of sparse rows is cut into: each block has a dense partial
#: gradient of W1 (n_features x n_hidden) to zero and to add up.
SPARSE_MAX_BLOCKS = 8

_exp = fastmath.exp
_logistic = scalar(specialise(act_ops.logistic, exp=fastmath.exp))
_tanh = scalar(specialise(act_ops.tanh, _tanh=fastmath.tanh))
_relu = scalar(act_ops.relu)
_leaky_relu = scalar(act_ops.leaky_relu)
_logistic_grad = scalar(act_ops.logistic_grad)
_tanh_grad = scalar(act_ops.tanh_grad)
_relu_grad = scalar(act_ops.relu_grad)
_leaky_relu_grad = scalar(act_ops.leaky_relu_grad)
_logistic_loss = scalar(specialise(loss_ops.logistic_loss, log=fastmath.log))
_softmax_loss_term = scalar(specialise(loss_ops.softmax_loss_term, log=fastmath.log))
_squared_error_term = scalar(loss_ops.squared_error_term)
_poisson_term = scalar(specialise(loss_ops.poisson_term, log=fastmath.log))
_loss_term = scalar(specialise(
    loss_ops.loss_term, softmax_loss_term=_softmax_loss_term,
    logistic_loss=_logistic_loss, poisson_term=_poisson_term,
    squared_error_term=_squared_error_term))
_exp_output = scalar(specialise(loss_ops.exp_output, exp=fastmath.exp))
_output_delta = scalar(loss_ops.output_delta)
_objective = scalar(loss_ops.objective)
_regularised_gradient = scalar(loss_ops.regularised_gradient)
unpack = jit(layout_ops.unpack)


class Workspace(NamedTuple):
    """Buffers of :func:`block_pass`, one row per block, allocated once per fit."""

    #: The block's inputs: gathered rows (BLAS) or their transpose (hand loops).
    #: Sparse inputs are read in place: this is then ``hidden_delta`` itself,
    #: the first layer's scratch while the deltas are not yet computed.
    inputs: np.ndarray
    #: The block's targets, transposed (n_outputs x rows).
    targets: np.ndarray
    #: The block's sample weights, then the softmax's scratch (ROW_SLOTS x rows).
    weights: np.ndarray
    #: Hidden activations A1, transposed (n_hidden x rows).
    hidden: np.ndarray
    #: Hidden deltas, transposed (n_hidden x rows); row 0 first holds the losses.
    hidden_delta: np.ndarray
    #: Output activations A2, then the output deltas (n_outputs x rows).
    output: np.ndarray
    #: The block's partial gradient (layout of ``theta``), then room for the first
    #: layer's gradient transposed (dense inputs only).
    grads: np.ndarray
    #: Each block's loss sum (row 0) and weight sum (row 1), float64.
    sums: np.ndarray


@jit
def capacity(work):
    """``(n_blocks, block_rows)`` of a workspace: it takes batches of their product."""
    return work.sums.shape[1], work.weights.shape[1] // ROW_SLOTS


def parallel_pays(n_rows, n_features, n_hidden):
    """Whether a batch carries enough work (hidden units x rows) for threads."""
    return n_rows * n_hidden * (n_features + 8) >= PARALLEL_MIN_WORK


_parallel_pays = jit(parallel_pays)


def block_layout(batch_size, n_features, n_hidden, nnz_per_row=None):
    """``(n_blocks, block_rows)`` for batches of ``batch_size`` rows.

    Depends on the shapes only, never on the thread count. ``nnz_per_row`` is
    None for dense inputs, else the mean number of nonzeros of the sparse rows:
    their work is ``nnz_per_row`` multiply-adds per hidden unit, but each block
    also zeroes and adds a dense partial gradient of W1, so a sparse batch is
    cut only into blocks of at least ``n_features`` nonzeros each, and into at
    most :data:`SPARSE_MAX_BLOCKS`.
    """
    width = n_features if nnz_per_row is None else nnz_per_row
    if parallel_pays(batch_size, width, n_hidden):
        n_blocks = max(MIN_PARALLEL_BLOCKS, -(-batch_size // BLOCK_ROWS))
    else:
        n_blocks = -(-batch_size // SERIAL_BLOCK_ROWS)
    if nnz_per_row is not None:
        n_blocks = min(n_blocks, SPARSE_MAX_BLOCKS,
                       int(batch_size * nnz_per_row // max(n_features, 1)))
    n_blocks = max(1, min(n_blocks, batch_size))
    return n_blocks, -(-batch_size // n_blocks)


def parallelism(layout, batch_size, n_threads, nnz_per_row=None):
    """The ``parallel`` argument of the kernels for batches of ``batch_size`` rows.

    None (serial, and the parallel block driver never compiled) unless there are
    threads to use and a batch's blocks carry enough work for them; else
    ``n_threads``. ``nnz_per_row`` as in :func:`block_layout`.
    """
    d, h = layout.n_features, layout.n_hidden
    n_blocks, _ = block_layout(batch_size, d, h, nnz_per_row)
    if n_threads > 1 and n_blocks > 1 and parallel_pays(batch_size, d, h):
        return int(n_threads)
    return None


def nnz_per_row(X):
    """The mean nonzeros per row of a :class:`CSR` bundle; None for dense ``X``."""
    if not isinstance(X, CSR):
        return None
    return X.data.shape[0] / max(X.shape[0], 1)


def update_parallelism(layout, n_threads):
    """The ``parallel_update`` argument of the epoch loop: None or ``n_threads``.

    Threads for the optimizer update from :data:`PARALLEL_MIN_PARAMS` parameters.
    """
    if n_threads > 1 and layout.size >= PARALLEL_MIN_PARAMS:
        return int(n_threads)
    return None


def use_blas(n_features, n_hidden):
    """Whether the layer shapes are wide enough for BLAS to beat hand loops."""
    return n_features * n_hidden >= BLAS_MIN_WEIGHTS


def workspace(layout, batch_size, dtype, nnz_per_row=None):
    """A :class:`Workspace` for batches of at most ``batch_size`` rows.

    ``nnz_per_row`` is None for dense inputs, else the mean nonzeros per row of
    the sparse inputs (:func:`nnz_per_row`): their blocks hold no copy of the
    inputs and no transposed gradient, so that nothing is sized
    ``n_features * rows``.
    """
    d, h, o = layout.n_features, layout.n_hidden, layout.n_outputs
    n_blocks, rows = block_layout(batch_size, d, h, nnz_per_row)
    hidden_delta = np.empty((n_blocks, h * rows), dtype=dtype)
    dense = nnz_per_row is None
    return Workspace(
        inputs=np.empty((n_blocks, d * rows), dtype=dtype) if dense else hidden_delta,
        targets=np.empty((n_blocks, o * rows), dtype=dtype),
        weights=np.empty((n_blocks, ROW_SLOTS * rows), dtype=dtype),
        hidden=np.empty((n_blocks, h * rows), dtype=dtype),
        hidden_delta=hidden_delta,
        output=np.empty((n_blocks, o * rows), dtype=dtype),
        grads=np.empty((n_blocks, layout.size + (d * h if dense else 0)),
                       dtype=dtype),
        sums=np.empty((2, n_blocks)),
    )


# The elementwise kernels index their 2-D arrays as ``A[j, r]`` rather than
# through row views (``a = A[j]``): each view costs an atomic reference-count
# increment and decrement (a tiled variant of these loops, measured and left
# out, made 168 such calls per tile loop).


# The loop kernels that depend on the activation or the output function come
# one per choice: ``code`` (``output``) is a closure constant, so Numba prunes the
# other choices' loops before typing, and its cache keys each variant by the
# constant's value. They are called by address (:func:`loop_kernel_calls` picks
# the fit's), so a variant costs its own small compilation and nothing else.


def _activation_kernels(code):
    """``(activate, hidden_delta)`` for the activation ``code`` (ops codes)."""
    LOGISTIC, TANH, RELU, LEAKY_RELU = (act_ops.LOGISTIC, act_ops.TANH, act_ops.RELU,
                                        act_ops.LEAKY_RELU)

    @jit
    def activate(ZT, b, net):
        """``ZT = g(ZT + b[:, None])`` in place (one activation's loops)."""
        fastmath.wide_vectors(ZT)
        h, m = ZT.shape
        slope = net.slope
        for j in range(h):
            bj = b[j]
            if code == LOGISTIC:
                for r in range(m):
                    ZT[j, r] = _logistic(ZT[j, r] + bj, slope)
            elif code == TANH:
                for r in range(m):
                    ZT[j, r] = _tanh(ZT[j, r] + bj, slope)
            elif code == RELU:
                for r in range(m):
                    ZT[j, r] = _relu(ZT[j, r] + bj, slope)
            elif code == LEAKY_RELU:
                for r in range(m):
                    ZT[j, r] = _leaky_relu(ZT[j, r] + bj, slope)
            else:
                for r in range(m):
                    ZT[j, r] += bj


    @jit
    def hidden_delta(W2, A2T, A1T, D1T, gb1, net):
        """The hidden deltas ``D1T = (W2 delta2) * g'(z)`` and their row sums ``gb1``.

        g'(z) is written from the output ``A1T = g(z)``; ``A2T`` holds the output
        deltas. With one output the product ``W2 delta2`` is taken here, in the
        same pass as g'(z) (it is rank one: P3's blocks spent 21 us on it as an
        sgemm and a second pass); with more, ``D1T`` must hold it already. The
        sums are :func:`total`'s, in its order: the lecture's study reproduces its
        accuracies to the sample, which a change of summation order can break
        (seen: 20 units, 90.5% against 90.0% after 5000 epochs).
        """
        fastmath.wide_vectors(D1T)
        h, m = D1T.shape
        slope = net.slope
        # g'(z) in the arrays' dtype: float32 fits multiply in float32, as MLP's
        # do (a float64 factor made P3's loop convert every element: 2x slower).
        cast = D1T.dtype.type
        for j in range(h):
            # Two loops per activation: reading D1T through another name than the
            # one written (a row picked at run time) made LLVM's overlap check
            # fail, and the loop run scalar (P2's 3 outputs: +15% per epoch).
            if W2.shape[1] == 1:
                w = W2[j, 0]
                if code == LOGISTIC:
                    for r in range(m):
                        D1T[j, r] = (w * A2T[0, r]
                                     * cast(_logistic_grad(A1T[j, r], slope)))
                elif code == TANH:
                    for r in range(m):
                        D1T[j, r] = (w * A2T[0, r]
                                     * cast(_tanh_grad(A1T[j, r], slope)))
                elif code == RELU:
                    for r in range(m):
                        D1T[j, r] = (w * A2T[0, r]
                                     * cast(_relu_grad(A1T[j, r], slope)))
                elif code == LEAKY_RELU:
                    for r in range(m):
                        D1T[j, r] = (w * A2T[0, r]
                                     * cast(_leaky_relu_grad(A1T[j, r], slope)))
                else:
                    for r in range(m):
                        D1T[j, r] = w * A2T[0, r]
            elif code == LOGISTIC:
                for r in range(m):
                    D1T[j, r] *= cast(_logistic_grad(A1T[j, r], slope))
            elif code == TANH:
                for r in range(m):
                    D1T[j, r] *= cast(_tanh_grad(A1T[j, r], slope))
            elif code == RELU:
                for r in range(m):
                    D1T[j, r] *= cast(_relu_grad(A1T[j, r], slope))
            elif code == LEAKY_RELU:
                for r in range(m):
                    D1T[j, r] *= cast(_leaky_relu_grad(A1T[j, r], slope))
            gb1[j] = total(D1T[j])

    return activate, hidden_delta


def _output_kernel(code):
    """``output_activate`` for the output function ``code`` (ops codes)."""
    LOGISTIC, SOFTMAX, EXP = loss_ops.LOGISTIC, loss_ops.SOFTMAX, loss_ops.EXP

    @jit
    def output_activate(ZT, b, output, scratch):
        """The output function (:mod:`fastnn.ops.losses`) of ``ZT + b``, in place.

        Logistic or exp per output, identity, or softmax per sample; ``ZT`` is
        (n_outputs, n_rows); ``scratch`` holds at least ``2 * n_rows`` values. Every
        loop runs over the rows (vectorised). Softmax subtracts each sample's
        maximum first, so any finite input gives probabilities in [0, 1] without
        overflow.
        """
        fastmath.wide_vectors(ZT)
        o, m = ZT.shape
        if code != SOFTMAX:
            for c in range(o):
                bc = b[c]
                if code == LOGISTIC:
                    for r in range(m):
                        ZT[c, r] = _logistic(ZT[c, r] + bc, 0.0)
                elif code == EXP:
                    for r in range(m):
                        ZT[c, r] = _exp_output(ZT[c, r] + bc)
                else:
                    for r in range(m):
                        ZT[c, r] += bc
            return
        zmax = scratch[:m]
        total = scratch[m : 2 * m]
        for c in range(o):
            bc = b[c]
            for r in range(m):
                ZT[c, r] += bc
        for r in range(m):
            zmax[r] = ZT[0, r]
            total[r] = 0.0
        for c in range(1, o):
            for r in range(m):
                zmax[r] = max(zmax[r], ZT[c, r])
        for c in range(o):
            for r in range(m):
                # The select keeps infinite logits finite: inf - inf would be nan.
                z = ZT[c, r]
                e = 1.0 if z == zmax[r] else _exp(z - zmax[r])
                ZT[c, r] = e
                total[r] += e
        for c in range(o):
            for r in range(m):
                ZT[c, r] /= total[r]

    return output_activate


_ACTIVATION_KERNELS = {code: _activation_kernels(code)
                       for code in sorted(set(act_ops.CODES.values()))}
_OUTPUT_KERNELS = {code: _output_kernel(code)
                   for code in sorted(set(loss_ops.OUTPUTS.values()))}


def activation_kernels(code):
    """``(activate, hidden_delta)`` compiled for the activation ``code`` only."""
    return _ACTIVATION_KERNELS[int(code)]


def output_kernel(output):
    """``output_activate`` compiled for the output function ``output`` only."""
    return _OUTPUT_KERNELS[int(output)]


@jit
def _matmul_t(W, XT, ZT):
    """``ZT = W^T XT`` by hand loops, vectorised over the block's rows."""
    fastmath.wide_vectors(ZT)
    h, m = ZT.shape
    for j in range(h):
        w = W[0, j]
        for r in range(m):
            ZT[j, r] = w * XT[0, r]
        for k in range(1, XT.shape[0]):
            w = W[k, j]
            for r in range(m):
                ZT[j, r] += w * XT[k, r]


@jit
def _consecutive(rows):
    """``rows[0]`` when ``rows`` is ``rows[0], rows[0] + 1, ...``, else -1.

    Unshuffled batches (``gd``, ``shuffle=False``) are such ranges: copying them
    with unit-stride loads vectorises, where a gather through ``rows`` does not.
    """
    start = rows[0]
    mismatch = 0
    for r in range(rows.shape[0]):
        mismatch |= rows[r] ^ (start + r)
    return start if mismatch == 0 else -1


@jit
def _dense_first_layer(X, rows, W1, blas, xbuf, ZT):
    """``ZT = W1^T X[rows]^T`` (no bias) of an array ``X``: its rows gathered,
    then multiplied.

    ``xbuf`` receives ``X[rows]`` for BLAS, which multiplies gathered rows at
    full speed, else its transpose (features x rows) for the hand loops, which
    vectorise over rows. (Gathering and product in one unit: one compilation.)
    """
    fastmath.wide_vectors(ZT)
    m, d = rows.shape[0], X.shape[1]
    if blas:
        XB = xbuf[: m * d].reshape((m, d))
        for r in range(m):
            i = rows[r]
            for k in range(d):
                XB[r, k] = X[i, k]
        gemm(W1, True, XB, True, ZT)
        return
    XT = xbuf[: d * m].reshape((d, m))
    start = _consecutive(rows)
    if start >= 0:
        # Indexing a view from 0 spares numba's negative-index wraparound.
        Xs = X[start : start + m]
        for k in range(d):
            for r in range(m):
                XT[k, r] = Xs[r, k]
    else:
        for k in range(d):
            for r in range(m):
                XT[k, r] = X[rows[r], k]
    _matmul_t(W1, XT, ZT)


@jit
def _sparse_first_layer(X, rows, W1, blas, xbuf, ZT):
    """:func:`_dense_first_layer`'s contract for a :class:`CSR` ``X``: ``xbuf``
    is scratch of at least ``m * n_hidden`` values; ``blas`` is not used."""
    sparse.first_layer(X, rows, W1, xbuf, ZT)


@jit
def _sparse_first_layer_grad(X, rows, xbuf, A1T, D1T, blas, scratch, gW1):
    """:func:`_dense_first_layer_grad`'s contract for a :class:`CSR` ``X``:
    over the nonzeros, with the memory of ``A1T`` (no longer needed) as scratch."""
    sparse.first_layer_grad(X, rows, D1T, A1T.reshape(A1T.size), gW1)


@inline
def forward_block(X, rows, net, theta, blas, xbuf, A1T, A2T, scratch, kernels):
    """Forward pass of the samples ``X[rows]``, transposed.

    Fills ``A1T = g(W1^T X[rows]^T + b1)`` (n_hidden x m) and
    ``A2T = out(W2^T A1T + b2)`` (n_outputs x m), ``m = len(rows)``. ``xbuf``
    as in :func:`_dense_first_layer`. ``scratch`` holds ``2 m`` values. The
    first layer, the activations and the output function are ``kernels``'.
    """
    W1, b1, W2, b2 = unpack(net.layout, theta)
    calls.call(kernels.first_layer, (X, rows, W1, blas, xbuf, A1T))
    calls.call(kernels.activate, (A1T, b1, net))
    if blas:
        gemm(W2, True, A1T, False, A2T)
    else:
        _matmul_t(W2, A1T, A2T)
    calls.call(kernels.output_activate, (A2T, b2, net.output, scratch))


@inline
def gather_targets(Y, sample_weight, rows, YT, sw):
    """``YT = Y[rows].T`` and ``sw = sample_weight[rows]``; returns ``sum(sw)``.

    Copied once per block so that the loss and delta loops read contiguous
    memory: LLVM does not vectorise loops that gather through ``rows``.
    """
    fastmath.wide_vectors(YT)
    m = rows.shape[0]
    start = _consecutive(rows)
    if start >= 0:
        Ys = Y[start : start + m]
        sws = sample_weight[start : start + m]
        for c in range(YT.shape[0]):
            for r in range(m):
                YT[c, r] = Ys[r, c]
        for r in range(m):
            sw[r] = sws[r]
        return total(sw[:m])
    if YT.shape[0] == 1:  # binary: one loop, no inner loop of one iteration
        for r in range(m):
            YT[0, r] = Y[rows[r], 0]
    else:
        for r in range(m):
            i = rows[r]
            for c in range(YT.shape[0]):
                YT[c, r] = Y[i, c]
    for r in range(m):
        sw[r] = sample_weight[rows[r]]
    return total(sw[:m])


def _loss_kernel(code):
    """``block_loss`` for the output function ``code`` (ops codes)."""
    SOFTMAX, LOGISTIC, EXP = loss_ops.SOFTMAX, loss_ops.LOGISTIC, loss_ops.EXP

    @jit
    def block_loss(YT, sw, A2T, net, out, sums, b):
        """Weighted loss of each sample (column) of ``A2T`` into ``out``; their
        sum into ``sums[0, b]``."""
        fastmath.wide_vectors(A2T)
        o, m = A2T.shape
        eps = net.eps
        for r in range(m):
            out[r] = 0.0
        for c in range(o):
            if code == SOFTMAX:
                for r in range(m):
                    out[r] += _softmax_loss_term(A2T[c, r], YT[c, r], eps)
            elif code == LOGISTIC:
                for r in range(m):
                    out[r] += _logistic_loss(A2T[c, r], YT[c, r], eps)
            elif code == EXP:
                for r in range(m):
                    out[r] += _poisson_term(A2T[c, r], YT[c, r])
            else:
                for r in range(m):
                    out[r] += _squared_error_term(A2T[c, r], YT[c, r], o)
        for r in range(m):
            out[r] *= sw[r]
        sums[0, b] = total(out[:m])

    return block_loss


_LOSS_KERNELS = {code: _loss_kernel(code)
                 for code in sorted(set(loss_ops.OUTPUTS.values()))}


def loss_kernel(output):
    """``block_loss`` compiled for the output function ``output`` only."""
    return _LOSS_KERNELS[int(output)]


@jit
def rows_loss(Y, sample_weight, rows, out, net):
    """``(sum(w l), sum(w))`` of the outputs ``out[rows]``: the weighted loss
    sums of :func:`block_loss`, for rows whose outputs a forward-only
    :func:`block_pass` left in ``out`` (the validation loss)."""
    o = out.shape[1]
    loss_sum = 0.0
    weight_sum = 0.0
    for r in range(rows.shape[0]):
        i = rows[r]
        loss = 0.0
        for c in range(o):
            loss += _loss_term(out[i, c], Y[i, c], net.output, net.eps, o)
        loss_sum += loss * sample_weight[i]
        weight_sum += sample_weight[i]
    return loss_sum, weight_sum


@jit
def copy(src, dst):
    """``dst[:] = src`` for 1-D arrays of one length (no shape check to compile)."""
    for k in range(src.shape[0]):
        dst[k] = src[k]


@jit_sum
def total(a):
    """Sum of a 1-D array, vectorised (reassociated)."""
    s = 0.0
    for k in range(a.shape[0]):
        s += a[k]
    return s


@jit_sum
def _outer_sum(AT, BT, G):
    """``G = AT BT^T`` by hand loops: sums over the block's rows of products."""
    for k in range(AT.shape[0]):
        for j in range(BT.shape[0]):
            s = 0.0
            for r in range(AT.shape[1]):
                s += AT[k, r] * BT[j, r]
            G[k, j] = s


@inline
def backward_block(YT, sw, net, theta, blas, X, rows, xbuf, A1T, A2T, D1T, grads,
                   kernels):
    """Write the block's unnormalised gradient sums into ``grads``.

    The output delta is ``A2 - Y`` because each output function is its loss's
    canonical link (:mod:`fastnn.ops.losses`); it is weighted by
    ``sample_weight`` and written over
    ``A2T``. ``D1T = (W2 delta2^T) * g'(Z1)`` is the hidden delta. ``X``,
    ``rows`` and ``xbuf`` are what :func:`forward_block` was given (``xbuf``
    then holds the inputs it multiplied); ``A1T`` is overwritten (sparse
    ``X``). ``YT`` and ``sw`` are the targets and weights as
    :func:`gather_targets` left them. ``grads`` has the layout of ``theta``,
    then (dense ``X``) room for the first layer's gradient transposed.
    """
    fastmath.wide_vectors(A2T)
    o, m = A2T.shape
    W2 = unpack(net.layout, theta)[2]
    gW1, gb1, gW2, gb2 = unpack(net.layout, grads)
    for c in range(o):
        for r in range(m):
            A2T[c, r] = _output_delta(A2T[c, r], YT[c, r], sw[r])
        gb2[c] = total(A2T[c])
    if blas:
        gemm(A1T, False, A2T, True, gW2)
        if o > 1:
            gemm(W2, False, A2T, False, D1T)
    else:
        _outer_sum(A1T, A2T, gW2)
        if o > 1:
            for j in range(D1T.shape[0]):
                for r in range(m):
                    D1T[j, r] = 0.0
                for c in range(o):
                    w = W2[j, c]
                    for r in range(m):
                        D1T[j, r] += w * A2T[c, r]
    calls.call(kernels.hidden_delta, (W2, A2T, A1T, D1T, gb1, net))
    calls.call(kernels.first_layer_grad, (X, rows, xbuf, A1T, D1T, blas,
                                          grads[net.layout.size :], gW1))


@jit
def _dense_first_layer_grad(X, rows, xbuf, A1T, D1T, blas, scratch, gW1):
    """``gW1 = X[rows]^T D1`` of an array ``X``, from the inputs in ``xbuf``.

    ``xbuf`` holds them as :func:`_dense_first_layer` gathered them; ``scratch``
    is room for the transpose; ``A1T`` is not used (the contract of
    :func:`_sparse_first_layer_grad`).
    """
    d, h = gW1.shape
    m = rows.shape[0]
    XB = xbuf[: m * d].reshape((m, d)) if blas else xbuf[: d * m].reshape((d, m))
    if not blas:
        _outer_sum(XB, D1T, gW1)
    elif d < NARROW_INPUTS:
        # OpenBLAS is slow on X^T D with few input features (measured: 5.5x at
        # d=2, 1.2x at d=20): multiply untransposed into scratch, copy transposed.
        gW1T = scratch[: h * d].reshape((h, d))
        gemm(D1T, False, XB, False, gW1T)
        for k in range(d):
            for j in range(h):
                gW1[k, j] = gW1T[j, k]
    else:
        gemm(XB, True, D1T, True, gW1)


@entry
def block_task(b, n_blocks, data, rows, net, theta, work, out, kernels):
    """Block ``b`` of ``rows``: its forward pass, then the rest of its job.

    With rows in ``out``, the block's output activations go to ``out[rows]``;
    else (training) its loss and weight sums go to ``work.sums[:, b]`` and its
    partial gradient to ``work.grads[b]``. The loop kernels (first layer,
    activations, output function, hidden deltas, first layer's gradient) are
    called at ``kernels``' addresses (:func:`kernel_calls`): the block kernel
    holds none of their code, and one block kernel serves dense and sparse
    inputs' kernels alike.
    """
    lay = net.layout
    h, o = lay.n_hidden, lay.n_outputs
    step = -(-rows.shape[0] // n_blocks)
    block = rows[b * step : min((b + 1) * step, rows.shape[0])]
    m = block.shape[0]
    blas = use_blas_jit(lay.n_features, h)
    A1T = work.hidden[b, : h * m].reshape((h, m))
    A2T = work.output[b, : o * m].reshape((o, m))
    forward_block(data.X, block, net, theta, blas, work.inputs[b], A1T, A2T,
                  work.weights[b, m:], kernels)
    if out.shape[0] > 0:
        for r in range(m):
            for c in range(o):
                out[block[r], c] = A2T[c, r]
        return
    YT = work.targets[b, : o * m].reshape((o, m))
    sw = work.weights[b, :m]
    work.sums[1, b] = gather_targets(data.Y, data.sample_weight, block, YT, sw)
    D1T = work.hidden_delta[b, : h * m].reshape((h, m))
    # D1T is free until backward_block: its first row holds the per-sample losses.
    calls.call(kernels.block_loss, (YT, sw, A2T, net, D1T[0], work.sums, b))
    backward_block(YT, sw, net, theta, blas, data.X, block, work.inputs[b], A1T, A2T,
                   D1T, work.grads[b], kernels)


use_blas_jit = jit(use_blas)


def block_args(data, rows, net, theta, work, out=None):
    """Arguments of :func:`block_task` of the types the drivers pass it.

    ``rows`` is any array of the row indices' dtype; ``out`` None stands for
    training's empty (0, 0) output (the same type as prediction's).
    """
    if out is None:
        out = np.empty((0, 0), dtype=theta.dtype)
    return (np.int64(0), np.int64(1), data, rows, net, theta, work, out, Kernels())


class Kernels(NamedTuple):
    """Addresses of the kernels the compiled code calls (:mod:`fastnn.cpu.calls`).

    Each is taken for the argument types of its call site (:func:`kernel_calls`)
    and is 0 where not used. Addresses rather than types (a None-or-int
    argument for threads, an overload per kind of input): the drivers (the
    epoch loop, the L-BFGS objective, the block kernel) have one type whatever
    the fit's shapes, thread count and kind of input, compile once per dtype,
    and hold none of the code of the kernels they call.
    """

    #: :func:`block_task` for the driver's arguments.
    block: int = 0
    #: :func:`blocks_in_parallel` for them, or 0: the blocks run in turn, and no
    #: parallel driver is compiled.
    blocks: int = 0
    #: The epoch loop's gradient and update, on one thread or on several
    #: (``fastnn.cpu.training.update_call``); 0 for the L-BFGS objective.
    update: int = 0
    #: The first layer's product (:func:`_dense_first_layer` or
    #: :func:`_sparse_first_layer`, by the kind of ``X``).
    first_layer: int = 0
    #: :func:`activate`.
    activate: int = 0
    #: :func:`output_activate`.
    output_activate: int = 0
    #: :func:`hidden_delta`.
    hidden_delta: int = 0
    #: The first layer's gradient (:func:`_dense_first_layer_grad` or
    #: :func:`_sparse_first_layer_grad`).
    first_layer_grad: int = 0
    #: The block's losses (:func:`loss_kernel`).
    block_loss: int = 0


def loop_kernel_calls(X, rows, net, dtype):
    """``{field of Kernels: (kernel, args)}`` of the loop kernels that
    :func:`block_task` calls for inputs ``X``, row indices of ``rows``' dtype and
    arrays of ``dtype`` (the arguments of the types of each call site: every
    array the block kernel passes is C-contiguous)."""
    vector, matrix, block = np.empty(1, dtype), np.empty((1, 1), dtype), rows[:1]
    activate, hidden_delta = activation_kernels(net.activation)
    blas = bool(use_blas(net.layout.n_features, net.layout.n_hidden))
    dense = not isinstance(X, CSR)
    return {
        "first_layer": (_dense_first_layer if dense else _sparse_first_layer,
                        (X, block, matrix, blas, vector, matrix)),
        "activate": (activate, (matrix, vector, net)),
        "output_activate": (output_kernel(net.output),
                            (matrix, vector, net.output, vector)),
        "hidden_delta": (hidden_delta, (matrix, matrix, matrix, matrix, vector, net)),
        "first_layer_grad": (
            _dense_first_layer_grad if dense else _sparse_first_layer_grad,
            (X, block, vector, matrix, matrix, blas, vector, matrix)),
        "block_loss": (loss_kernel(net.output),
                       (matrix, vector, matrix, net, vector, np.empty((2, 1)),
                        np.int64(0))),
    }


def kernel_calls(data, rows, net, theta, work, parallel):
    """``{field of Kernels: (kernel, args)}``: what the drivers of these
    arguments call by address, with arguments of the types of each call site.
    ``parallel`` as :func:`parallelism` returns it: the parallel block driver
    only when it is not None."""
    found = loop_kernel_calls(data.X, rows, net, theta.dtype)
    found["block"] = (block_task, block_args(data, rows, net, theta, work))
    if parallel is not None:
        found["blocks"] = (blocks_in_parallel, (
            np.int64(1), data, rows, net, theta, work,
            np.empty((0, 0), dtype=theta.dtype), Kernels()))
    return found


def kernels(found):
    """The :class:`Kernels` of :func:`kernel_calls`' ``found`` (each compiled or
    loaded first)."""
    return Kernels(**{name: calls.address(*call) for name, call in found.items()})


def driver_kernels(data, rows, net, theta, work, parallel=None):
    """:func:`kernels` of :func:`kernel_calls`: the ``kernels`` argument of
    :func:`loss_grad` (and of the epoch loop, serial update)."""
    return kernels(kernel_calls(data, rows, net, theta, work, parallel))


def input_parts(X):
    """``X`` as the arrays and scalars numba's parallel loops take; compiled only.

    A :class:`CSR` bundle's four fields, or ``(X, X, X, 0)`` for an array;
    :func:`input_from_parts` rebuilds ``X`` from them inside the loop.
    """
    raise NotImplementedError("compiled code only")


@by_type(input_parts)
def _input_parts(X):
    if isinstance(X, types.Array):
        return lambda X: (X, X, X, 0)
    return lambda X: (X.data, X.indices, X.indptr, X.n_features)


@jit
def input_from_parts(x0, x1, x2, x3):
    """The ``X`` of :func:`input_parts`."""
    # numba turns the ndim of an array argument into a constant before typing,
    # which prunes the branch of the other kind of input.
    if x0.ndim == 2:
        return x0
    return CSR(x0, x1, x2, x3)


@pjit
def blocks_in_parallel(n_blocks, data, rows, net, theta, work, out, kernels):
    """:func:`block_task` of every block, ``b = 0 ... n_blocks - 1``, on threads.

    ``kernels`` as :func:`block_task` takes it, with the address of
    :func:`block_task` for these arguments: the driver calls it, and holds none
    of its code.
    """
    # numba's parallel loops take arrays and scalars reliably, not tuples of them
    # (nested tuples fail to lower): the bundles are rebuilt inside the loop.
    X, Y, sample_weight = data
    x0, x1, x2, x3 = input_parts(X)
    d, h, o, b1, w2, b2, size = net.layout
    code, slope, output, eps = net.activation, net.slope, net.output, net.eps
    w_in, w_y, w_sw, w_a1, w_d1, w_a2, w_g, w_sums = work
    k0, k1, k2, k3, k4, k5, k6, k7, k8 = kernels
    for b in prange(n_blocks):
        calls.call(k0, (
            np.int64(b), np.int64(n_blocks),
            Data(input_from_parts(x0, x1, x2, x3), Y, sample_weight), rows,
            Network(Layout(d, h, o, b1, w2, b2, size), code, slope, output, eps),
            theta, Workspace(w_in, w_y, w_sw, w_a1, w_d1, w_a2, w_g, w_sums), out,
            Kernels(k0, k1, k2, k3, k4, k5, k6, k7, k8)))


@inline
def block_pass(data, rows, net, theta, work, out, kernels):
    """Forward and backward pass of every block of ``rows``; in parallel when it pays.

    ``out`` is (0, 0) in training; given rows (n_samples, n_outputs), only the
    forward pass runs and writes ``out[rows]``. ``kernels`` is the
    :class:`Kernels` of these arguments: the blocks run in turn when
    ``kernels.blocks`` is 0, else in parallel wherever a batch's work pays for
    threads, inside :func:`fastnn.cpu.threads.parallel_section` (which also
    starts numba's threads). Returns ``(n_blocks, loss_sum, weight_sum)`` of
    training, the sums taken in block order.
    """
    n = rows.shape[0]
    n_blocks = -(-n // capacity(work)[1])
    lay = net.layout
    if kernels.blocks != 0 and n_blocks > 1 and _parallel_pays(
            n, lay.n_features, lay.n_hidden):
        calls.call(kernels.blocks, (np.int64(n_blocks), data, rows, net, theta, work,
                                    out, kernels))
    else:
        for b in range(n_blocks):
            calls.call(kernels.block, (np.int64(b), np.int64(n_blocks), data, rows,
                                       net, theta, work, out, kernels))
    loss_sum = 0.0
    weight_sum = 0.0
    if out.shape[0] == 0:
        for b in range(n_blocks):
            loss_sum += work.sums[0, b]
            weight_sum += work.sums[1, b]
    return n_blocks, loss_sum, weight_sum


#: Most rows :func:`predict_proba` runs through one workspace at a time.
PREDICT_ROWS = 1 << 14
#: Work (rows x hidden units x (features + 8), as :func:`parallel_pays` counts
#: it) from which a prediction compiles the parallel block driver when neither
#: this process nor the cache has it: below it, running the blocks in turn
#: costs less than the driver's seconds of compilation (measured: 6.3 s for the
#: first predict of 2000 rows after a fit whose batches ran serially).
PREDICT_COMPILE_MIN_WORK = 1 << 36


def predict_proba(X, net, theta, out, parallel):
    """Output-layer activations of every row of ``X`` into ``out`` (n, n_outputs).

    Calls the block kernels of training, with its argument types (unused targets
    and weights included), from Python: predicting after a fit compiles nothing
    new. ``X`` is an array or a :class:`CSR` bundle; ``parallel`` as in
    :func:`parallelism`, used only where the parallel driver is compiled or
    cached already or the work reaches :data:`PREDICT_COMPILE_MIN_WORK` (rows
    need no sums across blocks: the result is the same either way).
    """
    n, d = X.shape
    h = net.layout.n_hidden
    nnz = nnz_per_row(X)
    chunk = min(n, PREDICT_ROWS)
    rows = row_indices(n)
    data = Data(X, np.empty((0, net.layout.n_outputs), dtype=X.dtype),
                np.empty(0, dtype=X.dtype))
    work = workspace(net.layout, chunk, X.dtype, nnz)
    block_rows = work.weights.shape[1] // ROW_SLOTS
    kernels = driver_kernels(data, rows, net, theta, work)
    if parallel is not None and n * h * (d + 8) < PREDICT_COMPILE_MIN_WORK:
        driver_args = (1, data, rows, net, theta, work, out, kernels)
        parallel = None if will_compile(blocks_in_parallel, driver_args) else parallel
    for start in range(0, n, chunk):
        chunk_rows = rows[start : start + chunk]
        n_blocks = -(-chunk_rows.shape[0] // block_rows)
        if (parallel is not None and n_blocks > 1
                and parallel_pays(chunk_rows.shape[0], d, h)):
            blocks_in_parallel(n_blocks, data, chunk_rows, net, theta, work, out,
                               kernels)
        else:
            for b in range(n_blocks):
                block_task(b, n_blocks, data, chunk_rows, net, theta, work, out,
                           kernels)


@jit
def squared_weights(layout, theta):
    """``||W||^2`` over the weights (not the intercepts), for the L2 penalty.

    Computed even when ``alpha`` is 0, as MLPClassifier does: weights whose squares
    overflow then give a nan loss, which stops a diverging fit early.
    """
    return _squares(theta[: layout.b1]) + _squares(theta[layout.w2 : layout.b2])


@jit
def objective(layout, theta, alpha, loss_sum, weight_sum):
    """The batch objective (:func:`fastnn.ops.losses.objective`) at ``theta``."""
    return _objective(loss_sum, alpha, squared_weights(layout, theta), weight_sum)


@jit_sum
def _squares(a):
    s = 0.0
    for k in range(a.shape[0]):
        s += a[k] * a[k]
    return s


@jit
def finish_gradient(grads, n_blocks, layout, theta, lo, hi, alpha, scale):
    """Finish the gradient of parameters ``lo:hi`` in ``grads[0]``; return it.

    Adds the blocks' partial sums in block order, then the L2 term of the weights,
    and divides by ``scale`` (the batch's weight sum), as MLPClassifier does.
    Loops run over views from index 0: numba then knows the indices are not
    negative and drops its wraparound selects, which kept them from vectorising
    (measured 2.4x slower with ``range(lo, hi)``).
    """
    fastmath.wide_vectors(grads)
    g = grads[0, lo:hi]
    for b in range(1, n_blocks):
        pb = grads[b, lo:hi]
        for q in range(g.shape[0]):
            g[q] += pb[q]
    th = theta[lo:hi]
    # One loop per layer segment (no per-parameter test), so that each vectorises.
    for start, stop, a in ((0, layout.b1, alpha), (layout.b1, layout.w2, 0.0),
                           (layout.w2, layout.b2, alpha), (layout.b2, hi, 0.0)):
        first = max(start, lo) - lo
        last = min(stop, hi) - lo
        if first < last:
            _scale(g[first:last], th[first:last], a, scale)
    return g


@jit
def _scale(g, theta, alpha, scale):
    """``g = (g + alpha theta) / scale``, in ``g``'s dtype (as MLP's float32)."""
    fastmath.wide_vectors(g)
    alpha, scale = g.dtype.type(alpha), g.dtype.type(scale)
    for q in range(g.shape[0]):
        g[q] = _regularised_gradient(g[q], alpha, theta[q], scale)


@entry
def loss_grad(data, rows, net, theta, alpha, work, grad, kernels):
    """Mean log-loss plus L2 penalty of the samples ``X[rows]``, and its gradient.

    Exactly MLPClassifier's objective for one batch: with ``s = sum(sw[rows])``,
    ``loss = sum(sw * l) / s + alpha ||W||^2 / (2 s)``; the gradient is written
    into ``grad`` (same layout as ``theta``). Returns ``loss``. ``kernels`` is
    :func:`driver_kernels` of ``(data, rows, net, theta, work, parallel)``.
    """
    no_out = np.empty((0, 0), dtype=theta.dtype)
    n_blocks, loss_sum, weight_sum = block_pass(data, rows, net, theta, work,
                                                no_out, kernels)
    copy(finish_gradient(work.grads, n_blocks, net.layout, theta, 0,
                         theta.shape[0], alpha, weight_sum), grad)
    return objective(net.layout, theta, alpha, loss_sum, weight_sum)
