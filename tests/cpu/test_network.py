"""CPU network kernels, one by one, against the NumPy oracle in ``tests/naive.py``."""

import functools
import json
import os
import subprocess
import sys
import textwrap

import numba
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from fastnn.cpu import network, threads
from fastnn.ops import layout as layout_ops
from fastnn.ops.bundles import Data
from fastnn.ops.layout import Layout
from tests import naive
from tests.common import compiled, make_network


# Internal kernels, called from compiled code (see tests.common.compiled).
@functools.cache
def _compiled(kernel):
    return compiled(kernel)


def activate(ZT, b, net):
    """The activation's own ``activate`` (one kernel per activation)."""
    _compiled(network.activation_kernels(net.activation)[0])(ZT, b, net)


def hidden_delta(W2, A2T, A1T, D1T, gb1, net):
    _compiled(network.activation_kernels(net.activation)[1])(W2, A2T, A1T, D1T, gb1,
                                                             net)


def output_activate(ZT, b, output, scratch):
    _compiled(network.output_kernel(output))(ZT, b, output, scratch)


forward_block = compiled(network.forward_block)
gather_targets = compiled(network.gather_targets)


def block_loss(YT, sw, A2T, net, out):
    """The output function's own ``block_loss``: the sum it writes."""
    sums = np.full((2, 1), np.nan)
    _compiled(network.loss_kernel(net.output))(YT, sw, A2T, net, out, sums, 0)
    return sums[0, 0]


backward_block = compiled(network.backward_block)
unpack_jit = compiled(network.unpack)

ACTIVATIONS = naive.ACTIVATIONS
KINDS = ("binary", "multiclass", "multilabel")
DTYPES = (np.float64, np.float32)
SLOPE = 0.05
# Layer shapes (n_features, n_hidden). The matrix products of ``loss_grad`` and
# ``predict_proba`` follow from the shape (``network.use_blas``): narrow layers go
# through hand loops, NARROW_BLAS through BLAS with the untransposed first-layer
# gradient of few input features, WIDE through BLAS all the way. LOOPS_PARALLEL
# and WIDE carry enough work per batch of a few thousand (resp. hundred) rows for
# the parallel block loop (checked below).
NARROW = (3, 5)
NARROW_BLAS = (3, 16)
LOOPS_PARALLEL = (3, 10)
WIDE = (32, 64)

# Kernel against oracle. float64: only summation order and the kernels' own exp /
# tanh / log (a few ulp) differ, so 1e-10 relative is a wide margin. float32: the
# kernels accumulate in float32 (eps 6e-8) over up to a few hundred terms while the
# oracle runs in float64 on the same values, so we allow 1e-5 relative with a 1e-6
# floor for entries that are sums of cancelling terms.
TOL = {
    np.float64: {"rtol": 1e-10, "atol": 1e-13},
    np.float32: {"rtol": 1e-5, "atol": 1e-6},
}
# Layer shapes x matrix-product paths for the block kernels (few input features
# take another BLAS product for the first layer's gradient).
SHAPE_PATHS = pytest.mark.parametrize(
    ("shape", "blas"),
    [(NARROW, False), (NARROW, True), (WIDE, False), (WIDE, True)],
    ids=["narrow-loops", "narrow-blas", "wide-loops", "wide-blas"],
)


def _n_outputs(kind):
    return 1 if kind == "binary" else 3


def _problem(kind, n_samples, dtype, seed=0, weighted=False, shape=NARROW):
    return naive.random_problem(kind, n_samples, shape, seed, weighted, dtype)


def _as64(*arrays):
    return [a.astype(np.float64) for a in arrays]


def _net(shape, n_outputs, act, softmax, dtype):
    """The kernels' Network bundle, as the estimator builds it."""
    return make_network(shape[0], shape[1], n_outputs, act, SLOPE, softmax, dtype)


def _workspace(layout, batch_size, dtype):
    """``network.workspace``, filled with NaN so that stale reads show."""
    work = network.workspace(layout, batch_size, dtype)
    for a in work:
        a.fill(np.nan)
    return work


def _kernel_loss_grad(X, Y, sw, rows, theta, n_hidden, act, softmax, alpha,
                      batch_size=None, parallel=None, n_threads=None):
    """``network.loss_grad`` called as the estimator calls it (L-BFGS).

    Inside ``threads.parallel_section``: one BLAS thread, numba's threads started
    (parallel kernels loaded from the cache rely on it), then ``n_threads`` of
    them if given.
    """
    net = _net((X.shape[1], n_hidden), Y.shape[1], act, softmax, X.dtype)
    grad = np.full_like(theta, np.nan)
    work = _workspace(net.layout, batch_size or rows.shape[0], X.dtype)
    with threads.parallel_section(network.use_blas(X.shape[1], n_hidden)):
        if n_threads is not None:
            numba.set_num_threads(n_threads)  # the section restores the count
        data = Data(X, Y, sw)
        loss = network.loss_grad(data, rows, net, theta, float(alpha), work, grad,
                                 network.driver_kernels(data, rows, net, theta,
                                                        work, parallel))
    return loss, grad


