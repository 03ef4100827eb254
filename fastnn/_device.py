"""Choosing the compute device, without importing ``numba.cuda`` until asked to.

``import fastnn`` must work (and stay fast) where numba-cuda or a GPU is missing,
so everything here that touches CUDA imports it inside the function that needs it.
"""

import functools
import importlib.util

import numpy as np

INSTALL_HINT = (
    'Install the CUDA extra, pip install "fastnn-shallow[cuda]", together with the '
    'CUDA runtime libraries of numba-cuda, pip install "numba-cuda[cu12]" (CUDA 12) '
    'or "numba-cuda[cu13]" (CUDA 13), or use device="cpu".'
)


def is_device_array(obj):
    """Whether ``obj`` lives in GPU memory (CUDA array interface or numba array).

    Numba's own device arrays are recognised by ``__cuda_ndarray__``, which the
    CUDA simulator's arrays also carry (they have no ``__cuda_array_interface__``).
    """
    return hasattr(obj, "__cuda_array_interface__") or bool(
        getattr(obj, "__cuda_ndarray__", False)
    )


def _import_cuda():
    if importlib.util.find_spec("numba_cuda") is None:
        raise ImportError(f"device='cuda' needs the numba-cuda package. {INSTALL_HINT}")
    try:
        from numba import cuda
    except ImportError as exc:
        raise ImportError(
            f"numba-cuda is installed but cannot be imported ({exc}). {INSTALL_HINT}"
        ) from exc
    return cuda


@functools.cache
def _gpu_error():
    """None when a GPU (or the simulator) is usable, else the error saying why not."""
    try:
        cuda = _import_cuda()
    except ImportError as exc:
        return exc
    if cuda.is_available():
        return None
    reason = cuda.cuda_error()
    return RuntimeError(
        "device='cuda' found no usable NVIDIA GPU"
        + (f" ({reason})" if reason else "")
        + ". Check the driver with nvidia-smi and the CUDA runtime. "
        + INSTALL_HINT
    )


def usable():
    """Whether CUDA kernels can run (on a GPU or in the simulator)."""
    return _gpu_error() is None


def to_host(a):
    """``a`` itself, or a host copy of it when it lives in GPU memory."""
    if not is_device_array(a):
        return a
    from .cuda import network

    return network.use_device(a).copy_to_host()


def host_like(X):
    """A host array with the shape's first axis and the dtype of ``X``, no data.

    scikit-learn's helpers that need only the number of samples and the dtype
    (``_check_sample_weight``, ``check_consistent_length``) take it for a GPU
    array.
    """
    if not is_device_array(X):
        return X
    return np.empty((X.shape[0], 0), dtype=X.dtype)


def real_gpu():
    """Whether a physical GPU is usable (the CUDA simulator does not count)."""
    return usable() and not simulated()


def simulated():
    """Whether numba-cuda runs in its simulator (``NUMBA_ENABLE_CUDASIM=1``)."""
    if importlib.util.find_spec("numba_cuda") is None:
        return False
    return bool(_import_cuda().config.ENABLE_CUDASIM)


def resolve(device):
    """``'cpu'`` or ``'cuda'`` for the ``device`` parameter; raise if CUDA is unusable.

    ``'auto'`` picks CUDA only on a real GPU: the simulator is a testing tool,
    thousands of times slower than the CPU backend, so it must be asked for by name.
    """
    if device == "cpu":
        return "cpu"
    if device == "auto":
        return "cuda" if real_gpu() else "cpu"
    error = _gpu_error()
    if error is not None:
        raise type(error)(str(error))
    return "cuda"
