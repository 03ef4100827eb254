"""CPU backend: Numba kernels over C-contiguous arrays of one dtype.

:mod:`~fastnn.cpu.network` (a batch's blocks: forward, loss, backward; prediction),
:mod:`~fastnn.cpu.training` (the compiled epoch loop), :mod:`~fastnn.cpu.blas`
(SciPy's BLAS called directly), :mod:`~fastnn.cpu.fastmath` (vectorisable exp,
tanh, log) and :mod:`~fastnn.cpu.threads` (thread settings of parallel kernels).
"""
