"""Everything fastgmm takes from Numba's internals, fenced in this module
and the two it imports (``_locked_cache``, ``_on_threads``).

What follows reaches past Numba's documented API; all of it is checked against
the installed Numba when this module is imported, and where Numba differs
fastgmm falls back to Numba's own behaviour (``SUPPORTED`` says which):

- **A cache that parallel processes cannot corrupt** (``LockedCache``, in
  ``fastgmm.kernels._locked_cache``): ``njit`` below gives every cached
  kernel a cache whose saves hold a file lock and write the data before
  the index that names it, and whose loads check the signature of the
  code loaded.
- **No wrappers that nothing calls.**  Numba compiles, optimises and emits
  two wrappers with every function: one that unboxes its arguments for
  calls from Python, and one for first-class function values.  Kernels
  are never used as function values, so ``njit`` compiles none of the
  latter (``no_cfunc_wrapper``); a kernel only compiled code calls
  (``helper=True``) gets no Python wrapper either (``no_cpython_wrapper``,
  as Numba's own ``@overload`` implementations).  Both are options of
  Numba's ``CPUTargetOptions``, not of its documented ``jit``.  Calling a
  function without its Python wrapper from Python would jump to a null
  address, so a helper is a ``Helper`` dispatcher: a call from Python
  runs a copy compiled with the wrapper.
- **Helpers as IR only.**  Numba optimises every function's module at O3
  and makes machine code of it on its own, and then again in every caller,
  which links the callee's IR in and optimises the whole.  A helper's own
  optimised module and machine code are never run: callers run their own
  copy of its code.  So a helper's code library (``_LinkOnlyLibrary``,
  made by the compiler class ``_LinkOnlyCompiler``: the ``pipeline_class``
  option of ``jit``) links its callees' IR and stops there; its callers
  optimise it with their own code, once.  A fifth of an empty-cache first
  fit's compile was helpers' optimisation and machine code.  Helpers are
  therefore not cached (Numba caches machine code): a process that
  compiles a kernel compiles the helpers it calls, and a process that
  loads the kernel from the cache needs none of them.
- **Allocations compiled into their caller** (``empty``, ``zeros``).
  ``np.empty`` and ``np.zeros`` are Numba overloads: each is a
  function of its own, compiled, optimised and made machine code once per
  argument types *and per set of the caller's compiler flags* (Numba keys
  an overload's implementations by both), only to call an intrinsic that
  allocates.  One empty-cache fit of iris compiled ``np.empty`` 33 times
  and ``np.zeros`` 15 times, a sixth of its compile.  ``empty`` and
  ``zeros`` are that intrinsic, lowered straight into the caller
  (``numba.np.arrayobj._parse_empty_args`` and ``_empty_nd_impl``, then a
  ``memset`` for zeros, as ``np.zeros`` does): the same array, no function
  of its own.  Where Numba lacks those members they are ``np.empty`` and
  ``np.zeros``.
- **``max`` and ``min`` of two numbers compiled into their caller**
  (``larger``, ``smaller``).  Numba's builtin ``max`` and ``min`` are
  overloads too, compiled 14 times for one fit of iris; these lower the
  comparison and select those overloads lower, in the caller.
  ``epsilon(array)`` is ``np.finfo(array.dtype).eps``, a constant in the
  caller instead of Numba's ``np.finfo`` implementation; ``c_view(array,
  shape)`` is ``array.reshape(shape)`` of a C-contiguous array, without
  the function Numba's reshape compiles to normalise the shape;
  ``prefetch_row(array, i)`` asks the CPU for a row that a loop will read
  soon (Numba has no prefetch).
- **Blocks on Numba's threads without its parallel pipeline**
  (``on_threads``, in ``fastgmm.kernels._on_threads``): the threading
  layer's ``numba_parallel_for`` called on the body, linked and optimised
  once with its caller, where a ``prange`` loop compiles its body as
  libraries of its own.
- **Copies of a function under their own names** (``twin``): the same
  Python function compiled under another name, so that its cache files are
  its own (Numba names them by qualified name), with some of the names it
  calls bound otherwise (a globals mapping that is not the module's own
  dict).

Through Numba's documented event API instead: **no garbage collection in
the middle of a compile** (``pause_collector_while_compiling``).  Compiling
makes hundreds of thousands of Python objects, most of them kept alive by
the dispatchers, so each of the collector's full passes takes longer as a
compile goes on: they were a tenth of an empty-cache first fit of iris.

``NUMBA_TESTED`` is the range of Numba versions this was tested with (also
stated in ``pyproject.toml``); outside it the fallbacks are used.
"""

