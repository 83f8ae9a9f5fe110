"""Data and fixed initial parameters shared by the benchmarks.

Every timed fit starts from the same ``weights_init``/``means_init``/
``precisions_init`` with ``tol=0``, so each call runs exactly ``max_iter`` EM
iterations and does the same work whatever the data's randomness.
"""

import warnings

import numpy as np

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]


def make_blobs(n_samples, n_features, n_components, dtype=np.float64, seed=0):
    """Seeded, well separated Gaussian blobs; returns (X, centers)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=4.0, size=(n_components, n_features))
    labels = rng.integers(0, n_components, size=n_samples)
    scales = rng.uniform(0.5, 1.5, size=n_components)
    X = (
        centers[labels]
        + rng.normal(size=(n_samples, n_features)) * scales[labels, None]
    )
    return np.ascontiguousarray(X, dtype=dtype), centers


def initial_parameters(centers, covariance_type, seed=1):
    """weights_init, means_init, precisions_init near (not at) the truth."""
    rng = np.random.default_rng(seed)
    n_components, n_features = centers.shape
    weights = np.full(n_components, 1.0 / n_components)
    means = centers + rng.normal(scale=0.5, size=centers.shape)
    if covariance_type == "full":
        precisions = np.tile(np.eye(n_features), (n_components, 1, 1))
    elif covariance_type == "tied":
        precisions = np.eye(n_features)
    elif covariance_type == "diag":
        precisions = np.ones((n_components, n_features))
    elif covariance_type == "spherical":
        precisions = np.ones(n_components)
    else:
        raise ValueError(covariance_type)
    return {
        "weights_init": weights,
        "means_init": means,
        "precisions_init": precisions,
    }


def quiet():
    """Silence the ConvergenceWarning that every tol=0 fit raises."""
    from sklearn.exceptions import ConvergenceWarning

    warnings.filterwarnings("ignore", category=ConvergenceWarning)
