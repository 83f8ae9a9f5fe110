"""Slow, obviously correct NumPy references the tests compare fastgmm with."""

import numpy as np


def naive_weighted_log_prob(X, weights, means, prec_chol, covariance_type):
    """log(weight_k) + log N(x | mean_k, (U U^T)^-1), one component at a time."""
    n_samples, n_features = X.shape
    out = np.empty((n_samples, len(weights)))
    for k in range(len(weights)):
        if covariance_type == "full":
            U = prec_chol[k]
        elif covariance_type == "tied":
            U = prec_chol
        elif covariance_type == "diag":
            U = np.diag(prec_chol[k])
        else:
            U = np.eye(n_features) * prec_chol[k]
        y = (X - means[k]) @ U
        log_det = np.log(np.abs(np.linalg.det(U)))
        out[:, k] = (
            np.log(weights[k])
            - 0.5 * n_features * np.log(2 * np.pi)
            + log_det
            - 0.5 * np.sum(y**2, axis=1)
        )
    return out
