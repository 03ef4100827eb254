"""``ShallowNNClassifier(device='cuda')`` against the CPU backend, fit for fit.

Deterministic fits (``shuffle=False`` or ``'gd'``) from the same ``random_state``
must agree with the CPU backend: float64 weights to ``rtol=1e-8`` (the bar the
CPU backend meets against MLPClassifier), float32 to ``rtol=1e-4``: both backends
round to float32 after every operation, in different places (the CPU sums in
blocks, CUDA row by row), and 50 epochs compound those differences.
"""

import pickle
import warnings

import numpy as np
import pytest
from numba import cuda
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning

from fastnn import ShallowNNClassifier, _backends, _device, make_flower
from fastnn.cuda import network
from fastnn.cuda import training as gpu_training

RTOL64, ATOL64 = 1e-8, 1e-12
RTOL32, ATOL32 = 1e-4, 1e-5


def _data(n_classes=2, n_samples=36, n_features=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, n_features))
    y = (X[:, 0] + X[:, 1] ** 2 > 0.5).astype(int)
    if n_classes == 3:
        y += X[:, 2] > 0.3
    return X, y


def _fit(device, X, y, **params):
    params = {"n_hidden": 3, "max_iter": 50, "random_state": 0, **params}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return ShallowNNClassifier(device=device, **params).fit(X, y)


def assert_same_weights(ours, ref, rtol=RTOL64, atol=ATOL64):
    for a, b in zip(ours.coefs_ + ours.intercepts_, ref.coefs_ + ref.intercepts_,
                    strict=True):
        assert a.dtype == b.dtype
        assert_allclose(a, b, rtol=rtol, atol=atol)


FIT_CASES = [
    # (n_classes, activation, solver params)
    (2, "tanh", {"solver": "gd", "learning_rate_init": 0.5}),
    (3, "relu", {"solver": "gd", "learning_rate_init": 0.5}),
    (2, "logistic", {"solver": "adam", "shuffle": False, "batch_size": 16,
                     "learning_rate_init": 0.01}),
    (3, "leaky_relu", {"solver": "adam", "shuffle": False, "batch_size": 16,
                       "learning_rate_init": 0.01}),
    (3, "identity", {"solver": "sgd", "shuffle": False, "batch_size": 16,
                     "learning_rate_init": 0.05}),
    (2, "relu", {"solver": "sgd", "shuffle": False, "batch_size": 10,
                 "learning_rate": "invscaling", "learning_rate_init": 0.2}),
]


@pytest.mark.parametrize(("n_classes", "activation", "params"), FIT_CASES)
def test_deterministic_fit_matches_cpu_float64(n_classes, activation, params):
    X, y = _data(n_classes)
    # All 50 epochs run: the stopping rule is covered by the training-control tests.
    params = {**params, "n_iter_no_change": np.inf}
    gpu = _fit("cuda", X, y, activation=activation, **params)
    cpu = _fit("cpu", X, y, activation=activation, **params)
    assert gpu.device_ == "cuda" and cpu.device_ == "cpu"
    assert gpu.n_iter_ == cpu.n_iter_ == 50
    assert_same_weights(gpu, cpu)
    assert_allclose(gpu.loss_curve_, cpu.loss_curve_, rtol=RTOL64)
    assert gpu.t_ == cpu.t_
    assert_array_equal(gpu.predict(X), cpu.predict(X))


@pytest.mark.parametrize("solver", ["gd", "adam"])
def test_deterministic_fit_matches_cpu_float32(solver):
    X, y = _data(3)
    params = {"solver": solver, "shuffle": False, "batch_size": 16,
              "learning_rate_init": 0.5 if solver == "gd" else 0.01}
    gpu = _fit("cuda", X.astype(np.float32), y, activation="tanh", **params)
    cpu = _fit("cpu", X.astype(np.float32), y, activation="tanh", **params)
    assert gpu.coefs_[0].dtype == np.float32
    assert_same_weights(gpu, cpu, rtol=RTOL32, atol=ATOL32)


def test_flower_accuracy_equals_cpu():
    X, y = make_flower()
    params = {"n_hidden": 4, "activation": "tanh", "solver": "gd",
              "learning_rate_init": 1.2, "max_iter": 30}
    gpu = _fit("cuda", X, y, **params)
    cpu = _fit("cpu", X, y, **params)
    assert_same_weights(gpu, cpu)
    assert gpu.score(X, y) == cpu.score(X, y)


