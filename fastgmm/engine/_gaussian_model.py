"""The maximum-likelihood Gaussian mixture: its hooks for the EM engine."""

import numpy as np

from ..kernels import (
    covariance,
    covariances_from_precisions,
    parameters_from_moments,
    precision_cholesky_from_precisions,
)
from ._parameters import MixtureParameters


class GaussianModel:
    """scikit-learn's ``GaussianMixture`` as ``fastgmm.engine._em.MixtureModel`` hooks.

    Parameters
    ----------
    n_components : int
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
    reg_covar : float
    weights_init, means_init, precisions_init : ndarray or None
        Validated user-given initial parameters; each replaces the one drawn.
    """

    def __init__(
        self, n_components, covariance_type, reg_covar, weights_init=None,
        means_init=None, precisions_init=None,
    ):  # fmt: skip
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.reg_covar = reg_covar
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init

    def initial_parameters(self, data, start, random_state):
        """The ``MixtureParameters`` one EM run starts from.

        ``start`` is an ``init_params`` name or an ``InitialAssignment`` (see
        ``fastgmm.engine._em.DataSource.initial_moments``); the user-given initial
        parameters replace what it gives.
        """
        weights = means = covariances = None
        if (
            self.weights_init is None
            or self.means_init is None
            or self.precisions_init is None
        ):
            weights, means, covariances = data.initial_moments(
                start, self.n_components, self.covariance_type, self.reg_covar,
                random_state,
            )  # fmt: skip
        if self.weights_init is not None:
            weights = self.weights_init
        if self.means_init is not None:
            means = self.means_init
        if self.precisions_init is None:
            # The batch's compiled start runs the same kernel.
            arrays = parameters_from_moments(
                weights, means, covariances, self.covariance_type, data.dtype
            )
            return MixtureParameters(self.covariance_type, *arrays)
        prec_chol = precision_cholesky_from_precisions(
            self.precisions_init, self.covariance_type
        )
        covariances = covariances_from_precisions(
            self.precisions_init, self.covariance_type
        )
        weights, means, covariances, prec_chol = (
            np.asarray(p, dtype=data.dtype)
            for p in (weights, means, covariances, prec_chol)
        )
        return MixtureParameters.from_arrays(
            weights, means, prec_chol, self.covariance_type, covariances
        )

    def reference(self, params):
        """Each component's mean; for 'tied', the mixture's mean for all."""
        return params.moment_centres()

    def m_step(self, statistics, data):
        """Maximum-likelihood parameters (``MixtureParameters.from_statistics``)."""
        return MixtureParameters.from_statistics(
            *statistics, self.covariance_type, self.reg_covar, data.dtype
        )

    def lower_bound(self, log_likelihood, statistics, e_step_params, params, data):
        """The mean log-likelihood of the E-step's parameters."""
        return log_likelihood / data.total_weight

    def n_parameters(self, n_features):
        """Free parameters, as scikit-learn counts them for BIC and AIC."""
        return covariance(self.covariance_type).n_parameters(
            self.n_components, n_features
        )
