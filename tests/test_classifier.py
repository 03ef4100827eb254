"""``ShallowNNClassifier``: estimator contract, behaviour, bad input, robustness.

The comparison with ``MLPClassifier`` fit for fit lives in
``test_classifier_equivalence.py``.
"""

import os
import pickle
import re
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from joblib import Parallel, delayed
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.datasets import make_classification, make_multilabel_classification
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.metrics import accuracy_score
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import parametrize_with_checks

from fastnn import ShallowNNClassifier, make_flower


def _data(n_classes=3, n_samples=150, random_state=0):
    return make_classification(
        n_samples, 5, n_informative=3, n_redundant=1, n_classes=n_classes,
        random_state=random_state,
    )


def _fit_quietly(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y)


def _weights(est):
    return est.coefs_ + est.intercepts_


# --------------------------------------------------------------------------
# Estimator contract
# --------------------------------------------------------------------------

# The gd instance uses learning_rate_init=0.1: with the default 1e-3, 50
# full-batch epochs do not learn the blobs of check_classifiers_train (accuracy
# below its 0.83 bar); MLPClassifier in the same configuration fails it too.
@parametrize_with_checks(
    [
        ShallowNNClassifier(),
        ShallowNNClassifier(solver="gd", activation="tanh", max_iter=50,
                            learning_rate_init=0.1),
        ShallowNNClassifier(solver="sgd", activation="leaky_relu"),
    ]
)
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


# --------------------------------------------------------------------------
# Fitted attributes and prediction methods
# --------------------------------------------------------------------------

@pytest.mark.parametrize(
    "target, n_outputs, out_activation",
    [("binary", 1, "logistic"), ("multiclass", 3, "softmax"),
     ("multilabel", 4, "logistic")],
)
def test_fitted_attributes_like_mlp(target, n_outputs, out_activation):
    if target == "multilabel":
        X, y = make_multilabel_classification(80, 5, n_classes=4, random_state=0)
    else:
        X, y = _data(2 if target == "binary" else 3, n_samples=80)
    params = dict(max_iter=7, random_state=0)
    ours = _fit_quietly(ShallowNNClassifier(n_hidden=6, **params), X, y)
    mlp = _fit_quietly(MLPClassifier(hidden_layer_sizes=(6,), **params), X, y)

    assert isinstance(ours.classes_, np.ndarray)
    assert_array_equal(ours.classes_, mlp.classes_)
    assert isinstance(ours.coefs_, list) and isinstance(ours.intercepts_, list)
    assert [c.shape for c in ours.coefs_] == [(5, 6), (6, n_outputs)]
    assert [b.shape for b in ours.intercepts_] == [(6,), (n_outputs,)]
    assert [c.shape for c in ours.coefs_] == [c.shape for c in mlp.coefs_]
    assert isinstance(ours.loss_curve_, list)
    assert len(ours.loss_curve_) == ours.n_iter_ == 7
    assert all(isinstance(v, float) for v in ours.loss_curve_)
    assert isinstance(ours.loss_, float) and ours.loss_ == ours.loss_curve_[-1]
    assert isinstance(ours.best_loss_, float)
    assert ours.best_loss_ == min(ours.loss_curve_)
    assert isinstance(ours.n_iter_, int)
    assert isinstance(ours.t_, int) and ours.t_ == 7 * X.shape[0]
    assert ours.n_features_in_ == mlp.n_features_in_ == 5
    assert not hasattr(ours, "feature_names_in_")
    assert ours.n_outputs_ == mlp.n_outputs_ == n_outputs
    assert ours.out_activation_ == mlp.out_activation_ == out_activation
    assert ours.n_layers_ == mlp.n_layers_ == 3
    assert ours.validation_scores_ is None and ours.best_validation_score_ is None


