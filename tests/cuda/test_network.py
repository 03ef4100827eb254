"""CUDA network kernels against the NumPy oracle and against the CPU kernels.

Runs on a GPU when there is one, else in numba-cuda's simulator (see conftest.py),
with launch shapes patched down so that every kernel spans several blocks.
"""

import numpy as np
import pytest
from numba import cuda
from numpy.testing import assert_allclose, assert_array_equal

from fastnn.cpu import network as cpu_network
from fastnn.cuda import network
from fastnn.ops import permutation
from fastnn.ops.activations import CODES
from tests import naive

ACTIVATIONS = naive.ACTIVATIONS
KINDS = ("binary", "multiclass", "multilabel")
DTYPES = (np.float64, np.float32)
SLOPE = 0.05
D, H = 3, 5
# As for the CPU kernels: float64 differs from the oracle only by summation order
# and libm's exp / tanh / log (a few ulp); float32 accumulates single-precision
# products over up to a few dozen terms against the oracle's float64.
TOL = {
    np.float64: {"rtol": 1e-10, "atol": 1e-13},
    np.float32: {"rtol": 1e-5, "atol": 1e-6},
}
# CUDA against CPU kernels: the same operations in the same order, up to where
# each compiler fuses multiply-adds.
TWIN_TOL = {"rtol": 1e-12, "atol": 1e-15}
EPS64 = float(np.finfo(np.float64).eps)


def _n_outputs(kind):
    return 1 if kind == "binary" else 3


def _problem(kind, n_samples, dtype, seed=0, weighted=False):
    return naive.random_problem(kind, n_samples, (D, H), seed, weighted, dtype)


@cuda.jit
def _apply(Z, activation, slope, grad, out):
    for t in range(cuda.grid(1), Z.shape[0], cuda.gridsize(1)):
        if grad:
            out[t] = network.activation_grad(Z[t], activation, slope)
        else:
            out[t] = network.activate(Z[t], activation, slope)


@cuda.jit
def _visit(rows, keys, half, out):
    for t in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):
        out[t] = network.sample(t, rows, keys, half)


def _device_apply(Z, act, grad):
    out = cuda.device_array_like(Z)
    network.launch(_apply, Z.shape[0])(cuda.to_device(Z), CODES[act], SLOPE, grad,
                                       out)
    return out.copy_to_host()


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 17, 64, 65, 1000])
def test_permutation_is_a_bijection(n):
    half = permutation.half_bits(n)
    assert 4**half >= n
    image = [permutation.permute(i, n, half, 7, 11, 13, 17) for i in range(n)]
    assert sorted(image) == list(range(n))


def test_permutation_depends_on_the_keys():
    n = 100
    half = permutation.half_bits(n)
    orders = {tuple(permutation.permute(i, n, half, k, 2 * k, 3 * k, 4 * k)
                    for i in range(n)) for k in range(1, 6)}
    assert len(orders) == 5
    assert tuple(range(n)) not in orders


def test_sample_visits_rows_in_the_keyed_order():
    n = 23
    rows = np.arange(100, 100 + n)
    keys = np.array([3, 1, 4, 1_000_000_007], dtype=np.int64)
    half = permutation.half_bits(n)
    out = cuda.device_array(n, dtype=np.int64)
    network.launch(_visit, n)(cuda.to_device(rows), cuda.to_device(keys), half, out)
    expected = [rows[permutation.permute(i, n, half, *keys.tolist())]
                for i in range(n)]
    assert_array_equal(out.copy_to_host(), expected)
    network.launch(_visit, n)(cuda.to_device(rows), network.no_rows(), 0, out)
    assert_array_equal(out.copy_to_host(), rows)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ACTIVATIONS)
def test_activation_and_derivative(act, dtype):
    Z = np.linspace(-4, 4, 13).astype(dtype)
    A = _device_apply(Z, act, grad=False)
    assert_allclose(A, naive.activation(act, Z, SLOPE), **TOL[dtype])
    assert_allclose(_device_apply(A, act, grad=True),
                    naive.activation_derivative(act, Z, SLOPE), **TOL[dtype])


def test_unpack_views_row_major_layout():
    d, h, o = 2, 3, 4
    theta = cuda.to_device(np.arange(network.n_params(d, h, o), dtype=np.float64))
    for part, ref in zip(network.unpack(theta, d, h, o),
                         naive.unpack(theta.copy_to_host(), d, h, o), strict=True):
        assert_array_equal(part.copy_to_host(), ref)


