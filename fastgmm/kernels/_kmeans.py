"""k-means for the default initialisation, with scikit-learn's labels.

scikit-learn's GaussianMixture starts from
``KMeans(n_clusters, n_init=1, random_state=random_state).fit(X).labels_``.
:func:`kmeans_labels` runs the same algorithm (k-means++ seeding, then Lloyd
iterations), draws from ``random_state`` exactly what KMeans draws, in the
same order, and follows KMeans's arithmetic:

- the data are centred on their column mean; the tolerance is
  ``mean(var(X, axis=0)) * tol``, the variances summed as NumPy sums them;
- seeding distances are ``(-2 x.c + |c|^2) + |x|^2`` in float64 (float32
  data are upcast, as ``euclidean_distances`` does), the norms summed as
  ``np.einsum`` sums them;
- Lloyd distances are ``|c|^2 - 2 x.c`` in the data's dtype, the first of
  equal minima wins; dot products are fused multiply-adds in feature order,
  as OpenBLAS's GEMM kernels form them;
- centres are weighted sums times ``1 / weight``, empty clusters relocated
  and convergence declared as in ``_kmeans_single_lloyd``.

A Lloyd step ranks a row against every centre only where Hamerly's bounds
(carried from step to step, with the ranking's rounding error as slack)
leave its nearest centre in doubt; the labels are the full ranking's.  The
clusters' sums are kept in float64 from step to step: a row that changes
label moves from one cluster's sum to the other's, so a step reads only
the rows in doubt, not all of X.

Labels therefore agree with scikit-learn's except where two distances tie
to the last bits and the rounding of scikit-learn's BLAS calls or of its
per-thread sums decides (see ``tests/test_kmeans.py``).

Unlike KMeans it never copies X: each tile of rows is centred as it is read
(``x - mean`` rounds the same either way), and the state kept per row is a
label (int32), its two bounds and, while seeding, one distance.
"""

import functools
import warnings
from typing import NamedTuple

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ._config import (
    BLOCK_ROWS,
    EXACT_NJIT_OPTIONS,
    TILE_ROWS,
    runs_in_parallel,
)
from ._copy import copy_into
from ._numba_internals import (
    c_view,
    empty,
    epsilon,
    larger,
    njit,
    prefetch_row,
    smaller,
    start_threads,
    zeros,
)
from ._reduction import ordered_block_sums, register_block_sums
from ._specialise import kernel

# Dot products as BLAS computes them: fused multiply-adds in feature order,
# nothing reassociated.  Every other kernel rounds each operation as the
# NumPy or Cython code it mirrors does (EXACT_NJIT_OPTIONS: no fast-math).
_FMA_OPTIONS = {**EXACT_NJIT_OPTIONS, "fastmath": {"contract"}}

# KMeans's defaults, which GaussianMixture's k-means start keeps: the most
# Lloyd iterations, and the tolerance on the squared shift of the centres
# relative to the mean feature variance.
KMEANS_MAX_ITER = 300
KMEANS_TOL = 1e-4

# How a run of Lloyd iterations ended.
_RUNNING, _CONVERGED, _STRICTLY_CONVERGED, _EMPTY_CLUSTER = 0, 1, 2, 3


# ---------------------------------------------------------------------------
# Sums as NumPy rounds them


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
def _einsum_sq_norms(xt, n_rows, out):
    """``np.einsum('ij,ij->i', x, x)`` of the rows ``xt[:, :n_rows]``, in out's dtype.

    NumPy's SSE loop: 16-byte vectors (two float64 or four float32 lanes),
    blocks of four vectors added from the last to the first, the tail a
    vector at a time, then the lanes added pairwise.
    """
    n_features = xt.shape[0]
    lanes = 2 if out.itemsize == 8 else 4
    acc = zeros((lanes, n_rows), out.dtype)
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
    _einsum_sq_norms(xt, n_rows, out)
    return out


# ---------------------------------------------------------------------------
# Leaf kernels: one tile of rows, transposed to (n_features, rows) so that the
# inner loops run over contiguous samples


@njit(**EXACT_NJIT_OPTIONS, helper=True)
def _centred_tile(X, mean, start, stop, xt):
    """Rows ``start:stop`` of ``X - mean``, transposed, into ``xt[:, :rows]``."""
    for b in range(stop - start):
        for i in range(X.shape[1]):
            xt[i, b] = X[start + b, i] - mean[i]


@njit(**_FMA_OPTIONS, helper=True)
def _seeding_distances(xt, n_rows, xx, centre, cc, out):
    """out[b] = max((-2 x_b.c + |c|^2) + |x_b|^2, 0), in float64.

    As ``_euclidean_distances`` computes them for k-means++: the dot product
    as GEMM forms it, then the squared norms added one at a time.
    """
    for b in range(n_rows):
        out[b] = 0.0
    for i in range(xt.shape[0]):
        c = np.float64(centre[i])
        for b in range(n_rows):
            out[b] += np.float64(xt[i, b]) * c
    for b in range(n_rows):
        out[b] = larger((-2.0 * out[b] + cc) + xx[b], 0.0)