import functools
import gc
import importlib.util
import operator
import types

import numba
import numpy as np
from numba.core import (
    cgutils,
    codegen,
    compiler,
    cpu,
    event,
    registry,
)
from numba.core import types as nbtypes

from ._locked_cache import (  # noqa: F401  (cache_index_path, mismatched_...: API)
    LockedCache,
    cache_hooks_present,
    cache_index_path,
    mismatched_cache_entries,
)
from ._on_threads import threads

NUMBA_TESTED = ((0, 68), (0, 69))  # lowest tested, first untested


def _numba_version():
    return tuple(int(part) for part in numba.__version__.split(".")[:2])


SUPPORTED = (
    NUMBA_TESTED[0] <= _numba_version() < NUMBA_TESTED[1] and cache_hooks_present()
)

# Whether kernels are compiled without the wrappers nothing calls.
WRAPPERLESS = (
    NUMBA_TESTED[0] <= _numba_version() < NUMBA_TESTED[1]
    and all(
        hasattr(cpu.CPUTargetOptions, name)
        for name in ("no_cpython_wrapper", "no_cfunc_wrapper")
    )
    and not numba.config.DISABLE_JIT
)


def _link_only_hooks_present():
    """Whether Numba's code library and compiler have the members
    ``_LinkOnlyLibrary`` and ``_LinkOnlyCompiler`` use."""
    library = codegen.JITCodeLibrary
    return all(
        hasattr(library, name)
        for name in (
            "finalize", "get_pointer_to_function", "codegen",
            "_optimize_final_module", "_finalize_final_module",
            "_finalize_dynamic_globals",
        )
    ) and hasattr(compiler.Compiler, "compile_extra")  # fmt: skip


# Whether helpers are compiled to IR only (``_LinkOnlyLibrary``).
LINK_ONLY_HELPERS = WRAPPERLESS and _link_only_hooks_present()


def _allocation_available():
    """Whether Numba has the allocation code that ``empty`` and ``zeros``
    lower: found, not imported (``numba.np.arrayobj`` takes about 70 ms to
    import, and only compiling needs it; a warm start loads machine code)."""
    try:
        from numba.core.extending import intrinsic  # noqa: F401
        from numba.core.typing.npydecl import parse_dtype, parse_shape  # noqa: F401
    except ImportError:
        return False
    return importlib.util.find_spec("numba.np.arrayobj") is not None


@functools.cache
def _allocation_members():
    """Numba's allocation code that ``empty``, ``zeros`` and ``c_view``
    lower, imported when they are first compiled."""
    from numba.core.extending import intrinsic
    from numba.core.typing.npydecl import parse_dtype, parse_shape
    from numba.np.arrayobj import (
        _parse_empty_args,
        _parse_shape,
        get_itemsize,
        make_array,
        populate_array,
    )

    return (
        intrinsic, parse_dtype, parse_shape, _parse_empty_args, _parse_shape,
        get_itemsize, make_array, populate_array,
    )  # fmt: skip


def _c_strides(builder, itemsize, shapes):
    """The strides of a C-ordered array of ``shapes`` (LLVM values)."""
    strides = [itemsize] if shapes else []
    for size in reversed(shapes[1:]):
        strides.append(builder.mul(strides[-1], size))
    return strides[::-1]


