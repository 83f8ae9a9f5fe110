"""Blocks on Numba's threads without its parallel pipeline (``on_threads``).

A ``prange`` loop compiles its body as a library of its own, a wrapper
library around it, and links and optimises both again into its function: a
k-means driver of passes cost about ten seconds more to compile threaded
than serial.  ``on_threads`` calls the threading layer's
``numba_parallel_for`` (as the ``prange`` lowering does) on a small entry
function that calls the body, which is linked and optimised once with its
caller.  The layer's entry points are read from a table that
``start_threads`` fills, so cached code starts no thread until a fit of
several blocks asks for them; until then, with one thread, and where Numba
lacks those members, the body runs once on the calling thread
(:func:`threads`).
"""

import numba
from numba.core import cgutils
from numba.core import types as nbtypes


def _threading_layer_members():
    """What ``on_threads`` uses of llvmlite and Numba, or None."""
    try:
        import ctypes

        from llvmlite import binding, ir
        from numba.core.extending import intrinsic
        from numba.np.ufunc.parallel import _launch_threads
    except ImportError:
        return None
    return ctypes, binding, ir, intrinsic, _launch_threads


# The symbol of ``on_threads``'s table of the threading layer's entry points.
_LAYER_TABLE = "fastgmm_threading_layer"


def _on_threads(members):
    """An intrinsic ``on_threads(body, n_threads, args)``, and ``start()``.

    ``on_threads`` runs the compiled function ``body(*args)`` (a tuple
    ``args``) at once on up to ``n_threads`` of Numba's threads, capped at
    Numba's thread count for the calling thread, through the threading
    layer's ``numba_parallel_for`` (as a ``prange`` loop runs); with one
    thread, or before ``start()``, once on the calling thread.  Returns when
    every run has.  ``body`` shares its work out itself (a ``next_index``
    counter in ``args``).

    ``body`` is linked into its caller's module and optimised with it, once:
    where a ``prange`` loop compiles its body as a library of its own and a
    wrapper library around it, and optimises and links both again into the
    caller.

    The compiled code reads the layer's entry points from a table that
    ``start()`` fills (starting Numba's threads), so that code loaded from
    the cache starts no thread by itself: a small fit never starts Numba's
    thread pool (loading the threading layer costs tens of milliseconds).
    """
    ctypes, binding, ir, intrinsic, launch_threads = members
    # numba_parallel_for and get_num_threads, null until start().
    table = (ctypes.c_void_p * 2)()
    binding.add_symbol(_LAYER_TABLE, ctypes.addressof(table))

    def start():
        """Start Numba's threads, and let ``on_threads`` use them."""
        if table[0] is None:
            launch_threads()
            table[1] = binding.address_of_symbol("get_num_threads")
            table[0] = binding.address_of_symbol("numba_parallel_for")

    voidptr = ir.IntType(8).as_pointer()

    def on_threads(typingctx, body, n_threads, args):
        """Typing: a compiled ``body``, a thread count and ``body``'s
        arguments as a tuple; codegen below."""
        if not (
            isinstance(body, nbtypes.Dispatcher)
            and isinstance(n_threads, nbtypes.Integer)
            and isinstance(args, nbtypes.BaseTuple)
        ):
            return None
        body_sig = body.get_call_type(typingctx, tuple(args), {})
        if body_sig is None:
            return None

        def codegen(context, builder, sig, llargs):
            """Link ``body``, pack its arguments, and call Numba's
            ``parallel_for`` with a runner that calls it once per thread."""
            cres = body.dispatcher.get_compile_result(body_sig)
            context.active_code_library.add_linking_library(cres.library)
            runner = _threads_entry(ir, context, builder.module, cres, body_sig, args)
            # The arguments, packed where the runs read them.
            data = cgutils.alloca_once_value(builder, llargs[2])
            data = builder.bitcast(data, voidptr)
            wanted = context.cast(builder, llargs[1], sig.args[1], nbtypes.intp)
            _call_parallel_for(ir, context, builder, runner, data, wanted)
            return context.get_dummy_value()

        return nbtypes.none(body, n_threads, args), codegen

    return intrinsic(on_threads), start