@njit(**_FMA_OPTIONS, helper=True)
def _nearest_centres(xt, n_rows, centres, cc, dot, best, second, label):
    """label[b] = argmin_k |c_k|^2 - 2 x_b.c_k in the data's dtype, first of equals.

    The ranking of scikit-learn's Lloyd step, with the dot products as GEMM
    forms them.  ``best`` gets the smallest value, ``second`` the smallest
    of the other centres' (infinite with one centre).
    """
    two = xt.dtype.type(2)
    for b in range(n_rows):
        best[b] = np.inf
        second[b] = np.inf
        label[b] = 0
    for k in range(centres.shape[0]):
        # fma(x, c, 0) is x * c: the first product starts the sum.
        c = centres[k, 0]
        for b in range(n_rows):
            dot[b] = xt[0, b] * c
        for i in range(1, xt.shape[0]):
            c = centres[k, i]
            for b in range(n_rows):
                dot[b] += xt[i, b] * c
        # Without branches, so that the loop runs in vector registers.
        cck, kk = cc[k], np.int32(k)
        for b in range(n_rows):
            d = cck - two * dot[b]
            closest = best[b]
            second[b] = smaller(second[b], larger(d, closest))
            label[b] = kk if d < closest else label[b]
            best[b] = smaller(d, closest)


@njit(**EXACT_NJIT_OPTIONS, helper=True)
def _weighted_tile_sum(v, sample_weight, t0, n_rows):
    """sum_b w[t0 + b] v[b] over the tile's ``n_rows`` rows (unit weights if
    ``sample_weight`` is empty), in float64.

    Eight interleaved partial sums (independent chains, not one serial
    chain), added in a fixed order: the result does not depend on the
    number of threads.
    """
    unit = sample_weight.shape[0] == 0
    acc = zeros(8, np.float64)
    n8 = n_rows - n_rows % 8
    for b0 in range(0, n8, 8):
        for j in range(8):
            w = 1.0 if unit else np.float64(sample_weight[t0 + b0 + j])
            acc[j] += np.float64(v[b0 + j]) * w
    for b in range(n8, n_rows):
        w = 1.0 if unit else np.float64(sample_weight[t0 + b])
        acc[b - n8] += np.float64(v[b]) * w
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + (
        (acc[4] + acc[5]) + (acc[6] + acc[7])
    )


# ---------------------------------------------------------------------------
# Passes over the rows, through ``fastgmm.kernels._reduction.ordered_block_sums``:
# the same bits for any number of threads.


class _SeedingPass(NamedTuple):
    """The inputs of ``seeding_pass``."""

    X: np.ndarray
    mean: np.ndarray
    sample_weight: np.ndarray
    centres: np.ndarray
    cc: np.ndarray
    closest: np.ndarray


@register_block_sums(_SeedingPass)
@njit(**EXACT_NJIT_OPTIONS, helper=True)
def _seeding_block(args, start, stop, out):
    """out[c] += sum_i w_i min(closest_i, |x_i - c|^2) over one block of rows.

    With a single centre, ``closest`` takes the minimum too.
    """
    X, closest, centres = args.X, args.closest, args.centres
    xt = empty((X.shape[1], TILE_ROWS), X.dtype)
    xx = empty(TILE_ROWS, np.float64)
    d = empty(TILE_ROWS, np.float64)
    nearest = empty(TILE_ROWS, closest.dtype)
    for t0 in range(start, stop, TILE_ROWS):
        n_rows = smaller(TILE_ROWS, stop - t0)
        _centred_tile(X, args.mean, t0, t0 + n_rows, xt)
        _einsum_sq_norms(xt, n_rows, xx)
        for c in range(centres.shape[0]):
            _seeding_distances(xt, n_rows, xx, centres[c], args.cc[c], d)
            for b in range(n_rows):
                nearest[b] = smaller(closest[t0 + b], closest.dtype.type(d[b]))
            out[c] += _weighted_tile_sum(nearest, args.sample_weight, t0, n_rows)
        if centres.shape[0] == 1:
            copy_into(closest[t0 : t0 + n_rows], nearest[:n_rows])
    return 0.0


