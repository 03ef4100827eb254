"""Measure fastnn's first-use cost (JIT compilation, cache loads) and print a table.

    python benches/compile_time.py                      # every measurement
    python benches/compile_time.py --only seed,warm     # a subset
    python benches/compile_time.py --repeat 5 --json raw.json
    python benches/compile_time.py --smoke --repeat 1   # runs through; measures nothing

Every measurement runs in a fresh child process (``sys.executable -c <script>``,
same environment, so ``PYTHONPATH`` picks the same ``fastnn``) with its own empty
Numba cache directory (``NUMBA_CACHE_DIR``, a ``tempfile.mkdtemp()`` removed
afterwards); only the warm-cache, script and precompile measurements share a cache
between the processes that need it. Children time their steps with
``time.perf_counter`` and report them as one JSON line on stdout, with the number of
units Numba compiled in each step: its ``numba:compile`` events (one per function
and signature compiled, callees included; loads from the cache raise none), counted
by a ``numba.core.event`` listener that fastnn's children register in their timed
import. The parent also records each child's wall time, from process start to exit.
Warnings are silenced in the children. Where it makes sense, scikit-learn's
``MLPClassifier`` (``MLPRegressor``) runs the same job in its own child process
beside fastnn. The flower data of the MLP children comes from ``fastnn/datasets.py``
loaded on its own, so that they do not import numba. The budgets are those of issue
19 ("First use in seconds"), printed beside each measurement.

Measurements (names for ``--only``):

``seed``
    import, first fit, first predict and first predict_proba: float64 flower data,
    4 tanh units, full-batch gradient descent, 50 epochs.
``float32``
    the same steps on 2000 x 20 float32 Gaussian data (3 classes), 64 relu units,
    adam, 5 epochs.
``regressor``
    ShallowNNRegressor against MLPRegressor on the float32 data (regression
    targets), 64 relu units, adam, 5 epochs: a first fit and predict in a fresh
    process, and the same fit right after a classifier fit of the same
    configuration (incremental cost: both estimators run the same kernels).
``early``
    the ``float32`` steps with early stopping on the same data in float64, 32 relu
    units, adam, at most 20 epochs: the validation scores run inside the fit, and
    the first predict after it must still be cheap.
``sparse``
    the same steps on a 2000 x 500 float32 CSR matrix (10 nonzeros a row, 3
    classes), 64 relu units, adam, 5 epochs (the sparse first-layer kernels compile
    only for sparse input).
``lbfgs``
    the same steps with L-BFGS on 500 x 10 float64 Gaussian data (3 classes), 16 tanh
    units, 50 iterations; and the same lbfgs fit right after a gd fit (the seed
    configuration) on the same data in one process (incremental cost).
``threaded``
    the same steps on P3's data and network (``scenarios.py``: 200000 x 100 float32,
    256 relu units, adam, batches of 512 rows, a fit that uses threads), one epoch;
    then the same fit again in that process (its time without compilation).
``script``
    a first script of 28 small fits: scikit-learn's example "Compare Stochastic
    learning strategies for MLPClassifier" (``plot_mlp_training_curves.py``) without
    its plots: 7 settings (sgd with a constant rate, with momentum, with Nesterov's
    momentum, the same three with invscaling; adam) x 4 data sets (iris, digits,
    circles, moons, scaled to [0, 1]), 100 relu units, float64, the example's
    ``max_iter`` (400; 15 on digits), fit and score each. The whole process's wall
    time against MLPClassifier's, on an empty cache and on the cache that run
    filled (medians of ``--repeat``), and the final losses against MLP's.
``main``
    wall time of ``python -m fastnn`` (the README's main job) and of
    ``python -m fastnn --epochs 50``.
``warm``
    after one process has filled a cache, fresh processes on that cache: import and
    1000-epoch flower fit, against the same with MLPClassifier; medians of
    ``--repeat`` runs and the ratio MLP / fastnn (>= 1 means fastnn is as fast).
``precompile``
    ``python -m fastnn compile`` (or ``fastnn.compile()`` / ``fastnn.precompile()``)
    on an empty cache; then, in one fresh process on that cache, the seed fit and
    predict (timed) and the fit and predictions of every configuration above
    (P3's on its 20000-row data set) in float64 and in float32, which should
    compile nothing.

``python -m fastnn`` runs as ``python -c <runner> fastnn ...``, a runner that
registers the listener and then does what ``-m`` does (``runpy.run_module``).
``--smoke`` checks that everything runs and measures nothing: every child uses
the environment's Numba cache (``NUMBA_CACHE_DIR``, else Numba's default beside
the sources) instead of an empty one, ``threaded`` takes P3's 20000-row data set
and the script's fits stop after 3 epochs.

Progress goes to stderr, the table to stdout. Nothing here asserts on timings.
"""

import argparse
import contextlib
import functools
import importlib.metadata
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import scenarios

MEASUREMENTS = ("seed", "float32", "regressor", "early", "sparse", "lbfgs",
                "threaded", "script", "main", "warm", "precompile")
