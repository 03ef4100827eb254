"""The device, resolved once into a backend with the same methods on CPU and CUDA.

The estimator asks a backend to validate its input, to run chunks of epochs and
to compute output activations; no other code asks which device it is on. The
CUDA backend imports :mod:`fastnn.cuda` (and numba-cuda) only when it is used.
Sparse ``X`` trains and predicts on the CPU only (:func:`for_fit`,
:func:`validated_for_predict`).
"""

import contextlib

import numpy as np
import scipy.sparse as sp

from . import _device, _validation
from .cpu import network, threads, training
from .ops.bundles import CSR, Curves, Data, Params, Validation, row_indices

#: Rows from which a CUDA-fitted model predicts host arrays on the GPU: below it
#: the copies to and from the device cost more than the CPU kernels take.
GPU_PREDICT_MIN_ROWS = 1 << 16


class CPUBackend:
    """Numba kernels on the host (:mod:`fastnn.cpu`)."""

    name = "cpu"

    def validate(self, estimator, X, y, reset=True):
        """Validated ``X`` and ``y`` of a fit, as the kernels take them."""
        return _validation.check_host(estimator, X, y, reset)

    def validate_X(self, estimator, X):
        """Validated ``X`` to predict."""
        return _validation.check_host_X(estimator, X)

    def as_dtype(self, X, dtype):
        if sp.issparse(X):
            return X.astype(dtype, copy=False)
        return np.ascontiguousarray(X, dtype=dtype)

    @contextlib.contextmanager
    def epochs(self, setup, announce):
        """The :class:`fastnn._epochs.Run` of ``setup``.

        ``setup`` is a :class:`fastnn._epochs.Setup`; ``announce(kernel, args)``
        is called before each kernel call (it says when one compiles).
        """
        from ._epochs import Run, shuffled_orders

        net, solver, params = setup.net, setup.solver, setup.params
        data = _kernel_data(setup.data)
        nnz = network.nnz_per_row(data.X)
        train_rows, n_train = setup.train_rows, setup.train_rows.shape[0]
        blas = network.use_blas(net.layout.n_features, net.layout.n_hidden)
        work = network.workspace(net.layout, solver.batch_size, data.X.dtype, nnz)
        val = None
        if setup.val_rows.shape[0]:
            out = np.empty(data.Y.shape, dtype=data.X.dtype)
            # One rows dtype: the block kernel is called by address, for one
            # signature (fastnn.cpu.calls).
            val = Validation(setup.val_rows.astype(train_rows.dtype, copy=False),
                             out, setup.trivial_score)
        sample_idx = np.arange(n_train, dtype=train_rows.dtype)
        kernels = None

        def draw(n_epochs):
            return shuffled_orders(setup.random_state, sample_idx, train_rows,
                                   n_epochs)

        def run_chunk(chunk):
            if setup.shuffle:
                start = setup.random_state.get_state(), sample_idx.copy()
                orders = draw(chunk)
                chunk = orders.shape[0]
            else:
                orders = train_rows[np.newaxis, :]
            nonlocal kernels
            curves = Curves.empty(chunk)
            with threads.parallel_section(blas) as n_threads:
                args = [data, orders, net, solver, params, work, val, curves, None]
                if kernels is None:
                    kernels = _kernels(announce, training.train_epochs, args,
                                       training.kernel_calls(
                        data, train_rows, net, solver, params, work,
                        network.parallelism(net.layout, solver.batch_size,
                                            n_threads, nnz),
                        network.update_parallelism(net.layout, n_threads)))
                args[-1] = kernels
                done, status = training.train_epochs(*args)
            if setup.shuffle and done < chunk:
                sample_idx[:] = start[1]
                _rewind(setup.random_state, start[0], draw, done)
            return done, status, curves

        yield Run(run_chunk, params.theta.copy)

    def loss_grad(self, data, net, alpha, announce):
        """``f(theta) -> (loss, grad)`` of the full batch, for L-BFGS."""
        data = _kernel_data(data)
        X = data.X
        nnz = network.nnz_per_row(X)
        rows = row_indices(X.shape[0])
        blas = network.use_blas(X.shape[1], net.layout.n_hidden)
        work = network.workspace(net.layout, X.shape[0], X.dtype, nnz)
        grad = np.empty(net.layout.size, dtype=X.dtype)
        kernels = None

        def loss_grad(theta):
            nonlocal kernels
            with threads.parallel_section(blas) as n_threads:
                args = [data, rows, net, theta, alpha, work, grad, None]
                if kernels is None:
                    kernels = _kernels(announce, network.loss_grad, args,
                                       network.kernel_calls(
                        data, rows, net, theta, work,
                        network.parallelism(net.layout, X.shape[0], n_threads,
                                            nnz)))
                args[-1] = kernels
                return float(network.loss_grad(*args)), grad

        return loss_grad

    def forward(self, X, net, theta):
        """Output-layer activations of validated ``X``, (n_samples, n_outputs)."""
        out = np.empty((X.shape[0], net.layout.n_outputs), dtype=theta.dtype)
        X = _kernel_input(self.as_dtype(X, theta.dtype))
        blas = network.use_blas(X.shape[1], net.layout.n_hidden)
        with threads.parallel_section(blas) as n_threads:
            parallel = network.parallelism(net.layout, min(X.shape[0],
                                           network.PREDICT_ROWS), n_threads,
                                           network.nnz_per_row(X))
            network.predict_proba(X, net, theta, out, parallel)
        return out


