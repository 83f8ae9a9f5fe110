"""What each pass over a Dask array runs on its row blocks, and how the
blocks' parts are added up (``fastgmm.engine._dask``'s map-reduce).

A block function has the form ``f(X, sample_weight, start, index, shared)``
and returns a few small arrays; ``_tree_reduce`` adds the blocks' parts in a
tree whose shape depends only on their number, so that the sums do not
depend on where or when blocks ran.
"""

import threading
from contextlib import contextmanager, nullcontext

import numba
import numpy as np

from ..kernels import covariance, em_statistics
from ._data import score_rows
from ._init import initial_statistics
from ._missing import MissingData, feature_sums, score_missing

# Partial results combined per task of the reduction tree.
_FAN_IN = 8
# Rows whose distances to the centres are computed at once.
_DISTANCE_ROWS = 8192
_EMPTY = np.empty(0)
_WORKQUEUE_LOCK = threading.Lock()
_NON_FINITE = "Input X contains NaN or infinity."
_INFINITE = "Input X contains infinity or a value too large for its dtype."

# ---------------------------------------------------------------------------
# Map-reduce helpers


@contextmanager
def _one_kernel_thread():
    """Run the Numba kernels of one block on the calling thread only.

    The parallelism comes from the scheduler's threads.  Numba's 'workqueue'
    threading layer cannot be entered by two threads at once, so with it the
    kernels take turns.
    """
    previous = numba.get_num_threads()
    numba.set_num_threads(1)
    lock = _WORKQUEUE_LOCK if numba.threading_layer() == "workqueue" else nullcontext()
    try:
        with lock:
            yield
    finally:
        numba.set_num_threads(previous)


def _sum_parts(parts):
    """Element-wise sum of equally shaped tuples, in list order."""
    total = list(parts[0])
    for part in parts[1:]:
        for i, value in enumerate(part):
            total[i] = total[i] + value
    return tuple(total)


class _Pass:
    """What every block of a pass gets: the function, its shared argument and
    the first row of each block (an opaque object in the task graph)."""

    __slots__ = ("func", "shared", "starts")

    def __init__(self, func, shared, starts):
        self.func, self.shared, self.starts = func, shared, starts


def _call_block(*arrays, work, with_rows, block_id=None):
    """Call ``work.func(X, sample_weight, start, index, work.shared)`` on a
    block; ``arrays`` are (X), (X, weights) or (weights), weights as a column."""
    index = block_id[0]
    X = arrays[0] if with_rows else None
    weights = arrays[-1][:, 0] if len(arrays) > with_rows else None
    return work.func(X, weights, int(work.starts[index]), index, work.shared)