def _new_c_array(context, builder, array_type, shapes):
    """A new C-ordered array of ``shapes``: ``numba.np.arrayobj._empty_nd_impl``,
    calling NRT's allocator itself (Numba's compiles a trampoline function
    and an overload of its own for it, once per process and call site)."""
    *_, get_itemsize, make_array, populate_array = _allocation_members()
    array = make_array(array_type)(context, builder)
    intp = nbtypes.intp
    itemsize = context.get_constant(intp, get_itemsize(context, array_type))
    n_bytes = context.get_constant(intp, 1)
    overflow = cgutils.false_bit
    for size in (*shapes, itemsize):
        product = builder.smul_with_overflow(n_bytes, size)
        n_bytes = builder.extract_value(product, 0)
        overflow = builder.or_(overflow, builder.extract_value(product, 1))
    with builder.if_then(overflow, likely=False):
        context.call_conv.return_user_exc(
            builder, ValueError,
            ("array is too big; `arr.size * arr.dtype.itemsize` is larger than"
             " the maximum possible size.",),
        )  # fmt: skip
    align = context.get_preferred_array_alignment(array_type.dtype)
    meminfo = context.nrt.meminfo_alloc_aligned(
        builder, n_bytes, context.get_constant(nbtypes.uint32, align)
    )
    data = context.nrt.meminfo_data(builder, meminfo)
    ll_intp = context.get_value_type(intp)
    populate_array(
        array,
        data=builder.bitcast(
            data, context.get_data_type(array_type.dtype).as_pointer()
        ),
        shape=cgutils.pack_array(builder, list(shapes), ty=ll_intp),
        strides=cgutils.pack_array(
            builder, _c_strides(builder, itemsize, shapes), ty=ll_intp
        ),
        itemsize=itemsize,
        meminfo=meminfo,
    )
    return array


def _c_view():
    """An intrinsic ``(C array, shape) -> view of it in that shape``:
    ``array.reshape(shape)`` for a C-contiguous array and a shape of the
    same size (Numba's reshape compiles a function normalising the shape,
    once per process and caller's flags)."""
    from numba.core.extending import intrinsic

    def c_view(typingctx, array, shape):
        """Typing: a C-contiguous array and a shape; codegen below."""
        _, _, parse_shape, _, parse_shape_values, _, make_array, populate_array = (
            _allocation_members()
        )
        ndim = parse_shape(shape)
        if not (isinstance(array, nbtypes.Array) and array.layout == "C" and ndim):
            return None
        view_type = array.copy(ndim=ndim, layout="C")

        def codegen(context, builder, signature, args):
            """The view: the source's data pointer with the new shape and C
            strides, after checking the sizes agree."""
            array_type, shape_type = signature.args
            source = make_array(array_type)(context, builder, args[0])
            intp = nbtypes.intp
            shapes = parse_shape_values(context, builder, shape_type, args[1])
            n_items = context.get_constant(intp, 1)
            for size in shapes:
                n_items = builder.mul(n_items, size)
            differs = builder.icmp_signed("!=", n_items, source.nitems)
            with builder.if_then(differs, likely=False):
                context.call_conv.return_user_exc(
                    builder, ValueError, ("cannot reshape array: sizes differ",)
                )
            strides = _c_strides(builder, source.itemsize, shapes)
            view = make_array(signature.return_type)(context, builder)
            ll_intp = context.get_value_type(intp)
            populate_array(
                view,
                data=source.data,
                shape=cgutils.pack_array(builder, shapes, ty=ll_intp),
                strides=cgutils.pack_array(builder, strides, ty=ll_intp),
                itemsize=source.itemsize,
                meminfo=source.meminfo,
                parent=source.parent,
            )
            result = view._getvalue()
            context.nrt.incref(builder, signature.return_type, result)
            return result

        return view_type(array, shape), codegen

    return intrinsic(c_view)


def _python_c_view(array, shape):
    return array.reshape(shape)


def _allocator(fill_zeros):
    """An intrinsic ``(shape, dtype) -> new C-ordered array``, lowered inline."""
    from numba.core.extending import intrinsic

    def allocate(typingctx, shape, dtype):
        """``np.empty(shape, dtype)`` (``np.zeros`` for ``zeros``) in compiled
        code, without an overload's compile; ``dtype`` is required."""
        _, parse_dtype, parse_shape, parse_args, *_ = _allocation_members()
        nb_dtype = parse_dtype(dtype)
        ndim = parse_shape(shape)
        if nb_dtype is None or ndim is None:
            return None  # a typing error, as np.empty's
        array_type = nbtypes.Array(nb_dtype, ndim, "C")

        def codegen(context, builder, signature, args):
            array_type, shapes = parse_args(context, builder, signature, args)
            array = _new_c_array(context, builder, array_type, shapes)
            if fill_zeros:
                size = builder.mul(array.itemsize, array.nitems)
                cgutils.memset(builder, array.data, size, 0)
            return array._getvalue()

        return array_type(shape, dtype), codegen

    allocate.__name__ = "zeros" if fill_zeros else "empty"
    return intrinsic(allocate)