def _naive_loss_grad(X, Y, sw, rows, theta, n_hidden, act, softmax, alpha):
    """The oracle in float64 on the kernel's (possibly float32) values."""
    eps = np.finfo(X.dtype).eps
    X, sw, theta = _as64(X, sw, theta)
    return naive.loss_and_grad(X[rows], Y[rows], sw[rows], theta, n_hidden, act,
                               SLOPE, softmax, alpha, eps=eps)


def _rows(case, n, seed=1):
    rng = np.random.default_rng(seed)
    if case == "all":
        return np.arange(n)
    if case == "permutation":
        return rng.permutation(n)
    # A batch of a shuffled epoch: a strict subset, in shuffled order.
    return rng.permutation(n)[: (2 * n) // 3].copy()


@pytest.mark.parametrize("unpack", [layout_ops.unpack, unpack_jit],
                         ids=["python", "jit"])
def test_unpack_views_row_major_layout(unpack):
    d, h, o = 3, 4, 2
    theta = np.arange(Layout.of(d, h, o).size, dtype=np.float64)
    views = unpack(Layout.of(d, h, o), theta)
    for view, expected in zip(views, naive.unpack(theta, d, h, o), strict=True):
        assert_array_equal(view, expected)
        assert np.shares_memory(view, theta)


@pytest.mark.parametrize("unpack", [layout_ops.unpack, unpack_jit],
                         ids=["python", "jit"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("d", "h", "o"), [(3, 4, 2), (1, 1, 1), (7, 1, 3),
                                           (1, 6, 1), (32, 64, 3)])
def test_layout_round_trip(d, h, o, dtype, unpack):
    """``Layout.of`` and ``unpack`` against a hand-built ``[W1, b1, W2, b2]``."""
    rng = np.random.default_rng(d * 100 + h * 10 + o)
    W1, b1, W2, b2 = (rng.normal(size=s).astype(dtype)
                      for s in ((d, h), (h,), (h, o), (o,)))
    theta = np.concatenate([W1.ravel(), b1, W2.ravel(), b2])
    layout = Layout.of(d, h, o)
    assert layout == (d, h, o, d * h, d * h + h, d * h + h + h * o,
                      d * h + h + h * o + o)
    assert layout.size == theta.shape[0]
    assert (layout.n_features, layout.n_hidden, layout.n_outputs) == (d, h, o)
    views = unpack(layout, theta)
    for view, part in zip(views, (W1, b1, W2, b2), strict=True):
        assert view.shape == part.shape
        assert view.dtype == dtype
        assert_array_equal(view, part)
        assert np.shares_memory(view, theta)
    # The views partition theta: writing through them rebuilds the concatenation.
    rebuilt = np.full_like(theta, np.nan)
    for view, part in zip(unpack(layout, rebuilt), (W1, b1, W2, b2), strict=True):
        view[...] = part
    assert_array_equal(rebuilt, theta)
    assert_array_equal(naive.pack(*views), theta)


@pytest.mark.parametrize("shape", [NARROW, WIDE], ids=["narrow", "wide"])
@pytest.mark.parametrize("batch_size", [1, 7, 128, 129, 256, 257, 600, 1000])
def test_block_layout_covers_the_batch(batch_size, shape):
    n_blocks, rows = network.block_layout(batch_size, *shape)
    parallel = network.parallel_pays(batch_size, *shape)
    assert rows <= (network.BLOCK_ROWS if parallel else network.SERIAL_BLOCK_ROWS)
    assert (n_blocks - 1) * rows < batch_size <= n_blocks * rows


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ACTIVATIONS)
def test_activate(act, dtype):
    rng = np.random.default_rng(0)
    Z = rng.normal(scale=3.0, size=(7, 5)).astype(dtype)
    Z[0, :5] = [0.0, -40.0, 40.0, -800.0, 800.0]
    b = rng.normal(size=7).astype(dtype)
    b[0] = 0.0
    out = Z.copy()
    activate(out, b, _net(NARROW, 1, act, False, dtype))
    assert out.dtype == dtype
    expected = naive.activation(act, Z.astype(np.float64) + b[:, None], SLOPE)
    assert_allclose(out, expected, **TOL[dtype])


@pytest.mark.parametrize("n_outputs", [1, 3])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ACTIVATIONS)
def test_hidden_delta(act, dtype, n_outputs):
    rng = np.random.default_rng(1)
    Z = rng.normal(scale=2.0, size=(7, 5))
    Z[0, :2] = [0.0, -1e-3]
    W2 = rng.normal(size=(7, n_outputs)).astype(dtype)
    delta2 = rng.normal(size=(n_outputs, 5)).astype(dtype)
    A = naive.activation(act, Z, SLOPE).astype(dtype)
    # With several outputs the kernel reads W2 delta2 from D1T; with one it
    # takes the product itself (and D1T's old contents must not matter).
    D = (W2 @ delta2) if n_outputs > 1 else np.full(Z.shape, np.nan, dtype=dtype)
    gb1 = np.full(7, np.nan, dtype=dtype)
    hidden_delta(W2, delta2, A, D, gb1, _net(NARROW, 1, act, False, dtype))
    expected = ((W2.astype(np.float64) @ delta2)
                * naive.activation_derivative(act, Z, SLOPE))
    assert D.dtype == dtype and gb1.dtype == dtype
    assert_allclose(D, expected, **TOL[dtype])
    assert_allclose(gb1, expected.sum(axis=1), **TOL[dtype])


