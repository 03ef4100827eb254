"""``to_sklearn()`` (fastnn/_export.py): the equivalent fitted MLP.

Fits are tiny and use the suite's kernel configurations (adam / sgd / gd in
float64 and float32, lbfgs in float64); activations and outputs are runtime
codes, so they compile nothing new.
"""

import io
import pickle
import warnings

import joblib
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.neural_network import MLPClassifier, MLPRegressor

from fastnn import ShallowNNClassifier, ShallowNNRegressor
from fastnn._export import FITTED
from tests.common import classification_targets
from tests.common import quiet_fit as _fit

MLP_ACTIVATIONS = ["identity", "logistic", "sigmoid", "tanh", "relu"]
DTYPES = [np.float64, np.float32]
#: predict_proba / predict agreement of the export, per dtype (relative, and
#: absolute for values near zero).
RTOL = {np.float64: 1e-12, np.float32: 1e-5}
ATOL = {np.float64: 1e-14, np.float32: 1e-7}

_rng = np.random.RandomState(0)
X = _rng.randn(40, 3)
TARGETS = classification_targets(X)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("target", sorted(TARGETS))
@pytest.mark.parametrize("activation", MLP_ACTIVATIONS)
def test_classifier_export_predicts_as_the_model(activation, target, dtype):
    Xd, y = X.astype(dtype), TARGETS[target]
    clf = _fit(ShallowNNClassifier(5, activation, max_iter=5, learning_rate_init=0.05,
                                   random_state=0), Xd, y)
    mlp = clf.to_sklearn()
    assert type(mlp) is MLPClassifier
    assert mlp.hidden_layer_sizes == (5,)
    assert mlp.activation == ("logistic" if activation == "sigmoid" else activation)
    assert mlp.coefs_[0].dtype == dtype and mlp.intercepts_[1].dtype == dtype
    assert_array_equal(mlp.predict(Xd), clf.predict(Xd))
    proba = mlp.predict_proba(Xd)
    assert proba.dtype == dtype
    assert_allclose(proba, clf.predict_proba(Xd), rtol=RTOL[dtype], atol=ATOL[dtype])
    assert mlp.score(Xd, y) == clf.score(Xd, y)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_outputs", [1, 2])
@pytest.mark.parametrize("loss", ["squared_error", "poisson"])
@pytest.mark.parametrize("activation", MLP_ACTIVATIONS)
def test_regressor_export_predicts_as_the_model(activation, loss, n_outputs, dtype):
    Xd = X.astype(dtype)
    y = np.abs(X[:, :n_outputs] + 0.5 * X[:, 1:n_outputs + 1]).astype(dtype)
    y = y.ravel() if n_outputs == 1 else y
    reg = _fit(ShallowNNRegressor(5, activation, loss=loss, max_iter=5,
                                  learning_rate_init=0.05, random_state=0), Xd, y)
    mlp = reg.to_sklearn()
    assert type(mlp) is MLPRegressor
    assert mlp.loss == loss
    assert mlp.out_activation_ == ("exp" if loss == "poisson" else "identity")
    pred = mlp.predict(Xd)
    assert pred.dtype == dtype and pred.shape == y.shape
    assert_allclose(pred, reg.predict(Xd), rtol=RTOL[dtype], atol=ATOL[dtype])
    assert_allclose(mlp.score(Xd, y), reg.score(Xd, y), atol=RTOL[dtype])


def test_export_carries_the_fitted_attributes_as_copies():
    y = TARGETS["multiclass"]
    clf = _fit(ShallowNNClassifier(4, "tanh", max_iter=4, random_state=0), X, y)
    mlp = clf.to_sklearn()
    for name in FITTED:
        if name == "feature_names_in_":  # fitted on an array: neither has it
            assert not hasattr(clf, name) and not hasattr(mlp, name)
            continue
        ours, theirs = getattr(clf, name), getattr(mlp, name)
        if name == "_label_binarizer":
            assert_array_equal(theirs.classes_, ours.classes_)
            assert theirs.y_type_ == ours.y_type_ and theirs is not ours
        elif isinstance(ours, (list, np.ndarray)):
            assert_array_equal(theirs, ours)
            assert theirs is not ours
        else:
            assert theirs == ours, name
    for ours, theirs in zip(clf.coefs_ + clf.intercepts_,
                            mlp.coefs_ + mlp.intercepts_, strict=True):
        assert_array_equal(theirs, ours)
        assert not np.shares_memory(theirs, ours)
    before = clf.coefs_[0].copy()
    mlp.partial_fit(X, y)  # trains the copy only
    assert_array_equal(clf.coefs_[0], before)


