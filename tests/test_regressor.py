"""``ShallowNNRegressor``: scikit-learn's estimator contract, its errors, its
training control. Equivalence with MLPRegressor is in
``tests/test_regressor_equivalence.py``."""

import pickle
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.datasets import make_regression
from sklearn.exceptions import ConvergenceWarning, DataConversionWarning
from sklearn.metrics import r2_score
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from fastnn import ShallowNNRegressor
from tests.common import interrupt_fit


def _data(n_targets=1, n_samples=200, random_state=0):
    X, y = make_regression(n_samples, 6, n_informative=4, n_targets=n_targets,
                           noise=2.0, random_state=random_state)
    return X, y / np.abs(y).max()


def _fit_quietly(est, X, y, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y, **kwargs)


def _weights(est):
    return est.coefs_ + est.intercepts_


@parametrize_with_checks(
    [
        ShallowNNRegressor(),
        ShallowNNRegressor(solver="gd", activation="tanh", max_iter=50,
                           learning_rate_init=0.1),
        ShallowNNRegressor(solver="lbfgs"),
        ShallowNNRegressor(loss="poisson", activation="leaky_relu",
                           learning_rate_init=0.01),
    ]
)
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


@pytest.mark.parametrize("loss, out_activation",
                         [("squared_error", "identity"), ("poisson", "exp")])
@pytest.mark.parametrize("n_targets", [1, 3])
def test_fitted_attributes_like_mlp(n_targets, loss, out_activation):
    X, y = _data(n_targets)
    y = np.abs(y)
    reg = _fit_quietly(ShallowNNRegressor(7, loss=loss, max_iter=5, random_state=0),
                       X, y)
    mlp = _fit_quietly(MLPRegressor(hidden_layer_sizes=(7,), loss=loss, max_iter=5,
                                    random_state=0),
                       X, y)
    for name in ("n_outputs_", "n_layers_", "out_activation_", "n_iter_", "t_",
                 "n_features_in_"):
        assert getattr(reg, name) == getattr(mlp, name), name
    assert reg.out_activation_ == out_activation
    assert [c.shape for c in reg.coefs_] == [c.shape for c in mlp.coefs_]
    assert reg.predict(X).shape == y.shape
    assert reg.validation_scores_ is None and reg.best_validation_score_ is None


def test_poisson_predictions_are_exp_of_the_network():
    X, y = _data(2)
    reg = _fit_quietly(ShallowNNRegressor(5, "tanh", loss="poisson", max_iter=20,
                                          random_state=0), X, np.abs(y))
    W1, W2 = reg.coefs_
    b1, b2 = reg.intercepts_
    assert_allclose(reg.predict(X), np.exp(np.tanh(X @ W1 + b1) @ W2 + b2),
                    rtol=1e-12)
    assert (reg.predict(X) > 0).all()


def test_score_is_weighted_r2():
    X, y = _data(2)
    sw = np.random.RandomState(1).uniform(0.5, 2.0, X.shape[0])
    reg = _fit_quietly(ShallowNNRegressor(8, max_iter=30, random_state=0), X, y)
    assert_allclose(reg.score(X, y, sample_weight=sw),
                    r2_score(y, reg.predict(X), sample_weight=sw))


def test_column_vector_y_warns_and_predicts_1d():
    X, y = _data()
    with pytest.warns(DataConversionWarning):
        reg = _fit_quietly(ShallowNNRegressor(4, max_iter=3), X, y[:, None])
    assert reg.predict(X).shape == (X.shape[0],)


def test_integer_targets_train_in_float64():
    X, y = _data()
    reg = _fit_quietly(ShallowNNRegressor(4, max_iter=3, random_state=0), X,
                       np.round(10 * y).astype(int))
    assert reg.coefs_[0].dtype == np.float64


def test_float32_stays_float32():
    X, y = _data(2)
    reg = _fit_quietly(ShallowNNRegressor(4, max_iter=3, random_state=0),
                       X.astype(np.float32), y)
    assert all(a.dtype == np.float32 for a in _weights(reg))
    assert reg.predict(X.astype(np.float32)).dtype == np.float32


