"""Parity with ``MLPClassifier`` in corner cases: one class, early-stopping splits,
a best validation score of 0.0, and the cache directory without ``os.getuid``.

``MLPClassifier`` is run in each test; its output is never hard-coded.
"""

import os
import re
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import make_classification, make_multilabel_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
from sklearn.neural_network import _multilayer_perceptron as mlp_module

from fastnn import ShallowNNClassifier, _config, make_flower

RTOL64, ATOL64 = 1e-8, 1e-12


def _data(n_samples=60, random_state=0):
    return make_classification(n_samples, 5, n_informative=3, n_redundant=1,
                               random_state=random_state)


def _mlp(n_hidden=4, n_samples=None, **params):
    """MLPClassifier equivalent to ``ShallowNNClassifier(n_hidden, **params)``."""
    if params.get("solver") == "gd":
        params.update(solver="sgd", momentum=0.0, shuffle=False,
                      batch_size=n_samples)
    return MLPClassifier(hidden_layer_sizes=(n_hidden,), **params)


def _quiet(method, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return method(*args, **kwargs)


def _assert_same_weights(ours, mlp):
    for a, b in zip(ours.coefs_ + ours.intercepts_, mlp.coefs_ + mlp.intercepts_,
                    strict=True):
        assert_allclose(a, b, rtol=RTOL64, atol=ATOL64)


def _assert_same_predictions(ours, mlp, X):
    assert_array_equal(ours.classes_, mlp.classes_)
    assert ours.n_outputs_ == mlp.n_outputs_
    assert ours.out_activation_ == mlp.out_activation_
    assert_array_equal(ours.predict(X), mlp.predict(X))
    ours_proba, mlp_proba = ours.predict_proba(X), mlp.predict_proba(X)
    assert ours_proba.shape == mlp_proba.shape
    assert_allclose(ours_proba, mlp_proba, rtol=RTOL64, atol=ATOL64)
    assert_allclose(ours.predict_log_proba(X), mlp.predict_log_proba(X),
                    rtol=RTOL64, atol=ATOL64)


# --------------------------------------------------------------------------
# 1. One class in y
# --------------------------------------------------------------------------

@pytest.mark.parametrize("label", [7, "a"])
@pytest.mark.parametrize("solver", ["gd", "sgd", "adam", "lbfgs"])
def test_one_class_fits_and_predicts_as_mlp(solver, label):
    X, _ = _data()
    y = np.full(X.shape[0], label)
    params = dict(solver=solver, random_state=0, max_iter=20)
    ours = _quiet(ShallowNNClassifier(4, **params).fit, X, y)
    mlp = _quiet(_mlp(n_samples=X.shape[0], **params).fit, X, y)
    # MLP: classes_ == [label], one logistic output trained towards 0 (the
    # all-zero column of LabelBinarizer), predict_proba of shape (n, 2).
    assert list(mlp.classes_) == [label] and mlp.n_outputs_ == 1
    assert mlp.predict_proba(X).shape == (X.shape[0], 2)
    _assert_same_predictions(ours, mlp, X)
    assert_array_equal(ours.predict(X), y)
    assert ours.score(X, y) == mlp.score(X, y) == 1.0
    assert ours.loss_ == pytest.approx(mlp.loss_, rel=RTOL64)
    _assert_same_weights(ours, mlp)


def _one_class_early_stopping(**extra):
    X, _ = _data()
    y = np.zeros(X.shape[0], dtype=int)
    params = dict(solver="adam", random_state=0, max_iter=30,
                  early_stopping=True, n_iter_no_change=3, **extra)
    ours = _quiet(ShallowNNClassifier(4, **params).fit, X, y)
    mlp = _quiet(_mlp(**params).fit, X, y)
    return X, y, ours, mlp


def test_one_class_with_early_stopping_fits_and_predicts_as_mlp():
    X, y, ours, mlp = _one_class_early_stopping(learning_rate_init=0.05)
    assert_array_equal(ours.classes_, mlp.classes_)
    assert ours.n_outputs_ == mlp.n_outputs_ == 1
    assert_array_equal(ours.predict(X), mlp.predict(X))
    assert_array_equal(ours.predict(X), y)
    assert ours.predict_proba(X).shape == mlp.predict_proba(X).shape == (60, 2)
    assert ours.best_validation_score_ == max(ours.validation_scores_)


def test_one_class_with_early_stopping_scores_as_mlp():
    _, _, ours, mlp = _one_class_early_stopping(learning_rate_init=0.05)
    assert mlp.validation_scores_ == [1.0] * mlp.n_iter_
    assert ours.validation_scores_ == mlp.validation_scores_
    assert ours.n_iter_ == mlp.n_iter_
    _assert_same_weights(ours, mlp)


@pytest.mark.parametrize("solver", ["gd", "sgd", "adam"])
def test_one_class_partial_fit_as_mlp(solver):
    X, _ = _data()
    y = np.full(X.shape[0], 3)
    params = dict(solver=solver, random_state=0)
    ours = ShallowNNClassifier(4, **params)
    mlp = _mlp(n_samples=X.shape[0], **params)
    for _ in range(3):
        ours.partial_fit(X, y, classes=[3])
        mlp.partial_fit(X, y, classes=[3])
    assert ours.n_iter_ == mlp.n_iter_ and ours.t_ == mlp.t_
    _assert_same_predictions(ours, mlp, X)
    _assert_same_weights(ours, mlp)


def test_one_class_present_of_two_declared_in_partial_fit_as_mlp():
    X, _ = _data()
    y = np.full(X.shape[0], "a")
    ours = ShallowNNClassifier(4, random_state=0).partial_fit(
        X, y, classes=["a", "b"])
    mlp = _mlp(random_state=0).partial_fit(X, y, classes=["a", "b"])
    _assert_same_predictions(ours, mlp, X)


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_multilabel_still_matches_mlp_also_with_a_constant_label(solver):
    X, Y = make_multilabel_classification(60, 5, n_classes=3, random_state=0)
    Y[:, 1] = 0  # a label that is never on: still multilabel, as in MLP
    params = dict(solver=solver, random_state=0, max_iter=20)
    ours = _quiet(ShallowNNClassifier(4, **params).fit, X, Y)
    mlp = _quiet(_mlp(**params).fit, X, Y)
    assert ours.n_outputs_ == mlp.n_outputs_ == 3
    _assert_same_predictions(ours, mlp, X)


# --------------------------------------------------------------------------
# 2. Early-stopping validation split
# --------------------------------------------------------------------------

def _mlp_error(X, y, **params):
    with pytest.raises(ValueError) as info:
        _mlp(**params).fit(X, y)
    return str(info.value)


@pytest.mark.parametrize("labels", [(0, 1), ("no", "yes")])
def test_single_member_class_raises_mlp_error(labels):
    X, _ = _data(30)
    y = np.array([labels[0]] * 29 + [labels[1]])
    params = dict(early_stopping=True, validation_fraction=0.2, random_state=0)
    message = _mlp_error(X, y, **params)
    assert "least populated class" in message
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        ShallowNNClassifier(4, **params).fit(X, y)


def test_single_member_class_in_multiclass_is_not_stratified_as_mlp():
    # MLP stratifies only single-output targets: a multiclass y with a
    # one-member class fits.
    X, _ = _data(30)
    y = np.r_[np.zeros(15, int), np.ones(14, int), 2]
    params = dict(early_stopping=True, validation_fraction=0.2, random_state=0,
                  max_iter=5)
    ours = _quiet(ShallowNNClassifier(4, **params).fit, X, y)
    mlp = _quiet(_mlp(**params).fit, X, y)
    assert ours.validation_scores_ == pytest.approx(mlp.validation_scores_)
    _assert_same_weights(ours, mlp)


def _targets():
    X, y = _data(90, random_state=3)
    y3 = make_classification(90, 5, n_informative=3, n_redundant=1, n_classes=3,
                             random_state=3)[1]
    Y = make_multilabel_classification(90, 5, n_classes=3, random_state=3)[1]
    return X, {
        "binary": y,
        "binary-str": np.where(y == 1, "pos", "neg"),
        "multiclass": y3,
        "multilabel": Y,
        "one-class": np.zeros(90, int),
    }


@pytest.mark.parametrize("target", list(_targets()[1]))
def test_validation_split_is_mlps_sample_for_sample(monkeypatch, target):
    """Record the validation rows MLP's own train_test_split call returns."""
    X, targets = _targets()
    y = targets[target]
    X = np.column_stack([np.arange(X.shape[0]), X])  # column 0: the row index
    calls = []
    split = mlp_module.train_test_split

    def spy(*args, **kwargs):
        out = split(*args, **kwargs)
        calls.append((out[1][:, 0].astype(int), kwargs["stratify"] is not None))
        return out

    monkeypatch.setattr(mlp_module, "train_test_split", spy)
    params = dict(early_stopping=True, random_state=0, max_iter=1,
                  validation_fraction=0.2)
    _quiet(_mlp(**params).fit, X, y)
    (mlp_val, mlp_stratified), = calls

    ours = ShallowNNClassifier(4, **params)
    seen = []
    ours_split = ours._validation_split

    def spy_ours(Y):
        train, val = ours_split(Y)
        seen.append(val)
        return train, val

    monkeypatch.setattr(ours, "_validation_split", spy_ours)
    _quiet(ours.fit, X, y)
    assert_array_equal(seen[0], mlp_val)
    assert mlp_stratified == (target in ("binary", "binary-str", "one-class"))


# --------------------------------------------------------------------------
# 3. A best validation score of 0.0 survives a warm start
# --------------------------------------------------------------------------

@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_warm_start_keeps_best_validation_score_of_zero(solver):
    # learning_rate_init=1e-10 leaves the initial network's predictions as they
    # are; labelling every sample against them makes each validation accuracy
    # 0.0, so best_validation_score_ is 0.0 after the first fit.
    X, y = _data(60)
    params = dict(solver=solver, early_stopping=True, random_state=0,
                  learning_rate_init=1e-10, n_iter_no_change=2, max_iter=1,
                  validation_fraction=0.2, warm_start=True)
    y = 1 - _quiet(_mlp(**params).fit, X, y).predict(X)
    ours, mlp = ShallowNNClassifier(4, **params), _mlp(**params)
    for est in (ours, mlp):
        _quiet(est.fit, X, y)
        assert est.validation_scores_ == [0.0]
        assert est.best_validation_score_ == 0.0
    first = [w.copy() for w in ours.coefs_ + ours.intercepts_]
    mlp_first = [w.copy() for w in mlp.coefs_ + mlp.intercepts_]
    for est in (ours, mlp):
        est.set_params(max_iter=10)
        _quiet(est.fit, X, y)
    # MLP: 0.0 does not improve on the kept 0.0, so every epoch counts as no
    # improvement (it stops after n_iter_no_change + 1 epochs) and no new best
    # weights are taken.
    assert ours.n_iter_ == mlp.n_iter_ == params["n_iter_no_change"] + 1
    assert ours.validation_scores_ == mlp.validation_scores_ == [0.0] * 4
    assert ours.best_validation_score_ == mlp.best_validation_score_ == 0.0
    # We keep the best weights, the first fit's, exactly. MLP's _best_coefs are
    # the very arrays its optimizer updates in place after an early-stopping
    # fit (``coefs_ = _best_coefs``), so it returns the last epoch's weights:
    # 3 steps of 1e-10 away.
    for a, b in zip(ours.coefs_ + ours.intercepts_, first, strict=True):
        assert_array_equal(a, b)
    for ours_w, mlp_w, mlp_first_w in zip(ours.coefs_ + ours.intercepts_,
                                          mlp.coefs_ + mlp.intercepts_,
                                          mlp_first, strict=True):
        assert_allclose(mlp_w, mlp_first_w, rtol=0, atol=1e-8)
        assert_allclose(ours_w, mlp_w, rtol=0, atol=1e-8)


def test_warm_start_best_validation_score_set_to_zero_as_mlp():
    # The same with the attribute set by hand on fitted models: scores above 0.0
    # then replace it in both.
    X, y = _data(60)
    params = dict(solver="adam", early_stopping=True, random_state=0,
                  learning_rate_init=0.01, max_iter=3, warm_start=True)
    ours = _quiet(ShallowNNClassifier(4, **params).fit, X, y)
    mlp = _quiet(_mlp(**params).fit, X, y)
    ours.best_validation_score_ = mlp.best_validation_score_ = 0.0
    _quiet(ours.fit, X, y)
    _quiet(mlp.fit, X, y)
    assert ours.validation_scores_ == pytest.approx(mlp.validation_scores_)
    assert ours.best_validation_score_ == mlp.best_validation_score_
    _assert_same_weights(ours, mlp)


# --------------------------------------------------------------------------
# 4. Cache directory where os.getuid does not exist (Windows)
# --------------------------------------------------------------------------

def _reach_temp_fallback(monkeypatch, tmp_path):
    """Make _choose_cache fall through to the per-user temporary directory."""
    temp = str(tmp_path / "tmp")
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setattr(_config, "_writable", lambda path: str(path).startswith(temp))
    monkeypatch.setattr(_config.tempfile, "gettempdir", lambda: temp)
    monkeypatch.setattr(_config._numba_config, "CACHE_DIR", "")
    return temp


def test_choose_cache_uses_uid_where_it_exists(monkeypatch, tmp_path):
    if not hasattr(os, "getuid"):
        pytest.skip("no os.getuid on this platform")
    temp = _reach_temp_fallback(monkeypatch, tmp_path)
    assert _config._choose_cache() is True
    assert _config._numba_config.CACHE_DIR == os.path.join(
        temp, f"fastnn-numba-cache-{os.getuid()}")


def test_choose_cache_without_getuid_uses_user_name(monkeypatch, tmp_path):
    temp = _reach_temp_fallback(monkeypatch, tmp_path)
    monkeypatch.delattr(os, "getuid", raising=False)
    monkeypatch.setattr(_config.getpass, "getuser", lambda: "Jo Doe")
    assert _config._choose_cache() is True
    assert _config._numba_config.CACHE_DIR == os.path.join(
        temp, "fastnn-numba-cache-Jo_Doe")


def test_choose_cache_without_getuid_or_user_name(monkeypatch, tmp_path):
    temp = _reach_temp_fallback(monkeypatch, tmp_path)
    monkeypatch.delattr(os, "getuid", raising=False)

    def no_user():
        raise OSError("No username set in the environment")

    monkeypatch.setattr(_config.getpass, "getuser", no_user)
    assert _config._choose_cache() is True
    assert _config._numba_config.CACHE_DIR == os.path.join(
        temp, "fastnn-numba-cache-user")


def _verbose_output(model, X, y, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    return capsys.readouterr().out


@pytest.mark.parametrize("early_stopping", [False, True])
@pytest.mark.parametrize(
    "solver, schedule",
    [("sgd", "constant"), ("sgd", "invscaling"), ("sgd", "adaptive"),
     ("adam", "constant")],
)
def test_verbose_is_byte_identical_to_mlp(solver, schedule, early_stopping, capsys):
    # A large tol makes the stopping rule fire within a few epochs, so that the
    # adaptive schedule prints its "Setting learning rate to" lines and, after
    # enough of them, "Learning rate too small. Stopping.".
    X, y = make_flower(120)
    params = dict(solver=solver, learning_rate=schedule, learning_rate_init=0.01,
                  tol=0.5, n_iter_no_change=2, max_iter=60, random_state=0,
                  early_stopping=early_stopping, verbose=True, shuffle=False,
                  activation="tanh")
    ours = _verbose_output(ShallowNNClassifier(4, **params), X, y, capsys)
    mlp = _verbose_output(MLPClassifier((4,), **params), X, y, capsys)
    assert "did not improve" in mlp
    if schedule == "adaptive":
        assert "Setting learning rate to" in mlp
        assert "Learning rate too small. Stopping." in mlp
    assert ours == mlp
