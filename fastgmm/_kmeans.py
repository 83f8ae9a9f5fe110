"""k-means for the default initialisation, with scikit-learn's labels.

scikit-learn's GaussianMixture starts from
``KMeans(n_clusters, n_init=1, random_state=random_state).fit(X).labels_``.
``kmeans_labels`` runs the same algorithm (k-means++ seeding, then Lloyd
iterations), consumes ``random_state`` with the same draws in the same order
and follows the same arithmetic: data centred on its column mean, squared
distances as ``|c|^2 - 2 x.c (+ |x|^2)``, products in the data's dtype
(seeding distances of float32 data in float64, as scikit-learn upcasts
them), multiply-adds in feature order.  Labels therefore agree except where
two distances tie to the last bit, where the summation order of scikit-learn's
BLAS decides.

Unlike KMeans it never copies X: each tile of rows is centred as it is read
((x - mean) rounds the same either way), and the state kept per row is one
label (and, during seeding, one distance).
"""

import warnings

import numpy as np
from numba import njit, prange
from sklearn.exceptions import ConvergenceWarning

from ._config import EXACT_NJIT_OPTIONS, TILE_ROWS, TILES_PER_BLOCK

# Multiply-adds fused and kept in order, as BLAS kernels compute them; no
# reassociation, which would change the order of the sums.
_OPTIONS = {"cache": True, "nogil": True, "fastmath": {"contract"}}

_BLOCK_ROWS = TILE_ROWS * TILES_PER_BLOCK


# ---------------------------------------------------------------------------
# Kernels: a tile of rows, a block of tiles, then passes over blocks.  The
# parallel functions hold only their ``prange`` loop: in a parallel function
# every allocation and array expression becomes a parallel region of its own,
# and data of one block needs none.


@njit(**_OPTIONS)
def _centred_tile(X, mean, start, stop, dtype):
    """Rows ``start:stop`` minus ``mean``, transposed, (n_features, rows), in dtype.

    The subtraction is in X's dtype, as scikit-learn's centred copy has it.
    """
    xt = np.empty((X.shape[1], stop - start), dtype=dtype)
    for b in range(stop - start):
        for i in range(X.shape[1]):
            xt[i, b] = X[start + b, i] - mean[i]
    return xt


@njit(**EXACT_NJIT_OPTIONS)
def _sq_norms(xt, out):
    """Squared norms of the columns of ``xt``, as ``np.einsum('ij,ij->i')`` rounds them.

    scikit-learn's ``row_norms``.  NumPy's SSE loop: 16-byte vectors (two
    float64 or four float32 lanes), blocks of four vectors added from the
    last to the first, the tail a vector at a time, then the lanes added
    pairwise; no fused multiply-adds.
    """
    n_features, n_rows = xt.shape
    lanes = 2 if out.itemsize == 8 else 4
    acc = np.zeros((lanes, n_rows), dtype=out.dtype)
    i = 0
    while i + 4 * lanes <= n_features:
        for v in range(3, -1, -1):
            for lane in range(lanes):
                for b in range(n_rows):
                    x = out.dtype.type(xt[i + v * lanes + lane, b])
                    acc[lane, b] = x * x + acc[lane, b]
        i += 4 * lanes
    while i < n_features:
        for lane in range(min(lanes, n_features - i)):
            for b in range(n_rows):
                x = out.dtype.type(xt[i + lane, b])
                acc[lane, b] = x * x + acc[lane, b]
        i += lanes
    for b in range(n_rows):
        if lanes == 2:
            out[b] = acc[0, b] + acc[1, b]
        else:
            out[b] = (acc[0, b] + acc[1, b]) + (acc[2, b] + acc[3, b])


