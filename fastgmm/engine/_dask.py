"""Dask arrays as a data source: EM passes run where the row blocks live.

``DaskData`` implements the data-source interface of ``fastgmm.engine._data`` for a
``dask.array.Array`` chunked along its rows.  Every pass over the data is one
``dask.compute`` of a map-reduce: a small function runs on each row block (on
the workers of a ``distributed`` cluster, or in the threads of Dask's default
scheduler) and returns a few small arrays, which are added up in a tree of
fixed shape, so that the sums do not depend on where or when blocks ran.
Parameters travel to the blocks; rows never leave them, except the handful
an initialisation picks (and the bounded sample 'k-means++' works on).

Dask recomputes a lazy array at every pass.  Persisting it in the workers'
memory first (``X = X.persist()``) makes each pass read it from there
instead.  A block is scored by one thread; the scheduler's threads (the
workers' ``nthreads`` on a cluster) process blocks side by side.

The initialisations draw their random numbers per block, from seeds derived
from ``random_state``: they do not reproduce scikit-learn's draws on the same
data (except 'random_from_data' and 'k-means++' on at most
``SMALL_SAMPLE_ROWS`` rows), and 'random' and 'kmeans' depend on the
chunking.  Starting from explicit ``weights_init``, ``means_init`` and
``precisions_init``, a fit on a Dask array is the same as on the array in
memory.

This module imports dask; ``fastgmm`` imports it only when given a Dask
array.
"""

import math
import uuid
from functools import partial

import dask
import dask.array as da
import numpy as np
from dask import delayed
from dask.delayed import Delayed
from dask.highlevelgraph import HighLevelGraph
from sklearn.cluster import KMeans, kmeans_plusplus
from sklearn.utils.validation import _check_sample_weight

from ..kernels import KMEANS_TOL, covariance, m_step
from ._dask_blocks import (
    _NON_FINITE,
    _as_float64,
    _block_costs,
    _block_e_step,
    _block_feature_sums,
    _block_initial_statistics,
    _block_lloyd,
    _block_missing_e_step,
    _block_scores,
    _block_top_keys,
    _call_block,
    _concatenate_parts,
    _distinct_indices,
    _draw_seed,
    _merge_initial_statistics,
    _Pass,
    _sum_parts,
    _top_keys,
    _tree_reduce,
)
from ._data import is_dask_array, output_dtype
from ._init import initial_statistics
from ._missing import (
    feature_means,
    mean_imputed,
)

# Data sets of at most this many rows are sampled as in memory; on larger
# ones 'k-means++' runs on a random sample of this many rows.
SMALL_SAMPLE_ROWS = 100_000

# k-means|| seeding for 'kmeans': oversampling rounds, each one pass, drawing
# about OVERSAMPLING * n_components candidate centres.
KMEANS_PARALLEL_ROUNDS = 5
OVERSAMPLING = 2
# Lloyd iterations (one pass each) after the seeding; their tolerance is
# KMeans's (``KMEANS_TOL``, relative to the mean feature variance).
LLOYD_MAX_ITER = 30

# k-means|| assumes that the cost falls at most this much in one round; a
# steeper fall draws fewer candidates than asked for.
_COST_FALL = 16.0


# ---------------------------------------------------------------------------
# Validation


def check_array(X, ensure_min_samples=1):
    """A 2-D, float32 or float64 Dask array with one chunk across its columns.

    float32 stays float32; other numeric dtypes become float64 (lazily).
    Values are not read here: non-finite values are detected by the first
    pass over the data.
    """
    if X.ndim != 2:
        raise ValueError(
            "Expected 2D array, got %dD array instead. Reshape your data "
            "either using array.reshape(-1, 1) if your data has a single "
            "feature or array.reshape(1, -1) if it contains a single sample." % X.ndim
        )
    if any(math.isnan(size) for size in X.shape):
        raise ValueError(
            "The Dask array X has unknown chunk sizes; call "
            "X.compute_chunk_sizes() first."
        )
    if X.dtype not in (np.float32, np.float64):
        if X.dtype.kind not in "biuf":
            raise ValueError(
                f"Dask array X has dtype {X.dtype}; a numeric dtype is expected."
            )
        X = X.astype(np.float64)
    n_samples, n_features = X.shape
    if n_samples < ensure_min_samples:
        raise ValueError(
            "Found array with %d sample(s) (shape=%s) while a minimum of %d is "
            "required by GaussianMixture." % (n_samples, X.shape, ensure_min_samples)
        )
    if n_features < 1:
        raise ValueError(
            "Found array with 0 feature(s) (shape=%s) while a minimum of 1 is "
            "required by GaussianMixture." % (X.shape,)
        )
    if X.numblocks[1] > 1:
        X = X.rechunk({1: -1})
    return X


