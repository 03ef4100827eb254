"""Training control: early stopping, warm start, partial_fit, lbfgs, weights.

``MLPClassifier`` is the oracle wherever it has the feature: float64 fits must
agree to ``rtol=1e-8`` (``atol=1e-12`` only for entries that are zero up to
rounding), as in ``test_classifier_equivalence``.
"""

import textwrap
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_digits, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import recall_score
from sklearn.neural_network import MLPClassifier, MLPRegressor

from fastnn import ShallowNNClassifier, ShallowNNRegressor
from tests.common import interrupt_fit

RTOL64, ATOL64 = 1e-8, 1e-12
# MLP emulates "gd" with a batch larger than the data set and warns about it.
pytestmark = pytest.mark.filterwarnings("ignore:Got `batch_size`:UserWarning")


def _data(n_classes=3, n_samples=150, random_state=0):
    return make_classification(
        n_samples, 5, n_informative=3, n_redundant=1, n_classes=n_classes,
        random_state=random_state,
    )


def _mlp(n_hidden=8, **params):
    if params.get("solver") == "gd":
        params.update(solver="sgd", momentum=0.0, shuffle=False, batch_size=10**9)
    return MLPClassifier(hidden_layer_sizes=(n_hidden,), **params)


def _quiet_fit(est, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings("ignore", message="Got `batch_size`")
        return est.fit(*args, **kwargs)


def assert_same_weights(ours, ref, rtol=RTOL64, atol=ATOL64):
    for a, b in zip(ours.coefs_ + ours.intercepts_, ref.coefs_ + ref.intercepts_,
                    strict=True):
        assert_allclose(a, b, rtol=rtol, atol=atol)


# --------------------------------------------------------------------------
# early stopping


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("solver", ["adam", "sgd", "gd"])
def test_early_stopping_matches_mlp(n_classes, solver):
    X, y = _data(n_classes, n_samples=200)
    params = dict(solver=solver, early_stopping=True, random_state=0,
                  max_iter=300, n_iter_no_change=5, learning_rate_init=0.01)
    ours = _quiet_fit(ShallowNNClassifier(n_hidden=8, **params), X, y)
    mlp = _quiet_fit(_mlp(**params), X, y)
    assert ours.n_iter_ == mlp.n_iter_ < 300
    assert ours.t_ == mlp.t_
    assert ours.validation_scores_ == pytest.approx(mlp.validation_scores_)
    assert ours.best_validation_score_ == pytest.approx(mlp.best_validation_score_)
    assert ours.best_loss_ is None
    assert_allclose(ours.loss_curve_, mlp.loss_curve_, rtol=RTOL64)
    assert_same_weights(ours, mlp)


def _validation_loss_oracle(mlp_class):
    """``mlp_class`` recording, after each epoch, MLP's own batch objective
    (``_backprop``'s loss: mean weighted loss plus L2 term) on its held-out split
    at that epoch's weights: what ``validation_loss_curve_`` should hold."""

    class Recording(mlp_class):
        def _update_no_improvement_count(self, early_stopping, X, y, sample_weight):
            if early_stopping:
                n_layers = len(self.coefs_) + 1
                # MLP hands this method the labels (classifier) or 1-D targets;
                # _backprop takes what training does.
                Y = (self._label_binarizer.transform(y) if hasattr(
                    self, "_label_binarizer") else y.reshape(len(y), -1))
                loss = self._backprop(
                    X, Y, sample_weight, [X] + [None] * (n_layers - 1),
                    [None] * (n_layers - 1), [np.empty_like(c) for c in self.coefs_],
                    [np.empty_like(b) for b in self.intercepts_],
                )[0]
                self.recorded_val_losses_.append(loss)
            super()._update_no_improvement_count(early_stopping, X, y, sample_weight)

        def fit(self, *args, **kwargs):
            self.recorded_val_losses_ = []
            return super().fit(*args, **kwargs)

    return Recording


@pytest.mark.parametrize(("n_classes", "solver", "weighted"),
                         [(2, "adam", True), (3, "sgd", False), (3, "gd", True)])
def test_validation_loss_curve_is_mlps_objective_on_the_held_out_split(
        n_classes, solver, weighted):
    X, y = _data(n_classes, n_samples=200)
    sw = np.random.RandomState(0).uniform(0.5, 2.0, 200) if weighted else None
    params = dict(solver=solver, early_stopping=True, random_state=0, max_iter=60,
                  n_iter_no_change=5, learning_rate_init=0.01, alpha=1e-2)
    ours = _quiet_fit(ShallowNNClassifier(n_hidden=8, **params), X, y, sw)
    mlp_params = dict(params)
    if solver == "gd":
        mlp_params.update(solver="sgd", momentum=0.0, shuffle=False,
                          batch_size=10**9)
    mlp = _quiet_fit(_validation_loss_oracle(MLPClassifier)(
        hidden_layer_sizes=(8,), **mlp_params), X, y, sample_weight=sw)
    assert len(ours.validation_loss_curve_) == ours.n_iter_ == mlp.n_iter_
    assert_allclose(ours.validation_loss_curve_, mlp.recorded_val_losses_,
                    rtol=RTOL64)
    # A curve of its own: not the training loss, and it moves.
    assert not np.allclose(ours.validation_loss_curve_, ours.loss_curve_)
    assert len(set(ours.validation_loss_curve_)) > 1


@pytest.mark.parametrize("loss", ["squared_error", "poisson"])
def test_regressor_validation_loss_curve_is_mlps_objective(loss):
    rng = np.random.RandomState(1)
    X = rng.normal(size=(200, 4))
    y = np.exp(0.5 * X[:, 0]) if loss == "poisson" else X @ [1.0, -2.0, 0.5, 0.0]
    params = dict(solver="adam", early_stopping=True, random_state=0, max_iter=40,
                  learning_rate_init=0.01, alpha=1e-3)
    ours = _quiet_fit(ShallowNNRegressor(n_hidden=8, loss=loss, **params), X, y)
    mlp = _quiet_fit(_validation_loss_oracle(MLPRegressor)(
        hidden_layer_sizes=(8,), loss=loss, **params), X, y)
    assert len(ours.validation_loss_curve_) == ours.n_iter_ == mlp.n_iter_
    assert_allclose(ours.validation_loss_curve_, mlp.recorded_val_losses_,
                    rtol=RTOL64)


def test_validation_loss_curve_follows_warm_start_and_is_none_without_early_stopping():
    X, y = _data(2)
    clf = _quiet_fit(ShallowNNClassifier(n_hidden=4, max_iter=5), X, y)
    assert clf.validation_loss_curve_ is None
    clf.set_params(warm_start=True, early_stopping=True, n_iter_no_change=100)
    _quiet_fit(clf, X, y)
    assert len(clf.validation_loss_curve_) == 5 == len(clf.validation_scores_)
    _quiet_fit(clf, X, y)
    assert len(clf.validation_loss_curve_) == 10


def test_early_stopping_keeps_best_weights_and_weighted_scores():
    X, y = _data(2, n_samples=200)
    sw = np.random.RandomState(0).uniform(0.5, 2.0, X.shape[0])
    params = dict(solver="adam", early_stopping=True, random_state=1,
                  max_iter=100, n_iter_no_change=3, learning_rate_init=0.05)
    ours = _quiet_fit(ShallowNNClassifier(n_hidden=8, **params), X, y, sw)
    mlp = _quiet_fit(_mlp(**params), X, y, sample_weight=sw)
    assert ours.validation_scores_ == pytest.approx(mlp.validation_scores_)
    assert_same_weights(ours, mlp)
    assert ours.best_validation_score_ == max(ours.validation_scores_)


def test_early_stopping_multilabel_exact_match_accuracy():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 4))
    Y = np.column_stack([X[:, 0] > 0, X[:, 1] + X[:, 2] > 0]).astype(int)
    params = dict(solver="adam", early_stopping=True, random_state=0,
                  max_iter=60, learning_rate_init=0.01)
    ours = _quiet_fit(ShallowNNClassifier(n_hidden=8, **params), X, Y)
    mlp = _quiet_fit(_mlp(**params), X, Y)
    assert ours.validation_scores_ == pytest.approx(mlp.validation_scores_)
    assert_same_weights(ours, mlp)


