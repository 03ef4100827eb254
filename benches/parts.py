"""Where an epoch's time and a first fit's compile time go, kernel by kernel.

    python benches/parts.py                  # P1's epoch, P3's blocks, the seed compile
    python benches/parts.py --only p1,p3     # a selection
    python benches/parts.py --repeat 2000    # more calls per timing (default 20000)

The kernels are called from small compiled loops, on one thread, with the shapes
of the scenarios (``scenarios.py``): P1, the lecture's network (flower, 400 rows,
2 x 4 x 1 tanh, float64, one 400-row block per epoch), and P3's 256-row blocks
(100 x 256 x 1 relu, float32; a batch of 512 rows is two of them). ``compile``
fits the seed configuration of ``compile_time.py`` in a fresh process on an
empty Numba cache and lists the kernels by their own compile time (Numba's
compile events, callees excluded). Nothing here asserts on timings.
"""

import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile
import time

import numba
import numpy as np

from fastnn.cpu import network, threads, training
from fastnn.cpu.blas import gemm
from fastnn.ops import activations as act_ops
from fastnn.ops import losses as loss_ops
from fastnn.ops import optimizers, schedules
from fastnn.ops.bundles import Data, Network, Params, Solver
from fastnn.ops.layout import Layout, unpack

PARTS = ("p1", "p3", "compile")


def _net(d, h, o, activation, dtype):
    return Network(Layout.of(d, h, o), act_ops.CODES[activation], 0.01,
                           loss_ops.LOGISTIC, float(np.finfo(dtype).eps))


@numba.njit
def _block_tasks(data, rows, net, theta, work, out, kernels, n_blocks, repeat):
    for _ in range(repeat):
        for b in range(n_blocks):
            network.block_task(b, n_blocks, data, rows, net, theta, work, out,
                               kernels)


@functools.cache
def _activate_loop(kernel):
    @numba.njit
    def run(Z, b, net, repeat):
        for _ in range(repeat):
            kernel(Z, b, net)

    return run


def _activate(Z, b, net, repeat):
    _activate_loop(network.activation_kernels(net.activation)[0])(Z, b, net, repeat)


@functools.cache
def _output_activate_loop(kernel):
    @numba.njit
    def run(Z, b, output, scratch, repeat):
        for _ in range(repeat):
            kernel(Z, b, output, scratch)

    return run


def _output_activate(Z, b, output, scratch, repeat):
    _output_activate_loop(network.output_kernel(output))(Z, b, output, scratch,
                                                         repeat)


@functools.cache
def _block_loss_loop(kernel):
    @numba.njit
    def run(YT, sw, A2T, net, out, sums, repeat):
        for _ in range(repeat):
            kernel(YT, sw, A2T, net, out, sums, 0)

    return run


def _block_loss(YT, sw, A2T, net, out, repeat):
    _block_loss_loop(network.loss_kernel(net.output))(YT, sw, A2T, net, out,
                                                      np.empty((2, 1)), repeat)


@functools.cache
def _hidden_delta_loop(kernel):
    @numba.njit
    def run(W2, A2T, A1T, D1T, gb1, net, repeat):
        for _ in range(repeat):
            kernel(W2, A2T, A1T, D1T, gb1, net)

    return run


def _hidden_delta(W2, A2T, A1T, D1T, gb1, net, repeat):
    _hidden_delta_loop(network.activation_kernels(net.activation)[1])(
        W2, A2T, A1T, D1T, gb1, net, repeat)


@numba.njit
def _gemm(A, ta, B, tb, C, repeat):
    for _ in range(repeat):
        gemm(A, ta, B, tb, C)


@numba.njit
def _descend(grads, n_blocks, layout, params, solver, kernels, repeat):
    for _ in range(repeat):
        training.descend(grads, n_blocks, layout, params, solver, 1e-9, 512.0,
                         kernels)


