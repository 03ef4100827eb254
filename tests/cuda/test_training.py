"""CUDA training kernels against the NumPy oracle and against the CPU twin."""

from types import SimpleNamespace

import numpy as np
import pytest
from numba import cuda
from numpy.testing import assert_allclose, assert_array_equal

from fastnn.cpu import network as cpu_network
from fastnn.cpu import training as cpu_training
from fastnn.cuda import network, training
from fastnn.ops import optimizers as opt_ops
from fastnn.ops import permutation
from fastnn.ops.activations import CODES
from tests import naive
from tests.common import UPDATE_RULES
from tests.common import new_state as _new_state

N_FEATURES = 3
N_HIDDEN = 4
SLOPE = 0.05
BETA_1, BETA_2, EPSILON = 0.9, 0.999, 1e-8
# One step: the oracle's operations up to fused multiply-adds.
STEP_RTOL, STEP_ATOL = 1e-12, 1e-14
# Whole epochs, float64: rounding differences compound over the steps.
TRAIN_RTOL = 1e-10
# CUDA against CPU kernels on the same inputs: same operations in the same order.
TWIN_RTOL = 1e-12


def _problem(kind, n_samples, seed=0, weighted=False):
    """Random float64 ``X, Y (uint8), sample_weight, theta``."""
    return naive.random_problem(kind, n_samples, (N_FEATURES, N_HIDDEN), seed,
                                weighted)


@pytest.mark.parametrize(("solver", "nesterov"), UPDATE_RULES)
def test_optimizer_step(solver, nesterov):
    rng = np.random.default_rng(0)
    theta = rng.normal(size=11)
    d_theta = cuda.to_device(theta)
    slot1, slot2 = cuda.to_device(np.zeros(11)), cuda.to_device(np.zeros(11))
    lr, momentum = 0.3, 0.8
    state = _new_state(lr)
    ref, velocity, m, v = theta.copy(), np.zeros(11), np.zeros(11), np.zeros(11)
    for step in range(1, 4):
        grad = rng.normal(size=11)
        training.optimizer_step(d_theta, cuda.to_device(grad), slot1, slot2, state,
                                opt_ops.CODES[solver], lr, momentum, nesterov,
                                BETA_1, BETA_2, EPSILON)
        if solver == "gd":
            ref = naive.gd_update(ref, grad, lr)
        elif solver == "sgd":
            ref, velocity = naive.sgd_update(ref, grad, velocity, lr, momentum,
                                             nesterov)
        else:
            ref, m, v = naive.adam_update(ref, grad, m, v, step, lr, BETA_1, BETA_2,
                                          EPSILON)
        assert_allclose(d_theta.copy_to_host(), ref, rtol=STEP_RTOL, atol=STEP_ATOL)
        assert state[training.STEP] == step


@pytest.mark.parametrize("kind", ["binary", "multiclass", "multilabel"])
def test_accuracy(kind):
    X, Y, sw, theta = _problem(kind, 40, weighted=True)
    softmax = kind == "multiclass"
    rows = np.random.default_rng(4).permutation(40)[:29]
    work = network.workspace(N_FEATURES, N_HIDDEN, Y.shape[1], 8, X.dtype)
    score = training.accuracy(*map(cuda.to_device, (X, Y, sw, rows, theta)),
                              N_HIDDEN, CODES["tanh"], SLOPE, softmax, work)
    expected = naive.accuracy(X[rows], Y[rows], sw[rows], theta, N_HIDDEN, "tanh",
                              SLOPE, softmax)
    assert 0.0 < expected < 1.0
    assert_allclose(score, expected, rtol=1e-12)
    cpu_score = cpu_training.accuracy(X, Y, sw, rows, theta, N_HIDDEN,
                                      CODES["tanh"], SLOPE, softmax, False)
    assert_allclose(score, cpu_score, rtol=1e-14)


def _train(X, Y, sw, rows, keys, theta, n_epochs, act, softmax, alpha, solver,
           batch_size, schedule, lr_init, nesterov=True, tol=1e-4,
           n_iter_no_change=10, val_rows=None):
    """Call the CUDA epoch loop as the estimator does; host copies of the results."""
    put = cuda.to_device
    run = SimpleNamespace(state=_new_state(lr_init), curve=np.full(n_epochs, np.nan),
                          val_scores=np.full(n_epochs, np.nan))
    device = SimpleNamespace(theta=put(theta), backups=put(np.stack([theta, theta])),
                             slot1=put(np.zeros_like(theta)),
                             slot2=put(np.zeros_like(theta)),
                             best=put(np.full_like(theta, np.nan)))
    val_rows = np.empty(0, dtype=np.intp) if val_rows is None else val_rows
    keys = np.empty((0, 4), dtype=np.int64) if keys is None else keys
    work = network.workspace(X.shape[1], N_HIDDEN, Y.shape[1], batch_size, X.dtype)
    run.done, run.status = training.train_epochs(
        put(X), put(Y), put(sw), put(rows), put(keys), device.theta, device.backups,
        device.slot1, device.slot2, run.state, run.curve, N_HIDDEN, CODES[act],
        SLOPE, softmax, alpha, float(np.finfo(X.dtype).eps), opt_ops.CODES[solver],
        batch_size, opt_ops.SCHEDULES[schedule], lr_init, 0.5, 0.9, nesterov,
        BETA_1, BETA_2, EPSILON, tol, float(n_iter_no_change), work, put(val_rows),
        device.best, run.val_scores,
    )
    for name, array in vars(device).items():
        setattr(run, name, array.copy_to_host())
    return run