def test_early_stopping_off_attributes():
    X, y = _data()
    clf = _quiet_fit(ShallowNNClassifier(n_hidden=4, max_iter=5), X, y)
    assert clf.validation_scores_ is None
    assert clf.best_validation_score_ is None
    assert clf.best_loss_ == min(clf.loss_curve_)


def test_early_stopping_validation_set_too_small():
    X, y = _data(3, n_samples=10)  # multiclass: not stratified, as in MLP
    clf = ShallowNNClassifier(early_stopping=True, validation_fraction=0.1)
    with pytest.raises(ValueError, match="The validation set is too small"):
        clf.fit(X, y)


def test_early_stopping_single_member_class_is_a_clear_error():
    # Binary targets are stratified (as in MLP); a one-member class cannot be.
    X, _ = _data(2, n_samples=30)
    y = np.r_[np.zeros(29, int), 1]
    clf = ShallowNNClassifier(early_stopping=True, validation_fraction=0.2)
    with pytest.raises(ValueError, match=r"least populated classe?s? in y ha"):
        clf.fit(X, y)


def test_early_stopping_verbose_messages(capsys):
    X, y = _data(2, n_samples=100)
    clf = ShallowNNClassifier(n_hidden=4, early_stopping=True, n_iter_no_change=2,
                              max_iter=200, learning_rate_init=0.01, verbose=True,
                              random_state=0)
    _quiet_fit(clf, X, y)
    out = capsys.readouterr().out
    assert out.count("Validation score: ") == clf.n_iter_
    assert ("Validation score did not improve more than tol=0.000100 for 2 "
            "consecutive epochs.") in out


