"""BayesianGaussianMixture: scikit-learn's answers, on the shared EM engine."""

import copy
import warnings

import numpy as np
import pytest
import sklearn.mixture
from conftest import (
    COVARIANCE_TYPES,
    INIT_PARAMS,
    assert_same_fit,
    fit_both,
    load_dataset,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import parametrize_with_checks

import fastgmm
from fastgmm.engine._data import score_rows
from fastgmm.engine._parameters import MixtureParameters

PRIOR_TYPES = ("dirichlet_process", "dirichlet_distribution")
POSTERIOR_ATTRIBUTES = (
    "mean_precision_",
    "degrees_of_freedom_",
    "mean_prior_",
    "covariance_prior_",
    "weight_concentration_prior_",
    "mean_precision_prior_",
    "degrees_of_freedom_prior_",
)


def make_pair(**params):
    return (
        fastgmm.BayesianGaussianMixture(**params),
        sklearn.mixture.BayesianGaussianMixture(**params),
    )


def fit_pair(fast, sk, X):
    """fit_both, and the lower bounds of scikit-learn's types and shapes.

    scikit-learn's 'tied' bound is a one-element array (its Wishart term is
    one), the others NumPy floats.
    """
    fit_both(fast, sk, X)
    assert_same_kind(fast.lower_bound_, sk.lower_bound_)
    assert len(fast.lower_bounds_) == len(sk.lower_bounds_)
    for got, expected in zip(fast.lower_bounds_, sk.lower_bounds_):
        assert_same_kind(got, expected)
    return fast, sk


def assert_same_kind(got, expected, name=""):
    """The same type, dtype and shape (tuples and lists item by item)."""
    assert type(got) is type(expected), (name, type(got), type(expected))
    if isinstance(expected, (tuple, list)):
        assert len(got) == len(expected), name
        for got_item, expected_item in zip(got, expected):
            assert_same_kind(got_item, expected_item, name)
    elif isinstance(expected, (np.ndarray, np.generic)):
        assert got.dtype == expected.dtype, (name, got.dtype, expected.dtype)
        assert got.shape == expected.shape, (name, got.shape, expected.shape)


def fit_quietly(model, X, **fit_params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, **fit_params)


def assert_same_posterior(fast, sk, rtol=1e-6):
    """The posterior's own parameters and the priors, beside assert_same_fit's."""
    for name in POSTERIOR_ATTRIBUTES:
        np.testing.assert_allclose(
            getattr(fast, name), getattr(sk, name), rtol=rtol, err_msg=name
        )
    for got, expected in zip(
        np.atleast_2d(fast.weight_concentration_),
        np.atleast_2d(sk.weight_concentration_),
    ):
        np.testing.assert_allclose(got, expected, rtol=rtol)


@pytest.mark.parametrize("dataset", ["iris", "wine", "blobs"])
@pytest.mark.parametrize("init_params", INIT_PARAMS)
@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_same_trajectory_as_sklearn(dataset, covariance_type, prior_type, init_params):
    # One component more than the data has clusters: the prior switches it off.
    X = load_dataset(dataset)
    fast, sk = make_pair(
        n_components=5,
        covariance_type=covariance_type,
        weight_concentration_prior_type=prior_type,
        init_params=init_params,
        random_state=0,
        max_iter=300,
    )
    fit_pair(fast, sk, X)
    assert_same_fit(fast, sk, lower_bound_rtol=1e-8, check_dtype=True)
    assert_same_posterior(fast, sk)
    np.testing.assert_array_equal(fast.predict(X), sk.predict(X))
    np.testing.assert_allclose(fast.predict_proba(X), sk.predict_proba(X), atol=1e-6)
    np.testing.assert_allclose(
        fast.score_samples(X), sk.score_samples(X), rtol=1e-6, atol=1e-6
    )
    assert fast.score(X) == pytest.approx(sk.score(X), rel=1e-6)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_given_priors_and_n_init_match_sklearn(covariance_type, wine):
    n_features = wine.shape[1]
    covariance_prior = {
        "full": np.diag(np.arange(1.0, n_features + 1)),
        "tied": np.diag(np.arange(1.0, n_features + 1)),
        "diag": np.arange(1.0, n_features + 1),
        "spherical": 2.0,
    }[covariance_type]
    fast, sk = make_pair(
        n_components=4,
        covariance_type=covariance_type,
        weight_concentration_prior=0.5,
        mean_precision_prior=0.1,
        mean_prior=np.linspace(0, 1, n_features),
        degrees_of_freedom_prior=n_features + 2.5,
        covariance_prior=covariance_prior,
        n_init=3,
        random_state=2,
    )
    fit_pair(fast, sk, wine)
    assert_same_fit(fast, sk, lower_bound_rtol=1e-8)
    assert_same_posterior(fast, sk)


def test_unneeded_components_are_switched_off():
    X = load_dataset("separated_blobs")  # three clusters
    model = fit_quietly(
        fastgmm.BayesianGaussianMixture(
            n_components=8, weight_concentration_prior=1e-3, random_state=0
        ),
        X,
    )
    assert np.sum(model.weights_ > 0.01) == 3


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_float32_close_to_sklearn(covariance_type):
    X = load_dataset("separated_blobs").astype(np.float32)
    fast, sk = make_pair(
        n_components=3, covariance_type=covariance_type, random_state=0
    )
    fit_quietly(fast, X)
    fit_quietly(sk, X)
    # float64 parameters, as scikit-learn's (test_fitted_attributes_like_sklearn).
    for name in ("means_", "covariances_", "precisions_cholesky_"):
        assert getattr(fast, name).dtype == np.float64, name
    np.testing.assert_allclose(fast.weights_, sk.weights_, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(fast.means_, sk.means_, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(fast.covariances_, sk.covariances_, rtol=1e-3, atol=1e-3)
    np.testing.assert_array_equal(fast.predict(X), sk.predict(X))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_fitted_attributes_like_sklearn(covariance_type, dtype):
    # Every fitted attribute of scikit-learn's type, dtype and shape: float64
    # parameters for float32 data too, float32 priors where scikit-learn's
    # np.var and X.mean keep the data's dtype, a one-element 'tied' bound.
    X = load_dataset("separated_blobs").astype(dtype)
    fast, sk = make_pair(
        n_components=3, covariance_type=covariance_type, random_state=0
    )
    fit_quietly(fast, X)
    fit_quietly(sk, X)
    names = sorted(name for name in vars(sk) if name.endswith("_"))
    assert names == sorted(name for name in vars(fast) if name.endswith("_"))
    for name in names:
        assert_same_kind(getattr(fast, name), getattr(sk, name), name)
    for method in ("score_samples", "predict_proba", "predict"):
        assert_same_kind(getattr(fast, method)(X), getattr(sk, method)(X), method)
    score = fast.score(X)
    assert type(score) is type(sk.score(X)) is float
    assert score == float(fast.score_samples(X).mean())


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_float32_rows_score_with_the_fits_float32_kernels(covariance_type):
    # The attributes are float64; float32 rows are scored with them rounded
    # to float32, as the fit's E-steps read them, so fit_predict(X) is
    # fit(X).predict(X) and the scores are those of a float32 model.
    X = load_dataset("blobs").astype(np.float32)
    model = fastgmm.BayesianGaussianMixture(
        n_components=4, covariance_type=covariance_type, max_iter=5, random_state=0
    )
    labels = fit_quietly(model, X).predict(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        np.testing.assert_array_equal(model.fit_predict(X), labels)
    for name in ("means_", "covariances_", "precisions_cholesky_"):
        assert getattr(model, name).dtype == np.float64
    kernel_parameters = model._kernel_parameters(np.float32)
    assert kernel_parameters.means.dtype == kernel_parameters.prec_chol.dtype
    assert kernel_parameters.means.dtype == np.float32
    log_prob = score_rows(X, kernel_parameters, log_norm=True)[0]
    np.testing.assert_array_equal(model.score_samples(X), log_prob)
    assert model.score_samples(X).dtype == np.float64


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_far_from_the_origin(covariance_type):
    X = load_dataset("blobs")
    params = dict(n_components=4, covariance_type=covariance_type, random_state=0)
    near = fit_quietly(fastgmm.BayesianGaussianMixture(**params), X)
    far = fit_quietly(fastgmm.BayesianGaussianMixture(**params), X + 1e6)
    assert far.n_iter_ == near.n_iter_
    np.testing.assert_allclose(far.covariances_, near.covariances_, rtol=1e-6)
    np.testing.assert_allclose(far.means_ - 1e6, near.means_, rtol=0, atol=1e-6)
    np.testing.assert_allclose(far.weights_, near.weights_, rtol=1e-6)


def _two_iterations(covariance_type, X):
    """A warm-start model after two iterations on X: a start to continue from."""
    model = fastgmm.BayesianGaussianMixture(
        n_components=3,
        covariance_type=covariance_type,
        warm_start=True,
        max_iter=2,
        random_state=0,
    )
    return fit_quietly(model, X)


def _continued(model, X, max_iter, **fit_params):
    """A copy of a fitted warm-start model, fitted ``max_iter`` more times."""
    model = copy.deepcopy(model)
    model.set_params(max_iter=max_iter)
    return fit_quietly(model, X, **fit_params)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_moment_centres_are_exact_in_float32(covariance_type):
    # The float32 kernels subtract the centres in float32; with the Bayesian
    # mixture's float64 weights the mixture's mean of 'tied' must still be a
    # float32 value, or the moments are centred off the point the M-step
    # adds back.
    rng = np.random.default_rng(0)
    means = (rng.normal(size=(3, 4)) + 1000.0).astype(np.float32)
    weights = np.array([0.2, 0.3, 0.5])
    params = MixtureParameters(covariance_type, weights, means, None, None, None, None)
    centres = params.moment_centres()
    assert centres.dtype == np.float64
    np.testing.assert_array_equal(centres.astype(np.float32), centres)
    np.testing.assert_allclose(
        centres[0],
        weights @ means if covariance_type == "tied" else means[0],
        rtol=1e-7,
    )


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_integer_sample_weight_equals_repeated_rows(covariance_type, iris):
    weights = np.random.default_rng(0).integers(0, 4, size=iris.shape[0])
    # The same starting posterior for both, then EM on each data.
    start = _two_iterations(covariance_type, iris)
    weighted = _continued(start, iris, 20, sample_weight=weights)
    repeated = _continued(start, np.repeat(iris, weights, axis=0), 20)
    assert_same_fit(weighted, repeated, rtol=1e-7, lower_bound_rtol=1e-9)
    assert_same_posterior(weighted, repeated, rtol=1e-7)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_dask_same_model_as_in_memory(covariance_type, iris):
    da = pytest.importorskip("dask.array")
    start = _two_iterations(covariance_type, iris)
    in_memory = _continued(start, iris, 15)
    lazy = da.from_array(iris, chunks=(40, -1))
    on_dask = _continued(start, lazy, 15)
    assert_same_fit(on_dask, in_memory, rtol=1e-9, lower_bound_rtol=1e-10)
    assert_same_posterior(on_dask, in_memory, rtol=1e-9)
    np.testing.assert_array_equal(
        on_dask.predict(lazy).compute(), in_memory.predict(iris)
    )


@pytest.mark.parametrize(
    "params, message",
    [
        ({"degrees_of_freedom_prior": 2.5}, "should be greater than 3"),
        ({"mean_prior": np.zeros(3)}, "'means' should have the shape"),
        (
            {"covariance_prior": np.eye(3)},
            "'full covariance_prior' should have the shape",
        ),
        (
            {"covariance_prior": -np.eye(4)},
            "'full precision' should be symmetric, positive-definite",
        ),
        (
            {"covariance_type": "diag", "covariance_prior": np.array([1, 1, 1, -1.0])},
            "'diag precision' should be positive",
        ),
        (
            {"covariance_type": "diag", "covariance_prior": np.ones(3)},
            "'diag covariance_prior' should have the shape",
        ),
        ({"weight_concentration_prior": 0.0}, "weight_concentration_prior"),
        ({"mean_precision_prior": -1.0}, "mean_precision_prior"),
        (
            {"covariance_type": "spherical", "covariance_prior": -1.0},
            "covariance_prior",
        ),
    ],
)
def test_bad_priors_raise_sklearn_errors(params, message, iris):
    for model in make_pair(n_components=2, **params):
        with pytest.raises(ValueError, match=message):
            model.fit(iris)


def test_failed_fit_keeps_the_earlier_model(iris):
    model = fit_quietly(fastgmm.BayesianGaussianMixture(n_components=2), iris)
    before = model.means_.copy()
    with pytest.raises(ValueError):
        model.set_params(degrees_of_freedom_prior=1.0).fit(iris)
    np.testing.assert_array_equal(model.means_, before)


def test_sample_matches_sklearn(iris):
    fast, sk = make_pair(n_components=3, random_state=0)
    fit_pair(fast, sk, iris)
    X_fast, y_fast = fast.sample(50)
    X_sk, y_sk = sk.sample(50)
    np.testing.assert_array_equal(y_fast, y_sk)
    np.testing.assert_allclose(X_fast, X_sk, rtol=1e-6)


@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
def test_save_and_load_round_trip(tmp_path, prior_type, iris):
    model = fit_quietly(
        fastgmm.BayesianGaussianMixture(
            n_components=3, weight_concentration_prior_type=prior_type, random_state=0
        ),
        iris,
    )
    fastgmm.save(model, tmp_path / "model.npz")
    loaded = fastgmm.load(tmp_path / "model.npz")
    assert loaded.get_params() == model.get_params()
    np.testing.assert_array_equal(loaded.score_samples(iris), model.score_samples(iris))
    np.testing.assert_array_equal(loaded.predict_proba(iris), model.predict_proba(iris))


@parametrize_with_checks(
    [
        fastgmm.BayesianGaussianMixture(),
        fastgmm.BayesianGaussianMixture(
            covariance_type="diag",
            weight_concentration_prior_type="dirichlet_distribution",
            n_jobs=2,
        ),
    ]
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