def _two_number_selection(operator_, name):
    """An intrinsic ``(a, b) -> b if operator_(b, a) else a`` for two numbers,
    in their unified type: Python's ``max`` (``operator.gt``) or ``min``
    (``operator.lt``) of two, as Numba lowers them, the first of equals
    kept and a NaN first argument kept."""
    from numba.core.extending import intrinsic
    from numba.core.typing import signature

    def select(typingctx, a, b):
        if not all(isinstance(t, nbtypes.Number) for t in (a, b)):
            return None
        unified = typingctx.unify_types(a, b)
        if unified is None:
            return None

        def codegen(context, builder, sig, args):
            first, second = (
                context.cast(builder, value, type_, unified)
                for value, type_ in zip(args, sig.args)
            )
            compare = context.get_function(
                operator_, signature(nbtypes.boolean, unified, unified)
            )
            return builder.select(compare(builder, (second, first)), second, first)

        return unified(a, b), codegen

    select.__name__ = name
    return intrinsic(select)


def _machine_epsilon():
    """An intrinsic ``(float array) -> np.finfo(its dtype).eps`` as a float64
    constant in the caller (Numba's ``np.finfo`` is an implementation
    compiled per caller's flags)."""
    from numba.core.extending import intrinsic
    from numba.np.numpy_support import as_dtype

    def epsilon(typingctx, array):
        if not (
            isinstance(array, nbtypes.Array) and isinstance(array.dtype, nbtypes.Float)
        ):
            return None
        eps = float(np.finfo(as_dtype(array.dtype)).eps)

        def codegen(context, builder, sig, args):
            return context.get_constant(nbtypes.float64, eps)

        return nbtypes.float64(array), codegen

    return intrinsic(epsilon)


def _python_epsilon(array):
    return float(np.finfo(array.dtype).eps)


def _atomic_next():
    """An intrinsic ``(int64 array) -> its first element``, which it adds one
    to in one atomic step: threads that share the array each get values no
    other thread gets (LLVM's ``atomicrmw add``)."""
    from numba.core.extending import intrinsic

    def next_index(typingctx, counter):
        if not (isinstance(counter, nbtypes.Array) and counter.dtype == nbtypes.int64):
            return None

        def codegen(context, builder, sig, args):
            array = context.make_array(sig.args[0])(context, builder, args[0])
            one = context.get_constant(nbtypes.int64, 1)
            return builder.atomic_rmw("add", array.data, one, "monotonic")

        return nbtypes.int64(counter), codegen

    return intrinsic(next_index)


def _python_next_index(counter):
    # Not atomic: two threads may take one value, and both do its work
    # (into the same outputs, with the same values); none is skipped.
    value = counter[0]
    counter[0] = value + 1
    return value


def _row_prefetch():
    """An intrinsic ``(2-D array, i) -> None`` that asks the CPU to bring
    row ``i``'s first and last cache lines into the second-level cache (LLVM's
    ``prefetch``, for reading): a loop asks for the rows it will read a
    tile of rows later, so that their loads from memory overlap the work
    before instead of following one another (the first-level cache is too
    small to hold a tile's rows that long)."""
    from llvmlite import ir
    from numba.core import cgutils
    from numba.core.extending import intrinsic

    def prefetch_row(typingctx, array, row):
        """Typing: a 2-D array and a row index; codegen below."""
        if not (
            isinstance(array, nbtypes.Array)
            and array.ndim == 2
            and isinstance(row, nbtypes.Integer)
        ):
            return None

        def codegen(context, builder, sig, args):
            """Two ``llvm.prefetch`` calls: the row's first and last byte."""
            data = context.make_array(sig.args[0])(context, builder, args[0])
            index = context.cast(builder, args[1], sig.args[1], nbtypes.intp)
            offset = builder.mul(index, builder.extract_value(data.strides, 0))
            # The row's last element: a row of 64 bytes (8 float64) that
            # does not start on a line (NumPy aligns to 16 bytes) spans two.
            last = builder.mul(
                builder.sub(builder.extract_value(data.shape, 1), index.type(1)),
                builder.extract_value(data.strides, 1),
            )
            byte = ir.IntType(8).as_pointer()
            first = builder.gep(builder.bitcast(data.data, byte), [offset])
            i32 = ir.IntType(32)
            function = cgutils.get_or_insert_function(
                builder.module,
                ir.FunctionType(
                    ir.VoidType(), [ir.IntType(8).as_pointer(), i32, i32, i32]
                ),
                "llvm.prefetch.p0i8",
            )
            # Read; locality 2 (the second-level cache and beyond); data.
            for address in (first, builder.gep(first, [last])):
                builder.call(function, [address, i32(0), i32(2), i32(1)])
            return context.get_dummy_value()

        return nbtypes.none(array, row), codegen

    return intrinsic(prefetch_row)


