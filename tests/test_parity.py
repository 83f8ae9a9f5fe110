"""Same data, parameters and random_state as scikit-learn -> same EM run."""

import math
import warnings

import numpy as np
import pytest
import sklearn.mixture
from conftest import (
    COVARIANCE_TYPES,
    INIT_PARAMS,
    N_COMPONENTS,
    PARAMETER_ATTRIBUTES,
    assert_same_fit,
    assert_same_model,
    fit,
    fit_both,
    fit_recording_warnings,
    load_dataset,
    make_explicit_init,
)
from sklearn.exceptions import ConvergenceWarning

import fastgmm
from fastgmm.engine._data import score_rows


def make_pair(**params):
    return fastgmm.GaussianMixture(**params), sklearn.mixture.GaussianMixture(**params)


def assert_fits_like_sklearn(X, **params):
    """fastgmm and scikit-learn, fitted alike on X, give the same model."""
    fast, sk = make_pair(**params)
    fit_both(fast, sk, X)
    assert_same_model(fast, sk, X=X)


@pytest.mark.parametrize("dataset", ["iris", "wine", "blobs"])
@pytest.mark.parametrize("init_params", INIT_PARAMS)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_same_trajectory_as_sklearn(dataset, covariance_type, init_params):
    X = load_dataset(dataset)
    assert_fits_like_sklearn(
        X,
        n_components=N_COMPONENTS[dataset],
        covariance_type=covariance_type,
        init_params=init_params,
        random_state=0,
    )


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_fit_predict_matches_sklearn_and_predict(covariance_type, iris):
    fast, sk = make_pair(
        n_components=3, covariance_type=covariance_type, random_state=1
    )
    labels = fast.fit_predict(iris)
    np.testing.assert_array_equal(labels, sk.fit_predict(iris))
    # fit_predict ends with an E-step, so it must agree with predict.
    np.testing.assert_array_equal(labels, fast.predict(iris))
    assert_same_model(fast, sk, X=iris)


@pytest.mark.parametrize("init_params", ["kmeans", "random"])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_n_init_picks_the_same_best_run(covariance_type, init_params, iris):
    assert_fits_like_sklearn(
        iris,
        n_components=3,
        covariance_type=covariance_type,
        init_params=init_params,
        n_init=3,
        random_state=2,
    )


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_n_init_with_few_iterations(covariance_type, blobs):
    # Runs stopped after two iterations: the best lower bound still wins.
    # (random_state=2 keeps the best run clearly ahead of the second best, so
    # rounding cannot change which run is picked.)
    assert_fits_like_sklearn(
        blobs,
        n_components=4,
        covariance_type=covariance_type,
        init_params="random",
        n_init=3,
        max_iter=2,
        random_state=2,
    )


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_warm_start_continues_like_sklearn(covariance_type, blobs):
    fast, sk = make_pair(
        n_components=4,
        covariance_type=covariance_type,
        init_params="random",
        warm_start=True,
        max_iter=2,
        random_state=0,
    )
    # Consecutive fits each run two more EM iterations from the last state.
    for _ in range(4):
        fit_both(fast, sk, blobs)
        assert_same_model(fast, sk, X=blobs)


def test_warm_start_ignores_n_init_after_first_fit(iris):
    # init_params="random": the three first-fit runs end far apart, so the
    # choice of the best one is not decided by rounding.
    fast, sk = make_pair(
        n_components=3,
        init_params="random",
        warm_start=True,
        n_init=3,
        max_iter=3,
        random_state=0,
    )
    fit_both(fast, sk, iris)
    assert_same_model(fast, sk)
    fit_both(fast, sk, iris)
    assert_same_model(fast, sk, X=iris)


