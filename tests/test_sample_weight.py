"""Weighted EM: sample_weight multiplies each row's responsibilities."""

import warnings

import numpy as np
import pytest
from conftest import (
    COVARIANCE_TYPES,
    assert_same_fit,
    fit,
    make_explicit_init,
)
from sklearn.exceptions import ConvergenceWarning

import fastgmm


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_unit_weights_equal_no_weights(covariance_type, blobs):
    params = dict(n_components=4, covariance_type=covariance_type, random_state=0)
    unweighted = fit(blobs, **params)
    weighted = fit(blobs, sample_weight=np.ones(len(blobs)), **params)
    assert_same_fit(weighted, unweighted, rtol=1e-12)
    np.testing.assert_allclose(
        weighted.predict_proba(blobs), unweighted.predict_proba(blobs), atol=1e-12
    )


def test_sample_weight_none_and_scalar_like_unit_weights(iris):
    params = dict(n_components=3, random_state=0)
    unweighted = fit(iris, **params)
    assert_same_fit(fit(iris, sample_weight=None, **params), unweighted, rtol=0)
    as_list = fit(iris, sample_weight=np.ones(150).tolist(), **params)
    assert_same_fit(as_list, unweighted, rtol=1e-12)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_integer_weights_equal_repeated_rows(covariance_type, iris):
    rng = np.random.RandomState(0)
    weights = rng.randint(1, 5, size=len(iris))
    init = make_explicit_init(iris, 3, covariance_type)
    params = dict(n_components=3, covariance_type=covariance_type, **init)
    weighted = fit(iris, sample_weight=weights, **params)
    repeated = fit(np.repeat(iris, weights, axis=0), **params)
    assert_same_fit(weighted, repeated, rtol=1e-8)
    # Weights must change the model (otherwise the test above proves nothing).
    unweighted = fit(iris, **params)
    assert not np.allclose(unweighted.means_, weighted.means_, rtol=1e-4)
    np.testing.assert_allclose(
        weighted.score_samples(iris), repeated.score_samples(iris), rtol=1e-8
    )


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_zero_weights_equal_removed_rows(covariance_type, blobs):
    rng = np.random.RandomState(1)
    weights = rng.randint(0, 3, size=len(blobs)).astype(np.float64)
    kept = weights > 0
    init = make_explicit_init(blobs[kept], 4, covariance_type)
    params = dict(n_components=4, covariance_type=covariance_type, **init)
    weighted = fit(blobs, sample_weight=weights, **params)
    removed = fit(blobs[kept], sample_weight=weights[kept], **params)
    assert_same_fit(weighted, removed, rtol=1e-10)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_zero_weight_rows_can_be_anything(covariance_type, blobs):
    # A zero-weight row contributes nothing, even when it is an extreme outlier.
    weights = np.ones(len(blobs))
    weights[:10] = 0.0
    X_outliers = blobs.copy()
    X_outliers[:10] = 1e6
    init = make_explicit_init(blobs[10:], 4, covariance_type)
    params = dict(n_components=4, covariance_type=covariance_type, **init)
    a = fit(blobs, sample_weight=weights, **params)
    b = fit(X_outliers, sample_weight=weights, **params)
    assert_same_fit(a, b, rtol=1e-10)


@pytest.mark.parametrize("init", ["kmeans", "explicit"])
@pytest.mark.parametrize("scale", [1e-3, 1e4])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_scaling_weights_gives_same_model(covariance_type, scale, init, blobs):
    # (Not random_from_data: its one-row initial covariances are reg_covar, so
    # the first lower bound is ill-conditioned and sklearn's absolute
    # 10 * eps added to each component's weight breaks exact scale invariance.)
    rng = np.random.RandomState(2)
    weights = rng.uniform(0.1, 2.0, size=len(blobs))
    params = dict(n_components=4, covariance_type=covariance_type, random_state=0)
    if init == "explicit":
        params.update(make_explicit_init(blobs, 4, covariance_type))
    a = fit(blobs, sample_weight=weights, **params)
    b = fit(blobs, sample_weight=scale * weights, **params)
    assert_same_fit(b, a, rtol=1e-10)


