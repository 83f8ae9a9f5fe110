"""The variational Bayesian Gaussian mixture: its hooks for the EM engine.

scikit-learn's ``BayesianGaussianMixture`` (``sklearn/mixture/_bayesian_mixture.py``)
written on the sufficient statistics of ``fastgmm.kernels._estep.em_statistics``,
so the one compiled E-step serves it unchanged:

- its E-step is the Gaussian one with other inputs: the Cholesky factor of
  the expected precision and, in place of the log-weight, a per-component
  constant (``VariationalParameters``);
- its M-step computes the posterior of the weights (a Dirichlet process or
  distribution), the means (Gaussian) and the precisions (Wishart) from the
  same (nk, s1, s2) the maximum-likelihood M-step uses;
- its lower bound needs the entropy of the responsibilities,
  sum_i sum_k r_ik log r_ik, which is recovered from the same statistics:
  log r_ik = log p_ik - log p_i, and sum_i r_ik log p_ik =
  nk c_k - tr(P_k M_k) / 2, with c_k the component's constant, P_k its
  expected precision and M_k the responsibilities' scatter about its mean.
"""

import math
from typing import NamedTuple

import numpy as np
from scipy.special import betaln, digamma, gammaln

from ..kernels import (
    component_moments,
    covariance,
    moment_inputs,
    precision_cholesky,
    symmetric_from_upper,
)
from ._parameters import MixtureParameters

_LOG_2PI = math.log(2.0 * math.pi)


class Priors(NamedTuple):
    """The validated priors (scikit-learn's ``*_prior_`` attributes)."""

    weight_concentration_prior_type: str
    weight_concentration: float
    mean_precision: float
    mean: np.ndarray
    degrees_of_freedom: float
    # scikit-learn's layout: (n_features, n_features) for 'full' and 'tied',
    # (n_features,) for 'diag', a float for 'spherical'.
    covariance: object


class VariationalParameters(MixtureParameters):
    """The posterior, and the E-step's inputs it gives.

    ``means``, ``covariances`` and ``precisions_cholesky`` are the posterior's
    in scikit-learn's layout, kept in float64 as the fitted attributes
    (``fitted_means``, ``fitted_covariances``,
    ``fitted_precisions_cholesky``), as scikit-learn's are for any data.  The
    kernels read the means and factors rounded to ``dtype``, that of the rows
    they score, so float32 rows run the float32 kernels.

    ``log_weights`` (the kernels' per-component constant) is
    E[log weight] + (E[log det precision] - n_features log dof
    - n_features / mean_precision) / 2 with the log-determinant of the
    factor left to ``log_det``, as in scikit-learn's ``_estimate_log_prob``.
    """

    def __init__(
        self, covariance_type, weight_concentration, mean_precision, means,
        degrees_of_freedom, covariances, precisions_cholesky, dtype,
    ):  # fmt: skip
        n_components, n_features = means.shape
        dirichlet_process = isinstance(weight_concentration, tuple)
        means, covariances, precisions_cholesky = (
            np.asarray(a, dtype=np.float64)
            for a in (means, covariances, precisions_cholesky)
        )
        arrays = MixtureParameters.from_arrays(
            _expected_weights(weight_concentration, dirichlet_process),
            means.astype(dtype), precisions_cholesky.astype(dtype), covariance_type,
            covariances,
        )  # fmt: skip
        log_lambda = n_features * np.log(2.0) + np.sum(
            digamma(
                0.5 * (degrees_of_freedom - np.arange(0, n_features)[:, np.newaxis])
            ),
            0,
        )
        constant = (
            _expected_log_weights(weight_concentration, dirichlet_process)
            - 0.5 * n_features * np.log(degrees_of_freedom)
            + 0.5 * (log_lambda - n_features / mean_precision)
        )
        super().__init__(
            covariance_type, arrays.weights, arrays.means, arrays.covariances3,
            arrays.prec_chol, np.ascontiguousarray(constant, dtype=np.float64),
            arrays.log_det,
        )  # fmt: skip
        self.weight_concentration = weight_concentration
        self.mean_precision = mean_precision
        self.degrees_of_freedom = degrees_of_freedom
        # The fitted attributes.
        self.fitted_means = means
        self.fitted_covariances = covariances
        self.fitted_precisions_cholesky = precisions_cholesky


def _expected_weights(weight_concentration, dirichlet_process):
    """scikit-learn's ``weights_``: the expected weights of the posterior."""
    if dirichlet_process:
        a, b = weight_concentration
        total = a + b
        tmp = b / total
        weights = a / total * np.hstack((1, np.cumprod(tmp[:-1])))
        return weights / np.sum(weights)
    return weight_concentration / np.sum(weight_concentration)


