"""CPU training kernels against the NumPy oracle in ``tests/naive.py``."""

from types import SimpleNamespace

import numba
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from fastnn import _config
from fastnn.cpu import network, threads, training
from fastnn.ops import schedules
from fastnn.ops.bundles import Curves, Data, Params, Validation
from fastnn.ops.layout import Layout
from tests import naive
from tests.common import (
    UPDATE_RULES,
    compiled,
    copy_params,
    make_network,
    make_params,
    make_solver,
)
from tests.common import new_state as _new_state

# Internal kernels, called from compiled code (see tests.common.compiled).


@numba.njit(**_config._OPTIONS)
def optimizer_step(params, grad, solver):
    """One optimizer step as the fused descent takes it: step size, then update."""
    lr = training.step_size(params.state, solver)
    training.update(params.theta, grad, params.slot1, params.slot2, solver, lr)
_validate = compiled(training.validate)
#: What end_of_epoch decides, as tests/naive.py's Stopping names it.
DECISIONS = {
    schedules.CONTINUE: "continue",
    schedules.LR_DECREASED: "lr_decreased",
    schedules.STOP: "stop",
    schedules.STOP_LR_TOO_SMALL: "lr_too_small",
}
#: The statuses of train_epochs.
STATUSES = (schedules.RUNNING, schedules.CONVERGED, schedules.DIVERGED,
            schedules.LR_TOO_SMALL)

N_FEATURES = 3
N_HIDDEN = 5
# Wide enough for BLAS and the parallel block loop.
WIDE = (32, 64)
SLOPE = 0.05
# Same operations as the oracle up to fused multiply-adds (an ulp or two). Steps are
# O(0.3), so a parameter they bring near 0 needs an absolute floor.
STEP_RTOL = 1e-12
STEP_ATOL = 1e-14
# Whole epochs: the oracle sums each batch in another order (BLAS); float64.
TRAIN_RTOL = 1e-10
BETA_1, BETA_2, EPSILON = 0.9, 0.999, 1e-8
#: L2 strength of the validation-loss checks.
ALPHA_VAL = 1e-2


def _problem(kind, n_samples, seed=0, weighted=False, shape=(N_FEATURES, N_HIDDEN)):
    """Random float64 ``X, Y (uint8), sample_weight, theta``."""
    return naive.random_problem(kind, n_samples, shape, seed, weighted)


@pytest.mark.parametrize(("solver", "nesterov"), UPDATE_RULES)
def test_optimizer_step(solver, nesterov):
    rng = np.random.default_rng(0)
    theta = rng.normal(size=40)
    slot1, slot2 = np.zeros_like(theta), np.zeros_like(theta)
    lr, momentum = 0.3, 0.8
    state = _new_state(lr)
    params = Params(theta, slot1, slot2, np.stack([theta, theta]),
                    np.full_like(theta, np.nan), state)
    bundle = make_solver(solver, 1, lr_init=lr, momentum=momentum,
                         nesterov=nesterov, beta_1=BETA_1, beta_2=BETA_2,
                         epsilon=EPSILON)
    ref, velocity, m, v = theta.copy(), np.zeros_like(theta), np.zeros(40), np.zeros(40)
    for step in range(1, 6):
        grad = rng.normal(size=40)
        optimizer_step(params, grad, bundle)
        if solver == "gd":
            ref = naive.gd_update(ref, grad, lr)
        elif solver == "sgd":
            ref, velocity = naive.sgd_update(ref, grad, velocity, lr, momentum,
                                             nesterov)
        else:
            ref, m, v = naive.adam_update(ref, grad, m, v, step, lr, BETA_1, BETA_2,
                                          EPSILON)
        assert_allclose(theta, ref, rtol=STEP_RTOL, atol=STEP_ATOL)
        assert state[schedules.STEP] == step
        # The step touches the weights and slots only.
        assert state[schedules.LR] == lr
        assert np.isnan(params.best).all()
    if solver == "sgd":
        assert_allclose(slot1, velocity, rtol=STEP_RTOL, atol=1e-15)
    if solver == "adam":
        assert_allclose(slot1, m, rtol=STEP_RTOL, atol=1e-15)
        assert_allclose(slot2, v, rtol=STEP_RTOL, atol=1e-15)


def test_optimizer_step_sgd_uses_current_learning_rate():
    """sgd / gd step with ``state[LR]`` (the schedule's), not ``lr_init``."""
    theta, grad = np.ones(4), np.full(4, 2.0)
    for solver in ("gd", "sgd"):
        params = make_params(theta, 0.01)
        optimizer_step(params, grad, make_solver(solver, 1, lr_init=1.0,
                                                 momentum=0.0, nesterov=False))
        assert_allclose(params.theta, 1.0 - 0.01 * 2.0, rtol=STEP_RTOL)


