"""Scenarios and system runners shared by the pytest benches and ``report.py``.

Every system in a scenario trains the same network (same hidden size, activation,
solver, learning rate, batch size, dtype, initial weights and epochs) on the same
data, with no L2 penalty (``alpha=0``) and with ``tol=0`` and
``n_iter_no_change=max_iter`` so that every epoch runs. ``'gd'`` is MLPClassifier's
``'sgd'`` with one batch of all samples, no momentum and no shuffling. Thread
settings are left at their defaults everywhere (BLAS, Numba and PyTorch each use
all cores).

A measured fit is preceded by a warm-up fit of two epochs on at most 2048 rows of
the same data, so that JIT compilation, Numba's cache loading and PyTorch's lazy
initialisation are not timed (P5 times exactly those, in fresh interpreters).

Run as a script, this module is the child process of the memory and cold-start
measurements: ``python scenarios.py peak-memory '<json>'``.
"""

import dataclasses
import datetime
import functools
import gc
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

SYSTEMS = ("fastnn", "sklearn", "numpy", "torch")
LABELS = {
    "fastnn": "fastnn",
    "sklearn": "sklearn MLPClassifier",
    "numpy": "NumPy (lecture code)",
    "torch": "PyTorch CPU",
}
RANDOM_STATE = 0
WARMUP_ROWS = 2048
WARMUP_EPOCHS = 2
# Smoke settings, used by `pytest --benchmark-disable` unless told otherwise.
SMOKE_SCALE = 0.01
# Activations the P4 grid shares between fastnn and MLPClassifier; MLPClassifier
# has no leaky_relu, which fastnn adds in a grid of its own.
GRID_HIDDEN = (1, 2, 3, 4, 5, 20, 50)
GRID_SHARED_ACTIVATIONS = ("logistic", "tanh", "relu")
GRID_ALL_ACTIVATIONS = (*GRID_SHARED_ACTIVATIONS, "leaky_relu")
GRID_CV = 5


@dataclasses.dataclass(frozen=True)
class Config:
    """How big a run is: ``scale`` multiplies epochs, ``quick`` shrinks P3's data."""

    scale: float = 1.0
    quick: bool = False


@dataclasses.dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    data: str
    n_hidden: int
    activation: str
    solver: str
    learning_rate_init: float
    epochs: int
    dtype: str
    batch_size: int | None = None
    rounds: int = 3
    quick: bool = False
    #: A regression scenario: ShallowNNRegressor against MLPRegressor.
    regression: bool = False
    #: The systems that take the scenario's data (P6's is sparse: fastnn and MLP).
    systems: tuple = SYSTEMS

    @property
    def shuffle(self):
        return self.solver != "gd"

    def label(self, system):
        """The system's name in the report (MLPRegressor for regression)."""
        if self.regression and system == "sklearn":
            return "sklearn MLPRegressor"
        return LABELS[system]


_BASE = {
    "P1": Scenario("P1", "seed: flower 400x2, tanh, gd", "flower", 4, "tanh", "gd",
                   1.2, 10000, "float64"),
    "P2": Scenario("P2", "minibatch: 20000x20, 3 classes, relu, adam",
                   "classification_p2", 64, "relu", "adam", 1e-3, 20, "float32",
                   batch_size=200),
    "P3": Scenario("P3", "large: 200000x100, 2 classes, relu, adam",
                   "classification_p3", 256, "relu", "adam", 1e-3, 3, "float32",
                   batch_size=512, rounds=1),
    # The grid sets n_hidden and activation; the others are the base estimator's.
    "P4": Scenario("P4", "grid: flower, GridSearchCV(cv=5), gd", "flower", 4,
                   "tanh", "gd", 1.2, 5000, "float64", rounds=1),
    "P5": Scenario("P5", "cold start: new interpreter, import + first P1 fit",
                   "flower", 4, "tanh", "gd", 1.2, 1000, "float64", rounds=3),
    "P2R": Scenario("P2R", "regression twin of P2: 20000x20, 3 targets, relu, adam",
                    "regression_p2", 64, "relu", "adam", 1e-3, 20, "float32",
                    batch_size=200, regression=True,
                    # the NumPy and PyTorch rivals are classifiers
                    systems=("fastnn", "sklearn")),
    "P6": Scenario("P6", "sparse: 200000x20000 CSR, 10 nonzeros/row, relu, adam",
                   "sparse_p6", 64, "relu", "adam", 1e-3, 2, "float32",
                   batch_size=256, rounds=1, systems=("fastnn", "sklearn")),
}
#: P6's goals: fastnn at least this many times faster than MLPClassifier, and a
#: fit's peak memory growth at most this many MiB.
P6_MIN_RATIO = 5.0
P6_MAX_GROWTH_MIB = 100.0
#: The speed goals (issue 12): ``(scenario, rival system, least rival / fastnn
#: ratio)``; P4 compares the grid variant ``sklearn`` with ``fastnn``. P3 also
#: has a throughput goal, :data:`P3_MIN_SGEMM_FRACTION` of the measured sgemm.
SPEED_GOALS = (
    ("P1", "sklearn", 30.0),
    ("P1", "numpy", 8.0),
    ("P3", "sklearn", 5.0),
    ("P4", "sklearn", 10.0),
    ("P6", "sklearn", P6_MIN_RATIO),
)
P3_MIN_SGEMM_FRACTION = 0.5
SCENARIOS = tuple(_BASE)


