"""Numba's on-disk cache, read so that a damaged file costs a recompile, not a crash.

Numba 0.68 unpickles a cache index or data file without a guard: a file that a
full disk, a copy cut short or a network file system left truncated, empty or
garbled raises ``EOFError`` or ``UnpicklingError`` from every later call that
compiles, until someone deletes the file by hand (numba#10434). Every fastnn
kernel reads its cache through :class:`GuardedCache` instead, which treats such
a file as a cache miss: one :class:`DamagedCacheWarning` per process and
directory, the kernel compiles, and numba's own (atomic) save rewrites the
file, so the next process loads it silently again. A cache that cannot be
written is likewise reported once and the kernel runs from memory.

Numba stamps each kernel's cache entries with its own source file only, but a
kernel's compiled code holds code from other files (the scalar math of
:mod:`fastnn.ops`, the calling convention of :mod:`fastnn.cpu.calls`): after an
edit of one of those, numba would load stale code. :class:`GuardedCache` stamps
every entry with all of the package's source files instead (:func:`package_stamp`),
so that any change of any of them compiles every kernel again.

Numba's own save is not safe for processes that fill one cache at once with
different signatures of a kernel (numba#10128): each reads the kernel's index,
adds its entry and writes the index back, so one entry can be lost, and each
names its data file by counting the index's entries, so two signatures can get
the same file, and the index then maps one signature to the other's code.
:class:`GuardedCache` saves under a lock on the index (POSIX ``flock``;
released when a process dies), names each data file after its key, and checks
the signature of what it loads (``python -m fastnn compile`` fills the cache from
two processes; so do Dask workers sharing one).
"""

import contextlib
import hashlib
import os
import sys
import warnings

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: data names still unique
    fcntl = None

import numba
import sklearn
from numba.core import sigutils
from numba.core.caching import FunctionCache, IndexDataCacheFile


class DamagedCacheWarning(RuntimeWarning):
    """A file of the Numba cache could not be read or written; fastnn compiled."""


_reported = set()
_INSIDE = tuple(os.path.dirname(m.__file__) + os.sep
                for m in (sys.modules[__package__], numba, sklearn))


def _caller_level():
    """The ``stacklevel`` of the first frame outside fastnn, numba and
    scikit-learn (the user's call that compiled), so that the warning points
    there; the outermost frame if all are inside."""
    frame, level = sys._getframe(2), 2
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_INSIDE):
        frame, level = frame.f_back, level + 1
    return level


def _report(what, path, exc):
    """Warn once per process and directory; the rest is known from the first."""
    directory = os.path.dirname(path)
    if (what, directory) in _reported:
        return
    _reported.add((what, directory))
    if what == "read":
        happened = ("has a damaged or unreadable file", "compile again and "
                    "their cache files are rewritten")
    else:
        happened = ("cannot be written", "run from memory and compile again "
                    "in the next process")
    warnings.warn(
        f"fastnn: the Numba cache in {directory!r} {happened[0]} "
        f"({os.path.basename(path)}: {type(exc).__name__}: {exc}). The kernels "
        f"concerned {happened[1]}. If this recurs, delete that directory or "
        "point NUMBA_CACHE_DIR at another one.",
        DamagedCacheWarning,
        stacklevel=_caller_level(),
    )


_PACKAGE_STAMP = None


def package_stamp():
    """A digest of the path, modification time and size of every ``.py`` file of
    the package (computed once per process: a few dozen ``stat`` calls)."""
    global _PACKAGE_STAMP
    if _PACKAGE_STAMP is None:
        root = os.path.dirname(sys.modules[__package__].__file__)
        digest = hashlib.sha256()
        for folder, dirs, files in os.walk(root):
            # In place, so that the walk skips the caches and goes in order.
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(files):
                if name.endswith(".py"):
                    path = os.path.join(folder, name)
                    st = os.stat(path)
                    rel = os.path.relpath(path, root)
                    digest.update(f"{rel}:{st.st_mtime_ns}:{st.st_size};".encode())
        _PACKAGE_STAMP = digest.hexdigest()
    return _PACKAGE_STAMP


