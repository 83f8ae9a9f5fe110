"""Copying arrays inside compiled code, without slice assignment."""

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