def _call_parallel_for(ir, context, builder, runner, data, wanted):
    """Emit the call of ``runner`` (see ``_threads_entry``) on ``data``:
    through the threading layer's ``numba_parallel_for`` once per thread,
    up to ``wanted`` threads and Numba's thread count, where ``start()``
    has filled the table of entry points and more than one thread is
    wanted; otherwise once, here."""
    voidptr = ir.IntType(8).as_pointer()
    intp = context.get_value_type(nbtypes.intp)
    entries = builder.module.globals.get(_LAYER_TABLE)
    if entries is None:
        entries = ir.GlobalVariable(
            builder.module, ir.ArrayType(voidptr, 2), _LAYER_TABLE
        )
    parallel_for = builder.load(builder.gep(entries, [intp(0), intp(0)]))
    thread_count = builder.load(builder.gep(entries, [intp(0), intp(1)]))
    # One dimension, as many items as runs: each run gets one.
    count = cgutils.alloca_once_value(builder, intp(1))
    started = builder.icmp_unsigned("!=", parallel_for, voidptr(None))
    with builder.if_then(builder.and_(started, builder.icmp_signed(
        ">", wanted, intp(1)
    ))):  # fmt: skip
        layer = builder.bitcast(thread_count, ir.FunctionType(intp, []).as_pointer())
        available = builder.call(layer, [])
        fewer = builder.icmp_signed("<", wanted, available)
        builder.store(builder.select(fewer, wanted, available), count)
    count = builder.load(count)
    steps = cgutils.alloca_once_value(builder, intp(0))
    arrays = cgutils.alloca_once_value(builder, voidptr(None))
    dims = cgutils.alloca_once_value(builder, count)
    alone = builder.icmp_signed("<=", count, intp(1))
    with builder.if_else(alone) as (here, threaded):
        with here:
            builder.call(runner, [arrays, dims, steps, data])
        with threaded:
            launch = builder.bitcast(
                parallel_for,
                ir.FunctionType(ir.VoidType(), [voidptr] * 5 + [intp] * 3).as_pointer(),
            )
            pointers = (runner, arrays, dims, steps)
            builder.call(
                launch,
                [builder.bitcast(p, voidptr) for p in pointers]
                + [data, intp(0), intp(1), count],
            )


def _threads_entry(ir, context, module, cres, body_sig, args_type):
    """The function each of ``on_threads``'s runs calls: the threading
    layer's signature (``void(char **, intp *, intp *, void *data)``), which
    unpacks the arguments from ``data`` and calls the body (``ir``:
    ``llvmlite.ir``)."""
    name = f".threads.{cres.fndesc.mangled_name}"
    existing = module.globals.get(name)
    if existing is not None:
        return existing
    voidptr = ir.IntType(8).as_pointer()
    intp = context.get_value_type(nbtypes.intp)
    entry = ir.Function(
        module,
        ir.FunctionType(
            ir.VoidType(), [voidptr.as_pointer(), intp.as_pointer(),
                            intp.as_pointer(), voidptr]
        ),
        name,
    )  # fmt: skip
    entry.linkage = "internal"
    builder = ir.IRBuilder(entry.append_basic_block())
    packed_type = context.get_value_type(args_type).as_pointer()
    packed = builder.load(builder.bitcast(entry.args[3], packed_type))
    values = cgutils.unpack_tuple(builder, packed, len(args_type))
    # The body's status is dropped: the passes' block functions raise
    # nothing (but MemoryError for a tile's buffers of a few kilobytes).
    context.call_internal_no_propagate(builder, cres.fndesc, body_sig, values)
    builder.ret_void()
    return entry


def _python_on_threads(body, n_threads, args):
    # Where Numba lacks what ``_on_threads`` uses: the body once, here.
    body(*args)


def threads(available):
    """``(on_threads, start_threads, threaded)``: the intrinsic and its
    starter where ``available`` (Numba as tested) and Numba has the members
    it uses; otherwise a function that runs the body once, here, a starter
    that does nothing, and ``threaded`` false."""
    members = _threading_layer_members() if available else None
    if members is not None:
        return (*_on_threads(members), True)

    def start_threads():
        """Nothing to start: ``on_threads`` runs its body here."""

    if numba.config.DISABLE_JIT:
        return _python_on_threads, start_threads, False
    return numba.njit(_python_on_threads), start_threads, False