def _output_activate(Z, softmax, b=None):
    """The kernel on samples-as-rows ``Z``: it works on the transpose."""
    ZT = np.ascontiguousarray(Z.T)
    b = np.zeros(Z.shape[1], dtype=Z.dtype) if b is None else b
    scratch = np.full(2 * Z.shape[0] + 1, np.nan, dtype=Z.dtype)
    output_activate(ZT, b, softmax, scratch)
    return ZT.T


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("softmax", [False, True], ids=["logistic", "softmax"])
def test_output_activate(softmax, dtype):
    rng = np.random.default_rng(2)
    Z = rng.normal(scale=4.0, size=(9, 4)).astype(dtype)
    b = rng.normal(size=4).astype(dtype)
    out = _output_activate(Z, softmax, b)
    Z = Z.astype(np.float64) + b
    expected = naive.softmax(Z) if softmax else naive.sigmoid(Z)
    assert_allclose(out, expected, **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("softmax", [False, True], ids=["logistic", "softmax"])
def test_output_activate_extreme_inputs(softmax, dtype):
    big = 1e30
    Z = np.array(
        [
            [big, -big, 0.0],
            [-big, -big, -big],
            [big, big, big],
            [-big, 0.0, 1.0],
            [big, big, -big],
            [-1e3, 1e3, 0.0],
        ],
        dtype=dtype,
    )
    with np.errstate(all="raise"):
        out = _output_activate(Z, softmax)
    assert not np.isnan(out).any()
    assert ((out >= 0) & (out <= 1)).all()
    if softmax:
        assert_allclose(out.sum(axis=1), 1.0, rtol=1e-6)
        assert_allclose(out[:3], [[1, 0, 0], [1 / 3] * 3, [1 / 3] * 3], rtol=1e-6)
        assert_allclose(out[4], [0.5, 0.5, 0.0], rtol=1e-6)
    else:
        assert_array_equal(out[0], [1.0, 0.0, 0.5])
        assert_array_equal(out[1], [0.0, 0.0, 0.0])
        assert_array_equal(out[2], [1.0, 1.0, 1.0])
    expected = naive.softmax if softmax else naive.sigmoid
    assert_allclose(out, expected(Z.astype(np.float64)), rtol=1e-6, atol=1e-30)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("softmax", [False, True], ids=["logistic", "softmax"])
def test_output_activate_infinite_inputs(softmax, dtype):
    """Finite weights can still overflow the logits to inf: no nan from inf - inf."""
    inf = np.inf
    Z = np.array([[inf, 0.0, -inf], [inf, inf, 1.0], [-inf, -inf, -inf]], dtype=dtype)
    out = _output_activate(Z, softmax)
    if softmax:
        assert_array_equal(out[:2], [[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]])
        assert_allclose(out[2], [1 / 3] * 3, rtol=1e-6)
    else:
        assert_allclose(out, [[1.0, 0.5, 0.0], [1.0, 1.0, naive.sigmoid(1.0)],
                              [0.0, 0.0, 0.0]], rtol=1e-6, atol=0)


def _loop_kernels(X, rows, net):
    """The block kernel's loop kernels, by address, for these arguments."""
    return network.kernels(network.loop_kernel_calls(X, rows, net, X.dtype))


@SHAPE_PATHS
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ACTIVATIONS)
@pytest.mark.parametrize("kind", KINDS)
def test_forward_block(kind, act, dtype, shape, blas):
    X, _, _, theta = _problem(kind, 60, dtype, shape=shape)
    (d, h), o = shape, _n_outputs(kind)
    softmax = kind == "multiclass"
    rows = _rows("subset", 60)
    m = rows.shape[0]
    A1T, A2T = (np.full((k, m), np.nan, dtype=dtype) for k in (h, o))
    xbuf = np.full(d * m + 3, np.nan, dtype=dtype)
    scratch = np.full(2 * m, np.nan, dtype=dtype)
    net = _net(shape, o, act, softmax, dtype)
    forward_block(X, rows, net, theta, blas, xbuf, A1T, A2T, scratch,
                  _loop_kernels(X, rows, net))
    X64, theta64 = _as64(X, theta)
    _, A1, _, A2 = naive.forward(X64[rows], theta64, h, o, act, SLOPE, softmax)
    # The inputs as the backward pass reads them: rows for BLAS, columns otherwise.
    inputs = X[rows] if blas else X[rows].T
    assert_array_equal(xbuf[: d * m], inputs.ravel())
    assert_allclose(A1T, A1.T, **TOL[dtype])
    assert_allclose(A2T, A2.T, **TOL[dtype])


