"""CUDA training kernels against the NumPy oracle and against the CPU twin."""

from types import SimpleNamespace

import numpy as np
import pytest
from numba import cuda
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.metrics import r2_score

from fastnn.cpu import network as cpu_network
from fastnn.cpu import training as cpu_training
from fastnn.cuda import network, training
from fastnn.ops import losses as loss_ops
from fastnn.ops import permutation, schedules
from fastnn.ops.bundles import Curves, Data, Params, Validation
from tests import naive
from tests.common import (
    UPDATE_RULES,
    compiled,
    make_network,
    make_params,
    make_solver,
)

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


def _regression(output, n_outputs, n_samples, seed=0, weighted=False):
    """Random float64 ``X, Y (float), sample_weight, theta`` of a regressor."""
    return naive.random_regression(n_samples, (N_FEATURES, N_HIDDEN), n_outputs,
                                   seed, weighted, counts=output == "exp")


def _net(kind, act="tanh", n_features=N_FEATURES):
    return make_network(n_features, N_HIDDEN, 1 if kind == "binary" else 3, act,
                        SLOPE, kind == "multiclass", np.float64)


_cpu_r2 = compiled(cpu_training.r2)
_cpu_validate = compiled(cpu_training.validate)


@cuda.jit
def _apply_update(theta, grad, slot1, slot2, kind, lr, coefs):
    for p in range(cuda.grid(1), theta.shape[0], cuda.gridsize(1)):
        theta[p], slot1[p], slot2[p] = training.param_update(
            theta[p], grad[p], slot1[p], slot2[p], kind, lr, coefs
        )


def optimizer_step(params, grad, solver):
    """One optimizer step as ``update_layer`` takes it: step size, then update."""
    lr = schedules.step_size(params.state, solver)
    network.launch(_apply_update, params.theta.shape[0])(
        params.theta, grad, params.slot1, params.slot2, solver.kind, lr,
        training.coefficients(solver),
    )


def _to_device(params):
    """``params`` with its arrays on the device (``state`` stays on the host)."""
    return Params(*(cuda.to_device(a) for a in params[:-1]), params.state)


def _to_host(params):
    return Params(*(a.copy_to_host() for a in params[:-1]), params.state)


@pytest.mark.parametrize(("solver", "nesterov"), UPDATE_RULES)
def test_optimizer_step(solver, nesterov):
    rng = np.random.default_rng(0)
    theta = rng.normal(size=11)
    lr, momentum = 0.3, 0.8
    bundle = make_solver(solver, 1, lr_init=lr, momentum=momentum,
                         nesterov=nesterov, beta_1=BETA_1, beta_2=BETA_2,
                         epsilon=EPSILON)
    params = _to_device(make_params(theta, lr))
    state = params.state
    ref, velocity, m, v = theta.copy(), np.zeros(11), np.zeros(11), np.zeros(11)
    for step in range(1, 4):
        grad = rng.normal(size=11)
        optimizer_step(params, cuda.to_device(grad), bundle)
        d_theta = params.theta
        if solver == "gd":
            ref = naive.gd_update(ref, grad, lr)
        elif solver == "sgd":
            ref, velocity = naive.sgd_update(ref, grad, velocity, lr, momentum,
                                             nesterov)
        else:
            ref, m, v = naive.adam_update(ref, grad, m, v, step, lr, BETA_1, BETA_2,
                                          EPSILON)
        assert_allclose(d_theta.copy_to_host(), ref, rtol=STEP_RTOL, atol=STEP_ATOL)
        assert state[schedules.STEP] == step
    if solver == "sgd":
        assert_allclose(params.slot1.copy_to_host(), velocity, rtol=STEP_RTOL,
                        atol=1e-15)
    if solver == "adam":
        assert_allclose(params.slot1.copy_to_host(), m, rtol=STEP_RTOL, atol=1e-15)
        assert_allclose(params.slot2.copy_to_host(), v, rtol=STEP_RTOL, atol=1e-15)