def _kernels(announce, driver, args, found):
    """The :class:`fastnn.cpu.network.Kernels` of ``found`` (``kernel_calls``),
    which ``driver(*args)`` takes last; first ``announce`` whether any of them
    compiles."""
    announce(*found.values(), (driver, (*args[:-1], network.Kernels())))
    return network.kernels(found)


def _rewind(random_state, start, draw, done):
    """Put ``random_state`` back to ``start``, then make ``done`` epochs' draws.

    A backend draws a chunk's shuffles ahead, and how many epochs a chunk holds
    depends on timing; a fit that stops within a chunk then leaves the generator
    where MLP's is (one draw per epoch run), not where the timing left it.
    """
    random_state.set_state(start)
    if done:
        draw(done)


def _kernel_input(X):
    """``X`` as the CPU kernels take it: the array, or a CSR bundle of sparse X."""
    return CSR.of(X) if sp.issparse(X) else X


def _kernel_data(data):
    return data._replace(X=_kernel_input(data.X))


class CUDABackend:
    """numba-cuda kernels on an NVIDIA GPU (:mod:`fastnn.cuda`)."""

    name = "cuda"

    def validate(self, estimator, X, y, reset=True):
        if _device.is_device_array(X):
            return _validation.check_device_X(estimator, X, y, reset)
        return _validation.check_host(estimator, X, y, reset)

    def validate_X(self, estimator, X):
        if _device.is_device_array(X):
            return _validation.check_device_X(estimator, X, reset=False)
        return _validation.check_host_X(estimator, X)

    def as_dtype(self, X, dtype):
        if not _device.is_device_array(X):
            return np.ascontiguousarray(X, dtype=dtype)
        if X.dtype != dtype:
            raise ValueError(
                f"This model was fitted in {np.dtype(dtype)}; pass GPU arrays of "
                f"that dtype, not {X.dtype}."
            )
        return X

    @contextlib.contextmanager
    def epochs(self, setup, announce):
        """:meth:`CPUBackend.epochs` on the GPU: data and weights copied there once.

        The weights, optimizer slots and best weights come back to the host
        arrays when the context ends, also after an interruption.
        """
        from ._epochs import Run
        from .cuda import network as gpu_network
        from .cuda import training as gpu_training

        put = gpu_network.use_device
        net, solver, params = setup.net, setup.solver, setup.params
        data = Data(*(put(a) for a in setup.data))
        host = (params.theta, params.slot1, params.slot2, params.best)
        device = Params(put(params.theta), put(params.slot1), put(params.slot2),
                        put(params.backups), put(params.best), params.state)
        work = gpu_network.workspace(net.layout, solver.batch_size, data.X.dtype)
        val = None
        if setup.val_rows.shape[0]:
            val = Validation(put(setup.val_rows), None, setup.trivial_score)
        train_rows = put(setup.train_rows)

        def draw(n_epochs):
            return gpu_training.feistel_keys(setup.random_state, n_epochs)

        def run_chunk(chunk):
            if setup.shuffle:
                start = setup.random_state.get_state()
                keys = draw(chunk)
            else:
                keys = np.empty((0, 4), dtype=np.int64)
            curves = Curves.empty(chunk)
            visits = gpu_training.Visits(train_rows, put(keys))
            done, status = gpu_training.train_epochs(data, visits, net, solver,
                                                     device, work, val, curves)
            if setup.shuffle and done < chunk:
                _rewind(setup.random_state, start, draw, done)
            return done, status, curves

        try:
            yield Run(run_chunk, device.theta.copy_to_host)
        finally:
            for h, d in zip(host, (device.theta, device.slot1, device.slot2,
                                   device.best), strict=True):
                d.copy_to_host(h)

    def loss_grad(self, data, net, alpha, announce):  # pragma: no cover - guarded
        raise ValueError("solver='lbfgs' runs on the CPU only.")

    def forward(self, X, net, theta):
        from numba import cuda

        from .cuda import network as gpu_network

        X = gpu_network.use_device(self.as_dtype(X, theta.dtype))
        out = cuda.device_array((X.shape[0], net.layout.n_outputs),
                                dtype=theta.dtype)
        gpu_network.predict_proba(X, net, gpu_network.use_device(theta), out)
        return out.copy_to_host()


