"""``GaussianMixtureImputer``: scikit-learn's transformer contract, and the
conditional expectations it fills in."""

import numpy as np
import pytest
from naive import naive_conditional_means
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from fastgmm import GaussianMixtureImputer
from fastgmm.kernels._covariance import COVARIANCE_TYPES


def incomplete(seed, n=300, fraction=0.2):
    rng = np.random.default_rng(seed)
    cov = np.array([[1.0, 0.8, 0.2], [0.8, 1.0, 0.4], [0.2, 0.4, 1.0]])
    X = np.concatenate(
        [
            rng.multivariate_normal([0, 0, 0], cov, n // 2),
            rng.multivariate_normal([3, 1, -2], 0.5 * cov, n - n // 2),
        ]
    )
    missing = rng.random(X.shape) < fraction
    missing[missing.all(axis=1), 0] = False
    return X, np.where(missing, np.nan, X)


@parametrize_with_checks(
    [
        GaussianMixtureImputer(),
        GaussianMixtureImputer(2, sample_posterior=True, random_state=0),
    ]
)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_fills_the_conditional_expectation(covariance_type):
    _, X = incomplete(0)
    imputer = GaussianMixtureImputer(
        2, covariance_type=covariance_type, random_state=0
    ).fit(X)
    mixture = imputer.mixture_
    got = imputer.transform(X)
    want = naive_conditional_means(
        X, mixture.weights_, mixture.means_, mixture.covariances_, covariance_type
    )
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    observed = ~np.isnan(X)
    np.testing.assert_array_equal(got[observed], X[observed])
    np.testing.assert_array_equal(imputer.fit_transform(X), got)


def test_correlated_features_beat_the_column_mean():
    truth, X = incomplete(1, n=2000)
    filled = GaussianMixtureImputer(2, random_state=0).fit_transform(X)
    mean_filled = np.where(np.isnan(X), np.nanmean(X, axis=0), X)
    missing = np.isnan(X)

    def rmse(Y):
        return np.sqrt(np.mean((Y[missing] - truth[missing]) ** 2))

    assert rmse(filled) < 0.8 * rmse(mean_filled)


def test_draws_average_to_the_conditional_expectation():
    _, X = incomplete(2, n=200)
    rows = X[np.isnan(X).any(axis=1)][:5]
    means = GaussianMixtureImputer(2, random_state=0).fit(X).transform(rows)
    sampler = GaussianMixtureImputer(2, random_state=0, sample_posterior=True).fit(X)
    draws = np.stack([sampler.transform(rows) for _ in range(3000)])
    # Each call draws anew; observed entries never change.
    assert not np.array_equal(draws[0], draws[1])
    np.testing.assert_array_equal(draws[:, ~np.isnan(rows)][0], rows[~np.isnan(rows)])
    np.testing.assert_allclose(draws.mean(axis=0), means, atol=0.1)


def test_dtype_pipeline_and_a_row_with_nothing_observed():
    _, X = incomplete(3)
    imputer = GaussianMixtureImputer(2, random_state=0).fit(X.astype(np.float32))
    out = imputer.transform(X.astype(np.float32))
    assert out.dtype == np.float32 and not np.isnan(out).any()
    # Nothing to condition on: the mixture's mean.
    empty = imputer.transform(np.full((1, 3), np.nan, dtype=np.float32))
    mixture = imputer.mixture_
    np.testing.assert_allclose(empty[0], mixture.weights_ @ mixture.means_, rtol=1e-5)
    y = np.nan_to_num(X).sum(axis=1)
    model = make_pipeline(GaussianMixtureImputer(2, random_state=0), LinearRegression())
    assert model.fit(X, y).predict(X).shape == (len(X),)
    with pytest.raises(ValueError, match="Row 4 of X has every feature missing"):
        bad = X.copy()
        bad[4] = np.nan
        GaussianMixtureImputer().fit(bad)
