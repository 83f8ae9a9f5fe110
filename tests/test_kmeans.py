"""fastgmm's k-means against scikit-learn's KMeans and naive NumPy references.

``fastgmm._kmeans.kmeans_labels`` must give the labels of
``KMeans(n_clusters, n_init=1, random_state).fit(X, sample_weight)`` and
leave the random state as KMeans leaves it, so that the default
('kmeans') initialisation of a GaussianMixture is scikit-learn's.
"""

import warnings

import numba
import numpy as np
import pytest
from conftest import load_dataset
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from fastgmm import _kmeans


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
            mean = X.mean(axis=0)
            centres = X[:10] - mean
            step = _kmeans._lloyd_pass(X, mean, w, centres, labels.copy(), True)
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


# ---------------------------------------------------------------------------
# Kernels against naive NumPy


def naive_distances(X, mean, centres):
    """Squared distances of the centred rows to centred centres, in float64."""
    diff = (X - mean).astype(np.float64)[:, None, :] - centres.astype(np.float64)
    return (diff**2).sum(axis=2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("n_samples", [700, 9000])
def test_seeding_passes_against_naive(dtype, weighted, n_samples):
    rng = np.random.default_rng(0)
    X = blobs(n_samples, 5, 0, dtype=dtype)
    w = rng.uniform(0.5, 2.0, n_samples).astype(dtype)
    w_kernel = w if weighted else np.empty(0, dtype)
    w_naive = w.astype(np.float64) if weighted else np.ones(n_samples)
    mean = X.mean(axis=0)
    centre = X[3] - mean
    closest = np.full(n_samples, np.inf, dtype=dtype)
    _kmeans._update_closest(X, mean, centre, closest)
    expected = naive_distances(X, mean, centre[None])[:, 0]
    np.testing.assert_allclose(closest, expected, rtol=1e-5, atol=1e-6)
    candidates = X[[10, 20, 30]] - mean
    potentials = _kmeans._candidate_potentials(X, mean, w_kernel, closest, candidates)
    nearest = np.minimum(closest[:, None], naive_distances(X, mean, candidates))
    np.testing.assert_allclose(potentials, w_naive @ nearest, rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weighted", [False, True])
def test_cumulative_search_is_searchsorted_of_cumsum(dtype, weighted):
    rng = np.random.default_rng(1)
    closest = rng.uniform(0, 3, 1000).astype(dtype)
    w = rng.uniform(0, 2, 1000).astype(dtype)
    cumulative = np.cumsum((w if weighted else 1) * closest)
    values = np.sort(rng.uniform(0, 1.01 * cumulative[-1], 7))
    values = np.append(values, cumulative[[0, 500]])  # on an entry exactly
    values.sort()
    found = _kmeans._cumulative_search(
        w if weighted else np.empty(0, dtype), closest, values
    )
    np.testing.assert_array_equal(found, np.searchsorted(cumulative, values))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_samples", [500, 9000])
def test_lloyd_pass_against_naive(dtype, n_samples):
    rng = np.random.default_rng(2)
    X = blobs(n_samples, 6, 2, dtype=dtype)
    w = rng.uniform(0.5, 2.0, n_samples).astype(dtype)
    mean = X.mean(axis=0)
    centres = X[:7] - mean
    labels = np.full(n_samples, -1, dtype=np.int32)
    changed, sums, weights = _kmeans._lloyd_pass(X, mean, w, centres, labels, True)
    expected = naive_distances(X, mean, centres).argmin(axis=1)
    np.testing.assert_array_equal(labels, expected)
    assert changed == n_samples
    centred = (X - mean).astype(np.float64)
    for k in range(7):
        rows = labels == k
        np.testing.assert_allclose(weights[k], w[rows].sum(), rtol=1e-5)
        np.testing.assert_allclose(
            sums[k], w[rows] @ centred[rows], rtol=1e-4, atol=1e-3
        )
    # Labels only: nothing changes on a second pass with the same centres.
    changed, _, _ = _kmeans._lloyd_pass(X, mean, w, centres, labels, False)
    assert changed == 0


def test_average_and_shift_against_naive():
    rng = np.random.default_rng(3)
    sums = rng.normal(size=(5, 3))
    weights = np.array([2.0, 0.0, 4.0, 1.0, 0.5])
    old = rng.normal(size=(5, 3))
    centres, shift = _kmeans._average_and_shift(sums, weights, old)
    expected = sums * (1.0 / np.where(weights > 0, weights, 1.0))[:, None]
    # Empty: the heaviest cluster's row as it is when the loop reaches the
    # empty one; cluster 2 comes later, so that row is still its sum.
    expected[1] = sums[2]
    np.testing.assert_allclose(centres, expected, rtol=1e-15)
    np.testing.assert_allclose(shift, ((expected - old) ** 2).sum(), rtol=1e-14)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_variances_against_numpy(dtype):
    X = blobs(5000, 7, 4, dtype=dtype) + 100
    np.testing.assert_allclose(
        _kmeans._variances(X), np.var(X.astype(np.float64), axis=0), rtol=1e-10
    )