def test_weights_shift_the_fit_towards_heavy_rows():
    # Two well-separated groups; the heavy group dominates the mixing weights.
    rng = np.random.RandomState(0)
    X = np.vstack([rng.randn(50, 2), rng.randn(50, 2) + 20.0])
    weights = np.r_[np.full(50, 3.0), np.ones(50)]
    model = fit(X, sample_weight=weights, n_components=2, random_state=0)
    heavy = model.predict(X[:1])[0]
    np.testing.assert_allclose(model.weights_[heavy], 0.75, rtol=1e-6)
    np.testing.assert_allclose(model.weights_.sum(), 1.0, rtol=1e-12)
    # The mean of a one-cluster fit is the weighted mean of the data.
    single = fit(X, sample_weight=weights, n_components=1, random_state=0)
    np.testing.assert_allclose(
        single.means_[0], np.average(X, axis=0, weights=weights), rtol=1e-10
    )
    np.testing.assert_allclose(
        single.covariances_[0],
        np.cov(X.T, aweights=weights, bias=True) + 1e-6 * np.eye(2),
        rtol=1e-10,
    )


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_fit_predict_with_weights_equals_fit_then_predict(covariance_type, iris):
    weights = np.random.RandomState(4).uniform(0.5, 2.0, size=len(iris))
    params = dict(n_components=3, covariance_type=covariance_type, random_state=0)
    a = fastgmm.GaussianMixture(**params)
    labels = a.fit_predict(iris, sample_weight=weights)
    b = fit(iris, sample_weight=weights, **params)
    np.testing.assert_array_equal(labels, b.predict(iris))
    assert_same_fit(a, b, rtol=0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_weight_dtype_does_not_matter(dtype, iris):
    weights = np.random.RandomState(5).randint(1, 4, size=len(iris))
    init = make_explicit_init(iris, 3, "full")
    reference = fit(
        iris, sample_weight=weights.astype(np.float64), n_components=3, **init
    )
    other = fit(iris, sample_weight=weights.astype(dtype), n_components=3, **init)
    assert_same_fit(other, reference, rtol=1e-12)


def test_float32_X_with_weights_keeps_float32(separated_blobs):
    X = separated_blobs.astype(np.float32)
    weights = np.random.RandomState(6).randint(1, 4, size=len(X))
    init = make_explicit_init(separated_blobs, 3, "diag")
    params = dict(n_components=3, covariance_type="diag", **init)
    weighted = fit(X, sample_weight=weights, **params)
    assert weighted.means_.dtype == np.float32
    repeated = fit(np.repeat(X, weights, axis=0), **params)
    assert_same_fit(weighted, repeated, rtol=1e-5, atol_scale=1e-5)


def test_sample_weight_is_not_modified(iris):
    weights = np.random.RandomState(7).uniform(0.5, 2.0, size=len(iris))
    original = weights.copy()
    weights.setflags(write=False)
    fit(iris, sample_weight=weights, n_components=3, random_state=0)
    np.testing.assert_array_equal(weights, original)


def test_warm_start_with_weights_equals_repeated_rows(iris):
    weights = np.random.RandomState(8).randint(1, 4, size=len(iris))
    init = make_explicit_init(iris, 3, "full")
    params = dict(n_components=3, warm_start=True, max_iter=2, **init)
    weighted = fastgmm.GaussianMixture(**params)
    repeated = fastgmm.GaussianMixture(**params)
    X_repeated = np.repeat(iris, weights, axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(3):
            weighted.fit(iris, sample_weight=weights)
            repeated.fit(X_repeated)
            assert_same_fit(weighted, repeated, rtol=1e-8)
