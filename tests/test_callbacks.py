"""scikit-learn's callbacks (``sklearn.callback``, 1.9) on both estimators."""

import importlib
import sys
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning

from fastnn import ShallowNNClassifier, ShallowNNRegressor, _callbacks, _epochs

callback = pytest.importorskip("sklearn.callback")

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


class Recorder:
    """Records every hook call: (hook, task name, task id, max_subtasks), and the
    fitted estimator each epoch's end hands over."""

    def __init__(self, stop_at=None):
        self.stop_at = stop_at
        self.calls = []
        self.fitted = []

    def setup(self, estimator, context):
        self.calls.append(("setup", context.task_name, None, context.max_subtasks))

    def teardown(self, estimator, context):
        self.calls.append(("teardown", context.task_name, None, None))

    def on_fit_task_begin(self, estimator, context, *, X=None, y=None,
                          metadata=None):
        self.calls.append(("begin", context.task_name, context.task_id,
                           context.max_subtasks))

    def on_fit_task_end(self, estimator, context, *, X=None, y=None, metadata=None,
                        fitted_estimator=None):
        self.calls.append(("end", context.task_name, context.task_id,
                           context.max_subtasks))
        if context.task_name != "epoch":
            return False
        self.fitted.append(fitted_estimator)
        return self.stop_at is not None and context.task_id + 1 == self.stop_at

    def epochs_ended(self):
        return [c[2] for c in self.calls if c[:2] == ("end", "epoch")]


def _classification():
    return make_classification(300, 6, n_informative=4, random_state=0)


def _regression():
    X, y = make_regression(300, 5, noise=5.0, random_state=0)
    return X, y / y.std()


ESTIMATORS = {
    "classifier": (ShallowNNClassifier, _classification, "accuracy"),
    "regressor": (ShallowNNRegressor, _regression, "r2"),
}


@pytest.mark.parametrize("kind", sorted(ESTIMATORS))
@pytest.mark.parametrize("solver", ["adam", "gd"])
def test_scoring_monitor_logs_one_score_per_epoch(kind, solver):
    """The log holds the fit and each epoch; epoch k's score is the score of a
    fit stopped after k epochs."""
    cls, data, scoring = ESTIMATORS[kind]
    X, y = data()
    params = dict(n_hidden=8, solver=solver, max_iter=6, random_state=0,
                  learning_rate_init=0.05)
    monitor = callback.ScoringMonitor(scoring=scoring)
    est = cls(**params).set_callbacks(monitor).fit(X, y)
    rows = monitor.get_logs().data
    epochs = [r for r in rows if r["task_name"] == "epoch"]
    assert [r["task_id"] for r in epochs] == list(range(6))
    assert [r["task_name"] for r in rows if r["task_name"] != "epoch"] == ["fit"]
    expected = [cls(**{**params, "max_iter": k}).fit(X, y).score(X, y)
                for k in range(1, 7)]
    assert len(set(expected)) > 1  # the score moves: the test can tell epochs apart
    assert_allclose([r[scoring] for r in epochs], expected, rtol=1e-12)
    (fit_row,) = [r for r in rows if r["task_name"] == "fit"]
    assert fit_row[scoring] == pytest.approx(est.score(X, y), rel=1e-12)


@pytest.mark.parametrize("kind", sorted(ESTIMATORS))
def test_callbacks_do_not_change_the_fit(kind):
    cls, data, _ = ESTIMATORS[kind]
    X, y = data()
    params = dict(n_hidden=8, max_iter=20, random_state=0, early_stopping=True,
                  n_iter_no_change=3)
    plain = cls(**params).fit(X, y)
    rec = Recorder()
    with_cb = cls(**params).set_callbacks(rec).fit(X, y)
    assert with_cb.n_iter_ == plain.n_iter_
    assert rec.epochs_ended() == list(range(plain.n_iter_))
    for a, b in zip(with_cb.coefs_ + with_cb.intercepts_,
                    plain.coefs_ + plain.intercepts_, strict=True):
        assert_array_equal(a, b)
    assert with_cb.loss_curve_ == plain.loss_curve_
    assert with_cb.validation_scores_ == plain.validation_scores_


def test_task_tree_fit_then_epochs():
    X, y = _classification()
    rec = Recorder()
    ShallowNNClassifier(n_hidden=4, max_iter=3, random_state=0).set_callbacks(
        rec).fit(X, y)
    assert rec.calls == [
        ("setup", "fit", None, 3),
        ("begin", "fit", 0, 3),
        ("begin", "epoch", 0, 0), ("end", "epoch", 0, 0),
        ("begin", "epoch", 1, 0), ("end", "epoch", 1, 0),
        ("begin", "epoch", 2, 0), ("end", "epoch", 2, 0),
        ("end", "fit", 0, 3),
        ("teardown", "fit", None, None),
    ]


@pytest.mark.parametrize("kind", sorted(ESTIMATORS))
def test_fitted_estimator_holds_that_epochs_weights(kind):
    """Epoch k's ``fitted_estimator`` is a fitted copy equal to a fit of k
    epochs; the estimator itself is not touched."""
    cls, data, _ = ESTIMATORS[kind]
    X, y = data()
    params = dict(n_hidden=8, max_iter=4, random_state=0)
    rec = Recorder()
    est = cls(**params).set_callbacks(rec).fit(X, y)
    assert len(rec.fitted) == 4
    for k, fitted in enumerate(rec.fitted, start=1):
        ref = cls(**{**params, "max_iter": k}).fit(X, y)
        assert fitted is not est
        assert fitted.n_iter_ == ref.n_iter_ == k
        assert fitted.t_ == ref.t_
        assert fitted.loss_curve_ == ref.loss_curve_
        assert fitted.loss_ == ref.loss_
        for a, b in zip(fitted.coefs_ + fitted.intercepts_,
                        ref.coefs_ + ref.intercepts_, strict=True):
            assert_array_equal(a, b)
        assert_array_equal(fitted.predict(X), ref.predict(X))
    assert not np.shares_memory(rec.fitted[-1].coefs_[0], est.coefs_[0])