CPU = CPUBackend()


def for_fit(device, solver, X=None):
    """The backend a fit with these ``device`` and ``solver`` parameters runs on.

    Sparse ``X`` trains on the CPU: ``device='auto'`` picks it, and
    ``device='cuda'`` raises (densifying would be silent and may not fit).
    """
    if sp.issparse(X):
        if device == "cuda":
            raise ValueError(
                "device='cuda' does not take sparse X: the CUDA kernels need dense "
                "inputs. Use device='cpu' (or 'auto'), which trains on sparse X "
                "as it is, or densify X yourself (X.toarray()) if it fits in GPU "
                "memory."
            )
        return CPU
    if solver == "lbfgs" and device != "cpu":
        if device == "auto":
            return CPU
        raise ValueError(
            "solver='lbfgs' runs on the CPU only (scipy drives it one loss "
            "evaluation at a time); use device='cpu' or 'auto', or a stochastic "
            "solver on CUDA."
        )
    return CUDABackend() if _device.resolve(device) == "cuda" else CPU


def validated_for_predict(estimator, X):
    """``(backend, X)``: the backend that predicts ``X``, and ``X`` validated.

    A CUDA-fitted model predicts GPU arrays, and host arrays of at least
    :data:`GPU_PREDICT_MIN_ROWS` rows, on the GPU when one is usable; everything
    else on the CPU, sparse ``X`` included.
    """
    gpu = None
    if sp.issparse(X):
        return CPU, CPU.validate_X(estimator, X)
    if getattr(estimator, "device_", "cpu") == "cuda" and _device.usable():
        gpu = CUDABackend()
    if gpu is not None and _device.is_device_array(X):
        return gpu, gpu.validate_X(estimator, X)
    X = CPU.validate_X(estimator, X)
    if gpu is not None and X.shape[0] >= GPU_PREDICT_MIN_ROWS:
        return gpu, X
    return CPU, X
