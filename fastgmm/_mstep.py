"""M-step and parameter conversions (covariance <-> precision Cholesky).

Everything here works on small arrays (n_components x n_features x
n_features at most) in NumPy/SciPy; the passes over the data live in
``fastgmm._kernels``.
"""

import numpy as np
from scipy import linalg

_ILL_DEFINED = (
    "Fitting the mixture model failed because some components have "
    "ill-defined empirical covariance (for instance caused by singleton "
    "or collapsed samples). Try to decrease the number of components, "
    "increase reg_covar, or scale the input data."
)


def ill_defined_error(dtype):
    """The ValueError scikit-learn raises for a collapsed component."""
    message = _ILL_DEFINED
    if dtype == np.float32:
        message += (
            " The numerical accuracy can also be improved by passing float64"
            " data instead of float32."
        )
    return ValueError(message)


# ---------------------------------------------------------------------------
# Sufficient statistics -> parameters


def _symmetric(upper):
    """Full symmetric matrices from their upper triangles (last two axes)."""
    return np.triu(upper) + np.swapaxes(np.triu(upper, 1), -1, -2)


def m_step(nk, s1, s2, ref, covariance_type, reg_covar, dtype, weight_total=None):
    """Weights, means and covariances from the sufficient statistics.

    Parameters
    ----------
    nk : ndarray of shape (n_components,)
        Sum of the (weighted) responsibilities of each component.
    s1 : ndarray of shape (n_components, n_features)
        sum_i r_ik (x_i - ref_k).
    s2 : ndarray
        Second moments of x_i - ref_k in the kernel layout: upper triangles of
        shape (n_components, n_features, n_features) for 'full', their sum
        over components, shape (1, n_features, n_features), for 'tied', and
        diagonals of shape (n_components, 1, n_features) for 'diag' and
        'spherical'.
    ref : ndarray of shape (n_components, n_features)
        Reference point of each component's moments.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
    reg_covar : float
        Added to the diagonal of the covariances.
    dtype : numpy dtype
        Dtype of the data; its epsilon guards empty components as in
        scikit-learn.
    weight_total : float, default=None
        Divide the component weights by this instead of their sum.
        scikit-learn's initialisation divides by the number of samples, which
        leaves weights summing to n_components / n_samples when each
        component starts from one point.

    Returns
    -------
    weights : ndarray of shape (n_components,)
    means : ndarray of shape (n_components, n_features)
    covariances : ndarray
        Shape depends on ``covariance_type``, as in scikit-learn.
    """
    n_features = s1.shape[1]
    # scikit-learn's guard: an empty component keeps a tiny positive weight.
    nk_reg = nk + 10 * np.finfo(dtype).eps
    # sum_i r_ik x_i = nk ref_k + s1_k, divided as scikit-learn divides.
    means = (nk[:, None] * ref + s1) / nk_reg[:, None]
    delta = means - ref
    if covariance_type in ("full", "tied"):
        # sum_i r_ik (x_i - m_k)(x_i - m_k)^T = S2_k - correction_k
        cross = delta[:, :, None] * s1[:, None, :]
        correction = (
            cross
            + np.swapaxes(cross, 1, 2)
            - nk[:, None, None] * delta[:, :, None] * delta[:, None, :]
        )
        if covariance_type == "full":
            covariances = (_symmetric(s2) - correction) / nk_reg[:, None, None]
        else:
            covariances = (_symmetric(s2[0]) - correction.sum(axis=0)) / nk_reg.sum()
        covariances[..., np.arange(n_features), np.arange(n_features)] += reg_covar
    else:
        scatter = s2[:, 0, :] - 2 * delta * s1 + nk[:, None] * delta**2
        covariances = scatter / nk_reg[:, None] + reg_covar
        if covariance_type == "spherical":
            covariances = covariances.mean(axis=1)
    weights = nk_reg / (nk_reg.sum() if weight_total is None else weight_total)
    return weights, means, covariances


