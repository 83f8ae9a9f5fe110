"""Dot products of a tile of rows with four centres at a time, for k-means,
and the Lloyd step's ranking of the rows against the centres.

A tile is held transposed, ``xt`` (features, rows), so that the loops over
its rows run in vector registers.  A loop that adds one feature's products
to the dot products held in memory loads and stores a sum for each
multiply-add; here a loop over the rows takes four features of four centres
at once (sixteen multiply-adds per row, the sums in registers), which runs
about twice as fast per thread at 8 features.

The features and the centres are padded to multiples of four with zeros
(``padded_centres``; the tiles by their callers): a zero feature adds ``0 * c``, which
leaves a sum's value as it is, and a padded centre has an infinite squared
norm, so that it is never the nearest.  Each dot product is still the chain
of fused multiply-adds in feature order that GEMM forms, started from the
first product (``fma(x, c, 0)`` is ``x * c``).
"""

import numpy as np

from ._config import EXACT_NJIT_OPTIONS
from ._numba_internals import empty, larger, njit, smaller, zeros

# Dot products formed as BLAS forms them: fused multiply-adds in feature
# order, nothing reassociated.
FMA_OPTIONS = {**EXACT_NJIT_OPTIONS, "fastmath": {"contract"}}


@njit(**EXACT_NJIT_OPTIONS, helper=True)
def padded_centres(centres, cc):
    """``centres`` and their squared norms ``cc``, padded with zero features
    and with centres of infinite norm to multiples of four."""
    n_centres, n_features = centres.shape
    shape = ((n_centres + 3) // 4 * 4, (n_features + 3) // 4 * 4)
    out = zeros(shape, centres.dtype)
    out_cc = empty(out.shape[0], cc.dtype)
    out_cc[:] = np.inf
    for k in range(n_centres):
        out_cc[k] = cc[k]
        for i in range(n_features):
            out[k, i] = centres[k, i]
    return out, out_cc


@njit(inline="always", **FMA_OPTIONS)
def _four_by_four(centres, k0, i0, like):
    """Features i0 to i0 + 3 of centres k0 to k0 + 3, in ``like``'s dtype:
    four tuples, a centre each."""
    dtype = like.dtype.type
    return (
        (dtype(centres[k0, i0]), dtype(centres[k0, i0 + 1]),
         dtype(centres[k0, i0 + 2]), dtype(centres[k0, i0 + 3])),
        (dtype(centres[k0 + 1, i0]), dtype(centres[k0 + 1, i0 + 1]),
         dtype(centres[k0 + 1, i0 + 2]), dtype(centres[k0 + 1, i0 + 3])),
        (dtype(centres[k0 + 2, i0]), dtype(centres[k0 + 2, i0 + 1]),
         dtype(centres[k0 + 2, i0 + 2]), dtype(centres[k0 + 2, i0 + 3])),
        (dtype(centres[k0 + 3, i0]), dtype(centres[k0 + 3, i0 + 1]),
         dtype(centres[k0 + 3, i0 + 2]), dtype(centres[k0 + 3, i0 + 3])),
    )  # fmt: skip


@njit(inline="always", **FMA_OPTIONS)
def _row_sums(xs, b, c, dot, first):
    """Row b's dot products with four centres, carried over four more
    features: ``xs`` the features' rows of the tile, ``c`` the centres'
    coefficients (``_four_by_four``), the sums so far in ``dot``.

    Each sum one chain of fused multiply-adds: the first from zero (a
    product alone), the others from the sum so far.
    """
    dtype = dot.dtype.type
    zero = dtype(0)
    x0, x1 = dtype(xs[0][b]), dtype(xs[1][b])
    x2, x3 = dtype(xs[2][b]), dtype(xs[3][b])
    (c00, c01, c02, c03), (c10, c11, c12, c13) = c[0], c[1]
    (c20, c21, c22, c23), (c30, c31, c32, c33) = c[2], c[3]
    s0 = zero if first else dot[0, b]
    s1 = zero if first else dot[1, b]
    s2 = zero if first else dot[2, b]
    s3 = zero if first else dot[3, b]
    return (
        x3 * c03 + (x2 * c02 + (x1 * c01 + (x0 * c00 + s0))),
        x3 * c13 + (x2 * c12 + (x1 * c11 + (x0 * c10 + s1))),
        x3 * c23 + (x2 * c22 + (x1 * c21 + (x0 * c20 + s2))),
        x3 * c33 + (x2 * c32 + (x1 * c31 + (x0 * c30 + s3))),
    )


@njit(**FMA_OPTIONS, helper=True)
def four_dots(xt, n_rows, centres, k0, dot, n_features):
    """dot[j, b] = x_b . c_(k0 + j) for j < 4, in ``dot``'s dtype, over the
    first ``n_features`` features (a multiple of four).

    ``xt`` and ``centres`` are padded (see the module docstring); the rows
    are ``xt[:, :n_rows]``, and products are formed in ``dot``'s dtype (the
    data's, or float64 for float32 data where scikit-learn upcasts).
    """
    d0, d1, d2, d3 = dot[0], dot[1], dot[2], dot[3]
    for i0 in range(0, n_features, 4):
        c = _four_by_four(centres, k0, i0, dot)
        xs = (xt[i0], xt[i0 + 1], xt[i0 + 2], xt[i0 + 3])
        first = i0 == 0
        for b in range(n_rows):
            d0[b], d1[b], d2[b], d3[b] = _row_sums(xs, b, c, dot, first)


@njit(**FMA_OPTIONS, helper=True)
def nearest_centres(xt, n_rows, centres, cc, dot, best, second, label):
    """label[b] = argmin_k |c_k|^2 - 2 x_b.c_k in the data's dtype, first of equals.

    The ranking of scikit-learn's Lloyd step, with the dot products as GEMM
    forms them; ``xt``, ``centres`` and ``cc`` are padded (see the module
    docstring).  ``best`` gets the smallest value, ``second`` the smallest
    of the other centres' (infinite with one centre); ``dot`` (the data's
    dtype) holds partial sums.
    """
    for b in range(n_rows):
        best[b] = np.inf
        second[b] = np.inf
        label[b] = 0
    for k0 in range(0, centres.shape[0], 4):
        _rank_four(xt, n_rows, centres, cc, k0, dot, best, second, label)


@njit(inline="always", **FMA_OPTIONS)
def _rank_four(xt, n_rows, centres, cc, k0, dot, best, second, label):
    """Rank the rows against centres k0 to k0 + 3 too: ``best``, ``second``
    and ``label`` (each row's smallest ``|c|^2 - 2 x.c`` so far, the smallest
    of the other centres', and its centre) updated, the first of equals kept.

    ``four_dots`` forms the dot products up to the last four features; the
    last four's multiply-adds and the ranking run in one loop, the products
    and the values held in registers.  ``dot`` (the data's dtype) holds the
    partial sums.  ``2 x.c`` is exact, so ``|c|^2 - 2 x.c`` rounds once, fused
    or not.
    """
    two = dot.dtype.type(2)
    last = centres.shape[1] - 4
    four_dots(xt, n_rows, centres, k0, dot, last)
    c = _four_by_four(centres, k0, last, dot)
    cc0, cc1, cc2, cc3 = cc[k0], cc[k0 + 1], cc[k0 + 2], cc[k0 + 3]
    k = np.int32(k0)
    xs = (xt[last], xt[last + 1], xt[last + 2], xt[last + 3])
    first = last == 0
    for b in range(n_rows):
        e0, e1, e2, e3 = _row_sums(xs, b, c, dot, first)
        v0, v1, v2, v3 = cc0 - two * e0, cc1 - two * e1, cc2 - two * e2, cc3 - two * e3
        ranked = (best[b], second[b], label[b])
        ranked = _ranked_with(v0, k, ranked)
        ranked = _ranked_with(v1, k + 1, ranked)
        ranked = _ranked_with(v2, k + 2, ranked)
        best[b], second[b], label[b] = _ranked_with(v3, k + 3, ranked)


@njit(inline="always", **FMA_OPTIONS)
def _ranked_with(value, centre, ranked):
    """``ranked`` (the smallest value so far, the smallest of the other
    centres', the centre of the smallest) with ``centre``'s ``value`` too,
    the first of equals kept.  Without branches, so that the loop that
    ranks runs in vector registers."""
    low, low2, at = ranked
    return (
        smaller(value, low),
        smaller(low2, larger(value, low)),
        centre if value < low else at,
    )