def _gather_targets(Y, sw, rows):
    YT = np.full((Y.shape[1], rows.shape[0]), np.nan, dtype=sw.dtype)
    sw_rows = np.full(rows.shape[0], np.nan, dtype=sw.dtype)
    total = gather_targets(Y, sw, rows, YT, sw_rows)
    assert_array_equal(YT, Y[rows].T)
    assert_array_equal(sw_rows, sw[rows])
    assert total == pytest.approx(sw[rows].astype(np.float64).sum(), rel=1e-6)
    return YT, sw_rows


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", KINDS)
def test_block_loss(kind, dtype, weighted):
    X, Y, sw, theta = _problem(kind, 50, dtype, weighted=weighted)
    o = _n_outputs(kind)
    softmax = kind == "multiclass"
    rows = _rows("subset", 50)
    X64, theta64 = _as64(X, theta)
    A2 = naive.forward(X64[rows], theta64, NARROW[1], o, "tanh", SLOPE, softmax)[3]
    # Saturated rows, confidently wrong and confidently right: the clipping at eps
    # decides their loss.
    A2[0] = 1 - Y[rows[0]]
    A2[1] = Y[rows[1]]
    A2T = np.ascontiguousarray(A2.T, dtype=dtype)
    eps = np.finfo(dtype).eps
    out = np.full(rows.shape[0], np.nan, dtype=dtype)
    YT, sw_rows = _gather_targets(Y, sw, rows)
    net = _net(NARROW, o, "tanh", softmax, dtype)
    assert net.eps == eps
    loss = block_loss(YT, sw_rows, A2T, net, out)
    per_sample = naive.sample_losses(Y[rows], A2T.T, softmax, eps)
    assert per_sample[0] >= -np.log(eps) * 0.99
    expected = sw[rows].astype(np.float64) * per_sample
    assert_allclose(out, expected, **TOL[dtype])
    assert_allclose(loss, expected.sum(), **TOL[dtype])


@pytest.mark.parametrize("softmax", [False, True], ids=["logistic", "softmax"])
def test_block_loss_nan_probability_gives_nan(softmax):
    """Clipping must not hide a nan: the divergence guard relies on it."""
    Y = np.array([[1, 0, 0], [0, 1, 0]], dtype=np.uint8)
    A2T = np.array([[0.2, np.nan], [0.3, np.nan], [0.5, np.nan]])
    out = np.empty(2)
    net = _net(NARROW, 3, "tanh", softmax, np.float64)
    loss = block_loss(Y.T.astype(np.float64), np.ones(2), A2T, net, out)
    assert np.isnan(loss)
    assert np.isfinite(out[0]) and np.isnan(out[1])


@SHAPE_PATHS
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ACTIVATIONS)
@pytest.mark.parametrize("kind", KINDS)
def test_backward_block(kind, act, dtype, shape, blas):
    X, Y, sw, theta = _problem(kind, 40, dtype, weighted=True, shape=shape)
    (d, h), o = shape, _n_outputs(kind)
    softmax = kind == "multiclass"
    rows = _rows("subset", 40)
    m = rows.shape[0]
    A1T, D1T, A2T = (np.full((k, m), np.nan, dtype=dtype) for k in (h, h, o))
    xbuf = np.full(d * m, np.nan, dtype=dtype)
    net = _net(shape, o, act, softmax, dtype)
    kernels = _loop_kernels(X, rows, net)
    forward_block(X, rows, net, theta, blas, xbuf, A1T, A2T,
                  np.empty(2 * m, dtype=dtype), kernels)
    YT, sw_rows = _gather_targets(Y, sw, rows)
    # The layout of theta, then room for the first layer's gradient transposed.
    grads = np.full(net.layout.size + d * h, np.nan, dtype=dtype)
    backward_block(YT, sw_rows, net, theta, blas, X, rows, xbuf, A1T, A2T, D1T,
                   grads, kernels)
    grad = grads[: net.layout.size]
    # The block's sums, before the division by sum(sw) and without the penalty.
    _, ref = _naive_loss_grad(X, Y, sw, rows, theta, h, act, softmax, 0.0)
    ref *= sw[rows].astype(np.float64).sum()
    assert_allclose(grad, ref, **TOL[dtype])