_BENCHES = Path(__file__).resolve().parent
_REPO = _BENCHES.parent
_CHILD_TIMEOUT_S = 1800
_FLOWER_SAMPLES = 400  # make_flower()'s default size: MLP's full batch.
_LBFGS_SAMPLES = 500
DTYPES = ("float64", "float32")

# Budgets of issue 19's first-use goals: seconds, or ratios MLP / fastnn of times.
SEED_FIT_BUDGET_S = 2.5
FIT_BUDGET_S = 3.5
THREADED_FIT_BUDGET_S = 6.0
PREDICT_BUDGET_S = 0.3
MAIN_BUDGET_S = 6.0
COMPILE_BUDGET_S = 30.0
WARM_MIN_RATIO = 1.0
SCRIPT_COLD_MIN_RATIO = 0.5  # fastnn's first script takes at most 2x MLP's
SCRIPT_WARM_MIN_RATIO = 1.5
LOSS_RTOL = 1e-10  # the script's final losses against MLP's


def _mlp(params):
    """MLP's arguments for fastnn's ``params``: ``n_hidden`` as the hidden layer."""
    rest = {key: value for key, value in params.items() if key != "n_hidden"}
    return {"hidden_layer_sizes": (params["n_hidden"],), **rest}


SEED = {"n_hidden": 4, "activation": "tanh", "solver": "gd",
        "learning_rate_init": 1.2, "max_iter": 50, "random_state": 0}
SEED_MLP = {"hidden_layer_sizes": (4,), "activation": "tanh", "solver": "sgd",
            "batch_size": _FLOWER_SAMPLES, "momentum": 0.0, "shuffle": False,
            "learning_rate_init": 1.2, "max_iter": 50, "random_state": 0}
FLOAT32 = {"n_hidden": 64, "activation": "relu", "solver": "adam", "max_iter": 5,
           "random_state": 0}
EARLY = {"n_hidden": 32, "activation": "relu", "solver": "adam",
         "early_stopping": True, "max_iter": 20, "random_state": 0}
LBFGS = {"n_hidden": 16, "activation": "tanh", "solver": "lbfgs", "max_iter": 50,
         "random_state": 0}
_EXACT_1000 = {"max_iter": 1000, "tol": 0.0, "n_iter_no_change": 1000}
WARM = {**SEED, **_EXACT_1000}
WARM_MLP = {**SEED_MLP, **_EXACT_1000}

# scikit-learn's plot_mlp_training_curves.py: its settings, data sets and max_iter.
SCRIPT_SETTINGS = (
    ("constant learning-rate", {"solver": "sgd", "learning_rate": "constant",
                                "momentum": 0, "learning_rate_init": 0.2}),
    ("constant with momentum", {"solver": "sgd", "learning_rate": "constant",
                                "momentum": 0.9, "nesterovs_momentum": False,
                                "learning_rate_init": 0.2}),
    ("constant with Nesterov's momentum", {
        "solver": "sgd", "learning_rate": "constant", "momentum": 0.9,
        "nesterovs_momentum": True, "learning_rate_init": 0.2}),
    ("inv-scaling learning-rate", {"solver": "sgd", "learning_rate": "invscaling",
                                   "momentum": 0, "learning_rate_init": 0.2}),
    ("inv-scaling with momentum", {"solver": "sgd", "learning_rate": "invscaling",
                                   "momentum": 0.9, "nesterovs_momentum": False,
                                   "learning_rate_init": 0.2}),
    ("inv-scaling with Nesterov's momentum", {
        "solver": "sgd", "learning_rate": "invscaling", "momentum": 0.9,
        "nesterovs_momentum": True, "learning_rate_init": 0.2}),
    ("adam", {"solver": "adam", "learning_rate_init": 0.01}),
)
SCRIPT_MAX_ITER = {"iris": 400, "digits": 15, "circles": 400, "moons": 400}
_SMOKE_MAX_ITER = 3


@dataclass(frozen=True)
class Job:
    """A configuration whose first fit and predictions are measured."""

    title: str
    data: str  # a data set of _data
    params: dict
    mlp_params: dict
    fit_budget: float = FIT_BUDGET_S
    regressor: bool = False

    @property
    def steps(self):
        return FIT_STEPS[:2] if self.regressor else FIT_STEPS

    def system(self, name):
        """The child's estimator: ``name`` ("fastnn" or "mlp"), or its regressor."""
        return f"{name}_reg" if self.regressor else name


