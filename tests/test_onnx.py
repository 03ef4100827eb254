"""ONNX export (fastnn/onnx.py, fastnn/_onnx.py), run with onnxruntime.

float32 models run as float graphs (labels equal, probabilities and predictions
to 1e-5), float64 models as double graphs (to 1e-10; ``ZipMap`` takes floats
only, as for skl2onnx's own converters, so they use ``zipmap=False``). Where MLP
can hold the model, fastnn's graph is checked against skl2onnx's
``MLPClassifier`` converter run on ``to_sklearn()``: same outputs, same values.
"""

import pickle
import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

skl2onnx = pytest.importorskip("skl2onnx")
ort = pytest.importorskip("onnxruntime")

import fastnn.onnx  # noqa: E402
from fastnn import ShallowNNClassifier, ShallowNNRegressor  # noqa: E402
from tests.common import classification_targets  # noqa: E402
from tests.common import quiet_fit as _fit  # noqa: E402

ACTIVATIONS = ["identity", "logistic", "tanh", "relu", "leaky_relu"]
DTYPES = [np.float32, np.float64]
ATOL = {np.float32: 1e-5, np.float64: 1e-10}

_rng = np.random.RandomState(0)
X = _rng.randn(50, 3)
TARGETS = classification_targets(X)


def _run(onx, X):
    """``{output name: value}`` of the ONNX model on ``X``."""
    session = ort.InferenceSession(onx.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, {session.get_inputs()[0].name: X}),
                    strict=True))