def test_partial_fit_refuses_early_stopping():
    X, y = _data()
    clf = ShallowNNClassifier(early_stopping=True)
    with pytest.raises(ValueError, match="partial_fit does not support"):
        clf.partial_fit(X, y, classes=np.unique(y))


# --------------------------------------------------------------------------
# warm start and partial_fit


@pytest.mark.parametrize("solver", ["sgd", "adam", "gd"])
def test_partial_fit_calls_equal_fit_and_mlp(solver):
    X, y = _data()
    params = dict(solver=solver, random_state=0, learning_rate_init=0.01,
                  shuffle=False, n_iter_no_change=np.inf)
    classes = np.unique(y)
    ours = ShallowNNClassifier(n_hidden=8, **params)
    mlp = _mlp(**params)
    for _ in range(100):
        ours.partial_fit(X, y, classes=classes)
        mlp.partial_fit(X, y, classes=classes)
    full = _quiet_fit(ShallowNNClassifier(n_hidden=8, max_iter=100, **params), X, y)
    assert_same_weights(ours, full, rtol=1e-12, atol=1e-14)
    assert_same_weights(ours, mlp)
    assert ours.t_ == mlp.t_ == full.t_
    assert ours.n_iter_ == mlp.n_iter_ == 1
    assert_allclose(ours.loss_curve_, full.loss_curve_, rtol=1e-12)


def test_partial_fit_shuffled_and_weighted_matches_mlp():
    X, y = _data(2)
    sw = np.random.RandomState(0).uniform(0.5, 2, X.shape[0])
    params = dict(solver="adam", random_state=3, batch_size=32)
    ours = ShallowNNClassifier(n_hidden=8, **params)
    mlp = _mlp(**params)
    for _ in range(5):
        ours.partial_fit(X, y, classes=[0, 1], sample_weight=sw)
        mlp.partial_fit(X, y, sample_weight=sw, classes=[0, 1])
    assert_same_weights(ours, mlp)


