"""CPU backend: Numba kernels over C-contiguous arrays of one dtype."""