def check_sample_weight(sample_weight, X):
    """Row weights as a float64 Dask array chunked like the rows of ``X``.

    A NumPy (or array-like) ``sample_weight`` is validated as scikit-learn
    validates it and split into X's row chunks; a Dask one is checked in one
    pass over the weights.

    Returns
    -------
    sample_weight : dask array of shape (n_samples,)
    n_positive : int
        Number of positive weights.
    total_weight : float
    """
    n_samples = X.shape[0]
    if not is_dask_array(sample_weight):
        weights = _check_sample_weight(
            sample_weight, X, dtype=np.float64, ensure_non_negative=True
        )
        # Persisted, so that a cluster receives them once, not every pass.
        return (
            da.from_array(weights, chunks=(X.chunks[0],)).persist(),
            int(np.count_nonzero(weights)),
            float(weights.sum()),
        )
    if sample_weight.shape != (n_samples,):
        raise ValueError(
            f"sample_weight.shape == {sample_weight.shape}, expected {(n_samples,)}!"
        )
    if sample_weight.dtype.kind not in "biuf":
        raise ValueError(
            f"sample_weight has dtype {sample_weight.dtype}; "
            "a numeric dtype is expected."
        )
    weights = sample_weight.astype(np.float64)
    if weights.chunks[0] != X.chunks[0]:
        weights = weights.rechunk((X.chunks[0],))
    finite, lowest, n_positive, total = dask.compute(
        da.isfinite(weights).all(), weights.min(), (weights > 0).sum(), weights.sum()
    )
    if not finite:
        raise ValueError("Input sample_weight contains NaN or infinity.")
    if lowest < 0:
        raise ValueError("Negative values in data passed to `sample_weight`")
    return weights, int(n_positive), float(total)


def _check_finite(*values):
    if not all(np.all(np.isfinite(v)) for v in values):
        raise ValueError(_NON_FINITE)


# ---------------------------------------------------------------------------
# The data source


