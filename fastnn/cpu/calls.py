"""Calls between compiled units by address: a firewall for compilation.

When one Numba function calls another, Numba links the callee's whole module
into the caller's and optimises and emits it again there (``CodeLibrary.finalize``
re-runs LLVM's module passes over everything linked in). Every level of calls
pays again for all the code below it: the block kernel
(:func:`fastnn.cpu.network.block_task`, the forward and backward pass of a block
of rows) was optimised and emitted once on its own, once more inside the epoch
loop, once more inside the parallel driver, once more inside the L-BFGS
objective (measured in ``docs/developer/kernels.md``).

:func:`call` instead calls a compiled kernel through its address, with Numba's
own calling convention, as a C function pointer: the caller's module holds one
indirect call and nothing of the callee, and the callee is compiled (or loaded
from the cache) once per process, on its own. At the granularity of a block of
rows the lost inlining costs nothing measurable (one call per block per batch).

Python passes the address as an integer argument (:func:`address`), so the
caller's compiled code holds no process-specific pointer and is cached like any
other kernel. The argument types the caller passes must be exactly those the
address was taken for. Both sides tag the call with a 15-bit hash of those
types: :func:`address` puts it in the top bits of the address (x86-64 and
AArch64 user-space addresses are below 2**48), :func:`call` compiles in the
hash of its own argument types and raises ``TypeError`` instead of calling
when they differ, so that a mismatch is an error, never a call with the wrong
memory layout.
"""

import zlib

import numba
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.core.callconv import excinfo_t
from numba.extending import intrinsic

#: Addresses already looked up: ``(dispatcher, signature) -> int``.
_ADDRESSES = {}
_TAG_SHIFT = 48
_ADDRESS_MASK = (1 << _TAG_SHIFT) - 1


def _tag(types_):
    """15-bit hash of a tuple of Numba types (its text is the same on both sides):
    a tagged address stays below 2**63, an int64 (else numba would type it uint64)."""
    return zlib.crc32(str(tuple(types_)).encode()) & 0x7FFF


def signature(args):
    """The Numba types of ``args``, as a dispatcher compiles for them."""
    return tuple(numba.typeof(a) for a in args)


def address(dispatcher, args):
    """The address of ``dispatcher`` compiled for ``args``' types (compiles or
    loads it from the cache first), for :func:`call`.

    The kernel must return nothing: :func:`call` discards what it returns.
    """
    sig = signature(args)
    key = (dispatcher, sig)
    found = _ADDRESSES.get(key)
    if found is None:
        dispatcher.compile(sig)
        cres = dispatcher.overloads[sig]
        if cres.signature.return_type != types.none:
            raise TypeError(f"{dispatcher.py_func.__name__} returns a value; "
                            "only kernels that return nothing are called by address")
        found = cres.library.get_pointer_to_function(cres.fndesc.llvm_func_name)
        if found >> _TAG_SHIFT:  # pragma: no cover - no such platform seen
            raise RuntimeError("kernel address above 2**48: cannot tag it")
        found |= _tag(sig) << _TAG_SHIFT
        _ADDRESSES[key] = found
    return found


@intrinsic
def call(typingctx, kernel, args):
    """``f(*args)`` for the compiled kernel ``f`` at ``kernel`` (an int64 from
    :func:`address`, taken for exactly these argument types, else TypeError)."""
    if not isinstance(kernel, types.Integer) or not isinstance(args, types.BaseTuple):
        return None
    argtys = tuple(args.types)
    tag = _tag(argtys)

    def codegen(context, builder, signature, llargs):
        where, packed = llargs
        conv = context.call_conv
        int64 = ir.IntType(64)
        where = builder.zext(where, int64) if where.type.width < 64 else where
        found = builder.lshr(where, int64(_TAG_SHIFT))
        with cgutils.if_unlikely(builder, builder.icmp_unsigned(
                "!=", found, int64(tag))):
            conv.return_user_exc(builder, TypeError, (
                "fastnn: a kernel called by address with other argument types "
                "than it was compiled for",))
        where = builder.and_(where, int64(_ADDRESS_MASK))
        values = [builder.extract_value(packed, i) for i in range(len(argtys))]
        fnty = conv.get_function_type(types.none, argtys)
        target = builder.inttoptr(where, fnty.as_pointer())
        retty = conv.get_return_type(types.none).pointee
        ret = cgutils.alloca_once(builder, retty)
        builder.store(cgutils.get_null_value(retty), ret)
        excinfo = cgutils.alloca_once(builder, ir.PointerType(excinfo_t))
        flat = list(conv._get_arg_packer(argtys).as_arguments(builder, values))
        code = builder.call(target, [ret, excinfo, *flat])
        # An exception the kernel raised propagates to the caller, as with a
        # direct call (e.g. a driver called by address whose own call by
        # address finds other argument types).
        status = conv._get_return_status(builder, code, builder.load(excinfo))
        with cgutils.if_unlikely(builder, status.is_error):
            conv.return_status_propagate(builder, status)
        return context.get_dummy_value()

    return types.none(kernel, args), codegen
