"""Run the CUDA tests on a GPU when there is one, else in numba-cuda's simulator.

numba-cuda picks real or simulated CUDA once, when ``numba.cuda`` is first
imported, from ``numba.core.config.ENABLE_CUDASIM``, which numba reads from
``NUMBA_ENABLE_CUDASIM`` at ``import numba`` and again on ``reload_config()``.
Nothing imports ``numba.cuda`` before this file is loaded (``import fastnn`` does
not, and the CPU tests never ask for CUDA), so setting the variable and reloading
numba's configuration here, at collection, is early enough; the CPU tests do not
read it. A value the user set is left alone. The GPU is looked for through the
driver library directly, since importing ``numba.cuda`` to ask would fix the mode
too early.

Every test runs with launch shapes patched down (a few threads per block, a few
blocks), so the multi-block, grid-stride and multi-partial paths all run on tiny
shapes, and the simulator, which runs each thread as Python code, stays fast.
"""

import ctypes
import os

import pytest
from numba.core import config


def _gpu_present():
    try:
        driver = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return False
    count = ctypes.c_int(0)
    return (
        driver.cuInit(0) == 0
        and driver.cuDeviceGetCount(ctypes.byref(count)) == 0
        and count.value > 0
    )


if "NUMBA_ENABLE_CUDASIM" not in os.environ and not _gpu_present():
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"
    # numba.cuda's configuration *is* numba.core.config, read at ``import numba``
    # (which the CPU tests may already have done): have it read the variable again.
    config.reload_config()

THREADS_PER_BLOCK = 4
MAX_BLOCKS = 3


@pytest.fixture(autouse=True)
def small_launches(monkeypatch):
    """Launch shapes small enough that tiny problems span several blocks."""
    from fastnn.cuda import network

    monkeypatch.setattr(network, "THREADS_PER_BLOCK", THREADS_PER_BLOCK)
    monkeypatch.setattr(network, "MAX_BLOCKS", MAX_BLOCKS)


@pytest.fixture
def real_gpu_only():
    """Skip a test that means something only on a physical GPU."""
    from fastnn import _device

    if not _device.real_gpu():
        pytest.skip("needs a physical NVIDIA GPU (running in the CUDA simulator)")