def test_optimizer_step_sgd_uses_current_learning_rate():
    """sgd / gd step with ``state[LR]`` (the schedule's), not ``lr_init``."""
    for solver in ("gd", "sgd"):
        params = _to_device(make_params(np.ones(4), 0.01))
        optimizer_step(params, cuda.to_device(np.full(4, 2.0)),
                                make_solver(solver, 1, lr_init=1.0, momentum=0.0))
        assert_allclose(params.theta.copy_to_host(), 1.0 - 0.01 * 2.0,
                        rtol=STEP_RTOL)


def _val(rows, trivial=False):
    return Validation(cuda.to_device(rows), None, trivial)


#: L2 strength of the validation-loss checks.
ALPHA_VAL = 1e-2
#: Output codes to the oracle's names.
_OUTPUT_NAMES = {code: name for name, code in loss_ops.OUTPUTS.items()}


def _scores(X, Y, sw, rows, theta, net):
    """Validation scores of both backends on ``X[rows]``: (CUDA, CPU, outputs).

    The CUDA workspace takes 8 rows: several chunks, the last one short. Checks
    on the way that both backends' validation losses equal the oracle's
    objective on those rows.
    """
    work = network.workspace(net.layout, 8, X.dtype)
    data = Data(*map(cuda.to_device, (X, Y, sw)))
    score, loss = training.validate(data, _val(rows), net, cuda.to_device(theta),
                                    ALPHA_VAL, work)
    out = np.full(Y.shape, np.nan, dtype=X.dtype)
    cpu_work = cpu_network.workspace(net.layout, 8, X.dtype)
    cpu_data = Data(X, Y, sw)
    cpu_score, cpu_loss = _cpu_validate(
        cpu_data, Validation(rows, out, False), net, theta, ALPHA_VAL, cpu_work,
        cpu_network.driver_kernels(cpu_data, rows, net, theta, cpu_work))
    with np.errstate(all="ignore"):  # the tests of non-finite predictions
        expected = naive.loss_and_grad(X[rows], Y[rows], sw[rows], theta,
                                       net.layout.n_hidden, "tanh", SLOPE,
                                       _OUTPUT_NAMES[net.output], ALPHA_VAL)[0]
    if np.isfinite(expected):
        assert_allclose(loss, expected, rtol=1e-12)
        assert_allclose(loss, cpu_loss, rtol=1e-13)
    return score, cpu_score, out


@pytest.mark.parametrize("kind", ["binary", "multiclass", "multilabel"])
def test_validation_score_accuracy(kind):
    X, Y, sw, theta = _problem(kind, 40, weighted=True)
    net = _net(kind)
    rows = np.random.default_rng(4).permutation(40)[:29]
    score, cpu_score, _ = _scores(X, Y, sw, rows, theta, net)
    expected = naive.accuracy(X[rows], Y[rows], sw[rows], theta, N_HIDDEN, "tanh",
                              SLOPE, net.output == loss_ops.SOFTMAX)
    assert 0.0 < expected < 1.0
    assert_allclose(score, expected, rtol=1e-12)
    assert_allclose(score, cpu_score, rtol=1e-14)


def test_validation_score_of_one_class_is_one():
    """``trivial`` validation (a one-class fit): every prediction is right."""
    X, Y, sw, theta = _problem("binary", 12)
    net = _net("binary")
    work = network.workspace(net.layout, 4, X.dtype)
    data = Data(*map(cuda.to_device, (X, Y, sw)))
    score, loss = training.validate(data, _val(np.arange(12), trivial=True), net,
                                    cuda.to_device(theta), ALPHA_VAL, work)
    assert score == 1.0
    # The loss is still the rows' objective.
    assert_allclose(loss, naive.loss_and_grad(X, Y, sw, theta, N_HIDDEN, "tanh",
                                              SLOPE, False, ALPHA_VAL)[0],
                    rtol=1e-12)


@pytest.mark.parametrize(("output", "n_outputs"), [("identity", 1), ("identity", 3),
                                                   ("exp", 2)])
