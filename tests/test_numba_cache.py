"""A damaged Numba cache costs a recompile, never a crash (``fastnn._numba_cache``).

Every test fits in fresh processes on a cache of its own: a warm cache is
damaged the way a full disk, a copy cut short or a network file system leaves
it, and the next fit must give the clean fit's result with one warning, and
rewrite the file so that the process after it compiles nothing and says nothing.
"""

import json
import os
import pickle
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import fastnn

# The seed configuration, fitted and predicted; prints what it compiled (Numba's
# compile events), which DamagedCacheWarnings it saw and a digest of every
# fitted array and the predictions.
_FIT = textwrap.dedent("""
    import hashlib, json, warnings
    from numba.core import event

    compiled = []

    class _Count(event.Listener):
        def on_start(self, ev):
            pass

        def on_end(self, ev):
            compiled.append(ev.data["dispatcher"].py_func.__name__)

    event.register("numba:compile", _Count())
    import fastnn
    from fastnn import ShallowNNClassifier, make_flower

    X, y = make_flower()
    print("fitting", flush=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = ShallowNNClassifier(4, "tanh", solver="gd", max_iter=5, random_state=0)
        proba = est.fit(X, y).predict_proba(X)
    arrays = [*est.coefs_, *est.intercepts_, proba]
    print(json.dumps({
        "result": hashlib.sha256(b"".join(a.tobytes() for a in arrays)).hexdigest(),
        "compiled": len(compiled),
        "damaged": [str(w.message) for w in caught
                    if issubclass(w.category, fastnn.DamagedCacheWarning)],
        "package": fastnn.__file__,
    }))
""")

# The entry kernel that a fit loads from the cache (its callees come linked
# into it, so theirs are not read on a warm cache).
_KERNEL = "training.train_epochs-*"


def _env(**changes):
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env.update({k: str(v) for k, v in changes.items()})
    return env


def _popen(env, prefix=()):
    # cwd: "-c" puts the working directory first on sys.path, and a checkout's
    # would shadow the package copies of the in-tree cache tests.
    return subprocess.Popen([*prefix, sys.executable, "-c", _FIT],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, cwd=env.get("PYTHONPATH", "/"))


def _fit(env, prefix=()):
    proc = _popen(env, prefix)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    return json.loads(out.splitlines()[-1])


def _files(cache, pattern):
    found = sorted(Path(cache).rglob(pattern))
    assert found, f"no {pattern} under {cache}"
    return found


def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _garbage(path):
    size = path.stat().st_size
    path.write_bytes(np.random.RandomState(0).bytes(size))


def _foreign_pickle(path):
    path.write_bytes(pickle.dumps(("not", "a", "compiled", "kernel")))


_DAMAGE = {
    "index empty": (".nbi", lambda p: p.write_bytes(b"")),
    "index truncated": (".nbi", _truncate),
    "index garbage": (".nbi", _garbage),
    "data empty": (".nbc", lambda p: p.write_bytes(b"")),
    "data truncated": (".nbc", _truncate),
    "data garbage": (".nbc", _garbage),
    "data unpickles, not a kernel": (".nbc", _foreign_pickle),
}


def _damage(cache, kind):
    suffix, spoil = _DAMAGE[kind]
    for path in _files(cache, _KERNEL + suffix):
        spoil(path)


def _assert_recovered(env, clean, where):
    """The damaged cache's fit: the clean result, one warning naming ``where``;
    the next process: the clean result, nothing compiled, nothing said."""
    damaged = _fit(env)
    assert damaged["result"] == clean
    assert damaged["compiled"] > 0
    assert len(damaged["damaged"]) == 1, damaged["damaged"]
    assert repr(str(where)) in damaged["damaged"][0]
    assert "delete that directory or point NUMBA_CACHE_DIR" in damaged["damaged"][0]
    again = _fit(env)
    assert again == {**damaged, "compiled": 0, "damaged": []}


@pytest.fixture(scope="module")
def warm_cache(tmp_path_factory):
    """A NUMBA_CACHE_DIR that the fit filled, and the fit's result."""
    cache = tmp_path_factory.mktemp("warm-numba-cache")
    first = _fit(_env(NUMBA_CACHE_DIR=cache))
    assert first["compiled"] > 0 and first["damaged"] == []
    return cache, first["result"]