@njit(**_OPTIONS)
def _dot_rows(xt, centre, out):
    """out[b] = sum_i xt[i, b] centre[i], multiply-adds in feature order.

    Four features per pass over ``out``; the chain of additions stays the
    one of a row-by-row dot product.
    """
    n_features, n_rows = xt.shape
    out[:] = 0
    i = 0
    while i + 4 <= n_features:
        c0, c1, c2, c3 = centre[i], centre[i + 1], centre[i + 2], centre[i + 3]
        for b in range(n_rows):
            t = out[b] + xt[i, b] * c0
            t = t + xt[i + 1, b] * c1
            t = t + xt[i + 2, b] * c2
            out[b] = t + xt[i + 3, b] * c3
        i += 4
    while i < n_features:
        c = centre[i]
        for b in range(n_rows):
            out[b] += xt[i, b] * c
        i += 1


@njit(**_OPTIONS)
def _seeding_distances(xt, norms, centre, dot, out):
    """Squared distances of a centred float64 tile to a centred ``centre``.

    As scikit-learn's ``_euclidean_distances``: (-2 x.c + |c|^2) + |x|^2,
    clipped at zero, in float64; ``norms`` holds |x|^2, ``dot`` is scratch.
    """
    centre64 = centre.astype(np.float64)
    cc = np.empty(1)
    _sq_norms(centre64.reshape((centre64.shape[0], 1)), cc)
    _dot_rows(xt, centre64, dot)
    for b in range(xt.shape[1]):
        out[b] = max((-2.0 * dot[b] + cc[0]) + norms[b], 0.0)


@njit(**_OPTIONS)
def _seeding_tile(X, mean, start, stop):
    """A centred tile in float64 and its rows' squared norms."""
    xt = _centred_tile(X, mean, start, stop, np.float64)
    norms = np.empty(stop - start)
    _sq_norms(xt, norms)
    return xt, norms


@njit(**_OPTIONS)
def _closest_block(X, mean, centre, closest, block_start, block_stop):
    for start in range(block_start, block_stop, TILE_ROWS):
        stop = min(start + TILE_ROWS, block_stop)
        xt, norms = _seeding_tile(X, mean, start, stop)
        dot = np.empty(stop - start)
        d = np.empty(stop - start)
        _seeding_distances(xt, norms, centre, dot, d)
        for b in range(stop - start):
            closest[start + b] = min(closest[start + b], closest.dtype.type(d[b]))


@njit(parallel=True, **_OPTIONS)
def _closest_blocks(X, mean, centre, closest, n_blocks):
    for block in prange(n_blocks):
        block_stop = min((block + 1) * _BLOCK_ROWS, X.shape[0])
        _closest_block(X, mean, centre, closest, block * _BLOCK_ROWS, block_stop)


@njit(**_OPTIONS)
def _update_closest(X, mean, centre, closest):
    """closest[i] = min(closest[i], |x_i - centre|^2), stored in closest's dtype."""
    n_samples = X.shape[0]
    n_blocks = (n_samples + _BLOCK_ROWS - 1) // _BLOCK_ROWS
    if n_blocks == 1:
        _closest_block(X, mean, centre, closest, 0, n_samples)
    else:
        _closest_blocks(X, mean, centre, closest, n_blocks)


@njit(**_OPTIONS)
def _potentials_block(X, mean, sample_weight, closest, candidates, block_start,
                      block_stop, out):  # fmt: skip
    for start in range(block_start, block_stop, TILE_ROWS):
        stop = min(start + TILE_ROWS, block_stop)
        xt, norms = _seeding_tile(X, mean, start, stop)
        dot = np.empty(stop - start)
        d = np.empty(stop - start)
        for c in range(candidates.shape[0]):
            _seeding_distances(xt, norms, candidates[c], dot, d)
            total = 0.0
            for b in range(stop - start):
                w = 1.0 if sample_weight.shape[0] == 0 else sample_weight[start + b]
                nearest = min(closest[start + b], closest.dtype.type(d[b]))
                total += w * np.float64(nearest)
            out[c] += total


@njit(parallel=True, **_OPTIONS)
def _potentials_blocks(X, mean, sample_weight, closest, candidates, partial):
    for block in prange(partial.shape[0]):
        _potentials_block(
            X, mean, sample_weight, closest, candidates, block * _BLOCK_ROWS,
            min((block + 1) * _BLOCK_ROWS, X.shape[0]), partial[block],
        )  # fmt: skip