class DaskData:
    """Rows of a Dask array, with optional row weights, left where they are.

    Parameters
    ----------
    X : dask array of shape (n_samples, n_features)
        As returned by ``check_array``: float32 or float64, one column chunk.
    sample_weight : dask array of shape (n_samples,) or None
        As returned by ``check_sample_weight``: float64, X's row chunks.
    total_weight : float or None
        Sum of ``sample_weight``; required with it.
    """

    def __init__(self, X, sample_weight=None, total_weight=None):
        self.X = X
        self.sample_weight = sample_weight
        self.dtype = X.dtype
        self.n_samples, self.n_features = X.shape
        self.parallel = True  # workers and local threads run kernels at once
        self.total_weight = (
            float(self.n_samples) if sample_weight is None else float(total_weight)
        )
        # X (and the weights) with their graphs optimised once (blockwise
        # operations fused); every pass maps over their blocks.
        self._X, self._weights = dask.optimize(
            X, None if sample_weight is None else sample_weight[:, np.newaxis]
        )
        self._starts = np.concatenate([[0], np.cumsum(X.chunks[0])]).astype(np.int64)

    # -- passes ---------------------------------------------------------

    def _map_reduce(self, func, shared, combine=_sum_parts, rows=True):
        """One pass: ``func(X, sample_weight, start, index, shared)`` on every
        block, the results combined by ``combine`` (lists of results).

        With ``rows=False`` the function gets the weights only (X is None),
        and X is not computed.
        """
        arrays = [self._X] if rows else []
        if self._weights is not None:
            arrays.append(self._weights)
        parts = da.map_blocks(
            _call_block,
            *arrays,
            work=delayed(_Pass(func, shared, self._starts), traverse=False),
            with_rows=rows,
            drop_axis=1,
            dtype=object,
            meta=np.empty((0,), dtype=object),
            name=f"fastgmm-{func.__name__.strip('_')}-{uuid.uuid4().hex}",
        )
        # The partial results are combined by a tree of tasks of our own.
        name = f"{parts.name}-sum"
        layer = {}
        root = _tree_reduce(layer, name, list(parts.__dask_keys__()), combine)
        graph = HighLevelGraph.from_collections(name, layer, dependencies=[parts])
        return dask.compute(Delayed(root, graph, layer=name))[0]

    def statistics(self, params, ref):
        """E-step: (sum of weighted log p(x), nk, s1, s2) about ``ref``."""
        log_likelihood, nk, s1, s2 = self._map_reduce(
            _block_e_step, (params.as_args(), ref, params.code)
        )
        _check_finite(log_likelihood, nk, s1, s2)
        return log_likelihood, nk, s1, s2

    def labels(self, params):
        """Most probable component of each row, as a lazy Dask array."""
        return score_lazily(self.X, params, labels=True)[2]

    # -- initialisation -------------------------------------------------

    def initial_moments(
        self, init_params, n_components, covariance_type, reg_covar, random_state
    ):
        """Weights, means and covariances of the initial responsibilities.

        - 'random_from_data': n_components rows drawn (with probabilities
          proportional to ``sample_weight``); only those rows are fetched.
        - 'k-means++': k-means++ on a uniform (weighted: proportional to
          ``sample_weight``) random sample of at most ``SMALL_SAMPLE_ROWS``
          rows, fetched to the client.
        - 'random': responsibilities drawn per block from seeds derived from
          ``random_state``.
        - 'kmeans': k-means|| seeding (``KMEANS_PARALLEL_ROUNDS`` passes),
          weighted k-means on its candidates on the client, then distributed
          Lloyd iterations (at most ``LLOYD_MAX_ITER`` passes).

        The moments of the resulting responsibilities take one more pass
        (none for the single-row initialisations, except with 'tied').
        """
        if not isinstance(init_params, str):
            # Labels or responsibilities per row would be arrays the size of
            # the data: Dask fits draw their own initialisations.
            raise TypeError(
                "Dask data draws its own initialisation; given initial "
                "responsibilities are for in-memory data only."
            )
        if init_params == "kmeans":
            centres = self._kmeans_centres(n_components, random_state)
            stats = self._initial_statistics(
                ("nearest", centres), covariance_type, n_components
            )
        elif init_params == "random":
            stats = self._initial_statistics(
                ("random", _draw_seed(random_state)), covariance_type, n_components
            )
        else:
            if init_params == "random_from_data":
                indices = self._draw_rows(n_components, random_state)
            else:
                indices = self._kmeans_plusplus_rows(n_components, random_state)
            stats = self._single_row_statistics(indices, covariance_type, n_components)
        nk, s1, s2, ref = stats
        # Weights divided by the total weight, as in memory.
        return m_step(
            nk, s1, s2, ref, covariance_type, reg_covar, self.dtype, self.total_weight
        )

    def _initial_statistics(self, assignment, covariance_type, n_components):
        """(nk, s1, s2, ref) of per-block responsibilities: one pass."""
        kind, value = assignment
        merge = partial(_merge_initial_statistics, covariance_type=covariance_type)
        _, nk, s1, s2, ref = self._map_reduce(
            _block_initial_statistics,
            (kind, value, covariance_type, n_components),
            combine=merge,
        )
        _check_finite(nk, s1, s2, ref)
        return nk, s1, s2, ref

    def moments(self):
        """Weighted mean and scatter of all rows (``DataSource.moments``): one
        pass, the blocks' moments merged about the combined mean."""
        _, _, s2, ref = self._initial_statistics(("scatter", None), "tied", 1)
        return ref[0], s2[0]

    def _single_row_statistics(self, indices, covariance_type, n_components):
        """Statistics of one row per component (the rows ``indices``)."""
        rows, weights = self._take_rows(indices)
        _check_finite(rows)
        if covariance(covariance_type).shared:
            # The shared covariance is the scatter of every row about their
            # mean; each component holds its one row (a row may start several).
            _, _, s2, ref = self._initial_statistics(
                ("scatter", None), covariance_type, n_components
            )
            nk = np.ones(n_components) if weights is None else _as_float64(weights)
            s1 = nk[:, np.newaxis] * (rows.astype(np.float64) - ref)
            return nk, s1, s2, ref
        nk, s1, s2, ref = initial_statistics(
            rows, weights, np.arange(n_components), None, covariance_type, n_components
        )
        return nk, s1, s2, ref

    def _take_rows(self, indices):
        """Rows ``indices`` (and their weights), fetching only their blocks."""
        indices = np.asarray(indices, dtype=np.int64)
        order = np.argsort(indices)
        # Dask computes only the blocks that hold rows asked for.
        rows, weights = dask.compute(
            self.X[indices[order]],
            None if self.sample_weight is None else self.sample_weight[indices[order]],
        )
        # Put the rows back in the order asked for.
        inverse = np.empty_like(order)
        inverse[order] = np.arange(len(order))
        return rows[inverse], None if weights is None else weights[inverse]

    def _all_weights(self):
        return None if self.sample_weight is None else self.sample_weight.compute()

    def _draw_rows(self, k, random_state):
        """k distinct row indices, with probabilities proportional to the
        weights; drawn as scikit-learn draws them on small data."""
        n = self.n_samples
        if n <= SMALL_SAMPLE_ROWS:
            weights = self._all_weights()
            p = None if weights is None else weights / weights.sum()
            return random_state.choice(n, size=k, replace=False, p=p)
        if self.sample_weight is None:
            return _distinct_indices(random_state, n, k)
        seed = _draw_seed(random_state)
        _, indices = self._map_reduce(
            _block_top_keys, (k, seed), combine=partial(_top_keys, k=k), rows=False
        )
        return indices

    def _kmeans_plusplus_rows(self, n_components, random_state):
        """Indices of the rows k-means++ picks from a bounded sample."""
        if self.n_samples <= SMALL_SAMPLE_ROWS:
            # The whole data set, as in memory.
            X, weights = dask.compute(self.X, self.sample_weight)
            sample = np.arange(self.n_samples)
        else:
            sample = np.sort(self._draw_rows(SMALL_SAMPLE_ROWS, random_state))
            X, _ = self._take_rows(sample)
            weights = None  # the sample is already drawn by weight
        _check_finite(X)
        _, chosen = kmeans_plusplus(
            X, n_components, random_state=random_state, sample_weight=weights
        )
        return sample[chosen]

    def _kmeans_centres(self, n_clusters, random_state):
        """k-means|| seeding, k-means on its candidates, then Lloyd passes."""
        centres = self._take_rows(self._draw_rows(1, random_state))[0]
        _check_finite(centres)
        centres = _as_float64(centres)
        oversampling = OVERSAMPLING * n_clusters
        cost = self._map_reduce(
            _block_costs, (centres, oversampling, None, 0), _concatenate_parts
        )[0]
        _check_finite(cost)
        for _ in range(KMEANS_PARALLEL_ROUNDS):
            if cost == 0.0:
                break
            # Candidates are drawn against a floor of the new cost and
            # thinned to the new cost here.
            floor = cost / _COST_FALL
            new_cost, rows, draws, weighted = self._map_reduce(
                _block_costs,
                (centres, oversampling, floor, _draw_seed(random_state)),
                _concatenate_parts,
            )
            _check_finite(new_cost)
            cost = new_cost
            keep = draws * cost < oversampling * weighted
            centres = np.concatenate([centres, rows[keep]])
        # Weight of the rows nearest each candidate, then k-means on them.
        counts = self._map_reduce(_block_lloyd, centres)[0]
        mean = np.average(centres, axis=0, weights=counts)
        variance = np.average((centres - mean) ** 2, axis=0, weights=counts)
        if len(centres) > n_clusters:
            kmeans = KMeans(n_clusters=n_clusters, n_init=1, random_state=random_state)
            centres = kmeans.fit(centres, sample_weight=counts).cluster_centers_
        else:
            # No more distinct rows than clusters: each one is a centre.
            centres = np.resize(centres, (n_clusters, centres.shape[1]))
        return self._lloyd(centres, KMEANS_TOL * variance.mean())

    def _lloyd(self, centres, tol):
        """Lloyd iterations, one pass each, until the centres move less than
        ``tol`` (sum of squared shifts); an empty cluster keeps its centre."""
        for _ in range(LLOYD_MAX_ITER):
            counts, sums, _ = self._map_reduce(_block_lloyd, centres)
            _check_finite(sums)
            filled = counts > 0
            moved = centres.copy()
            moved[filled] = sums[filled] / counts[filled, None]
            shift = float(((moved - centres) ** 2).sum())
            centres = moved
            if shift <= tol:
                break
        return centres


