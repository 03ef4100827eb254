"""Choosing the compute device, without importing ``numba.cuda`` until asked to.

``import fastnn`` must work (and stay fast) where numba-cuda or a GPU is missing,
so everything here that touches CUDA imports it inside the function that needs it.
"""

import functools
import importlib.util

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
        "device='cuda' needs a usable NVIDIA GPU, but none was found"
        + (f" ({reason})" if reason else "")
        + ". Check the driver with nvidia-smi and the CUDA runtime. "
        + INSTALL_HINT
    )


def real_gpu():
    """Whether a physical GPU is usable (the CUDA simulator does not count)."""
    return _gpu_error() is None and not simulated()


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


def backend(device):
    """The kernel modules ``(network, training)`` of a resolved device."""
    if device == "cuda":
        from .cuda import network, training
    else:
        from .cpu import network, training
    return network, training