@kernel(**EXACT_NJIT_OPTIONS, helper=True)
def seeding_pass(X, mean, sample_weight, centres, cc, closest):
    """sum_i w_i min(closest_i, |x_i - c|^2) for each centre c, in float64.

    ``closest`` holds each row's squared distance to its nearest centre so
    far, in the data's dtype (float32 distances are rounded from float64, as
    scikit-learn rounds them).  With several centres (the candidates of a
    k-means++ step) it is left unchanged; with a single centre (the one
    chosen) it is updated, and the potential returned is its new weighted
    sum.  One kernel, not two with a flag: a literal flag would compile it
    twice.
    """
    seeding = _SeedingPass(X, mean, sample_weight, centres, cc, closest)
    potentials = ordered_block_sums(
        seeding, X.shape[0], centres.shape[0], empty(0, np.float64)
    )
    return potentials[1]


class _LloydPass(NamedTuple):
    """The inputs of ``lloyd_pass``."""

    X: np.ndarray
    mean: np.ndarray
    sample_weight: np.ndarray
    centres: np.ndarray
    cc: np.ndarray
    labels: np.ndarray
    bounds: np.ndarray
    shift: np.ndarray
    # The largest shift, its centre, and the largest of the others'.
    farthest: float
    farthest_k: int
    farther: float
    # The largest norm of a centre.
    reach: float


# Rounding slack of the bounds' own float64 arithmetic (relative, one-sided).
_UP = 1.0 + 2.0**-48
_DOWN = 1.0 - 2.0**-48


@register_block_sums(_LloydPass)
@njit(**EXACT_NJIT_OPTIONS, helper=True)
def _lloyd_block(args, start, stop, out):
    """Labels of one block's rows, and how the clusters' sums change; labels changed.

    ``out`` holds, in float64, the change of the sums of the rows of each
    cluster, of the clusters' weights and of their counts of rows of
    positive weight (see ``_lloyd_layout``).  Only a row whose label
    changes moves its weighted row from one cluster's sums to another's,
    so a pass over rows that keep their labels reads no more than their
    labels and bounds.

    A row is ranked against every centre only where its bounds (Hamerly's:
    the distance to its centre, and to any other, moved on by how far the
    centres moved) leave the ranking in doubt.  The bounds are kept with
    four times the rounding error of the ranking as slack, so a row they
    keep would have kept its label in the full ranking too: the labels are
    the same bits as ranking every row.
    """
    X, mean, labels, bounds, centres, shift = (
        args.X, args.mean, args.labels, args.bounds, args.centres, args.shift,
    )  # fmt: skip
    n_features = centres.shape[1]
    farthest, farthest_k, farther = args.farthest, args.farthest_k, args.farther
    reach = args.reach
    # |exact - rounded| of |c|^2 - 2 x.c is below gamma_(d+2) (|c| + |x|)^2
    # for unit roundoff eps / 2: the margin between two of them, 4x over.
    rounding = 8.0 * (n_features + 2) * epsilon(X)
    # Rows in doubt wait in ``xt`` (centred, by column) until a tile's worth
    # has gathered: ranking a few rows at a time would not fill the vector
    # registers.
    xt = empty((n_features, 2 * TILE_ROWS), X.dtype)
    waiting = empty(2 * TILE_ROWS, np.int64)
    n_waiting = stop - stop  # (a literal 0 would compile the ranking twice)
    candidates = empty(TILE_ROWS, np.int64)
    dot = empty(2 * TILE_ROWS, X.dtype)
    best = empty(2 * TILE_ROWS, X.dtype)
    second = empty(2 * TILE_ROWS, X.dtype)
    label = empty(2 * TILE_ROWS, np.int32)
    changed = 0
    for t0 in range(start, stop, TILE_ROWS):
        n_rows = smaller(TILE_ROWS, stop - t0)
        # The bounds moved on with the centres.  |x| <= |x - c_a| + |c_a|
        # bounds the norm in the rounding margin.  The rows left in doubt
        # are asked for from memory all at once.
        n_candidates = 0
        for b in range(n_rows):
            r = t0 + b
            a = labels[r]
            up = (bounds[0, r] + shift[larger(a, 0)]) * _UP
            moved = farther if a == farthest_k else farthest
            lo = larger(bounds[1, r] - moved, 0.0) * _DOWN
            edge = 2.0 * reach + up
            bounds[0, r] = up
            bounds[1, r] = lo
            if a < 0 or lo * lo - up * up <= rounding * edge * edge:
                prefetch_row(X, r)
                candidates[n_candidates] = r
                n_candidates += 1
        # Tighten their upper bounds to the distance itself; the rows still
        # in doubt wait to be ranked.
        for j in range(n_candidates):
            r = candidates[j]
            a = labels[r]
            if a >= 0:
                dist = 0.0
                for i in range(n_features):
                    t = np.float64(X[r, i] - mean[i]) - np.float64(centres[a, i])
                    dist += t * t
                up = np.sqrt(dist) * _UP
                bounds[0, r] = up
                lo = bounds[1, r]
                edge = 2.0 * reach + up
                if lo * lo - up * up > rounding * edge * edge:
                    continue
            waiting[n_waiting] = r
            for i in range(n_features):
                xt[i, n_waiting] = X[r, i] - mean[i]
            n_waiting += 1
        if n_waiting < TILE_ROWS and t0 + TILE_ROWS < stop:
            continue
        _nearest_centres(xt, n_waiting, centres, args.cc, dot, best, second, label)
        changed += _take_ranking(
            args, waiting, n_waiting, best, second, label, rounding, out
        )
        n_waiting = stop - stop
    return np.float64(changed)