# ---------------------------------------------------------------------------
# Scoring


class MissingDaskData(DaskData):
    """Rows of a Dask array of which some miss entries (NaN): each block's
    E-step is ``fastgmm.engine._missing``'s, and the start is drawn from the
    rows with each missing entry replaced by its feature's mean (one pass for
    the means, the imputed rows computed block by block when read).

    Parameters are ``DaskData``'s.  Raises ``ValueError`` for a row or a
    feature with no observed entry, naming it.
    """

    def __init__(self, X, sample_weight=None, total_weight=None):
        super().__init__(X, sample_weight, total_weight)
        *sums, empty_rows = self._map_reduce(_block_feature_sums, None)
        if empty_rows:
            first = int(da.argmax(da.isnan(X).all(axis=1)).compute())
            raise ValueError(
                f"Row {first} of X has every feature missing (NaN); "
                f"{empty_rows} row(s) do. A row needs at least one observed "
                "feature: drop such rows before fitting."
            )
        never_seen = np.flatnonzero(sums[3] == 0)
        if never_seen.size:
            raise ValueError(
                f"Feature {never_seen[0]} of X is missing (NaN) in every row; "
                "its distribution cannot be estimated. Drop the feature."
            )
        means = feature_means(*sums)
        imputed = X.map_blocks(mean_imputed, means, dtype=X.dtype)
        self.imputed = DaskData(imputed, sample_weight, total_weight)

    def initial_moments(
        self, init_params, n_components, covariance_type, reg_covar, random_state
    ):
        """``DaskData.initial_moments`` of the mean-imputed rows."""
        return self.imputed.initial_moments(
            init_params, n_components, covariance_type, reg_covar, random_state
        )

    def statistics(self, params, ref):
        """E-step: (sum of weighted log p(x_o), nk, s1, s2) about ``ref``."""
        log_likelihood, nk, s1, s2 = self._map_reduce(
            _block_missing_e_step, (params, ref)
        )
        _check_finite(log_likelihood, nk, s1, s2)
        return log_likelihood, nk, s1, s2

    def labels(self, params):
        """Most probable component of each row, from its observed features."""
        return score_lazily(self.X, params, labels=True, missing=True)[2]

    def moments(self):
        """Weighted mean and scatter of the mean-imputed rows."""
        return self.imputed.moments()


