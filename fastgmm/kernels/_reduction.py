"""The one parallel pass over the rows: blocks in threads, sums in block order.

Every pass that adds something up over the rows (the E-step's statistics,
a Lloyd step's cluster sums, a k-means++ potential) runs through
``ordered_block_sums``.  Blocks hold a fixed number of rows
(``BLOCK_ROWS``), never a share of the threads, and each block's partial
sums are added to the total in block order: the result is the same to the
last bit for any number of threads.

A pass is a ``typing.NamedTuple`` class holding its inputs, registered with
the compiled function that sums one block of rows::

    class MyPass(NamedTuple):
        X: np.ndarray

    @register_block_sums(MyPass)
    @njit(**NJIT_OPTIONS)
    def _my_block(args, start, stop, out):
        ...  # add the sums of rows start:stop into out; return a float

    @kernel(**NJIT_OPTIONS)
    def my_pass(X):
        total, sums = ordered_block_sums(MyPass(X), X.shape[0], size, X)

A block function that is a ``Kernel`` specialised per variant (it reads
``CODE``) has one subclass of the pass class per variant, which the pass's
copies of that variant construct under the class's name.

The block function is found from the pass's type when the caller is
compiled, so that the caller calls it directly: passing it as a first-class
function value instead would make every caller impossible to cache.

Passes called from Python (the E-step) run their blocks in Python threads
instead: a serial kernel fills the partials of the blocks it takes from a
shared counter with ``blocks_into``, and ``block_sums`` runs it on every
thread at once and adds the partials in block order, as
``ordered_block_sums`` adds them.  Such a
kernel is compiled once, without Numba's parallel pipeline, for small data
and large::

    @kernel(**NJIT_OPTIONS)
    def my_blocks(X, first, totals, sums, counter):
        blocks_into(MyPass(X), X.shape[0], first, totals, sums, counter)

    total, sums = block_sums(my_blocks.copy_for(X), (X,), X.shape[0], size, dtype)
"""

import functools

import numba
import numpy as np
from numba.extending import overload

from ._config import BLOCK_ROWS, BLOCKS_PER_BATCH, EXACT_NJIT_OPTIONS
from ._numba_internals import (
    link_only_options,
    next_index,
    njit,
    on_threads,
    smaller,
    zeros,
)
from ._specialise import Kernel, register_binder, register_one_block_form
from ._threads import in_threads


def register_block_sums(args_class):
    """Register ``block_sums(args, start, stop, out) -> float`` for a pass.

    Its parameters must have those names (Numba matches an implementation's
    parameter names to the generic function's).

    ``block_sums`` is a dispatcher or a ``Kernel``; its Python function
    becomes the implementation of ``_block_sums`` for ``args_class``,
    compiled with the same options.  (A wrapper that called the dispatcher
    would put one more function, and one more optimisation of the block
    code, in every compilation of the pass.)  A kernel specialised per
    variant gets a subclass of ``args_class`` per variant, which the copies
    of that variant construct in place of ``args_class``.
    """

    def register(block_sums):
        if not isinstance(block_sums, Kernel):
            _implement(args_class, block_sums.py_func, block_sums.targetoptions)
        elif not block_sums.per_variant:
            _implement(args_class, block_sums.copy().py_func, block_sums.options)
        else:
            register_binder(
                args_class, functools.partial(_pass_of, args_class, block_sums)
            )
        return block_sums

    return register


@functools.cache
def _pass_of(args_class, block_sums, variant):
    """The subclass of ``args_class`` whose block function is ``variant``'s.

    Its name carries the variant's suffix: Numba names the functions
    compiled for a pass (``_blocks``, the helpers that run its blocks)
    after the printed types of their arguments, and a pass type prints as
    its class's name and fields.  Two variants' pass types that printed
    alike would give different code one symbol name, and machine code
    loaded from the cache, where such names are weak symbols, would call
    whichever variant's code was loaded first.
    """
    namespace = {"__slots__": (), "__module__": args_class.__module__}
    cls = type(args_class.__name__ + variant.suffix, (args_class,), namespace)
    cls.__qualname__ = args_class.__qualname__ + variant.suffix
    _implement(cls, block_sums.copy(variant).py_func, block_sums.options)
    return cls


def _implement(args_class, function, options):
    # Only its pass calls a block function: compiled to IR only, which the
    # pass optimises with its own code.
    options = {
        key: value
        for key, value in options.items()
        if key in ("fastmath", "error_model", "boundscheck", "no_cfunc_wrapper")
    } | link_only_options()

    @overload(_block_sums, jit_options=options)
    def _block_sums_of(args, start, stop, out):
        if getattr(args, "instance_class", None) is args_class:
            return function
        return None


def _block_sums(args, start, stop, out):
    """The registered block function of ``type(args)`` (compiled code only)."""
    raise NotImplementedError("called from compiled code only")


