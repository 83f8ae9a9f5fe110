"""Initial responsibilities, drawn exactly as scikit-learn draws them.

The random draws consume ``random_state`` in scikit-learn's order, so that a
given ``random_state`` starts both libraries from the same point.
"""

from typing import NamedTuple

import numpy as np

from ..kernels import (
    covariance,
    kmeans_labels,
    label_statistics,
    m_step,
    moments_of_labels,
    uncentred_covariances,
)

_EMPTY = np.empty(0)

# The starts ``init_params`` names, as scikit-learn's mixtures name them.
INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data")


class InitialAssignment(NamedTuple):
    """Initial responsibilities in one of three forms; the other two are None.

    Attributes
    ----------
    labels : ndarray of shape (n_samples,) or None
        The one component of each row ('kmeans').
    resp : ndarray of shape (n_samples, n_components) or None
        Dense responsibilities ('random').
    points : ndarray of shape (n_components,) or None
        The one row each component starts from ('random_from_data',
        'k-means++').  A row may start several components: k-means++ draws
        the same row again when the data has fewer distinct rows than
        components.
    """

    labels: np.ndarray | None = None
    resp: np.ndarray | None = None
    points: np.ndarray | None = None


def initial_assignment(X, sample_weight, n_components, init_params, random_state):
    """Initial responsibilities, drawn as scikit-learn draws them.

    Returns
    -------
    assignment : InitialAssignment
    """
    n_samples = X.shape[0]
    if init_params == "kmeans":
        # KMeans(n_components, n_init=1, random_state).fit(X, sample_weight)'s
        # labels, without its copy of X.
        labels = kmeans_labels(X, n_components, sample_weight, random_state)
        return InitialAssignment(labels=labels)
    if init_params == "random":
        resp = np.asarray(
            random_state.uniform(size=(n_samples, n_components)), dtype=X.dtype
        )
        resp /= resp.sum(axis=1)[:, np.newaxis]
        return InitialAssignment(resp=resp)
    if init_params == "random_from_data":
        p = None if sample_weight is None else sample_weight / sample_weight.sum()
        indices = random_state.choice(n_samples, size=n_components, replace=False, p=p)
    else:  # "k-means++"
        # Imported here: sklearn.cluster is slow to import and rarely needed.
        from sklearn.cluster import kmeans_plusplus

        _, indices = kmeans_plusplus(
            X, n_components, random_state=random_state, sample_weight=sample_weight
        )
    return InitialAssignment(points=np.asarray(indices, dtype=np.intp))


def initial_moments(
    X, sample_weight, assignment, n_components, covariance_type, reg_covar,
    total_weight,
):  # fmt: skip
    """Weights, means and covariances of initial responsibilities.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    sample_weight : ndarray of shape (n_samples,) or None
    assignment : InitialAssignment
    n_components : int
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
    reg_covar : float
    total_weight : float
        The weights are divided by this, as scikit-learn's initialisation
        divides them by the number of samples.

    Returns
    -------
    weights, means, covariances : ndarray
        float64, covariances in scikit-learn's layout.
    """
    if assignment.points is not None:
        return _single_point_moments(
            X, sample_weight, assignment.points, covariance_type, reg_covar,
            total_weight,
        )  # fmt: skip
    if assignment.labels is not None:
        # The batch's compiled start runs the same kernel.
        return moments_of_labels(
            X, sample_weight, assignment.labels, n_components, covariance_type,
            reg_covar, total_weight,
        )  # fmt: skip
    nk, s1, s2, ref = initial_statistics(
        X, sample_weight, None, assignment.resp, covariance_type, n_components
    )
    return m_step(nk, s1, s2, ref, covariance_type, reg_covar, X.dtype, total_weight)


def _single_point_moments(
    X, sample_weight, points, covariance_type, reg_covar, total_weight
):
    """Moments of one row per component; a row may start several components.

    Each component's statistics are taken about its own row, so its mean is
    scikit-learn's ``resp.T @ X / nk`` to the last bit ('tied' takes its means
    as 'diag' does).  The covariances other than 'full' are scikit-learn's
    uncentred formulas (see ``fastgmm.kernels._mstep.uncentred_covariances``).
    """
    n_components = points.shape[0]
    rows = X[points]
    weights = None if sample_weight is None else sample_weight[points]
    kind = covariance(covariance_type)
    per_row_type = "diag" if kind.shared else covariance_type
    nk, s1, s2, ref = initial_statistics(
        rows, weights, np.arange(n_components), None, per_row_type, n_components
    )
    weights_, means, covariances = m_step(
        nk, s1, s2, ref, per_row_type, reg_covar, X.dtype, total_weight
    )
    if not kind.uncentred:
        return weights_, means, covariances
    if kind.shared:
        # X.T @ X over every row, as scikit-learn has it, whichever rows the
        # components hold.
        scatter = row_scatter(X, sample_weight, np.zeros(X.shape[1]))
    else:
        rows64 = rows.astype(np.float64)
        scatter = (1.0 if weights is None else weights[:, np.newaxis]) * (
            rows64 * rows64
        )
    covariances = uncentred_covariances(
        scatter, nk, means, covariance_type, reg_covar, X.dtype
    )
    return weights_, means, covariances


def initial_statistics(X, sample_weight, labels, resp, covariance_type, n_components):
    """Sufficient statistics of given responsibilities.

    Same outputs and layout as ``fastgmm.kernels._estep.em_statistics`` (without the
    log-likelihood) plus the reference points, so the one M-step serves both.
    Moments are centred on each component's mean; for 'tied' on the data's
    mean, with the scatter of every row, as scikit-learn's ``X.T @ X`` has.
    One-hot labels go to a compiled kernel (two passes, no copy of X); dense
    responsibilities are summed a component at a time.
    """
    if labels is not None:
        weights = _EMPTY if sample_weight is None else sample_weight
        code = covariance(covariance_type).code
        # int32 labels, as k-means gives them: one compiled signature for all.
        labels = np.asarray(labels, dtype=np.int32)
        return label_statistics(X, weights, labels, n_components, code=code)
    n_features = X.shape[1]
    nk = np.zeros(n_components)
    s1 = np.zeros((n_components, n_features))
    ref = np.zeros((n_components, n_features))
    kind = covariance(covariance_type)
    s2 = kind.kernel_zeros(n_components, n_features)
    tied = kind.shared
    if tied:
        ref[:] = np.average(X, axis=0, weights=sample_weight)
        s2[0] = row_scatter(X, sample_weight, ref[0])
    X64 = X.astype(np.float64, copy=False)
    for k in range(n_components):
        rk = resp[:, k].astype(np.float64)
        if sample_weight is not None:
            rk = rk * sample_weight
        nk[k] = rk.sum()
        if not tied and nk[k] > 0:
            ref[k] = rk @ X64 / nk[k]
        diff = X64 - ref[k]
        s1[k] = rk @ diff
        if tied:
            continue
        if kind.matrices:
            s2[k] = (diff * rk[:, np.newaxis]).T @ diff
        else:
            s2[k, 0] = rk @ diff**2
    return nk, s1, s2, ref


def row_scatter(X, sample_weight, centre, block_rows=65536):
    """sum_i w_i (x_i - centre)(x_i - centre)^T, a block of rows at a time."""
    scatter = np.zeros((X.shape[1], X.shape[1]))
    for start in range(0, X.shape[0], block_rows):
        diff = X[start : start + block_rows] - centre
        weighted = diff
        if sample_weight is not None:
            weighted = diff * sample_weight[start : start + block_rows, np.newaxis]
        scatter += weighted.T @ diff
    return scatter