@njit(**EXACT_NJIT_OPTIONS, helper=True)
def _take_ranking(args, rows, n_rows, best, second, label, rounding, out):
    """Bounds and labels of the ranked ``rows[:n_rows]``; labels changed.

    ``best`` and ``second`` are each row's two smallest ``|c|^2 - 2 x.c``,
    ``label`` its nearest centre.  A row whose label changes moves, with its
    weight, from its old cluster (none if -1) to its new one in ``out``'s
    float64 sums (``_lloyd_layout``); the centred, weighted row is rounded
    in the data's dtype, as KMeans rounds it (``x * 1`` is exact).
    """
    X, mean, labels, bounds = args.X, args.mean, args.labels, args.bounds
    n_clusters, n_features = args.centres.shape
    sums, weights, counts = _lloyd_layout(out, n_clusters, n_features)
    unit = args.sample_weight.shape[0] == 0
    changed = 0
    for j in range(n_rows):
        r = rows[j]
        xx = 0.0
        for i in range(n_features):
            x = np.float64(X[r, i] - mean[i])
            xx += x * x
        edge = args.reach + np.sqrt(xx)
        slack = 0.5 * rounding * edge * edge
        bounds[0, r] = np.sqrt(larger(np.float64(best[j]) + xx + slack, 0.0)) * _UP
        bounds[1, r] = np.sqrt(larger(np.float64(second[j]) + xx - slack, 0.0)) * _DOWN
        old, new = labels[r], label[j]
        if old == new:
            continue
        changed += 1
        labels[r] = new
        w = X.dtype.type(1) if unit else args.sample_weight[r]
        w64, positive = np.float64(w), np.float64(w > 0)
        weights[new] += w64
        counts[new] += positive
        for i in range(n_features):
            sums[new, i] += np.float64((X[r, i] - mean[i]) * w)
        if old >= 0:
            weights[old] -= w64
            counts[old] -= positive
            for i in range(n_features):
                sums[old, i] -= np.float64((X[r, i] - mean[i]) * w)
    return changed


@njit(**EXACT_NJIT_OPTIONS, helper=True)
def _lloyd_layout(flat, n_clusters, n_features):
    """Cluster sums (n_clusters, n_features), weights and counts of rows of
    positive weight, as views of ``flat``."""
    n_sums = n_clusters * n_features
    sums = c_view(flat[:n_sums], (n_clusters, n_features))
    return sums, flat[n_sums : n_sums + n_clusters], flat[n_sums + n_clusters :]


@njit(**EXACT_NJIT_OPTIONS, helper=True)
def lloyd_state(n_samples, centres):
    """Fresh ``(bounds, previous)`` for ``lloyd_pass``: no row's centre known."""
    bounds = zeros((2, n_samples), np.float64)
    bounds[0] = np.inf
    previous = empty(centres.shape, centres.dtype)
    copy_into(previous, centres)
    return bounds, previous


@kernel(**EXACT_NJIT_OPTIONS, helper=True)
def lloyd_pass(X, mean, sample_weight, centres, cc, labels, bounds, previous):
    """One Lloyd step: new labels, and how the clusters' sums change.

    Returns (labels changed, and the changes of the clusters' weighted sums
    of rows, of their weights and of their counts of rows of positive
    weight), in float64: the rows that changed label, moved from their old
    cluster (none for a label of -1) to their new one.

    ``bounds`` (2, n_samples) holds each row's upper bound on the distance
    to its centre and lower bound on the distance to any other, for the
    centres ``previous``; the pass moves them on to
    ``centres``.  Labels of -1 rank a row against every centre; fresh
    bounds (see ``lloyd_state``: infinite upper bounds) make no row keep its
    centre without computing the distance to it.
    """
    n_clusters, n_features = centres.shape
    shift = empty(n_clusters, np.float64)
    reach = 0.0
    top, top_k, second = -np.inf, 0, -np.inf
    for k in range(n_clusters):
        moved = 0.0
        norm = 0.0
        for i in range(n_features):
            step = np.float64(centres[k, i]) - np.float64(previous[k, i])
            moved += step * step
            norm += np.float64(centres[k, i]) * np.float64(centres[k, i])
            previous[k, i] = centres[k, i]
        shift[k] = np.sqrt(moved) * _UP
        reach = larger(reach, np.sqrt(norm) * _UP)
        if shift[k] > top:
            top, top_k, second = shift[k], k, top
        elif shift[k] > second:
            second = shift[k]
    lloyd = _LloydPass(
        X, mean, sample_weight, centres, cc, labels, bounds, shift,
        top, top_k, second, reach,
    )  # fmt: skip
    changed, flat = ordered_block_sums(
        lloyd, X.shape[0], n_clusters * (n_features + 2), shift
    )
    sums, weights, counts = _lloyd_layout(flat, n_clusters, n_features)
    return np.int64(changed), sums, weights, counts