# Inlined into each pass, so that it calls its own block function.
@njit(inline="always", **EXACT_NJIT_OPTIONS)
def ordered_block_sums(args, n_rows, size, like):
    """Sum a pass's block function over the blocks of ``n_rows`` rows, the
    blocks in Numba's threads (``on_threads``).

    Parameters
    ----------
    args : NamedTuple
        The pass (see the module docstring); its block function adds the
        partial sums of rows ``start:stop`` into ``out`` (zeros of shape
        (size,)) and returns one more partial sum, a float.  Blocks are
        disjoint: it may also write per-row outputs.
    n_rows : int
    size : int
        Length of the flat partial sums (the caller packs its arrays).
    like : ndarray
        An array of the flat partial sums' dtype.  (An array, not a dtype:
        a dtype argument makes every call allocate through a slow path.)

    Returns
    -------
    total : float
        Sum of the returned partials, in float64.
    sums : ndarray of shape (size,)
        Sum of the partial arrays.
    """
    n_blocks = (n_rows + BLOCK_ROWS - 1) // BLOCK_ROWS
    if n_blocks <= 1:
        # Small data, here: no partials to allocate and add.
        return one_block_sums(args, n_rows, size, like)
    return _blocks_in_threads(args, n_rows, n_blocks, zeros(size, like.dtype))


@njit(inline="always", **EXACT_NJIT_OPTIONS)
def one_block_sums(args, n_rows, size, like):
    """``ordered_block_sums`` of at most one block of rows (``BLOCK_ROWS``),
    run in place, without the code for several blocks: what the copies of a
    pass for such data call instead (``Kernel.copy(one_block=True)``).  The
    batch's groups run it every iteration."""
    sums = zeros(size, like.dtype)
    # (The first row as a variable: a literal 0 would compile the block
    # function again.)
    return np.float64(_block_sums(args, n_rows - n_rows, n_rows, sums)), sums


register_one_block_form(ordered_block_sums, one_block_sums)


@njit(helper=True, **EXACT_NJIT_OPTIONS)
def _blocks_in_threads(args, n_rows, n_blocks, sums):
    """``ordered_block_sums`` of several blocks, into ``sums`` (zeros): a
    function of its own, so that the small-data path of the passes stays
    as small as the code around it."""
    total = 0.0
    size = sums.shape[0]
    for first in range(0, n_blocks, BLOCKS_PER_BATCH):
        # A batch of blocks at a time bounds the memory of the partials.
        n_batch = smaller(BLOCKS_PER_BATCH, n_blocks - first)
        totals = zeros(n_batch, np.float64)
        part_sums = zeros((n_batch, size), sums.dtype)
        counter = zeros(1, np.int64)
        on_threads(_blocks, n_batch, (args, n_rows, first, totals, part_sums, counter))
        for c in range(n_batch):
            total += totals[c]
            for j in range(size):
                sums[j] += part_sums[c, j]
    return total, sums


@njit(inline="always", **EXACT_NJIT_OPTIONS)
def blocks_into(args, n_rows, first, totals, sums, counter):
    """A pass's blocks ``first + c`` of ``n_rows`` rows, for the values ``c``
    that this call takes from ``counter`` (``next_index``) while they are
    below ``totals.shape[0]``: block ``first + c``'s float in ``totals[c]``
    and its partial sums in ``sums[c]`` (zeros).  Threads that share
    ``counter`` share the blocks out as they come free.  Inlined into a
    serial kernel that ``block_sums`` runs."""
    c = next_index(counter)
    while c < totals.shape[0]:
        start = (first + c) * BLOCK_ROWS
        stop = smaller(start + BLOCK_ROWS, n_rows)
        totals[c] = _block_sums(args, start, stop, sums[c])
        c = next_index(counter)


@njit(helper=True, **EXACT_NJIT_OPTIONS)
def _blocks(args, n_rows, first, totals, sums, counter):
    """``blocks_into``, as the body that ``ordered_block_sums`` runs on each
    thread."""
    blocks_into(args, n_rows, first, totals, sums, counter)


def block_sums(blocks, args, n_rows, size, dtype):
    """``ordered_block_sums`` from Python, the blocks in threads.

    Parameters
    ----------
    blocks : dispatcher
        ``blocks(*args, first, totals, sums, counter)``, a serial kernel that
        releases the GIL and calls ``blocks_into`` (see the module
        docstring).
    args : tuple
    n_rows : int
    size : int
        Length of the flat partial sums.
    dtype : numpy dtype
        Their dtype.

    Returns
    -------
    total : float
        Sum of the blocks' floats, in block order.
    sums : ndarray of shape (size,)
        Sum of the blocks' partial sums, in block order.

    Blocks hold ``BLOCK_ROWS`` rows whatever the number of threads (Numba's
    count for this thread), so the sums are the same to the last bit for any
    number, and equal to those of the compiled passes.  Each thread runs the
    kernel once on a batch of blocks and takes the next free block until
    none is left: no thread waits for one that started late, and Python
    runs once per thread and batch.
    """
    n_blocks = (n_rows + BLOCK_ROWS - 1) // BLOCK_ROWS
    if n_blocks <= 1:
        totals = np.zeros(1)
        sums = np.zeros((1, size), dtype)
        blocks(*args, 0, totals, sums, np.zeros(1, dtype=np.int64))
        return float(totals[0]), sums[0]
    n_threads = min(numba.get_num_threads(), n_blocks)
    total = 0.0
    sums = np.zeros(size, dtype)
    for first in range(0, n_blocks, BLOCKS_PER_BATCH):
        # A batch of blocks at a time bounds the memory of the partials.
        n_batch = min(BLOCKS_PER_BATCH, n_blocks - first)
        totals = np.zeros(n_batch)
        part_sums = np.zeros((n_batch, size), dtype)
        counter = np.zeros(1, dtype=np.int64)
        in_threads(
            functools.partial(blocks, *args, first, totals, part_sums, counter),
            min(n_threads, n_batch),
        )
        for c in range(n_batch):
            total += float(totals[c])
            sums += part_sums[c]
    return total, sums