def test_feature_names_in():
    pd = pytest.importorskip("pandas")
    X, y = _data(n_samples=60)
    columns = [f"f{i}" for i in range(X.shape[1])]
    df = pd.DataFrame(X, columns=columns)
    clf = _fit_quietly(ShallowNNClassifier(n_hidden=3, max_iter=3), df, y)
    assert_array_equal(clf.feature_names_in_, columns)
    assert clf.feature_names_in_.dtype == object
    with pytest.warns(UserWarning, match="fitted with feature names"):
        clf.predict(X)


LABELS = {
    "binary-int": np.array([0, 1]),
    "multiclass-int": np.array([0, 1, 2]),
    "noncontiguous-int": np.array([-3, 5, 10]),
    "binary-str": np.array(["no", "yes"]),
    "multiclass-str": np.array(["cat", "dog", "emu"]),
    "bool": np.array([False, True]),
}


@pytest.mark.parametrize("kind", list(LABELS))
def test_predict_methods(kind):
    labels = LABELS[kind]
    X, y_idx = _data(len(labels), n_samples=200, random_state=2)
    y = labels[y_idx]
    clf = _fit_quietly(
        ShallowNNClassifier(n_hidden=16, learning_rate_init=0.02, random_state=0),
        X, y,
    )
    assert_array_equal(clf.classes_, np.sort(labels))
    pred = clf.predict(X)
    assert pred.shape == (200,)
    assert pred.dtype == y.dtype
    assert set(pred) <= set(labels)
    proba = clf.predict_proba(X)
    assert proba.shape == (200, len(labels))
    assert np.all((proba >= 0) & (proba <= 1))
    assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    assert_array_equal(pred, clf.classes_[proba.argmax(axis=1)])
    assert_allclose(clf.predict_log_proba(X), np.log(proba), rtol=1e-12)
    score = clf.score(X, y)
    assert score == accuracy_score(y, pred)
    assert score > 0.8


def test_predict_methods_multilabel():
    X, Y = make_multilabel_classification(200, 6, n_classes=3, random_state=0)
    clf = _fit_quietly(
        ShallowNNClassifier(n_hidden=16, learning_rate_init=0.05, random_state=0),
        X, Y,
    )
    assert_array_equal(clf.classes_, [0, 1, 2])
    pred = clf.predict(X)
    assert pred.shape == Y.shape
    assert set(np.unique(pred)) <= {0, 1}
    proba = clf.predict_proba(X)
    assert proba.shape == Y.shape
    assert np.all((proba >= 0) & (proba <= 1))
    # Independent logistic outputs: a row need not sum to one, and the label is
    # on exactly where its probability exceeds one half.
    assert_array_equal(pred, (proba > 0.5).astype(int))
    assert_allclose(clf.predict_log_proba(X), np.log(proba), rtol=1e-12)
    assert clf.score(X, Y) == accuracy_score(Y, pred)
    # Per-label accuracy beats predicting each label's majority value.
    majority = np.maximum(Y.mean(axis=0), 1 - Y.mean(axis=0)).mean()
    assert accuracy_score(Y.ravel(), pred.ravel()) > max(0.75, majority + 0.05)


def test_predict_proba_is_the_network_forward_pass():
    """predict_proba equals a NumPy forward pass with the fitted weights."""
    X, y = _data()
    for activation, g in [
        ("tanh", np.tanh),
        ("leaky_relu", lambda z: np.where(z > 0, z, 0.3 * z)),
    ]:
        clf = _fit_quietly(
            ShallowNNClassifier(n_hidden=7, activation=activation,
                                negative_slope=0.3, max_iter=20, random_state=0),
            X, y,
        )
        (W1, W2), (b1, b2) = clf.coefs_, clf.intercepts_
        Z = g(X @ W1 + b1) @ W2 + b2
        expected = np.exp(Z - Z.max(axis=1, keepdims=True))
        expected /= expected.sum(axis=1, keepdims=True)
        assert_allclose(clf.predict_proba(X), expected, rtol=1e-10)


