"""Dot products of a tile of rows with four centres at a time, for k-means.

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
from ._numba_internals import empty, njit, zeros

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


@njit(**FMA_OPTIONS, helper=True)
def four_dots(xt, n_rows, centres, k0, dot):
    """dot[j, b] = x_b . c_(k0 + j) for j < 4, in ``dot``'s dtype.

    ``xt`` and ``centres`` are padded (see the module docstring); the rows
    are ``xt[:, :n_rows]``, and products are formed in ``dot``'s dtype (the
    data's, or float64 for float32 data where scikit-learn upcasts).
    """
    dtype = dot.dtype.type
    zero = dtype(0)
    d0, d1, d2, d3 = dot[0], dot[1], dot[2], dot[3]
    for i0 in range(0, centres.shape[1], 4):
        c00, c01 = dtype(centres[k0, i0]), dtype(centres[k0, i0 + 1])
        c02, c03 = dtype(centres[k0, i0 + 2]), dtype(centres[k0, i0 + 3])
        c10, c11 = dtype(centres[k0 + 1, i0]), dtype(centres[k0 + 1, i0 + 1])
        c12, c13 = dtype(centres[k0 + 1, i0 + 2]), dtype(centres[k0 + 1, i0 + 3])
        c20, c21 = dtype(centres[k0 + 2, i0]), dtype(centres[k0 + 2, i0 + 1])
        c22, c23 = dtype(centres[k0 + 2, i0 + 2]), dtype(centres[k0 + 2, i0 + 3])
        c30, c31 = dtype(centres[k0 + 3, i0]), dtype(centres[k0 + 3, i0 + 1])
        c32, c33 = dtype(centres[k0 + 3, i0 + 2]), dtype(centres[k0 + 3, i0 + 3])
        x0s, x1s, x2s, x3s = xt[i0], xt[i0 + 1], xt[i0 + 2], xt[i0 + 3]
        first = i0 == 0
        for b in range(n_rows):
            x0, x1 = dtype(x0s[b]), dtype(x1s[b])
            x2, x3 = dtype(x2s[b]), dtype(x3s[b])
            # Each sum one chain of fused multiply-adds: the first from zero
            # (a product alone), the others from the sum so far.
            s0 = zero if first else d0[b]
            s1 = zero if first else d1[b]
            s2 = zero if first else d2[b]
            s3 = zero if first else d3[b]
            d0[b] = x3 * c03 + (x2 * c02 + (x1 * c01 + (x0 * c00 + s0)))
            d1[b] = x3 * c13 + (x2 * c12 + (x1 * c11 + (x0 * c10 + s1)))
            d2[b] = x3 * c23 + (x2 * c22 + (x1 * c21 + (x0 * c20 + s2)))
            d3[b] = x3 * c33 + (x2 * c32 + (x1 * c31 + (x0 * c30 + s3)))
