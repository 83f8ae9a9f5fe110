"""The passes of k-means over the rows: seeding distances and Lloyd steps.

Each pass is a ``NamedTuple`` of its inputs with a block function, summed
over the blocks of rows by ``fastgmm.kernels._reduction.ordered_block_sums``
(the same bits for any number of threads); ``fastgmm.kernels._kmeans`` runs
them in KMeans's order.
"""

from typing import NamedTuple

import numpy as np

from ._config import EXACT_NJIT_OPTIONS, TILE_ROWS
from ._copy import copy_into
from ._numba_internals import (
    c_view,
    empty,
    epsilon,
    larger,
    njit,
    prefetch_row,
    smaller,
    zeros,
)
from ._numpy_sums import _einsum_sq_norms
from ._reduction import ordered_block_sums, register_block_sums
from ._specialise import kernel
from ._tile_dots import four_dots, nearest_centres, padded_centres

# ---------------------------------------------------------------------------
# Leaf kernels: one tile of rows, transposed to (n_features, rows) so that the
# inner loops run over contiguous samples (``fastgmm.kernels._tile_dots``)


@njit(inline="always", **EXACT_NJIT_OPTIONS)
def _weight(sample_weight, unit, i):
    """Row ``i``'s weight in float64 (1 if ``unit``)."""
    return 1.0 if unit else np.float64(sample_weight[i])


@njit(**EXACT_NJIT_OPTIONS, helper=True)
def _weighted_tile_sum(v, sample_weight, t0, n_rows):
    """sum_b w[t0 + b] v[b] over the tile's ``n_rows`` rows (unit weights if
    ``sample_weight`` is empty), in float64.

    Eight interleaved partial sums (independent chains, not one serial
    chain), added in a fixed order: the result does not depend on the
    number of threads.  (Eight variables, not an array of eight: an array
    would be allocated on every call.)
    """
    unit = sample_weight.shape[0] == 0
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = 0.0
    n8 = n_rows - n_rows % 8
    for b in range(0, n8, 8):
        a0 += np.float64(v[b]) * _weight(sample_weight, unit, t0 + b)
        a1 += np.float64(v[b + 1]) * _weight(sample_weight, unit, t0 + b + 1)
        a2 += np.float64(v[b + 2]) * _weight(sample_weight, unit, t0 + b + 2)
        a3 += np.float64(v[b + 3]) * _weight(sample_weight, unit, t0 + b + 3)
        a4 += np.float64(v[b + 4]) * _weight(sample_weight, unit, t0 + b + 4)
        a5 += np.float64(v[b + 5]) * _weight(sample_weight, unit, t0 + b + 5)
        a6 += np.float64(v[b + 6]) * _weight(sample_weight, unit, t0 + b + 6)
        a7 += np.float64(v[b + 7]) * _weight(sample_weight, unit, t0 + b + 7)
    # The last rows (fewer than eight), one into each of the first sums.
    for b in range(n8, n_rows):
        term = np.float64(v[b]) * _weight(sample_weight, unit, t0 + b)
        j = b - n8
        a0 += term if j == 0 else 0.0
        a1 += term if j == 1 else 0.0
        a2 += term if j == 2 else 0.0
        a3 += term if j == 3 else 0.0
        a4 += term if j == 4 else 0.0
        a5 += term if j == 5 else 0.0
        a6 += term if j == 6 else 0.0
    return ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))


# ---------------------------------------------------------------------------
# Passes over the rows, through ``fastgmm.kernels._reduction.ordered_block_sums``:
# the same bits for any number of threads.


class _SeedingPass(NamedTuple):
    """The inputs of ``seeding_pass``."""

    X: np.ndarray
    mean: np.ndarray
    sample_weight: np.ndarray
    # Padded (``fastgmm.kernels._tile_dots``); the first ``n_centres`` are.
    centres: np.ndarray
    cc: np.ndarray
    n_centres: int
    closest: np.ndarray
    # Bit t of a row: candidate t of the last candidates' pass is nearer
    # than ``closest`` (the first 16 candidates).
    nearer: np.ndarray
    # Which candidate a single centre is (-1: none, every row computed).
    chosen: int


