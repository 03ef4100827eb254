"""Compilation settings shared by every kernel: one place for fastmath and caching.

``fastmath`` keeps ``nnan`` and ``ninf`` off on purpose: softmax, the clipped
log-loss and the divergence guard rely on inf and nan behaving as IEEE says.
"""

import os
import tempfile
from pathlib import Path

import numba
from numba.core import config as _numba_config

FASTMATH = {"nsz", "contract", "reassoc"}


def _writable(path):
    try:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
    except OSError:
        return False
    return True


def _choose_cache():
    """Return True when numba can cache our kernels somewhere writable.

    ``cache=True`` raises at import when neither the package's ``__pycache__`` nor
    numba's user-wide cache is writable (read-only installs, locked-down home).
    Then we point numba at a temporary directory, and as a last resort compile
    without a cache.
    """
    if os.environ.get("NUMBA_CACHE_DIR"):
        return _writable(os.environ["NUMBA_CACHE_DIR"])
    if _writable(Path(__file__).parent / "__pycache__"):
        return True
    from numba.misc.appdirs import AppDirs

    if _writable(AppDirs(appname="numba", appauthor=False).user_cache_dir):
        return True
    fallback = Path(tempfile.gettempdir()) / f"fastnn-numba-cache-{os.getuid()}"
    if _writable(fallback):
        _numba_config.CACHE_DIR = str(fallback)
        return True
    return False


CACHE = _choose_cache()


def jit(func):
    """Compile a kernel for the CPU: cached, GIL released, our fastmath flags."""
    return numba.njit(cache=CACHE, nogil=True, fastmath=FASTMATH)(func)


def inline(func):
    """Compile scalar math for the CPU, inlined into the kernels that call it."""
    return numba.njit(inline="always", fastmath=FASTMATH)(func)
