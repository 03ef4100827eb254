"""Sparse first-layer kernels (``fastnn.cpu.sparse``) and the CSR path of the blocks.

Each kernel is compared with the NumPy oracle (``tests/naive.py``) on the dense
copy of the same matrix, and the CSR path of the block kernels with their dense
path: empty rows, a matrix without nonzeros, int64 indices, shuffled batches,
and inputs with unsorted and duplicate indices once canonicalised.
"""

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal

from fastnn._validation import canonical_csr
from fastnn.cpu import network, sparse, threads
from fastnn.ops.bundles import CSR, Data
from tests import naive
from tests.common import compiled, make_network

first_layer = compiled(sparse.first_layer)
first_layer_grad = compiled(sparse.first_layer_grad)
forward_block = compiled(network.forward_block)
backward_block = compiled(network.backward_block)

DTYPES = (np.float64, np.float32)
# As tests/cpu/test_network.py: float64 differs by summation order only, float32
# accumulates in float32 against a float64 oracle.
TOL = {
    np.float64: {"rtol": 1e-10, "atol": 1e-13},
    np.float32: {"rtol": 1e-5, "atol": 1e-6},
}
SLOPE = 0.05


def _matrix(n, d, dtype, density=0.2, seed=0, empty_rows=(0, 3)):
    """A random canonical CSR matrix with some empty rows."""
    X = sp.random(n, d, density=density, format="csr", random_state=seed,
                  dtype=np.float64)
    X = X.toarray()
    X[list(empty_rows)] = 0.0
    return canonical_csr(sp.csr_matrix(X.astype(dtype)))


def _bundle(X, index=np.int32):
    return CSR(X.data, X.indices.astype(index), X.indptr.astype(index), X.shape[1])


def _rows(n, seed=1):
    return np.random.default_rng(seed).permutation(n)[: (2 * n) // 3].astype(
        np.int32)


MATRICES = {
    "random": lambda dtype: _matrix(40, 30, dtype),
    "all-zero": lambda dtype: sp.csr_matrix((40, 30), dtype=dtype),
    "one-column": lambda dtype: _matrix(40, 1, dtype, density=0.5),
}


@pytest.mark.parametrize("index", [np.int32, np.int64])
@pytest.mark.parametrize("matrix", list(MATRICES))
@pytest.mark.parametrize("dtype", DTYPES)
def test_first_layer_against_dense_product(dtype, matrix, index):
    X = MATRICES[matrix](dtype)
    h = 7
    W1 = np.random.default_rng(2).normal(size=(X.shape[1], h)).astype(dtype)
    rows = _rows(X.shape[0])
    m = rows.shape[0]
    ZT = np.full((h, m), np.nan, dtype=dtype)
    first_layer(_bundle(X, index), rows, W1, np.full(m * h + 5, np.nan, dtype=dtype),
                ZT)
    expected = (X.toarray().astype(np.float64)[rows] @ W1.astype(np.float64)).T
    assert_allclose(ZT, expected, **TOL[dtype])
    if matrix == "all-zero":
        assert_array_equal(ZT, 0.0)


@pytest.mark.parametrize("index", [np.int32, np.int64])
@pytest.mark.parametrize("matrix", list(MATRICES))
@pytest.mark.parametrize("dtype", DTYPES)
def test_first_layer_grad_against_dense_product(dtype, matrix, index):
    X = MATRICES[matrix](dtype)
    h = 7
    rows = _rows(X.shape[0])
    m = rows.shape[0]
    D1T = np.random.default_rng(3).normal(size=(h, m)).astype(dtype)
    gW1 = np.full((X.shape[1], h), np.nan, dtype=dtype)
    first_layer_grad(_bundle(X, index), rows, D1T, np.full(m * h, np.nan, dtype=dtype),
                     gW1)
    expected = X.toarray().astype(np.float64)[rows].T @ D1T.T.astype(np.float64)
    assert_allclose(gW1, expected, **TOL[dtype])


