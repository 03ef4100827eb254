"""What both backends share, written once.

* Scalar math, compiled by the CPU backend with ``numba.njit`` and by the CUDA
  backend with ``cuda.jit(device=True)``: :mod:`~fastnn.ops.activations`,
  :mod:`~fastnn.ops.losses` (log-loss terms, output delta, objective, regularised
  gradient), :mod:`~fastnn.ops.optimizers` (gd / sgd / adam steps),
  :mod:`~fastnn.ops.permutation` (CUDA's shuffles).
* Bookkeeping between steps and epochs, compiled into the CPU epoch loop and run
  on the host by the CUDA one: :mod:`~fastnn.ops.schedules` (learning-rate
  schedules, stopping rules, the ``state`` slots and the status codes).
* The kernels' contracts: :mod:`~fastnn.ops.layout` (where ``W1, b1, W2, b2`` sit
  in ``theta``) and :mod:`~fastnn.ops.bundles` (the named tuples every kernel
  takes).
"""
