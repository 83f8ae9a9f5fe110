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
(carried from step to step as their difference, with the ranking's
rounding error as slack) leave its nearest centre in doubt; the labels
are the full ranking's.  The clusters' sums are kept in float64 from step
to step: a row that changes label moves from one cluster's sum to the
other's, so a step reads only the rows in doubt, not all of X.

Labels therefore agree with scikit-learn's except where two distances tie
to the last bits and the rounding of scikit-learn's BLAS calls or of its
per-thread sums decides (see ``tests/test_kmeans.py``).

The passes over the rows (seeding distances, Lloyd steps) are in
``fastgmm.kernels._kmeans_passes``, the sums rounded as NumPy rounds them
in ``fastgmm.kernels._numpy_sums``; this module runs them in KMeans's order.

Unlike KMeans it never copies X: each tile of rows is centred as it is read
(``x - mean`` rounds the same either way), and the state kept per row is a
label (int32), its bounds' gap (float32) and, while seeding, one
distance and the marks of the candidates nearer than it (uint16).
"""

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ._config import (
    BLOCK_ROWS,
    EXACT_NJIT_OPTIONS,
    runs_in_parallel,
)
from ._copy import copy_into
from ._kmeans_passes import lloyd_pass, lloyd_state, seeding_pass
from ._numba_internals import (
    empty,
    njit,
    smaller,
    start_threads,
    zeros,
)
from ._numpy_sums import (
    _pairwise_sum,
    _row_norms,
    _sum_of_ones,
    column_mean_var,
    kmeans_tolerance,
)
from ._specialise import kernel

# KMeans's defaults, which GaussianMixture's k-means start keeps: the most
# Lloyd iterations, and the tolerance on the squared shift of the centres
# relative to the mean feature variance.
KMEANS_MAX_ITER = 300
KMEANS_TOL = 1e-4

# How a run of Lloyd iterations ended.
_RUNNING, _CONVERGED, _STRICTLY_CONVERGED, _EMPTY_CLUSTER = 0, 1, 2, 3


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


@kernel(inline="always", **EXACT_NJIT_OPTIONS)
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
    nearer = empty(n_samples, np.uint16)
    every_row = first - first - 1  # -1 (a literal would compile the pass twice)
    cc = _row_norms(centres[:1], empty(1, np.float64))
    first_pot = seeding_pass(X, mean, sample_weight, centres[:1], cc, closest,
                             nearer, every_row)  # fmt: skip
    current_pot = dtype(first_pot[0])
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
        pots = seeding_pass(X, mean, sample_weight, candidates, cc, closest,
                            nearer, every_row)  # fmt: skip
        # Compared in the data's dtype, the first of equals, as scikit-learn's.
        best = every_row + 1  # 0, not a literal
        current_pot = dtype(pots[0])
        for t in range(1, n_trials):
            if dtype(pots[t]) < current_pot:
                best = t
                current_pot = dtype(pots[t])
        copy_into(centres[c], candidates[best])
        seeding_pass(X, mean, sample_weight, centres[c : c + 1], cc[best : best + 1],
                     closest, nearer, best)  # fmt: skip
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


@kernel(inline="always", **EXACT_NJIT_OPTIONS)
def _lloyd_iterations(
    X, mean, sample_weight, centres, labels, gaps, previous, totals, tol, max_iter
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
            X, mean, sample_weight, centres, cc, labels, gaps, previous
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


def n_distinct_labels(labels, n_clusters):
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
    returns (state, iterations done, run), ``run`` what relocating an empty
    cluster and going on needs: the column mean, the absolute tolerance,
    centres, the clusters' totals (see ``_lloyd_iterations``), the labels
    the last step changed, the gaps and previous centres.  The labels are
    final unless state is ``_EMPTY_CLUSTER``.
    """
    n_samples = X.shape[0]
    mean, variances = column_mean_var(X)
    tol = kmeans_tolerance(variances, tol)
    if first < 0:
        first = _first_centre(weights, n_samples, total_weight, u)
    centres = _seed_centres(X, mean, weights, first, uniforms, n_trials)
    labels[:] = -1
    gaps, previous = lloyd_state(n_samples, centres)
    # The clusters' (sums, weights, counts of rows of positive weight) as
    # the labels stand, kept by _lloyd_iterations.
    n_clusters = centres.shape[0]
    totals = (
        zeros(centres.shape, np.float64),
        zeros(n_clusters, np.float64),
        zeros(n_clusters, np.float64),
    )
    n_iter, state, centres, changed = _lloyd_iterations(
        X, mean, weights, centres, labels, gaps, previous, totals, tol, max_iter
    )
    _final_labels(X, mean, weights, centres, labels, gaps, previous, state)
    return state, n_iter, (mean, tol, centres, totals, changed, gaps, previous)