@register_block_sums(_SeedingPass)
@njit(**EXACT_NJIT_OPTIONS, helper=True)
def _seeding_block(args, start, stop, out):
    """out[c] += sum_i w_i min(closest_i, |x_i - c|^2) over one block of rows.

    Several centres, the candidates, mark in ``nearer`` the rows each is
    nearer to; the candidate chosen, a single centre, then updates
    ``closest`` on those rows alone (every row for the first centre), the
    others keeping theirs.  Each pass computes the squared norms of the
    rows it reads: a pass is as fast as X comes from memory, and a stored
    norm would be 8 bytes more a row to read, and to keep.
    """
    X, mean, closest = args.X, args.mean, args.closest
    centres, n_centres, chosen = args.centres, args.n_centres, args.chosen
    n_features = X.shape[1]
    candidates = n_centres > 1
    every = candidates or chosen < 0 or chosen >= 16
    chosen_bit = np.uint16(0) if every else np.uint16(1 << chosen)
    # (Rows of the tiles off 4 KiB strides: see ``_lloyd_block``.)
    xt = zeros((centres.shape[1], TILE_ROWS + 8), X.dtype)  # padding features 0
    dots = empty((4, TILE_ROWS + 8), np.float64)
    nearest = empty(TILE_ROWS, closest.dtype)
    xx = empty(TILE_ROWS, np.float64)
    acc = empty((4, TILE_ROWS), np.float64)
    nearer = zeros(TILE_ROWS, np.uint16)
    w = args.sample_weight
    if not every:
        buffers = (xt, dots, empty(TILE_ROWS, closest.dtype), xx, acc)
        _chosen_rows(args, start, stop, chosen_bit, buffers)
        return 0.0
    for t0 in range(start, stop, TILE_ROWS):
        n_rows = smaller(TILE_ROWS, stop - t0)
        # Every row of the tile, read in order.
        known = closest[t0 : t0 + n_rows]
        _centred_rows(X, mean, t0, n_rows, stop, xt)
        _einsum_sq_norms(xt[:n_features], n_rows, xx, acc)
        for c in range(n_centres):
            j = c % 4
            if j == 0:
                four_dots(xt, n_rows, centres, c, dots, centres.shape[1])
            cc = args.cc[c]
            bit = np.uint16(1 << c) if c < 16 else np.uint16(0)
            for b in range(n_rows):
                d = _seeding_distance(dots[j, b], cc, xx[b], closest.dtype.type)
                nearest[b] = smaller(known[b], d)
                nearer[b] = (nearer[b] | bit) if d < known[b] else nearer[b]
            if candidates:
                out[c] += _weighted_tile_sum(nearest, w, t0, n_rows)
        if candidates:
            tile_nearer = args.nearer[t0 : t0 + n_rows]
            for b in range(n_rows):
                tile_nearer[b] = nearer[b]
                nearer[b] = 0
        else:
            copy_into(closest[t0 : t0 + n_rows], nearest[:n_rows])
            if chosen < 0:  # the first centre's potential (a chosen one's is known)
                out[0] += _weighted_tile_sum(closest[t0:], w, t0, n_rows)
    return 0.0


@njit(inline="always", **EXACT_NJIT_OPTIONS)
def _centred_rows(X, mean, t0, n_rows, stop, xt):
    """``xt[i, j] = X[t0 + j, i] - mean[i]`` for ``j < n_rows``, rows in
    order up to ``stop`` (excluded).

    Four rows at a time, a feature at a time: four loads, then four stores
    in a row of the tile (a row at a time, LLVM scatters the row's features
    into the tile's columns, which is slower); the last four may fill
    columns past ``n_rows`` (with rows up to ``stop - 1``), which no one
    reads.  Each row is asked for from memory ``_AHEAD`` rows before it is
    read: without, a pass that works on each tile between its reads waits
    on memory at the start of every tile, although its rows are in order.
    """
    last = stop - 1
    for j in range(0, n_rows, 4):
        r0 = t0 + j
        r1, r2, r3 = smaller(r0 + 1, last), smaller(r0 + 2, last), smaller(r0 + 3, last)
        for r in (r0, r1, r2, r3):
            if r + _AHEAD < stop:
                prefetch_row(X, r + _AHEAD)
        for i in range(X.shape[1]):
            m = mean[i]
            x0, x1, x2, x3 = X[r0, i] - m, X[r1, i] - m, X[r2, i] - m, X[r3, i] - m
            xt[i, j], xt[i, j + 1], xt[i, j + 2], xt[i, j + 3] = x0, x1, x2, x3