def uncentred_covariances(scatter, nk, means, covariance_type, reg_covar, dtype):
    """scikit-learn's uncentred 'tied', 'diag' and 'spherical' M-step formulas.

    Used only for initialisations that start each component from one data
    point: their exact scatter is zero, the covariance is ``reg_covar`` plus
    rounding noise, and EM's first step depends on every digit of it, so the
    noise is made the same as scikit-learn's.  Elsewhere the centred
    ``m_step`` is used, which keeps its digits far from the origin.

    Parameters
    ----------
    scatter : ndarray
        ``X.T @ X`` (weighted) for 'tied'; ``sum_i r_ik x_i**2``, shape
        (n_components, n_features), for 'diag' and 'spherical'.
    nk : ndarray of shape (n_components,)
    means : ndarray of shape (n_components, n_features)
    """
    nk_reg = nk + 10 * np.finfo(dtype).eps
    if covariance_type == "tied":
        covariance = (scatter - (nk * means.T) @ means) / nk_reg.sum()
        covariance.flat[:: covariance.shape[0] + 1] += reg_covar
        return covariance
    covariances = scatter / nk_reg[:, None] - means**2 + reg_covar
    return covariances.mean(axis=1) if covariance_type == "spherical" else covariances


# ---------------------------------------------------------------------------
# Covariances <-> precision Cholesky factors


def precision_cholesky(covariances, covariance_type, dtype):
    """Upper-triangular U with U U^T = inverse covariance, as in scikit-learn.

    Raises scikit-learn's "ill-defined empirical covariance" ValueError when a
    covariance is not positive definite or not finite.
    """
    if not np.all(np.isfinite(covariances)):
        raise ill_defined_error(dtype)
    if covariance_type in ("full", "tied"):
        # One batched call each for all components.
        try:
            cov_chol = linalg.cholesky(covariances, lower=True)
        except linalg.LinAlgError:
            raise ill_defined_error(dtype) from None
        eye = np.broadcast_to(np.eye(covariances.shape[-1]), covariances.shape)
        inverse = linalg.solve_triangular(cov_chol, eye, lower=True)
        return np.swapaxes(inverse, -1, -2)
    if np.any(covariances <= 0.0):
        raise ill_defined_error(dtype)
    return 1.0 / np.sqrt(covariances)


def precision_cholesky_from_precisions(precisions, covariance_type):
    """Upper-triangular Cholesky factors of user-given precisions.

    The Cholesky factor of the row- and column-reversed precision, reversed
    back, is upper triangular with U U^T = precision.
    """
    if covariance_type in ("full", "tied"):
        matrices = precisions if covariance_type == "full" else precisions[None]
        factors = np.stack(
            [linalg.cholesky(p[::-1, ::-1], lower=True)[::-1, ::-1] for p in matrices]
        )
        return factors if covariance_type == "full" else factors[0]
    return np.sqrt(precisions)


def precisions_from_cholesky(prec_chol, covariance_type):
    """Precision matrices U U^T (or squared diagonals)."""
    if covariance_type == "full":
        return prec_chol @ np.swapaxes(prec_chol, 1, 2)
    if covariance_type == "tied":
        return prec_chol @ prec_chol.T
    return prec_chol**2


def covariances_from_precisions(precisions, covariance_type):
    """Covariances of user-given precisions."""
    if covariance_type in ("full", "tied"):
        return np.linalg.inv(precisions)
    return 1.0 / precisions


# ---------------------------------------------------------------------------
# Parameters in the kernels' layout


def kernel_precisions(prec_chol, covariance_type, n_components, n_features):
    """``prec_chol`` in the kernels' layout and the log-determinant per component.

    Returns
    -------
    prec3 : ndarray of shape (n, m, n_features)
        (n_components, n_features, n_features) for 'full',
        (1, n_features, n_features) for 'tied', (n_components, 1, n_features)
        for 'diag' and 'spherical'.
    log_det : ndarray of shape (n_components,)
        log det of each precision Cholesky factor (= -log det(cov) / 2).
    """
    if covariance_type == "full":
        prec3 = prec_chol
        log_det = np.log(np.diagonal(prec_chol, axis1=1, axis2=2)).sum(axis=1)
    elif covariance_type == "tied":
        prec3 = prec_chol[None]
        log_det = np.full(n_components, np.log(np.diagonal(prec_chol)).sum())
    elif covariance_type == "diag":
        prec3 = prec_chol[:, None, :]
        log_det = np.log(prec_chol).sum(axis=1)
    else:
        prec3 = np.repeat(prec_chol[:, None, None], n_features, axis=2)
        log_det = n_features * np.log(prec_chol)
    return np.ascontiguousarray(prec3), np.asarray(log_det, dtype=np.float64)