def test_validation_score_r2(output, n_outputs):
    """Weighted R^2 as ``r2_score`` and the CPU twin's ``r2`` compute it."""
    X, Y, sw, theta = _regression(output, n_outputs, 40, weighted=True)
    net = make_network(N_FEATURES, N_HIDDEN, n_outputs, "tanh", SLOPE, output,
                       np.float64)
    rows = np.random.default_rng(4).permutation(40)[:29]
    score, cpu_score, out = _scores(X, Y, sw, rows, theta, net)
    P = naive.forward(X[rows], theta, N_HIDDEN, n_outputs, "tanh", SLOPE, output)[3]
    expected = r2_score(Y[rows], P, sample_weight=sw[rows])
    assert_allclose(naive.r2(Y[rows], P, sw[rows]), expected, rtol=1e-12)
    assert expected < 1.0 and expected != 0.0
    assert_allclose(score, expected, rtol=1e-12)
    assert_allclose(score, cpu_score, rtol=1e-13)
    assert_allclose(score, _cpu_r2(Y, sw, rows, out), rtol=1e-13)


def test_validation_score_r2_exact_and_constant_outputs():
    """``force_finite``: an output predicted exactly scores 1, one with constant
    targets and errors 0; the score is the mean over the outputs."""
    X, Y, sw, theta = _regression("identity", 3, 20, weighted=True)
    lay = make_network(N_FEATURES, N_HIDDEN, 3, "tanh", SLOPE, "identity",
                       np.float64).layout
    W2 = theta[lay.w2 : lay.b2].reshape(N_HIDDEN, 3)
    W2[:, :2] = 0.0
    theta[lay.b2 : lay.b2 + 2] = [0.25, 0.75]
    Y[:, 0], Y[:, 1] = 0.25, 0.5  # output 0 exact, output 1 constant and wrong
    net = make_network(N_FEATURES, N_HIDDEN, 3, "tanh", SLOPE, "identity",
                       np.float64)
    rows = np.arange(3, 20)
    score, cpu_score, _ = _scores(X, Y, sw, rows, theta, net)
    P = naive.forward(X[rows], theta, N_HIDDEN, 3, "tanh", SLOPE, "identity")[3]
    assert_array_equal(P[:, 0], 0.25)
    per_output = r2_score(Y[rows], P, sample_weight=sw[rows],
                          multioutput="raw_values")
    assert per_output[0] == 1.0 and per_output[1] == 0.0
    assert_allclose(score, per_output.mean(), rtol=1e-12)
    assert_allclose(score, cpu_score, rtol=1e-13)


@pytest.mark.parametrize(("output", "bias"), [("identity", np.inf), ("exp", np.nan)])
def test_validation_score_r2_of_non_finite_predictions_is_nan(output, bias):
    """A non-finite prediction scores nan, as MLP's score and the CPU's.

    (Not by overflowing ``exp``: the simulator's ``math.exp`` raises where a GPU
    returns inf.)
    """
    X, Y, sw, theta = _regression(output, 2, 20)
    net = make_network(N_FEATURES, N_HIDDEN, 2, "tanh", SLOPE, output, np.float64)
    theta[net.layout.b2 + 1] = bias
    score, cpu_score, out = _scores(X, Y, sw, np.arange(20), theta, net)
    assert np.isfinite(out[:, 0]).all()
    assert np.isnan(score) and np.isnan(cpu_score)


def _train_net(X, Y, act, output):
    """The network of a fit on ``(X, Y)``; ``output`` a name or a bool (softmax)."""
    return make_network(X.shape[1], N_HIDDEN, Y.shape[1], act, SLOPE, output,
                        X.dtype)


def _train(X, Y, sw, rows, keys, theta, n_epochs, act, output, alpha, solver,
           batch_size, schedule, lr_init, nesterov=True, tol=1e-4,
           n_iter_no_change=10, val_rows=None, trivial=False):
    """Call the CUDA epoch loop as the estimator does; host copies of the results."""
    put = cuda.to_device
    net = _train_net(X, Y, act, output)
    bundle = make_solver(solver, batch_size, schedule, lr_init, 0.5, 0.9, nesterov,
                         BETA_1, BETA_2, EPSILON, alpha, tol, n_iter_no_change)
    params = _to_device(make_params(theta, lr_init))
    keys = np.empty((0, 4), dtype=np.int64) if keys is None else keys
    val = None if val_rows is None else _val(val_rows, trivial)
    curves = Curves(*(np.full(n_epochs, np.nan) for _ in Curves._fields))
    work = network.workspace(net.layout, batch_size, X.dtype)
    done, status = training.train_epochs(
        Data(put(X), put(Y), put(sw)), training.Visits(put(rows), put(keys)), net,
        bundle, params, work, val, curves,
    )
    host = _to_host(params)
    return SimpleNamespace(done=done, status=status, curve=curves.loss,
                           val_scores=curves.score, val_losses=curves.val_loss,
                           new_lr=curves.new_lr,
                           **host._asdict())