@pytest.mark.parametrize("blas", [False, True], ids=["loops", "blas"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_and_backward_block_sparse_equal_dense(dtype, blas):
    """The CSR path of the block kernels against their dense path and the oracle."""
    n, d, h, o = 50, 12, 6, 3
    Xd, Y, sw, theta = naive.random_problem("multiclass", n, (d, h), 4, True, dtype)
    X = _matrix(n, d, dtype, density=0.3, seed=4, empty_rows=(1, 7, 20))
    Xd = X.toarray()
    net = make_network(d, h, o, "tanh", SLOPE, True, dtype)
    rows = _rows(n)
    m = rows.shape[0]
    results = []
    for inputs in (Xd, _bundle(X)):
        A1T, D1T, A2T = (np.full((k, m), np.nan, dtype=dtype) for k in (h, h, o))
        # Sparse rows need m * h of scratch; dense ones get their gathered copy.
        xbuf = np.full(max(d, h) * m, np.nan, dtype=dtype)
        kernels = network.kernels(network.loop_kernel_calls(inputs, rows, net,
                                                            dtype))
        forward_block(inputs, rows, net, theta, blas, xbuf, A1T, A2T,
                      np.empty(2 * m, dtype=dtype), kernels)
        A1, A2 = A1T.copy(), A2T.copy()
        YT = np.ascontiguousarray(Y[rows].T, dtype=dtype)
        grads = np.full(net.layout.size + d * h, np.nan, dtype=dtype)
        backward_block(YT, sw[rows], net, theta, blas, inputs, rows, xbuf, A1T, A2T,
                       D1T, grads, kernels)
        results.append((A1, A2, grads[: net.layout.size]))
    for dense, csr in zip(*results, strict=True):
        assert_allclose(csr, dense, **TOL[dtype])
    X64, theta64 = Xd.astype(np.float64), theta.astype(np.float64)
    _, ref = naive.loss_and_grad(X64[rows], Y[rows], sw[rows].astype(np.float64),
                                 theta64, h, "tanh", SLOPE, True, 0.0,
                                 eps=np.finfo(dtype).eps)
    ref *= sw[rows].astype(np.float64).sum()
    assert_allclose(results[1][2], ref, **TOL[dtype])


def _loss_grad(X, Y, sw, theta, net, batch, parallel, n_threads=None):
    nnz = network.nnz_per_row(X)
    rows = np.arange(Y.shape[0], dtype=np.int32)
    work = network.workspace(net.layout, batch, theta.dtype, nnz)
    for a in work:
        a.fill(np.nan)
    grad = np.full_like(theta, np.nan)
    with threads.parallel_section(True):
        if n_threads is not None:
            import numba

            numba.set_num_threads(n_threads)
        data = Data(X, Y, sw)
        loss = network.loss_grad(data, rows, net, theta, 1e-3, work, grad,
                                 network.driver_kernels(data, rows, net, theta, work,
                                                        parallel))
    return loss, grad


@pytest.mark.parametrize("parallel", [None, 2], ids=["serial", "parallel"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_loss_grad_sparse_equals_dense(dtype, parallel):
    """Whole batches through ``loss_grad``: several blocks, empty rows, any threads."""
    n, d, h, o = 3000, 20, 16, 3
    _, Y, sw, theta = naive.random_problem("multiclass", n, (d, h), 5, True, dtype)
    X = _matrix(n, d, dtype, density=0.25, seed=5, empty_rows=range(0, n, 7))
    net = make_network(d, h, o, "relu", SLOPE, True, dtype)
    nnz = network.nnz_per_row(_bundle(X))
    n_blocks, _ = network.block_layout(n, d, h, nnz)
    assert n_blocks > 1  # the blocks' partial gradients are added
    dense = _loss_grad(X.toarray(), Y, sw, theta, net, n, parallel)
    csr = _loss_grad(_bundle(X), Y, sw, theta, net, n, parallel)
    assert_allclose(csr[0], dense[0], **TOL[dtype])
    assert_allclose(csr[1], dense[1], **TOL[dtype])
    if parallel is not None:  # one thread or two: the same bits
        one = _loss_grad(_bundle(X), Y, sw, theta, net, n, parallel, n_threads=1)
        assert one[0] == csr[0]
        assert_array_equal(one[1], csr[1])


def test_predict_proba_sparse_equals_dense():
    n, d, h, o = 700, 9, 5, 3
    _, _, _, theta = naive.random_problem("multiclass", n, (d, h), 6, False,
                                          np.float64)
    X = _matrix(n, d, np.float64, density=0.3, seed=6)
    net = make_network(d, h, o, "logistic", SLOPE, True, np.float64)
    outs = []
    for inputs in (X.toarray(), _bundle(X)):
        out = np.full((n, o), np.nan)
        with threads.parallel_section(True):
            network.predict_proba(inputs, net, theta, out, None)
        outs.append(out)
    assert_allclose(outs[1], outs[0], **TOL[np.float64])


@pytest.mark.parametrize(("batch", "nnz", "d", "expected"), [
    (256, 10.0, 20000, 1),   # P6: a block's nonzeros are fewer than the features
    (3000, 5.0, 20, 8),      # many rows: at most SPARSE_MAX_BLOCKS
    (600, 100.0, 40000, 1),  # 60000 nonzeros for 40000 features: one block
    (600, 100.0, 20000, 3),  # each of 3 blocks holds 20000 nonzeros
    (10, 1.0, 5, 1),         # too little work for threads
])
def test_sparse_block_layout(batch, nnz, d, expected):
    n_blocks, rows = network.block_layout(batch, d, 64, nnz)
    assert n_blocks == expected
    assert (n_blocks - 1) * rows < batch <= n_blocks * rows


def test_sparse_workspace_has_nothing_of_size_features_times_rows():
    net = make_network(20000, 64, 3, "relu", SLOPE, True, np.float32)
    work = network.workspace(net.layout, 256, np.float32, 10.0)
    assert work.inputs is work.hidden_delta
    assert work.grads.shape == (1, net.layout.size)
    other = sum(a.size for a in work if a is not work.grads)
    assert other < 256 * 64 * 4


@pytest.mark.parametrize("kind", ["csr_matrix", "csc_matrix", "csr_array",
                                  "csc_array"])
def test_canonical_csr_sorts_sums_and_keeps_dtype(kind):
    # Row 0 has its columns unsorted and column 2 twice; row 1 is empty.
    data = np.array([1.0, 2.0, 3.0, 4.0, 5.0], dtype=np.float32)
    indices = np.array([2, 0, 2, 1, 0], dtype=np.int64)
    indptr = np.array([0, 3, 3, 5], dtype=np.int64)
    raw = sp.csr_matrix((data, indices, indptr), shape=(3, 4))
    dense = raw.toarray()
    X = getattr(sp, kind)(raw) if kind != "csr_matrix" else raw
    before = X.copy()
    C = canonical_csr(X)
    assert C.format == "csr"
    assert C.has_canonical_format
    assert C.dtype == np.float32
    assert C.indices.dtype == C.indptr.dtype == np.int32
    assert_array_equal(C.toarray(), dense)
    assert_array_equal(C.indptr, [0, 2, 2, 4])
    assert_array_equal(C.indices, [0, 2, 0, 1])
    assert_array_equal(C.data, [2.0, 4.0, 5.0, 4.0])
    # The caller's matrix is left as it was.
    assert_array_equal(X.data, before.data)
    assert_array_equal(X.indices, before.indices)


def test_canonical_csr_leaves_dense_and_canonical_input_alone():
    X = np.ones((2, 3))
    assert canonical_csr(X) is X
    C = canonical_csr(sp.csr_matrix(X))
    assert canonical_csr(C) is C
