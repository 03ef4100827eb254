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
from fastnn.ops import losses as loss_ops
from fastnn.ops import permutation
from fastnn.ops.activations import CODES
from fastnn.ops.bundles import Data
from fastnn.ops.layout import Layout, unpack
from tests import naive
from tests.common import make_network

ACTIVATIONS = naive.ACTIVATIONS
KINDS = ("binary", "multiclass", "multilabel")
#: (output, n_outputs) of the regressor: MLPRegressor's two losses, one and
#: several outputs.
REGRESSIONS = [("identity", 1), ("identity", 3), ("exp", 1), ("exp", 3)]
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


def _n_outputs(kind):
    return 1 if kind == "binary" else 3


def _problem(kind, n_samples, dtype, seed=0, weighted=False):
    return naive.random_problem(kind, n_samples, (D, H), seed, weighted, dtype)


def _net(kind, act, dtype):
    return make_network(D, H, _n_outputs(kind), act, SLOPE, kind == "multiclass",
                        dtype)


def _regression(output, n_outputs, n_samples, dtype, weighted=False):
    """Random ``X, Y (float), sw, theta``: counts for the exp output (poisson)."""
    return naive.random_regression(n_samples, (D, H), n_outputs, 0, weighted, dtype,
                                   counts=output == "exp")


@cuda.jit
def _apply(Z, activation, slope, grad, out):
    for t in range(cuda.grid(1), Z.shape[0], cuda.gridsize(1)):
        if grad:
            out[t] = network.activation_grad(Z[t], activation, slope)
        else:
            out[t] = network.activate(Z[t], activation, slope)


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
    expected = [rows[permutation.permute(i, n, half, *keys.tolist())]
                for i in range(n)]
    # A batch of positions 5 ... 5 + 14, as an epoch's second batch.
    out = cuda.device_array(14, dtype=np.int64)
    network.select(cuda.to_device(rows), cuda.to_device(keys), half, 5, out)
    assert_array_equal(out.copy_to_host(), expected[5:19])
    network.select(cuda.to_device(rows), network.no_rows(), 0, 5, out)
    assert_array_equal(out.copy_to_host(), rows[5:19])
    network.select(network.no_rows(), network.no_rows(), 0, 5, out)
    assert_array_equal(out.copy_to_host(), np.arange(5, 19))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ACTIVATIONS)
def test_activation_and_derivative(act, dtype):
    Z = np.linspace(-4, 4, 13).astype(dtype)
    A = _device_apply(Z, act, grad=False)
    assert_allclose(A, naive.activation(act, Z, SLOPE), **TOL[dtype])
    assert_allclose(_device_apply(A, act, grad=True),
                    naive.activation_derivative(act, Z, SLOPE), **TOL[dtype])


def test_unpack_views_device_arrays_in_row_major_layout():
    d, h, o = 2, 3, 4
    layout = Layout.of(d, h, o)
    theta = cuda.to_device(np.arange(layout.size, dtype=np.float64))
    for part, ref in zip(unpack(layout, theta),
                         naive.unpack(theta.copy_to_host(), d, h, o), strict=True):
        assert_array_equal(part.copy_to_host(), ref)


def test_workspace_shapes():
    layout = Layout.of(D, H, 3)
    work = network.workspace(layout, 7, np.float32)
    assert isinstance(work, network.Workspace)
    assert work.samples.shape == (7,) and work.samples.dtype == np.int64
    assert work.inputs.shape == (7, D) and work.inputs.dtype == np.float32
    assert work.hidden.shape == work.hidden_delta.shape == (7, H)
    assert work.output.shape == (7, 3)
    assert work.row_a.shape == work.row_b.shape == (7,)
    assert work.row_a.dtype == np.float64
    assert work.stats.shape == (network.N_STATS,)
    assert work.val_sums.shape == (network.N_VAL_SUMS, 3)
    assert work.val_sums.dtype == np.float64
    assert network.batch_rows(work) == 7


def _device(*arrays):
    return [cuda.to_device(np.ascontiguousarray(a)) for a in arrays]


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ACTIVATIONS)
@pytest.mark.parametrize("kind", KINDS)
def test_loss_grad(kind, act, dtype, weighted):
    X, Y, sw, theta = _problem(kind, 30, dtype, weighted=weighted)
    rows = np.array([4, 0, 29, 7, 7, 12, 3, 21, 9])
    alpha = 0.3
    net = _net(kind, act, dtype)
    dX, dY, dsw, drows, dtheta = _device(X, Y, sw, rows, theta)
    grad = cuda.device_array_like(dtheta)
    # A workspace larger than the batch, as a fit's last, short batch sees it.
    work = network.workspace(net.layout, rows.size + 3, dtype)
    loss = network.loss_grad(Data(dX, dY, dsw), drows, net, dtheta, alpha, work,
                             grad)
    ref_loss, ref_grad = naive.loss_and_grad(X[rows], Y[rows], sw[rows], theta, H,
                                             act, SLOPE,
                                             net.output == loss_ops.SOFTMAX, alpha,
                                             net.eps)
    assert_allclose(loss, ref_loss, **TOL[dtype])
    assert_allclose(grad.copy_to_host(), ref_grad, **TOL[dtype])
    if dtype == np.float64:
        cpu_grad = np.empty_like(theta)
        cpu_work = cpu_network.workspace(net.layout, rows.size, dtype)
        cpu_data = Data(X, Y, sw)
        cpu_loss = cpu_network.loss_grad(
            cpu_data, rows, net, theta, alpha, cpu_work, cpu_grad,
            cpu_network.driver_kernels(cpu_data, rows, net, theta, cpu_work))
        assert_allclose(loss, cpu_loss, **TWIN_TOL)
        assert_allclose(grad.copy_to_host(), cpu_grad, **TWIN_TOL)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("output", "n_outputs"), REGRESSIONS)