def test_sigmoid_is_logistic():
    X, y = _data()
    params = dict(n_hidden=6, solver="sgd", max_iter=15, random_state=0)
    sig = _fit_quietly(ShallowNNClassifier(activation="sigmoid", **params), X, y)
    log = _fit_quietly(ShallowNNClassifier(activation="logistic", **params), X, y)
    for a, b in zip(_weights(sig), _weights(log), strict=True):
        assert_array_equal(a, b)
    assert sig.loss_curve_ == log.loss_curve_


def test_leaky_relu_with_zero_slope_is_relu():
    X, y = _data()
    params = dict(n_hidden=6, solver="sgd", max_iter=15, random_state=0)
    leaky = ShallowNNClassifier(activation="leaky_relu", negative_slope=0.0,
                                **params)
    leaky = _fit_quietly(leaky, X, y)
    relu = _fit_quietly(ShallowNNClassifier(activation="relu", **params), X, y)
    for a, b in zip(_weights(leaky), _weights(relu), strict=True):
        assert_array_equal(a, b)
    # A positive slope changes the fit, so the parameter reaches the kernels.
    sloped = ShallowNNClassifier(activation="leaky_relu", negative_slope=0.2,
                                 **params)
    sloped = _fit_quietly(sloped, X, y)
    assert not np.allclose(sloped.coefs_[0], relu.coefs_[0])


def test_flower_lecture_result():
    """The lecture's planar-data network: 4 tanh units, gd at 1.2, 10000 epochs."""
    X, y = make_flower()
    clf = ShallowNNClassifier(
        n_hidden=4, activation="tanh", solver="gd", learning_rate_init=1.2,
        max_iter=10000, tol=0.0, n_iter_no_change=10000, alpha=0.0,
        random_state=0,
    )
    with pytest.warns(ConvergenceWarning, match=r"Maximum iterations \(10000\)"):
        clf.fit(X, y)
    assert clf.n_iter_ == 10000
    assert clf.score(X, y) >= 0.90


# --------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------

def _with(X, i, j, value):
    X = X.copy()
    X[i, j] = value
    return X


X_BAD, Y_BAD = _data(2, n_samples=20)


@pytest.mark.parametrize(
    "X, y, error, match",
    [
        (_with(X_BAD, 0, 0, np.nan), Y_BAD, ValueError, "Input X contains NaN"),
        (_with(X_BAD, 3, 1, np.inf), Y_BAD, ValueError,
         "Input X contains infinity"),
        (X_BAD[:0], Y_BAD[:0], ValueError, "Found array with 0 sample"),
        (X_BAD[:, :, None], Y_BAD, ValueError, "Found array with dim 3"),
        (X_BAD[:, 0], Y_BAD, ValueError, "Expected 2D array, got 1D array"),
        (X_BAD, np.where(Y_BAD == 0, np.nan, 1.0), ValueError,
         "Input y contains NaN"),
        (X_BAD, np.linspace(0, 1, 20), ValueError, "Unknown label type"),
        (X_BAD, Y_BAD[:10], ValueError, "inconsistent numbers of samples"),
        (X_BAD + 1j, Y_BAD, ValueError, "Complex data not supported"),
    ],
    ids=["nan", "inf", "empty", "3d", "1d", "y-nan",
         "y-continuous", "y-length", "complex"],
)
def test_fit_rejects_bad_input(X, y, error, match):
    with pytest.raises(error, match=match):
        ShallowNNClassifier(max_iter=2).fit(X, y)


@pytest.mark.parametrize(
    "X, error, match",
    [
        (X_BAD[:, :4], ValueError,
         "X has 4 features, but ShallowNNClassifier is expecting 5"),
        (_with(X_BAD, 0, 0, np.nan), ValueError, "Input X contains NaN"),
        (sp.csr_matrix(X_BAD[:, :4]), ValueError,
         "X has 4 features, but ShallowNNClassifier is expecting 5"),
    ],
    ids=["n-features", "nan", "sparse-n-features"],
)
@pytest.mark.parametrize("method", ["predict", "predict_proba", "score"])
def test_predict_rejects_bad_input(method, X, error, match):
    clf = _fit_quietly(ShallowNNClassifier(max_iter=2), X_BAD, Y_BAD)
    args = (X, Y_BAD) if method == "score" else (X,)
    with pytest.raises(error, match=match):
        getattr(clf, method)(*args)


