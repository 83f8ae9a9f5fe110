"""M-step and parameter conversions (covariance <-> precision Cholesky).

Everything here works on small arrays (n_components x n_features x
n_features at most); the passes over the data live in ``fastgmm.kernels._estep``.
"""

import math

import numpy as np
from scipy import linalg

from ._config import EXACT_NJIT_OPTIONS
from ._copy import copy_into
from ._covariance import DIAG, FULL, SPHERICAL, TIED, covariance
from ._numba_internals import empty, larger, njit, smaller, zeros
from ._specialise import CODE, kernel

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
# Sufficient statistics -> parameters (compiled: called once per iteration,
# where NumPy and SciPy call overheads would dominate small fits)


@kernel(**EXACT_NJIT_OPTIONS)
def component_moments(nk, s1, s2, ref, reg_covar, eps, weight_total):
    """Weights, means and covariances (kernel layout), all float64.

    Same formulas and evaluation order as scikit-learn's M-step, written on
    moments centred on ``ref``; ``weight_total <= 0`` divides the weights by
    their sum.
    """
    n_components, n_features = s1.shape
    # scikit-learn's guard: an empty component keeps a tiny positive weight.
    nk_reg = empty(n_components, np.float64)
    for k in range(n_components):
        nk_reg[k] = nk[k] + eps
    means = empty((n_components, n_features), np.float64)
    delta = empty((n_components, n_features), np.float64)
    for k in range(n_components):
        for i in range(n_features):
            # sum_i r_ik x_i = nk ref_k + s1_k, divided as scikit-learn divides.
            means[k, i] = (nk[k] * ref[k, i] + s1[k, i]) / nk_reg[k]
            delta[k, i] = means[k, i] - ref[k, i]
    covariances = zeros(s2.shape, np.float64)
    total_nk = 0.0  # nk_reg.sum(), as Numba adds it: in order
    for k in range(n_components):
        total_nk += nk_reg[k]
    # One branch per type; a kernel copy compiles its own type's only.
    if CODE == FULL:
        # sum_i r_ik (x_i - m_k)(x_i - m_k)^T = S2_k - correction_k, with S2_k
        # given as its upper triangle.
        for k in range(n_components):
            for i in range(n_features):
                for j in range(n_features):
                    upper = s2[k, smaller(i, j), larger(i, j)]
                    covariances[k, i, j] = upper - _correction(nk, s1, delta, k, i, j)
            for i in range(n_features):
                for j in range(n_features):
                    covariances[k, i, j] /= nk_reg[k]
                covariances[k, i, i] += reg_covar
    elif CODE == TIED:
        # The corrections of every component, then the scatter about the
        # shared reference, over the total weight.
        for k in range(n_components):
            for i in range(n_features):
                for j in range(n_features):
                    covariances[0, i, j] -= _correction(nk, s1, delta, k, i, j)
        for i in range(n_features):
            for j in range(n_features):
                covariances[0, i, j] += s2[0, smaller(i, j), larger(i, j)]
                covariances[0, i, j] /= total_nk
            covariances[0, i, i] += reg_covar
    else:  # DIAG, SPHERICAL: variances; spherical averages them
        for k in range(n_components):
            total = 0.0
            for i in range(n_features):
                scatter = (
                    s2[k, 0, i] - 2 * delta[k, i] * s1[k, i] + nk[k] * delta[k, i] ** 2
                )
                covariances[k, 0, i] = scatter / nk_reg[k] + reg_covar
                total += covariances[k, 0, i]
            if CODE == SPHERICAL:
                covariances[k, 0, :] = total / n_features
    divisor = total_nk if weight_total <= 0 else weight_total
    weights = empty(n_components, np.float64)
    for k in range(n_components):
        weights[k] = nk_reg[k] / divisor
    return weights, means, covariances


@njit(inline="always", **EXACT_NJIT_OPTIONS)
def _correction(nk, s1, delta, k, i, j):
    """S2_k - sum_i r_ik (x_i - m_k)(x_i - m_k)^T at (i, j), for moments about
    a reference point r_k: d_i s1_j + d_j s1_i - nk d_i d_j with d = m_k - r_k."""
    return (
        delta[k, i] * s1[k, j]
        + delta[k, j] * s1[k, i]
        - nk[k] * delta[k, i] * delta[k, j]
    )