@njit(inline="always", **EXACT_NJIT_OPTIONS)
def _seeding_distance(dot, cc, xx, dtype):
    """A squared distance as ``_euclidean_distances`` computes it for
    k-means++, in float64 (the dot product as GEMM forms it, then the
    squared norms added one at a time), rounded to ``dtype``."""
    return dtype(larger((-2.0 * dot + cc) + xx, 0.0))


@njit(inline="always", **EXACT_NJIT_OPTIONS)
def _chosen_rows(args, start, stop, chosen_bit, buffers):
    """The chosen candidate's pass over one block: ``closest`` updated on
    the rows its bit marks in ``nearer``.

    The rows are scattered: the block's are listed first, and each is asked
    for from memory ``_AHEAD`` rows before it is read.
    """
    X, mean, closest = args.X, args.mean, args.closest
    xt, dots, known, xx, acc = buffers
    marked = empty(stop - start, np.int64)
    n_marked = stop - stop  # (a literal 0 would compile four_dots twice)
    for r in range(start, stop):
        marked[n_marked] = r
        n_marked += (args.nearer[r] & chosen_bit) != 0
    for j in range(smaller(_AHEAD, n_marked)):
        prefetch_row(X, marked[j])
    cc = args.cc[0]
    for m0 in range(0, n_marked, TILE_ROWS):
        n_rows = smaller(TILE_ROWS, n_marked - m0)
        for j in range(n_rows):
            if m0 + j + _AHEAD < n_marked:
                prefetch_row(X, marked[m0 + j + _AHEAD])
            r = marked[m0 + j]
            known[j] = closest[r]
            for i in range(X.shape[1]):
                xt[i, j] = X[r, i] - mean[i]
        _einsum_sq_norms(xt[: X.shape[1]], n_rows, xx, acc)
        four_dots(xt, n_rows, args.centres, n_marked - n_marked, dots, xt.shape[0])
        for j in range(n_rows):
            d = _seeding_distance(dots[0, j], cc, xx[j], closest.dtype.type)
            closest[marked[m0 + j]] = smaller(known[j], d)


@kernel(**EXACT_NJIT_OPTIONS, helper=True)
def seeding_pass(X, mean, sample_weight, centres, cc, closest, nearer, chosen):
    """sum_i w_i min(closest_i, |x_i - c|^2) for each centre c, in float64.

    ``closest`` holds each row's squared distance to its nearest centre so
    far, in the data's dtype (float32 distances are rounded from float64, as
    scikit-learn rounds them).  Several ``centres`` are the candidates of
    a k-means++ step: ``closest`` is left unchanged, and bit t of
    ``nearer`` (uint16, a row each) is set where candidate t is nearer (the
    first 16).  A single centre is the candidate ``chosen`` of the last
    such pass (or, with ``chosen`` -1, the first centre): ``closest`` takes
    the minimum, computed on the rows that candidate is nearer to only (or
    on every row).  The first centre's pass returns the potential, the new
    weighted sum of ``closest``; a chosen candidate's returns 0 (its
    potential is the one its candidates' pass returned, the same sum in
    the same order).
    The rows' squared norms (float64, as ``np.einsum`` sums them) are
    computed in each pass, not kept.  One kernel, not two with a flag: a
    literal flag would compile it twice.  (Keeping each candidate's distances instead,
    as scikit-learn does, would hold n_trials more numbers per row: more
    memory than the whole fit's target.)
    """
    padded, padded_cc = padded_centres(centres, cc)
    seeding = _SeedingPass(
        X, mean, sample_weight, padded, padded_cc, centres.shape[0], closest,
        nearer, chosen,
    )  # fmt: skip
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
    # ``centres`` and their squared norms padded (``fastgmm.kernels._tile_dots``).
    padded: np.ndarray
    padded_cc: np.ndarray
    labels: np.ndarray
    gaps: np.ndarray
    # How far each cluster's gap (see ``lloyd_pass``) closed since the last
    # pass: its centre's shift plus the largest of the others'.
    closing: np.ndarray
    # A gap at or below this leaves the row in doubt.
    threshold: float
    # The largest norm of a centre.
    reach: float
    # The ranking's rounding margin (see ``_lloyd_block``), relative to the
    # squared distances: the bounds' slack where they are set; and its
    # square root, the gap's slack per unit of norm.
    rounding: float
    root_rounding: float