def get(name, config=Config()):
    """Scenario ``name`` with its epochs scaled and its data size set by ``config``."""
    base = _BASE[name]
    epochs = max(1, round(base.epochs * config.scale))
    return dataclasses.replace(base, epochs=epochs, quick=config.quick)


@functools.lru_cache(maxsize=4)
def _make_data(data, quick):
    from sklearn.datasets import make_classification

    if data == "flower":
        from fastnn import make_flower

        return make_flower()
    if data == "classification_p2":
        return make_classification(
            20000, 20, n_informative=10, n_classes=3, random_state=0
        )
    if data == "regression_p2":
        from sklearn.datasets import make_regression

        X, y = make_regression(20000, 20, n_informative=10, n_targets=3, noise=1.0,
                               random_state=0)
        return X, y / y.std(axis=0)
    if data == "sparse_p6":
        return make_sparse_p6(2000 if quick else 200000)
    n_samples = 20000 if quick else 200000
    return make_classification(n_samples, 100, n_informative=50, random_state=0)


def make_sparse_p6(n_samples, n_features=20000, nnz_per_row=10, random_state=0):
    """P6's data: CSR rows of ``nnz_per_row`` random features, a learnable target.

    Values are standard normal; the two classes are the sign of a random sparse
    linear model (a fifth of the features matter) plus a little noise, so a
    network can learn them. (``quick`` keeps the features and takes 1% of the
    rows.)
    """
    import scipy.sparse as sp

    rng = np.random.default_rng(random_state)
    indices = rng.integers(0, n_features, (n_samples, nnz_per_row))
    indices.sort(axis=1)
    X = sp.csr_matrix(
        (rng.standard_normal(n_samples * nnz_per_row), indices.ravel(),
         np.arange(0, n_samples * nnz_per_row + 1, nnz_per_row)),
        shape=(n_samples, n_features))
    X.sum_duplicates()
    w = rng.standard_normal(n_features) * (rng.random(n_features) < 0.2)
    margin = X @ w
    y = (margin + 0.1 * margin.std() * rng.standard_normal(n_samples) > 0)
    return X, y.astype(np.int64)


def load_data(scenario):
    """``(X, y)`` of a scenario, X C-contiguous (or CSR) in the scenario's dtype."""
    X, y = _make_data(scenario.data, scenario.quick)
    if hasattr(X, "tocsr"):  # sparse: converted, never densified
        return X.astype(scenario.dtype), y
    return np.ascontiguousarray(X, dtype=scenario.dtype), y


def data_shape(scenario):
    """``(n_samples, n_features, n_classes)``; for regression the third is the
    number of targets."""
    X, y = load_data(scenario)
    if scenario.regression:
        return X.shape[0], X.shape[1], y.shape[1]
    return X.shape[0], X.shape[1], len(np.unique(y))


# ---------------------------------------------------------------------------
# Estimators.


def estimator_spec(system, scenario, n_samples, epochs=None, **overrides):
    """``(module, class name, keyword arguments)`` of a system's estimator.

    Plain data, so that a child process can build the same estimator.
    """
    epochs = scenario.epochs if epochs is None else epochs
    common = {
        "activation": scenario.activation,
        "learning_rate_init": scenario.learning_rate_init,
        "max_iter": epochs,
        "random_state": RANDOM_STATE,
    }
    batch_size = n_samples if scenario.solver == "gd" else scenario.batch_size
    if system in ("fastnn", "sklearn"):
        common.update(alpha=0.0, tol=0.0, n_iter_no_change=epochs)
    kind = "Regressor" if scenario.regression else "Classifier"
    if system == "fastnn":
        spec = ("fastnn", f"ShallowNN{kind}", {
            "n_hidden": scenario.n_hidden, "solver": scenario.solver,
            "batch_size": batch_size, "shuffle": scenario.shuffle, **common})
    elif system == "sklearn":
        spec = ("sklearn.neural_network", f"MLP{kind}", {
            "hidden_layer_sizes": [scenario.n_hidden],
            "solver": "sgd" if scenario.solver == "gd" else scenario.solver,
            "batch_size": batch_size, "shuffle": scenario.shuffle, **common})
        if scenario.solver == "gd":
            spec[2]["momentum"] = 0.0
    elif system in ("numpy", "torch"):
        name = "NumpyShallowNN" if system == "numpy" else "TorchShallowNN"
        spec = ("rivals", name, {
            "n_hidden": scenario.n_hidden, "solver": scenario.solver,
            "batch_size": batch_size, "shuffle": scenario.shuffle, **common})
    else:
        raise ValueError(f"unknown system {system!r}")
    spec[2].update(overrides)
    return spec