def score_lazily(
    X, params, log_norm=False, resp=False, labels=False, dtype=None, missing=False
):
    """Lazy per-row log p(x), responsibilities and labels of a Dask array.

    Each output asked for is a Dask array chunked like the rows of ``X``
    (the others are None); computing it runs the scoring kernel on each
    block, which raises ``ValueError`` on non-finite values.  ``dtype``: that
    of log p(x) and the responsibilities, by default scikit-learn's (see
    ``fastgmm.engine._data.output_dtype``), declared in the lazy arrays' metadata.
    ``missing``: NaN marks a missing entry, and a row is scored by its
    observed features.
    """
    if dtype is None:
        dtype = output_dtype(X.dtype, params.weights, params.means, params.prec_chol)
    dtype = np.dtype(dtype)
    shared = delayed(params, traverse=False)
    n_components = params.means.shape[0]
    outputs = [None, None, None]
    if log_norm:
        outputs[0] = X.map_blocks(
            _block_scores, shared, "log_norm", dtype, missing, drop_axis=1,
            dtype=dtype,
        )  # fmt: skip
    if resp:
        outputs[1] = X.map_blocks(
            _block_scores,
            shared,
            "resp",
            dtype,
            missing,
            chunks=(X.chunks[0], (n_components,)),
            dtype=dtype,
        )
    if labels:
        outputs[2] = X.map_blocks(
            _block_scores, shared, "labels", dtype, missing, drop_axis=1,
            dtype=np.intp,
        )  # fmt: skip
    return tuple(outputs)