# How many rows in doubt ahead of the one read a Lloyd step asks for.
_AHEAD = 64

# Rounding slack of the bounds' own float64 arithmetic (relative, one-sided).
_UP = 1.0 + 2.0**-48
_DOWN = 1.0 - 2.0**-48
# A positive float64 times this rounds to a float32 below it.
_SHRINK = 1.0 - 2.0**-23


@njit(inline="always", **EXACT_NJIT_OPTIONS)
def _rounded_down(gap):
    """A float32 at most ``gap`` where ``gap`` is positive (a gap at or
    below 0 leaves its row in doubt whatever it rounds to)."""
    return np.float32(gap * _SHRINK)


@register_block_sums(_LloydPass)
@njit(**EXACT_NJIT_OPTIONS, helper=True)
def _lloyd_block(args, start, stop, out):
    """Labels of one block's rows, and how the clusters' sums change; labels changed.

    ``out`` holds, in float64, the change of the sums of the rows of each
    cluster, of the clusters' weights and of their counts of rows of
    positive weight (laid out as ``lloyd_pass`` returns them).  Only a row whose label
    changes moves its weighted row from one cluster's sums to another's,
    so a pass over rows that keep their labels reads no more than their
    labels and gaps.

    A row is ranked against every centre only where its gap leaves the
    ranking in doubt: Hamerly's bounds (the distance to its centre, and to
    any other, moved on by how far the centres moved) kept as their
    difference alone, less the ranking's rounding error for the row (see
    ``lloyd_pass``).  A row the gap keeps would have kept its label in the
    full ranking too: the labels are the same bits as ranking every row.
    A row in doubt is ranked at once, its upper bound not first tightened
    to the distance to its centre: once its row is read, ranking costs
    little more than that distance, and it renews the lower bound too, so
    that the row stays out of doubt for longer (at step 60 of a 300,000 x
    8, K=16 run, 38,000 rows read against 66,000).
    """
    X, mean, labels, gaps = args.X, args.mean, args.labels, args.gaps
    closing, threshold = args.closing, args.threshold
    n_features = args.centres.shape[1]
    # The block's rows in doubt are listed first, while the gaps move on,
    # then ranked a tile at a time, centred, by column.  Each row is asked
    # for from memory ``_AHEAD`` rows before it is read (scattered, too many
    # to wait for each in turn); the first ones while the gaps move.
    # (The buffers in a few allocations, not ten: a block is a few
    # microseconds of work.)
    doubt = empty(stop - start, np.int64)
    in_doubt = empty(TILE_ROWS, np.uint8)
    floats = empty(3 * TILE_ROWS, np.float64)
    moved = floats[:TILE_ROWS]
    n_doubt = stop - stop  # (a literal 0 would compile the ranking twice)
    for t0 in range(start, stop, TILE_ROWS):
        # The gaps closed by how far the centres moved, rounded down.
        # Without branches, on slices of the tile's rows, so that the loop
        # runs in vector registers; the rows left in doubt are listed after.
        n_rows = smaller(TILE_ROWS, stop - t0)
        tile_gaps = gaps[t0 : t0 + n_rows]
        tile_labels = labels[t0 : t0 + n_rows]
        # (The clusters' closings gathered in a loop of their own: a gather
        # keeps the loop that reads it out of vector registers.)
        for b in range(n_rows):
            moved[b] = closing[larger(tile_labels[b], 0)]
        for b in range(n_rows):
            gap = _rounded_down(np.float64(tile_gaps[b]) - moved[b])
            tile_gaps[b] = gap
            in_doubt[b] = (tile_labels[b] < 0) | (gap <= threshold)
        listed = n_doubt
        # (Indices unsigned here and where the rows in doubt are read and
        # written: Numba checks a signed index for wrapping around, a few
        # instructions more a row in loops that do little else.)
        k = np.uint64(n_doubt)
        for b in range(n_rows):
            doubt[k] = t0 + b
            k += in_doubt[b]
        n_doubt = np.int64(k)
        for j in range(listed, smaller(n_doubt, _AHEAD)):
            prefetch_row(X, doubt[j])
    n_padded = args.padded.shape[1]
    tiles = zeros((n_padded + 6, TILE_ROWS + 8), X.dtype)  # padding features 0
    xt, dot = tiles[:n_padded], tiles[n_padded : n_padded + 4]
    best, second = tiles[n_padded + 4], tiles[n_padded + 5]
    norms, new_gaps = floats[TILE_ROWS : 2 * TILE_ROWS], floats[2 * TILE_ROWS :]
    label = empty(TILE_ROWS, np.int32)
    changed = 0
    for m0 in range(0, n_doubt, TILE_ROWS):
        n_rows = smaller(TILE_ROWS, n_doubt - m0)
        rows = doubt[m0 : m0 + n_rows]
        for j in range(n_rows):
            if m0 + j + _AHEAD < n_doubt:
                prefetch_row(X, doubt[m0 + j + _AHEAD])
            r = np.uint64(rows[j])
            xx = 0.0
            for i in range(n_features):
                x = X[r, i] - mean[i]
                xt[i, j] = x
                xx += np.float64(x) * np.float64(x)
            norms[j] = xx
        ranked = (rows, xt, norms, n_rows, dot, best, second, label, new_gaps)
        changed += _rank(args, ranked, out)
    return np.float64(changed)