def _device(*arrays):
    return [cuda.to_device(np.ascontiguousarray(a)) for a in arrays]


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ACTIVATIONS)
@pytest.mark.parametrize("kind", KINDS)
def test_loss_grad(kind, act, dtype, weighted):
    X, Y, sw, theta = _problem(kind, 30, dtype, weighted=weighted)
    rows = np.array([4, 0, 29, 7, 7, 12, 3, 21, 9])
    alpha, eps = 0.3, float(np.finfo(dtype).eps)
    o = Y.shape[1]
    dX, dY, dsw, drows, dtheta = _device(X, Y, sw, rows, theta)
    grad = cuda.device_array_like(dtheta)
    work = network.workspace(D, H, o, rows.size, dtype)
    softmax = kind == "multiclass"
    loss = network.loss_grad(dX, dY, dsw, drows, dtheta, grad, H, CODES[act], SLOPE,
                             softmax, alpha, eps, work)
    ref_loss, ref_grad = naive.loss_and_grad(X[rows], Y[rows], sw[rows], theta, H,
                                             act, SLOPE, softmax, alpha, eps)
    assert_allclose(loss, ref_loss, **TOL[dtype])
    assert_allclose(grad.copy_to_host(), ref_grad, **TOL[dtype])
    if dtype == np.float64:
        cpu_grad = np.empty_like(theta)
        cpu_work = cpu_network.workspace(D, H, o, rows.size, dtype)
        cpu_loss = cpu_network.loss_grad(X, Y, sw, rows, theta, cpu_grad, H,
                                         CODES[act], SLOPE, softmax, alpha, eps,
                                         False, cpu_work)
        assert_allclose(loss, cpu_loss, **TWIN_TOL)
        assert_allclose(grad.copy_to_host(), cpu_grad, **TWIN_TOL)


@pytest.mark.parametrize("softmax", [False, True], ids=["logistic", "softmax"])
def test_loss_grad_saturated_outputs_stay_finite(softmax):
    kind = "multiclass" if softmax else "binary"
    X, Y, sw, theta = _problem(kind, 8, np.float64)
    theta *= 500.0
    rows = np.arange(8)
    dX, dY, dsw, drows, dtheta = _device(X, Y, sw, rows, theta)
    grad = cuda.device_array_like(dtheta)
    work = network.workspace(D, H, Y.shape[1], 8, np.float64)
    loss = network.loss_grad(dX, dY, dsw, drows, dtheta, grad, H, CODES["tanh"],
                             SLOPE, softmax, 0.0, EPS64, work)
    ref_loss, ref_grad = naive.loss_and_grad(X, Y, sw, theta, H, "tanh", SLOPE,
                                             softmax, 0.0)
    assert np.isfinite(loss)
    assert_allclose(loss, ref_loss, rtol=1e-10)
    assert_allclose(grad.copy_to_host(), ref_grad, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ["logistic", "relu"])
@pytest.mark.parametrize("kind", KINDS)
def test_predict_proba(kind, act, dtype, monkeypatch):
    # Several chunks of rows, the last one short.
    monkeypatch.setattr(network, "PREDICT_ROWS", 8)
    X, _, _, theta = _problem(kind, 21, dtype)
    o = _n_outputs(kind)
    softmax = kind == "multiclass"
    out = cuda.device_array((21, o), dtype=dtype)
    dX, dtheta = _device(X, theta)
    network.predict_proba(dX, dtheta, H, CODES[act], SLOPE, softmax, out)
    ref = naive.forward(X, theta, H, o, act, SLOPE, softmax)[3]
    assert_allclose(out.copy_to_host(), ref, **TOL[dtype])


@pytest.mark.parametrize(
    ("value", "flags"), [(0.5, (False, False)), (np.nan, (True, False)),
                         (-np.inf, (False, True))]
)
def test_nonfinite(value, flags):
    X = np.ones((5, 3))
    X[4, 2] = value
    assert network.nonfinite(cuda.to_device(X)) == flags


def test_use_device_keeps_device_arrays_in_place():
    X = cuda.to_device(np.ones((4, 2)))
    assert network.use_device(X) is X
    assert_array_equal(network.use_device(np.ones((4, 2))).copy_to_host(), 1.0)