def build(spec):
    module, name, params = spec
    __import__(module)
    return getattr(sys.modules[module], name)(**params)


def available(system):
    """``None`` when ``system`` can run here, else the reason it cannot."""
    if system == "torch":
        import rivals

        if not rivals.torch_available():
            return "PyTorch is not installed (pip install torch)"
    return None


def _quiet_fit(estimator, X, y):
    # Runs end at max_iter by design, and MLP clips a gd batch larger than a CV
    # fold: both warn on every fit.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return estimator.fit(X, y)


def warm_up(system, scenario, X, y):
    """Fit briefly on a slice of the data: imports, JIT or cache load, lazy init."""
    Xw, yw = X[:WARMUP_ROWS], y[:WARMUP_ROWS]
    spec = estimator_spec(system, scenario, Xw.shape[0], epochs=WARMUP_EPOCHS)
    _quiet_fit(build(spec), Xw, yw)


@dataclasses.dataclass
class Result:
    """One measured system in one scenario; ``seconds`` is the best round."""

    scenario: str
    system: str
    label: str
    epochs: int
    seconds: float
    accuracy: float | None
    notes: dict = dataclasses.field(default_factory=dict)

    @property
    def per_epoch(self):
        return self.seconds / self.epochs

    def extra_info(self):
        info = {
            "scenario": self.scenario,
            "system": self.system,
            "epochs": self.epochs,
            "seconds": self.seconds,
            "time_per_epoch_s": self.per_epoch,
            "accuracy": self.accuracy,
        }
        info.update(self.notes)
        return info


class FitRunner:
    """Times full fits of one system on one scenario (P1-P3)."""

    def __init__(self, system, scenario):
        self.system, self.scenario = system, scenario
        self.X, self.y = load_data(scenario)
        self.spec = estimator_spec(system, scenario, self.X.shape[0])
        self.times, self.accuracy = [], None

    def warm_up(self):
        warm_up(self.system, self.scenario, self.X, self.y)

    def run(self):
        estimator = build(self.spec)
        tic = time.perf_counter()
        _quiet_fit(estimator, self.X, self.y)
        self.times.append(time.perf_counter() - tic)
        self.accuracy = float(estimator.score(self.X, self.y))
        return estimator

    def result(self):
        n, d, k = data_shape(self.scenario)
        regression = self.scenario.regression
        return Result(
            self.scenario.name, self.system, self.scenario.label(self.system),
            self.scenario.epochs, min(self.times), self.accuracy,
            {"accuracy_on": "training set" + (" (R^2)" if regression else ""),
             "data": f"{n}x{d}, {k} {'targets' if regression else 'classes'}",
             "dtype": self.scenario.dtype, "alpha": 0.0,
             "rounds": len(self.times), "worst_seconds": max(self.times),
             **thread_info(self.system)},
        )


