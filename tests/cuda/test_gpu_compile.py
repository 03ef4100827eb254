"""Every kernel launch types and lowers for a real GPU, even where there is none.

The simulator runs kernels as Python, so it accepts code that numba-cuda cannot
compile (an unsupported call, a type that does not unify, a tuple argument). This
test drives the host-side API (fit epochs, loss and gradient, prediction,
validation scores, an optimizer step, the finiteness check), for classifier
(uint8) and regressor (float) targets, in a fresh process with the
simulator off and no GPU: device arrays are stood in for by NumPy arrays and
every launch, instead of running, compiles its kernel for the argument types it
was given, down to NVVM IR for compute capability 9.0 (numba-cuda's typing and
lowering; only the PTX step needs the GPU toolchain).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CHECK = r'''
from types import SimpleNamespace

import numpy as np
import numba
from numba import cuda
from numba.core import types
import numba.cuda.dispatcher as dispatcher
from numba.cuda import compiler

CC = (9, 0)
# Device functions ask the current device for its compute capability.
dispatcher.get_current_device = lambda: SimpleNamespace(compute_capability=CC)


class Device(np.ndarray):
    """A NumPy array that passes for a numba device array."""

    __cuda_ndarray__ = True

    def copy_to_host(self, out=None):
        if out is None:
            return np.array(self)
        out[...] = self
        return out


def device(a):
    return np.array(a).view(Device)


cuda.to_device = device
cuda.device_array = lambda shape, dtype=np.float64: device(np.zeros(shape, dtype))
cuda.device_array_like = lambda a: device(np.zeros_like(a))

compiled = {}


def launch(self, config):
    def compile_for(*args):
        sig = tuple(numba.typeof(a) for a in args)
        key = (self.py_func, sig)
        if key not in compiled:
            cres = compiler.compile_cuda(self.py_func, types.void, sig, cc=CC)
            assert cres.library.get_llvm_str()
            compiled[key] = self.py_func.__name__
    return compile_for


dispatcher.CUDADispatcher.__getitem__ = launch

from fastnn.cuda import network, training  # noqa: E402
from fastnn.ops.bundles import Curves, Data, Params, Validation  # noqa: E402
from tests.common import make_network, make_params, make_solver  # noqa: E402
from tests.naive import random_problem, random_regression  # noqa: E402

# Output codes are scalar arguments: the identity output compiles the regressor's
# kernels (float targets) for the exp output too.
for dtype in (np.float64, np.float32):
    for output in ("logistic", "softmax", "identity"):
        if output == "identity":
            X, Y, sw, theta = random_regression(12, (3, 4), 2, dtype=dtype)
        else:
            kind = "multiclass" if output == "softmax" else "binary"
            X, Y, sw, theta = random_problem(kind, 12, (3, 4), dtype=dtype)
        net = make_network(3, 4, Y.shape[1], "tanh", 0.01, output, dtype)
        data = Data(device(X), device(Y), device(sw))
        work = network.workspace(net.layout, 5, dtype)
        # No kernel runs, so stats keep what is set here: a validation weight
        # (no 0 / 0 score), so that the first score is a best, copied.
        work.stats[network.VAL_WEIGHT] = 1.0
        d_theta = device(theta)
        network.loss_grad(data, np.arange(5), net, d_theta, 1e-4, work,
                          device(np.zeros_like(theta)))
        network.predict_proba(data.X, net, d_theta,
                              device(np.zeros(Y.shape, dtype)))
        network.nonfinite(data.X)
        for solver in ("gd", "sgd", "adam"):
            bundle = make_solver(solver, 5, alpha=1e-4)
            host = make_params(theta, 0.1)
            params = Params(*(device(a) for a in host[:-1]), host.state)
            rows = device(np.arange(8, dtype=np.int32))
            val = Validation(device(np.arange(8, 12, dtype=np.int32)), None, False)
            for keys in (np.empty((0, 4), np.int64), np.ones((2, 4), np.int64)):
                visits = training.Visits(rows, device(keys))
                training.train_epochs(data, visits, net, bundle, params, work, val,
                                      Curves.empty(1))
            training.validate(data, val, net, d_theta, 1e-4, work)
print(len(compiled), "kernel signatures:", ", ".join(sorted(set(compiled.values()))))
'''


def test_every_launch_compiles_for_a_real_gpu():
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "0"}
    try:
        out = subprocess.run([sys.executable, "-c", CHECK], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        pytest.fail("compiling the kernels took over 10 minutes")
    if out.returncode and any(
        name in out.stderr for name in ("CudaSupportError", "NvvmSupportError",
                                        "DynamicLibNotFoundError")
    ):
        pytest.skip("numba-cuda cannot compile here: " + out.stderr.splitlines()[-1])
    assert out.returncode == 0, out.stderr
    # Each kernel of the backend was launched at least once.
    for name in ("batch_samples", "hidden_forward", "output_forward", "batch_loss",
                 "batch_score", "batch_residuals", "validation_r2", "hidden_delta",
                 "layer_grad", "all_finite_flags", "update_layer", "copy",
                 "start_epoch", "_clear_scores", "validation_loss"):
        assert name in out.stdout, (name, out.stdout)
