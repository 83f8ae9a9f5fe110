"""Shared datasets and comparison helpers for the fastgmm test suite."""

import copy
import functools
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_iris, load_wine, make_blobs
from sklearn.exceptions import ConvergenceWarning

import fastgmm
from fastgmm.kernels._covariance import COVARIANCE_TYPES  # noqa: F401 - shared by the tests

INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data")

# The message of the error a collapsed component raises (scikit-learn's).
ILL_DEFINED = "ill-defined empirical covariance"

# Lines tests/test_sklearn_suite.py leaves for the end of the run's report.
SKLEARN_SUITE_SUMMARY = pytest.StashKey[list]()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """What scikit-learn's own mixture tests did, when they ran."""
    lines = config.stash.get(SKLEARN_SUITE_SUMMARY, None)
    if lines:
        terminalreporter.section("scikit-learn's mixture tests on fastgmm")
        for line in lines:
            terminalreporter.write_line(line)


# The fitted attributes every GaussianMixture exposes after fit.
PARAMETER_ATTRIBUTES = (
    "weights_",
    "means_",
    "covariances_",
    "precisions_",
    "precisions_cholesky_",
)


@functools.cache
def local_cluster(n_workers):
    """A ``distributed.LocalCluster`` of single-threaded worker processes and
    its client, started quietly (port and resource warnings under pytest)."""
    import distributed

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = distributed.LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=50,
        )
        client = distributed.Client(cluster, set_as_default=False)
    return cluster, client


@pytest.fixture(scope="session")
def dask_client():
    """The client of one ``local_cluster(2)`` for the whole session: a
    LocalCluster started in a process where another was used and closed can
    come up closed (distributed 2026.8)."""
    pytest.importorskip("distributed")
    cluster, client = local_cluster(2)
    yield client
    client.close()
    cluster.close()


def _load(name):
    if name == "iris":
        return load_iris().data
    if name == "wine":
        # Raw wine, as scikit-learn's docs fit it: features span five orders of
        # magnitude (hue ~1, proline ~1000), which stresses the covariance maths.
        return load_wine().data
    if name == "blobs":
        X, _ = make_blobs(
            n_samples=300, n_features=3, centers=4, cluster_std=1.0, random_state=0
        )
        return X
    if name == "separated_blobs":
        # Far-apart clusters: every reasonable fit finds the same partition, so
        # float32 and float64 runs can be compared label for label.
        X, _ = make_blobs(
            n_samples=240,
            n_features=3,
            centers=[[0, 0, 0], [10, 10, 0], [-10, 10, 10]],
            cluster_std=1.0,
            random_state=1,
        )
        return X
    raise KeyError(name)


def load_dataset(name):
    """A fresh, writeable copy of a named dataset (float64, C-contiguous)."""
    return np.array(_load(name), dtype=np.float64, order="C")


# Number of components to fit on each dataset.
N_COMPONENTS = {"iris": 3, "wine": 3, "blobs": 4, "separated_blobs": 3}


@pytest.fixture
def iris():
    return load_dataset("iris")


@pytest.fixture
def wine():
    return load_dataset("wine")


@pytest.fixture
def blobs():
    return load_dataset("blobs")


@pytest.fixture
def separated_blobs():
    return load_dataset("separated_blobs")


def assert_valid_model(model, X):
    """A fitted model is finite, in X's dtype, with weights summing to one."""
    for name in PARAMETER_ATTRIBUTES:
        value = getattr(model, name)
        assert value.dtype == X.dtype, name
        assert np.all(np.isfinite(value)), name
    assert np.isfinite(model.lower_bound_)
    assert np.all(model.weights_ >= 0)
    np.testing.assert_allclose(model.weights_.sum(), 1.0, rtol=1e-5)


def noisy_centres(centres, n_samples, seed=0):
    """Rows around given centres: each a randomly chosen centre plus N(0, I) noise.

    ``np.random.default_rng(seed)`` draws every row's centre first, then the
    standard normal noise, shape (n_samples, n_features).
    """
    centres = np.asarray(centres, dtype=np.float64)
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(centres), size=n_samples)
    return centres[labels] + rng.normal(size=(n_samples, centres.shape[1]))


def fit(X, sample_weight=None, **params):
    """A fastgmm GaussianMixture(**params) fitted on X, ConvergenceWarning silenced."""
    model = fastgmm.GaussianMixture(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, sample_weight=sample_weight)
    return model


def fit_recording_warnings(estimator, X, **fit_params):
    """Fit and return the categories of the warnings raised during the fit."""
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        estimator.fit(X, **fit_params)
    return {w.category for w in record}


def fit_both(fast, sk, X):
    """Fit both estimators on X; both must agree on warning about convergence."""
    fast_warnings = fit_recording_warnings(fast, X)
    sk_warnings = fit_recording_warnings(sk, X)
    assert (ConvergenceWarning in fast_warnings) == (
        ConvergenceWarning in sk_warnings
    ), f"fastgmm warnings {fast_warnings}, scikit-learn warnings {sk_warnings}"
    return fast, sk


def _atol(reference, atol_scale):
    # Absolute slack for entries that are (close to) zero, e.g. off-diagonal
    # covariances: a tiny multiple of the largest entry of the same array.
    scale = float(np.max(np.abs(reference))) if np.size(reference) else 0.0
    return atol_scale * scale


