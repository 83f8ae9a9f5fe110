"""The compiled M-step and precision factors against NumPy/SciPy references."""

import numpy as np
import pytest
from scipy import linalg

from fastgmm import _mstep

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]


def naive_m_step(X, resp, covariance_type, reg_covar):
    """scikit-learn's M-step formulas on explicit responsibilities."""
    nk = resp.sum(axis=0) + 10 * np.finfo(X.dtype).eps
    means = resp.T @ X / nk[:, None]
    n_features = X.shape[1]
    if covariance_type == "full":
        covariances = np.stack(
            [
                (resp[:, k] * (X - means[k]).T) @ (X - means[k]) / nk[k]
                + reg_covar * np.eye(n_features)
                for k in range(len(nk))
            ]
        )
    elif covariance_type == "tied":
        covariances = (X.T @ X - (nk * means.T) @ means) / nk.sum()
        covariances += reg_covar * np.eye(n_features)
    else:
        covariances = (
            resp.T @ (X * X) / nk[:, None]
            - 2 * means * (resp.T @ X) / nk[:, None]
            + means**2
            + reg_covar
        )
        if covariance_type == "spherical":
            covariances = covariances.mean(axis=1)
    return nk / nk.sum(), means, covariances


def statistics(X, resp, covariance_type, ref):
    """(nk, s1, s2) about ``ref`` in the kernels' layout, by NumPy."""
    nk = resp.sum(axis=0)
    n_components = resp.shape[1]
    s1 = np.stack([resp[:, k] @ (X - ref[k]) for k in range(n_components)])
    if covariance_type == "full":
        s2 = np.stack(
            [
                np.triu((resp[:, k] * (X - ref[k]).T) @ (X - ref[k]))
                for k in range(n_components)
            ]
        )
    elif covariance_type == "tied":
        diff = X - ref[0]
        s2 = np.triu(diff.T @ diff)[None]
    else:
        s2 = np.stack([resp[:, k] @ (X - ref[k]) ** 2 for k in range(n_components)])
        s2 = s2[:, None, :]
    return nk, s1, s2


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
    nk, s1, s2 = statistics(X, resp, covariance_type, ref)
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


def scipy_precision_cholesky(covariances, covariance_type):
    """scikit-learn's ``_compute_precision_cholesky``."""
    if covariance_type in ("full", "tied"):
        matrices = covariances if covariance_type == "full" else covariances[None]
        factors = np.stack(
            [
                linalg.solve_triangular(
                    linalg.cholesky(c, lower=True), np.eye(len(c)), lower=True
                ).T
                for c in matrices
            ]
        )
        return factors if covariance_type == "full" else factors[0]
    return 1.0 / np.sqrt(covariances)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("n_features", [1, 3, 17])
def test_precision_cholesky_matches_scipy(covariance_type, n_features):
    rng = np.random.default_rng(n_features)
    covariances = random_covariances(rng, covariance_type, 4, n_features)
    factors = _mstep.precision_cholesky(covariances, covariance_type, np.float64)
    expected = scipy_precision_cholesky(covariances, covariance_type)
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
    with pytest.raises(ValueError, match="ill-defined empirical covariance"):
        _mstep.precision_cholesky(covariances, covariance_type, np.float64)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_iteration_m_step_agrees_with_m_step_and_factors(covariance_type):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 4))
    resp = rng.dirichlet(np.ones(3), size=300)
    ref = np.broadcast_to(X.mean(axis=0), (3, 4)).copy()
    nk, s1, s2 = statistics(X, resp, covariance_type, ref)
    for dtype in (np.float64, np.float32):
        weights, means, cov3, prec3, log_weights, log_det = _mstep.iteration_m_step(
            nk, s1, s2, ref, covariance_type, 1e-6, dtype
        )
        expected = _mstep.m_step(nk, s1, s2, ref, covariance_type, 1e-6, dtype)
        factors = _mstep.precision_cholesky(expected[2], covariance_type, dtype)
        for got, want in zip(
            (weights, means, _mstep.from_kernel_layout(cov3, covariance_type)),
            expected,
        ):
            assert got.dtype == dtype
            np.testing.assert_array_equal(got, want.astype(dtype))
        np.testing.assert_array_equal(
            _mstep.from_kernel_layout(prec3, covariance_type), factors.astype(dtype)
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
    array3 = _mstep.to_kernel_layout(covariances, covariance_type, 4)
    assert array3.ndim == 3 and array3.shape[2] == 4
    np.testing.assert_array_equal(
        _mstep.from_kernel_layout(array3, covariance_type), covariances
    )