@njit(**EXACT_NJIT_OPTIONS, helper=True)
def _rank(args, ranked, out):
    """Rank the rows in doubt against every centre; their bounds and
    labels; labels changed.

    ``ranked`` is ``(rows, xt, norms, n_rows, dot, best, second, label,
    gaps)``: the rows, centred and transposed, their squared norms in
    float64, how many, buffers for ``nearest_centres`` (each row's two
    smallest ``|c|^2 - 2 x.c`` and its nearest centre) and for the rows'
    new gaps.  A row whose label changes
    moves, with its weight, from its old cluster (none if -1) to its new
    one in ``out``'s float64 sums (``lloyd_pass`` lays them out); the
    centred, weighted row is rounded in the data's dtype, as KMeans rounds
    it (``x * 1`` is exact).
    """
    rows, xt, norms, n_rows, dot, best, second, label, gaps = ranked
    nearest_centres(xt, n_rows, args.padded, args.padded_cc, dot, best, second, label)
    labels, reach = args.labels, args.reach
    rounding, root_rounding = args.rounding, args.root_rounding
    n_clusters, n_features = args.centres.shape
    # The gaps in a loop of their own, without branches, so that their
    # square roots run in vector registers; then stored at their rows.
    # The bounds' slack is the ranking's margin for a row of norm |x| (see
    # ``_lloyd_block``), (|c| + |x|)^2 / 2 <= |c|^2 + |x|^2 sparing a root.
    reach2 = reach * reach
    for j in range(n_rows):
        xx = norms[j]
        slack = rounding * (reach2 + xx)
        upper = np.sqrt(larger(np.float64(best[j]) + xx + slack, 0.0)) * _UP
        lower = np.sqrt(larger(np.float64(second[j]) + xx - slack, 0.0)) * _DOWN
        # |x| <= |x - c| + |c| <= upper + reach, sparing another root.
        gaps[j] = (lower - upper) - root_rounding * (upper + reach) * _UP
    for j in range(n_rows):
        args.gaps[np.uint64(rows[j])] = _rounded_down(gaps[j])
    # out: the clusters' sums, then their weights, then their counts.
    n_sums = n_clusters * n_features
    sums = c_view(out[:n_sums], (n_clusters, n_features))
    weights, counts = out[n_sums : n_sums + n_clusters], out[n_sums + n_clusters :]
    unit = args.sample_weight.shape[0] == 0
    changed = 0
    for j in range(n_rows):
        r = np.uint64(rows[j])
        old, new = labels[r], label[j]
        if old == new:
            continue
        changed += 1
        labels[r] = new
        w = xt.dtype.type(1) if unit else args.sample_weight[r]
        w64, positive = np.float64(w), np.float64(w > 0)
        weights[new] += w64
        counts[new] += positive
        if old >= 0:
            weights[old] -= w64
            counts[old] -= positive
        for i in range(n_features):
            moving = np.float64(xt[i, j] * w)
            sums[new, i] += moving
            if old >= 0:
                sums[old, i] -= moving
    return changed