def test_loss_grad_regression(output, n_outputs, dtype):
    """Squared-error (identity) and poisson (exp) losses on float targets."""
    X, Y, sw, theta = _regression(output, n_outputs, 20, dtype, weighted=True)
    if output == "exp":
        assert (Y == 0).any() and (Y > 0).any()  # both branches of poisson_term
    rows = np.array([4, 0, 19, 7, 7, 12, 3, 11, 9])
    alpha = 0.3
    act = "tanh" if n_outputs == 1 else "relu"
    net = make_network(D, H, n_outputs, act, SLOPE, output, dtype)
    dX, dY, dsw, drows, dtheta = _device(X, Y, sw, rows, theta)
    grad = cuda.device_array_like(dtheta)
    work = network.workspace(net.layout, rows.size + 3, dtype)
    loss = network.loss_grad(Data(dX, dY, dsw), drows, net, dtheta, alpha, work,
                             grad)
    ref_loss, ref_grad = naive.loss_and_grad(X[rows], Y[rows], sw[rows], theta, H,
                                             act, SLOPE, output, alpha)
    assert_allclose(loss, ref_loss, **TOL[dtype])
    assert_allclose(grad.copy_to_host(), ref_grad, **TOL[dtype])
    if dtype == np.float64:  # (float32: one CPU compilation more, for no new path)
        cpu_grad = np.empty_like(theta)
        cpu_work = cpu_network.workspace(net.layout, rows.size, dtype)
        cpu_data = Data(X, Y, sw)
        cpu_loss = cpu_network.loss_grad(
            cpu_data, rows, net, theta, alpha, cpu_work, cpu_grad,
            cpu_network.driver_kernels(cpu_data, rows, net, theta, cpu_work))
        assert_allclose(loss, cpu_loss, **TWIN_TOL)
        assert_allclose(grad.copy_to_host(), cpu_grad, **TWIN_TOL)


@pytest.mark.parametrize("softmax", [False, True], ids=["logistic", "softmax"])
def test_loss_grad_saturated_outputs_stay_finite(softmax):
    kind = "multiclass" if softmax else "binary"
    X, Y, sw, theta = _problem(kind, 8, np.float64)
    theta *= 500.0
    rows = np.arange(8)
    net = _net(kind, "tanh", np.float64)
    dX, dY, dsw, dtheta = _device(X, Y, sw, theta)
    grad = cuda.device_array_like(dtheta)
    work = network.workspace(net.layout, 8, np.float64)
    # Host rows are accepted too.
    loss = network.loss_grad(Data(dX, dY, dsw), rows, net, dtheta, 0.0, work, grad)
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
    net = _net(kind, act, dtype)
    o = net.layout.n_outputs
    out = cuda.device_array((21, o), dtype=dtype)
    dX, dtheta = _device(X, theta)
    network.predict_proba(dX, net, dtheta, out)
    ref = naive.forward(X, theta, H, o, act, SLOPE, net.output == loss_ops.SOFTMAX)[3]
    assert_allclose(out.copy_to_host(), ref, **TOL[dtype])
    cpu_out = np.empty((21, o), dtype=dtype)
    cpu_network.predict_proba(X, net, theta, cpu_out, None)
    twin = TWIN_TOL if dtype == np.float64 else TOL[dtype]
    assert_allclose(out.copy_to_host(), cpu_out, **twin)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("output", "n_outputs"), REGRESSIONS)
def test_predict_proba_regression(output, n_outputs, dtype, monkeypatch):
    """Identity and exp outputs, in chunks (the dummy targets typed as in a fit)."""
    monkeypatch.setattr(network, "PREDICT_ROWS", 8)
    X, _, _, theta = _regression(output, n_outputs, 21, dtype)
    net = make_network(D, H, n_outputs, "tanh", SLOPE, output, dtype)
    out = cuda.device_array((21, n_outputs), dtype=dtype)
    dX, dtheta = _device(X, theta)
    network.predict_proba(dX, net, dtheta, out)
    ref = naive.forward(X, theta, H, n_outputs, "tanh", SLOPE, output)[3]
    assert_allclose(out.copy_to_host(), ref, **TOL[dtype])
    if output == "exp":
        assert (out.copy_to_host() > 0).all()
    else:
        assert (out.copy_to_host() < 0).any()  # no squashing
    if dtype == np.float64:
        cpu_out = np.empty((21, n_outputs), dtype=dtype)
        cpu_network.predict_proba(X, net, theta, cpu_out, None)
        assert_allclose(out.copy_to_host(), cpu_out, **TWIN_TOL)


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
