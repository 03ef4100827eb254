"""Measure fastnn's first-use cost (JIT compilation, cache loads) and print a table.

    python benches/compile_time.py                      # every measurement
    python benches/compile_time.py --only seed,warm     # a subset
    python benches/compile_time.py --repeat 5 --json raw.json

Every measurement runs in a fresh child process (``sys.executable -c <script>`` or
``-m fastnn``, same environment, so ``PYTHONPATH`` picks the same ``fastnn``) with its
own empty Numba cache directory (``NUMBA_CACHE_DIR``, a ``tempfile.mkdtemp()`` removed
afterwards); only the warm-cache and precompile measurements share a cache between
the processes that need it. Children time their steps with ``time.perf_counter`` and
report them as one JSON line on stdout; the parent also records each child's wall
time, from process start to exit. Warnings are silenced in the children. Where it
makes sense, scikit-learn's ``MLPClassifier`` runs the same job in its own child
process beside fastnn. The flower data of the MLPClassifier children comes from
``fastnn/datasets.py`` loaded on its own, so that they do not import numba.

Measurements (names for ``--only``):

``seed``
    import, first fit, first predict and first predict_proba: float64 flower data,
    4 tanh units, full-batch gradient descent, 50 epochs.
``float32``
    the same steps on 2000 x 20 float32 Gaussian data, 64 relu units, adam, 5 epochs.
``regressor``
    ShallowNNRegressor against MLPRegressor on the float32 data (regression
    targets), 64 relu units, adam, 5 epochs: a first fit in a fresh process, and
    the same fit right after a classifier fit of the same configuration
    (incremental cost: both estimators run the same kernels).
``sparse``
    ShallowNNClassifier against MLPClassifier on the float32 data as a CSR matrix
    (2000 x 20, 30% nonzeros), 64 relu units, adam, 5 epochs: first fit, predict
    and predict_proba in a fresh process (the sparse first-layer kernels compile
    only for sparse input).
``lbfgs``
    a first lbfgs fit on the flower data in a fresh process, and the same fit right
    after a seed-configuration fit in one process (incremental cost).
``main``
    wall time of ``python -m fastnn`` (the README's main job) and of
    ``python -m fastnn --epochs 50``.
``warm``
    after one process has filled a cache, fresh processes on that cache: import and
    1000-epoch flower fit, against the same with MLPClassifier; medians of
    ``--repeat`` runs and the ratio MLP / fastnn (>= 1 means fastnn is as fast).
``precompile``
    ``python -m fastnn compile`` (or ``fastnn.compile()`` / ``fastnn.precompile()``)
    on an empty cache, then a seed fit and predict using that cache; skipped when
    neither exists.

Progress goes to stderr, the table to stdout. Nothing here asserts on timings.
"""

import argparse
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

MEASUREMENTS = ("seed", "float32", "regressor", "sparse", "lbfgs", "main", "warm",
                "precompile")
_REPO = Path(__file__).resolve().parent.parent
_CHILD_TIMEOUT_S = 1800
_FLOWER_SAMPLES = 400  # make_flower()'s default size: MLP's full batch.

# Budgets (seconds) of the first-use goals.
FIT_BUDGET_S = 5.0
PREDICT_BUDGET_S = 0.5
MAIN_BUDGET_S = 10.0
WARM_MIN_RATIO = 1.0

SEED = {"n_hidden": 4, "activation": "tanh", "solver": "gd",
        "learning_rate_init": 1.2, "max_iter": 50, "random_state": 0}
SEED_MLP = {"hidden_layer_sizes": (4,), "activation": "tanh", "solver": "sgd",
            "batch_size": _FLOWER_SAMPLES, "momentum": 0.0, "shuffle": False,
            "learning_rate_init": 1.2, "max_iter": 50, "random_state": 0}
FLOAT32 = {"n_hidden": 64, "activation": "relu", "solver": "adam", "max_iter": 5,
           "random_state": 0}
FLOAT32_MLP = {"hidden_layer_sizes": (64,), "activation": "relu", "solver": "adam",
               "max_iter": 5, "random_state": 0}
LBFGS = {"n_hidden": 4, "activation": "tanh", "solver": "lbfgs", "max_iter": 50,
         "random_state": 0}
LBFGS_MLP = {"hidden_layer_sizes": (4,), "activation": "tanh", "solver": "lbfgs",
             "max_iter": 50, "random_state": 0}
_EXACT_1000 = {"max_iter": 1000, "tol": 0.0, "n_iter_no_change": 1000}
WARM = {**SEED, **_EXACT_1000}
WARM_MLP = {**SEED_MLP, **_EXACT_1000}

# --- child scripts --------------------------------------------------------------