@pytest.mark.parametrize("X, y, match", [
    (np.ones((5, 2)), ["a", "b", "c", "d", "e"], "could not convert|numeric"),
    (np.ones((5, 2)), [0, 1, np.nan, 1, 0], "Input y contains NaN"),
    (np.ones((5, 2)), [0, 1, np.inf, 1, 0], "Input y contains infinity"),
    (np.full((5, 2), np.nan), np.ones(5), "Input X contains NaN"),
    (np.ones((5, 2)), np.ones(4), "inconsistent numbers of samples"),
])
def test_fit_rejects_bad_input(X, y, match):
    with pytest.raises(ValueError, match=match):
        ShallowNNRegressor(max_iter=2).fit(X, y)


def test_poisson_rejects_negative_targets():
    X, y = _data()
    with pytest.raises(ValueError, match="negative which is not allowed for Poisson"):
        ShallowNNRegressor(loss="poisson").fit(X, y - 10)


def test_invalid_loss_is_sklearns_parameter_error():
    with pytest.raises(ValueError, match="'loss' parameter"):
        ShallowNNRegressor(loss="log_loss").fit(*_data())


def test_warm_start_and_partial_fit_refuse_other_outputs():
    X, y = _data(2)
    reg = _fit_quietly(ShallowNNRegressor(4, max_iter=2, warm_start=True), X, y)
    with pytest.raises(ValueError, match="fitted with 2"):
        reg.fit(X, y[:, 0])
    reg = ShallowNNRegressor(4).partial_fit(X, y)
    with pytest.raises(ValueError, match=r"1 output.*fitted with 2"):
        reg.partial_fit(X, y[:, :1].ravel())


def test_partial_fit_is_unavailable_for_lbfgs_and_refuses_early_stopping():
    assert not hasattr(ShallowNNRegressor(solver="lbfgs"), "partial_fit")
    with pytest.raises(ValueError, match="early_stopping"):
        ShallowNNRegressor(early_stopping=True).partial_fit(*_data())


def test_divergence_warns_and_keeps_finite_weights():
    X, y = _data()
    reg = ShallowNNRegressor(10, "identity", solver="sgd", learning_rate_init=1e3,
                             max_iter=200, n_iter_no_change=200, random_state=0)
    with pytest.warns(ConvergenceWarning, match="diverged"):
        reg.fit(1000.0 * X, 1000.0 * y)
    assert reg.n_iter_ < 200
    assert np.isfinite(reg.loss_curve_).all()
    assert all(np.isfinite(a).all() for a in _weights(reg))
    assert np.isfinite(reg.predict(X)).all()


def test_poisson_overflow_is_caught_as_divergence():
    """exp of a huge output is inf: the loss is inf, the fit stops finite."""
    X, y = _data()
    reg = ShallowNNRegressor(10, "identity", loss="poisson", solver="sgd",
                             learning_rate_init=10.0, max_iter=100,
                             n_iter_no_change=100, random_state=0)
    with pytest.warns(ConvergenceWarning, match="diverged"):
        reg.fit(100.0 * X, 5.0 * np.abs(y))
    assert all(np.isfinite(a).all() for a in _weights(reg))


def test_early_stopping_keeps_best_weights():
    X, y = _data(n_samples=400)
    reg = _fit_quietly(ShallowNNRegressor(16, early_stopping=True, max_iter=300,
                                          learning_rate_init=0.01, random_state=0),
                       X, y)
    assert len(reg.validation_scores_) == reg.n_iter_
    assert reg.best_validation_score_ == max(reg.validation_scores_)
    assert reg.best_loss_ is None
    assert reg.best_validation_score_ > 0.8