@kernel(**EXACT_NJIT_OPTIONS)
def kmeans_go_on(X, weights, max_iter, done, labels, run, relocated):
    """The rest of ``kmeans_run`` once Python has relocated the empty
    clusters its last step left (rare): finishes that iteration from the
    ``relocated`` (sums, weights), runs the remaining iterations and
    relabels.  ``run`` is the last item of what ``kmeans_run`` returns, and
    so are the three items returned; the totals in ``run`` stay the
    clusters' as the labels stand."""
    mean, tol, centres, totals, changed, gaps, previous = run
    sums, cluster_weights = relocated
    centres, state = _finish_iteration(centres, sums, cluster_weights, changed, tol)
    done += 1
    if state == _RUNNING and done < max_iter:
        n_iter, state, centres, changed = _lloyd_iterations(
            X, mean, weights, centres, labels, gaps, previous, totals, tol,
            max_iter - done,
        )  # fmt: skip
        done += n_iter
    _final_labels(X, mean, weights, centres, labels, gaps, previous, state)
    return state, done, (mean, tol, centres, totals, changed, gaps, previous)


@kernel(inline="always", **EXACT_NJIT_OPTIONS)
def _final_labels(X, mean, weights, centres, labels, gaps, previous, state):
    """Labels of the final centres, as KMeans reruns its assignment (unless
    the last step changed none, or left a cluster empty)."""
    if state != _EMPTY_CLUSTER and state != _STRICTLY_CONVERGED:
        cc = _row_norms(centres, empty(centres.shape[0], X.dtype))
        lloyd_pass(X, mean, weights, centres, cc, labels, gaps, previous)


def kmeans_labels(
    X, n_clusters, sample_weight, random_state, max_iter=KMEANS_MAX_ITER,
    tol=KMEANS_TOL, warn=True,
):  # fmt: skip
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
    warn : bool, default=True
        Warn, as KMeans does, when the labels hold fewer distinct clusters
        than ``n_clusters``.  (Threads that run k-means side by side count
        them instead: a warning filter is process-wide.)

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
    state, done, run = kmeans_run.copy(one_block=one_block)(
        X, weights, total_weight, first, u, uniforms, n_trials, tol, max_iter, labels
    )
    if state == _EMPTY_CLUSTER:
        go_on = kmeans_go_on.copy(one_block=one_block)
        _relocate_and_go_on(go_on, X, weights, max_iter, done, labels, run)

    distinct = n_distinct_labels(labels, n_clusters) if warn else n_clusters
    if distinct < n_clusters:
        warnings.warn(
            f"Number of distinct clusters ({distinct}) found smaller than "
            f"n_clusters ({n_clusters}). Possibly due to duplicate points "
            "in X.",
            ConvergenceWarning,
            stacklevel=2,
        )
    return labels


def _relocate_and_go_on(go_on, X, weights, max_iter, done, labels, run):
    """The rest of ``kmeans_labels`` after a step left a cluster empty (rare).

    Relocates in NumPy, then ``go_on`` (the copy of ``kmeans_go_on`` for
    data of this size), as often as clusters empty; the final labels end in
    ``labels``.  ``run`` is the last item of what ``kmeans_run`` returned.
    """
    while True:
        mean, _, centres, (sums, cluster_weights, _) = run[:4]
        relocated = (sums.copy(), cluster_weights.copy())
        _relocate_empty_clusters(X, mean, weights, centres, labels, *relocated)
        result, done, run = go_on(X, weights, max_iter, done, labels, run, relocated)
        if result != _EMPTY_CLUSTER:
            return