def jobs(quick=False):
    """The configurations of the first-fit measurements, by name.

    ``quick`` takes P3's 20000-row data set instead of its 200000 rows.
    """
    p3 = scenarios.get("P3", scenarios.Config(quick=quick))
    # adam: the batch size is P3's own, and n_samples is not used.
    threaded, threaded_mlp = (scenarios.estimator_spec(system, p3, None, epochs=1)[2]
                              for system in ("fastnn", "sklearn"))
    return {
        "seed": Job("first fit, seed configuration (f64 gd tanh, 4 units, flower)",
                    "flower", SEED, SEED_MLP, SEED_FIT_BUDGET_S),
        "float32": Job("first fit, float32 adam relu (2000 x 20, 64 units, 3 "
                       "classes)", "gaussian", FLOAT32, _mlp(FLOAT32)),
        "regressor": Job("first regressor fit, float32 adam relu (2000 x 20, 64 "
                         "units)", "regression", FLOAT32, _mlp(FLOAT32),
                         regressor=True),
        "early": Job("first fit, early stopping (f64 adam relu, 2000 x 20, 32 units)",
                     "early", EARLY, _mlp(EARLY)),
        "sparse": Job("first fit, sparse CSR float32 (2000 x 500, 64 units, adam "
                      "relu)", "sparse", FLOAT32, _mlp(FLOAT32)),
        "lbfgs": Job("first fit, lbfgs (f64 tanh, 500 x 10, 16 units)", "lbfgs",
                     LBFGS, _mlp(LBFGS)),
        "threaded": Job(f"first fit using threads (P3: {20000 if quick else 200000}"
                        f" x 100 float32, 2 classes, {p3.n_hidden} {p3.activation} "
                        f"units, {p3.solver}, batches of {p3.batch_size}, 1 epoch)",
                        "p3_quick" if quick else "p3", threaded, threaded_mlp,
                        THREADED_FIT_BUDGET_S),
    }


# --- child scripts --------------------------------------------------------------

_PRELUDE = """\
import json, time, warnings
warnings.simplefilter("ignore")
R, U, L = {}, {}, {}  # by step: seconds, units compiled, final loss
_compiled = [0]"""
_COUNT_COMPILES = """\
from numba.core import event as _event
class _Count(_event.Listener):
    def on_start(self, ev):
        pass
    def on_end(self, ev):
        _compiled[0] += 1
_event.register("numba:compile", _Count())"""
_REPORT = 'print(json.dumps({**R, "units": U, "losses": L}))'
_IMPORTS = {
    "fastnn": f"{_COUNT_COMPILES}\nimport fastnn\nEst = fastnn.ShallowNNClassifier",
    "mlp": "from sklearn.neural_network import MLPClassifier as Est",
    "fastnn_reg": f"{_COUNT_COMPILES}\nimport fastnn\nEst = fastnn.ShallowNNRegressor",
    "mlp_reg": "from sklearn.neural_network import MLPRegressor as Est",
}
# ``python -m <module> ARGS`` as ``python -c _RUN_MODULE <module> ARGS``, counting.
_RUN_MODULE = f"""\
{_PRELUDE}
{_COUNT_COMPILES}
import runpy, sys
try:
    runpy.run_module(sys.argv.pop(1), run_name="__main__", alter_sys=True)
finally:
    U["all"] = _compiled[0]
    print(json.dumps({{"units": U}}))"""
_FLOWER_ALONE = """\
import importlib.util
_spec = importlib.util.spec_from_file_location("_flower", {path!r})
_flower = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_flower)
X, y = _flower.make_flower()"""
_GAUSSIAN = """\
import numpy as np
X = np.random.RandomState(0).randn({n}, {d}).astype(np.{dtype})
y = np.digitize(X[:, 0] + X[:, 1], [-0.5, 0.5])"""
_DATA = {
    "gaussian": _GAUSSIAN.format(n=2000, d=20, dtype="float32"),
    "regression": (_GAUSSIAN.format(n=2000, d=20, dtype="float32")
                   + "\ny = (X[:, 0] + X[:, 1] ** 2).astype(np.float32)"),
    "early": _GAUSSIAN.format(n=2000, d=20, dtype="float64"),
    "lbfgs": _GAUSSIAN.format(n=_LBFGS_SAMPLES, d=10, dtype="float64"),
    "sparse": """\
import numpy as np, scipy.sparse as sp
X = sp.random(2000, 500, density=0.02, format="csr", random_state=0,
              dtype=np.float32)
y = np.digitize(X @ np.random.RandomState(1).randn(500), [-0.5, 0.5])""",
}
_P3_DATA = """\
import sys
sys.path.insert(0, {benches!r})
import scenarios
X, y = scenarios.load_data(scenarios.get("P3", scenarios.Config(quick={quick})))"""
_SCRIPT_DATA = """\
from sklearn import datasets
from sklearn.preprocessing import MinMaxScaler
data = {"iris": datasets.load_iris(return_X_y=True),
        "digits": datasets.load_digits(return_X_y=True),
        "circles": datasets.make_circles(noise=0.2, factor=0.5, random_state=1),
        "moons": datasets.make_moons(noise=0.3, random_state=0)}
data = {name: (MinMaxScaler().fit_transform(X), y) for name, (X, y) in data.items()}"""
_PRECOMPILE_FUNCTION = """\
import sys, warnings
warnings.simplefilter("ignore")
import fastnn
func = getattr(fastnn, "compile", None) or getattr(fastnn, "precompile", None)
sys.exit(3 if func is None else func())"""
FIT_STEPS = (("fit", "model.fit(X, y)"), ("predict", "model.predict(X)"),
             ("predict_proba", "model.predict_proba(X)"))
_STEP_TITLES = {"fit": "first fit", "predict": "first predict (after the fit)",
                "predict_proba": "first predict_proba (after predict)"}