_PRELUDE = """\
import json, time, warnings
warnings.simplefilter("ignore")
R = {}"""
_IMPORTS = {
    "fastnn": "import fastnn\nEst = fastnn.ShallowNNClassifier",
    "mlp": "from sklearn.neural_network import MLPClassifier as Est",
    "fastnn_reg": "import fastnn\nEst = fastnn.ShallowNNRegressor",
    "mlp_reg": "from sklearn.neural_network import MLPRegressor as Est",
}
_FLOWER_ALONE = """\
import importlib.util
_spec = importlib.util.spec_from_file_location("_flower", {path!r})
_flower = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_flower)
X, y = _flower.make_flower()"""
_FLOAT32_DATA = """\
import numpy as np
X = np.random.RandomState(0).randn(2000, 20).astype(np.float32)
y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)"""
_PRECOMPILE_FUNCTION = """\
import sys, warnings
warnings.simplefilter("ignore")
import fastnn
func = getattr(fastnn, "compile", None) or getattr(fastnn, "precompile", None)
sys.exit(3 if func is None else func())"""
FIT_STEPS = (("fit", "model.fit(X, y)"), ("predict", "model.predict(X)"),
             ("predict_proba", "model.predict_proba(X)"))


def _timed(key, statement):
    return (f"_t = time.perf_counter()\n{statement}\n"
            f"R[{key!r}] = time.perf_counter() - _t")


def _data(system, data):
    if data == "float32":
        return _FLOAT32_DATA
    if data == "sparse":
        return ("import numpy as np, scipy.sparse as sp\n"
                "X = sp.random(2000, 20, density=0.3, format='csr', random_state=0,"
                " dtype=np.float32)\n"
                "y = (X[:, 0].toarray().ravel() + X[:, 1].toarray().ravel() > 0.5)"
                ".astype(np.int64)")
    if data == "regression":
        return _FLOAT32_DATA + "\ny = (X[:, 0] + X[:, 1] ** 2).astype(np.float32)"
    if system == "fastnn":
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


def child_script(system, data, params, steps):
    """Source of a child: timed import, data, ``model = Est(**params)``, timed steps.

    Parameters
    ----------
    system : {"fastnn", "mlp"}
        ``Est`` is ``ShallowNNClassifier`` or ``MLPClassifier``.
    data : {"flower", "float32"}
        The data set bound to ``X, y``.
    params : dict
        Constructor arguments of ``model``.
    steps : sequence of (str, str)
        ``(key, statement)`` pairs; each statement's seconds go to ``R[key]``.
    """
    parts = [_PRELUDE, _timed("import", _IMPORTS[system]), _data(system, data),
             f"model = Est(**{params!r})"]
    parts += [_timed(key, statement) for key, statement in steps]
    parts.append("print(json.dumps(R))")
    return "\n".join(parts)


# --- running children -----------------------------------------------------------


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


def run_child(label, args, cache_dir=None):
    """Run ``sys.executable *args`` with ``NUMBA_CACHE_DIR`` set; return a record.

    Without ``cache_dir``, the child gets its own empty directory, removed after it.
    The record holds the label, arguments, return code (None on timeout),
    parent-measured wall seconds, the child's JSON line (or None), its stdout and
    the tail of its stderr.
    """
    own = cache_dir is None
    cache_dir = tempfile.mkdtemp(prefix="fastnn-numba-") if own else cache_dir
    env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir, "PYTHONWARNINGS": "ignore"}
    start = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, *args], env=env, capture_output=True,
                              text=True, timeout=_CHILD_TIMEOUT_S, check=False)
        rc, out, err = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired:
        rc, out, err = None, "", "timed out"
    wall = time.perf_counter() - start
    if own:
        shutil.rmtree(cache_dir, ignore_errors=True)
    _progress(f"  {label}: {wall:.2f} s" if rc == 0
              else f"  {label}: failed (rc={rc}) {err[-800:]}")
    return {"label": label, "args": list(args), "rc": rc, "wall": wall,
            "result": _last_json(out), "stdout": out, "stderr_tail": err[-2000:]}


def _get(record, key):
    """A child's timing, or NaN when the child failed or did not report it."""
    result = record["result"] if record["rc"] == 0 else None
    return float("nan") if result is None or key not in result else result[key]


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
    note: str = ""

    def budget(self):
        if self.limit is not None:
            return f"<= {self.limit:g} s"
        if self.min_ratio is not None:
            return f"MLP/fastnn >= {self.min_ratio:g}"
        return "-"

    def verdict(self):
        if self.limit is None and self.min_ratio is None:
            return "-"
        if _bad(self.fastnn) or (self.min_ratio is not None and _bad(self.mlp)):
            return "ERROR"
        if self.limit is not None:
            return "met" if self.fastnn <= self.limit else "MISSED"
        return "met" if self.mlp / self.fastnn >= self.min_ratio else "MISSED"


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