def _feistel_orders(rows, keys):
    """The visiting order of each epoch, computed on the host from the keys."""
    n = len(rows)
    half = permutation.half_bits(n)
    return np.array([[rows[permutation.permute(i, n, half, *k)] for i in range(n)]
                     for k in keys.tolist()])


TRAIN_CASES = [
    # (kind, act, solver, nesterov, schedule, n, batch_size, weighted, alpha)
    ("multiclass", "tanh", "gd", False, "constant", 30, 30, False, 1e-4),
    ("binary", "relu", "sgd", True, "invscaling", 25, 8, True, 0.0),
    ("multilabel", "logistic", "sgd", False, "adaptive", 19, 7, False, 0.1),
    ("multiclass", "leaky_relu", "adam", False, "constant", 26, 10, True, 0.01),
]


@pytest.mark.parametrize("shuffled", [True, False], ids=["shuffled", "in-order"])
@pytest.mark.parametrize(
    ("kind", "act", "solver", "nesterov", "schedule", "n", "batch_size", "weighted",
     "alpha"),
    TRAIN_CASES,
)
def test_train_epochs_matches_naive_loop(kind, act, solver, nesterov, schedule, n,
                                         batch_size, weighted, alpha, shuffled):
    X, Y, sw, theta = _problem(kind, n, weighted=weighted)
    softmax = kind == "multiclass"
    rows = np.arange(n)
    keys = None
    orders = rows[np.newaxis, :]
    if shuffled:
        keys = np.random.default_rng(2).integers(0, 2**32, size=(3, 4))
        orders = _feistel_orders(rows, keys)
    lr_init = 0.1 if solver != "adam" else 0.01
    run = _train(X, Y, sw, rows, keys, theta, 3, act, softmax, alpha, solver,
                 batch_size, schedule, lr_init, nesterov=nesterov)
    ref = naive.train(X, Y, sw, orders, theta, 3, N_HIDDEN, act, SLOPE, softmax,
                      alpha, solver, batch_size, schedule=schedule, lr_init=lr_init,
                      nesterov=nesterov, beta_1=BETA_1, beta_2=BETA_2,
                      epsilon=EPSILON)
    assert (run.done, run.status) == (3, training.RUNNING)
    assert_allclose(run.curve, ref.loss_curve, rtol=TRAIN_RTOL)
    assert_allclose(run.theta, ref.theta, rtol=TRAIN_RTOL, atol=1e-13)
    assert np.abs(run.theta - theta).max() > 1e-3  # training moved the weights
    assert run.state[training.T] == 3 * n
    assert run.state[training.STEP] == 3 * -(-n // batch_size)
    # The CPU twin, given the same orders, computes the same epochs.
    cpu = _new_state(lr_init)
    cpu_theta, slots = theta.copy(), (np.zeros_like(theta), np.zeros_like(theta))
    curve = np.empty(3)
    cpu_training.train_epochs(
        X, Y, sw, orders, cpu_theta, np.stack([theta, theta]), *slots, cpu, curve,
        N_HIDDEN, CODES[act], SLOPE, softmax, alpha, float(np.finfo(X.dtype).eps),
        opt_ops.CODES[solver], batch_size, opt_ops.SCHEDULES[schedule], lr_init, 0.5,
        0.9, nesterov, BETA_1, BETA_2, EPSILON, 1e-4, 10.0, False,
        cpu_network.workspace(N_FEATURES, N_HIDDEN, Y.shape[1], batch_size,
                              X.dtype),
        np.empty(0, dtype=np.intp), np.empty_like(theta), np.empty(3),
    )
    assert_allclose(run.curve, curve, rtol=TWIN_RTOL)
    assert_allclose(run.theta, cpu_theta, rtol=TWIN_RTOL, atol=1e-15)
    assert_allclose(run.state, cpu, rtol=TWIN_RTOL)


def test_train_epochs_is_deterministic():
    """Same inputs, same bits: no reduction depends on the order threads ran in."""
    X, Y, sw, theta = _problem("multiclass", 23, weighted=True)
    keys = np.random.default_rng(6).integers(0, 2**32, size=(2, 4))
    args = (X, Y, sw, np.arange(23), keys, theta, 2, "tanh", True, 1e-3, "adam", 9,
            "constant", 0.01)
    first, second = _train(*args), _train(*args)
    assert_array_equal(first.theta, second.theta)
    assert_array_equal(first.curve, second.curve)


def test_train_epochs_converged():
    """A tol no epoch can meet stops training after ``n_iter_no_change + 2`` epochs."""
    X, Y, sw, theta = _problem("multiclass", 20)
    run = _train(X, Y, sw, np.arange(20), None, theta, 8, "tanh", True, 0.0, "sgd",
                 8, "constant", 0.1, tol=10.0, n_iter_no_change=2)
    ref = naive.train(X, Y, sw, np.arange(20)[np.newaxis, :], theta, 8, N_HIDDEN,
                      "tanh", SLOPE, True, 0.0, "sgd", 8, lr_init=0.1, tol=10.0,
                      n_iter_no_change=2)
    assert ref.converged and len(ref.loss_curve) == 4
    assert (run.done, run.status) == (4, training.CONVERGED)
    assert_allclose(run.curve[: run.done], ref.loss_curve, rtol=TRAIN_RTOL)


# The simulator computes with NumPy scalars, which warn on overflow; a GPU does not.
SIMULATOR_OVERFLOW = pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning",
                                                "ignore:invalid:RuntimeWarning")