def thread_info(system):
    """The thread counts a system runs with (defaults, never changed here)."""
    if system == "fastnn":
        try:  # the count fastnn's parallel kernels use (private, may move)
            from fastnn.cpu.threads import n_threads
        except ImportError:
            from numba import get_num_threads as n_threads
        return {"fastnn_threads": n_threads()}
    if system == "torch":
        import torch

        return {"torch_threads": torch.get_num_threads()}
    from threadpoolctl import threadpool_info

    return {"blas_threads": max(
        (p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"),
        default=None)}


# ---------------------------------------------------------------------------
# P4: the grid search.

GRID_VARIANTS = {
    "fastnn": ("fastnn", GRID_SHARED_ACTIVATIONS),
    "sklearn": ("sklearn", GRID_SHARED_ACTIVATIONS),
    "fastnn+leaky_relu": ("fastnn", GRID_ALL_ACTIVATIONS),
}
GRID_DECISION = (
    "MLPClassifier has no leaky_relu: fastnn and MLP are compared on the same "
    "7x3 grid (logistic, tanh, relu); 'fastnn+leaky_relu' is fastnn's full 7x4 "
    "grid, timed per epoch for reference"
)


class GridRunner:
    """Times ``GridSearchCV(cv=5)`` over hidden sizes and activations (P4)."""

    def __init__(self, variant, scenario):
        self.variant, self.scenario = variant, scenario
        self.system, self.activations = GRID_VARIANTS[variant]
        self.X, self.y = load_data(scenario)
        self.times, self.search = [], None

    def _search(self, epochs):
        from sklearn.model_selection import GridSearchCV

        spec = estimator_spec(self.system, self.scenario, len(self.X), epochs)
        if self.system == "fastnn":
            grid = {"n_hidden": list(GRID_HIDDEN)}
        else:
            grid = {"hidden_layer_sizes": [[h] for h in GRID_HIDDEN]}
        grid["activation"] = list(self.activations)
        return GridSearchCV(build(spec), grid, cv=GRID_CV)

    def warm_up(self):
        for activation in self.activations:
            scenario = dataclasses.replace(self.scenario, activation=activation)
            warm_up(self.system, scenario, self.X, self.y)

    def run(self):
        search = self._search(self.scenario.epochs)
        tic = time.perf_counter()
        _quiet_fit(search, self.X, self.y)
        self.times.append(time.perf_counter() - tic)
        self.search = search
        return search

    def result(self):
        n_candidates = len(GRID_HIDDEN) * len(self.activations)
        n_fits = n_candidates * GRID_CV + 1  # + the refit on all the data
        return Result(
            self.scenario.name, self.variant,
            LABELS[self.system] + ("" if self.variant != "fastnn+leaky_relu"
                                   else " (+leaky_relu)"),
            n_fits * self.scenario.epochs, min(self.times),
            float(self.search.best_score_),
            {"accuracy_on": "best mean CV accuracy", "n_fits": n_fits,
             "activations": list(self.activations),
             "best_params": {k: str(v) for k, v in self.search.best_params_.items()},
             "grid_decision": GRID_DECISION, "rounds": len(self.times),
             **thread_info(self.system)},
        )


# ---------------------------------------------------------------------------
# Child processes: P5 cold start and P3 peak memory.

COLD_VARIANTS = {
    "fastnn": ("fastnn", "warm"),
    "fastnn-compile": ("fastnn", "empty"),
    "sklearn": ("sklearn", None),
}
COLD_LABELS = {
    "fastnn": "fastnn (Numba cache warm)",
    "fastnn-compile": "fastnn (first compile, empty NUMBA_CACHE_DIR)",
    "sklearn": "sklearn MLPClassifier",
}

# Imports nothing but numpy before the clock starts on the system's import; the
# data comes from a file so that MLP's process never imports fastnn or Numba.
_COLD_CHILD = """
import json, sys, time, warnings
t0 = time.perf_counter()
import numpy as np
module, name, params = json.loads(sys.argv[1])
with np.load(sys.argv[2]) as data:
    X, y = data["X"], data["y"]
t1 = time.perf_counter()
estimator_class = getattr(__import__(module, fromlist=[name]), name)
t2 = time.perf_counter()
estimator = estimator_class(**params)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    estimator.fit(X, y)
t3 = time.perf_counter()
print(json.dumps({"import_s": t2 - t1, "fit_s": t3 - t2,
                  "accuracy": float(estimator.score(X, y))}))
"""


def _run_child(args, env=None):
    tic = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=env,
        check=False,
    )
    wall = time.perf_counter() - tic
    if proc.returncode != 0:
        raise RuntimeError(f"child process failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1]), wall


class ColdStartRunner:
    """Times a new interpreter importing a system and fitting P1 once (P5)."""

    def __init__(self, variant, scenario):
        self.variant, self.scenario = variant, scenario
        self.system, self.cache = COLD_VARIANTS[variant]
        X, y = load_data(scenario)
        self._tmp = tempfile.TemporaryDirectory(prefix="fastnn-bench-")
        self.data_path = Path(self._tmp.name) / "data.npz"
        np.savez(self.data_path, X=X, y=y)
        spec = estimator_spec(self.system, scenario, len(X))
        self.args = ["-c", _COLD_CHILD, json.dumps(spec), str(self.data_path)]
        self.walls, self.children = [], []

    def _env(self):
        env = dict(os.environ)
        if self.cache == "empty":
            env["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(dir=self._tmp.name)
        return env

    def warm_up(self):
        if self.cache == "warm":  # fills fastnn's Numba cache if it is stale
            _run_child(self.args)

    def run(self):
        child, wall = _run_child(self.args, self._env())
        self.walls.append(wall)
        self.children.append(child)
        return child

    def result(self):
        best = int(np.argmin(self.walls))
        child = self.children[best]
        return Result(
            self.scenario.name, self.variant, COLD_LABELS[self.variant],
            self.scenario.epochs, self.walls[best], child["accuracy"],
            {"accuracy_on": "training set",
             "timed": "process start to exit (interpreter, numpy, data load, "
                      "import, fit, score)",
             "time_per_epoch_s": None,  # a process total, not an epoch time
             "import_s": child["import_s"], "first_fit_s": child["fit_s"],
             "rounds": len(self.walls), "worst_seconds": max(self.walls)},
        )


def _rss_kib(field):
    """``VmRSS`` or ``VmHWM`` of this process, in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise OSError(field)


def _reset_peak():
    # Resets VmHWM to the current RSS (Linux >= 4.0). ru_maxrss cannot be reset,
    # and in a child it may even hold the parent's size, inherited through vfork.
    Path("/proc/self/clear_refs").write_text("5")


def _peak_memory_child(system, name, config):
    scenario = get(name, config)
    X, y = load_data(scenario)
    warm_up(system, scenario, X, y)
    estimator = build(estimator_spec(system, scenario, X.shape[0]))
    gc.collect()
    try:
        _reset_peak()
        baseline, method = _rss_kib("VmRSS"), "VmHWM after clear_refs"
    except OSError:
        import resource

        baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        method = "ru_maxrss delta"
    _quiet_fit(estimator, X, y)
    if method.startswith("VmHWM"):
        peak = _rss_kib("VmHWM")
    else:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"baseline_mib": baseline / 1024, "peak_mib": peak / 1024,
            "delta_mib": (peak - baseline) / 1024, "method": method}


class PeakMemoryRunner:
    """Peak memory of a P3 (or P6) fit above the baseline, in a fresh child process.

    The baseline is taken after the imports, the data and a warm-up fit, so it
    holds the data set, the libraries and the compiled code; the delta is what
    training itself allocates.
    """

    def __init__(self, system, scenario, config):
        self.system, self.scenario = system, scenario
        payload = json.dumps({"system": system, "scenario": scenario.name,
                              "config": dataclasses.asdict(config)})
        self.args = [os.path.abspath(__file__), "peak-memory", payload]
        self.child = None

    def run(self):
        self.child, _ = _run_child(self.args)
        return self.child

    def result(self):
        return dict(self.child, system=self.system, epochs=self.scenario.epochs)


# ---------------------------------------------------------------------------
# Machine and throughput.


def measure_sgemm(n=4096, repeats=3):
    """Best float32 ``np.matmul`` throughput of an ``n x n`` product, GFLOP/s."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    np.matmul(a, b)
    best = min(_timed(np.matmul, a, b) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _timed(func, *args):
    tic = time.perf_counter()
    func(*args)
    return time.perf_counter() - tic


FLOPS_FORMULA = (
    "FLOPs/epoch = 4*n*d*h + 6*n*h*o: forward X@W1 and A1@W2 (2nd h + 2nho), "
    "weight gradients X'@dZ1 and A1'@dZ2 (2ndh + 2nho), hidden delta dZ2@W2' "
    "(2nho); no input gradient is computed (the common 6N(dh+ho) rule counts one)"
)


def flops_per_epoch(n, d, h, o):
    return 4 * n * d * h + 6 * n * h * o


def _fastnn_revision():
    """fastnn's version and git commit, ``+dirty`` when fastnn/ has local edits."""
    import fastnn

    root = Path(fastnn.__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
            text=True, check=True).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "fastnn"], cwd=root,
            capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return fastnn.__version__
    return f"{fastnn.__version__} (git {commit}{'+dirty' if dirty else ''})"


def machine_info():
    """Date, CPU, cores and library versions, for the report's header."""
    import numba
    import sklearn

    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "fastnn": _fastnn_revision(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "sklearn": sklearn.__version__,
        "torch": None,
    }
    if available("torch") is None:
        import torch

        info["torch"] = torch.__version__
    return info


if __name__ == "__main__":
    if sys.argv[1] != "peak-memory":
        raise SystemExit(f"usage: {sys.argv[0]} peak-memory JSON")
    job = json.loads(sys.argv[2])
    out = _peak_memory_child(job["system"], job["scenario"], Config(**job["config"]))
    print(json.dumps(out))