LOSS_GRAD_CASES = [
    # (shape, n_samples, rows case, weighted, alpha, workspace batch size, blas,
    #  parallel)
    (NARROW, 7, "all", False, 0.0, None, False, None),
    (NARROW, 300, "all", False, 0.5, None, False, None),  # one block
    (NARROW, 1200, "permutation", True, 0.0, None, False, None),  # 3 blocks of 400
    # 800 shuffled rows of 1200 in a workspace cut for 1200: blocks of 400.
    (NARROW_BLAS, 1200, "subset", True, 0.5, 1200, True, None),
    (NARROW, 2 * network.SERIAL_BLOCK_ROWS, "all", True, 1e-4, None, False, None),
    # Enough work per batch for the parallel path (checked below).
    (LOOPS_PARALLEL, 2500, "permutation", True, 0.1, None, False, 2),
    (WIDE, 600, "permutation", True, 0.1, None, True, None),
    (WIDE, 600, "permutation", True, 0.1, None, True, 2),
]
#: The cases whose batches take the parallel block loop.
PARALLEL_CASES = sorted({(shape, n) for shape, n, *_, parallel in LOSS_GRAD_CASES
                         if parallel is not None})


@pytest.mark.parametrize(
    ("shape", "n", "rows_case", "weighted", "alpha", "batch", "blas", "parallel"),
    LOSS_GRAD_CASES,
)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ACTIVATIONS)
@pytest.mark.parametrize("kind", KINDS)
def test_loss_grad(kind, act, dtype, shape, n, rows_case, weighted, alpha, batch,
                   blas, parallel):
    assert network.use_blas(*shape) == blas
    X, Y, sw, theta = _problem(kind, n, dtype, weighted=weighted, shape=shape)
    softmax = kind == "multiclass"
    rows = _rows(rows_case, n)
    theta_before = theta.copy()
    loss, grad = _kernel_loss_grad(X, Y, sw, rows, theta, shape[1], act, softmax,
                                   alpha, batch_size=batch, parallel=parallel)
    loss_ref, grad_ref = _naive_loss_grad(X, Y, sw, rows, theta, shape[1], act,
                                          softmax, alpha)
    assert_array_equal(theta, theta_before)
    assert_allclose(loss, loss_ref, **TOL[dtype])
    assert_allclose(grad, grad_ref, **TOL[dtype])


@pytest.mark.parametrize(("shape", "n"), PARALLEL_CASES)
def test_parallel_cases_take_the_parallel_path(shape, n):
    (d, h) = shape
    assert network.block_layout(n, d, h)[0] > 1
    assert network.parallel_pays(n, d, h)
    assert network.parallelism(Layout.of(d, h, 3), n, 2) == 2


def test_parallelism_is_none_for_one_thread_or_little_work():
    layout = Layout.of(*NARROW, 3)
    assert network.parallelism(layout, 300, 2) is None  # one block, little work
    assert network.parallelism(Layout.of(*WIDE, 3), 600, 1) is None  # one thread
    assert network.parallelism(Layout.of(*WIDE, 3), 600, 4) == 4
    # Many parameters: the parallel update pays even for a one-block batch, whose
    # blocks run serially.
    big = Layout.of(128, 128, 3)
    assert big.size >= network.PARALLEL_MIN_PARAMS
    assert network.parallelism(big, 1, 2) is None
    assert network.update_parallelism(big, 2) == 2
    assert network.update_parallelism(big, 1) is None
    assert network.update_parallelism(Layout.of(*WIDE, 3), 2) is None


@pytest.mark.parametrize("shape", [NARROW, NARROW_BLAS, LOOPS_PARALLEL, WIDE],
                         ids=["narrow-loops", "narrow-blas", "loops", "wide-blas"])
def test_loss_grad_does_not_depend_on_thread_count(shape):
    X, Y, sw, theta = _problem("multiclass", 5000, np.float64, weighted=True,
                               shape=shape)
    rows = _rows("permutation", 5000)
    results = [_kernel_loss_grad(X, Y, sw, rows, theta, shape[1], "relu", True, 1e-3)]
    for n_threads in sorted({1, numba.config.NUMBA_NUM_THREADS}):
        results.append(_kernel_loss_grad(X, Y, sw, rows, theta, shape[1], "relu",
                                         True, 1e-3, parallel=n_threads,
                                         n_threads=n_threads))
    for loss, grad in results[1:]:
        assert loss == results[0][0]
        assert_array_equal(grad, results[0][1])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", KINDS)
def test_loss_grad_saturated_outputs(kind, dtype):
    """Huge weights saturate every output: the loss is clipped, never inf or NaN."""
    X, Y, sw, theta = _problem(kind, 150, dtype)
    theta *= dtype(1e4)
    softmax = kind == "multiclass"
    rows = np.arange(150)
    h = NARROW[1]
    loss, grad = _kernel_loss_grad(X, Y, sw, rows, theta, h, "relu", softmax, 0.0)
    loss_ref, grad_ref = _naive_loss_grad(X, Y, sw, rows, theta, h, "relu", softmax,
                                          0.0)
    assert np.isfinite(loss) and np.isfinite(grad).all()
    # Some sample is confidently wrong: its clipped loss is -log(eps) per output.
    assert loss > 0.5 * -np.log(np.finfo(dtype).eps) / 150
    assert_allclose(loss, loss_ref, rtol=TOL[dtype]["rtol"])
    assert_allclose(grad, grad_ref, rtol=TOL[dtype]["rtol"],
                    atol=TOL[dtype]["rtol"] * np.abs(grad_ref).max())