def test_partial_fit_errors_like_mlp():
    X, y = _data()
    clf = ShallowNNClassifier(n_hidden=4)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        clf.partial_fit(X, y)
    clf.partial_fit(X, y, classes=[0, 1, 2])
    with pytest.raises(ValueError, match="is not the same as on last call"):
        clf.partial_fit(X, y, classes=[0, 1, 2, 3])
    with pytest.raises(ValueError, match="`y` has classes not in"):
        clf.partial_fit(X, y + 1)
    clf.partial_fit(X[y == 0], y[y == 0])  # a subset of the classes is fine
    with pytest.raises(AttributeError, match="has no attribute"):
        ShallowNNClassifier(solver="lbfgs").partial_fit(X, y, classes=[0, 1, 2])
    assert not hasattr(ShallowNNClassifier(solver="lbfgs"), "partial_fit")


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_warm_start_matches_mlp(solver):
    X, y = _data()
    params = dict(solver=solver, random_state=0, learning_rate_init=0.01,
                  max_iter=20, warm_start=True)
    ours = ShallowNNClassifier(n_hidden=8, **params)
    mlp = _mlp(**params)
    for _ in range(3):
        _quiet_fit(ours, X, y)
        _quiet_fit(mlp, X, y)
    assert ours.n_iter_ == mlp.n_iter_
    assert ours.t_ == mlp.t_
    assert_allclose(ours.loss_curve_, mlp.loss_curve_, rtol=RTOL64)
    assert_same_weights(ours, mlp)


def test_warm_start_changed_classes_raise():
    X, y = _data()
    clf = _quiet_fit(ShallowNNClassifier(n_hidden=4, max_iter=2, warm_start=True),
                     X, y)
    with pytest.raises(ValueError, match="warm_start can only be used where `y`"):
        clf.fit(X[y < 2], y[y < 2])


def test_no_warm_start_restarts():
    X, y = _data()
    clf = ShallowNNClassifier(n_hidden=4, max_iter=5, random_state=0)
    first = _quiet_fit(clf, X, y).coefs_[0].copy()
    assert_array_equal(_quiet_fit(clf, X, y).coefs_[0], first)


# --------------------------------------------------------------------------
# lbfgs


@pytest.mark.parametrize("activation", ["identity", "logistic", "tanh", "relu"])
def test_lbfgs_matches_mlp_on_digits(activation):
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    params = dict(solver="lbfgs", activation=activation, random_state=0,
                  max_iter=60)
    ours = _quiet_fit(ShallowNNClassifier(n_hidden=32, **params), X, y)
    mlp = _quiet_fit(_mlp(32, **params), X, y)
    assert ours.score(X, y) >= 0.95
    assert ours.n_iter_ == mlp.n_iter_
    assert_allclose(ours.predict_proba(X), mlp.predict_proba(X), rtol=1e-4,
                    atol=1e-6)
    assert ours.loss_ == pytest.approx(mlp.loss_, rel=1e-6)


def test_lbfgs_max_fun_and_warning():
    X, y = _data()
    clf = ShallowNNClassifier(n_hidden=8, solver="lbfgs", max_iter=3,
                              random_state=0)
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge"):
        clf.fit(X, y)
    assert clf.n_iter_ == 3
    mlp = _quiet_fit(_mlp(solver="lbfgs", max_fun=5, random_state=0), X, y)
    ours = _quiet_fit(ShallowNNClassifier(n_hidden=8, solver="lbfgs", max_fun=5,
                                          random_state=0), X, y)
    assert ours.n_iter_ == mlp.n_iter_
    assert_same_weights(ours, mlp, rtol=1e-6, atol=1e-9)


# --------------------------------------------------------------------------
# class_weight and sample_weight


def test_class_weight_balanced_raises_minority_recall():
    X, y = make_classification(600, 5, n_informative=2, weights=[0.93],
                               flip_y=0.05, class_sep=0.5, random_state=0)
    params = dict(n_hidden=8, solver="adam", max_iter=100, random_state=0,
                  learning_rate_init=0.01)
    plain = _quiet_fit(ShallowNNClassifier(**params), X, y)
    balanced = _quiet_fit(ShallowNNClassifier(class_weight="balanced", **params),
                          X, y)
    assert (recall_score(y, balanced.predict(X))
            > recall_score(y, plain.predict(X)) + 0.1)


def test_class_weight_is_a_sample_weight_factor():
    X, y = _data()
    sw = np.random.RandomState(0).uniform(0.5, 2, X.shape[0])
    weights = {0: 1.0, 1: 3.0, 2: 0.5}
    params = dict(n_hidden=4, solver="gd", max_iter=20, random_state=0)
    a = _quiet_fit(ShallowNNClassifier(class_weight=weights, **params), X, y, sw)
    factor = np.array([weights[c] for c in y])
    b = _quiet_fit(ShallowNNClassifier(**params), X, y, sw * factor)
    assert_same_weights(a, b, rtol=1e-12, atol=1e-14)