# ---------------------------------------------------------------------------
# k-means++ seeding, as ``sklearn.cluster._kmeans._kmeans_plusplus``


@njit(**EXACT_NJIT_OPTIONS, helper=True)
def _first_centre(sample_weight, n_samples, total_weight, u):
    """``RandomState.choice(n_samples, p=w / w.sum())`` given its uniform draw ``u``.

    ``p`` is rounded in the weights' dtype, accumulated in float64 as
    ``np.cumsum`` does, and searched (side='right') as ``choice`` searches
    its normalised CDF; nothing is stored per row.
    """
    one = sample_weight.dtype.type(1)
    last = 0.0
    for i in range(n_samples):
        w = one if sample_weight.shape[0] == 0 else sample_weight[i]
        last += np.float64(w / total_weight)
    cdf = 0.0
    for i in range(n_samples):
        w = one if sample_weight.shape[0] == 0 else sample_weight[i]
        cdf += np.float64(w / total_weight)
        if cdf / last > u:
            return i
    return n_samples - 1


@njit(**EXACT_NJIT_OPTIONS, helper=True)
def _argsort_few(values):
    """Stable argsort of a few values (insertion sort; np.argsort compiles slowly)."""
    order = empty(values.shape[0], np.int64)
    for i in range(values.shape[0]):
        order[i] = i
    for i in range(1, values.shape[0]):
        j = i
        while j > 0 and values[order[j - 1]] > values[order[j]]:
            order[j - 1], order[j] = order[j], order[j - 1]
            j -= 1
    return order


@njit(**EXACT_NJIT_OPTIONS, helper=True)
def cumulative_search(sample_weight, closest, values):
    """``np.searchsorted(np.cumsum(w * closest), values)`` without the cumsum.

    ``values`` must be sorted.  The running sum is kept in ``closest``'s
    dtype, as ``np.cumsum`` keeps it; a value past the total gets
    ``n_samples``.
    """
    n_samples = closest.shape[0]
    indices = empty(values.shape[0], np.int64)
    indices[:] = n_samples
    total = closest.dtype.type(0)
    v = 0
    for i in range(n_samples):
        if sample_weight.shape[0] == 0:
            total += closest[i]
        else:
            total += sample_weight[i] * closest[i]
        while v < values.shape[0] and total >= values[v]:
            indices[v] = i
            v += 1
        if v == values.shape[0]:
            break
    return indices


@kernel(**EXACT_NJIT_OPTIONS, helper=True)
def _seed_centres(X, mean, sample_weight, first, uniforms, n_trials):
    """Centred k-means++ centres from the first one's row and KMeans's draws.

    ``uniforms`` holds the ``n_trials`` draws of each further centre
    (``uniform(size=n_trials)``), in order.
    """
    n_samples, n_features = X.shape
    n_clusters = 1 + uniforms.shape[0] // n_trials
    dtype = X.dtype.type
    centres = empty((n_clusters, n_features), X.dtype)
    for i in range(n_features):
        centres[0, i] = X[first, i] - mean[i]
    closest = empty(n_samples, X.dtype)
    closest[:] = np.inf
    cc = _row_norms(centres[:1], empty(1, np.float64))
    current_pot = dtype(
        seeding_pass(X, mean, sample_weight, centres[:1], cc, closest)[0]
    )
    candidates = empty((n_trials, n_features), X.dtype)
    ids = empty(n_trials, np.int64)
    for c in range(1, n_clusters):
        u = uniforms[(c - 1) * n_trials : c * n_trials]
        rand_vals = empty(n_trials, np.float64)
        for t in range(n_trials):
            rand_vals[t] = u[t] * np.float64(current_pot)
        # searchsorted of the draws in sorted order, put back in draw order.
        order = _argsort_few(rand_vals)
        in_order = empty(n_trials, np.float64)
        for t in range(n_trials):
            in_order[t] = rand_vals[order[t]]
        found = cumulative_search(sample_weight, closest, in_order)
        for t in range(n_trials):
            ids[order[t]] = smaller(found[t], n_samples - 1)
        for t in range(n_trials):
            for i in range(n_features):
                candidates[t, i] = X[ids[t], i] - mean[i]
        cc = _row_norms(candidates, empty(n_trials, np.float64))
        pots = seeding_pass(X, mean, sample_weight, candidates, cc, closest)
        # Compared in the data's dtype, the first of equals, as scikit-learn's.
        best = 0
        current_pot = dtype(pots[0])
        for t in range(1, n_trials):
            if dtype(pots[t]) < current_pot:
                best = t
                current_pot = dtype(pots[t])
        copy_into(centres[c], candidates[best])
        seeding_pass(X, mean, sample_weight, centres[c : c + 1], cc[best : best + 1],
                     closest)  # fmt: skip
    return centres