@pytest.mark.parametrize("method", ["predict", "predict_proba", "predict_log_proba"])
def test_not_fitted(method):
    with pytest.raises(NotFittedError, match="is not fitted yet"):
        getattr(ShallowNNClassifier(), method)(X_BAD)


@pytest.mark.parametrize(
    "params",
    [
        dict(n_hidden=0), dict(n_hidden=2.5), dict(activation="foo"),
        dict(activation="softmax"), dict(solver="newton"),
        dict(learning_rate_init=0), dict(negative_slope=-1), dict(alpha=-1.0),
        dict(batch_size=0), dict(learning_rate="optimal"), dict(max_iter=0),
        dict(momentum=1.5), dict(beta_1=1.0), dict(beta_2=-0.1),
        dict(epsilon=0.0), dict(tol=-1e-3), dict(n_iter_no_change=0),
        dict(power_t=-0.5), dict(shuffle="yes"),
    ],
    ids=lambda p: "-".join(f"{k}={v}" for k, v in p.items()),
)
def test_invalid_parameters(params):
    (name,) = params
    with pytest.raises(InvalidParameterError, match=f"'{name}' parameter"):
        ShallowNNClassifier(**params).fit(X_BAD, Y_BAD)


# --------------------------------------------------------------------------
# Non-finite guard
# --------------------------------------------------------------------------

@pytest.mark.parametrize("target", ["binary", "multiclass"])
@pytest.mark.parametrize("scaled", [True, False], ids=["scaled", "unscaled"])
@pytest.mark.parametrize("solver", ["sgd", "gd"])
@pytest.mark.parametrize("activation", ["relu", "identity"])
def test_divergence_warns_and_keeps_finite_weights(activation, solver, scaled,
                                                   target):
    X, y = _data(2 if target == "binary" else 3, n_samples=200)
    X = StandardScaler().fit_transform(X) if scaled else 1000.0 * X + 50.0
    # n_iter_no_change=max_iter so that the stopping rule cannot end the fit
    # before the weights overflow.
    clf = ShallowNNClassifier(
        n_hidden=10, activation=activation, solver=solver, learning_rate_init=1e4,
        max_iter=200, n_iter_no_change=200, random_state=0,
    )
    with pytest.warns(ConvergenceWarning, match="diverged") as record:
        clf.fit(X, y)
    assert any("learning_rate_init" in str(w.message) for w in record)
    assert clf.n_iter_ < 200
    assert len(clf.loss_curve_) == clf.n_iter_
    assert np.all(np.isfinite(clf.loss_curve_))
    for a in _weights(clf):
        assert np.all(np.isfinite(a))
    proba = clf.predict_proba(X)
    assert np.all(np.isfinite(proba)), (
        f"{np.isnan(proba).any(axis=1).sum()} of {len(X)} rows of predict_proba "
        "are NaN"
    )
    assert_allclose(proba.sum(axis=1), 1.0)
    assert set(clf.predict(X)) <= set(clf.classes_)