# --- measurements ---------------------------------------------------------------


def _fit_pair(name, data, params, mlp_params, steps=FIT_STEPS):
    fast = run_child(f"{name}: fastnn",
                     ["-c", child_script("fastnn", data, params, steps)])
    mlp = run_child(f"{name}: MLPClassifier",
                    ["-c", child_script("mlp", data, mlp_params, steps)])
    return fast, mlp


def _fit_rows(title, fast, mlp):
    def row(what, key, limit=None, note=""):
        return Row(f"{title}: {what}", _get(fast, key), _get(mlp, key), limit,
                   note=note)

    return [row("import", "import", note=_walls_note(fast, mlp)),
            row("first fit", "fit", FIT_BUDGET_S),
            row("first predict (after the fit)", "predict", PREDICT_BUDGET_S),
            row("first predict_proba (after predict)", "predict_proba",
                PREDICT_BUDGET_S)]


def measure_seed(_args):
    """First fit, predict and predict_proba: float64 flower, 4 tanh units, gd."""
    fast, mlp = _fit_pair("seed", "flower", SEED, SEED_MLP)
    return _fit_rows("first fit, seed configuration", fast, mlp), [fast, mlp]


def measure_float32(_args):
    """First fit, predict and predict_proba: float32 2000 x 20, 64 relu, adam."""
    fast, mlp = _fit_pair("float32", "float32", FLOAT32, FLOAT32_MLP)
    return _fit_rows("first fit, float32 adam relu", fast, mlp), [fast, mlp]


def measure_regressor(_args):
    """First regressor fit and predict, fresh, and right after a classifier fit."""
    steps = (("fit", "model.fit(X, y)"), ("predict", "model.predict(X)"))
    fast = run_child("regressor: fastnn", ["-c", child_script(
        "fastnn_reg", "regression", FLOAT32, steps)])
    mlp = run_child("regressor: MLPRegressor", ["-c", child_script(
        "mlp_reg", "regression", FLOAT32_MLP, steps)])
    # The same configuration as a classifier first: both estimators run the same
    # kernels, so the regressor's fit then only loads them.
    classifier_fit = (f"fastnn.ShallowNNClassifier(**{FLOAT32!r})"
                      ".fit(X, (y > y.mean()).astype(np.int64))")
    after = run_child("regressor after a classifier fit: fastnn", ["-c", child_script(
        "fastnn_reg", "regression", FLOAT32,
        (("classifier_fit", classifier_fit), *steps))])
    rows = [Row("first regressor fit, float32 adam relu", _get(fast, "fit"),
                _get(mlp, "fit"), FIT_BUDGET_S, note=_walls_note(fast, mlp)),
            Row("first regressor predict (after the fit)", _get(fast, "predict"),
                _get(mlp, "predict"), PREDICT_BUDGET_S),
            Row("regressor fit right after the same classifier fit (same process)",
                _get(after, "fit"), None, FIT_BUDGET_S,
                note="classifier fit before it: "
                     f"{_fmt_unit(_get(after, 'classifier_fit'))}")]
    return rows, [fast, mlp, after]


def measure_sparse(_args):
    """First fit, predict and predict_proba on CSR float32 data, 64 relu, adam."""
    fast, mlp = _fit_pair("sparse", "sparse", FLOAT32, FLOAT32_MLP)
    return _fit_rows("first fit, sparse CSR float32 adam relu", fast, mlp), [fast, mlp]


def _then_lbfgs(lbfgs_params):
    return (("fit", "model.fit(X, y)"),
            ("lbfgs_fit", f"Est(**{lbfgs_params!r}).fit(X, y)"))


def measure_lbfgs(_args):
    """A first lbfgs fit on its own, and one right after a seed-configuration fit."""
    cold_fast, cold_mlp = _fit_pair("lbfgs alone", "flower", LBFGS, LBFGS_MLP,
                                    (("fit", "model.fit(X, y)"),))
    inc_fast = run_child("lbfgs after seed fit: fastnn", ["-c", child_script(
        "fastnn", "flower", SEED, _then_lbfgs(LBFGS))])
    inc_mlp = run_child("lbfgs after seed fit: MLPClassifier", ["-c", child_script(
        "mlp", "flower", SEED_MLP, _then_lbfgs(LBFGS_MLP))])
    seed_note = (f"seed fit before it: fastnn {_fmt_unit(_get(inc_fast, 'fit'))}, "
                 f"MLP {_fmt_unit(_get(inc_mlp, 'fit'))}")
    rows = [Row("first lbfgs fit (fresh process, empty cache)", _get(cold_fast, "fit"),
                _get(cold_mlp, "fit"), FIT_BUDGET_S,
                note=_walls_note(cold_fast, cold_mlp)),
            Row("lbfgs fit right after a seed fit (same process)",
                _get(inc_fast, "lbfgs_fit"), _get(inc_mlp, "lbfgs_fit"), FIT_BUDGET_S,
                note=seed_note)]
    return rows, [cold_fast, cold_mlp, inc_fast, inc_mlp]


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
        args = ["-m", "fastnn", *extra]
        record = run_child("python " + " ".join(args), args)
        rows.append(Row(f"README main job: `python {' '.join(args)}` (process wall)",
                        _wall(record), limit=MAIN_BUDGET_S, note=_main_note(record)))
        records.append(record)
    return rows, records