def test_optimizer_step_adam_bias_corrected_step_size():
    """Adam's step size is ``lr_init sqrt(1 - beta_2^t) / (1 - beta_1^t)``.

    Its first step moves every parameter by ``lr_init`` against the gradient's sign
    (m / sqrt(v) = sign(g) after bias correction), whatever ``state[LR]`` says.
    """
    theta, grad = np.zeros(3), np.array([2.0, -0.5, 1e-3])
    params = make_params(theta, 123.0)
    optimizer_step(params, grad, make_solver("adam", 1, lr_init=0.01, beta_1=BETA_1,
                                             beta_2=BETA_2, epsilon=0.0))
    assert_allclose(params.theta, -0.01 * np.sign(grad), rtol=1e-12)
    assert params.state[schedules.STEP] == 1
    for t in (1.0, 2.0, 10.0):
        state = _new_state(0.5)
        state[schedules.STEP] = t - 1
        lr_t = schedules.step_size(state, make_solver("adam", 1, lr_init=0.01))
        assert state[schedules.STEP] == t
        assert lr_t == pytest.approx(0.01 * np.sqrt(1 - 0.999**t) / (1 - 0.9**t),
                                     rel=1e-15)
    # sgd / gd: the schedule's current rate, counted as a step too.
    state = _new_state(0.5)
    assert schedules.step_size(state, make_solver("sgd", 1)) == 0.5
    assert state[schedules.STEP] == 1


@pytest.mark.parametrize(("solver", "nesterov"), UPDATE_RULES[1:])
def test_naive_updates_match_sklearn(solver, nesterov):
    """The oracle's update rules against sklearn's optimizers themselves."""
    from sklearn.neural_network._stochastic_optimizers import (
        AdamOptimizer,
        SGDOptimizer,
    )

    rng = np.random.default_rng(1)
    param = rng.normal(size=(4, 3))
    if solver == "sgd":
        opt = SGDOptimizer([param], 0.3, momentum=0.8, nesterov=nesterov)
    else:
        opt = AdamOptimizer([param], 0.3, BETA_1, BETA_2, EPSILON)
    ref, slot1, slot2 = param.ravel().copy(), np.zeros(12), np.zeros(12)
    for step in range(1, 6):
        grad = rng.normal(size=(4, 3))
        opt.update_params([param], [grad])
        if solver == "sgd":
            ref, slot1 = naive.sgd_update(ref, grad.ravel(), slot1, 0.3, 0.8, nesterov)
        else:
            ref, slot1, slot2 = naive.adam_update(ref, grad.ravel(), slot1, slot2,
                                                  step, 0.3, BETA_1, BETA_2, EPSILON)
        assert_allclose(param.ravel(), ref, rtol=1e-14, atol=1e-15)


LOSS_SEQUENCES = {
    # Improves by more than tol, then stalls for good.
    "plateau": [2.0, 1.5, 1.2, 1.1] + [1.1] * 60,
    # Always improves, but by less than tol: counts as no improvement.
    "creeping": list(1.0 - 5e-5 * np.arange(64)),
    # Up and down around a slowly falling trend.
    "noisy": list(1.0 - 2e-3 * np.arange(64)
                  + 0.01 * np.random.default_rng(0).normal(size=64)),
    # Steady improvement by much more than tol: never stops.
    "improving": list(1.0 / (1.0 + np.arange(64))),
}
SCHEDULES = ["constant", "invscaling", "adaptive"]


#: end_of_epoch as the CUDA backend runs it (Python, on the host) and as the CPU
#: epoch loop compiles it in.
END_OF_EPOCH = pytest.mark.parametrize(
    "end_of_epoch", [schedules.end_of_epoch, compiled(training.end_of_epoch)],
    ids=["python", "compiled"],
)


@END_OF_EPOCH
@pytest.mark.parametrize("n_iter_no_change", [2, np.inf])
@pytest.mark.parametrize("sequence", LOSS_SEQUENCES)
@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("solver", ["gd", "sgd", "adam"])
def test_end_of_epoch(solver, schedule, sequence, n_iter_no_change, end_of_epoch):
    lr_init, power_t, tol, n_samples = 0.1, 0.5, 1e-4, 37
    reference = naive.Stopping(solver, schedule, lr_init, power_t, tol,
                               n_iter_no_change)
    bundle = make_solver(solver, 1, schedule, lr_init=lr_init, power_t=power_t,
                         tol=tol, n_iter_no_change=n_iter_no_change)
    state = _new_state(lr_init)
    stopped_at = None
    decisions = []
    for epoch, loss in enumerate(LOSS_SEQUENCES[sequence]):
        state[schedules.T] += n_samples  # train_epochs counts samples first
        decision = DECISIONS[end_of_epoch(float(loss), state, bundle)]
        decisions.append(decision)
        expected = reference.decide(loss, n_samples)
        assert decision == expected, f"epoch {epoch}"
        assert state[schedules.BEST] == reference.best_loss
        assert state[schedules.NO_IMPROVEMENT] == reference.no_improvement_count
        if solver != "adam":
            assert_allclose(state[schedules.LR], reference.learning_rate, rtol=1e-15)
        else:
            assert state[schedules.LR] == lr_init
        if decision in ("stop", "lr_too_small"):
            stopped_at = epoch
            break
    must_stop = n_iter_no_change == 2 and sequence != "improving"
    assert (stopped_at is not None) == must_stop
    adaptive = schedule == "adaptive" and solver != "adam"
    if must_stop and adaptive:
        # Eight divisions by 5 bring 0.1 below 1e-6 before the final stop.
        assert state[schedules.LR] <= 1e-6
        assert decisions.count("lr_decreased") == 8
        assert decisions[-1] == "lr_too_small"
    elif must_stop:
        assert decisions[-1] == "stop"
    if not adaptive:
        assert "lr_decreased" not in decisions and "lr_too_small" not in decisions