def _timed(key, statement):
    """Child source: ``statement``, its seconds in ``R[key]``, its units in ``U``."""
    return (f"_t, _c = time.perf_counter(), _compiled[0]\n{statement}\n"
            f"R[{key!r}] = time.perf_counter() - _t\n"
            f"U[{key!r}] = _compiled[0] - _c")


def _data(system, data):
    if data in _DATA:
        return _DATA[data]
    if data in ("p3", "p3_quick"):
        return _P3_DATA.format(benches=str(_BENCHES), quick=data == "p3_quick")
    if system.startswith("fastnn"):
        return "X, y = fastnn.make_flower()"
    return _FLOWER_ALONE.format(path=str(Path(fastnn_dir()) / "datasets.py"))


@functools.cache
def fastnn_dir():
    """The ``fastnn`` package directory that the children import, not importing it.

    Asked of a child: ``-c`` puts the working directory first on ``sys.path``,
    which this script's own process does not.
    """
    where = subprocess.run(
        [sys.executable, "-c", "import importlib.util as u; "
         "print(u.find_spec('fastnn').submodule_search_locations[0])"],
        capture_output=True, text=True, check=False)
    return where.stdout.strip() or "not found"


def _fit_section(system, data, params, steps, prefix="", dtype=None):
    """Child source: data, ``X`` cast to ``dtype``, ``model = Est(**params)``, steps.

    Each step's key is ``prefix`` followed by its own key.
    """
    parts = [_data(system, data)]
    if dtype is not None:
        parts.append(f"import numpy as np\nX = X.astype(np.{dtype})")
    parts.append(f"model = Est(**{params!r})")
    return parts + [_timed(prefix + key, statement) for key, statement in steps]


def child_script(system, data, params, steps):
    """Source of a child: timed import, data, ``model = Est(**params)``, timed steps.

    Parameters
    ----------
    system : {"fastnn", "mlp", "fastnn_reg", "mlp_reg"}
        ``Est`` is ``ShallowNNClassifier``, ``MLPClassifier``,
        ``ShallowNNRegressor`` or ``MLPRegressor``; fastnn's children count the
        units Numba compiles.
    data : str
        The data set bound to ``X, y``: "flower", a key of ``_DATA``, "p3" or
        "p3_quick".
    params : dict
        Constructor arguments of ``model``.
    steps : sequence of (str, str)
        ``(key, statement)`` pairs; each statement's seconds go to ``R[key]``, the
        units it compiled to ``U[key]``.
    """
    return "\n".join([_PRELUDE, _timed("import", _IMPORTS[system]),
                      *_fit_section(system, data, params, steps), _REPORT])


def script_source(system, smoke=False):
    """Source of the ``script`` child: the example's 28 fits, each fit and scored.

    Each fit's key is ``"<data set>: <setting>"``; its final ``loss_`` goes to
    ``L``. ``smoke`` stops every fit after :data:`_SMOKE_MAX_ITER` epochs.
    """
    parts = [_PRELUDE, _timed("import", _IMPORTS[system]), _SCRIPT_DATA]
    for key, name, max_iter, params in script_fits():
        max_iter = min(max_iter, _SMOKE_MAX_ITER) if smoke else max_iter
        fit = (f"model = Est(random_state=0, max_iter={max_iter}, **{params!r})"
               f"\nmodel.fit(*data[{name!r}]).score(*data[{name!r}])")
        parts += [_timed(key, fit), f"L[{key!r}] = float(model.loss_)"]
    return "\n".join([*parts, _REPORT])


def script_fits():
    """The script's fits in order: (key, data set, max_iter, settings)."""
    return [(f"{name}: {label}", name, max_iter, params)
            for name, max_iter in SCRIPT_MAX_ITER.items()
            for label, params in SCRIPT_SETTINGS]


def check_script():
    """Source of the child after a precompile: every job in both dtypes, fastnn.

    Keys are ``"<job> <dtype> <step>"``; the seed job in float64 comes first.
    """
    parts = [_PRELUDE, _timed("import", _IMPORTS["fastnn"])]
    for name, job in jobs(quick=True).items():
        estimator = "ShallowNNRegressor" if job.regressor else "ShallowNNClassifier"
        for dtype in DTYPES:
            parts.append(f"Est = fastnn.{estimator}")
            parts += _fit_section("fastnn", job.data, job.params, job.steps,
                                  f"{name} {dtype} ", dtype)
    return "\n".join([*parts, _REPORT])


def _module_args(module, *argv):
    """Child arguments that run ``python -m module *argv``, counting compilations."""
    return ["-c", _RUN_MODULE, module, *argv]


# --- running children -----------------------------------------------------------

# The cache of every child in a --smoke run (then "" is Numba's default); None: empty
# caches of their own.
_shared_cache = None


def _progress(message):
    print(message, file=sys.stderr, flush=True)


