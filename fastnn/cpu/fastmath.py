"""Vectorisable exp, tanh and log for the CPU kernels.

pip's numba has no SVML, so ``math.exp`` and friends inside a loop are scalar
libm calls (~6 ns). These versions are plain arithmetic (range reduction, a
polynomial, and the power of two assembled from the exponent bits), which LLVM
vectorises (~1 ns). Each stays within a few ulp of libm over its whole domain;
``tests/cpu/test_fastmath.py`` checks that, overflow and underflow edges included.
"""

import math

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from .._config import scalar

_LOG2E = 1.4426950408889634
# ln 2 split so that ``n * _LN2_HI`` is exact for |n| < 2**11 (fdlibm's split).
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_SQRT2 = 1.4142135623730951
# exp(x) overflows above _EXP_MAX; below _EXP_MIN it would be subnormal, and we
# flush it to zero (the kernels only add such values to numbers of order one).
_EXP_MAX = 709.782712893384
_EXP_MIN = -708.3964185322641


@intrinsic
def _as_float64(typingctx, bits):
    """Reinterpret the bits of an int64 as a float64 (free; vectorises)."""
    if bits != types.int64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@intrinsic
def _as_int64(typingctx, value):
    """Reinterpret the bits of a float64 as an int64."""
    if value != types.float64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def wide_vectors(typingctx, like):
    """Let LLVM vectorise the calling kernel's float64 loops 8 lanes wide.

    x86 LLVM prefers 256-bit vectors on AVX-512 CPUs (a tuning default against
    the clock drop of heavy 512-bit code on older Xeons): 4 float64 lanes, 8
    float32. For a kernel compiled for float64 arrays (``like`` is one of them,
    or a float64 scalar) this sets the ``prefer-vector-width`` attribute to 512,
    as clang's ``-mprefer-vector-width=512`` does, on that kernel and on no
    other function; float32 kernels keep 8 lanes of 256 bits (16 lanes made
    P2's 100-row loops 20% slower: their vector bodies took 64 rows at a time).
    On CPUs without AVX-512 the widest legal registers are used, as before.
    Measured on a 2-core AVX-512 Xeon, float64: tanh 1.41 -> 1.02 ns, exp
    1.44 -> 0.88, log 1.20 -> 0.87 per element; P1 8.1 -> 7.4 us per epoch.
    """
    dtype = getattr(like, "dtype", like)
    wide = dtype == types.float64

    def codegen(context, builder, signature, args):
        if wide:
            # llvmlite's attribute set checks names against its list of enum
            # attributes; a string attribute is written as LLVM IR spells it.
            set.add(builder.function.attributes, '"prefer-vector-width"="512"')
        return context.get_dummy_value()

    return types.none(like), codegen


@scalar
def _pow2(n):
    """``2.0 ** n`` for integer ``-1022 <= n <= 1023``."""
    return _as_float64((n + 1023) << 52)


@scalar
def _expm1_reduced(r):
    """``exp(r) - 1`` for ``|r| <= ln(2) / 2``: Taylor to degree 13 (< 1e-17)."""
    p = 1.0 / 6227020800.0
    p = p * r + 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    return (p * r) * r + r


@scalar
def _reduce(x):
    """``x = n ln2 + r`` with integer ``n`` and ``|r| <= ln(2) / 2``."""
    n = math.floor(x * _LOG2E + 0.5)
    r = (x - n * _LN2_HI) - n * _LN2_LO
    return int(n), r


@scalar
def exp(x):
    """``e ** x`` for float64 ``x``: inf above 709.78, 0 below -708.39, nan kept."""
    xc = float(x)
    xc = xc if xc > _EXP_MIN else _EXP_MIN
    xc = xc if xc < _EXP_MAX else _EXP_MAX
    n, r = _reduce(xc)
    m = _expm1_reduced(r) + 1.0
    # n reaches 1024 just below the overflow threshold: move one factor 2 into m.
    top = n > 1023
    y = (m * 2.0 if top else m) * _pow2(n - 1 if top else n)
    y = 0.0 if x < _EXP_MIN else y
    y = math.inf if x > _EXP_MAX else y
    return y if x == x else x


@scalar
def tanh(x):
    """Hyperbolic tangent via ``expm1(2|x|)``: accurate near 0, exactly +-1 far out."""
    y = 2.0 * abs(float(x))
    y = y if y < 40.0 else 40.0
    n, r = _reduce(y)
    scale = _pow2(n)
    em = _expm1_reduced(r) * scale + (scale - 1.0)
    t = em / (em + 2.0)
    t = t if x >= 0 else -t
    return t if x == x else x


@scalar
def log(x):
    """Natural logarithm of float64 ``x``: accurate for positive normal ``x``.

    Outside that domain it answers as ``math.log`` would without raising: nan for
    nan and negative ``x``, -inf for 0, inf for inf (subnormals are not handled:
    every caller clips probabilities to at least the machine epsilon).
    """
    x = np.float64(x)  # the bit manipulations below are float64's
    bits = _as_int64(x)
    e = ((bits >> 52) & 0x7FF) - 1023
    m = _as_float64((bits & 0xFFFFFFFFFFFFF) | (1023 << 52))
    big = m > _SQRT2
    m = m * 0.5 if big else m
    e = e + 1 if big else e
    # log(m) = 2 atanh(f), f = (m - 1) / (m + 1), |f| <= 0.1716: odd series.
    f = (m - 1.0) / (m + 1.0)
    f2 = f * f
    s = 1.0 / 23.0
    s = s * f2 + 1.0 / 21.0
    s = s * f2 + 1.0 / 19.0
    s = s * f2 + 1.0 / 17.0
    s = s * f2 + 1.0 / 15.0
    s = s * f2 + 1.0 / 13.0
    s = s * f2 + 1.0 / 11.0
    s = s * f2 + 1.0 / 9.0
    s = s * f2 + 1.0 / 7.0
    s = s * f2 + 1.0 / 5.0
    s = s * f2 + 1.0 / 3.0
    log_m = 2.0 * f + 2.0 * f * f2 * s
    y = e * _LN2_HI + (log_m + e * _LN2_LO)
    # Selects, not branches: the loops that call this still vectorise.
    y = -math.inf if x == 0.0 else y
    y = math.inf if x == math.inf else y
    return y if x >= 0.0 else math.nan