def _expected_log_weights(weight_concentration, dirichlet_process):
    """E[log weight_k] (scikit-learn's ``_estimate_log_weights``)."""
    if dirichlet_process:
        a, b = weight_concentration
        digamma_sum = digamma(a + b)
        digamma_a = digamma(a)
        digamma_b = digamma(b)
        return (
            digamma_a
            - digamma_sum
            + np.hstack((0, np.cumsum(digamma_b - digamma_sum)[:-1]))
        )
    return digamma(weight_concentration) - digamma(np.sum(weight_concentration))


def _log_wishart_norm(degrees_of_freedom, log_det_precisions_chol, n_features):
    """scikit-learn's ``_log_wishart_norm`` (without its log(pi) term)."""
    return -(
        degrees_of_freedom * log_det_precisions_chol
        + degrees_of_freedom * n_features * 0.5 * math.log(2.0)
        + np.sum(
            gammaln(0.5 * (degrees_of_freedom - np.arange(n_features)[:, np.newaxis])),
            0,
        )
    )


class BayesianModel:
    """scikit-learn's ``BayesianGaussianMixture`` as ``MixtureModel`` hooks
    (``fastgmm.engine._em``).

    Parameters
    ----------
    n_components : int
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
    reg_covar : float
    priors : Priors
    """

    def __init__(self, n_components, covariance_type, reg_covar, priors):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.reg_covar = reg_covar
        self.priors = priors

    def initial_parameters(self, data, start, random_state):
        """The posterior after one M-step from the initial responsibilities.

        scikit-learn's ``_initialize``: the responsibilities' nk, means and
        covariances (with ``reg_covar``) go through the posterior formulas.
        """
        weights, means, covariances = data.initial_moments(
            start, self.n_components, self.covariance_type, self.reg_covar,
            random_state,
        )  # fmt: skip
        nk = np.asarray(weights, dtype=np.float64) * data.total_weight
        return self._posterior(nk, means, covariances, data.dtype)

    def reference(self, params):
        """Each component's mean; for 'tied', the mixture's mean for all."""
        return params.moment_centres()

    def m_step(self, statistics, data):
        """The posterior of the E-step's statistics (scikit-learn's ``_m_step``)."""
        nk, s1, s2, ref = statistics
        # weight_total=1: the "weights" component_moments returns are nk + 10 eps.
        kind = covariance(self.covariance_type)
        nk_reg, xk, sk3 = component_moments(
            *moment_inputs(nk, s1, s2, ref, self.reg_covar, data.dtype),
            1.0,
            code=kind.code,
        )
        sk = kind.from_kernel_layout(sk3)
        return self._posterior(nk_reg, xk, sk, data.dtype)

    def _posterior(self, nk, xk, sk, dtype):
        """scikit-learn's ``_estimate_weights``, ``_estimate_means`` and
        ``_estimate_precisions``, in its evaluation order."""
        p = self.priors
        if p.weight_concentration_prior_type == "dirichlet_process":
            weight_concentration = (
                1.0 + nk,
                p.weight_concentration + np.hstack((np.cumsum(nk[::-1])[-2::-1], 0)),
            )
        else:
            weight_concentration = p.weight_concentration + nk
        mean_precision = p.mean_precision + nk
        means = (p.mean_precision * p.mean + nk[:, np.newaxis] * xk) / mean_precision[
            :, np.newaxis
        ]
        degrees_of_freedom, covariances = _WISHART[self.covariance_type](
            p, nk, xk, sk, mean_precision, self.n_components
        )
        prec_chol = precision_cholesky(covariances, self.covariance_type, dtype)
        return VariationalParameters(
            self.covariance_type, weight_concentration, mean_precision, means,
            degrees_of_freedom, covariances, prec_chol, dtype,
        )  # fmt: skip

    def lower_bound(self, log_likelihood, statistics, e_step_params, params, data):
        """scikit-learn's ``_compute_lower_bound`` (constant terms removed).

        The entropy of the responsibilities comes from the E-step's
        statistics and parameters (see the module's docstring); the other
        terms from the new posterior.
        """
        n_features = params.means.shape[1]
        p = self.priors
        log_det = params.log_det - 0.5 * n_features * np.log(params.degrees_of_freedom)
        if covariance(self.covariance_type).shared:
            # One shared Wishart: a one-element array, summed over n_features.
            log_wishart = self.n_components * float(
                _log_wishart_norm(params.degrees_of_freedom, log_det[0], n_features)[0]
            )
        else:
            log_wishart = np.sum(
                _log_wishart_norm(params.degrees_of_freedom, log_det, n_features)
            )
        if p.weight_concentration_prior_type == "dirichlet_process":
            log_norm_weight = -np.sum(betaln(*params.weight_concentration))
        else:
            concentration = params.weight_concentration
            log_norm_weight = gammaln(np.sum(concentration)) - np.sum(
                gammaln(concentration)
            )
        return float(
            -_sum_resp_log_resp(log_likelihood, statistics, e_step_params)
            - log_wishart
            - log_norm_weight
            - 0.5 * n_features * np.sum(np.log(params.mean_precision))
        )