def _last_json(stdout):
    for line in reversed(stdout.splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                return None
    return None


@contextlib.contextmanager
def numba_cache(prefix="fastnn-numba-"):
    """An empty Numba cache directory, removed afterwards (in --smoke runs, the
    environment's cache, kept)."""
    if _shared_cache is not None:
        yield _shared_cache
        return
    path = tempfile.mkdtemp(prefix=prefix)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def run_child(label, args, cache_dir=None):
    """Run ``sys.executable *args`` with ``NUMBA_CACHE_DIR`` set; return a record.

    Without ``cache_dir``, the child gets its own empty directory, removed after it.
    The record holds the label, arguments, return code (None on timeout),
    parent-measured wall seconds, the child's JSON line (or None), its stdout and
    the tail of its stderr.
    """
    with contextlib.ExitStack() as stack:
        if cache_dir is None:
            cache_dir = stack.enter_context(numba_cache())
        env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir, "PYTHONWARNINGS": "ignore"}
        start = time.perf_counter()
        try:
            proc = subprocess.run([sys.executable, *args], env=env,
                                  capture_output=True, text=True,
                                  timeout=_CHILD_TIMEOUT_S, check=False)
            rc, out, err = proc.returncode, proc.stdout, proc.stderr
        except subprocess.TimeoutExpired:
            rc, out, err = None, "", "timed out"
        wall = time.perf_counter() - start
    _progress(f"  {label}: {wall:.2f} s" if rc == 0
              else f"  {label}: failed (rc={rc}) {err[-800:]}")
    return {"label": label, "args": list(args), "rc": rc, "wall": wall,
            "result": _last_json(out), "stdout": out, "stderr_tail": err[-2000:]}


def _result(record):
    return (record["result"] or {}) if record["rc"] == 0 else {}


def _get(record, key):
    """A child's timing, or NaN when the child failed or did not report it."""
    return _result(record).get(key, float("nan"))


def _units(record, key):
    """The units a child compiled in step ``key``; None if it did not report them."""
    return _result(record).get("units", {}).get(key)


def _total_units(record):
    """The units a child compiled in all its steps; None if it failed."""
    units = _result(record).get("units")
    return None if units is None else sum(units.values())


def _wall(record):
    return record["wall"] if record["rc"] == 0 else float("nan")


# --- table rows -----------------------------------------------------------------


@dataclass
class Row:
    """One line of the table: seconds (NaN: the child failed; None: not measured)."""

    what: str
    fastnn: float | None
    mlp: float | None = None
    limit: float | None = None  # fastnn seconds must be <= limit
    min_ratio: float | None = None  # mlp / fastnn must be >= min_ratio
    units: int | None = None  # units fastnn compiled (None: not counted)
    max_units: int | None = None  # units must be <= max_units
    note: str = ""

    def budget(self):
        parts = []
        if self.limit is not None:
            parts.append(f"<= {self.limit:g} s")
        if self.min_ratio is not None:
            parts.append(f"MLP/fastnn >= {self.min_ratio:g}" if self.min_ratio >= 1
                         else f"fastnn <= {1 / self.min_ratio:g}x MLP")
        if self.max_units is not None:
            parts.append(f"<= {self.max_units} units compiled")
        return ", ".join(parts) or "-"

    def verdict(self):
        checks = []
        if self.limit is not None:
            checks.append(None if _bad(self.fastnn) else self.fastnn <= self.limit)
        if self.min_ratio is not None:
            checks.append(None if _bad(self.fastnn) or _bad(self.mlp)
                          else self.mlp / self.fastnn >= self.min_ratio)
        if self.max_units is not None:
            checks.append(None if self.units is None
                          else self.units <= self.max_units)
        if not checks:
            return "-"
        if None in checks:
            return "ERROR"
        return "met" if all(checks) else "MISSED"


def _bad(seconds):
    return seconds is None or math.isnan(seconds)


def _fmt(seconds):
    if seconds is None:
        return "-"
    return "error" if math.isnan(seconds) else f"{seconds:.3f}"


def _fmt_unit(seconds):
    text = _fmt(seconds)
    return text if text in ("-", "error") else f"{text} s"


def _walls_note(fast, mlp=None):
    note = f"process wall: fastnn {_fmt_unit(_wall(fast))}"
    return note if mlp is None else f"{note}, MLP {_fmt_unit(_wall(mlp))}"


def _median(values):
    return float("nan") if any(map(math.isnan, values)) else statistics.median(values)


# --- measurements ---------------------------------------------------------------


def _first_fit(name, args, extra_steps=()):
    """Job ``name``'s import and steps in fresh fastnn and MLP processes."""
    job = jobs(args.smoke)[name]
    records = []
    for system, who in (("fastnn", "fastnn"), ("mlp", "MLP")):
        script = child_script(job.system(system), job.data,
                              job.params if system == "fastnn" else job.mlp_params,
                              (*job.steps, *extra_steps))
        records.append(run_child(f"{name}: {who}", ["-c", script]))
    return job, *records


def _fit_rows(job, fast, mlp):
    def row(key, what, limit=None, note=""):
        return Row(f"{job.title}: {what}", _get(fast, key), _get(mlp, key), limit,
                   units=_units(fast, key), note=note)

    return [row("import", "import", note=_walls_note(fast, mlp)),
            *(row(key, _STEP_TITLES[key],
                  job.fit_budget if key == "fit" else PREDICT_BUDGET_S)
              for key, _ in job.steps)]


