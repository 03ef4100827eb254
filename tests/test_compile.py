"""Ahead-of-time compilation (``python -m fastnn compile``) and the compile notice.

Each test runs in fresh processes with a Numba cache directory of its own, so
that what compiles and what loads from the cache is known.
"""

import os
import subprocess
import sys

import pytest

_FITS = """
import warnings
from numba.core import event
compiled = []
class Count(event.Listener):
    def on_start(self, ev):
        compiled.append(ev.data["dispatcher"].py_func.__qualname__)
    def on_end(self, ev):
        pass
event.register("numba:compile", Count())
import numpy as np
from fastnn import ShallowNNClassifier, ShallowNNRegressor, make_flower
from fastnn import DamagedCacheWarning
warnings.simplefilter("ignore")
warnings.simplefilter("default", DamagedCacheWarning)
X, y = make_flower()
rng = np.random.RandomState(0)
X32 = rng.randn(4000, 20).astype(np.float32)
import scipy.sparse as sp
Xsp = sp.random(400, 300, density=0.03, format="csr", random_state=0)
y32 = rng.randint(0, 3, 4000)
fits = [
    (ShallowNNClassifier(4, "tanh", solver="gd", max_iter=5, verbose={v}), X, y),
    (ShallowNNClassifier(64, solver="adam", max_iter=2, early_stopping=True,
                         verbose={v}), X32, y32),
    (ShallowNNClassifier(4, "tanh", solver="lbfgs", max_iter=5), X, y),
    (ShallowNNRegressor(8, solver="sgd", max_iter=3, verbose={v}), X, X[:, 0]),
    (ShallowNNRegressor(64, loss="poisson", max_iter=2, early_stopping=True),
     X32, y32.astype(np.float32)),
    (ShallowNNClassifier(16, max_iter=2, verbose={v}), Xsp, y),
    (ShallowNNClassifier(4, "logistic", max_iter=2), X, y),
]
for est, X_, y_ in fits:
    est.fit(X_, y_).predict(X_)
print("COMPILED", len(compiled), sorted(set(compiled)))
"""


def _python(code, cache, stderr=False):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True,
                          text=True, check=True, timeout=900, env=env)
    return (done.stdout, done.stderr) if stderr else done.stdout


def test_compile_command_bakes_every_kernel_a_fit_needs(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "fastnn", "compile"], capture_output=True, text=True,
        check=True, timeout=900, env={**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)},
    ).stdout
    for group in ("float64 dense without early stopping, L-BFGS, prediction",
                  "float32 sparse with early stopping"):
        assert group in out
    assert "fastnn kernels ready in" in out
    # Fits of both dtypes, serial and multithreaded, with early stopping and
    # L-BFGS, in a new process: everything loads from the cache, nothing compiles.
    fits = _python(_FITS.format(v=False), tmp_path)
    assert "COMPILED 0 []" in fits, fits
    # fastnn.precompile() from a script without a __main__ guard (its workers
    # are not multiprocessing's, which would re-run the script): on the baked
    # cache, everything loads.
    script = tmp_path / "bake.py"
    script.write_text("import fastnn\nfastnn.precompile()\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True,
                          text=True, timeout=900, cwd=tmp_path,
                          env={**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert "float32 sparse with early stopping" in done.stdout
    assert "fastnn kernels ready in" in done.stdout
    # The baked cache damaged (an image layer or a copy cut short): the fits
    # compile what they cannot read, say so once, and rewrite it for the next.
    for index in tmp_path.rglob("training.train_epochs-*.nbi"):
        index.write_bytes(index.read_bytes()[:40])
    out, err = _python(_FITS.format(v=False), tmp_path, stderr=True)
    assert "COMPILED 0 []" not in out
    assert err.count("DamagedCacheWarning") == 1
    assert "UnpicklingError" in err
    out, err = _python(_FITS.format(v=False), tmp_path, stderr=True)
    assert "COMPILED 0 []" in out, out
    assert "DamagedCacheWarning" not in err


def test_verbose_fit_says_when_it_compiles(tmp_path):
    code = _FITS.format(v=True).replace("fits = [", "fits = 2 * [", 1)
    out = _python(code, tmp_path)
    notices = [line for line in out.splitlines() if line.startswith("Compiling")]
    # The first gd fit (float64), the first adam fit (float32), the first
    # regressor fit (float64: relu and the identity output have loop kernels of
    # their own) and the first sparse fit (float64) compile; the same fits
    # again and the predictions load what they compiled.
    assert len(notices) == 4, notices
    assert "float64" in notices[0]
    assert "float32" in notices[1]
    assert "float64" in notices[2]
    assert "float64" in notices[3]
    assert "python -m fastnn compile" in notices[0]


def test_precompile_in_process_compiles_each_dtype_in_turn(monkeypatch, capsys):
    from fastnn import _compile

    done = []
    monkeypatch.setattr(_compile, "_compile_dtype",
                        lambda name, verbose: done.append((name, verbose)))
    seconds = _compile.precompile(verbose=True, n_jobs=1)
    assert done == [("float64", True), ("float32", True)]
    assert seconds >= 0
    assert "fastnn kernels ready in" in capsys.readouterr().out
    # n_jobs below 1 means one process too, never none.
    done.clear()
    _compile.precompile(verbose=False, n_jobs=0)
    assert done == [("float64", False), ("float32", False)]
    assert capsys.readouterr().out == ""


def test_precompile_says_which_worker_failed(monkeypatch):
    from fastnn import _compile

    monkeypatch.setattr(_compile, "_WORKER", "import sys; sys.exit({dtype!r} == "
                        "'float32' and {verbose} is False)")
    with pytest.raises(RuntimeError, match=r"the float32 kernels failed"):
        _compile.precompile(verbose=False, n_jobs=2)