def _time(func, args, repeat, per=1):
    """Microseconds per call of ``func(*args, repeat)``, best of 3, over ``per``."""
    func(*args, 1)
    best = min(_timed(func, args, repeat) for _ in range(3))
    return best / repeat / per * 1e6


def _timed(func, args, repeat):
    tic = time.perf_counter()
    func(*args, repeat)
    return time.perf_counter() - tic


def _params(theta):
    state = np.zeros(schedules.N_STATE)
    state[schedules.LR], state[schedules.BEST] = 1.2, np.inf
    return Params(theta, np.zeros_like(theta), np.zeros_like(theta),
                  np.stack([theta, theta]), theta.copy(), state)


def p1(repeat):
    """P1's epoch by kernel: one 400-row block, float64."""
    from fastnn import make_flower

    X, y = make_flower()
    n, dtype = X.shape[0], np.float64
    net = _net(2, 4, 1, "tanh", dtype)
    rng = np.random.RandomState(0)
    theta = rng.uniform(-0.5, 0.5, net.layout.size)
    data = Data(X, y.reshape(-1, 1).astype(dtype), np.ones(n))
    work = network.workspace(net.layout, n, dtype)
    rows = np.arange(n, dtype=np.int32)
    no_out, out = np.empty((0, 0)), np.empty((n, 1))
    kernels = network.driver_kernels(data, rows, net, theta, work)
    params = _params(theta.copy())
    _, b1, W2, b2 = unpack(net.layout, theta)
    A1 = rng.uniform(-1, 1, (4, n))
    A2 = rng.uniform(0.01, 0.99, (1, n))
    Y = data.Y.T.copy()
    solver = Solver(optimizers.GD, optimizers.CONSTANT, n, 1.2, 0.5, 0.0, False, 0.9,
                    0.999, 1e-8, 0.0, 0.0, 1e9)
    rows_ = [
        ("block_task, training (forward, loss, backward)",
         _time(_block_tasks, (data, rows, net, theta, work, no_out, kernels, 1),
               repeat)),
        ("block_task, forward only (outputs written)",
         _time(_block_tasks, (data, rows, net, theta, work, out, kernels, 1), repeat)),
        ("  activate: 1600 tanh", _time(_activate, (A1, b1, net), repeat)),
        ("  output_activate: 400 logistic",
         _time(_output_activate, (A2.copy(), b2, net.output, np.empty(2 * n)), repeat)),
        ("  block_loss: 400 log-losses",
         _time(_block_loss, (Y, np.ones(n), A2, net, np.empty(n)), repeat)),
        ("  hidden_delta: 1600 deltas and their sums",
         _time(_hidden_delta, (np.ascontiguousarray(W2), A2, A1, np.empty((4, n)),
                               np.empty(4), net), repeat)),
        ("descend: gradient finish and gd step, 17 parameters",
         _time(_descend, (work.grads, 1, net.layout, params, solver,
                          network.kernels({"update": training.update_call(
                              work.grads, net.layout, params, solver)})), repeat)),
    ]
    return "P1 epoch (float64, 400 rows, 2 x 4 x 1 tanh), one thread", rows_


