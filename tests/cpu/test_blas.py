"""``fastnn.cpu.blas.gemm`` (SciPy's sgemm / dgemm, called directly) against NumPy.

``gemm`` is an internal kernel: it is called from compiled code, as the kernels
call it (see ``tests.common.compiled``).
"""

import itertools

import numba
import numpy as np
import pytest
from numpy.testing import assert_array_equal

from fastnn import _config
from fastnn.cpu import blas
from tests.common import compiled

gemm = compiled(blas.gemm)

DTYPES = (np.float64, np.float32)
TRANSPOSES = list(itertools.product([False, True], repeat=2))
# (rows of C, inner dimension, columns of C): general, one row, one column, one
# inner term, 1 x 1, and the kernels' shapes (hidden x rows from features x rows).
SHAPES = [(5, 7, 3), (1, 4, 6), (6, 4, 1), (4, 1, 5), (1, 1, 1), (1, 9, 1),
          (64, 32, 250)]


def _operands(m, k, n, trans_a, trans_b, dtype, seed=0):
    """``A, B`` such that ``op(A) op(B)`` is (m x n), C-contiguous."""
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(k, m) if trans_a else (m, k)).astype(dtype)
    B = rng.normal(size=(n, k) if trans_b else (k, n)).astype(dtype)
    return A, B


def _expected(A, trans_a, B, trans_b):
    A64, B64 = A.astype(np.float64), B.astype(np.float64)
    return (A64.T if trans_a else A64) @ (B64.T if trans_b else B64)


def assert_product(C, A, trans_a, B, trans_b):
    """``C`` is ``op(A) op(B)`` up to the rounding of a k-term dot product.

    The standard bound of any summation order, ``|C - AB| <= k u |A| |B|`` with
    ``u`` the unit roundoff of C's dtype, doubled for the rounding of the
    reference (NumPy's float64 product). NaN anywhere fails.
    """
    opA = np.abs(A.astype(np.float64))
    opB = np.abs(B.astype(np.float64))
    magnitude = (opA.T if trans_a else opA) @ (opB.T if trans_b else opB)
    k = A.shape[0] if trans_a else A.shape[1]
    unit_roundoff = np.finfo(C.dtype).eps / 2
    bound = 2 * k * unit_roundoff * magnitude
    error = np.abs(C.astype(np.float64) - _expected(A, trans_a, B, trans_b))
    assert not np.isnan(C).any()
    assert (error <= bound).all(), float(np.max(error - bound))


@pytest.mark.parametrize(("m", "k", "n"), SHAPES)
@pytest.mark.parametrize(("trans_a", "trans_b"), TRANSPOSES,
                         ids=["NN", "NT", "TN", "TT"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_gemm_matches_numpy(dtype, trans_a, trans_b, m, k, n):
    A, B = _operands(m, k, n, trans_a, trans_b, dtype)
    A_before, B_before = A.copy(), B.copy()
    # NaN in C: gemm overwrites it (beta = 0), never reads it.
    C = np.full((m, n), np.nan, dtype=dtype)
    gemm(A, trans_a, B, trans_b, C)
    assert C.dtype == dtype
    assert_product(C, A, trans_a, B, trans_b)
    assert_array_equal(A, A_before)
    assert_array_equal(B, B_before)


@pytest.mark.parametrize(("m", "k", "n"), SHAPES)
@pytest.mark.parametrize(("trans_a", "trans_b"), TRANSPOSES,
                         ids=["NN", "NT", "TN", "TT"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_gemm_is_exact_on_small_integers(dtype, trans_a, trans_b, m, k, n):
    """Every partial sum is an exact small integer: any order gives NumPy's C."""
    A, B = (np.round(M * 3) for M in _operands(m, k, n, trans_a, trans_b, dtype, 3))
    C = np.full((m, n), np.nan, dtype=dtype)
    gemm(A, trans_a, B, trans_b, C)
    assert_array_equal(C, _expected(A, trans_a, B, trans_b))


@pytest.mark.parametrize(("trans_a", "trans_b"), TRANSPOSES,
                         ids=["NN", "NT", "TN", "TT"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_gemm_into_a_view_writes_only_the_view(dtype, trans_a, trans_b):
    """As the kernels call it: into a reshaped slice of a workspace row."""
    m, k, n = 3, 5, 4
    A, B = _operands(m, k, n, trans_a, trans_b, dtype, seed=1)
    buf = np.full(m * n + 7, -1.0, dtype=dtype)
    C = buf[: m * n].reshape((m, n))
    gemm(A, trans_a, B, trans_b, C)
    assert_product(C, A, trans_a, B, trans_b)
    assert_array_equal(buf[m * n :], -1.0)


@numba.njit(**_config._OPTIONS)
def _gemm_constant_flags(A, B, C, case):
    """As the kernels call it: each transpose flag a constant of the call site."""
    if case == 0:
        blas.gemm(A, False, B, False, C)
    elif case == 1:
        blas.gemm(A, False, B, True, C)
    elif case == 2:
        blas.gemm(A, True, B, False, C)
    else:
        blas.gemm(A, True, B, True, C)


@pytest.mark.parametrize(("m", "k", "n"), [(5, 7, 3), (1, 4, 6), (6, 4, 1)])
@pytest.mark.parametrize("case", range(4), ids=["NN", "NT", "TN", "TT"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_gemm_with_constant_flags(dtype, case, m, k, n):
    trans_a, trans_b = TRANSPOSES[case]
    A, B = _operands(m, k, n, trans_a, trans_b, dtype, seed=2)
    C = np.full((m, n), np.nan, dtype=dtype)
    _gemm_constant_flags(A, B, C, case)
    assert_product(C, A, trans_a, B, trans_b)