@pytest.mark.parametrize("kind", list(_DAMAGE))
def test_damaged_file_is_a_miss_that_is_repaired(warm_cache, tmp_path, kind):
    warm, clean = warm_cache
    cache = tmp_path / "cache"
    shutil.copytree(warm, cache)
    assert _fit(_env(NUMBA_CACHE_DIR=cache))["compiled"] == 0
    _damage(cache, kind)
    where = _files(cache, _KERNEL + ".nbi")[0].parent
    _assert_recovered(_env(NUMBA_CACHE_DIR=cache), clean, where)


def _without_root_privilege():
    """A command prefix under which file modes bind: root reads any file
    whatever its mode unless it drops these capabilities (util-linux's setpriv)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without util-linux's setpriv")
    return [setpriv, "--bounding-set", "-dac_override,-dac_read_search"]


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX permissions")
def test_unreadable_index_is_a_miss_that_is_repaired(warm_cache, tmp_path):
    warm, clean = warm_cache
    cache = tmp_path / "cache"
    shutil.copytree(warm, cache)
    for index in _files(cache, _KERNEL + ".nbi"):
        index.chmod(0)
    env = _env(NUMBA_CACHE_DIR=cache)
    prefix = _without_root_privilege()
    damaged = _fit(env, prefix=prefix)
    assert damaged["result"] == clean and damaged["compiled"] > 0
    assert len(damaged["damaged"]) == 1
    assert "PermissionError" in damaged["damaged"][0]
    again = _fit(env, prefix=prefix)
    assert again == {**damaged, "compiled": 0, "damaged": []}


def test_damaged_cache_that_cannot_be_written_still_fits(warm_cache, tmp_path):
    """A cache that cannot be repaired (here a directory where the index file
    belongs) is reported once per process; the fit runs from memory."""
    warm, clean = warm_cache
    cache = tmp_path / "cache"
    shutil.copytree(warm, cache)
    for index in _files(cache, _KERNEL + ".nbi"):
        index.unlink()
        index.mkdir()
    for _ in range(2):
        fit = _fit(_env(NUMBA_CACHE_DIR=cache))
        assert fit["result"] == clean and fit["compiled"] > 0
        read, write = fit["damaged"]
        assert "has a damaged or unreadable file" in read
        assert "IsADirectoryError" in read
        assert "cannot be written" in write


def _package_copy(root):
    """fastnn's sources under ``root`` (imported first through PYTHONPATH), so
    that the in-tree cache of a test is its own."""
    shutil.copytree(Path(fastnn.__file__).parent, root / "fastnn",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return root / "fastnn"


def test_package_pycache(warm_cache, tmp_path):
    """No NUMBA_CACHE_DIR: numba caches next to the sources."""
    _, clean = warm_cache
    package = _package_copy(tmp_path)
    env = _env(PYTHONPATH=tmp_path)
    first = _fit(env)
    assert first["package"] == str(package / "__init__.py")
    assert first["result"] == clean and first["compiled"] > 0
    _damage(package, "index truncated")
    _assert_recovered(env, clean, package / "cpu" / "__pycache__")


def test_read_only_install_fallback(warm_cache, tmp_path):
    """Neither the package's __pycache__ nor numba's user-wide cache writable:
    fastnn caches in a per-user temporary directory (fastnn._config)."""
    _, clean = warm_cache
    package = _package_copy(tmp_path)
    (package / "__pycache__").write_text("a file where a directory would be")
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = _env(PYTHONPATH=tmp_path, HOME=blocked / "home",
               XDG_CACHE_HOME=blocked / "cache", TMPDIR=temp)
    first = _fit(env)
    assert first["result"] == clean and first["compiled"] > 0
    fallback = temp / f"fastnn-numba-cache-{os.getuid()}"
    _damage(fallback, "data garbage")
    _assert_recovered(env, clean, _files(fallback, _KERNEL + ".nbi")[0].parent)


def test_four_processes_on_one_empty_cache_one_killed(warm_cache, tmp_path):
    """Numba writes every cache file atomically (a temporary file, then
    os.replace): processes compiling at once, one killed mid-compile, leave a
    cache that the next process loads whole."""
    _, clean = warm_cache
    env = _env(NUMBA_CACHE_DIR=tmp_path)
    procs = [_popen(env) for _ in range(4)]
    try:
        killed = procs.pop()
        assert killed.stdout.readline().strip() == "fitting"
        time.sleep(2.0)  # compiling: the first fit compiles for several seconds
        assert killed.poll() is None
        killed.kill()
        assert killed.wait(timeout=60) != 0
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=600)
            assert proc.returncode == 0, err
            results.append(json.loads(out.splitlines()[-1]))
    finally:
        for proc in procs:
            proc.kill()
    assert all(r["result"] == clean and r["damaged"] == [] for r in results)
    after = _fit(env)
    assert after["result"] == clean
    assert after["compiled"] == 0 and after["damaged"] == []


# A kernel of many signatures, cached through GuardedCache; the child compiles
# (or loads) those named on its command line and prints what it compiled.
_RACY = textwrap.dedent("""
    import json, sys, time, warnings
    import numba
    import numpy as np
    from numba.core import event
    import fastnn
    from fastnn._numba_cache import guard

    compiled = []

    class _Count(event.Listener):
        def on_start(self, ev):
            pass

        def on_end(self, ev):
            compiled.append(str(ev.data["args"]))

    event.register("numba:compile", _Count())

    def total(a):
        s = 0
        for v in a.flat:
            s += v
        return s

    total = guard(numba.njit(total))
    total.__module__ = "fastnn_cache_race"
    out = []
    time.sleep(max(0.0, float(sys.argv[1]) - time.time()))  # all start at once
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for spec in sys.argv[2:]:
            dtype, ndim = spec.split(":")
            out.append(float(total(np.ones((2,) * int(ndim), dtype=dtype))))
    print(json.dumps({"sums": out, "compiled": compiled,
                      "damaged": [str(w.message) for w in caught
                                  if issubclass(w.category,
                                                fastnn.DamagedCacheWarning)]}))