@njit(**EXACT_NJIT_OPTIONS, helper=True)
def _cholesky_factor(a, out):
    """Upper-triangular U with U U^T = inverse(a), written to ``out``.

    Lower Cholesky factor L of ``a``, then U = (L^-1)^T by forward
    substitution.  Returns False when ``a`` is not positive definite.
    """
    n = a.shape[0]
    lower = zeros((n, n), np.float64)
    for j in range(n):
        pivot = a[j, j]
        for p in range(j):
            pivot -= lower[j, p] * lower[j, p]
        if not pivot > 0.0:  # also catches NaN
            return False
        lower[j, j] = math.sqrt(pivot)
        for i in range(j + 1, n):
            total = a[i, j]
            for p in range(j):
                total -= lower[i, p] * lower[j, p]
            lower[i, j] = total / lower[j, j]
    for c in range(n):
        for i in range(n):
            if i < c:
                out[c, i] = 0.0
                continue
            total = 1.0 if i == c else 0.0
            for p in range(c, i):
                total -= lower[i, p] * out[c, p]
            out[c, i] = total / lower[i, i]
    return True


@kernel(**EXACT_NJIT_OPTIONS)
def _precision_factors(covariances, prec_chol):
    """Precision Cholesky factors of kernel-layout covariances.

    Written to ``prec_chol`` (same layout, any float dtype); returns False
    when a covariance is not positive definite or not finite.
    """
    for c in range(covariances.shape[0]):
        for i in range(covariances.shape[1]):
            for j in range(covariances.shape[2]):
                if not math.isfinite(covariances[c, i, j]):
                    return False
    n_features = covariances.shape[2]
    factor = empty((n_features, n_features), np.float64)
    for c in range(covariances.shape[0]):
        if CODE == FULL or CODE == TIED:
            if not _cholesky_factor(covariances[c], factor):
                return False
            copy_into(prec_chol[c], factor)
        else:
            for i in range(n_features):
                if not covariances[c, 0, i] > 0.0:
                    return False
                prec_chol[c, 0, i] = 1.0 / math.sqrt(covariances[c, 0, i])
    return True


@kernel(**EXACT_NJIT_OPTIONS)
def log_determinants(prec_chol, n_components):
    """log det of each component's precision Cholesky factor (kernel layout).

    Equal to -log det(covariance) / 2; computed from the factors in their own
    dtype, as the kernels use them.
    """
    log_det = empty(n_components, np.float64)
    for k in range(n_components):
        c = 0 if CODE == TIED else k
        total = 0.0
        for i in range(prec_chol.shape[2]):
            diagonal = (
                prec_chol[c, 0, i]
                if CODE == DIAG or CODE == SPHERICAL
                else prec_chol[c, i, i]
            )
            total += math.log(np.float64(diagonal))
        log_det[k] = total
    return log_det


@kernel(**EXACT_NJIT_OPTIONS)
def _iteration_m_step(
    nk, s1, s2, ref, reg_covar, eps, weights, means, covariances, prec_chol
):
    """The M-step of an EM iteration into preallocated arrays of the data's dtype.

    Covariances and their factors are computed in float64, then stored.
    Returns (ok, log_weights, log_det); ok is False for an ill-defined
    covariance.
    """
    weights64, means64, covariances64 = component_moments(
        nk, s1, s2, ref, reg_covar, eps, -1.0
    )
    copy_into(weights, weights64)
    copy_into(means, means64)
    copy_into(covariances, covariances64)
    n_components = nk.shape[0]
    if not _precision_factors(covariances64, prec_chol):
        return False, empty(0, np.float64), empty(0, np.float64)
    log_weights = empty(n_components, np.float64)
    for k in range(n_components):
        log_weights[k] = math.log(np.float64(weights[k]))
    return True, log_weights, log_determinants(prec_chol, n_components)


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
    kind = covariance(covariance_type)
    weights, means, covariances = component_moments(
        *moment_inputs(nk, s1, s2, ref, reg_covar, dtype),
        -1.0 if weight_total is None else float(weight_total),
        code=kind.code,
    )
    return weights, means, kind.from_kernel_layout(covariances)


