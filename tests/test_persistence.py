"""Saved models survive releases: the fixtures of earlier releases, and round trips.

``tests/fixtures/persistence`` holds five models fitted by fastnn 0.1.0 (see its
``MANIFEST.json`` and ``make_fixtures.py``), each saved with pickle and with
``skops.io``, with the input and the predictions of the model that was saved.
Every later release loads them and predicts exactly the stored arrays: a kernel
change that moves a bit of a prediction, or a refactor that renames a class path
or a fitted attribute without a migration (``fastnn._base.RENAMED_ATTRIBUTES``),
fails here.
"""

import copy
import io
import json
import pickle
import re
import warnings
from pathlib import Path

import joblib
import numba
import numpy as np
import pytest
import scipy.sparse as sp
import sklearn.base
import skops.io as sio
from llvmlite import binding as llvm
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import InconsistentVersionWarning

import fastnn
from fastnn import ShallowNNClassifier, ShallowNNRegressor, _base
from tests.common import quiet_fit

FIXTURES = Path(__file__).parent / "fixtures" / "persistence"
PERSISTENCE_PAGE = (Path(__file__).parent.parent / "docs" / "user-guide"
                    / "persistence.md")
CLASSIFIER = "fastnn._classifier.ShallowNNClassifier"
REGRESSOR = "fastnn._regressor.ShallowNNRegressor"
#: Fixture name: the class path its files name, the only type skops does not
#: trust by default.
MODELS = {
    "binary_gd_tanh": CLASSIFIER,
    "multiclass_strings_early_stopping": CLASSIFIER,
    "float32_sgd": CLASSIFIER,
    "regressor_two_outputs": REGRESSOR,
    "sparse_csr": CLASSIFIER,
}
FORMATS = ["pickle", "skops"]
#: Whether this CPU is the one that made the fixtures: Numba compiles for the
#: host CPU, so float outputs are compared bit for bit on that CPU (as in CI)
#: and to a few units in the last place on another.
SAME_CPU = (json.loads((FIXTURES / "MANIFEST.json").read_text())["host_cpu"]
            == (numba.config.CPU_NAME or llvm.get_host_cpu_name()))

#: The example of the persistence page of the docs, run as written.
SKOPS_EXAMPLE = """\
import skops.io as sio
from fastnn import ShallowNNClassifier, make_flower

X, y = make_flower()
clf = ShallowNNClassifier(n_hidden=4, activation="tanh", solver="gd",
                          learning_rate_init=1.2, max_iter=300,
                          random_state=0).fit(X, y)
sio.dump(clf, "flower.skops")

unknown = sio.get_untrusted_types(file="flower.skops")
# Review the list before trusting it: a fastnn model needs its own class only.
assert unknown == ["fastnn._classifier.ShallowNNClassifier"]
loaded = sio.load("flower.skops", trusted=unknown)
assert (loaded.predict(X) == clf.predict(X)).all()
"""


def fixture_arrays(name):
    """The saved ``X`` (CSR rebuilt for the sparse model), ``y`` and outputs."""
    with np.load(FIXTURES / f"{name}.npz", allow_pickle=False) as npz:
        arrays = dict(npz)
    if "X_data" in arrays:
        arrays["X"] = sp.csr_matrix(
            (arrays.pop("X_data"), arrays.pop("X_indices"), arrays.pop("X_indptr")),
            shape=tuple(arrays.pop("X_shape")))
    return arrays


