"""CUDA backend: numba-cuda kernels, twins of :mod:`fastnn.cpu` (same names, roles).

Importing this package imports ``numba.cuda``; the estimator does so only when
``device`` is not ``'cpu'`` (see :mod:`fastnn._device`).
"""
