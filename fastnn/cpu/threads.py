"""Thread settings for the parallel kernels, following scikit-learn's conventions.

* The thread count is scikit-learn's OpenMP count: ``OMP_NUM_THREADS`` and
  ``threadpoolctl`` limits apply, so joblib/loky workers (which set them) and
  Dask worker processes (whose nanny sets ``OMP_NUM_THREADS=1``) do not
  oversubscribe the cores.
* Inside a task of a Dask worker, the count is also capped by the worker's
  thread count: workers of a threads-in-process cluster (``processes=False``)
  set no environment variable, and a one-thread worker would otherwise run
  fastnn on every core (measured: 2 threads on a 2-core machine). The worker
  is looked up only when ``distributed`` is already imported, so that
  ``import fastnn`` never imports Dask.
* BLAS runs single-threaded inside our kernels: we parallelise over row blocks
  ourselves (a multithreaded BLAS inside each block oversubscribes the cores,
  ~10x slower, and rounds differently from a single-threaded one).
* numba's ``workqueue`` layer aborts the process when two threads enter parallel
  code at once (a threading-backend grid search does), so on that layer parallel
  kernels are serialised by a lock. The result of a fit never depends on the
  number of threads (blocks are summed in a fixed order).
"""

import sys
import threading
from contextlib import ExitStack, contextmanager

import numba

# numba's np.dot calls the BLAS that SciPy bundles. Load it now: threadpoolctl only
# limits libraries already loaded when a limit is set, and an unlimited BLAS in the
# first parallel section oversubscribes the cores (measured: 17x slower).
import scipy.linalg.cython_blas  # noqa: F401
from threadpoolctl import ThreadpoolController

try:
    from sklearn.utils._openmp_helpers import _openmp_effective_n_threads
except ImportError:  # pragma: no cover - private helper moved
    import os

    def _openmp_effective_n_threads():
        return os.cpu_count() or 1


_WORKQUEUE_LOCK = threading.Lock()
# Finding the loaded BLAS libraries reads /proc/self/maps (~2.5 ms): do it once.
_CONTROLLER = None


def _controller():
    global _CONTROLLER
    if _CONTROLLER is None:
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER


def n_threads():
    """Threads the parallel kernels may use in the calling thread."""
    n = min(_openmp_effective_n_threads(), numba.config.NUMBA_NUM_THREADS)
    worker_threads = _dask_worker_threads()
    if worker_threads is not None:
        n = min(n, worker_threads)
    return max(1, n)


def _dask_worker_threads():
    """Threads of the Dask worker running the calling task; None outside a task."""
    distributed = sys.modules.get("distributed")
    if distributed is None:
        return None
    try:
        worker = distributed.get_worker()  # a context variable of the task
    except (AttributeError, ValueError):  # not in a task, or a partial import
        return None
    return int(worker.state.nthreads)


def _layer_is_threadsafe():
    try:
        return numba.threading_layer() != "workqueue"
    except ValueError:  # no parallel kernel has run yet: the layer is unknown
        return False


@contextmanager
def parallel_section(uses_blas):
    """Context in which the parallel kernels run with the settings above."""
    n = n_threads()
    with ExitStack() as stack:
        if not _layer_is_threadsafe():
            stack.enter_context(_WORKQUEUE_LOCK)
        if uses_blas:
            # Always one BLAS thread, even when we run one thread ourselves: a
            # multithreaded BLAS may round differently, and results must not
            # depend on the thread count.
            stack.enter_context(_controller().limit(limits=1, user_api="blas"))
        previous = numba.get_num_threads()
        numba.set_num_threads(n)
        try:
            yield n
        finally:
            numba.set_num_threads(previous)