def iteration_m_step(nk, s1, s2, ref, covariance_type, reg_covar, dtype):
    """The M-step of an EM iteration, with everything the next E-step needs.

    Returns
    -------
    weights, means, covariances, prec_chol : ndarray
        In ``dtype``; covariances and prec_chol in the kernel layout.
    log_weights, log_det : ndarray of shape (n_components,)
        float64, from the ``dtype`` values.

    Raises scikit-learn's "ill-defined empirical covariance" ValueError when a
    covariance is not positive definite or not finite.
    """
    n_components, n_features = s1.shape
    weights = np.empty(n_components, dtype=dtype)
    means = np.empty((n_components, n_features), dtype=dtype)
    covariances = np.empty(s2.shape, dtype=dtype)
    prec_chol = np.empty(s2.shape, dtype=dtype)
    ok, log_weights, log_det = _iteration_m_step(
        *moment_inputs(nk, s1, s2, ref, reg_covar, dtype),
        weights, means, covariances, prec_chol,
        code=covariance(covariance_type).code,
    )  # fmt: skip
    if not ok:
        raise ill_defined_error(dtype)
    return weights, means, covariances, prec_chol, log_weights, log_det


def moment_inputs(nk, s1, s2, ref, reg_covar, dtype):
    """The leading arguments of ``component_moments`` and ``_iteration_m_step``.

    The statistics as contiguous float64, ``reg_covar`` and scikit-learn's
    guard on empty components, ``10 * eps`` of the data's dtype.
    """
    statistics = (np.ascontiguousarray(a, dtype=np.float64) for a in (nk, s1, s2, ref))
    return (*statistics, float(reg_covar), empty_component_guard(dtype))


def empty_component_guard(dtype):
    """scikit-learn's guard on empty components, ``10 * eps`` of the data's
    dtype, as the M-step kernels take it (a float)."""
    return 10 * float(np.finfo(dtype).eps)


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
    kind = covariance(covariance_type)
    if kind.shared:
        shared = (scatter - (nk * means.T) @ means) / nk_reg.sum()
        shared.flat[:: shared.shape[0] + 1] += reg_covar
        return shared
    covariances = scatter / nk_reg[:, None] - means**2 + reg_covar
    return kind.from_feature_variances(covariances)


# ---------------------------------------------------------------------------
# Covariances <-> precision Cholesky factors


def precision_cholesky(covariances, covariance_type, dtype):
    """Upper-triangular U with U U^T = inverse covariance, as in scikit-learn.

    Raises scikit-learn's "ill-defined empirical covariance" ValueError when a
    covariance is not positive definite or not finite.
    """
    kind = covariance(covariance_type)
    covariances = np.asarray(covariances, dtype=np.float64)
    # A spherical variance is factored once, not once per feature.
    n_features = covariances.shape[-1] if kind.ndim > 1 else 1
    covariances3 = kind.to_kernel_layout(covariances, n_features)
    prec_chol = np.empty_like(covariances3)
    if not _precision_factors(covariances3, prec_chol, code=kind.code):
        raise ill_defined_error(dtype)
    return kind.from_kernel_layout(prec_chol).copy()


def precision_cholesky_from_precisions(precisions, covariance_type):
    """Upper-triangular Cholesky factors of user-given precisions.

    The Cholesky factor of the row- and column-reversed precision, reversed
    back, is upper triangular with U U^T = precision.
    """
    kind = covariance(covariance_type)
    if kind.matrices:
        # One matrix per component, or the shared one.
        matrices = kind.to_kernel_layout(precisions, precisions.shape[-1])
        factors = np.stack(
            [linalg.cholesky(p[::-1, ::-1], lower=True)[::-1, ::-1] for p in matrices]
        )
        return kind.from_kernel_layout(factors)
    return np.sqrt(precisions)


def precisions_from_cholesky(prec_chol, covariance_type):
    """Precision matrices U U^T (or squared diagonals)."""
    if covariance(covariance_type).matrices:
        # Leading axes allowed (a batch of mixtures).
        return prec_chol @ np.swapaxes(prec_chol, -1, -2)
    return prec_chol**2


def covariances_from_precisions(precisions, covariance_type):
    """Covariances of user-given precisions."""
    if covariance(covariance_type).matrices:
        return np.linalg.inv(precisions)
    return 1.0 / precisions


# ---------------------------------------------------------------------------
# Parameters in the kernels' layout


def kernel_precisions(prec_chol, covariance_type, n_components, n_features):
    """``prec_chol`` in the kernels' layout and the log-determinant per component.

    Returns
    -------
    prec3 : ndarray of shape (n, m, n_features)
        See ``CovarianceType.to_kernel_layout``.
    log_det : ndarray of shape (n_components,)
        log det of each precision Cholesky factor (= -log det(cov) / 2).
    """
    kind = covariance(covariance_type)
    prec3 = kind.to_kernel_layout(prec_chol, n_features)
    return prec3, log_determinants(prec3, n_components, code=kind.code)