@pytest.mark.parametrize("activation", ["tanh", "logistic"])
def test_huge_learning_rate_bounded_activation_stays_finite(activation):
    X, y = _data()
    clf = ShallowNNClassifier(n_hidden=10, activation=activation, solver="sgd",
                              learning_rate_init=1e4, max_iter=50, random_state=0)
    clf = _fit_quietly(clf, X, y)
    for a in _weights(clf):
        assert np.all(np.isfinite(a))
    assert np.all(np.isfinite(clf.predict_proba(X)))


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize(
    "activation", ["identity", "logistic", "tanh", "relu", "leaky_relu"]
)
def test_huge_inputs_give_finite_probabilities(activation, n_classes):
    X, y = _data(n_classes)
    X_huge = X * 1e30
    clf = _fit_quietly(
        ShallowNNClassifier(n_hidden=10, activation=activation, max_iter=5,
                            random_state=0),
        X_huge, y,
    )
    assert np.all(np.isfinite(clf.loss_curve_))
    for a in _weights(clf):
        assert np.all(np.isfinite(a))
    for data in (X_huge, X):
        proba = clf.predict_proba(data)
        assert np.all(np.isfinite(proba))
        assert_allclose(proba.sum(axis=1), 1.0)
    # A model fit on ordinary data also predicts huge inputs without NaN.
    clf = _fit_quietly(
        ShallowNNClassifier(n_hidden=10, activation=activation, max_iter=5,
                            random_state=0),
        X, y,
    )
    proba = clf.predict_proba(X_huge)
    assert np.all(np.isfinite(proba))
    assert_allclose(proba.sum(axis=1), 1.0)


# --------------------------------------------------------------------------
# pickle, clone, meta-estimators
# --------------------------------------------------------------------------

def test_pickle_round_trip():
    X, y = _data()
    clf = _fit_quietly(ShallowNNClassifier(n_hidden=5, max_iter=10, random_state=0),
                       X, y)
    restored = pickle.loads(pickle.dumps(clf))
    assert_array_equal(restored.predict(X), clf.predict(X))
    assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))
    assert restored.loss_curve_ == clf.loss_curve_
    for a, b in zip(_weights(restored), _weights(clf), strict=True):
        assert_array_equal(a, b)


def test_clone_is_unfitted_with_same_params():
    X, y = _data()
    clf = ShallowNNClassifier(n_hidden=5, activation="leaky_relu", solver="sgd",
                              negative_slope=0.05, max_iter=10, random_state=3)
    _fit_quietly(clf, X, y)
    copy = clone(clf)
    assert copy.get_params() == clf.get_params()
    assert not hasattr(copy, "coefs_")
    with pytest.raises(NotFittedError):
        copy.predict(X)
    _fit_quietly(copy, X, y)
    for a, b in zip(_weights(copy), _weights(clf), strict=True):
        assert_array_equal(a, b)