def measure_fit(name, args):
    """Job ``name``: first fit and predictions, fastnn against MLP."""
    job, fast, mlp = _first_fit(name, args)
    return _fit_rows(job, fast, mlp), [fast, mlp]


def measure_regressor(args):
    """First regressor fit and predict, fresh, and right after a classifier fit."""
    job, fast, mlp = _first_fit("regressor", args)
    # The same configuration as a classifier first: both estimators run the same
    # kernels, so the regressor's fit then only loads them.
    classifier_fit = (f"fastnn.ShallowNNClassifier(**{FLOAT32!r})"
                      ".fit(X, (y > y.mean()).astype(np.int64))")
    after = run_child("regressor after a classifier fit: fastnn", ["-c", child_script(
        "fastnn_reg", job.data, job.params,
        (("classifier_fit", classifier_fit), *job.steps))])
    rows = [*_fit_rows(job, fast, mlp),
            Row("regressor fit right after the same classifier fit (same process)",
                _get(after, "fit"), None, FIT_BUDGET_S, units=_units(after, "fit"),
                note=f"classifier fit before it: "
                     f"{_fmt_unit(_get(after, 'classifier_fit'))}, "
                     f"{_units(after, 'classifier_fit')} units")]
    return rows, [fast, mlp, after]


def measure_lbfgs(args):
    """A first lbfgs fit on its own, and one right after a gd fit in one process."""
    job, fast, mlp = _first_fit("lbfgs", args)
    gd_mlp = {**SEED_MLP, "batch_size": _LBFGS_SAMPLES}  # full batch
    after = [run_child(f"lbfgs after a gd fit: {system}", ["-c", child_script(
        system, job.data, params, (("gd_fit", f"Est(**{gd!r}).fit(X, y)"),
                                   ("fit", "model.fit(X, y)")))])
        for system, params, gd in (("fastnn", job.params, SEED),
                                   ("mlp", job.mlp_params, gd_mlp))]
    note = (f"gd fit (seed configuration) before it: fastnn "
            f"{_fmt_unit(_get(after[0], 'gd_fit'))}, "
            f"{_units(after[0], 'gd_fit')} units; "
            f"MLP {_fmt_unit(_get(after[1], 'gd_fit'))}")
    rows = [*_fit_rows(job, fast, mlp),
            Row("lbfgs fit right after a gd fit on the same data (same process)",
                _get(after[0], "fit"), _get(after[1], "fit"), FIT_BUDGET_S,
                units=_units(after[0], "fit"), note=note)]
    return rows, [fast, mlp, *after]


def measure_threaded(args):
    """P3's first fit (threads) and predictions, then the same fit once more."""
    refit = ("refit", "Est(**model.get_params()).fit(X, y)")
    job, fast, mlp = _first_fit("threaded", args, (refit,))
    rows = [*_fit_rows(job, fast, mlp),
            Row("the same P3 fit again in that process (compiled)",
                _get(fast, "refit"), _get(mlp, "refit"), units=_units(fast, "refit"),
                note="first fit minus this: its compilation and cache loads")]
    return rows, [fast, mlp]


def _fill_then_warm(name, fast_args, mlp_args, repeat):
    """A fastnn process that fills an empty cache, then ``repeat`` fresh fastnn
    processes on that cache, each beside a fresh MLP process.

    Returns ``(filling record, fastnn records, MLP records)``.
    """
    fast, mlp = [], []
    with numba_cache("fastnn-numba-warm-") as cache:
        filling = run_child(f"{name}: fastnn, filling the cache", fast_args, cache)
        for i in range(1, repeat + 1):
            fast.append(run_child(f"{name} {i}/{repeat}: fastnn", fast_args, cache))
            mlp.append(run_child(f"{name} {i}/{repeat}: MLPClassifier", mlp_args))
    return filling, fast, mlp


def measure_warm(args):
    """Fresh processes on a filled cache against fresh MLPClassifier processes."""
    steps = (("fit", "model.fit(X, y)"),)
    filling, fast, mlp = _fill_then_warm(
        "warm", ["-c", child_script("fastnn", "flower", WARM, steps)],
        ["-c", child_script("mlp", "flower", WARM_MLP, steps)], args.repeat)
    fast_s, mlp_s = _median([_wall(r) for r in fast]), _median([_wall(r) for r in mlp])
    fit_fast = _median([_get(r, "fit") for r in fast])
    fit_mlp = _median([_get(r, "fit") for r in mlp])
    note = (f"ratio MLP/fastnn {mlp_s / fast_s:.2f}; in-child fit medians: fastnn "
            f"{_fmt_unit(fit_fast)}, MLP {_fmt_unit(fit_mlp)}; the cache-filling "
            f"process took {_fmt_unit(_wall(filling))}")
    units = [_total_units(r) for r in fast]
    row = Row(f"warm cache: import + 1000-epoch flower fit, process wall (median of "
              f"{args.repeat})", fast_s, mlp_s, min_ratio=WARM_MIN_RATIO,
              units=None if None in units else max(units), note=note)
    return [row], [filling, *fast, *mlp]