def test_shuffled_fit_is_reproducible_and_close_to_cpu():
    """Shuffling draws Feistel keys, not NumPy's shuffle: equivalent, not equal."""
    X, y = _data(2, n_samples=40)
    params = {"solver": "adam", "batch_size": 10, "learning_rate_init": 0.02,
              "max_iter": 30}
    first = _fit("cuda", X, y, **params)
    second = _fit("cuda", X, y, **params)
    cpu = _fit("cpu", X, y, **params)
    assert_same_weights(first, second, rtol=0, atol=0)
    assert not np.allclose(first.coefs_[0], cpu.coefs_[0], rtol=1e-6)
    # Same data, same optimiser, another batch order: about the same loss.
    assert abs(first.loss_ - cpu.loss_) < 0.1 * cpu.loss_curve_[0]


@pytest.mark.parametrize("params", [
    {"early_stopping": True, "validation_fraction": 0.25, "n_iter_no_change": 3,
     "tol": 1e-3},
    {"class_weight": "balanced"},
    {"learning_rate": "adaptive", "tol": 10.0, "n_iter_no_change": 2},
], ids=["early_stopping", "class_weight", "adaptive"])
def test_training_control_matches_cpu(params):
    X, y = _data(3, n_samples=48)
    common = {"solver": "sgd", "shuffle": False, "batch_size": 12,
              "learning_rate_init": 0.1, "max_iter": 25, **params}
    gpu = _fit("cuda", X, y, **common)
    cpu = _fit("cpu", X, y, **common)
    assert gpu.n_iter_ == cpu.n_iter_
    assert_same_weights(gpu, cpu)
    assert gpu.best_loss_ == pytest.approx(cpu.best_loss_, rel=RTOL64) if (
        cpu.best_loss_ is not None) else gpu.best_loss_ is None
    if cpu.validation_scores_ is not None:
        assert_allclose(gpu.validation_scores_, cpu.validation_scores_)
        assert_allclose(gpu.validation_loss_curve_, cpu.validation_loss_curve_)
        assert gpu.best_validation_score_ == cpu.best_validation_score_


def test_sample_weight_matches_cpu():
    X, y = _data(2)
    sw = np.random.default_rng(3).uniform(0.1, 3.0, len(y))
    params = {"solver": "adam", "shuffle": False, "batch_size": 12,
              "learning_rate_init": 0.01, "max_iter": 20}
    gpu = ShallowNNClassifier(n_hidden=3, random_state=0, device="cuda", **params)
    cpu = ShallowNNClassifier(n_hidden=3, random_state=0, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gpu.fit(X, y, sample_weight=sw)
        cpu.fit(X, y, sample_weight=sw)
    assert_same_weights(gpu, cpu)


def test_warm_start_and_partial_fit_match_cpu():
    X, y = _data(3)
    params = {"solver": "adam", "shuffle": False, "batch_size": 12,
              "learning_rate_init": 0.01, "max_iter": 5, "warm_start": True}
    models = {}
    for device in ("cuda", "cpu"):
        est = _fit(device, X, y, **params)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X, y)
        for _ in range(3):
            est.partial_fit(X, y)
        models[device] = est
    assert models["cuda"].n_iter_ == 1
    assert models["cuda"].t_ == models["cpu"].t_
    assert_same_weights(models["cuda"], models["cpu"])


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning",
                            "ignore:invalid:RuntimeWarning")
def test_divergence_restores_finite_weights_as_cpu():
    X, y = _data(3)
    params = {"activation": "identity", "solver": "gd", "learning_rate_init": 1e10,
              "n_iter_no_change": np.inf, "max_iter": 30}
    with pytest.warns(ConvergenceWarning, match="Training diverged"):
        gpu = ShallowNNClassifier(n_hidden=3, random_state=0, device="cuda",
                                  **params).fit(X, y)
    with pytest.warns(ConvergenceWarning, match="Training diverged"):
        cpu = ShallowNNClassifier(n_hidden=3, random_state=0, **params).fit(X, y)
    assert gpu.n_iter_ == cpu.n_iter_ < 30
    for w in gpu.coefs_ + gpu.intercepts_:
        assert np.isfinite(w).all()
    assert_same_weights(gpu, cpu)