@pytest.mark.parametrize(
    ("shape", "n", "blas", "parallel"),
    [(NARROW, 1, False, None), (NARROW, network.BLOCK_ROWS, False, None),
     (NARROW_BLAS, 300, True, None), (LOOPS_PARALLEL, 2500, False, 2),
     (WIDE, 700, True, None), (WIDE, 700, True, 2),
     # More rows than one pass takes: chunks, the last one short.
     (NARROW, network.PREDICT_ROWS + 5, False, None),
     (WIDE, network.PREDICT_ROWS + 300, True, 2)],
)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ACTIVATIONS)
@pytest.mark.parametrize("kind", KINDS)
def test_predict_proba(kind, act, dtype, shape, n, blas, parallel, monkeypatch):
    # Threads whenever asked, compiled or not (the parallel driver is under test).
    monkeypatch.setattr(network, "PREDICT_COMPILE_MIN_WORK", 0)
    assert network.use_blas(*shape) == blas
    X, _, _, theta = _problem(kind, n, dtype, shape=shape)
    o = _n_outputs(kind)
    softmax = kind == "multiclass"
    out = np.full((n, o), np.nan, dtype=dtype)
    net = _net(shape, o, act, softmax, dtype)
    network.predict_proba(X, net, theta, out, parallel)
    X64, theta64 = _as64(X, theta)
    expected = naive.forward(X64, theta64, shape[1], o, act, SLOPE, softmax)[3]
    assert_allclose(out, expected, **TOL[dtype])


# Gradient checks. Central differences with step 1e-6 have truncation error ~1e-12
# and rounding error ~1e-16 / 1e-6 = 1e-10 in float64: well inside 1e-6 relative to
# the gradient's norm.
FD_STEP = 1e-6
FD_RTOL = 1e-6
# float32 analytic gradient against the float64 one on the same (cast) values.
GRAD32_RTOL = 1e-5
# (leaky) relu are not differentiable at 0: every hidden pre-activation stays at
# least this far from 0, far beyond what a step of FD_STEP can move it.
KINK_MARGIN = 1e-4


def _gradient_problem(kind):
    X, Y, sw, theta = _problem(kind, 25, np.float64, seed=5, weighted=True)
    return X, Y, sw, theta, np.arange(25)


@pytest.mark.parametrize("act", ACTIVATIONS)
@pytest.mark.parametrize("kind", KINDS)
def test_gradient_finite_differences(kind, act):
    X, Y, sw, theta, rows = _gradient_problem(kind)
    softmax = kind == "multiclass"
    h, alpha = NARROW[1], 0.3
    Z1 = naive.forward(X, theta, h, _n_outputs(kind), act, SLOPE, softmax)[0]
    assert np.abs(Z1).min() > KINK_MARGIN
    _, grad = _kernel_loss_grad(X, Y, sw, rows, theta, h, act, softmax, alpha)
    fd = np.empty_like(theta)
    for p in range(theta.shape[0]):
        plus, minus = theta.copy(), theta.copy()
        plus[p] += FD_STEP
        minus[p] -= FD_STEP
        loss_plus, _ = _kernel_loss_grad(X, Y, sw, rows, plus, h, act, softmax, alpha)
        loss_minus, _ = _kernel_loss_grad(X, Y, sw, rows, minus, h, act, softmax,
                                          alpha)
        fd[p] = (loss_plus - loss_minus) / (2 * FD_STEP)
    assert np.linalg.norm(grad) > 1e-2
    assert np.linalg.norm(grad - fd) <= FD_RTOL * np.linalg.norm(grad)


@pytest.mark.parametrize("act", ACTIVATIONS)
@pytest.mark.parametrize("kind", KINDS)
def test_gradient_float32_matches_float64(kind, act):
    X, Y, sw, theta, rows = _gradient_problem(kind)
    X, sw, theta = (a.astype(np.float32) for a in (X, sw, theta))
    softmax = kind == "multiclass"
    h = NARROW[1]
    loss32, grad32 = _kernel_loss_grad(X, Y, sw, rows, theta, h, act, softmax, 0.3)
    loss64, grad64 = _kernel_loss_grad(*_as64(X), Y, *_as64(sw), rows,
                                       *_as64(theta), h, act, softmax, 0.3)
    assert grad32.dtype == np.float32
    assert_allclose(loss32, loss64, rtol=GRAD32_RTOL)
    assert np.linalg.norm(grad32 - grad64) <= GRAD32_RTOL * np.linalg.norm(grad64)