# ---------------------------------------------------------------------------
# Lloyd iterations, as ``sklearn.cluster._kmeans._kmeans_single_lloyd``


@njit(**EXACT_NJIT_OPTIONS, helper=True)
def _finish_iteration(centres, sums, weights, changed, tol):
    """New centres from a step's sums, and whether the iterations have converged.

    ``_average_centers`` (sums times ``1 / weight``, the reciprocal in float64;
    an empty cluster takes the heaviest cluster's row as the loop has left
    it), ``_center_shift`` (squares summed four features at a time), then
    strict convergence (no label changed) or ``sum(shift**2) <= tol``.
    ``sums`` and ``weights`` (float64) are rounded to the centres' dtype
    first, as KMeans holds them.
    """
    n_clusters, n_features = sums.shape
    dtype = centres.dtype.type
    new = empty(sums.shape, centres.dtype)
    for k in range(n_clusters):
        for i in range(n_features):
            new[k, i] = dtype(sums[k, i])
    # np.argmax: the first maximum (weights are finite and not negative).
    heaviest = 0
    for k in range(1, n_clusters):
        if dtype(weights[k]) > dtype(weights[heaviest]):
            heaviest = k
    for k in range(n_clusters):
        if dtype(weights[k]) > 0:
            alpha = dtype(1.0 / np.float64(dtype(weights[k])))
            for i in range(n_features):
                new[k, i] *= alpha
        else:
            for i in range(n_features):
                new[k, i] = new[heaviest, i]
    if changed == 0:
        return new, _STRICTLY_CONVERGED
    shift = empty(n_clusters, centres.dtype)
    for k in range(n_clusters):
        total = dtype(0)
        i = 0
        while i + 4 <= n_features:
            t0 = new[k, i] - centres[k, i]
            t1 = new[k, i + 1] - centres[k, i + 1]
            t2 = new[k, i + 2] - centres[k, i + 2]
            t3 = new[k, i + 3] - centres[k, i + 3]
            total += ((t0 * t0 + t1 * t1) + t2 * t2) + t3 * t3
            i += 4
        while i < n_features:
            t = new[k, i] - centres[k, i]
            total += t * t
            i += 1
        shift[k] = np.sqrt(total)
    if _pairwise_sum(shift, shift.dtype.type(0), np.bool_(True)) <= tol:
        return new, _CONVERGED
    return new, _RUNNING


@njit(**EXACT_NJIT_OPTIONS, helper=True)
def _add_changes(totals, changes):
    """Add a Lloyd step's changes to the clusters' totals; the number of
    clusters left empty.

    A cluster without a row of positive weight has weight 0 and sums 0
    exactly, whatever the rounding of the rows that came and went.
    """
    sums, weights, counts = totals
    d_sums, d_weights, d_counts = changes
    n_empty = 0
    for k in range(counts.shape[0]):
        weights[k] += d_weights[k]
        counts[k] += d_counts[k]
        for i in range(sums.shape[1]):
            sums[k, i] += d_sums[k, i]
        if counts[k] == 0:
            weights[k] = 0.0
            sums[k, :] = 0.0
            n_empty += 1
    return n_empty


@kernel(**EXACT_NJIT_OPTIONS, helper=True)
def _lloyd_iterations(
    X, mean, sample_weight, centres, labels, bounds, previous, totals, tol, max_iter
):
    """Up to ``max_iter`` Lloyd iterations.

    ``totals`` (sums, weights and counts of rows of positive weight, in
    float64) are the clusters' as the labels stand, kept up to date in
    place.  Stops at convergence, or before finishing an iteration that
    left a cluster empty (relocation is done by the caller).  Returns
    (iterations finished, state, centres, and the number of labels the last
    step changed).
    """
    changed = 0
    for it in range(max_iter):
        cc = _row_norms(centres, empty(centres.shape[0], centres.dtype))
        changed, d_sums, d_weights, d_counts = lloyd_pass(
            X, mean, sample_weight, centres, cc, labels, bounds, previous
        )
        if _add_changes(totals, (d_sums, d_weights, d_counts)):
            return it, _EMPTY_CLUSTER, centres, changed
        sums, weights, _ = totals
        centres, state = _finish_iteration(centres, sums, weights, changed, tol)
        if state != _RUNNING:
            return it + 1, state, centres, changed
    return max_iter, _RUNNING, centres, changed