def _losses_note(fast, mlp):
    """How the script's final losses compare with MLP's."""
    ours, theirs = _result(fast).get("losses"), _result(mlp).get("losses")
    if not ours or not theirs or ours.keys() != theirs.keys():
        return "final losses: error"
    rel = {key: abs(ours[key] - theirs[key]) / max(abs(theirs[key]), 1e-300)
           for key in ours}
    differ = [key for key, value in rel.items() if not value <= LOSS_RTOL]
    note = (f"final losses: {len(rel) - len(differ)}/{len(rel)} agree with MLP's "
            f"to {LOSS_RTOL:g} (largest relative difference {max(rel.values()):.1e})")
    return note + (f"; DIFFER: {', '.join(differ)}" if differ else "")


def _script_note(fast, mlp):
    fits = [key for key, *_ in script_fits()]
    first = fits[0]
    in_child = sum(_get(fast, key) for key in fits)
    mlp_in_child = sum(_get(mlp, key) for key in fits)
    return (f"first fit ({first}) {_fmt_unit(_get(fast, first))}, "
            f"{_units(fast, first)} units; {len(fits)} fits + scores in the child: "
            f"fastnn {_fmt_unit(in_child)}, MLP {_fmt_unit(mlp_in_child)}; "
            f"{_losses_note(fast, mlp)}")


def measure_script(args):
    """The example's 28 fits in one process: empty cache, warm cache, MLP's."""
    filling, fast, mlp = _fill_then_warm(
        "script", ["-c", script_source("fastnn", args.smoke)],
        ["-c", script_source("mlp", args.smoke)], args.repeat)
    mlp_s = _median([_wall(r) for r in mlp])
    title = (f"first script: {len(SCRIPT_SETTINGS) * len(SCRIPT_MAX_ITER)} small "
             "fits (sklearn's plot_mlp_training_curves.py, sgd/adam, 100 relu units, "
             "f64, max_iter "
             f"{_SMOKE_MAX_ITER if args.smoke else '400, digits 15'}), process wall")
    units = [_total_units(r) for r in fast]
    rows = [Row(f"{title}, empty cache", _wall(filling), mlp_s,
                min_ratio=SCRIPT_COLD_MIN_RATIO, units=_total_units(filling),
                note=_script_note(filling, mlp[0])),
            Row(f"{title}, warm cache (median of {args.repeat})",
                _median([_wall(r) for r in fast]), mlp_s,
                min_ratio=SCRIPT_WARM_MIN_RATIO,
                units=None if None in units else max(units),
                note=_script_note(fast[0], mlp[0]))]
    return rows, [filling, *fast, *mlp]


def _main_note(record):
    """What ``python -m fastnn`` printed about its own parts of the wall time."""
    first = re.search(r"first call \(compile or cache load\): ([\d.]+) s",
                      record["stdout"])
    mlp_fit = re.search(r"^MLPClassifier\s+(?:\S+\s+){3}([\d.]+)", record["stdout"],
                        re.MULTILINE)
    parts = []
    if first:
        parts.append(f"fastnn first call {first.group(1)} s")
    if mlp_fit:
        parts.append(f"MLPClassifier fit inside it {mlp_fit.group(1)} s")
    return "; ".join(parts)


def measure_main(_args):
    """Wall time of the README's main job, default and with ``--epochs 50``."""
    rows, records = [], []
    for extra in ((), ("--epochs", "50")):
        shown = " ".join(["python -m fastnn", *extra])
        record = run_child(shown, _module_args("fastnn", *extra))
        rows.append(Row(f"README main job: `{shown}` (process wall)", _wall(record),
                        limit=MAIN_BUDGET_S, units=_units(record, "all"),
                        note=_main_note(record)))
        records.append(record)
    return rows, records


def _precompile(cache):
    """Bake ``cache`` with the CLI, else with the function; (how, records)."""
    records = [run_child("precompile: python -m fastnn compile",
                         _module_args("fastnn", "compile"), cache)]
    if records[0]["rc"] == 0:
        return "python -m fastnn compile", records
    if _shared_cache is None:  # the fallback starts empty again
        shutil.rmtree(cache, ignore_errors=True)
        os.makedirs(cache)
    records.append(run_child("precompile: fastnn.compile() / fastnn.precompile()",
                             ["-c", _PRECOMPILE_FUNCTION], cache))
    ok = records[1]["rc"] == 0
    return ("fastnn.compile() / fastnn.precompile()" if ok else None), records


def _check_rows(after):
    """The seed fit's rows, and the units that the whole check compiled."""
    def seed(step):
        return f"seed {DTYPES[0]} {step}"

    units = _result(after).get("units", {})
    compiled = ", ".join(f"{key} ({n})" for key, n in units.items() if n)
    configurations = jobs(quick=True).values()
    steps = len(DTYPES) * sum(len(job.steps) for job in configurations)
    what = (f"after precompile: import, then fit and predictions of the "
            f"{len(configurations)} configurations of the first fits, each in "
            f"float64 and float32 ({steps} steps; P3 on 20000 rows)")
    return [Row("after precompile: seed fit (fresh process)", _get(after, seed("fit")),
                limit=SEED_FIT_BUDGET_S, units=_units(after, seed("fit")),
                note=_walls_note(after)),
            Row("after precompile: first predict", _get(after, seed("predict")),
                limit=PREDICT_BUDGET_S, units=_units(after, seed("predict"))),
            Row(what, None, units=_total_units(after), max_units=0,
                note=f"compiled in: {compiled}" if compiled else "")]


