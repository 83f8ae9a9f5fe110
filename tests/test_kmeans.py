"""fastgmm's k-means against scikit-learn's KMeans and naive NumPy references.

``fastgmm.kernels._kmeans.kmeans_labels`` must give the labels of
``KMeans(n_clusters, n_init=1, random_state).fit(X, sample_weight)`` and
leave the random state as KMeans leaves it, so that the default
('kmeans') initialisation of a GaussianMixture is scikit-learn's.
"""

import warnings

import numba
import numpy as np
import pytest
from conftest import load_dataset
from naive import naive_cluster_sums, naive_nearest_centre, naive_seeding_distances
from sklearn.cluster import KMeans
from sklearn.cluster._k_means_common import _relocate_empty_clusters_dense
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from fastgmm.kernels import _kmeans


def sklearn_labels(X, k, seed, sample_weight=None):
    """KMeans's labels, and its random state after the fit.

    KMeans runs on one OpenMP thread: its centre sums (per thread, then
    added) then do not depend on the machine's number of cores, and they
    are fastgmm's for up to 4096 rows (one block).
    """
    random_state = np.random.RandomState(seed)
    with warnings.catch_warnings(), threadpool_limits(1, user_api="openmp"):
        warnings.simplefilter("ignore", ConvergenceWarning)
        kmeans = KMeans(n_clusters=k, n_init=1, random_state=random_state)
        labels = kmeans.fit(X, sample_weight=sample_weight).labels_
    return labels, random_state