def load_fixture(name, fmt):
    """The model of ``<name>.pkl`` or ``<name>.skops``.

    skops loads with the trusted list reviewed here: exactly the model's class.
    A later scikit-learn warns that the classifier's ``LabelBinarizer`` was
    saved by 1.9.1 (``InconsistentVersionWarning``): expected, and not ours.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InconsistentVersionWarning)
        if fmt == "pickle":
            with open(FIXTURES / f"{name}.pkl", "rb") as f:
                return pickle.load(f)
        path = FIXTURES / f"{name}.skops"
        unknown = sio.get_untrusted_types(file=path)
        assert unknown == [MODELS[name]]
        return sio.load(path, trusted=unknown)


def assert_same(a, b, where="state"):
    """``a`` and ``b`` hold the same values of the same types, arrays bit for bit."""
    assert type(a) is type(b), f"{where}: {type(a)} != {type(b)}"
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype, where
        assert_array_equal(a, b, err_msg=where, strict=True)
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_same(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, np.random.RandomState):
        assert_same(a.get_state(), b.get_state(), where)
    elif hasattr(a, "__dict__"):
        assert_same(vars(a), vars(b), where)
    else:
        assert a == b, where


# --------------------------------------------------------------------------
# the fixtures of 0.1.0
# --------------------------------------------------------------------------

def test_fixture_files_are_all_there():
    names = {p.stem for p in FIXTURES.iterdir() if p.is_file() and p.suffix != ".py"}
    assert names == {*MODELS, "MANIFEST"}
    for name in MODELS:
        for suffix in (".pkl", ".skops", ".npz"):
            assert (FIXTURES / f"{name}{suffix}").is_file()


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", sorted(MODELS))
def test_fixture_predicts_exactly_as_saved(name, fmt):
    arrays = fixture_arrays(name)
    model = load_fixture(name, fmt)
    assert f"{type(model).__module__}.{type(model).__qualname__}" == MODELS[name]
    outputs = ["predict", "predict_proba"] if "predict_proba" in arrays else [
        "predict"]
    for method in outputs:
        got = getattr(model, method)(arrays["X"])
        assert got.dtype == arrays[method].dtype, method
        if SAME_CPU or got.dtype.kind not in "fc":
            assert_array_equal(got, arrays[method], err_msg=method, strict=True)
        else:  # another CPU: another vector width may round the last bits
            assert_allclose(got, arrays[method], err_msg=method,
                            rtol=64 * np.finfo(got.dtype).eps)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_fixture_loads_the_same_with_pickle_and_skops(name):
    assert_same(vars(load_fixture(name, "pickle")), vars(load_fixture(name, "skops")))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_fixture_fitted_attributes(name):
    arrays = fixture_arrays(name)
    X, y = arrays["X"], arrays["y"]
    model = load_fixture(name, "pickle")
    dtype = np.float32 if name == "float32_sgd" else np.float64
    assert model.n_features_in_ == X.shape[1]
    assert model.n_layers_ == 3
    assert model.device_ == "cpu"
    assert [c.shape for c in model.coefs_] == [(X.shape[1], model.n_hidden),
                                              (model.n_hidden, model.n_outputs_)]
    assert [b.shape for b in model.intercepts_] == [(model.n_hidden,),
                                                   (model.n_outputs_,)]
    for w in [*model.coefs_, *model.intercepts_]:
        assert w.dtype == dtype
    assert model.n_iter_ == len(model.loss_curve_) > 0
    assert model.loss_ == model.loss_curve_[-1]
    n_validation = int(np.ceil(model.validation_fraction * X.shape[0]))
    n_train = X.shape[0] - (n_validation if model.early_stopping else 0)
    assert model.t_ == model.n_iter_ * n_train
    if isinstance(model, ShallowNNRegressor):
        assert model.n_outputs_ == y.shape[1] == 2
        assert model.out_activation_ == "identity"
        return
    assert_array_equal(model.classes_, np.unique(y), strict=True)
    n_classes = len(model.classes_)
    assert model.n_outputs_ == (1 if n_classes == 2 else n_classes)
    assert model.out_activation_ == ("logistic" if n_classes == 2 else "softmax")
    if model.early_stopping:
        assert model.classes_.dtype.kind == "U"
        assert len(model.validation_scores_) == model.n_iter_
        assert model.best_validation_score_ == max(model.validation_scores_)
        assert model.best_loss_ is None


@pytest.mark.parametrize("name", sorted(MODELS))
def test_fixture_continues_training(name):
    """warm_start refits, and partial_fit resumes the saved optimizer state; a
    model loaded by pickle and one loaded by skops continue identically."""
    arrays = fixture_arrays(name)
    X, y = arrays["X"], arrays["y"]
    continued = []
    for fmt in FORMATS:
        model = load_fixture(name, fmt)
        before = model.coefs_[0].copy()
        n_epochs = len(model.loss_curve_)
        if model.early_stopping:  # partial_fit refuses early stopping
            # More patience: the saved count of epochs without improvement
            # had stopped the fit.
            quiet_fit(model.set_params(warm_start=True, max_iter=2,
                                       n_iter_no_change=10), X, y)
            assert model.n_iter_ == 2
            assert len(model.validation_scores_) == n_epochs + 2
            assert len(model.loss_curve_) == n_epochs + 2
        else:
            t = model.t_
            model.partial_fit(X, y)
            assert model.t_ == t + X.shape[0]
            assert len(model.loss_curve_) == n_epochs + 1
            assert not np.array_equal(model.coefs_[0], before)
        assert np.isfinite(model.loss_)
        assert model.coefs_[0].dtype == before.dtype
        assert_array_equal(model.predict(X).shape, arrays["predict"].shape)
        continued.append(model)
    assert_same(*(vars(m) for m in continued))


# --------------------------------------------------------------------------
# this release: round trips, skops' trusted types, the version and migrations
# --------------------------------------------------------------------------

def _fitted(kind):
    rng = np.random.RandomState(0)
    X = rng.randn(30, 3)
    if kind == "classifier":
        est = ShallowNNClassifier(n_hidden=4, activation="tanh", solver="sgd",
                                  max_iter=5, random_state=0)
        y = np.array(["no", "yes"])[(X[:, 0] > 0).astype(int)]
    else:
        est = ShallowNNRegressor(n_hidden=4, solver="adam", max_iter=5,
                                 random_state=0)
        y = np.column_stack([X[:, 0], X[:, 1] * X[:, 2]])
    return quiet_fit(est, X, y), X, y


def _round_trip(est, fmt):
    buffer = io.BytesIO()
    if fmt == "pickle":
        pickle.dump(est, buffer)
        return pickle.loads(buffer.getvalue())
    if fmt == "joblib":
        joblib.dump(est, buffer)
        buffer.seek(0)
        return joblib.load(buffer)
    data = sio.dumps(est)
    unknown = sio.get_untrusted_types(data=data)
    assert unknown == [f"{type(est).__module__}.{type(est).__qualname__}"]
    return sio.loads(data, trusted=unknown)


@pytest.mark.parametrize("fmt", ["pickle", "joblib", "skops"])
@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_round_trip_predicts_and_continues_as_the_model(kind, fmt):
    est, X, y = _fitted(kind)
    loaded = _round_trip(est, fmt)
    assert_same(vars(loaded), vars(est))
    for method in ["predict", "predict_proba"][:2 if kind == "classifier" else 1]:
        assert_array_equal(getattr(loaded, method)(X), getattr(est, method)(X),
                           strict=True)
    # The optimizer state came along: one more epoch is the same epoch.
    assert_same(vars(loaded.partial_fit(X, y)), vars(est.partial_fit(X, y)))


def test_skops_example_of_the_docs_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(SKOPS_EXAMPLE, {})
    assert (tmp_path / "flower.skops").is_file()


def test_docs_show_the_tested_skops_example():
    text = PERSISTENCE_PAGE.read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    assert SKOPS_EXAMPLE in blocks


def test_state_records_the_release_and_loads_without_it():
    est, _, _ = _fitted("classifier")
    state = est.__getstate__()
    assert state["_fastnn_version"] == fastnn.__version__
    assert "_fastnn_version" not in vars(est)
    assert "_fastnn_version" not in vars(pickle.loads(pickle.dumps(est)))
    assert "_fastnn_version" not in vars(copy.copy(est))
    # The fixtures' states have none (0.1.0 did not record it) and load.
    with open(FIXTURES / "binary_gd_tanh.pkl", "rb") as f:
        assert b"_fastnn_version" not in f.read()


@pytest.mark.parametrize("fmt", FORMATS)
def test_renamed_attribute_migrates_on_load(fmt, monkeypatch):
    """A file that names a fitted attribute by an old name loads through an
    entry of ``RENAMED_ATTRIBUTES``, and fails to predict without it."""
    name = "binary_gd_tanh"
    model = load_fixture(name, "pickle")
    X = fixture_arrays(name)["X"]
    # The file an older release would have written: ``coefs_`` was ``_weights``.
    old = copy.copy(model)
    old.__dict__["_weights"] = old.__dict__.pop("coefs_")
    saved = pickle.dumps(old) if fmt == "pickle" else sio.dumps(old)
    load = pickle.loads if fmt == "pickle" else (
        lambda data: sio.loads(data, trusted=[CLASSIFIER]))

    with pytest.raises(AttributeError, match="coefs_"):
        load(saved).predict(X)
    monkeypatch.setattr(_base, "RENAMED_ATTRIBUTES", {"_weights": "coefs_"})
    migrated = load(saved)
    assert "_weights" not in vars(migrated)
    assert_array_equal(migrated.predict_proba(X), model.predict_proba(X),
                       strict=True)


@pytest.mark.parametrize("fmt", FORMATS)
def test_scikit_learn_version_check_still_runs(fmt, monkeypatch):
    """scikit-learn warns about its own classes saved by another release (the
    classifier's LabelBinarizer); fastnn's classes are not scikit-learn's to
    check, so the regressor loads silently."""
    monkeypatch.setattr(sklearn.base, "__version__", "0.0.0")

    def load(name):
        path = FIXTURES / f"{name}.{'pkl' if fmt == 'pickle' else 'skops'}"
        if fmt == "pickle":
            return pickle.loads(path.read_bytes())
        return sio.load(path, trusted=[MODELS[name]])

    with pytest.warns(InconsistentVersionWarning) as record:
        load("binary_gd_tanh")
    assert [w.message.estimator_name for w in record
            if isinstance(w.message, InconsistentVersionWarning)] == ["LabelBinarizer"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", InconsistentVersionWarning)
        load("regressor_two_outputs")