@contextlib.contextmanager
def _locked(path):
    """An exclusive lock on ``path`` (created if need be) for the block; no lock
    where there is no ``flock`` or the file cannot be opened (a read-only cache,
    whose save fails anyway and is reported)."""
    try:
        handle = open(path, "a") if fcntl is not None else None
    except OSError:
        handle = None
    if handle is None:
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class _GuardedIndexDataCacheFile(IndexDataCacheFile):
    """Numba's index and data files, an unreadable one read as empty, saved
    safely by processes that fill one cache at once."""

    def save(self, key, data):
        # Numba's save, under a lock on the index, with a data file named after
        # the key instead of the count of entries (see the module docstring).
        with _locked(self._index_path + ".lock"):
            overloads = self._load_index()
            data_name = overloads.get(key)
            if data_name is None:
                digest = hashlib.sha256(repr(key).encode()).hexdigest()[:16]
                data_name = f"{self._index_name[:-len('.nbi')]}.{digest}.nbc"
                overloads[key] = data_name
                self._save_index(overloads)
            self._save_data(data_name, data)

    def _load_index(self):
        # numba reads the index on saves too: an empty one lets the save write
        # a fresh index over the damaged file.
        try:
            return super()._load_index()
        except Exception as exc:
            _report("read", self._index_path, exc)
            return {}

    def _load_data(self, name):
        try:
            return super()._load_data(name)
        except FileNotFoundError:
            raise  # removed by another process meanwhile: numba's own miss
        except Exception as exc:
            _report("read", self._data_path(name), exc)
            return None


class GuardedCache(FunctionCache):
    """Numba's per-function cache, with damaged files read as misses."""

    def __init__(self, py_func):
        super().__init__(py_func)
        self._cache_file = _GuardedIndexDataCacheFile(
            cache_path=self._cache_file._cache_path,
            filename_base=self._impl.filename_base,
            source_stamp=package_stamp(),
        )

    def _load_overload(self, sig, target_context):
        try:
            cres = super()._load_overload(sig, target_context)
        except Exception as exc:  # data that unpickles but does not rebuild
            _report("read", self._cache_file._index_path, exc)
            return None
        if cres is not None and tuple(cres.signature.args) != tuple(
                sigutils.normalize_signature(sig)[0]):
            # Another signature's code under this one's entry (written by
            # Numba's unlocked save, or tampered with): a miss, rewritten.
            _report("read", self._cache_file._index_path,
                    TypeError("an entry holds another signature's code"))
            return None
        return cres

    def has(self, sig, target_context):
        """Whether the index lists ``sig`` for this machine (nothing is loaded)."""
        key = self._index_key(sig, target_context.codegen())
        return key in self._cache_file._load_index()

    def _save_overload(self, sig, data):
        try:
            super()._save_overload(sig, data)
        except OSError as exc:
            _report("write", self._cache_file._index_path, exc)


def guard(dispatcher):
    """Have ``dispatcher`` (``numba.njit(cache=False)``) cache through
    :class:`GuardedCache`, where numba's ``cache=True`` would use its own."""
    dispatcher._cache = GuardedCache(dispatcher.py_func)
    return dispatcher


def will_compile(dispatcher, args):
    """Whether calling ``dispatcher(*args)`` compiles (neither loaded nor cached).

    A cached signature is only looked up in the cache's index, not loaded: the
    call loads it, once (a damaged data file then compiles after all).
    """
    try:
        sig = tuple(numba.typeof(a) for a in args)
        if sig in dispatcher.overloads:
            return False
        cache = dispatcher._cache
        return not (isinstance(cache, GuardedCache)
                    and cache.has(sig, dispatcher.targetctx))
    except Exception:  # pragma: no cover - numba internals moved: stay silent
        return False