def assert_same_fit(
    got,
    expected,
    rtol=1e-6,
    *,
    atol_scale=None,
    lower_bound_rtol=None,
    check_dtype=False,
    check_trajectory=True,
):
    """Assert that two fitted models hold the same parameters and EM run.

    Parameters are compared with ``rtol`` and an absolute slack of
    ``atol_scale * max|param|`` for near-zero entries (default
    ``atol_scale = 1e-3 * rtol``), and with ``check_dtype`` must have the
    same dtype.  With ``check_trajectory`` the EM runs must also coincide:
    same ``n_iter_``, ``converged_``, and ``lower_bound_`` / ``lower_bounds_``
    within ``lower_bound_rtol`` (default ``rtol``).
    """
    if atol_scale is None:
        atol_scale = 1e-3 * rtol
    if lower_bound_rtol is None:
        lower_bound_rtol = rtol
    for name in PARAMETER_ATTRIBUTES:
        value, reference = getattr(got, name), getattr(expected, name)
        assert np.shape(value) == np.shape(reference), name
        if check_dtype:
            assert np.asarray(value).dtype == np.asarray(reference).dtype, name
        np.testing.assert_allclose(
            value,
            reference,
            rtol=rtol,
            atol=_atol(reference, atol_scale),
            err_msg=f"attribute {name}",
        )
    if check_trajectory:
        assert got.n_iter_ == expected.n_iter_
        assert bool(got.converged_) == bool(expected.converged_)
        if np.isinf(expected.lower_bound_):
            assert got.lower_bound_ == expected.lower_bound_
        else:
            np.testing.assert_allclose(
                got.lower_bound_,
                expected.lower_bound_,
                rtol=lower_bound_rtol,
                atol=0,
            )
        assert len(got.lower_bounds_) == len(expected.lower_bounds_)
        if len(expected.lower_bounds_):
            np.testing.assert_allclose(
                np.asarray(got.lower_bounds_, dtype=np.float64),
                np.asarray(expected.lower_bounds_, dtype=np.float64),
                rtol=lower_bound_rtol,
                atol=0,
                err_msg="lower_bounds_",
            )


def assert_same_model(
    fast,
    sk,
    rtol=1e-6,
    *,
    X=None,
    atol_scale=None,
    check_trajectory=True,
    lower_bound_rtol=1e-8,
    check_dtype=True,
):
    """Assert that a fitted fastgmm model equals a fitted scikit-learn model.

    The same number of features, then ``assert_same_fit`` (parameters with
    ``rtol`` and ``atol_scale``, dtypes with ``check_dtype``, the EM run with
    ``check_trajectory`` and ``lower_bound_rtol``).  With ``X`` the fitted
    models must also predict alike on X: same labels, close probabilities,
    log-likelihoods, BIC and AIC.
    """
    assert fast.n_features_in_ == sk.n_features_in_
    assert_same_fit(
        fast,
        sk,
        rtol,
        atol_scale=atol_scale,
        lower_bound_rtol=lower_bound_rtol,
        check_dtype=check_dtype,
        check_trajectory=check_trajectory,
    )
    if X is not None:
        np.testing.assert_array_equal(fast.predict(X), sk.predict(X))
        np.testing.assert_allclose(
            fast.predict_proba(X), sk.predict_proba(X), rtol=rtol, atol=rtol
        )
        np.testing.assert_allclose(
            fast.score_samples(X), sk.score_samples(X), rtol=rtol, atol=rtol
        )
        np.testing.assert_allclose(fast.score(X), sk.score(X), rtol=rtol)
        np.testing.assert_allclose(fast.bic(X), sk.bic(X), rtol=rtol)
        np.testing.assert_allclose(fast.aic(X), sk.aic(X), rtol=rtol)


def fitted_attributes(estimator):
    """Deep copy of the public fitted attributes (names ending with '_')."""
    return {
        key: copy.deepcopy(value)
        for key, value in vars(estimator).items()
        if key.endswith("_") and not key.startswith("_")
    }


def assert_attributes_equal(before, after):
    """Assert two ``fitted_attributes`` snapshots are identical (bitwise)."""
    assert before.keys() == after.keys()
    for key, value in before.items():
        other = after[key]
        if isinstance(value, np.ndarray) or isinstance(other, np.ndarray):
            np.testing.assert_array_equal(value, other, err_msg=key)
            assert np.asarray(value).dtype == np.asarray(other).dtype, key
        elif isinstance(value, (list, tuple)):
            np.testing.assert_array_equal(np.asarray(value), np.asarray(other))
        else:
            assert value == other or (value != value and other != other), key


def make_explicit_init(
    X, n_components, covariance_type, random_state=0, *, unit_precisions=False
):
    """Fixed, valid initial parameters (weights, means, precisions) for X.

    Starting two fits from the same explicit parameters makes their EM
    trajectories coincide whatever the initialisation method would do.  The
    precisions are those of X's per-feature variances, or with
    ``unit_precisions`` the identity.
    """
    rng = np.random.RandomState(random_state)
    n_samples, n_features = X.shape
    weights = rng.uniform(0.5, 1.5, size=n_components)
    weights /= weights.sum()
    means = X[rng.choice(n_samples, size=n_components, replace=False)].copy()
    if unit_precisions:
        variances = np.ones(n_features)
    else:
        variances = X.var(axis=0) + 1e-3
    if covariance_type == "full":
        precisions = np.stack([np.diag(1.0 / variances)] * n_components)
    elif covariance_type == "tied":
        precisions = np.diag(1.0 / variances)
    elif covariance_type == "diag":
        precisions = np.tile(1.0 / variances, (n_components, 1))
    else:
        precisions = np.full(n_components, 1.0 / variances.mean())
    return {"weights_init": weights, "means_init": means, "precisions_init": precisions}