def fastgmm_labels(X, k, seed, sample_weight=None):
    random_state = np.random.RandomState(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        labels = _kmeans.kmeans_labels(X, k, sample_weight, random_state)
    return labels, random_state


def assert_same_as_sklearn(X, k, seed, sample_weight=None):
    expected, sk_state = sklearn_labels(X, k, seed, sample_weight)
    labels, state = fastgmm_labels(X, k, seed, sample_weight)
    assert labels.dtype == expected.dtype
    np.testing.assert_array_equal(labels, expected)
    # The random state is left where KMeans leaves it.
    assert state.random_sample() == sk_state.random_sample()


def blobs(n_samples, n_features, seed, dtype=np.float64, centers=5):
    X, _ = make_blobs(
        n_samples, n_features=n_features, centers=centers, random_state=seed
    )
    return X.astype(dtype)


def uniform(n_samples, n_features, seed, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return rng.uniform(-3, 5, size=(n_samples, n_features)).astype(dtype)


# ---------------------------------------------------------------------------
# Labels: the same as scikit-learn's


@pytest.mark.parametrize("n_features", [1, 2, 8, 33])
@pytest.mark.parametrize("k", [1, 2, 3, 16])
@pytest.mark.parametrize("n_samples", [40, 255, 1000, 4097])
@pytest.mark.parametrize("data", [blobs, uniform])
def test_labels_match_sklearn(data, n_samples, k, n_features):
    for seed in range(3):
        assert_same_as_sklearn(data(n_samples, n_features, seed), k, seed)


@pytest.mark.parametrize("seed", range(20))
def test_labels_match_sklearn_many_seeds(seed):
    rng = np.random.default_rng(seed)
    n_samples = int(rng.integers(50, 3000))
    n_features = int(rng.integers(1, 12))
    k = int(rng.integers(1, 12))
    X = blobs(n_samples, n_features, seed, centers=int(rng.integers(1, 8)))
    assert_same_as_sklearn(X, k, seed)


@pytest.mark.parametrize("n_features, k", [(2, 3), (8, 16), (33, 5)])
def test_labels_match_sklearn_large(n_features, k):
    # Several blocks of rows: the parallel passes, and a last partial tile.
    X = blobs(20_011, n_features, 0, centers=8)
    assert_same_as_sklearn(X, k, 0)


@pytest.mark.parametrize("name", ["iris", "wine"])
@pytest.mark.parametrize("k", [2, 3, 5, 10])
def test_labels_match_sklearn_real_data(name, k):
    X = load_dataset(name)
    for seed in range(5):
        assert_same_as_sklearn(X, k, seed)


@pytest.mark.parametrize("k", [2, 3, 16])
def test_labels_match_sklearn_far_from_origin(k):
    # Centring on the mean keeps the digits of data offset by 1e6.
    for seed in range(3):
        X = blobs(1500, 3, seed) + 1e6
        assert_same_as_sklearn(X, k, seed)


@pytest.mark.parametrize("n_samples", [300, 5000])
@pytest.mark.parametrize("k", [1, 3, 16])
def test_labels_match_sklearn_with_sample_weight(n_samples, k):
    for seed in range(3):
        rng = np.random.default_rng(seed)
        X = blobs(n_samples, 4, seed)
        assert_same_as_sklearn(X, k, seed, rng.uniform(0.1, 5.0, n_samples))
        # Integer weights, zeros among them.
        assert_same_as_sklearn(X, k, seed, rng.integers(0, 4, n_samples) * 1.0)


@pytest.mark.parametrize("n_features", [1, 2, 3, 8, 33])
@pytest.mark.parametrize("k", [1, 2, 3])
def test_labels_match_sklearn_float32(n_features, k):
    for seed in range(3):
        for n_samples in (200, 3000):
            X = blobs(n_samples, n_features, seed, dtype=np.float32)
            assert_same_as_sklearn(X, k, seed)
    X = blobs(2000, n_features, 0, dtype=np.float32)
    assert_same_as_sklearn(X, k, 0, np.random.default_rng(0).uniform(0.5, 2, 2000))


@pytest.mark.parametrize("n_features", [1, 2, 3])
def test_labels_match_sklearn_float32_many_clusters(n_features):
    for seed in range(3):
        X = blobs(3000, n_features, seed, dtype=np.float32, centers=12)
        assert_same_as_sklearn(X, 16, seed)


@pytest.mark.parametrize("n_features", [8, 33])
def test_float32_many_clusters_differ_only_at_ties(n_features):
    # With 8 or more clusters and 4 or more features, OpenBLAS's float32 GEMM
    # kernel (the one scikit-learn's Lloyd step calls) adds some products in
    # two interleaved sums, not in feature order: distances that tie to the
    # last bit can rank differently and the iterations drift a little apart.
    # Same seeding, and nearly all labels the same.
    for seed in range(3):
        X = blobs(5000, n_features, seed, dtype=np.float32, centers=12)
        expected, sk_state = sklearn_labels(X, 16, seed)
        labels, state = fastgmm_labels(X, 16, seed)
        assert np.mean(labels == expected) > 0.97
        assert state.random_sample() == sk_state.random_sample()


def duplicated_points(seed):
    """A few points repeated 20 times, and a few distinct ones."""
    rng = np.random.default_rng(seed)
    n_repeated = rng.integers(1, 4)
    repeated = np.repeat(rng.normal(size=(n_repeated, 2)) * 5, 20, axis=0)
    return np.concatenate([repeated, rng.normal(size=(rng.integers(5, 40), 2))])


@pytest.mark.parametrize("seed, k", [(65, 11), (127, 11), (233, 10), (239, 10)])
def test_empty_clusters_relocated_as_sklearn(monkeypatch, seed, k):
    calls = []
    relocate = _kmeans._relocate_empty_clusters

    def spy(*args, **kwargs):
        calls.append(args)
        return relocate(*args, **kwargs)

    monkeypatch.setattr(_kmeans, "_relocate_empty_clusters", spy)
    assert_same_as_sklearn(duplicated_points(seed), k, seed)
    assert calls, "no cluster was left empty: the case does not test relocation"


def test_fewer_distinct_points_than_clusters_warns_as_sklearn():
    X = np.repeat(np.array([[0.0, 0.0], [1.0, 2.0], [5.0, 1.0]]), 10, axis=0)
    message = r"Number of distinct clusters \(3\) found smaller than n_clusters \(5\)"
    with pytest.warns(ConvergenceWarning, match=message):
        KMeans(n_clusters=5, n_init=1, random_state=0).fit(X)
    with pytest.warns(ConvergenceWarning, match=message):
        labels = _kmeans.kmeans_labels(X, 5, None, np.random.RandomState(0))
    assert_same_as_sklearn(X, 5, 0)
    assert len(np.unique(labels)) == 3


def test_no_warning_with_enough_distinct_points():
    X = blobs(300, 2, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _kmeans.kmeans_labels(X, 3, None, np.random.RandomState(0))


def test_weights_that_are_no_distribution_go_to_choice():
    X = blobs(50, 2, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # 0 / 0
        with pytest.raises(ValueError, match="probabilities contain NaN"):
            _kmeans.kmeans_labels(X, 3, np.zeros(50), np.random.RandomState(0))
    # Negative weights that make a distribution: choice() draws the first
    # centre, and the random state moves on as in KMeans.
    assert_same_as_sklearn(X, 3, 0, -np.ones(50))


def test_same_labels_for_any_number_of_threads():
    X = blobs(30_001, 5, 1, centers=10)
    w = np.random.default_rng(0).uniform(0.5, 2, len(X))
    before = numba.get_num_threads()
    results = []
    try:
        for n_threads in (1, 2):
            numba.set_num_threads(min(n_threads, numba.config.NUMBA_NUM_THREADS))
            labels = _kmeans.kmeans_labels(X, 10, w, np.random.RandomState(3))
            mean, _ = _kmeans.column_mean_var(X)
            centres = X[:10] - mean
            cc = np.einsum("ij,ij->i", centres, centres)
            state = _kmeans.lloyd_state(len(X), centres)
            step = _kmeans.lloyd_pass(X, mean, w, centres, cc, labels.copy(), *state)
            results.append((labels, step))
    finally:
        numba.set_num_threads(before)
    (labels1, step1), (labels2, step2) = results
    np.testing.assert_array_equal(labels1, labels2)
    for a, b in zip(step1, step2):
        np.testing.assert_array_equal(a, b)  # bitwise


def test_input_not_modified():
    X = blobs(500, 3, 0)
    w = np.ones(500)
    copy = X.copy()
    _kmeans.kmeans_labels(X, 3, w, np.random.RandomState(0))
    np.testing.assert_array_equal(X, copy)
    np.testing.assert_array_equal(w, 1.0)


# ---------------------------------------------------------------------------
# Kernels against naive NumPy


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_features", [1, 2, 3, 8, 33])
def test_column_mean_var_is_numpy_bit_for_bit(dtype, n_features):
    rng = np.random.default_rng(n_features)
    for n_samples in (1, 7, 8, 129, 1000, 20_001):
        scale = rng.uniform(0.01, 100, n_features)
        offset = rng.uniform(-1e4, 1e4, n_features)
        X = (rng.standard_normal((n_samples, n_features)) * scale + offset).astype(
            dtype
        )
        mean, var = _kmeans.column_mean_var(X)
        for got, expected in ((mean, X.mean(axis=0)), (var, np.var(X, axis=0))):
            assert got.dtype == expected.dtype
            np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pairwise_sum_is_numpy_bit_for_bit(dtype):
    rng = np.random.default_rng(0)
    for n in (0, 1, 7, 8, 9, 127, 128, 129, 1000, 65_537):
        a = (rng.standard_normal(n) * 1e3 + 7).astype(dtype)
        assert _kmeans._pairwise_sum(a, dtype(0), False) == a.sum()
        assert _kmeans._pairwise_sum(a, dtype(3), True) == ((a - dtype(3)) ** 2).sum()


def test_sum_of_ones_is_numpy():
    for n in (1, 128, 129, 1000, 2**24 + 37):
        assert _kmeans._sum_of_ones(n, np.float32) == np.ones(n, np.float32).sum()
        assert _kmeans._sum_of_ones(n, np.float64) == n


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_row_norms_are_einsums_bit_for_bit(dtype):
    rng = np.random.default_rng(0)
    for n_features in range(1, 40):
        rows = (rng.standard_normal((20, n_features)) * 30).astype(dtype)
        got = _kmeans._row_norms(rows, np.empty(20, dtype))
        np.testing.assert_array_equal(got, np.einsum("ij,ij->i", rows, rows))
        # Upcast to float64 first, as euclidean_distances does for float32.
        rows64 = rows.astype(np.float64)
        np.testing.assert_array_equal(
            _kmeans._row_norms(rows, np.empty(20)),
            np.einsum("ij,ij->i", rows64, rows64),
        )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weighted", [False, True])
def test_seeding_pass_against_naive(dtype, weighted):
    rng = np.random.default_rng(1)
    for n_samples in (300, 9000):
        X = blobs(n_samples, 5, 2, dtype=dtype)
        w = rng.uniform(0.5, 2, n_samples).astype(dtype) if weighted else None
        w_kernel = np.empty(0, dtype) if w is None else w
        w_naive = np.ones(n_samples) if w is None else w.astype(np.float64)
        mean, _ = _kmeans.column_mean_var(X)
        Xc = X - mean
        # One centre: the distances to it become ``closest``.
        closest = np.full(n_samples, np.inf, dtype=dtype)
        centre = Xc[7:8]
        cc = _kmeans._row_norms(centre, np.empty(1))
        nearer = np.zeros(n_samples, np.uint16)
        pot = _kmeans.seeding_pass(
            X, mean, w_kernel, centre, cc, closest, nearer, np.int64(-1)
        )
        expected = naive_seeding_distances(Xc, centre[0]).astype(dtype)
        np.testing.assert_allclose(closest, expected, rtol=1e-5, atol=1e-9)
        np.testing.assert_allclose(pot, [w_naive @ closest], rtol=1e-12)
        # Several candidates: their potentials, ``closest`` unchanged.
        before = closest.copy()
        candidates = Xc[[3, 100, 250]]
        cc = _kmeans._row_norms(candidates, np.empty(3))
        pots = _kmeans.seeding_pass(
            X, mean, w_kernel, candidates, cc, closest, nearer, np.int64(-1)
        )
        np.testing.assert_array_equal(closest, before)
        for c in range(3):
            d = naive_seeding_distances(Xc, candidates[c])
            # Bit c marks the rows candidate c is nearer to (up to rounding:
            # the naive distances are not the kernel's bits).
            marked = (nearer >> c) & 1 == 1
            clear = np.abs(d - closest) > 1e-5 * np.maximum(d, 1e-9)
            np.testing.assert_array_equal(marked[clear], (d < closest)[clear])
            assert marked.any() and not marked.all()
            # The chosen candidate's pass updates ``closest`` to the same
            # minimum its potential summed (and leaves the sum to that).
            updated = closest.copy()
            pot = _kmeans.seeding_pass(X, mean, w_kernel, candidates[c : c + 1],
                                       cc[c : c + 1], updated, nearer,
                                       np.int64(c))  # fmt: skip
            np.testing.assert_allclose(
                updated, np.minimum(closest, d), rtol=1e-5, atol=1e-9
            )
            np.testing.assert_array_equal(pot, [0.0])
            np.testing.assert_allclose(
                pots[c], w_naive @ updated.astype(np.float64), rtol=1e-12
            )


def test_argsort_few_is_stable_argsort():
    rng = np.random.default_rng(0)
    for n in range(1, 7):
        for _ in range(50):
            values = rng.integers(0, 3, n).astype(np.float64)
            np.testing.assert_array_equal(
                _kmeans._argsort_few(values), np.argsort(values, kind="stable")
            )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cumulative_search_is_searchsorted_of_cumsum(dtype):
    rng = np.random.default_rng(0)
    closest = rng.uniform(0, 3, 5000).astype(dtype)
    for w in (np.empty(0, dtype), rng.uniform(0, 2, 5000).astype(dtype)):
        cumsum = np.cumsum(closest if len(w) == 0 else w * closest)
        values = np.sort(rng.uniform(0, 1.01, 50) * cumsum[-1])
        values[:3] = [0.0, cumsum[10], cumsum[20]]  # exact hits: side='left'
        values.sort()
        np.testing.assert_array_equal(
            _kmeans.cumulative_search(w, closest, values),
            np.searchsorted(cumsum, values),
        )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_first_centre_is_random_state_choice(dtype):
    rng = np.random.default_rng(0)
    for seed in range(50):
        n = int(rng.integers(1, 3000))
        w = rng.uniform(0, 3, n).astype(dtype)
        for weights, p in (
            (np.empty(0, dtype), np.ones(n, dtype) / np.ones(n, dtype).sum()),
            (w, w / w.sum()),
        ):
            expected = np.random.RandomState(seed).choice(n, p=p)
            total = _kmeans._sum_of_ones(n, dtype) if len(weights) == 0 else w.sum()
            u = np.random.RandomState(seed).random_sample()
            assert _kmeans._first_centre(weights, n, total, u) == expected


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k", [5, 16])
def test_seeding_picks_sklearns_rows(dtype, k):
    # k-means++ on several blocks of rows, each pass computing the rows'
    # norms itself: the rows scikit-learn's seeding picks, from the same draws.
    from sklearn.cluster._kmeans import _kmeans_plusplus
    from sklearn.utils.extmath import row_norms

    X = blobs(9000, 6, 3, dtype=dtype, centers=k)
    mean, _ = _kmeans.column_mean_var(X)
    Xc = X - mean
    n_trials = 2 + int(np.log(k))
    random_state = np.random.RandomState(0)
    _, expected = _kmeans_plusplus(
        Xc, k, row_norms(Xc, squared=True), np.ones(len(X), dtype), random_state,
        n_local_trials=n_trials,
    )  # fmt: skip
    draws = np.random.RandomState(0)
    u = draws.random_sample()
    first = _kmeans._first_centre(
        np.empty(0, dtype), len(X), _kmeans._sum_of_ones(len(X), dtype), u
    )
    uniforms = draws.random_sample((k - 1) * n_trials)
    centres = _kmeans._seed_centres.copy()(
        X, mean, np.empty(0, dtype), first, uniforms, n_trials
    )
    np.testing.assert_array_equal(centres, Xc[expected])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_samples", [500, 9000])
def test_lloyd_pass_against_naive(dtype, n_samples):
    rng = np.random.default_rng(0)
    X = blobs(n_samples, 6, 0, dtype=dtype)
    w = rng.uniform(0.5, 2, n_samples).astype(dtype)
    mean, _ = _kmeans.column_mean_var(X)
    Xc = X - mean
    centres = Xc[rng.choice(n_samples, 7, replace=False)]
    cc = np.einsum("ij,ij->i", centres, centres)
    labels = np.full(n_samples, -1, dtype=np.int32)
    w[::10] = 0  # rows of zero weight count in no cluster's count
    state = _kmeans.lloyd_state(n_samples, centres)
    # From labels of -1, the changes are the clusters' totals.
    changed, sums, weights, counts = _kmeans.lloyd_pass(
        X, mean, w, centres, cc, labels, *state
    )
    expected = naive_nearest_centre(Xc, centres)
    np.testing.assert_array_equal(labels, expected)
    assert changed == n_samples
    # Each weighted row rounded in X's dtype, as KMeans rounds it, then
    # added in float64.
    rows = (Xc * w[:, None]).astype(np.float64)
    expected_sums, _ = naive_cluster_sums(rows, np.ones(n_samples), labels, 7)
    expected_weights = np.bincount(labels, weights=w.astype(np.float64), minlength=7)
    assert sums.dtype == weights.dtype == counts.dtype == np.float64
    np.testing.assert_allclose(sums, expected_sums, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(weights, expected_weights, rtol=1e-12)
    np.testing.assert_array_equal(counts, np.bincount(labels[w > 0], minlength=7))
    # The same centres again: no label changes, nothing moves.
    again = _kmeans.lloyd_pass(X, mean, w, centres, cc, labels, *state)
    assert again[0] == 0
    for change in again[1:]:
        assert not np.any(change)


def test_totals_follow_the_labels_exactly_where_clusters_empty():
    # Rows that come and go leave a cluster's float64 weight rounded; one
    # left without a row of positive weight is empty (weight and sums 0
    # exactly), as KMeans's weight of its rows is.
    totals = (np.zeros((3, 2)), np.zeros(3), np.zeros(3))
    sums, weights, counts = totals
    come = (np.ones((3, 2)), np.array([0.1, 0.2, 0.3]), np.array([1.0, 1.0, 1.0]))
    assert _kmeans._add_changes(totals, come) == 0
    go = (-np.ones((3, 2)) / 3, np.array([0.0, -0.2, 0.0]), np.array([0.0, -1.0, 0.0]))
    go[0][1] = -1 + 2.0**-40  # rounding left over
    go[1][0] = -0.1 + 0.3 - 0.2  # a zero-weight row stays: weight rounds to 5.6e-17
    assert _kmeans._add_changes(totals, go) == 1
    assert weights[1] == 0 and not np.any(sums[1])
    assert counts[0] == 1 and weights[0] > 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relocation_is_sklearn_bit_for_bit(dtype):
    rng = np.random.default_rng(0)
    X = blobs(700, 4, 0, dtype=dtype)
    w = rng.uniform(0.5, 2, 700).astype(dtype)
    mean, _ = _kmeans.column_mean_var(X)
    Xc = np.ascontiguousarray(X - mean)
    centres = Xc[:6].copy()
    labels = rng.integers(0, 3, 700).astype(np.int32)  # clusters 3 to 5 empty
    sums, weights = naive_cluster_sums(Xc, w, labels, 6)
    weights = weights.astype(dtype)
    expected_sums, expected_weights = sums.copy(), weights.copy()
    _relocate_empty_clusters_dense(
        Xc, w, centres, expected_sums, expected_weights, labels
    )
    _kmeans._relocate_empty_clusters(
        X, mean, w, centres, labels, sums, weights, chunk_rows=128
    )
    np.testing.assert_array_equal(sums, expected_sums)
    np.testing.assert_array_equal(weights, expected_weights)
    assert np.all(weights > 0)


def test_finish_iteration_against_naive():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(5, 7))
    sums = rng.normal(size=(5, 7)) * 10
    weights = np.array([3.0, 0.0, 2.5, 7.0, 1.0])
    new, state = _kmeans._finish_iteration(centres, sums, weights, 10, 0.0)
    assert state == _kmeans._RUNNING
    full = weights > 0
    np.testing.assert_allclose(new[full], sums[full] / weights[full, None], rtol=1e-15)
    # The empty cluster takes the heaviest one's row as the loop has left it:
    # not yet averaged, as in scikit-learn's _average_centers.
    np.testing.assert_array_equal(new[1], sums[3])
    shift = ((new - centres) ** 2).sum()
    _, state = _kmeans._finish_iteration(centres, sums, weights, 10, shift * 1.001)
    assert state == _kmeans._CONVERGED
    _, state = _kmeans._finish_iteration(centres, sums, weights, 0, 0.0)
    assert state == _kmeans._STRICTLY_CONVERGED


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_features", [1, 3, 8, 9, 130])
def test_kmeans_tolerance_is_numpys_mean_times_tol(dtype, n_features):
    from fastgmm.kernels._kmeans import kmeans_tolerance

    variances = np.random.default_rng(n_features).uniform(0, 1e3, n_features)
    variances = variances.astype(dtype)
    expected = np.mean(variances) * 1e-4
    got = kmeans_tolerance(variances, 1e-4)
    # (Returned to Python as a float: the float32 value exactly.)
    assert dtype(got) == expected


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bounds_keep_the_full_ranking(dtype):
    # Rows on an integer grid tie exactly between centres, and blobs give
    # near-ties: the passes that skip rows by their bounds must give the
    # labels, changes and sums of ranking every row against every centre.
    rng = np.random.default_rng(1)
    grid = rng.integers(-3, 4, size=(3000, 4)).astype(dtype)
    X = np.concatenate([grid, blobs(6000, 4, 2, centers=6, dtype=dtype)])
    mean, _ = _kmeans.column_mean_var(X)
    centres = X[rng.choice(len(X), 9, replace=False)] - mean
    labels = np.full(len(X), -1, dtype=np.int32)
    state = _kmeans.lloyd_state(len(X), centres)
    no_weights = np.empty(0, dtype=dtype)
    totals = (np.zeros(centres.shape), np.zeros(len(centres)), np.zeros(len(centres)))
    for _ in range(25):
        cc = _kmeans._row_norms(centres, np.empty(len(centres), dtype=dtype))
        before = labels.copy()
        step = _kmeans.lloyd_pass(X, mean, no_weights, centres, cc, labels, *state)
        # Labels of -1: every row ranked against every centre.
        full_labels = np.full(len(X), -1, dtype=np.int32)
        full = _kmeans.lloyd_pass(
            X, mean, no_weights, centres, cc, full_labels,
            *_kmeans.lloyd_state(len(X), centres),
        )  # fmt: skip
        np.testing.assert_array_equal(labels, full_labels)
        assert step[0] == np.count_nonzero(before != full_labels)
        empty = _kmeans._add_changes(totals, step[1:])
        # The totals kept from the steps' changes are those of the labels.
        sums, weights, counts = totals
        np.testing.assert_array_equal(weights, full[2])
        np.testing.assert_array_equal(counts, full[3])
        np.testing.assert_allclose(sums, full[1], rtol=1e-12, atol=1e-9)
        if empty:
            break
        centres, _ = _kmeans._finish_iteration(centres, sums, weights, step[0], 0.0)


def test_one_block_copies_leave_out_several_blocks_and_agree():
    # Data of one block runs copies of the k-means driver without the code
    # for several blocks (fastgmm.kernels._specialise); the labels are the same bits
    # as the copy for data of any size gives.  Kernels without a pass over
    # the rows have a single copy.
    from fastgmm.kernels._config import BLOCK_ROWS
    from fastgmm.kernels._covariance import FULL
    from fastgmm.kernels._estep import e_step_blocks
    from fastgmm.kernels._reduction import one_block_sums
    from fastgmm.kernels._specialise import Variant

    small = _kmeans.kmeans_run.copy(one_block=True)
    assert small is not _kmeans.kmeans_run.copy()
    assert small.py_func.__qualname__ == "kmeans_run_one_block"
    iterations = small.py_func.__globals__["_lloyd_iterations"]
    assert iterations is _kmeans._lloyd_iterations.copy(one_block=True)
    step = _kmeans.lloyd_pass.copy(one_block=True)
    assert step.py_func.__globals__["ordered_block_sums"] is one_block_sums
    assert _kmeans.lloyd_pass.per_size and not e_step_blocks.per_size
    variant = Variant(FULL, 4)
    assert e_step_blocks.copy(variant, one_block=True) is e_step_blocks.copy(variant)
    rng = np.random.default_rng(4)
    for n_rows in (40, BLOCK_ROWS):
        X = rng.standard_normal((n_rows, 3))
        X[: n_rows // 2] += 4
        want = np.empty(n_rows, dtype=np.int32)
        got = np.empty(n_rows, dtype=np.int32)
        uniforms = rng.random((4 - 1) * 3)
        args = (np.empty(0), np.float64(n_rows), -1, 0.3, uniforms, 3, 1e-4, 300)
        _kmeans.kmeans_run.copy()(X, *args, want)
        small(X, *args, got)
        np.testing.assert_array_equal(got, want)