def _solver_at(solver, schedule, lr, no_improvement, n_iter_no_change=2, best=1.0,
               tol=1e-4):
    """A state one epoch without improvement away from the stopping rule."""
    state = _new_state(lr)
    state[schedules.BEST] = best
    state[schedules.NO_IMPROVEMENT] = no_improvement
    bundle = make_solver(solver, 1, schedule, lr_init=0.1, tol=tol,
                         n_iter_no_change=n_iter_no_change)
    return state, bundle


@END_OF_EPOCH
@pytest.mark.parametrize("solver", ["gd", "sgd"])
def test_end_of_epoch_constant_schedule_stops(solver, end_of_epoch):
    state, bundle = _solver_at(solver, "constant", 0.1, 2)
    assert end_of_epoch(1.0, state, bundle) == schedules.STOP
    assert state[schedules.NO_IMPROVEMENT] == 3
    assert state[schedules.LR] == 0.1


@END_OF_EPOCH
@pytest.mark.parametrize("solver", ["gd", "sgd"])
def test_end_of_epoch_adaptive_divides_by_5_and_resets_the_counter(solver,
                                                                   end_of_epoch):
    state, bundle = _solver_at(solver, "adaptive", 0.1, 2)
    assert end_of_epoch(1.0, state, bundle) == schedules.LR_DECREASED
    assert state[schedules.LR] == 0.1 / 5.0
    assert state[schedules.NO_IMPROVEMENT] == 0
    # The counter starts again: n_iter_no_change more epochs before the next cut.
    for _ in range(2):
        assert end_of_epoch(1.0, state, bundle) == schedules.CONTINUE
    assert state[schedules.NO_IMPROVEMENT] == 2
    assert end_of_epoch(1.0, state, bundle) == schedules.LR_DECREASED
    assert state[schedules.LR] == 0.1 / 5.0 / 5.0
    # An improvement by more than tol resets the counter without a cut.
    state[schedules.NO_IMPROVEMENT] = 2
    assert end_of_epoch(0.5, state, bundle) == schedules.CONTINUE
    assert state[schedules.NO_IMPROVEMENT] == 0
    assert state[schedules.BEST] == 0.5


@END_OF_EPOCH
@pytest.mark.parametrize(("lr", "decision"), [
    (1e-6, schedules.STOP_LR_TOO_SMALL),
    (5e-7, schedules.STOP_LR_TOO_SMALL),
    (np.nextafter(1e-6, 1.0), schedules.LR_DECREASED),
    (5e-6, schedules.LR_DECREASED),
])
def test_end_of_epoch_adaptive_stops_when_lr_is_too_small(lr, decision,
                                                          end_of_epoch):
    """MLP's ``learning_rate <= 1e-6``: stop; else one more division by 5."""
    state, bundle = _solver_at("sgd", "adaptive", float(lr), 2)
    assert end_of_epoch(1.0, state, bundle) == decision
    if decision == schedules.STOP_LR_TOO_SMALL:
        assert state[schedules.LR] == lr  # left as it was
        assert state[schedules.NO_IMPROVEMENT] == 3
    else:
        assert state[schedules.LR] == lr / 5.0
        assert state[schedules.NO_IMPROVEMENT] == 0


@END_OF_EPOCH
@pytest.mark.parametrize("schedule", SCHEDULES)
def test_end_of_epoch_adam_stops_and_keeps_its_lr(schedule, end_of_epoch):
    """Adam ignores the schedule: no invscaling update, no adaptive division."""
    state, bundle = _solver_at("adam", schedule, 0.1, 2)
    state[schedules.T] = 1000.0
    assert end_of_epoch(1.0, state, bundle) == schedules.STOP
    assert state[schedules.LR] == 0.1
    state, bundle = _solver_at("adam", schedule, 0.1, 0)
    state[schedules.T] = 1000.0
    assert end_of_epoch(1.0, state, bundle) == schedules.CONTINUE
    assert state[schedules.LR] == 0.1


@END_OF_EPOCH
@pytest.mark.parametrize("solver", ["gd", "sgd"])
def test_end_of_epoch_invscaling_lr(solver, end_of_epoch):
    """``lr = lr_init / (t + 1) ** power_t`` from the samples seen, every epoch."""
    state = _new_state(0.1)
    bundle = make_solver(solver, 1, "invscaling", lr_init=0.1, power_t=0.25)
    for t in (37.0, 74.0, 1e6):
        state[schedules.T] = t
        assert end_of_epoch(1.0, state, bundle) == schedules.CONTINUE
        assert state[schedules.LR] == 0.1 / (t + 1.0) ** 0.25