def test_warm_start_false_restarts(iris):
    # Without warm_start a second fit starts from scratch: it equals a new fit.
    fast = fastgmm.GaussianMixture(n_components=3, max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fast.fit(iris)
        fast.fit(iris)
        fresh = fastgmm.GaussianMixture(n_components=3, max_iter=3, random_state=0)
        fresh.fit(iris)
    for name in PARAMETER_ATTRIBUTES:
        np.testing.assert_array_equal(getattr(fast, name), getattr(fresh, name))


INIT_SUBSETS = [
    ("weights_init",),
    ("means_init",),
    ("precisions_init",),
    ("weights_init", "means_init"),
    ("weights_init", "means_init", "precisions_init"),
]


@pytest.mark.parametrize("given", INIT_SUBSETS, ids="+".join)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_user_initial_parameters(covariance_type, given, iris):
    init = make_explicit_init(iris, 3, covariance_type, random_state=3)
    params = {name: init[name] for name in given}
    assert_fits_like_sklearn(
        iris, n_components=3, covariance_type=covariance_type, random_state=0, **params
    )


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_user_initial_parameters_as_lists(covariance_type, iris):
    # Array-likes are accepted for the initial parameters, like in sklearn.
    init = make_explicit_init(iris, 3, covariance_type, random_state=4)
    params = {name: value.tolist() for name, value in init.items()}
    assert_fits_like_sklearn(
        iris, n_components=3, covariance_type=covariance_type, **params
    )


@pytest.mark.parametrize("init_params", INIT_PARAMS)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_max_iter_zero_returns_initial_parameters(covariance_type, init_params, iris):
    fast, sk = make_pair(
        n_components=3,
        covariance_type=covariance_type,
        init_params=init_params,
        max_iter=0,
        random_state=0,
    )
    # max_iter=0 is a request for the initialisation only: no warning.
    assert ConvergenceWarning not in fit_recording_warnings(fast, iris)
    sk.fit(iris)
    assert fast.n_iter_ == 0
    assert not fast.converged_
    assert fast.lower_bound_ == -np.inf
    assert len(fast.lower_bounds_) == 0
    assert_same_model(fast, sk, X=iris)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_max_iter_reached_warns_like_sklearn(covariance_type, wine):
    fast, sk = make_pair(
        n_components=3, covariance_type=covariance_type, max_iter=3, random_state=0
    )
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        fast.fit(wine)
    fit_both(fast, sk, wine)
    assert not fast.converged_
    assert fast.n_iter_ == 3
    assert_same_model(fast, sk, X=wine)


@pytest.mark.parametrize("tol", [0.0, 1e-8, 1e-1])
def test_tolerance_controls_stopping_like_sklearn(tol, blobs):
    assert_fits_like_sklearn(
        blobs,
        n_components=4,
        covariance_type="diag",
        tol=tol,
        max_iter=30,
        random_state=0,
    )


@pytest.mark.parametrize("reg_covar", [0.0, 1e-3, 1.0])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_reg_covar_like_sklearn(covariance_type, reg_covar, iris):
    assert_fits_like_sklearn(
        iris,
        n_components=2,
        covariance_type=covariance_type,
        reg_covar=reg_covar,
        random_state=0,
    )


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_single_component_and_single_feature(covariance_type, iris):
    for X, n_components in [(iris, 1), (iris[:, :1].copy(), 3)]:
        assert_fits_like_sklearn(
            X,
            n_components=n_components,
            covariance_type=covariance_type,
            random_state=0,
        )


def test_random_state_instance_is_consumed_like_sklearn(iris):
    # A RandomState instance is shared state: consecutive fits with the same
    # instance differ, and fastgmm must draw from it exactly like sklearn.
    fast_rng, sk_rng = np.random.RandomState(5), np.random.RandomState(5)
    for _ in range(2):
        fast, sk = (
            fastgmm.GaussianMixture(3, init_params="random", random_state=fast_rng),
            sklearn.mixture.GaussianMixture(
                3, init_params="random", random_state=sk_rng
            ),
        )
        fit_both(fast, sk, iris)
        assert_same_model(fast, sk, X=iris)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_methods_on_unseen_data_match_sklearn(covariance_type, blobs):
    X_train, X_test = blobs[:200], blobs[200:]
    fast, sk = make_pair(
        n_components=4, covariance_type=covariance_type, random_state=0
    )
    fit_both(fast, sk, X_train)
    assert_same_model(fast, sk, X=X_test)
    # Points far from every component: log-probabilities are hugely negative;
    # probabilities must still be finite and normalised.
    X_far = X_test * 1e3
    proba = fast.predict_proba(X_far)
    assert np.all(np.isfinite(proba))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(fast.predict(X_far), sk.predict(X_far))
    np.testing.assert_allclose(
        fast.score_samples(X_far), sk.score_samples(X_far), rtol=1e-6
    )


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_sample_matches_sklearn(covariance_type, blobs):
    fast, sk = make_pair(
        n_components=4, covariance_type=covariance_type, random_state=7
    )
    fit_both(fast, sk, blobs)
    X_fast, y_fast = fast.sample(50)
    X_sk, y_sk = sk.sample(50)
    assert X_fast.shape == (50, 3)
    assert X_fast.dtype == X_sk.dtype
    np.testing.assert_array_equal(y_fast, y_sk)
    np.testing.assert_allclose(X_fast, X_sk, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_float32_close_to_sklearn(covariance_type, separated_blobs):
    X = separated_blobs.astype(np.float32)
    fast, sk = make_pair(
        n_components=3, covariance_type=covariance_type, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fast.fit(X)
        sk.fit(X)
    # Parameters keep the input's precision, like sklearn.
    for name in PARAMETER_ATTRIBUTES:
        assert getattr(fast, name).dtype == np.float32, name
    # fastgmm accumulates in float64 and sklearn in float32: the runs can
    # differ by float32 rounding, so only compare loosely.
    assert_same_model(fast, sk, rtol=1e-3, atol_scale=1e-4, check_trajectory=False)
    np.testing.assert_array_equal(fast.predict(X), sk.predict(X))
    np.testing.assert_allclose(fast.score(X), sk.score(X), rtol=1e-4)
    np.testing.assert_allclose(
        fast.predict_proba(X), sk.predict_proba(X), rtol=1e-3, atol=1e-4
    )


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_float32_close_to_float64_fit(covariance_type, separated_blobs):
    init = make_explicit_init(separated_blobs, 3, covariance_type)
    fit64 = fastgmm.GaussianMixture(3, covariance_type=covariance_type, **init)
    fit32 = fastgmm.GaussianMixture(3, covariance_type=covariance_type, **init)
    fit64.fit(separated_blobs)
    fit32.fit(separated_blobs.astype(np.float32))
    assert_same_fit(fit32, fit64, rtol=1e-4, atol_scale=1e-6, check_trajectory=False)
    np.testing.assert_array_equal(
        fit32.predict(separated_blobs), fit64.predict(separated_blobs)
    )


def _sklearn_holding(fast):
    """A scikit-learn GaussianMixture with the fitted parameters of ``fast``."""
    sk = sklearn.mixture.GaussianMixture(
        fast.n_components, covariance_type=fast.covariance_type
    )
    names = PARAMETER_ATTRIBUTES + ("converged_", "n_iter_", "lower_bound_")
    for name in names + ("n_features_in_",):
        setattr(sk, name, getattr(fast, name))
    return sk


@pytest.mark.parametrize("data_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("model_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_output_dtypes_like_sklearn(
    covariance_type, model_dtype, data_dtype, separated_blobs
):
    # scikit-learn returns the result type of the data's and the parameters'
    # dtypes: float32 only for float32 data on a float32 model.
    fast = fit(
        separated_blobs.astype(model_dtype),
        n_components=3,
        covariance_type=covariance_type,
        random_state=0,
    )
    sk = _sklearn_holding(fast)
    X = separated_blobs.astype(data_dtype)
    log_prob, proba = fast.score_samples(X), fast.predict_proba(X)
    sk_log_prob, sk_proba = sk.score_samples(X), sk.predict_proba(X)
    float32 = model_dtype == data_dtype == np.float32
    expected = np.float32 if float32 else np.float64
    assert log_prob.dtype == sk_log_prob.dtype == expected
    assert proba.dtype == sk_proba.dtype == expected
    # float32 data is multiplied in float32 by both libraries (fastgmm in
    # another order): the float32 tolerances of test_float32_close_to_sklearn.
    close32 = data_dtype == np.float32
    rtol, atol = (1e-3, 1e-4) if close32 else (1e-6, 1e-6)
    np.testing.assert_allclose(log_prob, sk_log_prob, rtol=rtol, atol=atol)
    np.testing.assert_allclose(proba, sk_proba, rtol=rtol, atol=atol)
    np.testing.assert_array_equal(fast.predict(X), sk.predict(X))
    score = fast.score(X)
    assert type(score) is type(sk.score(X)) is float
    np.testing.assert_allclose(score, sk.score(X), rtol=1e-4 if close32 else 1e-6)
    # scikit-learn's formulas exactly, in score_samples's dtype: float32
    # values averaged in float32.
    assert score == float(log_prob.mean())
    n, p = X.shape[0], fast._n_parameters()
    assert fast.bic(X) == -2 * score * n + p * math.log(n)
    assert fast.aic(X) == -2 * score * n + 2 * p


def test_float32_weights_with_float64_parameters_score_in_float64(iris):
    # scikit-learn adds log(weights_) to the log-densities: float64 weights
    # make float32 data on float32 means and factors score in float64.
    fast = fit(iris.astype(np.float32), n_components=3, random_state=0)
    fast.weights_ = fast.weights_.astype(np.float64)
    sk = _sklearn_holding(fast)
    X = iris.astype(np.float32)
    assert fast.score_samples(X).dtype == sk.score_samples(X).dtype == np.float64
    assert fast.predict_proba(X).dtype == sk.predict_proba(X).dtype == np.float64


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_float32_scores_round_float64_values_and_average_them_in_float32(
    covariance_type, separated_blobs
):
    X = separated_blobs.astype(np.float32)
    fast = fit(X, n_components=3, covariance_type=covariance_type, random_state=0)
    log_prob64 = score_rows(
        X, fast._kernel_parameters(X.dtype), log_norm=True, dtype=np.float64
    )[0]
    # score_samples is the kernels' float64 log p(x) rounded once ...
    log_prob = fast.score_samples(X)
    np.testing.assert_array_equal(log_prob, log_prob64.astype(np.float32))
    # ... and score is its float32 mean, as scikit-learn's
    # score_samples(X).mean(), with bic and aic scikit-learn's formulas of it.
    score = fast.score(X)
    assert score == float(log_prob.mean()) == float(np.float32(log_prob.mean()))
    n, p = X.shape[0], fast._n_parameters()
    assert fast.bic(X) == -2 * score * n + p * math.log(n)
    assert fast.aic(X) == -2 * score * n + 2 * p


def test_bic_aic_select_same_number_of_components(blobs):
    def criteria(cls):
        out = []
        for n in range(1, 6):
            model = cls(n_components=n, random_state=0).fit(blobs)
            out.append((model.bic(blobs), model.aic(blobs)))
        return np.array(out)

    fast, sk = (
        criteria(fastgmm.GaussianMixture),
        criteria(sklearn.mixture.GaussianMixture),
    )
    np.testing.assert_allclose(fast, sk, rtol=1e-6)
    assert np.argmin(fast[:, 0]) == np.argmin(sk[:, 0])
    assert np.argmin(fast[:, 1]) == np.argmin(sk[:, 1])