def test_pickle_clone_pipeline_grid_search():
    X, y = _data()
    reg = _fit_quietly(ShallowNNRegressor(6, max_iter=20, random_state=0), X, y)
    again = pickle.loads(pickle.dumps(reg))
    assert_array_equal(again.predict(X), reg.predict(X))
    fresh = clone(reg)
    assert fresh.get_params() == reg.get_params() and not hasattr(fresh, "coefs_")
    pipe = make_pipeline(StandardScaler(),
                         ShallowNNRegressor(max_iter=50, learning_rate_init=0.01,
                                            random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search = GridSearchCV(pipe, {"shallownnregressor__n_hidden": [4, 16]},
                              cv=3).fit(X, y)
        scores = cross_val_score(search.best_estimator_, X, y, cv=3)
    assert search.best_params_["shallownnregressor__n_hidden"] in (4, 16)
    assert scores.mean() > 0.5


def test_verbose_and_progress_bar(capsys):
    X, y = _data()
    _fit_quietly(ShallowNNRegressor(4, max_iter=3, verbose=True, progress_bar=True),
                 X, y)
    out = capsys.readouterr()
    assert "Iteration 3, loss = " in out.out
    assert "ShallowNNRegressor" in out.err  # tqdm's description


_INTERRUPT = """
import time, warnings
import numpy as np
from fastnn import ShallowNNRegressor
from tests.common import interrupt_fit
rng = np.random.RandomState(0)
X = rng.normal(size=(20000, 20))
y = X[:, 0] + X[:, 1] ** 2
kwargs = dict(n_hidden=32, max_iter=100000, tol=0.0, n_iter_no_change=np.inf,
              random_state=0)
ShallowNNRegressor(**{**kwargs, "max_iter": 2}).fit(X[:500], y[:500])
reg = ShallowNNRegressor(**kwargs)
print("fitting", flush=True)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    reg.fit(X, y)
print("returned", time.perf_counter(), flush=True)
print("warned", any("interrupted" in str(w.message) for w in caught))
print("finite", all(np.isfinite(w).all() for w in reg.coefs_ + reg.intercepts_))
print("score", reg.score(X, y) > 0.5)
"""


def test_sigint_interrupts_fit_and_leaves_usable_model():
    delay, lines = interrupt_fit(_INTERRUPT)
    assert delay < 1.0
    assert lines == {"warned": "True", "finite": "True", "score": "True"}


@pytest.mark.parametrize("fmt", ["csr_matrix", "csc_array"])
@pytest.mark.parametrize("loss, solver", [("squared_error", "adam"),
                                          ("poisson", "sgd"),
                                          ("squared_error", "lbfgs")])
def test_sparse_fits_equal_dense_fits_and_mlp(loss, solver, fmt):
    """Sparse X trains the same network as its dense copy (the first layer by
    sparse kernels), and as MLPRegressor's sparse fit."""
    import scipy.sparse as sp

    rng = np.random.RandomState(0)
    dense = sp.random(150, 40, density=0.1, random_state=0).toarray()
    y = np.abs(dense @ rng.randn(40, 2))
    X = getattr(sp, fmt)(dense)
    params = dict(loss=loss, solver=solver, learning_rate_init=0.01, max_iter=15,
                  random_state=0, early_stopping=solver == "adam")
    ours = _fit_quietly(ShallowNNRegressor(8, **params), X, y)
    ref = _fit_quietly(ShallowNNRegressor(8, **params), dense, y)
    mlp = _fit_quietly(MLPRegressor(hidden_layer_sizes=(8,), **params), X, y)
    for a, b, c in zip(_weights(ours), _weights(ref), _weights(mlp), strict=True):
        assert_allclose(a, b, rtol=1e-10, atol=1e-13)
        assert_allclose(a, c, rtol=1e-4 if solver == "lbfgs" else 1e-8, atol=1e-10)
    assert_allclose(ours.predict(X), ref.predict(dense), rtol=1e-10)
    assert_allclose(ours.score(X, y), ref.score(dense, y), rtol=1e-10)


def test_init_normal_draws_the_lectures_weights():
    X, y = _data(2)
    reg = _fit_quietly(ShallowNNRegressor(5, solver="sgd", init="normal", max_iter=1,
                                          learning_rate_init=1e-300, random_state=3),
                       X, y)
    rs = np.random.RandomState(3)
    W1, W2 = rs.randn(5, X.shape[1]) * 0.01, rs.randn(2, 5) * 0.01
    assert_allclose(reg.coefs_[0], W1.T, rtol=1e-12)
    assert_allclose(reg.coefs_[1], W2.T, rtol=1e-12)
    assert np.abs(reg.intercepts_[1]).max() < 1e-290