def _sklearn_optimizer(solver, schedule, lr_init, power_t):
    from sklearn.neural_network._stochastic_optimizers import (
        AdamOptimizer,
        SGDOptimizer,
    )

    params = [np.zeros(3)]
    if solver == "adam":
        return AdamOptimizer(params, lr_init, BETA_1, BETA_2, EPSILON)
    momentum = 0.0 if solver == "gd" else 0.9
    return SGDOptimizer(params, lr_init, schedule, momentum, True, power_t)


@END_OF_EPOCH
@pytest.mark.parametrize("n_iter_no_change", [1, 3])
@pytest.mark.parametrize("sequence", LOSS_SEQUENCES)
@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("solver", ["gd", "sgd", "adam"])
def test_end_of_epoch_matches_sklearn_optimizers(solver, schedule, sequence,
                                                 n_iter_no_change, end_of_epoch):
    """The decisions of MLPClassifier's epoch tail, driving sklearn's optimizers.

    ``_fit_stochastic``: ``t_ += n``, ``_update_no_improvement_count``,
    ``optimizer.iteration_ends(t_)``, then past ``n_iter_no_change`` epochs
    ``optimizer.trigger_stopping``: True stops (for adaptive sgd, only when the
    rate is too small), False cut the rate and resets the counter.
    """
    lr_init, power_t, tol, n_samples = 0.1, 0.5, 1e-4, 37
    opt = _sklearn_optimizer(solver, schedule, lr_init, power_t)
    bundle = make_solver(solver, 1, schedule, lr_init=lr_init, power_t=power_t,
                         tol=tol, n_iter_no_change=n_iter_no_change)
    state = _new_state(lr_init)
    best_loss, no_improvement, t = np.inf, 0, 0
    adaptive = solver != "adam" and schedule == "adaptive"
    for epoch, loss in enumerate(LOSS_SEQUENCES[sequence]):
        t += n_samples
        if loss > best_loss - tol:
            no_improvement += 1
        else:
            no_improvement = 0
        best_loss = min(best_loss, loss)
        opt.iteration_ends(t)
        expected = schedules.CONTINUE
        if no_improvement > n_iter_no_change:
            lr_before = opt.learning_rate
            if opt.trigger_stopping("", False):
                expected = (schedules.STOP_LR_TOO_SMALL
                            if adaptive and lr_before <= 1e-6 else schedules.STOP)
            else:
                expected = schedules.LR_DECREASED
                no_improvement = 0
        state[schedules.T] += n_samples
        assert end_of_epoch(float(loss), state, bundle) == expected, f"epoch {epoch}"
        assert state[schedules.NO_IMPROVEMENT] == no_improvement
        assert state[schedules.BEST] == best_loss
        assert state[schedules.T] == t
        if solver != "adam":
            assert state[schedules.LR] == opt.learning_rate, f"epoch {epoch}"
        if expected in (schedules.STOP, schedules.STOP_LR_TOO_SMALL):
            break


def _train(X, Y, sw, orders, theta, n_epochs, act, softmax, alpha, solver,
           batch_size, schedule, lr_init, nesterov=True, tol=1e-4,
           n_iter_no_change=10, n_hidden=N_HIDDEN, parallel=None, after=None,
           val_rows=None):
    """Call the kernel as the estimator does, on copies; ``after`` continues a run.

    Returns the run's ``done, status, params`` (and its fields ``theta, backups,
    slot1, slot2, state, best``), its curves ``curve, val_scores, new_lr`` and, for
    early stopping on ``X[val_rows]``, ``best`` and ``val_scores``.
    """
    params = make_params(theta, lr_init) if after is None else copy_params(
        after.params)
    # NaN everywhere the kernel should write: an epoch it skips shows.
    curves = Curves(*(np.full(n_epochs, np.nan) for _ in Curves._fields))
    val = None
    if val_rows is not None:
        out = np.full((X.shape[0], Y.shape[1]), np.nan, dtype=X.dtype)
        val = Validation(val_rows, out, False)
    net = make_network(X.shape[1], n_hidden, Y.shape[1], act, SLOPE, softmax,
                       X.dtype)
    bundle = make_solver(solver, batch_size, schedule, lr_init=lr_init, power_t=0.5,
                         momentum=0.9, nesterov=nesterov, beta_1=BETA_1,
                         beta_2=BETA_2, epsilon=EPSILON, alpha=alpha, tol=tol,
                         n_iter_no_change=n_iter_no_change)
    work = network.workspace(net.layout, batch_size, X.dtype)
    # As the estimator: one BLAS thread, numba's threads started (parallel kernels
    # loaded from the cache rely on it).
    with threads.parallel_section(network.use_blas(X.shape[1], n_hidden)):
        data = Data(X, Y, sw)
        kernels = training.epoch_kernels(data, orders[0], net, bundle, params, work,
                                         parallel, parallel)
        done, status = training.train_epochs(data, orders, net, bundle, params, work,
                                             val, curves, kernels)
    assert status in STATUSES
    return SimpleNamespace(done=done, status=status, params=params,
                           **params._asdict(), curve=curves.loss,
                           val_scores=curves.score, val_losses=curves.val_loss,
                           new_lr=curves.new_lr)