""")
_SPECS = [f"{dtype}:{ndim}" for dtype in ("float32", "float64", "int32", "int64",
                                           "uint8", "int16")
          for ndim in (1, 2, 3, 4)]


def _racy(script_dir, env, specs, wait=True, start=0.0):
    proc = subprocess.Popen([sys.executable, str(script_dir / "racy.py"),
                             str(start), *specs],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, cwd=str(script_dir))
    if not wait:
        return proc
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    return json.loads(out.splitlines()[-1])


def test_processes_saving_other_signatures_at_once_lose_nothing(tmp_path):
    """Four processes fill one empty cache at once, each with other signatures
    of one kernel (as ``python -m fastnn compile``'s workers do): the index
    keeps every entry and each maps to its own code, so a fresh process loads
    all 24 signatures and compiles nothing (numba's unlocked save, counting
    its data files, loses entries and can swap code: numba#10128)."""
    (tmp_path / "racy.py").write_text(_RACY)
    env = _env(NUMBA_CACHE_DIR=tmp_path / "cache")
    start = time.time() + 8.0  # after the four imports
    procs = [_racy(tmp_path, env, _SPECS[i::4], wait=False, start=start)
             for i in range(4)]
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
    after = _racy(tmp_path, env, _SPECS)
    assert after["compiled"] == [] and after["damaged"] == []
    assert after["sums"] == [2.0 ** int(s.split(":")[1]) for s in _SPECS]


def test_an_entry_holding_another_signatures_code_is_a_miss(tmp_path):
    """An index whose entry for one signature names another's data file (what
    numba's own save can leave behind) is a miss: the kernel compiles, gives the
    right result, warns once, and the entry is repaired for the next process."""
    (tmp_path / "racy.py").write_text(_RACY)
    env = _env(NUMBA_CACHE_DIR=tmp_path / "cache")
    specs = ["float64:1", "int64:2"]
    _racy(tmp_path, env, specs)
    [index] = (tmp_path / "cache").rglob("*.nbi")
    with open(index, "rb") as f:
        version = pickle.load(f)
        stamp, overloads = pickle.loads(f.read())
    keys = list(overloads)
    assert len(keys) == 2
    overloads[keys[0]], overloads[keys[1]] = overloads[keys[1]], overloads[keys[0]]
    with open(index, "wb") as f:
        pickle.dump(version, f, protocol=-1)
        f.write(pickle.dumps((stamp, overloads), protocol=-1))
    swapped = _racy(tmp_path, env, specs)
    assert swapped["sums"] == [2.0, 4.0]
    assert len(swapped["compiled"]) == 2
    assert len(swapped["damaged"]) == 1
    assert "another signature" in swapped["damaged"][0]
    repaired = _racy(tmp_path, env, specs)
    assert repaired == {"sums": [2.0, 4.0], "compiled": [], "damaged": []}
