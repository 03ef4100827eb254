"""``ShallowNNRegressor(device='cuda')`` against the CPU backend, fit for fit.

The classifier's tolerances (``test_classifier_cuda.py``): deterministic fits from
the same ``random_state`` agree with the CPU backend, float64 weights to
``rtol=1e-8``, float32 to ``rtol=1e-4``.
"""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.exceptions import ConvergenceWarning

from fastnn import ShallowNNRegressor

RTOL64, ATOL64 = 1e-8, 1e-12
RTOL32, ATOL32 = 1e-4, 1e-5


def _data(n_targets=1, n_samples=36, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, 3))
    Y = np.column_stack([X[:, 0] + X[:, 1] ** 2, np.abs(X[:, 2]) + 0.5 * X[:, 0]])
    y = Y[:, :n_targets]
    return X, (y.ravel() if n_targets == 1 else y)


def _fit(device, X, y, **params):
    params = {"n_hidden": 3, "max_iter": 30, "random_state": 0, **params}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return ShallowNNRegressor(device=device, **params).fit(X, y)


def assert_same_fit(ours, ref, rtol=RTOL64, atol=ATOL64):
    assert ours.n_iter_ == ref.n_iter_
    for a, b in zip(ours.coefs_ + ours.intercepts_, ref.coefs_ + ref.intercepts_,
                    strict=True):
        assert a.dtype == b.dtype
        assert_allclose(a, b, rtol=rtol, atol=atol)
    assert_allclose(ours.loss_curve_, ref.loss_curve_, rtol=rtol)


CASES = [
    ("squared_error", 1, "tanh", {"solver": "gd", "learning_rate_init": 0.1}),
    ("squared_error", 2, "relu", {"solver": "adam", "shuffle": False,
                                  "batch_size": 16, "learning_rate_init": 0.01}),
    ("poisson", 1, "logistic", {"solver": "sgd", "shuffle": False,
                                "batch_size": 10, "learning_rate_init": 0.05}),
    ("poisson", 2, "identity", {"solver": "gd", "learning_rate_init": 0.05}),
]


@pytest.mark.parametrize("loss, n_targets, activation, params", CASES)
def test_deterministic_fit_matches_cpu_float64(loss, n_targets, activation, params):
    X, y = _data(n_targets)
    y = np.abs(y) if loss == "poisson" else y
    kwargs = dict(loss=loss, activation=activation, **params)
    gpu, cpu = _fit("cuda", X, y, **kwargs), _fit("cpu", X, y, **kwargs)
    assert gpu.device_ == "cuda" and cpu.device_ == "cpu"
    assert_same_fit(gpu, cpu)
    assert_allclose(gpu.predict(X), cpu.predict(X), rtol=1e-7, atol=1e-12)


def test_deterministic_fit_matches_cpu_float32():
    X, y = _data(2)
    X = X.astype(np.float32)
    kwargs = dict(solver="adam", shuffle=False, batch_size=16,
                  learning_rate_init=0.01)
    assert_same_fit(_fit("cuda", X, y, **kwargs), _fit("cpu", X, y, **kwargs),
                    rtol=RTOL32, atol=ATOL32)


@pytest.mark.parametrize("n_targets", [1, 2])
def test_early_stopping_on_r2_matches_cpu(n_targets):
    X, y = _data(n_targets, n_samples=60)
    kwargs = dict(solver="gd", learning_rate_init=0.1, early_stopping=True,
                  n_iter_no_change=3, tol=1e-3, max_iter=60)
    gpu, cpu = _fit("cuda", X, y, **kwargs), _fit("cpu", X, y, **kwargs)
    assert_same_fit(gpu, cpu)
    assert_allclose(gpu.validation_scores_, cpu.validation_scores_, rtol=1e-8)
    assert_allclose(gpu.validation_loss_curve_, cpu.validation_loss_curve_,
                    rtol=1e-8)
    assert_allclose(gpu.best_validation_score_, cpu.best_validation_score_,
                    rtol=1e-8)