def test_fitted_estimator_with_early_stopping():
    """With early stopping each epoch's copy holds that epoch's weights and
    curves; the fit ends with the best epoch's weights, as without callbacks."""
    X, y = _classification()
    params = dict(n_hidden=8, max_iter=12, random_state=0, early_stopping=True,
                  n_iter_no_change=100, learning_rate_init=0.05)
    rec = Recorder()
    est = ShallowNNClassifier(**params).set_callbacks(rec).fit(X, y)
    for k, fitted in enumerate(rec.fitted, start=1):
        assert fitted.validation_scores_ == est.validation_scores_[:k]
        assert fitted.validation_loss_curve_ == est.validation_loss_curve_[:k]
    best = int(np.argmax(est.validation_scores_))
    assert_array_equal(rec.fitted[best].coefs_[0], est.coefs_[0])


@pytest.mark.parametrize("kind", sorted(ESTIMATORS))
@pytest.mark.parametrize("solver", ["sgd", "lbfgs"])
def test_callback_returning_true_stops_after_that_epoch(kind, solver):
    cls, data, _ = ESTIMATORS[kind]
    X, y = data()
    params = dict(n_hidden=8, solver=solver, max_iter=50, random_state=0)
    rec = Recorder(stop_at=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # not "max_iter reached"
        est = cls(**params).set_callbacks(rec).fit(X, y)
    assert est.n_iter_ == 3
    assert rec.epochs_ended() == [0, 1, 2]
    ref = cls(**{**params, "max_iter": 3}).fit(X, y)
    # Stopping there equals a fit of 3 epochs (L-BFGS: 3 iterations).
    for a, b in zip(est.coefs_ + est.intercepts_, ref.coefs_ + ref.intercepts_,
                    strict=True):
        assert_allclose(a, b, rtol=1e-12, atol=1e-15)
    assert_allclose(rec.fitted[-1].coefs_[0], est.coefs_[0], rtol=1e-12,
                    atol=1e-15)
    if solver != "lbfgs":
        assert est.loss_curve_ == ref.loss_curve_


def test_lbfgs_one_subtask_per_iteration():
    X, y = _classification()
    rec = Recorder()
    est = ShallowNNClassifier(n_hidden=8, solver="lbfgs", max_iter=15,
                              random_state=0).set_callbacks(rec).fit(X, y)
    assert rec.epochs_ended() == list(range(est.n_iter_))
    assert [f.n_iter_ for f in rec.fitted] == list(range(1, est.n_iter_ + 1))
    assert_allclose(rec.fitted[-1].coefs_[0], est.coefs_[0])


def test_every_epoch_comes_back_only_with_callbacks(monkeypatch):
    """Callbacks make the driver run one epoch per compiled call; without them
    the chunks grow as before (no overhead)."""
    X, y = _classification()
    chunks = []
    record = _epochs.record_epochs

    def spy(est, curves, done, state):
        chunks.append(done)
        return record(est, curves, done, state)

    monkeypatch.setattr(_epochs, "record_epochs", spy)
    params = dict(n_hidden=4, solver="gd", max_iter=300, random_state=0, tol=0.0,
                  n_iter_no_change=np.inf)
    ShallowNNClassifier(**params).fit(X, y)
    assert sum(chunks) == 300 and max(chunks) > 1
    chunks.clear()
    ShallowNNClassifier(**params).set_callbacks(Recorder()).fit(X, y)
    assert chunks == [1] * 300


def test_partial_fit_calls_no_callback():
    X, y = _classification()
    rec = Recorder()
    est = ShallowNNClassifier(n_hidden=4, random_state=0).set_callbacks(rec)
    est.partial_fit(X, y, classes=[0, 1])
    assert [c[0] for c in rec.calls] == []


def test_progress_bar_runs_over_the_epochs(capsys):
    pytest.importorskip("rich")
    X, y = _classification()
    est = ShallowNNClassifier(n_hidden=4, max_iter=5, random_state=0)
    est.set_callbacks(callback.ProgressBar()).fit(X, y)
    ref = ShallowNNClassifier(n_hidden=4, max_iter=5, random_state=0).fit(X, y)
    assert_array_equal(est.coefs_[0], ref.coefs_[0])
    out = capsys.readouterr().out
    assert "ShallowNNClassifier" in out and "100%" in out


def test_set_callbacks_rejects_non_callbacks():
    with pytest.raises(TypeError, match="FitCallback protocol"):
        ShallowNNClassifier().set_callbacks(object())


def test_without_sklearn_callback_set_callbacks_says_what_it_needs(monkeypatch):
    """On scikit-learn < 1.9 (no sklearn.callback) the stand-in mixin raises a
    clear ImportError; fits without callbacks do not need the module."""
    monkeypatch.setitem(sys.modules, "sklearn.callback", None)
    try:
        old = importlib.reload(_callbacks)
        with pytest.raises(ImportError, match=r"scikit-learn >= 1\.9"):
            old.CallbackSupportMixin().set_callbacks(Recorder())
        assert old.for_fit(ShallowNNClassifier(), None, None, None, 1) is None
    finally:
        monkeypatch.delitem(sys.modules, "sklearn.callback")
        importlib.reload(_callbacks)
    assert _callbacks.CallbackSupportMixin is callback.CallbackSupportMixin