@SIMULATOR_OVERFLOW
@pytest.mark.parametrize(("solver", "nesterov"), UPDATE_RULES[:3])
def test_train_epochs_diverged_restores_last_weights_with_finite_loss(solver,
                                                                      nesterov):
    """Identity units and a huge step overflow within a few epochs (as on CPU).

    Diverging in epoch ``e`` restores the weights that started epoch ``e - 1``:
    exactly what a run of ``e - 1`` epochs leaves, never a non-finite weight.
    """
    X, Y, sw, theta = _problem("multiclass", 24)
    args = (X, Y, sw, np.arange(24), None, theta)
    tail = ("identity", True, 0.0, solver, 8, "constant", 1e10)
    run = _train(*args, 30, *tail, nesterov=nesterov, n_iter_no_change=np.inf)
    assert run.status == training.DIVERGED
    assert 2 <= run.done < 30
    assert np.isfinite(run.theta).all()
    assert np.isfinite(run.curve[: run.done]).all()
    assert run.state[training.T] == run.done * 24
    before = _train(*args, run.done - 1, *tail, nesterov=nesterov,
                    n_iter_no_change=np.inf)
    assert before.status == training.RUNNING
    assert_array_equal(run.theta, before.theta)


@SIMULATOR_OVERFLOW
def test_train_epochs_diverged_in_first_epoch_keeps_initial_weights():
    X, Y, sw, theta = _problem("multiclass", 24)
    theta = theta * 1e160  # ||W||^2 overflows: the very first loss is inf
    run = _train(X, Y, sw, np.arange(24), None, theta, 3, "identity", True, 0.0,
                 "gd", 24, "constant", 0.1)
    assert (run.done, run.status) == (0, training.DIVERGED)
    assert_array_equal(run.theta, theta)


@pytest.mark.parametrize(("kind", "solver"), [("binary", "adam"),
                                              ("multiclass", "sgd")])
def test_train_epochs_early_stopping(kind, solver):
    """Validation accuracy drives the stopping rule; the best weights are kept."""
    X, Y, sw, theta = _problem(kind, 60, weighted=True)
    softmax = kind == "multiclass"
    perm = np.random.default_rng(5).permutation(60)
    train_rows, val_rows = np.sort(perm[:45]), np.sort(perm[45:])
    args = ("tanh", softmax, 1e-3, solver, 15, "constant", 0.05)
    run = _train(X, Y, sw, train_rows, None, theta, 30, *args, tol=1e-3,
                 n_iter_no_change=2, val_rows=val_rows)
    ref = naive.train(X, Y, sw, train_rows[np.newaxis, :], theta, 30, N_HIDDEN,
                      "tanh", SLOPE, softmax, 1e-3, solver, 15, lr_init=0.05,
                      tol=1e-3, n_iter_no_change=2, val_rows=val_rows)
    assert ref.converged
    assert (run.done, run.status) == (len(ref.loss_curve), training.CONVERGED)
    assert_allclose(run.curve[: run.done], ref.loss_curve, rtol=TRAIN_RTOL)
    assert_allclose(run.val_scores[: run.done], ref.val_scores, rtol=1e-12)
    assert_allclose(run.theta, ref.theta, rtol=TRAIN_RTOL, atol=1e-13)
    assert_allclose(run.best, ref.best, rtol=TRAIN_RTOL, atol=1e-13)


def test_feistel_keys_are_drawn_from_the_random_state():
    keys = training.feistel_keys(np.random.RandomState(0), 3)
    assert keys.shape == (3, 4) and keys.dtype == np.int64
    assert keys.min() >= 0 and keys.max() <= permutation.MASK32
    assert_array_equal(keys, training.feistel_keys(np.random.RandomState(0), 3))
    assert len({tuple(k) for k in keys.tolist()}) == 3