@njit(**_OPTIONS)
def _candidate_potentials(X, mean, sample_weight, closest, candidates):
    """sum_i w_i min(closest_i, |x_i - c|^2) for each candidate centre c.

    Partial sums per block, added in block order: the same for any number of
    threads.  An empty ``sample_weight`` means ones.
    """
    n_samples = X.shape[0]
    n_blocks = (n_samples + _BLOCK_ROWS - 1) // _BLOCK_ROWS
    partial = np.zeros((n_blocks, candidates.shape[0]))
    if n_blocks == 1:
        _potentials_block(
            X, mean, sample_weight, closest, candidates, 0, n_samples, partial[0]
        )
        return partial[0]
    _potentials_blocks(X, mean, sample_weight, closest, candidates, partial)
    potentials = np.zeros(candidates.shape[0])
    for block in range(n_blocks):
        potentials += partial[block]
    return potentials


@njit(cache=True, nogil=True)  # no contraction: w * closest rounds, then adds
def _cumulative_search(sample_weight, closest, values):
    """``np.searchsorted(np.cumsum(w * closest), values)`` without the cumsum.

    ``values`` must be sorted.  The running sum is kept in ``closest``'s dtype,
    as ``np.cumsum`` keeps it.
    """
    n_samples = closest.shape[0]
    indices = np.full(values.shape[0], n_samples)
    total = closest.dtype.type(0)
    v = 0
    for i in range(n_samples):
        w = closest.dtype.type(1) if sample_weight.shape[0] == 0 else sample_weight[i]
        total += w * closest[i]
        while v < values.shape[0] and total >= values[v]:
            indices[v] = i
            v += 1
        if v == values.shape[0]:
            break
    return indices


@njit(**_OPTIONS)
def _lloyd_block(X, mean, sample_weight, centres, cc, labels, block_start,
                 block_stop, sums, weights):  # fmt: skip
    """Nearest centre of each row of a block, and (if ``sums`` is not empty)
    the clusters' weighted sums.  Returns how many labels changed.

    Distances as scikit-learn's Lloyd step ranks them: |c|^2 - 2 x.c, the
    first of equal minima.
    """
    n_clusters, n_features = centres.shape
    one = X.dtype.type(1)
    changed = 0
    for start in range(block_start, block_stop, TILE_ROWS):
        stop = min(start + TILE_ROWS, block_stop)
        n_rows = stop - start
        xt = _centred_tile(X, mean, start, stop, X.dtype)
        best = np.empty(n_rows, dtype=X.dtype)
        label = np.zeros(n_rows, dtype=np.int32)
        dot = np.empty(n_rows, dtype=X.dtype)
        for k in range(n_clusters):
            _dot_rows(xt, centres[k], dot)
            for b in range(n_rows):
                d = X.dtype.type(-2.0) * dot[b] + cc[k]
                if k == 0 or d < best[b]:
                    best[b] = d
                    label[b] = k
        for b in range(n_rows):
            changed += labels[start + b] != label[b]
            labels[start + b] = label[b]
        if sums.shape[0] != 0:
            for b in range(n_rows):
                w = one if sample_weight.shape[0] == 0 else sample_weight[start + b]
                weights[label[b]] += w
                for i in range(n_features):
                    sums[label[b], i] += xt[i, b] * w
    return changed


@njit(parallel=True, **_OPTIONS)
def _lloyd_blocks(X, mean, sample_weight, centres, cc, labels, part_sums,
                  part_weights, changed, update):  # fmt: skip
    n_features = X.shape[1]
    for block in prange(changed.shape[0]):
        sums = part_sums[block] if update else part_sums.reshape(0, n_features)
        weights = part_weights[block] if update else part_weights.reshape(0)
        changed[block] = _lloyd_block(
            X, mean, sample_weight, centres, cc, labels, block * _BLOCK_ROWS,
            min((block + 1) * _BLOCK_ROWS, X.shape[0]), sums, weights,
        )  # fmt: skip