def _tree_reduce(layer, name, keys, combine):
    """Add tasks combining ``keys`` in a tree whose shape depends only on their
    number, so that floating-point sums are reproducible; the root's key."""
    level = 0
    while len(keys) > 1:
        level += 1
        parents = []
        for i in range(0, len(keys), _FAN_IN):
            key = (name, level, i // _FAN_IN)
            layer[key] = (combine, list(keys[i : i + _FAN_IN]))
            parents.append(key)
        keys = parents
    return keys[0]


def _block_rng(seed, index):
    return np.random.default_rng([seed, index])


def _draw_seed(random_state):
    return int(random_state.randint(np.iinfo(np.int32).max))


def _as_float64(X):
    return np.asarray(X, dtype=np.float64)


def _nearest(X, centres):
    """Index of the nearest centre and squared distance to it, per row."""
    centres = _as_float64(centres)
    # Distances of points relative to the centres' mean keep their digits
    # when the data lies far from the origin.
    origin = centres.mean(axis=0)
    centres = centres - origin
    centre_norms = np.einsum("ij,ij->i", centres, centres)
    n_samples = X.shape[0]
    labels = np.empty(n_samples, dtype=np.intp)
    distances = np.empty(n_samples)
    for start in range(0, n_samples, _DISTANCE_ROWS):
        stop = min(start + _DISTANCE_ROWS, n_samples)
        x = _as_float64(X[start:stop]) - origin
        d2 = x @ (-2.0 * centres.T)
        d2 += centre_norms
        best = np.argmin(d2, axis=1)
        labels[start:stop] = best
        distances[start:stop] = d2[np.arange(stop - start), best] + np.einsum(
            "ij,ij->i", x, x
        )
    np.maximum(distances, 0.0, out=distances)
    return labels, distances


def _row_weights(sample_weight, n_rows):
    return np.ones(n_rows) if sample_weight is None else _as_float64(sample_weight)


# ---------------------------------------------------------------------------
# Functions run on each row block: f(X, sample_weight, start, index, shared),
# with ``start`` the block's first row, ``index`` its position and ``shared``
# the small objects every block gets.


def _block_e_step(X, sample_weight, start, index, shared):
    """The E-step kernel on one block: (log-likelihood, nk, s1, s2)."""
    (log_weights, means, prec_chol, log_det), ref, code = shared
    X = np.ascontiguousarray(X)
    weights = (
        _EMPTY
        if sample_weight is None
        else np.ascontiguousarray(sample_weight, dtype=np.float64)
    )
    with _one_kernel_thread():
        return em_statistics(
            X, weights, log_weights, means, prec_chol, log_det, ref, code=code
        )


def _block_missing_e_step(X, sample_weight, start, index, shared):
    """The E-step of rows that may miss entries (NaN), on one block:
    ``fastgmm.engine._missing.MissingData.statistics``."""
    params, ref = shared
    X = np.ascontiguousarray(X)
    if np.isinf(X).any():
        raise ValueError(_INFINITE)
    weights = None if sample_weight is None else _as_float64(sample_weight)
    with _one_kernel_thread():
        return MissingData(X, weights).statistics(params, ref)


def _block_feature_sums(X, sample_weight, start, index, shared):
    """A block's ``fastgmm.engine._missing.feature_sums``, and its number of
    rows with no observed entry."""
    X = np.asarray(X)
    weights = None if sample_weight is None else _as_float64(sample_weight)
    empty_rows = int(np.isnan(X).all(axis=1).sum())
    return (*feature_sums(X, weights), empty_rows)


def _block_scores(X, params, output, dtype, missing=False):
    """log p(x), responsibilities or labels of one block's rows.

    ``dtype``: that of log p(x) and the responsibilities.  ``missing``: NaN
    marks a missing entry (the row is scored by its observed features).
    """
    X = np.ascontiguousarray(X)
    score = score_rows
    if missing and not np.isinf(X).any():
        score = score_missing
    elif not np.isfinite(X).all():
        raise ValueError(_NON_FINITE)
    with _one_kernel_thread():
        log_norm, resp, labels = score(X, params, dtype=dtype, **{output: True})
    return {"log_norm": log_norm, "resp": resp, "labels": labels}[output]


def _block_initial_statistics(X, sample_weight, start, index, shared):
    """Moments of a block's initial responsibilities, centred on the block.

    Returns (total row weight, nk, s1, s2, ref) as
    ``fastgmm.engine._init.initial_statistics`` computes them on the block alone.
    """
    kind, value, covariance_type, n_components = shared
    n_rows = X.shape[0]
    labels = resp = None
    if kind == "nearest":
        labels = _nearest(X, value)[0]
    elif kind == "random":
        resp = np.asarray(
            _block_rng(value, index).uniform(size=(n_rows, n_components)),
            dtype=X.dtype,
        )
        resp /= resp.sum(axis=1)[:, np.newaxis]
    else:  # "scatter": no component's rows, only the scatter of all rows
        labels = np.full(n_rows, -1, dtype=np.intp)
    weights = None if sample_weight is None else _as_float64(sample_weight)
    total = float(n_rows) if weights is None else float(weights.sum())
    if total == 0.0:
        return _no_initial_statistics(covariance_type, n_components, X.shape[1])
    nk, s1, s2, ref = initial_statistics(
        X, weights, labels, resp, covariance_type, n_components
    )
    return total, nk, s1, s2, ref


def _no_initial_statistics(covariance_type, n_components, n_features):
    s2 = covariance(covariance_type).kernel_zeros(n_components, n_features)
    zeros = np.zeros((n_components, n_features))
    return 0.0, np.zeros(n_components), zeros, s2, zeros.copy()


def _merge_initial_statistics(parts, covariance_type):
    """Moments of several blocks about one reference point per component.

    Each block's moments are about its own means; they are moved to the
    combined means (x - c = (x - r) + (r - c)) before they are added, as in
    Chan et al.'s pairwise update of variances.  For 'tied' the reference is
    the mean of all rows and ``s2`` the scatter of all rows.
    """
    kind = covariance(covariance_type)
    total = sum(part[0] for part in parts)
    nk = sum(part[1] for part in parts)
    if kind.shared:
        centre = sum(part[0] * part[4][0] for part in parts)
        ref = np.zeros_like(parts[0][4]) + (centre / total if total else 0.0)
    else:
        first = sum(part[1][:, None] * part[4] + part[2] for part in parts)
        ref = np.divide(
            first, nk[:, None], out=np.zeros_like(first), where=nk[:, None] > 0
        )
    s1 = np.zeros_like(ref)
    s2 = np.zeros_like(parts[0][3])
    for weight, nk_b, s1_b, s2_b, ref_b in parts:
        d = ref_b - ref
        s1 += s1_b + nk_b[:, None] * d
        if kind.shared:
            # The block's rows have their mean at ref_b: no cross terms.
            s2[0] += s2_b[0] + weight * np.outer(d[0], d[0])
        elif kind.matrices:
            cross = s1_b[:, :, None] * d[:, None, :]
            s2 += (
                s2_b
                + cross
                + np.swapaxes(cross, 1, 2)
                + nk_b[:, None, None] * d[:, :, None] * d[:, None, :]
            )
        else:
            s2[:, 0] += s2_b[:, 0] + 2.0 * s1_b * d + nk_b[:, None] * d * d
    return total, nk, s1, s2, ref


def _block_costs(X, sample_weight, start, index, shared):
    """One k-means|| round on a block: its cost and its candidate rows.

    Each row is kept with probability ``oversampling * w d^2 / cost_floor``
    and returned with its uniform draw and ``w d^2``, so that the client can
    thin the candidates to ``oversampling * w d^2 / cost`` once the total cost
    of the pass is known (``cost_floor`` is a lower bound of it).  A
    ``cost_floor`` of None computes the cost only.
    """
    centres, oversampling, cost_floor, seed = shared
    _, distances = _nearest(X, centres)
    weighted = _row_weights(sample_weight, X.shape[0]) * distances
    cost = float(weighted.sum())
    if cost_floor is None:
        return cost, np.empty((0, X.shape[1])), _EMPTY, _EMPTY
    draws = _block_rng(seed, index).random(X.shape[0])
    keep = draws * cost_floor < oversampling * weighted
    return cost, _as_float64(X[keep]), draws[keep], weighted[keep]


def _concatenate_parts(parts):
    """Sum of the first items, concatenation of the others, in list order."""
    first = sum(part[0] for part in parts)
    rest = [np.concatenate([part[i] for part in parts]) for i in range(1, 4)]
    return (first, *rest)


def _block_lloyd(X, sample_weight, start, index, centres):
    """Weight, weighted sum of rows and cost of the rows nearest each centre."""
    labels, distances = _nearest(X, centres)
    weights = _row_weights(sample_weight, X.shape[0])
    n_centres, n_features = centres.shape
    counts = np.bincount(labels, weights=weights, minlength=n_centres)
    sums = np.empty((n_centres, n_features))
    for j in range(n_features):
        sums[:, j] = np.bincount(labels, weights=weights * X[:, j], minlength=n_centres)
    return counts, sums, float(weights @ distances)


def _block_top_keys(X, sample_weight, start, index, shared):
    """The k rows of a block with the largest keys log(u) / w.

    Keeping the k largest keys over all rows draws k rows without
    replacement with probabilities proportional to their weights
    (Efraimidis and Spirakis); rows of weight 0 are never drawn.
    """
    k, seed = shared
    weights = _as_float64(sample_weight)
    draws = 1.0 - _block_rng(seed, index).random(weights.shape[0])
    keys = np.full(weights.shape[0], -np.inf)
    positive = weights > 0
    keys[positive] = np.log(draws[positive]) / weights[positive]
    return _top_keys([(keys, start + np.arange(weights.shape[0]))], k)


def _top_keys(parts, k):
    keys = np.concatenate([part[0] for part in parts])
    indices = np.concatenate([part[1] for part in parts])
    order = np.argsort(-keys, kind="stable")[:k]
    order = order[np.isfinite(keys[order])]
    return keys[order], indices[order]


def _distinct_indices(random_state, n, k):
    """k distinct integers of range(n) in random order (Floyd's algorithm)."""
    chosen = {}
    for j in range(n - k, n):
        t = int(random_state.randint(j + 1))
        chosen[j if t in chosen else t] = None
    return random_state.permutation(np.fromiter(chosen, dtype=np.int64, count=k))