@njit(**EXACT_NJIT_OPTIONS, helper=True)
def _n_distinct(labels, n_clusters):
    """``len(set(labels))`` (``np.bincount`` would copy the labels to int64)."""
    seen = zeros(n_clusters, np.bool_)
    count = 0
    for label in labels:
        count += not seen[label]
        seen[label] = True
    return count


def _n_distinct_labels(labels, n_clusters):
    """``_n_distinct`` from Python, in NumPy (once per fit: not worth a
    compiled copy with its Python wrapper)."""
    seen = np.zeros(n_clusters, dtype=bool)
    seen[labels] = True
    return int(np.count_nonzero(seen))


def _relocate_empty_clusters(X, mean, weights, centres, labels, sums, cluster_weights,
                             chunk_rows=65536):  # fmt: skip
    """``_relocate_empty_clusters_dense``, in place (rare: NumPy is fine).

    Each empty cluster takes one of the rows farthest from their centres.
    The distances are computed a chunk of rows at a time, each rounded as
    NumPy rounds it over the whole centred array.
    """
    empty = np.flatnonzero(cluster_weights == 0)
    distances = np.empty(X.shape[0], dtype=X.dtype)
    for start in range(0, X.shape[0], chunk_rows):
        rows = slice(start, start + chunk_rows)
        distances[rows] = (((X[rows] - mean) - centres[labels[rows]]) ** 2).sum(axis=1)
    far = np.argpartition(distances, -len(empty))[: -len(empty) - 1 : -1]
    if np.max(distances) == 0:
        return  # more clusters than distinct points
    for new, far_idx in zip(empty, far):
        w = X.dtype.type(1) if len(weights) == 0 else weights[far_idx]
        old = labels[far_idx]
        row = (X[far_idx] - mean) * w
        sums[old] -= row
        sums[new] = row
        cluster_weights[new] = w
        cluster_weights[old] -= w


# ---------------------------------------------------------------------------
# The algorithm, step for step as KMeans.fit with n_init=1


@kernel(**EXACT_NJIT_OPTIONS)
def kmeans_run(X, weights, total_weight, first, u, uniforms, n_trials, tol, max_iter,
               labels):  # fmt: skip
    """k-means++ from KMeans's draws, then up to ``max_iter`` Lloyd iterations.

    The whole of ``kmeans_labels`` but for the rare relocation of an empty
    cluster, in one compiled call: the in-memory start runs it, and so does
    each group of ``BatchGaussianMixture``.  ``first`` is the first centre's
    row, or -1 to draw it from ``u`` as ``choice(p=w / w.sum())`` draws it;
    ``tol`` is relative, as KMeans's.  Writes the labels into ``labels``;
    returns (state, iterations done, and what relocating an empty cluster
    and going on needs: the column mean, the absolute tolerance, centres,
    the clusters' totals (see ``_lloyd_iterations``), the labels the last step
    changed, the bounds and previous centres).  The labels are final unless state is
    ``_EMPTY_CLUSTER``.
    """
    n_samples = X.shape[0]
    mean, variances = column_mean_var(X)
    tol = kmeans_tolerance(variances, tol)
    if first < 0:
        first = _first_centre(weights, n_samples, total_weight, u)
    centres = _seed_centres(X, mean, weights, first, uniforms, n_trials)
    labels[:] = -1
    bounds, previous = lloyd_state(n_samples, centres)
    # The clusters' (sums, weights, counts of rows of positive weight) as
    # the labels stand, kept by _lloyd_iterations.
    n_clusters = centres.shape[0]
    totals = (
        zeros(centres.shape, np.float64),
        zeros(n_clusters, np.float64),
        zeros(n_clusters, np.float64),
    )
    n_iter, state, centres, changed = _lloyd_iterations(
        X, mean, weights, centres, labels, bounds, previous, totals, tol, max_iter
    )
    _final_labels(X, mean, weights, centres, labels, bounds, previous, state)
    return state, n_iter, mean, tol, centres, totals, changed, bounds, previous


@kernel(**EXACT_NJIT_OPTIONS)
def kmeans_go_on(X, weights, max_iter, done, labels, mean, tol, centres, totals,
                 changed, bounds, previous, relocated):  # fmt: skip
    """The rest of ``kmeans_run`` once Python has relocated the empty
    clusters its last step left (rare): finishes that iteration from the
    ``relocated`` (sums, weights), runs the remaining iterations and
    relabels.  Takes and returns what ``kmeans_run`` returns; ``totals``
    stay the clusters' as the labels stand."""
    sums, cluster_weights = relocated
    centres, state = _finish_iteration(centres, sums, cluster_weights, changed, tol)
    done += 1
    if state == _RUNNING and done < max_iter:
        n_iter, state, centres, changed = _lloyd_iterations(
            X, mean, weights, centres, labels, bounds, previous, totals, tol,
            max_iter - done,
        )  # fmt: skip
        done += n_iter
    _final_labels(X, mean, weights, centres, labels, bounds, previous, state)
    return state, done, mean, tol, centres, totals, changed, bounds, previous


