"""Sums rounded as NumPy rounds them, for k-means's exact start.

KMeans centres the data on its column mean and scales its tolerance by the
mean of the column variances (``np.mean(np.var(X, axis=0))``); its seeding
adds the squared norms of rows as ``np.einsum`` adds them.  These functions
give the same bits: NumPy's pairwise summation (blocks of 128, eight
partial sums in a fixed order), and the einsum's order of the squares.
"""

import functools

import numpy as np

from ._config import EXACT_NJIT_OPTIONS
from ._numba_internals import c_view, empty, njit, smaller, zeros


@njit(**EXACT_NJIT_OPTIONS, helper=True)
def _term(a, i, shift, square):
    t = a[i] - shift
    return t * t if square else t


@njit(**EXACT_NJIT_OPTIONS, helper=True)
def _leaf_sum(a, lo, n, shift, square):
    """One leaf of NumPy's pairwise sum (at most 128 elements)."""
    if n < 8:
        res = a.dtype.type(0)
        for i in range(lo, lo + n):
            res += _term(a, i, shift, square)
        return res
    r = empty(8, a.dtype)
    for j in range(8):
        r[j] = _term(a, lo + j, shift, square)
    i = 8
    while i < n - n % 8:
        for j in range(8):
            r[j] += _term(a, lo + i + j, shift, square)
        i += 8
    res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
    while i < n:
        res += _term(a, lo + i, shift, square)
        i += 1
    return res


@njit(**EXACT_NJIT_OPTIONS, helper=True)
def _pairwise_sum(a, shift, square):
    """``np.sum`` of a 1-D array, of ``(a - shift)**2`` if ``square``.

    Callers pass ``square`` as ``np.bool_(...)``: a literal True or False
    would compile the whole sum once for each.

    NumPy's pairwise summation: leaves of at most 128 elements summed with
    eight accumulators, halves added recursively.  The recursion runs on an
    explicit stack (Numba cannot cache recursive functions): a node is
    split, its halves evaluated left first, then added.
    """
    lo_stack = empty(200, np.int64)
    n_stack = empty(200, np.int64)
    split = empty(200, np.bool_)
    values = empty(200, a.dtype)
    top = 0
    n_values = 0
    lo_stack[0], n_stack[0], split[0] = 0, a.shape[0], False
    while top >= 0:
        lo, n, halves_done = lo_stack[top], n_stack[top], split[top]
        top -= 1
        if n <= 128:
            values[n_values] = _leaf_sum(a, lo, n, shift, square)
            n_values += 1
        elif halves_done:
            n_values -= 1
            values[n_values - 1] += values[n_values]
        else:
            n2 = n // 2
            n2 -= n2 % 8
            lo_stack[top + 1], n_stack[top + 1], split[top + 1] = lo, n, True
            lo_stack[top + 2], n_stack[top + 2], split[top + 2] = lo + n2, n - n2, False
            lo_stack[top + 3], n_stack[top + 3], split[top + 3] = lo, n2, False
            top += 3
    return a.dtype.type(0) + values[0]


@njit(**EXACT_NJIT_OPTIONS, helper=True)
def column_mean_var(X):
    """``X.mean(axis=0)`` and ``np.var(X, axis=0)``, bit for bit.

    Without ``np.var``'s X-sized temporary.  NumPy reduces axis 0 of a
    C-ordered array row after row in the data's dtype (a single column:
    pairwise), and divides by the count in float64.
    """
    n_samples, n_features = X.shape
    if n_features == 1:
        column = c_view(X, n_samples)
        total = _pairwise_sum(column, X.dtype.type(0), np.bool_(False))
        mean = empty(1, X.dtype)
        mean[0] = np.float64(total) / n_samples
        total = _pairwise_sum(column, mean[0], np.bool_(True))
        variance = empty(1, X.dtype)
        variance[0] = np.float64(total) / n_samples
        return mean, variance
    acc = zeros(n_features, X.dtype)
    for r in range(n_samples):
        for i in range(n_features):
            acc[i] += X[r, i]
    mean = empty(n_features, X.dtype)
    for i in range(n_features):
        mean[i] = np.float64(acc[i]) / n_samples
    acc[:] = 0
    for r in range(n_samples):
        for i in range(n_features):
            t = X[r, i] - mean[i]
            acc[i] += t * t
    var = empty(n_features, X.dtype)
    for i in range(n_features):
        var[i] = np.float64(acc[i]) / n_samples
    return mean, var


@njit(**EXACT_NJIT_OPTIONS, helper=True)
def kmeans_tolerance(variances, tol):
    """KMeans's absolute tolerance ``np.mean(variances) * tol``, bit for bit.

    The mean and the product are rounded in the variances' dtype, as NumPy
    rounds them.
    """
    dtype = variances.dtype.type
    if tol == 0:
        return dtype(0)
    total = _pairwise_sum(variances, dtype(0), np.bool_(False))
    return dtype(np.float64(total) / variances.shape[0]) * dtype(tol)


@functools.cache
def _sum_of_ones(n, dtype):
    """``np.ones(n, dtype).sum()`` without the array (inexact in float32 past 2**24)."""
    if n <= 128:
        return dtype(n)
    n2 = n // 2
    n2 -= n2 % 8
    return dtype(_sum_of_ones(n2, dtype) + _sum_of_ones(n - n2, dtype))


@njit(**EXACT_NJIT_OPTIONS, helper=True)
def _einsum_sq_norms(xt, n_rows, out, acc):
    """``np.einsum('ij,ij->i', x, x)`` of the rows ``xt[:, :n_rows]``, in out's dtype.

    NumPy's SSE loop: 16-byte vectors (two float64 or four float32 lanes),
    blocks of four vectors added from the last to the first, the tail a
    vector at a time, then the lanes added pairwise.  ``acc`` (out's dtype,
    shape (4, at least n_rows)) holds the lanes' sums: a pass that calls
    this for every tile of rows allocates it once.
    """
    n_features = xt.shape[0]
    lanes = 2 if out.itemsize == 8 else 4
    for lane in range(lanes):
        for b in range(n_rows):
            acc[lane, b] = 0.0
    i = 0
    while i + 4 * lanes <= n_features:
        for v in range(3, -1, -1):
            for lane in range(lanes):
                for b in range(n_rows):
                    x = out.dtype.type(xt[i + v * lanes + lane, b])
                    acc[lane, b] = x * x + acc[lane, b]
        i += 4 * lanes
    while i < n_features:
        for lane in range(smaller(lanes, n_features - i)):
            for b in range(n_rows):
                x = out.dtype.type(xt[i + lane, b])
                acc[lane, b] = x * x + acc[lane, b]
        i += lanes
    for b in range(n_rows):
        if lanes == 2:
            out[b] = acc[0, b] + acc[1, b]
        else:
            out[b] = (acc[0, b] + acc[1, b]) + (acc[2, b] + acc[3, b])


@njit(**EXACT_NJIT_OPTIONS, helper=True)
def _row_norms(rows, out):
    """Squared norms of a few rows (centres) into ``out``, as ``row_norms`` rounds them.

    In ``out``'s dtype (float64 for seeding, the data's for Lloyd steps).
    """
    n_rows, n_features = rows.shape
    xt = empty((n_features, n_rows), rows.dtype)  # rows.T.copy()
    for b in range(n_rows):
        for i in range(n_features):
            xt[i, b] = rows[b, i]
    _einsum_sq_norms(xt, n_rows, out, empty((4, n_rows), out.dtype))
    return out
