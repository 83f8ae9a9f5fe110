"""The compiled M-step and precision factors against NumPy/SciPy references."""

import numpy as np
import pytest
from conftest import COVARIANCE_TYPES, ILL_DEFINED
from naive import naive_m_step, naive_moments, naive_precision_cholesky

from fastgmm.kernels import _mstep
from fastgmm.kernels._covariance import covariance


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("n_features", [1, 2, 5, 9])
def test_m_step_matches_numpy(covariance_type, n_features):
    rng = np.random.default_rng(n_features)
    n_samples, n_components = 400, 3
    X = rng.normal(size=(n_samples, n_features)) @ rng.normal(
        size=(n_features, n_features)
    )
    resp = rng.dirichlet(np.ones(n_components), size=n_samples)
    # Statistics about a point away from the means, as EM gives them.
    if covariance_type == "tied":
        ref = np.broadcast_to(X.mean(axis=0) + 0.3, (n_components, n_features))
    else:
        ref = rng.normal(size=(n_components, n_features))
    nk, s1, s2 = naive_moments(X, resp, covariance_type, ref)
    weights, means, covariances = _mstep.m_step(
        nk, s1, s2, ref, covariance_type, 1e-6, np.float64
    )
    expected = naive_m_step(X, resp, covariance_type, 1e-6)
    np.testing.assert_allclose(weights, expected[0], rtol=1e-13)
    np.testing.assert_allclose(means, expected[1], rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(covariances, expected[2], rtol=1e-10, atol=1e-13)


def test_m_step_weight_total_divides_the_weights():
    nk = np.array([1.0, 1.0])
    s1 = np.zeros((2, 2))
    s2 = np.zeros((2, 1, 2))
    weights, _, _ = _mstep.m_step(
        nk, s1, s2, np.zeros((2, 2)), "diag", 1e-6, np.float64, weight_total=10.0
    )
    np.testing.assert_allclose(weights, (nk + 10 * np.finfo(float).eps) / 10.0)


def random_covariances(rng, covariance_type, n_components, n_features):
    if covariance_type in ("full", "tied"):
        a = rng.normal(size=(n_components, n_features, n_features))
        covariances = a @ np.swapaxes(a, 1, 2) + 0.1 * np.eye(n_features)
        return covariances if covariance_type == "full" else covariances[0]
    if covariance_type == "diag":
        return rng.uniform(0.1, 3.0, size=(n_components, n_features))
    return rng.uniform(0.1, 3.0, size=n_components)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("n_features", [1, 3, 17])
def test_precision_cholesky_matches_scipy(covariance_type, n_features):
    rng = np.random.default_rng(n_features)
    covariances = random_covariances(rng, covariance_type, 4, n_features)
    factors = _mstep.precision_cholesky(covariances, covariance_type, np.float64)
    expected = naive_precision_cholesky(covariances, covariance_type)
    assert factors.shape == expected.shape
    np.testing.assert_allclose(factors, expected, rtol=1e-11, atol=1e-12)
    if covariance_type in ("full", "tied"):
        assert np.all(np.tril(factors, -1) == 0)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("bad", [0.0, -1.0, np.nan, np.inf])
def test_precision_cholesky_rejects_ill_defined(covariance_type, bad):
    rng = np.random.default_rng(0)
    covariances = random_covariances(rng, covariance_type, 3, 3)
    if covariance_type in ("full", "tied"):
        matrix = covariances if covariance_type == "tied" else covariances[1]
        if np.isfinite(bad):
            # Collapsed (zero) or negative definite.
            matrix[:] = bad * np.eye(3)
        else:
            matrix[0, 1] = matrix[1, 0] = bad
    else:
        covariances.flat[1] = bad
    with pytest.raises(ValueError, match=ILL_DEFINED):
        _mstep.precision_cholesky(covariances, covariance_type, np.float64)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_iteration_m_step_agrees_with_m_step_and_factors(covariance_type):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 4))
    resp = rng.dirichlet(np.ones(3), size=300)
    ref = np.broadcast_to(X.mean(axis=0), (3, 4)).copy()
    nk, s1, s2 = naive_moments(X, resp, covariance_type, ref)
    for dtype in (np.float64, np.float32):
        weights, means, cov3, prec3, log_weights, log_det = _mstep.iteration_m_step(
            nk, s1, s2, ref, covariance_type, 1e-6, dtype
        )
        expected = _mstep.m_step(nk, s1, s2, ref, covariance_type, 1e-6, dtype)
        factors = _mstep.precision_cholesky(expected[2], covariance_type, dtype)
        for got, want in zip(
            (weights, means, covariance(covariance_type).from_kernel_layout(cov3)),
            expected,
        ):
            assert got.dtype == dtype
            np.testing.assert_array_equal(got, want.astype(dtype))
        np.testing.assert_array_equal(
            covariance(covariance_type).from_kernel_layout(prec3), factors.astype(dtype)
        )
        np.testing.assert_allclose(log_weights, np.log(weights.astype(np.float64)))
        _, expected_log_det = _mstep.kernel_precisions(
            factors.astype(dtype), covariance_type, 3, 4
        )
        np.testing.assert_array_equal(log_det, expected_log_det)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_kernel_layout_round_trip(covariance_type):
    rng = np.random.default_rng(2)
    covariances = random_covariances(rng, covariance_type, 3, 4)
    array3 = covariance(covariance_type).to_kernel_layout(covariances, 4)
    assert array3.ndim == 3 and array3.shape[2] == 4
    np.testing.assert_array_equal(
        covariance(covariance_type).from_kernel_layout(array3), covariances
    )