def _median(values):
    return float("nan") if any(map(math.isnan, values)) else statistics.median(values)


def _warm_row(records, repeat):
    fast, mlp = records[1::2], records[2::2]
    fast_s, mlp_s = _median([_wall(r) for r in fast]), _median([_wall(r) for r in mlp])
    fit_fast = _median([_get(r, "fit") for r in fast])
    fit_mlp = _median([_get(r, "fit") for r in mlp])
    note = (f"ratio MLP/fastnn {mlp_s / fast_s:.2f}; in-child fit medians: fastnn "
            f"{_fmt_unit(fit_fast)}, MLP {_fmt_unit(fit_mlp)}; the cache-filling "
            f"process took {_fmt_unit(_wall(records[0]))}")
    return Row(f"warm cache: import + 1000-epoch flower fit, process wall (median of "
               f"{repeat})", fast_s, mlp_s, min_ratio=WARM_MIN_RATIO, note=note)


def measure_warm(args):
    """Fresh processes on a filled cache against fresh MLPClassifier processes."""
    steps = (("fit", "model.fit(X, y)"),)
    fast_script = child_script("fastnn", "flower", WARM, steps)
    mlp_script = child_script("mlp", "flower", WARM_MLP, steps)
    cache = tempfile.mkdtemp(prefix="fastnn-numba-warm-")
    try:
        records = [run_child("warm: filling the cache", ["-c", fast_script], cache)]
        for i in range(1, args.repeat + 1):
            records.append(run_child(f"warm {i}/{args.repeat}: fastnn",
                                     ["-c", fast_script], cache))
            records.append(run_child(f"warm {i}/{args.repeat}: MLPClassifier",
                                     ["-c", mlp_script]))
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return [_warm_row(records, args.repeat)], records


def _precompile(cache):
    """Bake ``cache`` with the CLI, else with the function; (how, record) or None."""
    records = [run_child("precompile: python -m fastnn compile",
                         ["-m", "fastnn", "compile"], cache)]
    if records[0]["rc"] == 0:
        return "python -m fastnn compile", records
    shutil.rmtree(cache, ignore_errors=True)  # the fallback starts empty again
    os.makedirs(cache)
    records.append(run_child("precompile: fastnn.compile() / fastnn.precompile()",
                             ["-c", _PRECOMPILE_FUNCTION], cache))
    ok = records[1]["rc"] == 0
    return ("fastnn.compile() / fastnn.precompile()" if ok else None), records


def measure_precompile(_args):
    """Time a precompile step on an empty cache, then a seed fit using that cache."""
    cache = tempfile.mkdtemp(prefix="fastnn-numba-baked-")
    try:
        how, records = _precompile(cache)
        if how is None:
            what = ("precompile: not available (`python -m fastnn compile` failed; "
                    "no fastnn.compile / fastnn.precompile)")
            return [Row(what, None)], records
        after = run_child("after precompile: seed fit", ["-c", child_script(
            "fastnn", "flower", SEED, FIT_STEPS[:2])], cache)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    rows = [Row(f"precompile: `{how}` on an empty cache (process wall)",
                _wall(records[-1])),
            Row("after precompile: seed fit (fresh process)", _get(after, "fit"),
                limit=FIT_BUDGET_S, note=_walls_note(after)),
            Row("after precompile: first predict", _get(after, "predict"),
                limit=PREDICT_BUDGET_S)]
    return rows, [*records, after]


_MEASURE = {"seed": measure_seed, "float32": measure_float32,
            "regressor": measure_regressor, "sparse": measure_sparse,
            "lbfgs": measure_lbfgs,
            "main": measure_main, "warm": measure_warm,
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
    return (f"{date} | {_cpu_model()} ({os.cpu_count()} logical CPUs) | python "
            f"{platform.python_version()}, {versions} | git {_git_revision()} | "
            f"fastnn from {fastnn_dir()}")


def table(rows):
    """The markdown table of ``rows``."""
    lines = ["| what | fastnn (s) | MLPClassifier (s) | budget / goal | met? | notes |",
             "|---|---:|---:|---|---|---|"]
    lines += [f"| {r.what} | {_fmt(r.fastnn)} | {_fmt(r.mlp)} | {r.budget()} | "
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
    args = _parse(argv)
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