def p3(repeat):
    """P3's 256-row block by kernel, float32."""
    rng = np.random.RandomState(0)
    n, d, h, dtype = 4096, 100, 256, np.float32
    X = rng.randn(n, d).astype(dtype)
    net = _net(d, h, 1, "relu", dtype)
    theta = rng.uniform(-0.1, 0.1, net.layout.size).astype(dtype)
    data = Data(X, (rng.rand(n, 1) > 0.5).astype(dtype), np.ones(n, dtype))
    work = network.workspace(net.layout, 512, dtype)
    rows = rng.permutation(n)[:512].astype(np.int32)
    W1, b1, W2, _ = (np.ascontiguousarray(a) for a in unpack(net.layout, theta))
    XB = rng.randn(256, d).astype(dtype)
    A1 = np.abs(rng.randn(h, 256)).astype(dtype)
    A2 = rng.randn(1, 256).astype(dtype)
    D1 = rng.randn(h, 256).astype(dtype)
    reps = max(1, repeat // 100)
    with threads.parallel_section(True):
        rows_ = [
            ("block_task, training (gather, forward, loss, backward)",
             _time(_block_tasks, (data, rows, net, theta, work, np.empty((0, 0), dtype),
                                  network.driver_kernels(data, rows, net, theta, work),
                                  2), reps, per=2)),
            ("  sgemm W1^T X^T (256x100 by 100x256)",
             _time(_gemm, (W1, True, XB, True, np.empty((h, 256), dtype)), reps)),
            ("  sgemm X^T D1^T (100x256 by 256x256)",
             _time(_gemm, (XB, True, D1, True, np.empty((d, h), dtype)), reps)),
            ("  activate: 65536 relu", _time(_activate, (A1, b1, net), reps)),
            ("  hidden_delta: 65536 deltas and their sums",
             _time(_hidden_delta, (W2, A2, A1, D1, np.empty(h, dtype), net), reps)),
        ]
    return ("P3 block (float32, 256 rows, 100 x 256 x 1 relu), one thread; rows "
            "gathered from 4096 (in cache: P3's 200000 rows add cache misses)", rows_)


_COMPILE_CHILD = """
import json, sys, time, warnings
from numba.core import event
own, stack = {}, []
class Listener(event.Listener):
    def on_start(self, e):
        name = e.data["dispatcher"].py_func.__qualname__
        stack.append([name, time.perf_counter(), 0.0])
    def on_end(self, e):
        name, start, inner = stack.pop()
        spent = time.perf_counter() - start
        own[name] = own.get(name, 0.0) + spent - inner
        if stack:
            stack[-1][2] += spent
event.register("numba:compile", Listener())
from fastnn import ShallowNNClassifier, make_flower
X, y = make_flower()
warnings.simplefilter("ignore")
tic = time.perf_counter()
ShallowNNClassifier(n_hidden=4, activation="tanh", solver="gd", learning_rate_init=1.2,
                    max_iter=50, random_state=0).fit(X, y)
print(json.dumps({"fit": time.perf_counter() - tic, "own": own}))
"""


def compile_(repeat):
    """The seed fit's compile time by kernel, in a fresh process, empty cache."""
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        line = subprocess.run([sys.executable, "-c", _COMPILE_CHILD], env=env,
                              check=True, capture_output=True, text=True).stdout
    result = json.loads(line.strip().splitlines()[-1])
    top = sorted(result["own"].items(), key=lambda kv: -kv[1])[:15]
    rows_ = [(f"{name} (own compile time)", seconds * 1e6) for name, seconds in top]
    title = (f"Seed first fit on an empty cache: {result['fit']:.2f} s; kernels by "
             f"their own compile time, callees excluded (sum "
             f"{sum(result['own'].values()):.2f} s)")
    return title, rows_


def _fmt(us):
    return f"{us / 1e6:.2f} s" if us >= 1e5 else f"{us:.2f} us"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python benches/parts.py",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(PARTS),
                        help=f"comma-separated: {', '.join(PARTS)}")
    parser.add_argument("--repeat", type=int, default=20000,
                        help="calls per timing of P1's kernels (P3: 1%%)")
    args = parser.parse_args(argv)
    chosen = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = set(chosen) - set(PARTS)
    if unknown:
        raise SystemExit(f"unknown parts: {sorted(unknown)}")
    runners = {"p1": p1, "p3": p3, "compile": compile_}
    for name in chosen:
        title, rows_ = runners[name](args.repeat)
        print(f"### {title}\n\n| kernel | time |\n|---|---|")
        for label, us in rows_:
            print(f"| {label} | {_fmt(us)} |")
        print()


if __name__ == "__main__":
    main()
