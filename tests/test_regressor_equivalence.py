"""``ShallowNNRegressor`` against ``MLPRegressor``, the oracle for whole fits.

Same tolerances as the classifier's (``tests/test_classifier_equivalence.py``):
float64 weights, loss curves and losses to ``rtol=1e-8`` (``atol=1e-12`` for
entries that are zero up to rounding); ``n_iter_`` and ``t_`` equal; L-BFGS
predictions to ``rtol=1e-4``.
"""

import contextlib
import io
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.datasets import make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPRegressor

from fastnn import ShallowNNRegressor
from tests.common import assert_same_fit, mlp_params

N_SAMPLES = 150


def _data(n_targets, loss="squared_error", random_state=0):
    X, y = make_regression(N_SAMPLES, 5, n_informative=4, n_targets=n_targets,
                           noise=1.0, random_state=random_state)
    y = y / np.abs(y).max()
    if loss == "poisson":
        y = 2.0 * np.abs(y)  # counts-like, non-negative, some near 0
        y[::17] = 0.0
    return X, y


def _fit_both(X, y, sample_weight=None, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = ShallowNNRegressor(**params).fit(X, y, sample_weight=sample_weight)
        mlp = MLPRegressor(**mlp_params(params, X.shape[0]))
        mlp.fit(X, y, sample_weight=sample_weight)
    return ours, mlp


SOLVERS = [
    (dict(solver="gd", learning_rate_init=0.1), "gd"),
    (dict(solver="sgd", momentum=0.9, nesterovs_momentum=True), "sgd-nesterov"),
    (dict(solver="sgd", momentum=0.9, nesterovs_momentum=False), "sgd-momentum"),
    (dict(solver="adam", learning_rate_init=0.01), "adam"),
]


@pytest.mark.parametrize(
    "solver_params", [s for s, _ in SOLVERS], ids=[i for _, i in SOLVERS]
)
@pytest.mark.parametrize("alpha", [0.0, 1e-2])
@pytest.mark.parametrize("n_targets", [1, 3])
@pytest.mark.parametrize("loss", ["squared_error", "poisson"])
@pytest.mark.parametrize("activation",
                         ["identity", "logistic", "tanh", "relu"])
def test_matches_mlp(activation, loss, n_targets, alpha, solver_params):
    X, y = _data(n_targets, loss)
    params = dict(learning_rate_init=0.02, batch_size=50)
    params.update(solver_params)
    ours, mlp = _fit_both(
        X, y, n_hidden=8, activation=activation, loss=loss, alpha=alpha,
        max_iter=30, n_iter_no_change=30, shuffle=False, random_state=0, **params,
    )
    assert_same_fit(ours, mlp)
    assert ours.n_iter_ == 30
    assert_allclose(ours.predict(X), mlp.predict(X), rtol=1e-7, atol=1e-12)
    assert ours.predict(X).shape == y.shape
    assert_allclose(ours.score(X, y), mlp.score(X, y), rtol=1e-8)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("loss", ["squared_error", "poisson"])
def test_shuffle_matches_mlp(solver, loss):
    X, y = _data(2, loss)
    params = dict(n_hidden=8, solver=solver, loss=loss, learning_rate_init=0.02,
                  batch_size=32, max_iter=25, shuffle=True, random_state=3)
    ours, mlp = _fit_both(X, y, **params)
    assert_same_fit(ours, mlp)


@pytest.mark.parametrize("loss", ["squared_error", "poisson"])
@pytest.mark.parametrize("n_targets", [1, 2])
def test_lbfgs_matches_mlp(n_targets, loss):
    X, y = _data(n_targets, loss)
    params = dict(n_hidden=6, activation="tanh", solver="lbfgs", loss=loss,
                  max_iter=80, random_state=0)
    ours, mlp = _fit_both(X, y, **params)
    assert ours.n_iter_ == mlp.n_iter_
    # atol: targets are scaled to [-1, 1], and a prediction near 0 is not
    # compared relatively (L-BFGS amplifies rounding differences over its steps).
    assert_allclose(ours.predict(X), mlp.predict(X), rtol=1e-4, atol=1e-6)
    assert_allclose(ours.loss_, mlp.loss_, rtol=1e-4)


@pytest.mark.parametrize("n_targets", [1, 2])
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_early_stopping_matches_mlp(solver, n_targets):
    """Unstratified split, validation R^2 per epoch, best weights kept."""
    X, y = _data(n_targets)
    params = dict(n_hidden=8, solver=solver, learning_rate_init=0.05, batch_size=20,
                  max_iter=60, early_stopping=True, n_iter_no_change=4, tol=1e-3,
                  random_state=1)
    ours, mlp = _fit_both(X, y, **params)
    assert_same_fit(ours, mlp)
    assert ours.n_iter_ < 60  # the rule fired
    assert_allclose(ours.validation_scores_, mlp.validation_scores_, rtol=1e-8)
    assert_allclose(ours.best_validation_score_, mlp.best_validation_score_,
                    rtol=1e-8)


def test_sample_weight_matches_mlp():
    X, y = _data(2)
    sw = np.random.RandomState(0).uniform(0.2, 3.0, N_SAMPLES)
    ours, mlp = _fit_both(X, y, sample_weight=sw, n_hidden=8, solver="adam",
                          learning_rate_init=0.02, max_iter=20, random_state=0)
    assert_same_fit(ours, mlp)


@pytest.mark.parametrize("schedule", ["invscaling", "adaptive"])
def test_learning_rate_schedules_match_mlp(schedule):
    X, y = _data(1)
    ours, mlp = _fit_both(X, y, n_hidden=8, solver="sgd", learning_rate=schedule,
                          learning_rate_init=0.05, max_iter=60, tol=1e-2,
                          n_iter_no_change=2, shuffle=False, random_state=0)
    assert_same_fit(ours, mlp)


def test_warm_start_and_partial_fit_match_mlp():
    X, y = _data(2)
    params = dict(n_hidden=8, solver="adam", learning_rate_init=0.02, max_iter=5,
                  random_state=0)
    ours = ShallowNNRegressor(**params, warm_start=True)
    mlp = MLPRegressor(**mlp_params({**params, "warm_start": True}, N_SAMPLES))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(2):
            ours.fit(X, y)
            mlp.fit(X, y)
    assert_same_fit(ours, mlp)
    ours = ShallowNNRegressor(**params)
    mlp = MLPRegressor(**mlp_params(params, N_SAMPLES))
    for start in range(0, N_SAMPLES, 50):
        ours.partial_fit(X[start : start + 50], y[start : start + 50])
        mlp.partial_fit(X[start : start + 50], y[start : start + 50])
    assert_same_fit(ours, mlp)


@pytest.mark.parametrize("loss", ["squared_error", "poisson"])
def test_verbose_output_identical_to_mlp(loss):
    X, y = _data(1, loss)
    params = dict(n_hidden=8, solver="sgd", loss=loss, learning_rate_init=0.02,
                  max_iter=40, tol=1e-3, n_iter_no_change=3, random_state=0,
                  early_stopping=loss == "squared_error", verbose=True)
    outputs = []
    for make in (lambda: ShallowNNRegressor(**params),
                 lambda: MLPRegressor(**mlp_params(params, N_SAMPLES))):
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer), warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            make().fit(X, y)
        outputs.append(buffer.getvalue())
    assert outputs[0] == outputs[1]
    assert "Iteration 2, loss = " in outputs[0]


@pytest.mark.parametrize("loss", ["squared_error", "poisson"])
def test_float32_matches_mlp_float32(loss):
    """float32 X (and targets) train in float32; MLP mixes in float64 targets, so
    the agreement is float32's."""
    X, y = _data(2, loss)
    X32 = X.astype(np.float32)
    ours, mlp = _fit_both(X32, y.astype(np.float32), n_hidden=8, solver="adam",
                          loss=loss, learning_rate_init=0.02, max_iter=10,
                          random_state=0)
    assert ours.coefs_[0].dtype == np.float32
    assert ours.predict(X32).dtype == np.float32
    assert ours.n_iter_ == mlp.n_iter_
    for a, b in zip(ours.coefs_ + ours.intercepts_, mlp.coefs_ + mlp.intercepts_,
                    strict=True):
        assert_allclose(a, b, rtol=2e-3, atol=2e-4)