def _classifier(activation, target, dtype):
    return _fit(ShallowNNClassifier(5, activation, max_iter=5, learning_rate_init=0.1,
                                    negative_slope=0.3, random_state=0),
                X.astype(dtype), TARGETS[target])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("target", sorted(TARGETS))
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_classifier_labels_and_probabilities(activation, target, dtype):
    clf, Xd = _classifier(activation, target, dtype), X.astype(dtype)
    options = {"zipmap": False} if dtype == np.float64 else None
    out = _run(skl2onnx.to_onnx(clf, Xd[:1], options=options), Xd)
    if options is None:  # ZipMap: one {class: probability} per row
        label, rows = out["output_label"], out["output_probability"]
        classes = range(3) if target == "multilabel" else clf.classes_
        proba = np.array([[row[c] for c in classes] for row in rows])
    else:
        label, proba = out["label"], out["probabilities"]
    assert_array_equal(label, clf.predict(Xd))
    assert_allclose(proba, clf.predict_proba(Xd), rtol=0, atol=ATOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_outputs", [1, 2])
@pytest.mark.parametrize("loss", ["squared_error", "poisson"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_regressor_predictions(activation, loss, n_outputs, dtype):
    Xd = X.astype(dtype)
    y = np.abs(X[:, :n_outputs] + 0.5 * X[:, 1:n_outputs + 1]).astype(dtype)
    y = y.ravel() if n_outputs == 1 else y
    reg = _fit(ShallowNNRegressor(5, activation, loss=loss, max_iter=5,
                                  negative_slope=0.3, learning_rate_init=0.05,
                                  random_state=0), Xd, y)
    (pred,) = _run(skl2onnx.to_onnx(reg, Xd[:1]), Xd).values()
    assert pred.shape == (X.shape[0], n_outputs)  # 2-D, as skl2onnx's regressors
    assert pred.dtype == dtype
    assert_allclose(pred, reg.predict(Xd).reshape(-1, n_outputs), rtol=0,
                    atol=ATOL[dtype] * max(1.0, np.abs(pred).max()))


@pytest.mark.parametrize(
    "options",
    [None, {"zipmap": False}, {"zipmap": "columns"}, {"nocl": True},
     {"zipmap": False, "output_class_labels": True}],
    ids=["zipmap", "no-zipmap", "columns", "nocl", "class-labels"],
)
@pytest.mark.parametrize("target", sorted(TARGETS))
def test_options_match_skl2onnx_mlp_converter(target, options):
    if target == "multiclass" and options == {"nocl": True}:
        pytest.skip("skl2onnx's MLP converter fails on string labels with nocl "
                    "(test_nocl_labels_are_class_indices)")
    clf, Xf = _classifier("tanh", target, np.float32), X.astype(np.float32)
    ours = _run(skl2onnx.to_onnx(clf, Xf[:1], options=options), Xf)
    theirs = _run(skl2onnx.to_onnx(clf.to_sklearn(), Xf[:1], options=options), Xf)
    assert list(ours) == list(theirs)
    for name in ours:
        if isinstance(ours[name], list):  # ZipMap's dicts
            assert [list(row) for row in ours[name]] == \
                [list(row) for row in theirs[name]]
            ours[name] = [list(row.values()) for row in ours[name]]
            theirs[name] = [list(row.values()) for row in theirs[name]]
        if np.asarray(theirs[name]).dtype.kind == "f":
            assert_allclose(ours[name], theirs[name], rtol=0, atol=1e-6)
        else:
            assert_array_equal(ours[name], theirs[name])


def test_nocl_labels_are_class_indices():
    clf, Xf = _classifier("tanh", "multiclass", np.float32), X.astype(np.float32)
    out = _run(skl2onnx.to_onnx(clf, Xf[:1], options={"nocl": True}), Xf)
    assert_array_equal(out["output_label"],
                       np.searchsorted(clf.classes_, clf.predict(Xf)))
    assert [list(row) for row in out["output_probability"]] == [[0, 1, 2]] * len(Xf)


def test_leaky_relu_graph_uses_leaky_relu():
    clf = _classifier("leaky_relu", "binary", np.float32)
    nodes = skl2onnx.to_onnx(clf, X[:1].astype(np.float32)).graph.node
    (leaky,) = [n for n in nodes if n.op_type == "LeakyRelu"]
    assert leaky.attribute[0].name == "alpha"
    assert leaky.attribute[0].f == pytest.approx(0.3)


def test_pipeline():
    Xf, y = X.astype(np.float32), TARGETS["multiclass"]
    pipe = make_pipeline(StandardScaler(), ShallowNNClassifier(
        5, "relu", max_iter=5, random_state=0))
    _fit(pipe, Xf, y)
    out = _run(skl2onnx.to_onnx(pipe, Xf[:1], options={"zipmap": False}), Xf)
    assert_array_equal(out["label"], pipe.predict(Xf))
    assert_allclose(out["probabilities"], pipe.predict_proba(Xf), atol=1e-5)


def test_single_class_model_is_refused():
    clf = _fit(ShallowNNClassifier(3, max_iter=2, random_state=0),
               X.astype(np.float32), np.zeros(X.shape[0], dtype=int))
    with pytest.raises(RuntimeError, match="single class"):
        skl2onnx.to_onnx(clf, X[:1].astype(np.float32))


def test_register_is_idempotent_and_hook_failures_warn(monkeypatch):
    fastnn.onnx.register()
    fastnn.onnx.register()
    assert skl2onnx.get_model_alias(ShallowNNClassifier) == "FastnnShallowNNClassifier"
    assert skl2onnx.get_model_alias(ShallowNNRegressor) == "FastnnShallowNNRegressor"

    def broken():
        raise ImportError("no converters today")

    monkeypatch.setattr(fastnn.onnx, "register", broken)
    with pytest.warns(RuntimeWarning, match="could not register .*no converters"):
        fastnn.onnx._register_quietly()


_FASTNN_FIRST = """
import pickle, sys
import fastnn
assert "skl2onnx" not in sys.modules and "onnx" not in sys.modules
import skl2onnx
assert type(skl2onnx.__spec__.loader).__module__ != "fastnn.onnx"  # no trace left
assert not any(type(f).__module__ == "fastnn.onnx" for f in sys.meta_path)
import numpy as np, onnxruntime as ort
with open({path!r}, "rb") as f:
    models, X = pickle.load(f)
for est in models:
    zipmap = {{"zipmap": False}} if hasattr(est, "classes_") else None
    onx = skl2onnx.to_onnx(est, X[:1], options=zipmap)
    s = ort.InferenceSession(onx.SerializeToString(),
                             providers=["CPUExecutionProvider"])
    got = s.run(None, {{s.get_inputs()[0].name: X}})[0]
    np.testing.assert_allclose(got.ravel().astype(float),
                               est.predict(X).ravel().astype(float), atol=1e-5)
print("converted", len(models))
"""


def test_import_hook_registers_when_skl2onnx_is_imported_after_fastnn(tmp_path):
    """A fresh process: ``import fastnn`` imports neither skl2onnx nor onnx, and
    a later ``import skl2onnx`` is all ``to_onnx`` needs."""
    Xf = X.astype(np.float32)
    clf = _classifier("leaky_relu", "binary", np.float32)
    reg = _fit(ShallowNNRegressor(3, max_iter=2, random_state=0), Xf, Xf[:, 0])
    path = tmp_path / "models.pkl"
    path.write_bytes(pickle.dumps(([clf, reg], Xf)))
    done = subprocess.run([sys.executable, "-c", _FASTNN_FIRST.format(path=str(path))],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "converted 2" in done.stdout


def test_import_of_fastnn_after_skl2onnx_registers_at_once(monkeypatch):
    """skl2onnx imported first (as in this process): ``import fastnn`` ends with
    ``fastnn.onnx._install()``, which registers at once and installs no hook."""
    from skl2onnx._supported_operators import sklearn_operator_name_map

    assert "skl2onnx" in sys.modules
    for cls in (ShallowNNClassifier, ShallowNNRegressor):
        monkeypatch.delitem(sklearn_operator_name_map, cls)
    with pytest.raises(RuntimeError, match="No registered models"):
        skl2onnx.to_onnx(_classifier("relu", "binary", np.float32),
                         X[:1].astype(np.float32))
    fastnn.onnx._install()
    assert skl2onnx.get_model_alias(ShallowNNClassifier) == "FastnnShallowNNClassifier"
    assert skl2onnx.get_model_alias(ShallowNNRegressor) == "FastnnShallowNNRegressor"
    assert not any(type(f).__module__ == "fastnn.onnx" for f in sys.meta_path)
