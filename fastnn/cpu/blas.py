"""Matrix products for the kernels: SciPy's BLAS ``sgemm`` / ``dgemm``, called directly.

Numba's ``np.dot`` reaches the same BLAS, but types and compiles its shape
checks and their error messages (string formatting) at every call site: about
3 s of a first fit. Here one intrinsic calls the Fortran routine that
``scipy.linalg.cython_blas`` exports, through a symbol registered with LLVM at
import. The compiled code refers to that symbol by name, not by address, so it
stays valid in Numba's on-disk cache across processes (as Numba's own helper
functions do).

Callers guarantee the shapes (they come from the workspace); nothing is checked
at run time.
"""

import numpy as np
from llvmlite import binding as _llvm
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import get_cython_function_address, intrinsic

from .._config import jit

_SYMBOLS = {types.float32: "fastnn_sgemm", types.float64: "fastnn_dgemm"}
for _name in ("sgemm", "dgemm"):
    _llvm.add_symbol(
        f"fastnn_{_name}",
        get_cython_function_address("scipy.linalg.cython_blas", _name),
    )

_NO_TRANS = np.int8(ord("N"))
_TRANS = np.int8(ord("T"))


def _by_reference(context, builder, ty, value, dtype):
    """A pointer to ``value`` (Fortran passes every argument by reference)."""
    if isinstance(ty, types.Array):
        return context.make_array(ty)(context, builder, value).data
    if ty == types.int8:
        return cgutils.alloca_once_value(builder, value)
    if isinstance(ty, types.Integer):
        return cgutils.alloca_once_value(
            builder, context.cast(builder, value, ty, types.int32)
        )
    return cgutils.alloca_once_value(builder, context.cast(builder, value, ty, dtype))


@intrinsic
def _xgemm(typingctx, transa, transb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc):
    """Fortran ``?gemm``: ``C = alpha op(A) op(B) + beta C``, column-major."""
    if not isinstance(C, types.Array) or C.dtype not in _SYMBOLS:
        return None
    dtype = C.dtype
    sig = types.void(transa, transb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc)

    def codegen(context, builder, signature, args):
        voidptr = ir.IntType(8).as_pointer()
        fnty = ir.FunctionType(ir.VoidType(), [voidptr] * 13)
        fn = cgutils.get_or_insert_function(builder.module, fnty, _SYMBOLS[dtype])
        pointers = [
            builder.bitcast(_by_reference(context, builder, ty, value, dtype), voidptr)
            for ty, value in zip(signature.args, args, strict=True)
        ]
        builder.call(fn, pointers)
        return context.get_dummy_value()

    return sig, codegen


@jit
def gemm(A, trans_a, B, trans_b, C):
    """``C = op(A) op(B)`` for C-contiguous 2-D arrays of one float dtype.

    ``op(M)`` is ``M.T`` when its flag is True. Row-major ``C`` is column-major
    ``C.T = op(B).T op(A).T``, so BLAS gets ``B`` first; a row-major matrix is
    its own transpose in column-major, which turns each flag around.
    """
    rows, cols = C.shape
    inner = A.shape[0] if trans_a else A.shape[1]
    _xgemm(_TRANS if trans_b else _NO_TRANS, _TRANS if trans_a else _NO_TRANS,
           cols, rows, inner, 1.0, B, max(1, B.shape[1]), A, max(1, A.shape[1]),
           0.0, C, max(1, cols))