def test_export_keeps_feature_names():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(X, columns=["u", "v", "w"])
    clf = _fit(ShallowNNClassifier(4, "tanh", max_iter=4, random_state=0), df,
               TARGETS["binary"])
    mlp = clf.to_sklearn()
    assert list(mlp.feature_names_in_) == ["u", "v", "w"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "X does not have valid feature names"
        assert_array_equal(mlp.predict(df), clf.predict(df))


@pytest.mark.parametrize(
    "solver,dtype",
    [("gd", np.float64), ("sgd", np.float64), ("adam", np.float64),
     ("adam", np.float32)],
)
def test_export_partial_fit_continues_the_model(solver, dtype):
    """The optimizer state travels: both take the same next steps."""
    Xd, y = X.astype(dtype), TARGETS["multiclass"]
    clf = _fit(ShallowNNClassifier(5, "relu", solver=solver, max_iter=3,
                                   learning_rate="invscaling", batch_size=16,
                                   learning_rate_init=0.1, random_state=0), Xd, y)
    mlp = clf.to_sklearn()
    for _ in range(2):
        clf.partial_fit(Xd, y)
        mlp.partial_fit(Xd, y)
    rtol = 1e-10 if dtype == np.float64 else 1e-5
    for ours, theirs in zip(clf.coefs_ + clf.intercepts_,
                            mlp.coefs_ + mlp.intercepts_, strict=True):
        assert_allclose(theirs, ours, rtol=rtol, atol=rtol * 1e-2)
    assert_allclose(mlp.loss_curve_, clf.loss_curve_, rtol=rtol)
    assert (mlp.n_iter_, mlp.t_) == (clf.n_iter_, clf.t_)


def test_gd_exports_as_full_batch_sgd_and_refits_as_the_model():
    y = TARGETS["binary"]
    params = dict(solver="gd", learning_rate_init=0.5, max_iter=8, random_state=0)
    clf = _fit(ShallowNNClassifier(4, "tanh", **params), X, y)
    mlp = clf.to_sklearn()
    got = {k: mlp.get_params()[k] for k in
           ("solver", "momentum", "nesterovs_momentum", "shuffle", "batch_size")}
    assert got == dict(solver="sgd", momentum=0.0, nesterovs_momentum=False,
                       shuffle=False, batch_size=X.shape[0])
    refit = _fit(clone(mlp), X, y)
    for ours, theirs in zip(clf.coefs_, refit.coefs_, strict=True):
        assert_allclose(theirs, ours, rtol=1e-10)
    assert_allclose(refit.loss_curve_, clf.loss_curve_, rtol=1e-10)


def test_init_normal_exports_the_weights_and_refits_with_mlp_draws():
    """``init`` is not held (a fresh fit of the export draws MLP's Glorot
    weights), but the fitted weights are: the export predicts as the model."""
    y = TARGETS["binary"]
    params = dict(solver="gd", learning_rate_init=0.5, max_iter=8, random_state=0)
    normal = _fit(ShallowNNClassifier(4, "tanh", init="normal", **params), X, y)
    mlp = normal.to_sklearn()
    assert "init" not in mlp.get_params()
    assert_allclose(mlp.predict_proba(X), normal.predict_proba(X), rtol=1e-12)
    glorot = _fit(ShallowNNClassifier(4, "tanh", init="glorot", **params), X, y)
    refit = _fit(clone(mlp), X, y)
    assert_allclose(refit.coefs_[0], glorot.coefs_[0], rtol=1e-10)
    assert not np.allclose(refit.coefs_[0], normal.coefs_[0])


def test_lbfgs_export():
    reg = _fit(ShallowNNRegressor(4, "tanh", solver="lbfgs", max_iter=5,
                                  random_state=0), X, X[:, 0] - X[:, 1])
    mlp = reg.to_sklearn()
    assert mlp.solver == "lbfgs" and not hasattr(mlp, "_optimizer")
    assert_allclose(mlp.predict(X), reg.predict(X), rtol=1e-12)
    assert mlp.loss_ == reg.loss_ and mlp.n_iter_ == reg.n_iter_


@pytest.mark.parametrize("dtype", DTYPES)
def test_joblib_round_trip_needs_no_fastnn(dtype):
    Xd, y = X.astype(dtype), TARGETS["multilabel"]
    clf = _fit(ShallowNNClassifier(5, "logistic", solver="sgd", max_iter=3,
                                   random_state=0), Xd, y)
    mlp = clf.to_sklearn()
    # A pickle names every module it imports: none of fastnn's.
    assert b"fastnn" not in pickle.dumps(mlp)
    buffer = io.BytesIO()
    joblib.dump(mlp, buffer)
    buffer.seek(0)
    loaded = joblib.load(buffer)
    assert_array_equal(loaded.predict(Xd), clf.predict(Xd))
    assert_array_equal(loaded.predict_proba(Xd), mlp.predict_proba(Xd))


def test_leaky_relu_cannot_be_exported():
    clf = _fit(ShallowNNClassifier(4, "leaky_relu", max_iter=2, random_state=0), X,
               TARGETS["binary"])
    with pytest.raises(ValueError, match="activation='leaky_relu' cannot be "
                                         "exported to scikit-learn"):
        clf.to_sklearn()


@pytest.mark.parametrize("est", [ShallowNNClassifier(), ShallowNNRegressor()])
def test_unfitted_export_raises_not_fitted(est):
    with pytest.raises(NotFittedError, match="is not fitted yet"):
        est.to_sklearn()
