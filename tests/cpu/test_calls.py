"""Calls by address (fastnn.cpu.calls): results, the type check, the cache."""

import json
import subprocess
import sys
from typing import NamedTuple

import numba
import numpy as np
import pytest
from numba import prange

from fastnn.cpu import calls


class _Bundle(NamedTuple):
    a: np.ndarray
    scale: float


@numba.njit(cache=False)
def _kernel(i, bundle, out):
    s = 0.0
    for k in range(bundle.a.shape[0]):
        s += bundle.a[k] * i
    out[i] = s * bundle.scale


@numba.njit(cache=False)
def _serial(kernel, bundle, out):
    for i in range(out.shape[0]):
        calls.call(kernel, (np.int64(i), bundle, out))


@numba.njit(cache=False, parallel=True)
def _threaded(kernel, bundle, out):
    a, scale = bundle
    for i in prange(out.shape[0]):
        calls.call(kernel, (np.int64(i), _Bundle(a, scale), out))


@numba.njit(cache=False)
def _returns(x):
    return x


def _expected(bundle, n):
    return np.array([bundle.a.sum() * i * bundle.scale for i in range(n)])


@pytest.mark.parametrize("driver", [_serial, _threaded], ids=["serial", "threaded"])
def test_call_runs_the_kernel_at_the_address(driver):
    bundle = _Bundle(np.arange(5.0), 0.5)
    out = np.full(7, np.nan)
    kernel = calls.address(_kernel, (np.int64(0), bundle, out))
    driver(kernel, bundle, out)
    np.testing.assert_array_equal(out, _expected(bundle, 7))
    # The same signature gives the same address (looked up once).
    assert calls.address(_kernel, (np.int64(3), bundle, out)) == kernel
    assert 0 < kernel < 2**63  # an int64 argument, whatever its tag


def test_other_argument_types_raise_instead_of_calling():
    bundle = _Bundle(np.arange(5.0), 0.5)
    out = np.zeros(4)
    # Taken for float32 arrays, called with float64 ones: another memory layout.
    kernel = calls.address(_kernel, (np.int64(0),
                                     _Bundle(np.arange(5, dtype=np.float32), 0.5),
                                     np.zeros(4, dtype=np.float32)))
    with pytest.raises(TypeError, match="other argument types"):
        _serial(kernel, bundle, out)
    np.testing.assert_array_equal(out, 0.0)  # nothing was called


@numba.njit(cache=False)
def _forwards(kernel, i, bundle, out):
    calls.call(kernel, (i, bundle, out))


@numba.njit(cache=False)
def _through(outer, inner, bundle, out):
    calls.call(outer, (inner, np.int64(1), bundle, out))


def test_an_exception_in_the_kernel_reaches_the_caller():
    """A driver called by address, whose own call by address raises: the error
    propagates through both calls, as it would through direct calls."""
    bundle = _Bundle(np.arange(5.0), 0.5)
    out = np.zeros(4)
    wrong = calls.address(_kernel, (np.int64(0),
                                    _Bundle(np.arange(5, dtype=np.float32), 0.5),
                                    np.zeros(4, dtype=np.float32)))
    outer = calls.address(_forwards, (np.int64(0), np.int64(0), bundle, out))
    with pytest.raises(TypeError, match="other argument types"):
        _through(outer, wrong, bundle, out)
    np.testing.assert_array_equal(out, 0.0)
    right = calls.address(_kernel, (np.int64(0), bundle, out))
    _through(outer, right, bundle, out)  # the same path calls through
    np.testing.assert_array_equal(out, [0.0, 5.0, 0.0, 0.0])


def test_a_kernel_that_returns_a_value_is_refused():
    with pytest.raises(TypeError, match="returns a value"):
        calls.address(_returns, (1.0,))


_CACHED = """
import json, sys
from numba.core import event
compiled = []
class Count(event.Listener):
    def on_start(self, ev): compiled.append(ev.data["dispatcher"].py_func.__name__)
    def on_end(self, ev): pass
event.register("numba:compile", Count())
import numpy as np
from fastnn import ShallowNNClassifier, make_flower
X, y = make_flower()
model = ShallowNNClassifier(4, "tanh", solver="gd", max_iter=5, random_state=0)
model.fit(X, y)
print(json.dumps({"compiled": compiled, "proba": model.predict_proba(X[:3]).tolist()}))
"""


def test_callers_and_kernels_load_from_the_cache_in_a_new_process(tmp_path):
    """The epoch loop holds the block kernel's address only as an argument: both
    load from the cache in a fresh process, and give the same results."""
    env = {"NUMBA_CACHE_DIR": str(tmp_path), "PYTHONWARNINGS": "ignore"}
    import os

    runs = []
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", _CACHED], check=True,
                              capture_output=True, text=True,
                              env={**os.environ, **env})
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    assert "train_epochs" in runs[0]["compiled"]
    assert "block_task" in runs[0]["compiled"]
    assert runs[1]["compiled"] == []
    assert runs[1]["proba"] == runs[0]["proba"]