def _python_prefetch_row(array, row):
    """A hint only: nothing to do without the JIT."""


# Whether ``empty`` and ``zeros`` are lowered into their callers.
INLINE_ALLOCATION = (
    NUMBA_TESTED[0] <= _numba_version() < NUMBA_TESTED[1]
    and _allocation_available()
    and not numba.config.DISABLE_JIT
)
if INLINE_ALLOCATION:
    empty = _allocator(False)
    zeros = _allocator(True)
    larger = _two_number_selection(operator.gt, "larger")
    smaller = _two_number_selection(operator.lt, "smaller")
    epsilon = _machine_epsilon()
    c_view = _c_view()
    next_index = _atomic_next()
    prefetch_row = _row_prefetch()
else:  # Numba's own (and plain NumPy and Python without the JIT)
    empty = np.empty
    zeros = np.zeros
    larger = max
    smaller = min
    jit = (lambda function: function) if numba.config.DISABLE_JIT else numba.njit
    epsilon = jit(_python_epsilon)
    c_view = jit(_python_c_view)
    next_index = jit(_python_next_index)
    prefetch_row = jit(_python_prefetch_row)

# Whether ``on_threads`` runs its body on several threads.
on_threads, start_threads, THREADED_BODIES = threads(INLINE_ALLOCATION)


class _CodegenWithoutEnvironment:
    """A codegen whose ``set_env`` does nothing: Numba sets a function's
    environment in its machine code, which a ``_LinkOnlyLibrary`` has none
    of (a caller that raises or boxes through it sets it in its own)."""

    def __init__(self, target_codegen):
        self._codegen = target_codegen

    def set_env(self, env_name, env):
        pass

    def __getattr__(self, name):
        return getattr(self._codegen, name)


class _LinkOnlyLibrary(codegen.JITCodeLibrary):
    """A helper's code library: its IR and its callees', linked, for callers
    to link and optimise with their own code; never optimised or made
    machine code on its own (see the module docstring)."""

    @property
    def codegen(self):
        return _CodegenWithoutEnvironment(self._codegen)

    def get_pointer_to_function(self, name):
        return 0  # no machine code: callers call their own copy

    # Numba's finalize() links the callees' IR, then calls these two.
    def _optimize_final_module(self):
        pass  # callers optimise this IR with their own

    def _finalize_final_module(self):
        # Without adding the module to the JIT, which would make machine code.
        self._finalize_dynamic_globals()
        self._finalized = True


class _LinkOnlyCompiler(compiler.Compiler):
    """Numba's compiler, lowering into a ``_LinkOnlyLibrary``."""

    def compile_extra(self, func):
        if self.state.library is None:
            self.state.library = _LinkOnlyLibrary(
                self.state.targetctx.codegen(), func.__qualname__
            )
        return super().compile_extra(func)


def link_only_options():
    """Options of ``numba.jit`` (or of an ``@overload``'s ``jit_options``)
    that compile a function only compiled code calls to IR only; none where
    this Numba lacks the members it takes."""
    return {"pipeline_class": _LinkOnlyCompiler} if LINK_ONLY_HELPERS else {}


class Helper(registry.CPUDispatcher):
    """A dispatcher whose code has no Python wrapper (see the module
    docstring): compiled callers call it as any other; a call from Python
    runs ``python_copy``."""

    def __call__(self, *args, **kwargs):
        return self.python_copy(*args, **kwargs)

    @property
    def python_copy(self):
        """The same function compiled with its Python wrapper, under its own
        name (so its own cache files), made on first use."""
        copy = self.__dict__.get("_python_copy")
        if copy is None:
            options = {
                key: value
                for key, value in self.targetoptions.items()
                if key not in ("no_cpython_wrapper", "nopython")
            }
            options["cache"] = self.cached_from_python
            copy = njit(**options)(twin(self.py_func, "_from_python"))
            self._python_copy = copy
        return copy


