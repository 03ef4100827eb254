"""Scalar math written once and compiled for every backend.

Each function here uses plain arithmetic and :mod:`math` only, so the CPU backend
compiles it with ``numba.njit`` and the CUDA backend with ``cuda.jit(device=True)``.
"""
