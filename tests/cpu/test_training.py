"""CPU training kernels against the NumPy oracle in ``tests/naive.py``."""

from types import SimpleNamespace

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from fastnn.cpu import network, training
from fastnn.ops import optimizers as opt_ops
from fastnn.ops.activations import CODES
from tests import naive
from tests.common import UPDATE_RULES
from tests.common import new_state as _new_state

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
    ref, velocity, m, v = theta.copy(), np.zeros_like(theta), np.zeros(40), np.zeros(40)
    for step in range(1, 6):
        grad = rng.normal(size=40)
        training.optimizer_step(theta, grad, slot1, slot2, state,
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
        assert_allclose(theta, ref, rtol=STEP_RTOL, atol=STEP_ATOL)
        assert state[training.STEP] == step
    if solver == "sgd":
        assert_allclose(slot1, velocity, rtol=STEP_RTOL, atol=1e-15)
    if solver == "adam":
        assert_allclose(slot1, m, rtol=STEP_RTOL, atol=1e-15)
        assert_allclose(slot2, v, rtol=STEP_RTOL, atol=1e-15)


def test_optimizer_step_sgd_uses_current_learning_rate():
    """sgd / gd step with ``state[LR]`` (the schedule's), not ``lr_init``."""
    theta, grad = np.ones(4), np.full(4, 2.0)
    state = _new_state(0.01)
    for solver in (opt_ops.GD, opt_ops.SGD):
        out = theta.copy()
        training.optimizer_step(out, grad, np.zeros(4), np.zeros(4), state, solver,
                                1.0, 0.0, False, BETA_1, BETA_2, EPSILON)
        assert_allclose(out, 1.0 - 0.01 * 2.0, rtol=STEP_RTOL)


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


@pytest.mark.parametrize("n_iter_no_change", [2, np.inf])
@pytest.mark.parametrize("sequence", LOSS_SEQUENCES)
@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("solver", ["gd", "sgd", "adam"])
def test_end_of_epoch(solver, schedule, sequence, n_iter_no_change):
    lr_init, power_t, tol, n_samples = 0.1, 0.5, 1e-4, 37
    reference = naive.Stopping(solver, schedule, lr_init, power_t, tol,
                               n_iter_no_change)
    state = _new_state(lr_init)
    stopped_at = None
    for epoch, loss in enumerate(LOSS_SEQUENCES[sequence]):
        state[training.T] += n_samples  # train_epochs counts samples first
        stop = training.end_of_epoch(loss, state, opt_ops.CODES[solver],
                                     opt_ops.SCHEDULES[schedule], lr_init, power_t,
                                     tol, float(n_iter_no_change))
        expected = reference.epoch_ends(loss, n_samples)
        assert stop == expected, f"epoch {epoch}"
        assert state[training.BEST_LOSS] == reference.best_loss
        assert state[training.NO_IMPROVEMENT] == reference.no_improvement_count
        if solver != "adam":
            assert_allclose(state[training.LR], reference.learning_rate, rtol=1e-15)
        if stop:
            stopped_at = epoch
            break
    must_stop = n_iter_no_change == 2 and sequence != "improving"
    assert (stopped_at is not None) == must_stop
    if must_stop and schedule == "adaptive" and solver != "adam":
        # Eight divisions by 5 bring 0.1 below 1e-6 before the final stop.
        assert state[training.LR] <= 1e-6


def _train(X, Y, sw, orders, theta, n_epochs, act, softmax, alpha, solver,
           batch_size, schedule, lr_init, nesterov=True, tol=1e-4,
           n_iter_no_change=10, n_hidden=N_HIDDEN, blas=False, after=None,
           val_rows=None):
    """Call the kernel as the estimator does, on copies; ``after`` continues a run.

    Returns the run's ``done, status, theta, backups, slot1, slot2, state, curve``
    and, for early stopping on ``X[val_rows]``, ``best`` and ``val_scores``.
    """
    if after is None:
        run = SimpleNamespace(
            theta=theta.copy(), backups=np.stack([theta, theta]),
            slot1=np.zeros_like(theta), slot2=np.zeros_like(theta),
            state=_new_state(lr_init),
        )
    else:
        run = SimpleNamespace(**{k: getattr(after, k).copy() for k in (
            "theta", "backups", "slot1", "slot2", "state")})
    run.curve = np.full(n_epochs, np.nan)
    run.val_scores = np.full(n_epochs, np.nan)
    run.best = np.full_like(theta if after is None else after.theta, np.nan)
    val_rows = np.empty(0, dtype=np.intp) if val_rows is None else val_rows
    work = network.workspace(X.shape[1], n_hidden, Y.shape[1], batch_size, X.dtype)
    run.done, run.status = training.train_epochs(
        X, Y, sw, orders, run.theta, run.backups, run.slot1, run.slot2, run.state,
        run.curve, n_hidden, CODES[act], SLOPE, softmax, alpha,
        float(np.finfo(X.dtype).eps), opt_ops.CODES[solver], batch_size,
        opt_ops.SCHEDULES[schedule], lr_init, 0.5, 0.9, nesterov, BETA_1, BETA_2,
        EPSILON, tol, float(n_iter_no_change), blas, work, val_rows, run.best,
        run.val_scores,
    )
    return run


TRAIN_CASES = [
    # (kind, act, solver, nesterov, schedule, n, batch_size, weighted, alpha, wide)
    ("multiclass", "tanh", "gd", False, "constant", 90, 90, False, 1e-4, False),
    ("binary", "relu", "sgd", True, "invscaling", 100, 32, True, 0.0, False),
    ("multilabel", "logistic", "sgd", False, "adaptive", 45, 7, False, 0.1, False),
    # Batches of two blocks (> BLOCK_ROWS rows) and a short last batch.
    ("multiclass", "leaky_relu", "adam", False, "constant", 700, 300, True, 0.01,
     False),
    ("binary", "identity", "adam", False, "constant", 60, 200, False, 1e-4, False),
    # BLAS products and the parallel block loop.
    ("multilabel", "relu", "sgd", True, "constant", 400, 300, True, 1e-3, True),
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
    run = _train(X, Y, sw, orders, theta, 5, act, softmax, alpha, solver, batch_size,
                 schedule, lr_init, nesterov=nesterov, n_hidden=shape[1], blas=wide)
    ref = naive.train(
        X, Y, sw, orders, theta, 5, shape[1], act, SLOPE, softmax, alpha, solver,
        batch_size, schedule=schedule, lr_init=lr_init, nesterov=nesterov,
        beta_1=BETA_1, beta_2=BETA_2, epsilon=EPSILON,
    )
    assert (run.done, run.status) == (5, training.RUNNING)
    assert not ref.converged
    assert_allclose(run.curve, ref.loss_curve, rtol=TRAIN_RTOL)
    assert_allclose(run.theta, ref.theta, rtol=TRAIN_RTOL, atol=1e-13)
    assert np.abs(run.theta - theta).max() > 1e-3  # training moved the weights
    n_batches = -(-n // batch_size)
    assert run.state[training.T] == 5 * n
    assert run.state[training.STEP] == 5 * n_batches
    assert run.state[training.BEST_LOSS] == min(run.curve)


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
    assert (run.done, run.status) == (4, training.CONVERGED)
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
    assert (second.done, second.status) == (3, training.RUNNING)
    assert_array_equal(np.concatenate([first.curve, second.curve]), one.curve)
    for name in ("theta", "backups", "slot1", "slot2", "state"):
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
    assert run.status == training.DIVERGED
    assert 2 <= run.done < 30
    assert np.isfinite(run.theta).all()
    assert np.isfinite(run.curve[: run.done]).all()
    assert run.state[training.T] == run.done * 60
    # Exactly what a run of done - 1 epochs leaves, and what the oracle computes.
    before = _diverging_run(run.done - 1, solver, nesterov)
    assert before.status == training.RUNNING
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
    assert whole.status == training.DIVERGED and whole.done >= 2
    first = _diverging_run(whole.done)
    assert first.status == training.RUNNING
    second = _diverging_run(5, after=first)
    assert (second.done, second.status) == (0, training.DIVERGED)
    assert_array_equal(second.theta, whole.theta)
    assert_array_equal(second.theta, first.backups[1])


def test_train_epochs_diverged_in_first_epoch_keeps_initial_weights():
    # ||W||^2 of these weights overflows: the very first loss is inf.
    theta = _problem("multiclass", 60)[3] * 1e160
    run = _diverging_run(5, theta=theta)
    assert (run.done, run.status) == (0, training.DIVERGED)
    assert_array_equal(run.theta, theta)
    assert run.state[training.T] == 0


@pytest.mark.parametrize("blas", [False, True], ids=["loops", "blas"])
@pytest.mark.parametrize("kind", ["binary", "multiclass", "multilabel"])
def test_accuracy(kind, blas):
    X, Y, sw, theta = _problem(kind, 900, weighted=True)
    softmax = kind == "multiclass"
    rows = np.random.default_rng(4).permutation(900)[:600]  # three blocks, shuffled
    score = training.accuracy(X, Y, sw, rows, theta, N_HIDDEN, CODES["tanh"], SLOPE,
                              softmax, blas)
    expected = naive.accuracy(X[rows], Y[rows], sw[rows], theta, N_HIDDEN, "tanh",
                              SLOPE, softmax)
    assert 0.0 < expected < 1.0
    assert_allclose(score, expected, rtol=1e-12)


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
    assert (run.done, run.status) == (len(ref.loss_curve), training.CONVERGED)
    assert_allclose(run.curve[: run.done], ref.loss_curve, rtol=TRAIN_RTOL)
    assert_allclose(run.val_scores[: run.done], ref.val_scores, rtol=1e-12)
    assert_allclose(run.theta, ref.theta, rtol=TRAIN_RTOL, atol=1e-13)
    assert_allclose(run.best, ref.best, rtol=TRAIN_RTOL, atol=1e-13)
    assert run.state[training.T] == run.done * 160
    assert_allclose(run.state[training.BEST_LOSS], -max(ref.val_scores), rtol=1e-12)