def _cpu_train(X, Y, sw, orders, theta, n_epochs, act, output, alpha, solver,
               batch_size, schedule, lr_init, nesterov=True, tol=1e-4,
               n_iter_no_change=10, val_rows=None, trivial=False):
    """The CPU twin on the same problem, visiting ``orders``."""
    net = _train_net(X, Y, act, output)
    bundle = make_solver(solver, batch_size, schedule, lr_init, 0.5, 0.9, nesterov,
                         BETA_1, BETA_2, EPSILON, alpha, tol, n_iter_no_change)
    params = make_params(theta, lr_init)
    val = None
    if val_rows is not None:
        val = Validation(val_rows.astype(orders.dtype),
                         np.empty(Y.shape, dtype=X.dtype), trivial)
    curves = Curves(*(np.full(n_epochs, np.nan) for _ in Curves._fields))
    work = cpu_network.workspace(net.layout, batch_size, X.dtype)
    data = Data(X, Y, sw)
    done, status = cpu_training.train_epochs(
        data, orders, net, bundle, params, work, val, curves,
        cpu_training.epoch_kernels(data, orders[0], net, bundle, params, work))
    return SimpleNamespace(done=done, status=status, curve=curves.loss,
                           val_scores=curves.score, val_losses=curves.val_loss,
                           new_lr=curves.new_lr,
                           **params._asdict())


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
    assert (run.done, run.status) == (3, schedules.RUNNING)
    assert_allclose(run.curve, ref.loss_curve, rtol=TRAIN_RTOL)
    assert_allclose(run.theta, ref.theta, rtol=TRAIN_RTOL, atol=1e-13)
    assert np.abs(run.theta - theta).max() > 1e-3  # training moved the weights
    assert run.state[schedules.T] == 3 * n
    assert run.state[schedules.STEP] == 3 * -(-n // batch_size)
    # The CPU twin, given the same orders, computes the same epochs.
    cpu = _cpu_train(X, Y, sw, orders, theta, 3, act, softmax, alpha, solver,
                     batch_size, schedule, lr_init, nesterov=nesterov)
    assert (cpu.done, cpu.status) == (run.done, run.status)
    assert_allclose(run.curve, cpu.curve, rtol=TWIN_RTOL)
    assert_allclose(run.theta, cpu.theta, rtol=TWIN_RTOL, atol=1e-15)
    for name in ("slot1", "slot2", "backups"):
        assert_allclose(getattr(run, name), getattr(cpu, name), rtol=TWIN_RTOL,
                        atol=1e-15)
    assert_allclose(run.state, cpu.state, rtol=TWIN_RTOL)


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
    assert (run.done, run.status) == (4, schedules.CONVERGED)
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
    assert run.status == schedules.DIVERGED
    assert 2 <= run.done < 30
    assert np.isfinite(run.theta).all()
    assert np.isfinite(run.curve[: run.done]).all()
    assert run.state[schedules.T] == run.done * 24
    before = _train(*args, run.done - 1, *tail, nesterov=nesterov,
                    n_iter_no_change=np.inf)
    assert before.status == schedules.RUNNING
    assert_array_equal(run.theta, before.theta)


@SIMULATOR_OVERFLOW
def test_train_epochs_diverged_in_first_epoch_keeps_initial_weights():
    X, Y, sw, theta = _problem("multiclass", 24)
    theta = theta * 1e160  # ||W||^2 overflows: the very first loss is inf
    run = _train(X, Y, sw, np.arange(24), None, theta, 3, "identity", True, 0.0,
                 "gd", 24, "constant", 0.1)
    assert (run.done, run.status) == (0, schedules.DIVERGED)
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
    assert (run.done, run.status) == (len(ref.loss_curve), schedules.CONVERGED)
    assert_allclose(run.curve[: run.done], ref.loss_curve, rtol=TRAIN_RTOL)
    assert_allclose(run.val_scores[: run.done], ref.val_scores, rtol=1e-12)
    assert_allclose(run.val_losses[: run.done], ref.val_losses, rtol=TRAIN_RTOL)
    assert_allclose(run.theta, ref.theta, rtol=TRAIN_RTOL, atol=1e-13)
    assert_allclose(run.best, ref.best, rtol=TRAIN_RTOL, atol=1e-13)
    cpu = _cpu_train(X, Y, sw, train_rows[np.newaxis, :], theta, 30, *args,
                     tol=1e-3, n_iter_no_change=2, val_rows=val_rows)
    assert (cpu.done, cpu.status) == (run.done, run.status)
    # Weighted sums, each taken in its own order.
    assert_allclose(run.val_scores[: run.done], cpu.val_scores[: cpu.done],
                    rtol=1e-14)
    assert_allclose(run.val_losses[: run.done], cpu.val_losses[: cpu.done],
                    rtol=TWIN_RTOL)
    assert_allclose(run.best, cpu.best, rtol=TWIN_RTOL, atol=1e-15)
    assert_allclose(run.state, cpu.state, rtol=TWIN_RTOL)


@pytest.mark.parametrize(("output", "n_outputs", "solver", "lr_init"),
                         [("identity", 3, "adam", 0.05), ("exp", 1, "sgd", 0.01)])
def test_train_epochs_early_stopping_regression(output, n_outputs, solver, lr_init):
    """Validation R^2 drives the stopping rule on float targets; the best weights
    are kept."""
    X, Y, sw, theta = _regression(output, n_outputs, 60, weighted=True)
    perm = np.random.default_rng(5).permutation(60)
    train_rows, val_rows = np.sort(perm[:45]), np.sort(perm[45:])
    args = ("tanh", output, 1e-3, solver, 15, "constant", lr_init)
    run = _train(X, Y, sw, train_rows, None, theta, 30, *args, tol=1e-3,
                 n_iter_no_change=2, val_rows=val_rows)
    ref = naive.train(X, Y, sw, train_rows[np.newaxis, :], theta, 30, N_HIDDEN,
                      "tanh", SLOPE, output, 1e-3, solver, 15, lr_init=lr_init,
                      tol=1e-3, n_iter_no_change=2, val_rows=val_rows)
    assert ref.converged and len(ref.loss_curve) > 3
    assert len(set(ref.val_scores)) == len(ref.val_scores)
    assert (run.done, run.status) == (len(ref.loss_curve), schedules.CONVERGED)
    assert_allclose(run.curve[: run.done], ref.loss_curve, rtol=TRAIN_RTOL)
    assert_allclose(run.val_scores[: run.done], ref.val_scores, rtol=1e-12)
    assert_allclose(run.val_losses[: run.done], ref.val_losses, rtol=TRAIN_RTOL)
    assert_allclose(run.best, ref.best, rtol=TRAIN_RTOL, atol=1e-13)
    assert run.state[schedules.BEST] == -run.val_scores[: run.done].max()
    cpu = _cpu_train(X, Y, sw, train_rows[np.newaxis, :], theta, 30, *args,
                     tol=1e-3, n_iter_no_change=2, val_rows=val_rows)
    assert (cpu.done, cpu.status) == (run.done, run.status)
    assert_allclose(run.val_scores[: run.done], cpu.val_scores[: cpu.done],
                    rtol=1e-13)
    assert_allclose(run.val_losses[: run.done], cpu.val_losses[: cpu.done],
                    rtol=TWIN_RTOL)
    assert_allclose(run.theta, cpu.theta, rtol=TWIN_RTOL, atol=1e-15)
    assert_allclose(run.best, cpu.best, rtol=TWIN_RTOL, atol=1e-15)


def test_train_epochs_early_stopping_one_class_scores_one():
    """``val.trivial`` (one class): every epoch scores 1.0, so the weights after
    the first epoch stay the best and ``n_iter_no_change`` epochs later it stops."""
    X, Y, sw, theta = _problem("binary", 30)
    Y[:] = 0  # LabelBinarizer's column of a single class
    args = ("tanh", False, 0.0, "sgd", 10, "constant", 0.1)
    run = _train(X, Y, sw, np.arange(20), None, theta, 10, *args,
                 n_iter_no_change=2, val_rows=np.arange(20, 30), trivial=True)
    assert (run.done, run.status) == (4, schedules.CONVERGED)
    assert_array_equal(run.val_scores[: run.done], 1.0)
    assert run.state[schedules.BEST] == -1.0
    one_epoch = _train(X, Y, sw, np.arange(20), None, theta, 1, *args)
    assert_array_equal(run.best, one_epoch.theta)
    cpu = _cpu_train(X, Y, sw, np.arange(20)[np.newaxis, :], theta, 10, *args,
                     n_iter_no_change=2, val_rows=np.arange(20, 30), trivial=True)
    assert (cpu.done, cpu.status) == (run.done, run.status)
    assert_allclose(run.best, cpu.best, rtol=TWIN_RTOL, atol=1e-15)


def test_train_epochs_adaptive_schedule_reports_decreases_then_stops():
    """The adaptive schedule divides the learning rate by 5 (reported in
    ``curves.new_lr``) until it reaches 1e-6: LR_TOO_SMALL, as on the CPU."""
    X, Y, sw, theta = _problem("multiclass", 20)
    orders = np.arange(20)[np.newaxis, :]
    args = ("tanh", True, 0.0, "sgd", 10, "adaptive", 1e-5)
    run = _train(X, Y, sw, np.arange(20), None, theta, 12, *args, tol=10.0,
                 n_iter_no_change=1)
    ref = naive.train(X, Y, sw, orders, theta, 12, N_HIDDEN, "tanh", SLOPE, True,
                      0.0, "sgd", 10, schedule="adaptive", lr_init=1e-5, tol=10.0,
                      n_iter_no_change=1)
    assert ref.decisions[-1] == "lr_too_small"
    assert (run.done, run.status) == (len(ref.loss_curve), schedules.LR_TOO_SMALL)
    assert_allclose(run.new_lr[: run.done], ref.new_lr, rtol=1e-15)
    assert np.count_nonzero(run.new_lr[: run.done]) == 2
    assert run.state[schedules.LR] == pytest.approx(1e-5 / 25)
    cpu = _cpu_train(X, Y, sw, orders, theta, 12, *args, tol=10.0,
                     n_iter_no_change=1)
    assert (cpu.done, cpu.status) == (run.done, run.status)
    assert_array_equal(run.new_lr[: run.done], cpu.new_lr[: cpu.done])
    assert_allclose(run.theta, cpu.theta, rtol=TWIN_RTOL, atol=1e-15)


def test_train_epochs_reuses_keys_cyclically():
    """Epoch ``e`` uses ``keys[e % len(keys)]``, as the CPU uses its orders."""
    X, Y, sw, theta = _problem("binary", 17)
    rows = np.arange(17)
    keys = np.random.default_rng(8).integers(0, 2**32, size=(2, 4))
    args = ("relu", False, 0.0, "adam", 5, "constant", 0.01)
    run = _train(X, Y, sw, rows, keys, theta, 4, *args)
    cpu = _cpu_train(X, Y, sw, _feistel_orders(rows, keys), theta, 4, *args)
    assert_allclose(run.curve, cpu.curve, rtol=TWIN_RTOL)
    assert_allclose(run.theta, cpu.theta, rtol=TWIN_RTOL, atol=1e-15)


def test_feistel_keys_are_drawn_from_the_random_state():
    keys = training.feistel_keys(np.random.RandomState(0), 3)
    assert keys.shape == (3, 4) and keys.dtype == np.int64
    assert keys.min() >= 0 and keys.max() <= permutation.MASK32
    assert_array_equal(keys, training.feistel_keys(np.random.RandomState(0), 3))
    assert len({tuple(k) for k in keys.tolist()}) == 3