def measure_precompile(_args):
    """Time a precompile step on an empty cache, then every job using that cache."""
    with numba_cache("fastnn-numba-baked-") as cache:
        how, records = _precompile(cache)
        if how is None:
            what = ("precompile: not available (`python -m fastnn compile` failed; "
                    "no fastnn.compile / fastnn.precompile)")
            return [Row(what, None)], records
        entries = sum(name.endswith(".nbc") for _, _, names in os.walk(cache)
                      for name in names)
        after = run_child("after precompile: every configuration, both dtypes",
                          ["-c", check_script()], cache)
    rows = [Row(f"precompile: `{how}` on an empty cache (process wall)",
                _wall(records[-1]), limit=COMPILE_BUDGET_S,
                units=_units(records[-1], "all"),
                note=(f"{entries} kernels written to the cache; the units column "
                      "counts this process's compile events only, and the "
                      "kernels compile in worker processes (one per dtype)")),
            *_check_rows(after)]
    return rows, [*records, after]


_MEASURE = {"seed": functools.partial(measure_fit, "seed"),
            "float32": functools.partial(measure_fit, "float32"),
            "regressor": measure_regressor,
            "early": functools.partial(measure_fit, "early"),
            "sparse": functools.partial(measure_fit, "sparse"),
            "lbfgs": measure_lbfgs, "threaded": measure_threaded,
            "script": measure_script, "main": measure_main, "warm": measure_warm,
            "precompile": measure_precompile}


# --- report ---------------------------------------------------------------------


def _cpu_model():
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown CPU"
    found = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    return found.group(1).strip() if found else platform.processor() or "unknown"


def _git_revision():
    def git(*args):
        return subprocess.run(["git", "-C", str(_REPO), *args], capture_output=True,
                              text=True, check=True).stdout.strip()

    try:
        revision = git("rev-parse", "--short", "HEAD")
        return revision + ("-dirty" if git("status", "--porcelain") else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def header():
    """One line: UTC date, CPU, versions, git revision, where fastnn comes from."""
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    versions = ", ".join(f"{name} {importlib.metadata.version(name)}"
                         for name in ("numba", "numpy", "scikit-learn"))
    smoke = ("" if _shared_cache is None else " | SMOKE RUN: tiny sizes, the "
             "environment's Numba cache; not a measurement")
    return (f"{date} | {_cpu_model()} ({os.cpu_count()} logical CPUs) | python "
            f"{platform.python_version()}, {versions} | git {_git_revision()} | "
            f"fastnn from {fastnn_dir()}{smoke}")


def table(rows):
    """The markdown table of ``rows``."""
    lines = ["| what | fastnn (s) | MLP (s) | units compiled | budget / goal | met? | "
             "notes |",
             "|---|---:|---:|---:|---|---|---|"]
    lines += [f"| {r.what} | {_fmt(r.fastnn)} | {_fmt(r.mlp)} | "
              f"{'-' if r.units is None else r.units} | {r.budget()} | "
              f"{r.verdict()} | {r.note} |" for r in rows]
    return "\n".join(lines)


def _json_row(row):
    return {key: None if isinstance(value, float) and math.isnan(value) else value
            for key, value in asdict(row).items()} | {"verdict": row.verdict()}


def _parse(argv):
    parser = argparse.ArgumentParser(
        prog="python benches/compile_time.py",
        description="Time fastnn's first use (compilation, cache loads) in fresh "
                    "processes against MLPClassifier and print a markdown table.")
    parser.add_argument("--only", default=",".join(MEASUREMENTS),
                        help=f"comma-separated subset of {', '.join(MEASUREMENTS)}")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of each warm-cache process (median; default 3)")
    parser.add_argument("--json", metavar="PATH", help="also write raw results here")
    parser.add_argument("--smoke", action="store_true",
                        help="check that everything runs, measuring nothing: every "
                             "child on the environment's Numba cache, P3 on 20000 "
                             f"rows, the script's fits at most {_SMOKE_MAX_ITER} "
                             "epochs")
    args = parser.parse_args(argv)
    args.only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(args.only) - set(MEASUREMENTS))
    if unknown or not args.only:
        parser.error(f"--only: unknown {unknown}; choose from {MEASUREMENTS}")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def main(argv=None):
    """Run the chosen measurements and print the header line and the table."""
    global _shared_cache
    args = _parse(argv)
    _shared_cache = os.environ.get("NUMBA_CACHE_DIR", "") if args.smoke else None
    head, rows, raw = header(), [], {}
    for name in args.only:
        _progress(f"{name}:")
        found, records = _MEASURE[name](args)
        rows += found
        raw[name] = {"rows": [_json_row(r) for r in found], "records": records}
    print(head)
    print()
    print(table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"header": head, "python": sys.executable, "measurements": raw}, indent=2))


if __name__ == "__main__":
    main()
