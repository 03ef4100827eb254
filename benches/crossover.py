"""Where BLAS starts to beat the hand loops: ``python benches/crossover.py``.

Times one batch of :func:`fastnn.cpu.network.loss_grad` (forward, loss and
backward; one thread, one BLAS thread) through both matrix-product paths for a
range of layer shapes and both dtypes, and prints the ratio. ``BLAS_MIN_WEIGHTS``
in :mod:`fastnn.cpu.network` is read off this table.
"""

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

from fastnn.cpu import network, threads

SHAPES = [(2, 4), (2, 16), (2, 32), (8, 8), (4, 16), (8, 16), (2, 64), (8, 64),
          (4, 256), (16, 64), (20, 64), (32, 32), (16, 128), (32, 64), (64, 64),
          (100, 64), (100, 256)]


def time_batch(d, h, dtype, blas, batch, repeats):
    rng = np.random.default_rng(0)
    o = 3
    X = rng.normal(size=(batch, d)).astype(dtype)
    Y = np.eye(o, dtype=np.uint8)[rng.integers(o, size=batch)]
    sw = np.ones(batch, dtype=dtype)
    theta = (0.1 * rng.normal(size=network.n_params(d, h, o))).astype(dtype)
    grad = np.empty_like(theta)
    rows = rng.permutation(batch)
    work = network.workspace(d, h, o, batch, dtype)
    args = (X, Y, sw, rows, theta, grad, h, 3, 0.0, True, 0.0, 1e-7, blas, work)
    network.loss_grad(*args)
    best = np.inf
    for _ in range(repeats):
        tic = time.perf_counter()
        for _ in range(20):
            network.loss_grad(*args)
        best = min(best, (time.perf_counter() - tic) / 20)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"batch {args.batch}, one thread; microseconds per batch")
    print("| dtype | d x h | loops | BLAS | loops / BLAS |")
    print("|---|---|---|---|---|")
    with threads.parallel_section(True), threadpool_limits(1):
        import numba

        numba.set_num_threads(1)
        for dtype in (np.float32, np.float64):
            for d, h in SHAPES:
                t = [time_batch(d, h, dtype, blas, args.batch, args.repeats)
                     for blas in (False, True)]
                print(f"| {np.dtype(dtype).name} | {d} x {h} = {d * h} | "
                      f"{t[0] * 1e6:.1f} | {t[1] * 1e6:.1f} | {t[0] / t[1]:.2f} |",
                      flush=True)


if __name__ == "__main__":
    main()