def test_keyboard_interrupt_keeps_the_last_weights(monkeypatch):
    X, y = _data(2)
    calls = []
    real = gpu_training.train_epochs

    def interrupted(*args):
        calls.append(1)
        if len(calls) > 1:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(gpu_training, "train_epochs", interrupted)
    with pytest.warns(UserWarning, match="interrupted"):
        est = ShallowNNClassifier(n_hidden=3, solver="gd", max_iter=50,
                                  random_state=0, device="cuda").fit(X, y)
    one_epoch = _fit("cpu", X, y, solver="gd", max_iter=1)
    assert est.n_iter_ == 1
    assert isinstance(est.coefs_[0], np.ndarray)
    assert_same_weights(est, one_epoch)


def test_lbfgs_on_cuda_is_refused_and_auto_uses_the_cpu():
    X, y = _data(2)
    with pytest.raises(ValueError, match=r"lbfgs.*CPU only"):
        ShallowNNClassifier(solver="lbfgs", device="cuda").fit(X, y)
    assert _fit("auto", X, y, solver="lbfgs", max_iter=5).device_ == "cpu"


def test_auto_uses_cuda_only_on_a_real_gpu():
    X, y = _data(2)
    est = _fit("auto", X, y, solver="gd", max_iter=2)
    assert est.device_ == ("cuda" if _device.real_gpu() else "cpu")


def test_invalid_device_is_refused():
    X, y = _data(2)
    with pytest.raises(ValueError, match="'device' parameter"):
        ShallowNNClassifier(device="gpu").fit(X, y)


@pytest.fixture
def fresh_gpu_check():
    _device._gpu_error.cache_clear()
    yield
    _device._gpu_error.cache_clear()


def test_missing_numba_cuda_says_what_to_install(monkeypatch, fresh_gpu_check):
    real_find_spec = _device.importlib.util.find_spec
    monkeypatch.setattr(
        _device.importlib.util, "find_spec",
        lambda name, *a: None if name == "numba_cuda" else real_find_spec(name, *a),
    )
    X, y = _data(2)
    with pytest.raises(ImportError, match=r"fastnn-shallow\[cuda\].*cu12.*cu13"):
        ShallowNNClassifier(device="cuda").fit(X, y)
    assert _fit("auto", X, y, solver="gd", max_iter=1).device_ == "cpu"


def test_missing_gpu_says_why(monkeypatch, fresh_gpu_check):
    monkeypatch.setattr(cuda, "is_available", lambda: False)
    monkeypatch.setattr(cuda, "cuda_error", lambda: "CUDA driver library not found")
    X, y = _data(2)
    with pytest.raises(RuntimeError, match=r"no.* GPU.*driver library not found"):
        ShallowNNClassifier(device="cuda").fit(X, y)
    assert _fit("auto", X, y, solver="gd", max_iter=1).device_ == "cpu"


def test_import_fastnn_does_not_import_numba_cuda():
    import subprocess
    import sys

    code = ("import sys, fastnn; fastnn.ShallowNNClassifier(max_iter=1).fit("
            "[[0.0], [1.0]], [0, 1]); print('numba.cuda' in sys.modules)")
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", code],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_device_arrays_are_used_in_place(monkeypatch):
    X, y = _data(2)
    d_X = cuda.to_device(X)
    uploads = []
    real_to_device = cuda.to_device
    monkeypatch.setattr(cuda, "to_device",
                        lambda a, *args, **kw: uploads.append(a.shape)
                        or real_to_device(a, *args, **kw))
    gpu = _fit("cuda", d_X, cuda.to_device(y), solver="gd", learning_rate_init=0.5)
    assert X.shape not in uploads  # X was never copied, only y, weights, indices
    cpu = _fit("cpu", X, y, solver="gd", learning_rate_init=0.5)
    assert_same_weights(gpu, cpu)
    assert_array_equal(gpu.predict(d_X), cpu.predict(X))
    assert_allclose(gpu.predict_proba(d_X), cpu.predict_proba(X), rtol=1e-12)


def test_cuda_array_interface_objects_are_used_in_place(monkeypatch):
    """Objects with ``__cuda_array_interface__`` (CuPy, PyTorch) go through
    ``cuda.as_cuda_array``, which the simulator lacks: it is stood in for here."""
    X, y = _data(2)
    d_X = cuda.to_device(X)

    class Foreign:
        # Only its presence matters here: the stand-in below does the rest.
        __cuda_array_interface__ = None

    foreign = Foreign()
    monkeypatch.setattr(cuda, "as_cuda_array",
                        lambda obj: d_X if obj is foreign else None, raising=False)
    gpu = _fit("cuda", foreign, y, solver="gd", learning_rate_init=0.5)
    cpu = _fit("cpu", X, y, solver="gd", learning_rate_init=0.5)
    assert_same_weights(gpu, cpu)