@njit(**EXACT_NJIT_OPTIONS, helper=True)
def lloyd_state(n_samples, centres):
    """Fresh ``(gaps, previous)`` for ``lloyd_pass``: no row's centre known."""
    gaps = empty(n_samples, np.float32)
    gaps[:] = -np.inf
    previous = empty(centres.shape, centres.dtype)
    copy_into(previous, centres)
    return gaps, previous


@kernel(**EXACT_NJIT_OPTIONS, helper=True)
def lloyd_pass(X, mean, sample_weight, centres, cc, labels, gaps, previous):
    """One Lloyd step: new labels, and how the clusters' sums change.

    Returns (labels changed, and the changes of the clusters' weighted sums
    of rows, of their weights and of their counts of rows of positive
    weight), in float64: the rows that changed label, moved from their old
    cluster (none for a label of -1) to their new one.

    ``gaps`` (float32, a row each) holds a lower bound on each row's
    distance to any other centre than its own, less an upper bound on the
    distance to its own, less ``sqrt(rounding)`` times a bound on ``|x|``
    (see below), for the centres ``previous``; the pass moves them on to
    ``centres``.  Labels of -1 rank a row against every centre; fresh gaps
    (see ``lloyd_state``: -inf) make no row keep its centre without
    computing the distance to it.  (One number a row, not Hamerly's two: a
    step that moves it on reads and writes 8 bytes a row, with the label,
    instead of 36.)
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
    # A row's upper bound grows by its centre's shift, its lower bound
    # shrinks by the largest of the other centres'.
    closing = empty(n_clusters, np.float64)
    for k in range(n_clusters):
        closing[k] = (shift[k] + (second if k == top_k else top)) * _UP
    padded, padded_cc = padded_centres(centres, cc)
    # |exact - rounded| of |c|^2 - 2 x.c is below gamma_(d+2) (|c| + |x|)^2
    # for unit roundoff eps / 2: the margin between two of them, 4x over.
    # A row whose bounds differ by more than sqrt(rounding) (|c| + |x|)
    # has lo^2 - up^2 >= (lo - up)^2 beyond that margin: the gaps hold
    # lo - up - sqrt(rounding) |x| (less, |x| bounded as they are set),
    # and the rows at or below sqrt(rounding) max |c| are in doubt.
    rounding = 8.0 * (n_features + 2) * epsilon(X)
    root_rounding = np.sqrt(rounding) * _UP
    threshold = root_rounding * reach * _UP
    lloyd = _LloydPass(
        X, mean, sample_weight, centres, padded, padded_cc, labels, gaps,
        closing, threshold, reach, rounding, root_rounding,
    )  # fmt: skip
    changed, flat = ordered_block_sums(
        lloyd, X.shape[0], n_clusters * (n_features + 2), shift
    )
    n_sums = n_clusters * n_features
    sums = c_view(flat[:n_sums], (n_clusters, n_features))
    weights, counts = flat[n_sums : n_sums + n_clusters], flat[n_sums + n_clusters :]
    return np.int64(changed), sums, weights, counts