TRAIN_CASES = [
    # (kind, act, solver, nesterov, schedule, n, batch_size, weighted, alpha, wide)
    ("multiclass", "tanh", "gd", False, "constant", 90, 90, False, 1e-4, False),
    ("binary", "relu", "sgd", True, "invscaling", 100, 32, True, 0.0, False),
    ("multilabel", "logistic", "sgd", False, "adaptive", 45, 7, False, 0.1, False),
    # Batches of two blocks (> BLOCK_ROWS rows) and a short last batch.
    ("multiclass", "leaky_relu", "adam", False, "constant", 700, 300, True, 0.01,
     False),
    ("binary", "identity", "adam", False, "constant", 60, 200, False, 1e-4, False),
    # BLAS products and the parallel block loop (two blocks of 150 rows).
    ("multilabel", "relu", "sgd", True, "constant", 400, 300, True, 1e-3, True),
    ("binary", "tanh", "adam", False, "constant", 400, 300, False, 1e-3, True),
]


@pytest.mark.parametrize("shuffled", [True, False], ids=["shuffled", "in-order"])
@pytest.mark.parametrize(
    ("kind", "act", "solver", "nesterov", "schedule", "n", "batch_size", "weighted",
     "alpha", "wide"),
    TRAIN_CASES,
)
def test_train_epochs_matches_naive_loop(kind, act, solver, nesterov, schedule, n,
                                         batch_size, weighted, alpha, wide,
                                         shuffled):
    shape = WIDE if wide else (N_FEATURES, N_HIDDEN)
    X, Y, sw, theta = _problem(kind, n, weighted=weighted, shape=shape)
    softmax = kind == "multiclass"
    rng = np.random.default_rng(2)
    # Three orders for five epochs: the kernel must wrap around them.
    orders = (np.array([rng.permutation(n) for _ in range(3)]) if shuffled
              else np.arange(n)[np.newaxis, :])
    batch_size = min(batch_size, n)  # as the estimator clips it
    lr_init = 0.1 if solver != "adam" else 0.01
    parallel = None
    if wide:
        parallel = network.parallelism(Layout.of(*shape, Y.shape[1]), batch_size, 2)
        assert parallel == 2
        assert network.use_blas(*shape)
    run = _train(X, Y, sw, orders, theta, 5, act, softmax, alpha, solver, batch_size,
                 schedule, lr_init, nesterov=nesterov, n_hidden=shape[1],
                 parallel=parallel)
    ref = naive.train(
        X, Y, sw, orders, theta, 5, shape[1], act, SLOPE, softmax, alpha, solver,
        batch_size, schedule=schedule, lr_init=lr_init, nesterov=nesterov,
        beta_1=BETA_1, beta_2=BETA_2, epsilon=EPSILON,
    )
    assert (run.done, run.status) == (5, schedules.RUNNING)
    assert not ref.converged
    assert_allclose(run.curve, ref.loss_curve, rtol=TRAIN_RTOL)
    assert_allclose(run.theta, ref.theta, rtol=TRAIN_RTOL, atol=1e-13)
    assert np.abs(run.theta - theta).max() > 1e-3  # training moved the weights
    n_batches = -(-n // batch_size)
    assert run.state[schedules.T] == 5 * n
    assert run.state[schedules.STEP] == 5 * n_batches
    assert run.state[schedules.BEST] == min(run.curve)
    assert_array_equal(run.new_lr, ref.new_lr)  # no adaptive cut in five epochs
    assert np.isnan(run.best).all()  # no early stopping: never written
    # backups[1]: the weights that started the last epoch.
    four = naive.train(
        X, Y, sw, orders, theta, 4, shape[1], act, SLOPE, softmax, alpha, solver,
        batch_size, schedule=schedule, lr_init=lr_init, nesterov=nesterov,
        beta_1=BETA_1, beta_2=BETA_2, epsilon=EPSILON,
    )
    assert_allclose(run.backups[1], four.theta, rtol=TRAIN_RTOL, atol=1e-13)


def test_train_epochs_converged():
    """A tol no epoch can meet stops training after ``n_iter_no_change + 2`` epochs.

    The first epoch always improves on the initial best loss (inf).
    """
    X, Y, sw, theta = _problem("multiclass", 50)
    orders = np.arange(50)[np.newaxis, :]
    run = _train(X, Y, sw, orders, theta, 10, "tanh", True, 0.0, "sgd", 16,
                 "constant", 0.1, tol=10.0, n_iter_no_change=2)
    ref = naive.train(
        X, Y, sw, orders, theta, 10, N_HIDDEN, "tanh", SLOPE, True, 0.0, "sgd", 16,
        lr_init=0.1, tol=10.0, n_iter_no_change=2,
    )
    assert ref.converged and len(ref.loss_curve) == 4
    assert (run.done, run.status) == (4, schedules.CONVERGED)
    assert_allclose(run.curve[: run.done], ref.loss_curve, rtol=TRAIN_RTOL)
    assert_allclose(run.theta, ref.theta, rtol=TRAIN_RTOL, atol=1e-13)


def test_train_epochs_in_chunks_equals_one_call():
    """The estimator calls the kernel chunk by chunk, carrying slots and state."""
    X, Y, sw, theta = _problem("multilabel", 70, weighted=True)
    rng = np.random.default_rng(3)
    orders = np.array([rng.permutation(70) for _ in range(5)])
    args = ("relu", False, 1e-3, "adam", 20, "constant", 0.01)
    one = _train(X, Y, sw, orders, theta, 5, *args)
    first = _train(X, Y, sw, orders[:2], theta, 2, *args)
    second = _train(X, Y, sw, orders[2:], None, 3, *args, after=first)
    assert (second.done, second.status) == (3, schedules.RUNNING)
    assert_array_equal(np.concatenate([first.curve, second.curve]), one.curve)
    assert_array_equal(np.concatenate([first.new_lr, second.new_lr]), one.new_lr)
    for name in ("theta", "backups", "slot1", "slot2", "state", "best"):
        assert_array_equal(getattr(second, name), getattr(one, name), err_msg=name)


# With identity hidden units and a huge step the weights grow ~1e30-fold per epoch
# until ||W||^2 overflows in the loss: a few finite epochs, then inf. The loss
# (clipped) soon stops improving: n_iter_no_change=inf keeps the stopping rule out.
def _diverging_run(n_epochs, solver="gd", nesterov=False, theta=None, after=None):
    X, Y, sw, theta0 = _problem("multiclass", 60)
    theta = theta0 if theta is None else theta
    orders = np.arange(60)[np.newaxis, :]
    return _train(X, Y, sw, orders, theta, n_epochs, "identity", True, 0.0, solver,
                  20, "constant", 1e10, nesterov=nesterov, n_iter_no_change=np.inf,
                  after=after)


@pytest.mark.parametrize(("solver", "nesterov"), UPDATE_RULES[:3])
def test_train_epochs_diverged_restores_last_weights_with_finite_loss(solver,
                                                                      nesterov):
    """Diverging in epoch ``e`` restores the weights that started epoch ``e - 1``.

    Epoch ``e - 1``'s loss, the last finite one, was measured from those weights.
    """
    run = _diverging_run(30, solver, nesterov)
    assert run.status == schedules.DIVERGED
    assert 2 <= run.done < 30
    assert np.isfinite(run.theta).all()
    assert np.isfinite(run.curve[: run.done]).all()
    assert run.state[schedules.T] == run.done * 60
    # Exactly what a run of done - 1 epochs leaves, and what the oracle computes.
    before = _diverging_run(run.done - 1, solver, nesterov)
    assert before.status == schedules.RUNNING
    assert_array_equal(run.theta, before.theta)
    assert_array_equal(run.curve[: run.done - 1], before.curve)
    X, Y, sw, theta = _problem("multiclass", 60)
    orders = np.arange(60)[np.newaxis, :]
    naive_args = (N_HIDDEN, "identity", SLOPE, True, 0.0, solver, 20)
    ref = naive.train(X, Y, sw, orders, theta, run.done, *naive_args,
                      lr_init=1e10, nesterov=nesterov)
    assert_allclose(run.curve[: run.done], ref.loss_curve, rtol=1e-8)
    previous = naive.train(X, Y, sw, orders, theta, run.done - 1, *naive_args,
                           lr_init=1e10, nesterov=nesterov)
    assert_allclose(run.theta, previous.theta, rtol=1e-8)


def test_train_epochs_diverged_at_start_of_a_chunk_uses_carried_backups():
    whole = _diverging_run(30)
    assert whole.status == schedules.DIVERGED and whole.done >= 2
    first = _diverging_run(whole.done)
    assert first.status == schedules.RUNNING
    second = _diverging_run(5, after=first)
    assert (second.done, second.status) == (0, schedules.DIVERGED)
    assert_array_equal(second.theta, whole.theta)
    assert_array_equal(second.theta, first.backups[1])


def test_train_epochs_diverged_in_first_epoch_keeps_initial_weights():
    # ||W||^2 of these weights overflows: the very first loss is inf.
    theta = _problem("multiclass", 60)[3] * 1e160
    run = _diverging_run(5, theta=theta)
    assert (run.done, run.status) == (0, schedules.DIVERGED)
    assert_array_equal(run.theta, theta)
    assert run.state[schedules.T] == 0


def _kernel_accuracy(X, Y, sw, rows, theta, shape, softmax, batch_size, trivial=False,
                     parallel=None, alpha=ALPHA_VAL):
    """``training.validate`` on ``X[rows]``, with a workspace cut for batch_size:
    ``(score, loss)``."""
    net = make_network(*shape, Y.shape[1], "tanh", SLOPE, softmax, X.dtype)
    work = network.workspace(net.layout, batch_size, X.dtype)
    val = Validation(rows, np.full((X.shape[0], Y.shape[1]), np.nan, dtype=X.dtype),
                     trivial)
    data = Data(X, Y, sw)
    return _validate(data, val, net, theta, alpha, work,
                     network.driver_kernels(data, rows, net, theta, work, parallel))


@pytest.mark.parametrize("shape", [(N_FEATURES, N_HIDDEN), (N_FEATURES, 16)],
                         ids=["loops", "blas"])
@pytest.mark.parametrize("kind", ["binary", "multiclass", "multilabel"])
def test_accuracy(kind, shape):
    X, Y, sw, theta = _problem(kind, 900, weighted=True, shape=shape)
    softmax = kind == "multiclass"
    rows = np.random.default_rng(4).permutation(900)[:600]  # shuffled
    assert network.use_blas(*shape) == (shape[1] == 16)
    expected = naive.accuracy(X[rows], Y[rows], sw[rows], theta, shape[1], "tanh",
                              SLOPE, softmax)
    assert 0.0 < expected < 1.0
    # A workspace of one batch's blocks, smaller than the validation set: it is
    # scored in several passes (250, 250 and 100 rows), or in one.
    expected_loss = naive.loss_and_grad(X[rows], Y[rows], sw[rows], theta, shape[1],
                                        "tanh", SLOPE, softmax, ALPHA_VAL)[0]
    for batch_size in (250, 600):
        score, loss = _kernel_accuracy(X, Y, sw, rows, theta, shape, softmax,
                                       batch_size)
        assert_allclose(score, expected, rtol=1e-12)
        assert_allclose(loss, expected_loss, rtol=1e-12)


@pytest.mark.parametrize("kind", ["binary", "multiclass"])
def test_accuracy_trivial_is_one(kind):
    """One-class fits: every prediction counts as right, as MLPClassifier scores."""
    X, Y, sw, theta = _problem(kind, 100, weighted=True)
    rows = np.arange(100)
    assert naive.accuracy(X, Y, sw, theta, N_HIDDEN, "tanh", SLOPE,
                          kind == "multiclass") < 1.0
    score, loss = _kernel_accuracy(X, Y, sw, rows, theta, (N_FEATURES, N_HIDDEN),
                                   kind == "multiclass", 50, trivial=True)
    assert score == 1.0
    # The loss is still the rows' objective.
    assert_allclose(loss, naive.loss_and_grad(X, Y, sw, theta, N_HIDDEN, "tanh",
                                              SLOPE, kind == "multiclass",
                                              ALPHA_VAL)[0], rtol=1e-12)


@pytest.mark.parametrize(("output", "n_outputs"), [("identity", 3), ("exp", 1)])
def test_validate_regression(output, n_outputs):
    """A regressor's validation: R^2 as ``r2_score``, and the objective of the
    rows (half squared error averaged over the outputs, or the half Poisson
    deviance), scored in several passes."""
    X, Y, sw, theta = naive.random_regression(300, (N_FEATURES, N_HIDDEN),
                                              n_outputs, 3, True,
                                              counts=output == "exp")
    rows = np.random.default_rng(4).permutation(300)[:200]
    net = make_network(N_FEATURES, N_HIDDEN, n_outputs, "tanh", SLOPE, output,
                       X.dtype)
    work = network.workspace(net.layout, 70, X.dtype)
    val = Validation(rows, np.full(Y.shape, np.nan), False)
    data = Data(X, Y, sw)
    score, loss = _validate(data, val, net, theta, ALPHA_VAL, work,
                            network.driver_kernels(data, rows, net, theta, work))
    P = naive.forward(X[rows], theta, N_HIDDEN, n_outputs, "tanh", SLOPE, output)[3]
    assert_allclose(score, naive.r2(Y[rows], P, sw[rows]), rtol=1e-12)
    assert_allclose(loss, naive.loss_and_grad(X[rows], Y[rows], sw[rows], theta,
                                              N_HIDDEN, "tanh", SLOPE, output,
                                              ALPHA_VAL)[0], rtol=1e-12)


@pytest.mark.parametrize(("kind", "solver"), [("binary", "adam"),
                                              ("multiclass", "sgd"),
                                              ("multilabel", "gd")])
def test_train_epochs_early_stopping(kind, solver):
    """Validation accuracy drives the stopping rule; the best weights are kept."""
    X, Y, sw, theta = _problem(kind, 200, weighted=True)
    softmax = kind == "multiclass"
    rng = np.random.default_rng(5)
    perm = rng.permutation(200)
    train_rows, val_rows = np.sort(perm[:160]), np.sort(perm[160:])
    orders = np.array([rng.permutation(train_rows) for _ in range(4)])
    batch_size = 160 if solver == "gd" else 50
    args = ("tanh", softmax, 1e-3, solver, batch_size, "constant", 0.05)
    run = _train(X, Y, sw, orders, theta, 40, *args, tol=1e-3, n_iter_no_change=3,
                 val_rows=val_rows)
    ref = naive.train(X, Y, sw, orders, theta, 40, N_HIDDEN, "tanh", SLOPE, softmax,
                      1e-3, solver, batch_size, lr_init=0.05, tol=1e-3,
                      n_iter_no_change=3, val_rows=val_rows)
    assert ref.converged
    assert (run.done, run.status) == (len(ref.loss_curve), schedules.CONVERGED)
    assert_allclose(run.curve[: run.done], ref.loss_curve, rtol=TRAIN_RTOL)
    assert_allclose(run.val_scores[: run.done], ref.val_scores, rtol=1e-12)
    assert_allclose(run.val_losses[: run.done], ref.val_losses, rtol=TRAIN_RTOL)
    assert_allclose(run.theta, ref.theta, rtol=TRAIN_RTOL, atol=1e-13)
    assert_allclose(run.best, ref.best, rtol=TRAIN_RTOL, atol=1e-13)
    assert run.state[schedules.T] == run.done * 160
    assert_allclose(run.state[schedules.BEST], -max(ref.val_scores), rtol=1e-12)
    assert_array_equal(run.new_lr[: run.done], ref.new_lr)


def test_train_epochs_adaptive_until_lr_too_small():
    """Adaptive sgd divides the rate by 5 per stall, then stops: LR_TOO_SMALL.

    A tol no epoch can meet: the first epoch improves on inf, then every
    ``n_iter_no_change + 1 = 2`` epochs cut the rate, eight cuts from 0.1 to
    2.56e-7, and the next stall stops: 1 + 2 * 8 + 2 = 19 epochs.
    """
    X, Y, sw, theta = _problem("multiclass", 50)
    orders = np.arange(50)[np.newaxis, :]
    run = _train(X, Y, sw, orders, theta, 30, "tanh", True, 0.0, "sgd", 16,
                 "adaptive", 0.1, tol=10.0, n_iter_no_change=1)
    ref = naive.train(
        X, Y, sw, orders, theta, 30, N_HIDDEN, "tanh", SLOPE, True, 0.0, "sgd", 16,
        schedule="adaptive", lr_init=0.1, tol=10.0, n_iter_no_change=1,
    )
    assert ref.converged and len(ref.loss_curve) == 19
    assert ref.decisions.count("lr_decreased") == 8
    assert ref.decisions[-1] == "lr_too_small"
    assert (run.done, run.status) == (19, schedules.LR_TOO_SMALL)
    assert_allclose(run.curve[: run.done], ref.loss_curve, rtol=TRAIN_RTOL)
    assert_allclose(run.theta, ref.theta, rtol=TRAIN_RTOL, atol=1e-13)
    # new_lr: the rate each cut set (what MLP prints), 0 elsewhere.
    assert_allclose(run.new_lr[: run.done], ref.new_lr, rtol=1e-15)
    cuts = run.new_lr[: run.done][run.new_lr[: run.done] > 0]
    assert_allclose(cuts, 0.1 / 5.0 ** np.arange(1, 9), rtol=1e-15)
    assert run.state[schedules.LR] == cuts[-1]
    assert run.state[schedules.LR] <= 1e-6


def test_train_epochs_constant_schedule_converges_not_lr_too_small():
    X, Y, sw, theta = _problem("multiclass", 50)
    orders = np.arange(50)[np.newaxis, :]
    for solver in ("sgd", "adam"):
        run = _train(X, Y, sw, orders, theta, 30, "tanh", True, 0.0, solver, 16,
                     "constant", 0.1, tol=10.0, n_iter_no_change=1)
        assert (run.done, run.status) == (3, schedules.CONVERGED)
        assert_array_equal(run.new_lr[:3], 0.0)
        assert run.state[schedules.LR] == 0.1


# Serial and parallel paths give bit-identical fits. 4000 rows x 20 features and
# 64 hidden units: batches of 1000 rows in four blocks (BLAS), the parallel block
# loop pays; 128 x 128 adds the parallel parameter update (> PARALLEL_MIN_PARAMS).
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(20, 64), (128, 128)], ids=["blocks", "update"])
@pytest.mark.parametrize(("solver", "nesterov"), [("sgd", True), ("adam", False)])
def test_train_epochs_serial_and_parallel_are_bit_identical(solver, nesterov, shape,
                                                            dtype):
    n, batch_size = 4000, 1000
    X, Y, sw, theta = naive.random_problem("multiclass", n, shape, 6, True, dtype)
    layout = Layout.of(*shape, Y.shape[1])
    assert network.parallelism(layout, batch_size, 2) == 2
    assert network.block_layout(batch_size, *shape)[0] > 1
    rng = np.random.default_rng(7)
    perm = rng.permutation(n).astype(np.int32)
    train_rows, val_rows = np.sort(perm[:3000]), np.sort(perm[3000:])
    orders = np.array([rng.permutation(train_rows) for _ in range(2)])
    args = ("relu", True, 1e-3, solver, batch_size, "adaptive", 0.01)
    serial, threaded = (
        _train(X, Y, sw, orders, theta, 3, *args, nesterov=nesterov,
               n_hidden=shape[1], parallel=parallel, val_rows=val_rows)
        for parallel in (None, 2)
    )
    assert (layout.size >= network.PARALLEL_MIN_PARAMS) == (shape == (128, 128))
    assert (serial.done, serial.status) == (3, schedules.RUNNING)
    assert (threaded.done, threaded.status) == (serial.done, serial.status)
    assert np.isfinite(serial.curve).all()
    assert np.abs(serial.theta - theta).max() > 1e-4  # training moved the weights
    for name in ("curve", "val_scores", "new_lr", *Params._fields):
        a, b = getattr(serial, name), getattr(threaded, name)
        assert a.dtype == b.dtype, name
        assert a.tobytes() == b.tobytes(), name