@kernel(**EXACT_NJIT_OPTIONS, helper=True)
def _final_labels(X, mean, weights, centres, labels, bounds, previous, state):
    """Labels of the final centres, as KMeans reruns its assignment (unless
    the last step changed none, or left a cluster empty)."""
    if state != _EMPTY_CLUSTER and state != _STRICTLY_CONVERGED:
        cc = _row_norms(centres, empty(centres.shape[0], X.dtype))
        lloyd_pass(X, mean, weights, centres, cc, labels, bounds, previous)


def kmeans_labels(
    X, n_clusters, sample_weight, random_state, max_iter=KMEANS_MAX_ITER, tol=KMEANS_TOL
):
    """Labels of ``KMeans(n_clusters, n_init=1, random_state).fit(X, sample_weight)``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        float32 or float64, C order; neither modified nor copied.
    n_clusters : int
        At most n_samples.
    sample_weight : ndarray of shape (n_samples,) or None
        Row weights (rounded to X's dtype, as KMeans rounds them).
    random_state : numpy.random.RandomState
        Consumed as KMeans consumes it.
    max_iter : int, default=300
    tol : float, default=1e-4
        Relative tolerance on the squared shift of the centres.

    Returns
    -------
    labels : ndarray of shape (n_samples,), int32
    """
    n_samples = X.shape[0]
    if n_samples < n_clusters:
        raise ValueError(f"n_samples={n_samples} should be >= n_clusters={n_clusters}.")
    dtype = X.dtype.type
    if sample_weight is None:
        weights = np.empty(0, dtype=dtype)  # the kernels read unit weights
        total_weight = _sum_of_ones(n_samples, dtype)
    else:
        weights = np.ascontiguousarray(sample_weight, dtype=dtype)
        total_weight = weights.sum()

    # k-means++: choice(n_samples, p=w / w.sum()) draws one uniform number,
    # then uniform(size=n_trials) draws n_trials for each further centre
    # (uniform(0, 1) is random_sample() exactly); the same numbers in order.
    first, u = -1, 0.0
    if len(weights) and not (
        np.isfinite(total_weight) and total_weight > 0 and weights.min() >= 0
    ):
        # Unusual weights (NumPy may raise): choice() itself.
        first = random_state.choice(n_samples, p=weights / total_weight)
    else:
        u = random_state.random_sample()
    n_trials = 2 + int(np.log(n_clusters))
    uniforms = random_state.random_sample((n_clusters - 1) * n_trials)

    if runs_in_parallel(n_samples):
        # The passes' blocks on Numba's threads, also for callers outside
        # kernel_threads (GaussianMixtureIC's shared k-means start).
        start_threads()
    labels = np.empty(n_samples, dtype=np.int32)
    # Data of one block runs the copies without the code for several.
    one_block = n_samples <= BLOCK_ROWS
    state, done, *rest = kmeans_run.copy(one_block=one_block)(
        X, weights, total_weight, first, u, uniforms, n_trials, tol, max_iter, labels
    )
    if state == _EMPTY_CLUSTER:
        go_on = kmeans_go_on.copy(one_block=one_block)
        _relocate_and_go_on(go_on, X, weights, max_iter, done, labels, *rest)

    distinct = _n_distinct_labels(labels, n_clusters)
    if distinct < n_clusters:
        warnings.warn(
            f"Number of distinct clusters ({distinct}) found smaller than "
            f"n_clusters ({n_clusters}). Possibly due to duplicate points "
            "in X.",
            ConvergenceWarning,
            stacklevel=2,
        )
    return labels


def _relocate_and_go_on(go_on, X, weights, max_iter, done, labels, *state):
    """The rest of ``kmeans_labels`` after a step left a cluster empty (rare).

    Relocates in NumPy, then ``go_on`` (the copy of ``kmeans_go_on`` for
    data of this size), as often as clusters empty; the final labels end in
    ``labels``.  ``state`` is the rest of what ``kmeans_run`` returned.
    """
    while True:
        mean, _, centres, (sums, cluster_weights, _) = state[:4]
        relocated = (sums.copy(), cluster_weights.copy())
        _relocate_empty_clusters(X, mean, weights, centres, labels, *relocated)
        result, done, *state = go_on(
            X, weights, max_iter, done, labels, *state, relocated
        )
        if result != _EMPTY_CLUSTER:
            return
