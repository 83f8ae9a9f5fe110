"""Copying arrays inside compiled code, without slice assignment."""

import math

import numpy as np
from numba.extending import overload

from ._config import EXACT_NJIT_OPTIONS
from ._numba_internals import njit


@njit(**EXACT_NJIT_OPTIONS, helper=True)
def copy_into(dst, src):
    """``dst[...] = src`` for two arrays of the same shape, element by element.

    Slice assignment from an array (``dst[:] = src``) compiles the formatting
    of its shape-mismatch error, once per process and number of dimensions:
    seconds of a first fit on an empty cache.
    """
    for j in range(src.size):
        dst.flat[j] = src.flat[j]


def assign(dst, src):
    """``dst[...] = src`` for two arrays of the same shape: NumPy's assignment
    when run by Python, ``copy_into`` in compiled code.

    For code that runs both ways (a ``py_func`` called from Python): a loop
    of element assignments costs Python microseconds, a slice assignment
    costs compiled code its error formatting (see ``copy_into``).
    """
    dst[...] = src


@overload(assign, jit_options=EXACT_NJIT_OPTIONS)
def _assign_compiled(dst, src):
    def assign_compiled(dst, src):
        copy_into(dst, src)

    return assign_compiled


def log_into(dst, src):
    """``dst[...] = log(src)`` (float64): NumPy's ``log`` of the float64
    values when run by Python, as scikit-learn takes its log-weights; the
    elements' ``math.log`` in compiled code, as the compiled M-step takes
    them."""
    dst[...] = np.log(np.asarray(src, dtype=np.float64))


@overload(log_into, jit_options=EXACT_NJIT_OPTIONS)
def _log_into_compiled(dst, src):
    def log_into_compiled(dst, src):
        for j in range(src.size):
            dst.flat[j] = math.log(np.float64(src.flat[j]))

    return log_into_compiled