@njit(**_OPTIONS)
def _lloyd_pass(X, mean, sample_weight, centres, labels, update):
    """One Lloyd step: labels, and with ``update`` the clusters' weighted sums.

    Returns (number of labels changed, sums, weights); partials per block are
    added in block order.
    """
    n_samples, n_features = X.shape
    n_clusters = centres.shape[0]
    cc = np.empty(n_clusters, dtype=X.dtype)
    _sq_norms(centres.T.copy(), cc)
    n_blocks = (n_samples + _BLOCK_ROWS - 1) // _BLOCK_ROWS
    rows = n_blocks if update else 0
    part_sums = np.zeros((rows, n_clusters, n_features), dtype=X.dtype)
    part_weights = np.zeros((rows, n_clusters), dtype=X.dtype)
    changed = np.zeros(n_blocks, dtype=np.int64)
    if n_blocks == 1:
        sums = part_sums[0] if update else part_sums.reshape(0, n_features)
        weights = part_weights[0] if update else part_weights.reshape(0)
        changed[0] = _lloyd_block(
            X, mean, sample_weight, centres, cc, labels, 0, n_samples, sums, weights
        )
    else:
        _lloyd_blocks(
            X, mean, sample_weight, centres, cc, labels, part_sums, part_weights,
            changed, update,
        )  # fmt: skip
    sums = np.zeros((n_clusters, n_features), dtype=X.dtype)
    weights = np.zeros(n_clusters, dtype=X.dtype)
    for block in range(rows):
        sums += part_sums[block]
        weights += part_weights[block]
    return changed.sum(), sums, weights


@njit(**_OPTIONS)
def _average_and_shift(sums, weights, old_centres):
    """scikit-learn's ``_average_centers`` and total squared centre shift.

    Multiplies by 1 / weight; a cluster left empty takes the heaviest
    cluster's row as it is at that point of the loop.  The shift is the sum
    of each centre's squared Euclidean shift, taken through its square root
    as scikit-learn takes it.
    """
    centres = sums.copy()
    largest = np.argmax(weights)
    for k in range(weights.shape[0]):
        if weights[k] > 0:
            alpha = sums.dtype.type(1.0 / np.float64(weights[k]))
            for i in range(centres.shape[1]):
                centres[k, i] *= alpha
        else:
            centres[k] = centres[largest]
    total = sums.dtype.type(0)
    for k in range(weights.shape[0]):
        squared = sums.dtype.type(0)
        for i in range(centres.shape[1]):
            t = centres[k, i] - old_centres[k, i]
            squared += t * t
        shift = np.sqrt(squared)
        total += shift * shift
    return centres, total


@njit(**_OPTIONS)
def _variances(X):
    """Column variances (two passes, float64 sums), as ``np.var(X, axis=0)``."""
    n_samples, n_features = X.shape
    mean = np.zeros(n_features)
    for r in range(n_samples):
        for i in range(n_features):
            mean[i] += X[r, i]
    mean /= n_samples
    var = np.zeros(n_features)
    for r in range(n_samples):
        for i in range(n_features):
            t = X[r, i] - mean[i]
            var[i] += t * t
    return var / n_samples


# ---------------------------------------------------------------------------
# The algorithm, step for step as scikit-learn's KMeans.fit with n_init=1