def test_sample_weight_integer_equals_repeated_rows():
    X, y = _data()
    counts = np.random.RandomState(0).randint(1, 4, X.shape[0])
    params = dict(n_hidden=6, solver="gd", max_iter=30, random_state=0,
                  learning_rate_init=0.1)
    weighted = _quiet_fit(ShallowNNClassifier(**params), X, y, counts)
    repeated = _quiet_fit(ShallowNNClassifier(**params), np.repeat(X, counts, 0),
                          np.repeat(y, counts))
    assert_same_weights(weighted, repeated)
    mlp = _quiet_fit(_mlp(6, **{k: v for k, v in params.items()
                                if k != "n_hidden"}), X, y, sample_weight=counts)
    assert_same_weights(weighted, mlp)


def test_sample_weight_zero_equals_dropped_row():
    X, y = _data()
    sw = np.ones(X.shape[0])
    sw[::7] = 0.0
    params = dict(n_hidden=6, solver="gd", max_iter=30, random_state=0,
                  learning_rate_init=0.1)
    weighted = _quiet_fit(ShallowNNClassifier(**params), X, y, sw)
    dropped = _quiet_fit(ShallowNNClassifier(**params), X[sw > 0], y[sw > 0])
    assert_same_weights(weighted, dropped)


# --------------------------------------------------------------------------
# interrupt


_INTERRUPT_SCRIPT = textwrap.dedent("""
    import sys, time, warnings
    import numpy as np
    from fastnn import ShallowNNClassifier
    rng = np.random.RandomState(0)
    X = rng.normal(size=(20000, 20))
    y = (X[:, 0] + X[:, 1] ** 2 > 1).astype(int)
    kwargs = dict(n_hidden=32, max_iter=100000, tol=0.0, n_iter_no_change=np.inf,
                  random_state=0, early_stopping=EARLY)
    ShallowNNClassifier(**{**kwargs, "max_iter": 2}).fit(X[:500], y[:500])
    clf = ShallowNNClassifier(**kwargs)
    print("fitting", flush=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf.fit(X, y)
    print("returned", time.perf_counter(), flush=True)
    print("warned", any("Training interrupted by user." in str(w.message)
                        for w in caught))
    weights = clf.coefs_ + clf.intercepts_
    print("finite", all(np.isfinite(w).all() for w in weights))
    print("epochs", clf.n_iter_)
    if EARLY:
        print("best", clf.score(X, y) >= 0.0, clf.best_validation_score_ > 0.5)
    print("predict", clf.predict(X[:5]).shape == (5,))
""")


@pytest.mark.parametrize("early", [False, True])
def test_sigint_interrupts_fit_and_leaves_usable_model(early):
    delay, lines = interrupt_fit(_INTERRUPT_SCRIPT.replace("EARLY", str(early)))
    assert delay < 1.0
    assert lines["warned"] == "True"
    assert lines["finite"] == "True"
    assert int(lines["epochs"]) >= 1
    assert lines["predict"] == "True"
    if early:
        assert lines["best"] == "True True"


def test_progress_bar_counts_epochs_and_shows_loss(capsys):
    pytest.importorskip("tqdm")
    from fastnn import make_flower

    X, y = make_flower()
    clf = ShallowNNClassifier(4, "tanh", solver="gd", learning_rate_init=1.2,
                              max_iter=300, tol=0.0, n_iter_no_change=1000,
                              random_state=0, progress_bar=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    err = capsys.readouterr().err
    assert "300/300" in err
    assert f"loss={clf.loss_:.6f}" in err


def test_progress_bar_without_tqdm_says_what_to_install(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_tqdm(name, *args, **kwargs):
        if name.startswith("tqdm"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tqdm)
    X, y = fastnn_make_flower_small()
    with pytest.raises(ImportError, match="pip install tqdm"):
        ShallowNNClassifier(3, solver="gd", max_iter=2, progress_bar=True).fit(X, y)


def fastnn_make_flower_small():
    from fastnn import make_flower

    return make_flower(40)