def njit(*args, helper=False, **options):
    """``numba.njit``, with ``LockedCache`` where ``cache=True`` and supported,
    and without the wrappers nothing calls (see the module docstring).

    Used as ``@njit(**options)`` or ``njit(**options)(function)``.
    ``helper=True`` marks a function that compiled code calls and Python
    does not (a call from Python still works, through a copy).
    """
    if args:  # @njit without options
        return njit(helper=helper, **options)(args[0])
    if WRAPPERLESS:
        options = {"no_cfunc_wrapper": True, **options}
        if helper:
            return _helper(options)
    decorate = numba.njit(**options)
    if not (options.get("cache") and SUPPORTED):
        return decorate

    def locked(function):
        dispatcher = decorate(function)
        try:
            cache = LockedCache(dispatcher.py_func)
        except AttributeError:  # a Numba whose cache is laid out otherwise
            return dispatcher
        dispatcher._cache = cache
        return dispatcher

    return locked


def _helper(options):
    """``njit`` for a ``Helper``: compiled without its Python wrapper, and to
    IR only where supported (then not cached: Numba caches machine code)."""
    link_only = link_only_options()
    cache = bool(options.get("cache")) and not link_only
    decorate = njit(**{**options, "cache": cache}, no_cpython_wrapper=True, **link_only)

    def helper(function):
        dispatcher = decorate(function)
        if type(dispatcher) is not registry.CPUDispatcher:
            return njit(**options)(function)  # not Numba's usual dispatcher
        dispatcher.__class__ = Helper
        dispatcher.cached_from_python = bool(options.get("cache"))
        return dispatcher

    return helper


class _Overlay(dict):
    """A module's globals with a few names bound otherwise.

    The replaced names are the dict's own items; every other name is looked
    up in the live module dict, so names defined later are found too.
    """

    def __init__(self, module_globals, replaced):
        super().__init__(replaced)
        self._module_globals = module_globals

    def __missing__(self, name):
        return self._module_globals[name]


def twin(function, suffix, calls=None):
    """A copy of ``function`` under its own qualified name.

    Compiled with other options or other globals, it has cache files of its
    own: Numba names them after ``__qualname__`` and keys entries by
    signature only, so two dispatchers of one function would share entries.
    ``calls`` binds global names the copy calls to other values (a
    variant's constants and kernels).
    """
    namespace = function.__globals__
    if calls:
        namespace = _Overlay(namespace, calls)
    copy = types.FunctionType(
        function.__code__,
        namespace,
        function.__name__ + suffix,
        function.__defaults__,
        function.__closure__,
    )
    copy.__qualname__ = function.__qualname__ + suffix
    copy.__module__ = function.__module__
    copy.__doc__ = function.__doc__
    return copy


class _CollectorPause(event.Listener):
    """Python's cyclic garbage collector off while Numba compiles a kernel
    of fastgmm's (and the kernels that one calls), back as it was after.

    Numba compiles under one lock, so its compile events do not interleave;
    the collector is paused from the outermost compile of one of fastgmm's
    functions to its end, failed or not.  The objects a compile leaves
    behind are collected after it, as they would have been.
    """

    def __init__(self):
        self._depth = 0
        self._paused = False

    def on_start(self, ev):
        self._depth += 1
        if self._depth == 1 and gc.isenabled() and _ours(ev.data["dispatcher"]):
            gc.disable()
            self._paused = True

    def on_end(self, ev):
        self._depth -= 1
        if self._depth == 0 and self._paused:
            self._paused = False
            gc.enable()


def _ours(dispatcher):
    module = getattr(getattr(dispatcher, "py_func", None), "__module__", None) or ""
    return module.split(".")[0] == __package__.split(".")[0]


@functools.cache
def pause_collector_while_compiling():
    """Register the ``_CollectorPause`` listener for Numba's compile events
    (once per process; ``fastgmm`` does on import of this module)."""
    listener = _CollectorPause()
    event.register("numba:compile", listener)
    return listener


pause_collector_while_compiling()