def kmeans_labels(X, n_clusters, sample_weight, random_state, max_iter=300, tol=1e-4):
    """Labels of ``KMeans(n_clusters, n_init=1, random_state).fit(X, sample_weight)``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float32 or float64, C order
    n_clusters : int
    sample_weight : ndarray of shape (n_samples,) or None
    random_state : numpy.random.RandomState
        Consumed as KMeans consumes it.
    max_iter, tol : as KMeans's.

    Returns
    -------
    labels : ndarray of shape (n_samples,), int32
    """
    dtype = X.dtype.type
    n_samples = X.shape[0]
    tol = float(np.mean(_variances(X))) * tol
    if sample_weight is None:
        weights = np.empty(0, dtype=dtype)  # the kernels read ones
    else:
        weights = np.ascontiguousarray(sample_weight, dtype=dtype)
    mean = X.mean(axis=0)
    centres = _kmeans_plusplus(X, mean, n_clusters, weights, random_state)
    labels = np.full(n_samples, -1, dtype=np.int32)
    strict_convergence = False
    for _ in range(max_iter):
        changed, sums, cluster_weights = _lloyd_pass(
            X, mean, weights, centres, labels, True
        )
        if not cluster_weights.all():
            _relocate_empty_clusters(
                X, mean, weights, centres, sums, cluster_weights, labels
            )
        centres, shift = _average_and_shift(sums, cluster_weights, centres)
        if changed == 0:
            strict_convergence = True
            break
        if shift <= tol:
            break
    if not strict_convergence:
        # Labels of the final centres, as KMeans reruns its assignment.
        _lloyd_pass(X, mean, weights, centres, labels, False)
    distinct = np.count_nonzero(np.bincount(labels, minlength=n_clusters))
    if distinct < n_clusters:
        warnings.warn(
            f"Number of distinct clusters ({distinct}) found smaller than "
            f"n_clusters ({n_clusters}). Possibly due to duplicate points "
            "in X.",
            ConvergenceWarning,
            stacklevel=2,
        )
    return labels


def _kmeans_plusplus(X, mean, n_clusters, weights, random_state):
    """Centred k-means++ centres, drawn as ``sklearn.cluster._kmeans_plusplus``."""
    n_samples, n_features = X.shape
    dtype = X.dtype.type
    n_local_trials = 2 + int(np.log(n_clusters))
    if weights.shape[0] == 0:
        # ones / ones.sum(), without an array of ones.
        p = np.full(n_samples, dtype(1) / dtype(n_samples), dtype=dtype)
    else:
        p = weights / weights.sum()
    first = random_state.choice(n_samples, p=p)
    del p
    centres = np.empty((n_clusters, n_features), dtype=dtype)
    centres[0] = X[first] - mean
    closest = np.full(n_samples, np.inf, dtype=dtype)
    _update_closest(X, mean, centres[0], closest)
    # Potentials in the data's dtype, as scikit-learn's products give them.
    current_pot = dtype(closest @ weights if len(weights) else closest.sum())
    for c in range(1, n_clusters):
        rand_vals = random_state.uniform(size=n_local_trials) * current_pot
        order = np.argsort(rand_vals, kind="stable")
        candidate_ids = np.empty(n_local_trials, dtype=np.intp)
        candidate_ids[order] = _cumulative_search(weights, closest, rand_vals[order])
        np.clip(candidate_ids, None, n_samples - 1, out=candidate_ids)
        candidates = X[candidate_ids] - mean
        potentials = _candidate_potentials(X, mean, weights, closest, candidates)
        best = int(np.argmin(potentials))
        current_pot = dtype(potentials[best])
        _update_closest(X, mean, candidates[best], closest)
        centres[c] = candidates[best]
    return centres


def _relocate_empty_clusters(X, mean, weights, centres, sums, cluster_weights, labels):
    """scikit-learn's ``_relocate_empty_clusters_dense`` (rare: NumPy is fine)."""
    empty = np.flatnonzero(cluster_weights == 0).astype(np.int32)
    if len(empty) == 0:
        return
    distances = (((X - mean) - centres[labels]) ** 2).sum(axis=1)
    far = np.argpartition(distances, -len(empty))[: -len(empty) - 1 : -1]
    if np.max(distances) == 0:
        return
    for new, far_idx in zip(empty, far):
        w = X.dtype.type(1) if weights.shape[0] == 0 else weights[far_idx]
        old = labels[far_idx]
        row = (X[far_idx] - mean) * w
        sums[old] -= row
        sums[new] = row
        cluster_weights[new] = w
        cluster_weights[old] -= w
