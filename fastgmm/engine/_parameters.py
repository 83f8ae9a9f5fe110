"""A mixture's parameters, in scikit-learn's layout and in the kernels'."""

import numpy as np

from ..kernels import covariance, iteration_m_step, kernel_precisions, moment_centres


class MixtureParameters:
    """Weights, means, covariances and precision Cholesky factors.

    Covariances and factors are held in the kernels' layout (see
    ``fastgmm.kernels._covariance``), with the log-weights and
    log-determinants the kernels take; ``covariances`` and
    ``precisions_cholesky`` give scikit-learn's layout.  Build one with
    ``from_arrays`` (scikit-learn's layout) or ``from_statistics`` (an
    M-step).
    """

    def __init__(
        self, covariance_type, weights, means, covariances3, prec_chol3, log_weights,
        log_det,
    ):  # fmt: skip
        self.covariance_type = covariance_type
        self.code = covariance(covariance_type).code
        self.weights = weights
        self.means = means
        self.covariances3 = covariances3
        self.prec_chol = prec_chol3
        self.log_weights = log_weights
        self.log_det = log_det

    @classmethod
    def from_arrays(
        cls, weights, means, precisions_cholesky, covariance_type, covariances=None
    ):
        """Parameters given in scikit-learn's layout.

        ``covariances`` may be left out where only the kernels' inputs are
        needed (scoring with a fitted model).
        """
        n_components, n_features = means.shape
        prec3, log_det = kernel_precisions(
            precisions_cholesky, covariance_type, n_components, n_features
        )
        covariances3 = None
        if covariances is not None:
            covariances3 = covariance(covariance_type).to_kernel_layout(
                covariances, n_features
            )
        log_weights = np.log(np.asarray(weights, dtype=np.float64))
        return cls(
            covariance_type, weights, means, covariances3, prec3, log_weights, log_det
        )

    @classmethod
    def from_statistics(cls, nk, s1, s2, ref, covariance_type, reg_covar, dtype):
        """The M-step of an EM iteration (``iteration_m_step``)."""
        arrays = iteration_m_step(nk, s1, s2, ref, covariance_type, reg_covar, dtype)
        return cls(covariance_type, *arrays)

    def moment_centres(self):
        """The point each component's moments are centred on in an E-step
        (``fastgmm.kernels.moment_centres``, which the batch's compiled loop
        runs too)."""
        centres = np.empty(self.means.shape)
        moment_centres.py_func(self.code, self.weights, self.means, centres)
        return centres

    @property
    def covariances(self):
        return covariance(self.covariance_type).from_kernel_layout(self.covariances3)

    @property
    def precisions_cholesky(self):
        return covariance(self.covariance_type).from_kernel_layout(self.prec_chol)

    def as_args(self):
        """The kernels' parameter arguments."""
        return self.log_weights, self.means, self.prec_chol, self.log_det