def test_pipeline_grid_search_and_cross_val_score():
    X, y = _data(n_samples=200)
    X = 100.0 * X + 5.0  # the scaler has work to do
    pipe = make_pipeline(
        StandardScaler(),
        ShallowNNClassifier(learning_rate_init=0.01, max_iter=100, random_state=0),
    )
    grid = {
        "shallownnclassifier__n_hidden": [4, 16],
        "shallownnclassifier__activation": ["relu", "tanh"],
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search = GridSearchCV(pipe, grid, cv=3, n_jobs=2).fit(X, y)
        scores = cross_val_score(pipe, X, y, cv=3)
    assert search.best_params_["shallownnclassifier__n_hidden"] in (4, 16)
    assert search.best_params_["shallownnclassifier__activation"] in ("relu", "tanh")
    assert len(search.cv_results_["params"]) == 4
    assert search.best_score_ > 0.75
    assert search.score(X, y) > 0.8
    assert scores.shape == (3,)
    assert np.all(scores > 0.7)


# --------------------------------------------------------------------------
# Threads
# --------------------------------------------------------------------------

def _thread_jobs():
    """Three different fits of ~0.1-0.2 s each, long enough to overlap."""
    X1, y1 = _data(3, n_samples=2000, random_state=0)
    X2, y2 = _data(2, n_samples=1500, random_state=1)
    return [
        (X1, y1, dict(n_hidden=32, solver="adam", activation="relu",
                      max_iter=60, random_state=0)),
        (X2, y2, dict(n_hidden=24, solver="sgd", activation="tanh",
                      learning_rate_init=0.05, max_iter=100, random_state=1)),
        (X1.astype(np.float32), y1, dict(n_hidden=16, solver="gd",
                                         activation="logistic",
                                         learning_rate_init=0.5, max_iter=1000,
                                         random_state=2)),
    ]


def _fit_job(X, y, params):
    # No warnings.catch_warnings here: it is not thread-safe; the test's
    # filterwarnings mark silences the ConvergenceWarnings instead.
    return _weights(ShallowNNClassifier(**params).fit(X, y))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_threaded_fits_equal_sequential_fits():
    jobs = _thread_jobs()
    sequential = [_fit_job(*job) for job in jobs]
    for _ in range(3):
        threaded = Parallel(n_jobs=2, backend="threading")(
            delayed(_fit_job)(*job) for job in jobs
        )
        for seq, thr in zip(sequential, threaded, strict=True):
            for a, b in zip(seq, thr, strict=True):
                assert_array_equal(a, b)


_THREADED_GRID_SEARCH = textwrap.dedent(
    """
    import warnings

    import numba
    import numpy as np
    from joblib import parallel_backend
    from sklearn.datasets import make_classification
    from sklearn.model_selection import GridSearchCV
    from fastnn import ShallowNNClassifier

    warnings.simplefilter("ignore")
    X, y = make_classification(300, 6, n_informative=4, n_classes=3,
                               random_state=0)
    grid = {"n_hidden": [4, 12], "activation": ["relu", "tanh"]}
    est = ShallowNNClassifier(max_iter=40, learning_rate_init=0.01, random_state=0)
    with parallel_backend("threading", n_jobs=2):
        search = GridSearchCV(est, grid, cv=3).fit(X, y)
    sequential = GridSearchCV(est, grid, cv=3, n_jobs=1).fit(X, y)
    assert np.array_equal(search.cv_results_["mean_test_score"],
                          sequential.cv_results_["mean_test_score"])
    try:
        layer = numba.threading_layer()
    except ValueError:  # no parallel (prange) kernel has run
        layer = "none"
    print("layer", layer)
    """
)


@pytest.mark.parametrize("layer", ["workqueue", "omp"])
def test_threading_layers_in_subprocess(layer):
    env = dict(os.environ, NUMBA_THREADING_LAYER=layer)
    result = subprocess.run(
        [sys.executable, "-c", _THREADED_GRID_SEARCH],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    # Once a kernel uses prange, the requested layer must be the one that ran.
    assert result.stdout.split()[-1] in (layer, "none"), result.stdout


# --------------------------------------------------------------------------
# verbose and warnings
# --------------------------------------------------------------------------

def test_verbose_prints_loss_curve(capsys):
    X, y = _data()
    clf = _fit_quietly(
        ShallowNNClassifier(n_hidden=5, max_iter=12, verbose=True, random_state=0),
        X, y,
    )
    lines = capsys.readouterr().out.splitlines()
    found = [re.fullmatch(r"Iteration (\d+), loss = (\d+\.\d{8})", line)
             for line in lines]
    assert all(found), lines
    assert [int(m.group(1)) for m in found] == list(range(1, 13))
    assert [m.group(2) for m in found] == [f"{v:.8f}" for v in clf.loss_curve_]


def test_not_verbose_prints_nothing(capsys):
    X, y = _data()
    _fit_quietly(ShallowNNClassifier(n_hidden=5, max_iter=3), X, y)
    assert capsys.readouterr().out == ""


def test_convergence_warning_only_when_max_iter_is_hit():
    X, y = _data()
    with pytest.warns(ConvergenceWarning, match=r"Maximum iterations \(5\) reached"):
        ShallowNNClassifier(n_hidden=5, max_iter=5, random_state=0).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = ShallowNNClassifier(n_hidden=5, max_iter=500, tol=0.1,
                                  random_state=0).fit(X, y)
    assert clf.n_iter_ < 500


@pytest.mark.parametrize(
    "y",
    [
        np.array([3, 1, 3, 1, 1]),
        np.array([2, 0, 1, 2, 2, 0]),
        np.array(["b", "a", "c", "a"]),
        np.array(["no", "yes", "yes"], dtype=object),
        np.array([[1, 0, 1], [0, 0, 1], [1, 1, 0]]),
    ],
    ids=["binary", "multiclass", "strings", "objects", "multilabel"],
)
def test_binarize_matches_label_binarizer(y):
    """The indicator built from class codes is exactly LabelBinarizer's."""
    from sklearn.preprocessing import LabelBinarizer

    clf = ShallowNNClassifier()
    clf._label_binarizer = LabelBinarizer().fit(y)
    Y = clf._binarize(y, np.float32)
    assert Y.dtype == np.float32  # the dtype of X: the regressor's kernels
    assert_array_equal(Y, clf._label_binarizer.transform(y))


def test_float32_class_weight_trains_in_float32_like_sample_weight(monkeypatch):
    from sklearn.utils.class_weight import compute_sample_weight

    from fastnn.cpu import training

    # Record the arrays the estimator hands the epoch kernel: targets and sample
    # weights must reach it in X's dtype, so that no mixed variant of the float32
    # kernels is compiled (precompile would not cover it).
    seen = []
    kernel = training.train_epochs

    def recording(data, *args):
        seen.append(tuple(a.dtype for a in data))
        return kernel(data, *args)

    monkeypatch.setattr(training, "train_epochs", recording)
    X, y = _data(n_classes=3)
    X = X.astype(np.float32)
    params = dict(max_iter=5, random_state=0)
    weighted = ShallowNNClassifier(6, class_weight="balanced", **params).fit(X, y)
    sw = compute_sample_weight("balanced", y).astype(np.float32)
    explicit = ShallowNNClassifier(6, **params).fit(X, y, sample_weight=sw)
    for a, b in zip(weighted.coefs_ + weighted.intercepts_,
                    explicit.coefs_ + explicit.intercepts_, strict=True):
        assert a.dtype == np.float32
        assert_array_equal(a, b)
    assert seen and set(seen) == {(np.dtype(np.float32),) * 3}


def test_init_normal_draws_the_lectures_weights():
    X, y = make_flower()
    clf = ShallowNNClassifier(4, "tanh", solver="gd", init="normal", max_iter=1,
                              learning_rate_init=1e-300, random_state=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    rs = np.random.RandomState(2)
    W1, W2 = rs.randn(4, 2) * 0.01, rs.randn(1, 4) * 0.01
    # One step of a vanishing learning rate leaves the initial weights.
    assert_allclose(clf.coefs_[0], W1.T, rtol=1e-12)
    assert_allclose(clf.coefs_[1], W2.T, rtol=1e-12)
    assert_allclose(clf.intercepts_[0], 0.0, atol=1e-290)
    glorot = ShallowNNClassifier(4, "tanh", solver="gd", max_iter=1,
                                 random_state=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        glorot.fit(X, y)
    assert not np.allclose(glorot.coefs_[0], clf.coefs_[0])


def test_init_normal_reproduces_the_lectures_hidden_layer_study():
    """The lecture's table, to the sample: tanh, gd, learning rate 1.2, 5000
    epochs, its initialisation seeded with 2, accuracy on the training set."""
    X, y = make_flower()
    lecture = {1: 67.5, 2: 67.25, 3: 90.75, 4: 90.5, 5: 91.25}
    for n_hidden, accuracy in lecture.items():
        clf = ShallowNNClassifier(n_hidden, "tanh", solver="gd", init="normal",
                                  learning_rate_init=1.2, max_iter=5000, alpha=0.0,
                                  n_iter_no_change=np.inf, random_state=2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X, y)
        assert clf.n_iter_ == 5000
        assert round(100 * clf.score(X, y), 2) == accuracy, n_hidden