@pytest.mark.parametrize("act", ["identity", "logistic", "tanh", "relu"])
@pytest.mark.parametrize("kind", KINDS)
def test_naive_matches_sklearn_backprop(kind, act):
    """The oracle itself against MLPClassifier's private ``_backprop``."""
    from sklearn.neural_network import MLPClassifier

    X, Y, sw, theta = _problem(kind, 40, np.float64, weighted=True)
    (d, h), o = NARROW, _n_outputs(kind)
    softmax = kind == "multiclass"
    W1, b1, W2, b2 = naive.unpack(theta, d, h, o)
    mlp = MLPClassifier(hidden_layer_sizes=(h,), activation=act, alpha=0.3)
    mlp.coefs_, mlp.intercepts_ = [W1, W2], [b1, b2]
    mlp.n_layers_, mlp.n_outputs_ = 3, o
    mlp.out_activation_ = "softmax" if softmax else "logistic"
    loss, coef_grads, intercept_grads = mlp._backprop(
        X, Y.astype(np.float64), sw, [X, None, None], [None, None], [None, None],
        [None, None],
    )
    expected = naive.pack(coef_grads[0], intercept_grads[0], coef_grads[1],
                          intercept_grads[1])
    loss_ref, grad_ref = naive.loss_and_grad(X, Y, sw, theta, h, act, SLOPE, softmax,
                                             0.3)
    assert_allclose(loss_ref, loss, rtol=1e-12)
    assert_allclose(grad_ref, expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("act", ["relu", "leaky_relu", "logistic", "tanh"])
def test_activate_passes_nan_through(act):
    """A nan pre-activation must stay nan, or the divergence guard cannot see it."""
    Z = np.array([[np.nan, np.inf, -np.inf, -1.0, 2.0]])
    activate(Z, np.zeros(1), _net(NARROW, 1, act, False, np.float64))
    assert np.isnan(Z[0, 0])
    assert np.all(np.isfinite(Z[0, 3:]))


# Serial and parallel paths. A problem where the parallel block loop pays:
# 4000 rows x 20 features, 64 hidden units (16 blocks of 250 rows, BLAS).
BIG_SHAPE = (20, 64)
BIG_N = 4000


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", KINDS)
def test_loss_grad_serial_and_parallel_are_bit_identical(kind, dtype):
    X, Y, sw, theta = _problem(kind, BIG_N, dtype, weighted=True, shape=BIG_SHAPE)
    softmax = kind == "multiclass"
    layout = Layout.of(*BIG_SHAPE, Y.shape[1])
    assert network.parallelism(layout, BIG_N, 2) == 2
    assert network.block_layout(BIG_N, *BIG_SHAPE)[0] > 1
    rows = _rows("permutation", BIG_N).astype(np.int32)
    serial = _kernel_loss_grad(X, Y, sw, rows, theta, BIG_SHAPE[1], "tanh", softmax,
                               1e-3)
    parallel = _kernel_loss_grad(X, Y, sw, rows, theta, BIG_SHAPE[1], "tanh",
                                 softmax, 1e-3, parallel=2)
    assert np.isfinite(serial[0]) and np.isfinite(serial[1]).all()
    assert serial[0] == parallel[0]
    assert serial[1].tobytes() == parallel[1].tobytes()
    ref_loss, ref_grad = _naive_loss_grad(X, Y, sw, rows, theta, BIG_SHAPE[1],
                                          "tanh", softmax, 1e-3)
    assert_allclose(serial[0], ref_loss, **TOL[dtype])
    assert_allclose(serial[1], ref_grad, **TOL[dtype])


# Predicting after a fit reuses the fit's block kernel. Checked in a fresh process
# with an empty Numba cache: there ``signatures`` counts exactly the signatures that
# this process compiled (a kernel loaded from the cache would not compile its
# callees, and a cached callee would load without compiling).
_PREDICT_AFTER_FIT = textwrap.dedent(
    """
    import json
    import sys

    import numpy as np
    from fastnn.cpu import network, threads, training
    from fastnn.ops.bundles import Curves, Data
    from tests import naive
    from tests.common import make_network, make_params, make_solver

    dtype, path, slope = np.dtype(sys.argv[1]).type, sys.argv[2], float(sys.argv[3])
    steps = json.loads(sys.argv[4])
    n, (d, h) = 3000, (20, 64)
    X, Y, sw, theta = naive.random_problem("multiclass", n, (d, h), 0, True, dtype)
    Y = Y.astype(dtype)  # the estimators' targets are in X's dtype
    data = Data(X, Y, sw)
    net = make_network(d, h, Y.shape[1], "relu", slope, True, dtype)
    # As the estimator: int32 rows, one visiting order (no shuffling).
    rows = np.arange(n, dtype=np.int32)
    fitted = theta.copy()
    counts = []
    with threads.parallel_section(True):  # as the estimator calls the kernels
        for step, parallel in steps:
            if step == "train_epochs":
                batch = 1000
                params = make_params(theta, 0.01)
                work = network.workspace(net.layout, batch, dtype)
                solver = make_solver("adam", batch, lr_init=0.01)
                training.train_epochs(data, rows[np.newaxis, :], net, solver,
                                      params, work, None, Curves.empty(2),
                                      training.epoch_kernels(
                                          data, rows, net, solver, params, work,
                                          parallel, parallel))
                fitted = params.theta
            elif step == "loss_grad":
                work = network.workspace(net.layout, n, dtype)
                network.loss_grad(data, rows, net, theta, 1e-4, work,
                                  np.empty_like(theta),
                                  network.driver_kernels(data, rows, net, theta, work,
                                                         parallel))
                fitted = theta
            else:
                out = np.full((n, Y.shape[1]), np.nan, dtype=dtype)
                network.predict_proba(X, net, fitted, out, parallel)
                np.savez(path, X=X, theta=fitted, out=out)
            counts.append([len(network.block_task.signatures),
                           len(network.blocks_in_parallel.signatures)])
    print(json.dumps(counts))
    """
)


def _in_fresh_process(script, *args, env=None):
    """Run ``script`` in a fresh interpreter (the repository on its path)."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
        __file__))))
    env = {**os.environ, **(env or {}),
           "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", script, *map(str, args)], env=env,
                          check=True, timeout=600, capture_output=True, text=True,
                          cwd=root)
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(("dtype", "first"), [(np.float64, "loss_grad"),
                                              (np.float32, "train_epochs")],
                         ids=["float64-lbfgs-first", "float32-epochs-first"])
def test_predict_proba_after_training_compiles_no_new_block_kernel(tmp_path, dtype,
                                                                   first):
    """A serial fit compiles the block kernel once; predicting, the other trainer
    and the parallel driver (around the same block kernel) add none."""
    second = "train_epochs" if first == "loss_grad" else "loss_grad"
    # ("predict", 2) before any parallel fit: threads would pay for its rows, but
    # not for compiling their driver (PREDICT_COMPILE_MIN_WORK): it runs serially.
    steps = [(first, None), ("predict", None), ("predict", 2), (second, None),
             ("predict", None), (first, 2), ("predict", 2), (second, 2),
             ("predict", 2)]
    path = tmp_path / "predicted.npz"
    counts = _in_fresh_process(
        _PREDICT_AFTER_FIT, np.dtype(dtype).name, path, SLOPE, json.dumps(steps),
        env={"NUMBA_CACHE_DIR": str(tmp_path / "numba-cache")},
    )
    block_kernels = [c[0] for c in counts]
    drivers = [c[1] for c in counts]
    assert block_kernels[0] >= 1, counts
    assert block_kernels == [block_kernels[0]] * len(steps), (steps, counts)
    # Serial steps never compile the parallel driver; the first parallel fit does,
    # and nothing after it compiles another.
    assert drivers[:5] == [0] * 5, (steps, counts)
    assert drivers[5] >= 1
    assert drivers[5:] == [drivers[5]] * 4, (steps, counts)
    saved = np.load(path)
    assert saved["out"].dtype == dtype
    expected = naive.forward(*_as64(saved["X"], saved["theta"]), 64, 3, "relu", SLOPE,
                             True)[3]
    assert_allclose(saved["out"], expected, **TOL[dtype])


@pytest.mark.parametrize("shape", [LOOPS_PARALLEL, WIDE])
@pytest.mark.parametrize("dtype", DTYPES)
def test_predict_proba_same_on_threads_or_not(dtype, shape, monkeypatch):
    """Whether a prediction runs its blocks on threads or in turn (when their
    driver would have to compile) changes nothing in the result: no sums
    across blocks."""
    monkeypatch.setattr(network, "PREDICT_COMPILE_MIN_WORK", 0)
    X, _, _, theta = _problem("multiclass", 2500, dtype, shape=shape)
    net = _net(shape, 3, "tanh", True, dtype)
    outs = [np.full((2500, 3), np.nan, dtype=dtype) for _ in range(2)]
    for out, parallel in zip(outs, (2, None), strict=True):
        network.predict_proba(X, net, theta, out, parallel)
    assert network.blocks_in_parallel.signatures
    assert_array_equal(outs[0], outs[1])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("parallel", [None, 2], ids=["serial", "parallel"])
def test_predict_proba_leaves_its_inputs_unchanged(dtype, parallel, monkeypatch):
    monkeypatch.setattr(network, "PREDICT_COMPILE_MIN_WORK", 0)
    """Only ``out`` is written: X and theta stay as they are."""
    X, _, _, theta = _problem("multiclass", 1000, dtype, shape=WIDE)
    net = _net(WIDE, 3, "tanh", True, dtype)
    X_before, theta_before = X.copy(), theta.copy()
    out = np.full((1000, 3), np.nan, dtype=dtype)
    network.predict_proba(X, net, theta, out, parallel)
    assert_array_equal(X, X_before)
    assert_array_equal(theta, theta_before)
    assert np.isfinite(out).all()
    assert_allclose(out.sum(axis=1), 1.0, rtol=TOL[dtype]["rtol"] * 10)
