"""Compiling the CPU kernels ahead of use, and telling when a fit will compile.

Numba compiles a kernel the first time it meets an argument-type signature and
keeps the machine code in its on-disk cache (``NUMBA_CACHE_DIR``, else the
package's ``__pycache__``). :func:`precompile` walks every signature that a fit
or predict can need, so that an image or a cluster bootstrap can bake the cache
once (:func:`fastnn._numba_cache.will_compile` tells whether a call compiles).
"""

import itertools
import os
import subprocess
import sys
import time
import warnings

import numba
import numpy as np
import scipy.sparse

from .cpu import network, threads, training
from .ops import activations as act_ops
from .ops import losses as loss_ops
from .ops import schedules
from .ops.bundles import (
    CSR,
    Curves,
    Data,
    Network,
    Params,
    Solver,
    Validation,
    row_indices,
)
from .ops.layout import Layout

#: Float dtypes a fit trains in.
DTYPES = (np.float64, np.float32)


def _tiny_problem(dtype, sparse=False):
    """A 64-sample problem of the argument types a real fit passes.

    The classifier's and the regressor's fits take the same types (targets in
    ``X``'s dtype, the output a runtime code): one problem compiles for both.
    ``sparse``: ``X`` a :class:`CSR` bundle (int32 indices, as fits pass).
    """
    rng = np.random.RandomState(0)
    X = rng.randn(64, 3).astype(dtype)
    if sparse:
        X = CSR.of(scipy.sparse.csr_matrix(X))
    Y = np.zeros((64, 2), dtype=dtype)
    Y[np.arange(64), rng.randint(0, 2, 64)] = 1
    data = Data(X, Y, np.ones(64, dtype=dtype))
    net = Network(Layout.of(3, 4, 2), 2, 0.01, loss_ops.SOFTMAX,
                  float(np.finfo(dtype).eps))
    return data, net


def _fit_signatures(dtype, early_stopping, sparse, n_threads):
    data, net = _tiny_problem(dtype, sparse)
    lay = net.layout
    rows = row_indices(64)
    theta = np.random.RandomState(1).uniform(-0.5, 0.5, lay.size).astype(dtype)
    state = np.zeros(schedules.N_STATE)
    state[schedules.LR], state[schedules.BEST] = 0.01, np.inf
    params = Params(theta, np.zeros_like(theta), np.zeros_like(theta),
                    np.stack([theta, theta]), theta.copy(), state)
    solver = Solver(2, 0, 32, 0.001, 0.5, 0.9, True, 0.9, 0.999, 1e-8, 1e-4, 1e-4,
                    10.0)
    nnz = network.nnz_per_row(data.X)
    work = network.workspace(lay, 32, dtype, nnz)
    val = (Validation(rows[:16].copy(), np.empty((64, 2), dtype=dtype), False)
           if early_stopping else None)
    # The drivers a fit calls by address, serial and parallel (a fit with
    # threads calls the latter; this tiny problem's batches run serially).
    training.epoch_kernels(data, rows, net, solver, params, work)
    kernels = training.epoch_kernels(data, rows, net, solver, params, work,
                                     n_threads, n_threads)
    training.train_epochs(data, rows[np.newaxis, 16:], net, solver, params, work,
                          val, Curves.empty(1), kernels)
    if early_stopping:
        return  # prediction and L-BFGS are the same with or without
    if not sparse:  # the loop kernels of every activation and output function
        for change in ([{"activation": code} for code in set(act_ops.CODES.values())]
                       + [{"output": code} for code in set(loss_ops.OUTPUTS.values())]):
            network.kernels(network.loop_kernel_calls(data.X, rows,
                                                      net._replace(**change), dtype))
    network.predict_proba(data.X, net, theta, np.empty((64, 2), dtype=dtype),
                          n_threads)
    full = network.workspace(lay, 64, dtype, nnz)
    network.loss_grad(data, rows, net, theta, 1e-4, full, np.empty_like(theta),
                      network.driver_kernels(data, rows, net, theta, full, n_threads))


def _compile_dtype(dtype, verbose):
    """Every group of one dtype's kernels (:func:`precompile`'s unit of work)."""
    dtype = np.dtype(dtype).type
    with warnings.catch_warnings(), threads.parallel_section(True) as n_threads:
        warnings.simplefilter("ignore")
        n_threads = max(2, n_threads)
        for sparse, early_stopping in itertools.product((False, True), (False, True)):
            tic = time.perf_counter()
            _fit_signatures(dtype, early_stopping, sparse, n_threads)
            if verbose:
                print(f"{np.dtype(dtype).name} {'sparse' if sparse else 'dense'} "
                      f"{'with' if early_stopping else 'without'} early stopping"
                      f"{'' if early_stopping else ', L-BFGS, prediction'}: "
                      f"{time.perf_counter() - tic:.2f} s", flush=True)


_WORKER = ("from fastnn._compile import _compile_dtype; "
           "_compile_dtype({dtype!r}, {verbose})")


def precompile(verbose=True, n_jobs=None):
    """Compile (or load from the cache) every CPU kernel a fit or predict can use.

    Covers the classifier's and the regressor's kernels (the same ones), both
    float dtypes, dense and sparse inputs, serial and multithreaded blocks and
    parameter updates, with and without early stopping, L-BFGS and prediction:
    afterwards no fit of either dtype compiles anything (data sets of 2**31
    rows or more, which index with 64-bit integers, excepted). Run it where the
    Numba cache will be read, e.g. while building an image
    (``python -m fastnn compile``).

    Parameters
    ----------
    verbose : bool, default=True
        Print each group of kernels and the seconds it took.
    n_jobs : int, default=None
        Processes that compile at once, one dtype's kernels each (Numba
        compiles one kernel at a time per process): None for one per CPU, at
        most 2. With more than one, the kernels go to the Numba cache from
        worker processes (this process then loads them from the cache when a
        fit first needs them); with 1, everything compiles in this process.

    Returns
    -------
    seconds : float
        The total time taken.
    """
    start = time.perf_counter()
    if n_jobs is None:
        n_jobs = os.cpu_count() or 1
    n_jobs = max(1, min(int(n_jobs), len(DTYPES)))
    names = [np.dtype(dtype).name for dtype in DTYPES]
    if n_jobs == 1:
        for name in names:
            _compile_dtype(name, verbose)
    else:
        # Fresh interpreters running this module, not multiprocessing: its spawn
        # re-imports the caller's main script, which fails in a script without
        # a ``__main__`` guard.
        # This process's fastnn first on the workers' path.
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [root, *filter(None, [os.environ.get("PYTHONPATH")])])}
        workers = [subprocess.Popen([sys.executable, "-c", _WORKER.format(
            dtype=name, verbose=bool(verbose))], env=env) for name in names]
        failed = [name for name, worker in zip(names, workers, strict=True)
                  if worker.wait() != 0]
        if failed:
            raise RuntimeError(f"precompiling the {', '.join(failed)} kernels "
                               "failed (its error is printed above)")
    total = time.perf_counter() - start
    if verbose:
        print(f"fastnn kernels ready in {total:.2f} s (Numba cache: "
              f"{numba.config.CACHE_DIR or 'next to the package'})")
    return total
