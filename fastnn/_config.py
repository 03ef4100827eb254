"""Compilation settings shared by every kernel: one place for fastmath and caching.

``error_model="numpy"``: division by zero gives inf/nan as IEEE says instead of
raising, which also lets divisions vectorise.

``fastmath`` keeps ``nnan`` and ``ninf`` off on purpose: softmax, the clipped
log-loss and the divergence guard rely on inf and nan behaving as IEEE says.
``reassoc`` (which lets LLVM vectorise sums) is given only to the summation
kernels (:func:`jit_sum`): elsewhere it would break the Cody-Waite range
reduction of :mod:`fastnn.cpu.fastmath` once that is inlined.
"""

import getpass
import os
import tempfile
import types
from pathlib import Path

import numba
import numba.extending
from numba.core import config as _numba_config

from ._numba_cache import guard

FASTMATH = {"nsz", "contract"}
SUM_FASTMATH = FASTMATH | {"reassoc"}
_OPTIONS = {"fastmath": FASTMATH, "error_model": "numpy"}
# Kernels called only from other kernels need no CPython wrapper (the code that
# unboxes every argument from Python objects): skipping it saves compilation.
_INTERNAL = {"no_cpython_wrapper": True, "no_cfunc_wrapper": True}


def _writable(path):
    try:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
    except OSError:
        return False
    return True


def _user_tag():
    """Who runs us, for a per-user temporary directory: uid, else the user name.

    ``os.getuid`` does not exist on Windows; ``getpass.getuser`` reads the
    environment there and raises when it names nobody.
    """
    getuid = getattr(os, "getuid", None)
    if getuid is not None:
        return str(getuid())
    try:
        name = getpass.getuser()
    except (ImportError, KeyError, OSError):
        return "user"
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "user"


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
    fallback = Path(tempfile.gettempdir()) / f"fastnn-numba-cache-{_user_tag()}"
    if _writable(fallback):
        _numba_config.CACHE_DIR = str(fallback)
        return True
    return False


CACHE = _choose_cache()


def _cached_njit(func, **options):
    """``numba.njit(cache=True, **options)``, reading the cache through
    :class:`fastnn._numba_cache.GuardedCache` (a damaged file is a miss)."""
    dispatcher = numba.njit(**options)(func)
    return guard(dispatcher) if CACHE else dispatcher


def jit(func):
    """Compile a kernel for the CPU, called by other kernels only.

    Cached, our fastmath flags, and no CPython wrapper: Python cannot call it
    (numba crashes if it does; tests go through ``tests.common.compiled``).
    """
    return _cached_njit(func, **_OPTIONS, **_INTERNAL)


def entry(func):
    """Compile a kernel that Python calls: like :func:`jit`, GIL released."""
    return _cached_njit(func, **_OPTIONS, nogil=True)


def jit_sum(func):
    """Compile a summation kernel: like :func:`jit`, with reassociation allowed."""
    return _cached_njit(func, **{**_OPTIONS, "fastmath": SUM_FASTMATH}, **_INTERNAL)


def scalar(func):
    """Compile scalar math for the CPU, called by the kernels.

    Not inlined at Numba-IR level (``inline="always"`` retypes the callee at
    every call site, seconds of compilation in all); LLVM inlines these small
    functions into the loops that call them and vectorises those loops anyway.
    """
    return _cached_njit(func, **_OPTIONS, **_INTERNAL)


def inline(func):
    """Compile a mid-level kernel into each caller, at Numba-IR level.

    For the few drivers that sit between a top-level kernel and the heavy block
    kernels: as a separate unit each would link, re-optimise and re-emit the
    whole call tree below it (about 1 s per level, measured); inlined, its small
    body is typed once more in each caller instead.
    """
    return numba.njit(**_OPTIONS, inline="always")(func)


def by_type(stub):
    """Register implementations of ``stub`` chosen by its arguments' numba types.

    ``@by_type(stub)`` over ``choose(*types) -> implementation`` (numba's
    ``overload``): compiled code calling ``stub`` gets the implementation for
    its argument types, compiled with our options; types that no call site
    meets are never compiled. Each implementation compiles as a unit of its own
    that links and re-emits the kernels it calls (inlined or not: numba compiles
    it to type it), so keep them one-line forwards to small kernels, never
    above a big call tree (measured: 1.2 s over the parallel block driver).
    """
    return numba.extending.overload(stub, jit_options=dict(_OPTIONS),
                                    inline="never")


def pjit(func):
    """Compile a kernel whose ``prange`` loops run on numba's thread pool.

    Python calls these too (prediction), so they keep their wrapper.
    """
    return _cached_njit(func, **_OPTIONS, nogil=True, parallel=True)


def specialise(func, **names):
    """``func`` with some of the globals it calls rebound, e.g. to faster math.

    This keeps one source for the scalar math (:mod:`fastnn.ops`) while each
    backend supplies its own ``exp`` or ``tanh``.
    """
    scope = {**func.__globals__, **names}
    return types.FunctionType(
        func.__code__, scope, func.__name__, func.__defaults__, func.__closure__
    )