@pytest.mark.parametrize(("X", "match"), [
    (np.array([[0.0, np.nan, 1.0]] * 4), "Input X contains NaN"),
    (np.array([[0.0, np.inf, 1.0]] * 4), "Input X contains infinity"),
    (np.zeros(4), "Expected 2D array, got 1D array"),
    (np.zeros((4, 3), dtype=np.int64), "float32 or float64"),
])
def test_device_input_is_validated(X, match):
    est = ShallowNNClassifier(device="cuda")
    with pytest.raises(ValueError, match=match):
        est.fit(cuda.to_device(X), [0, 1, 0, 1])
    assert not hasattr(est, "device_")  # a failed fit leaves no fitted attribute


def test_device_input_with_wrong_feature_count_is_refused():
    X, y = _data(2)
    est = _fit("cuda", X, y, solver="gd", max_iter=2)
    with pytest.raises(ValueError, match="features"):
        est.predict(cuda.to_device(np.ascontiguousarray(X[:, :2])))


def test_fitted_model_holds_host_arrays_and_pickles():
    X, y = _data(3)
    gpu = _fit("cuda", X, y, solver="adam", shuffle=False, batch_size=12,
               learning_rate_init=0.01, max_iter=5)
    for value in vars(gpu).values():
        assert not _device.is_device_array(value)
    clone = pickle.loads(pickle.dumps(gpu))
    # A CPU machine predicts with it: small host inputs always run on the CPU.
    assert_array_equal(clone.predict_proba(X), gpu.predict_proba(X))
    assert clone.device_ == "cuda"


def test_large_inputs_predict_on_the_gpu(monkeypatch):
    X, y = _data(3)
    gpu = _fit("cuda", X, y, solver="gd", max_iter=3)
    expected = gpu.predict_proba(X)
    launched = []
    real = network.predict_proba
    monkeypatch.setattr(network, "predict_proba",
                        lambda *a: launched.append(1) or real(*a))
    monkeypatch.setattr(_backends, "GPU_PREDICT_MIN_ROWS", 10)
    assert_allclose(gpu.predict_proba(X), expected, rtol=1e-12)
    assert launched


def test_real_gpu_fit_is_bitwise_reproducible(real_gpu_only):
    X, y = _data(3, n_samples=500, n_features=8)
    params = {"n_hidden": 32, "solver": "adam", "batch_size": 64, "max_iter": 10}
    first = _fit("cuda", X, y, **params)
    second = _fit("cuda", X, y, **params)
    assert_same_weights(first, second, rtol=0, atol=0)


@pytest.mark.parametrize("library", ["torch", "cupy"])
def test_real_gpu_foreign_arrays_are_used_in_place(real_gpu_only, library):
    X, y = _data(2, n_samples=200)
    if library == "torch":
        torch = pytest.importorskip("torch")
        if not torch.cuda.is_available():
            pytest.skip("PyTorch has no CUDA")
        foreign = torch.as_tensor(X, device="cuda")
    else:
        cupy = pytest.importorskip("cupy")
        foreign = cupy.asarray(X)
    gpu = _fit("cuda", foreign, y, solver="gd", learning_rate_init=0.5)
    cpu = _fit("cpu", X, y, solver="gd", learning_rate_init=0.5)
    assert_same_weights(gpu, cpu)
    assert_array_equal(gpu.predict(foreign), cpu.predict(X))


def test_callbacks_see_each_epochs_gpu_weights():
    """With callbacks the GPU hands every epoch's weights to the hooks: each
    ``fitted_estimator`` equals the CPU fit stopped after that epoch."""
    pytest.importorskip("sklearn.callback")
    from tests.test_callbacks import Recorder

    X, y = _data()
    params = {"solver": "gd", "learning_rate_init": 0.5, "max_iter": 3}
    rec = Recorder()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ShallowNNClassifier(device="cuda", n_hidden=3, random_state=0,
                            **params).set_callbacks(rec).fit(X, y)
    assert len(rec.fitted) == 3
    for k, fitted in enumerate(rec.fitted, start=1):
        assert_same_weights(fitted, _fit("cpu", X, y, **{**params, "max_iter": k}))