def _sum_resp_log_resp(log_likelihood, statistics, params):
    """sum_i w_i sum_k r_ik log r_ik of the E-step that gave ``statistics``.

    = sum_k (nk_k c_k - tr(P_k M_k) / 2) - sum_i w_i log p_i, where c_k is the
    kernels' offset (constant plus log-determinant), P_k = U_k U_k^T and M_k
    the weighted scatter of the responsibilities about the E-step's mean,
    moved from the statistics' reference point.
    """
    nk, s1, s2, ref = statistics
    n_features = ref.shape[1]
    offsets = params.log_weights + params.log_det - 0.5 * n_features * _LOG_2PI
    delta = params.means.astype(np.float64) - ref
    factors = params.prec_chol.astype(np.float64)
    if covariance(params.covariance_type).matrices:
        scatter = symmetric_from_upper(s2)
        cross = s1[:, :, None] * delta[:, None, :]
        correction = (
            cross + np.swapaxes(cross, 1, 2)
            - nk[:, None, None] * delta[:, :, None] * delta[:, None, :]
        )  # fmt: skip
        if covariance(params.covariance_type).shared:
            scatter = scatter[0] - correction.sum(axis=0)
            traces = np.sum((scatter @ factors[0]) * factors[0])
        else:
            scatter = scatter - correction
            traces = np.sum((scatter @ factors) * factors)
    else:
        diagonal = s2[:, 0, :] - 2.0 * delta * s1 + nk[:, None] * delta * delta
        traces = np.sum(factors[:, 0, :] ** 2 * diagonal)
    return float(np.dot(nk, offsets) - 0.5 * traces - log_likelihood)


# ---------------------------------------------------------------------------
# The Wishart posterior of each covariance type (scikit-learn's
# ``_estimate_wishart_*``): (degrees of freedom, covariances)


def _wishart_full(p, nk, xk, sk, mean_precision, n_components):
    n_features = xk.shape[1]
    degrees_of_freedom = p.degrees_of_freedom + nk
    covariances = np.empty((n_components, n_features, n_features))
    for k in range(n_components):
        diff = xk[k] - p.mean
        covariances[k] = (
            p.covariance
            + nk[k] * sk[k]
            + nk[k] * p.mean_precision / mean_precision[k] * np.outer(diff, diff)
        )
    covariances /= degrees_of_freedom[:, np.newaxis, np.newaxis]
    return degrees_of_freedom, covariances


def _wishart_tied(p, nk, xk, sk, mean_precision, n_components):
    degrees_of_freedom = p.degrees_of_freedom + nk.sum() / n_components
    diff = xk - p.mean
    covariances = (
        p.covariance
        + sk * nk.sum() / n_components
        + p.mean_precision / n_components * np.dot((nk / mean_precision) * diff.T, diff)
    )
    covariances /= degrees_of_freedom
    return degrees_of_freedom, covariances


def _wishart_diag(p, nk, xk, sk, mean_precision, n_components):
    degrees_of_freedom = p.degrees_of_freedom + nk
    diff = xk - p.mean
    covariances = p.covariance + nk[:, np.newaxis] * (
        sk + (p.mean_precision / mean_precision)[:, np.newaxis] * np.square(diff)
    )
    covariances /= degrees_of_freedom[:, np.newaxis]
    return degrees_of_freedom, covariances


def _wishart_spherical(p, nk, xk, sk, mean_precision, n_components):
    degrees_of_freedom = p.degrees_of_freedom + nk
    diff = xk - p.mean
    covariances = p.covariance + nk * (
        sk + p.mean_precision / mean_precision * np.mean(np.square(diff), 1)
    )
    covariances /= degrees_of_freedom
    return degrees_of_freedom, covariances


_WISHART = {
    "full": _wishart_full,
    "tied": _wishart_tied,
    "diag": _wishart_diag,
    "spherical": _wishart_spherical,
}
