"""Initial responsibilities, drawn exactly as scikit-learn draws them.

The random draws consume ``random_state`` in scikit-learn's order, so that a
given ``random_state`` starts both libraries from the same point.
"""

import numpy as np

from ._kernels import COVARIANCE_CODES, label_statistics
from ._kmeans import kmeans_labels
from ._mstep import second_moment_zeros

_EMPTY = np.empty(0)


def initial_assignment(X, sample_weight, n_components, init_params, random_state):
    """Initial responsibilities, as labels or as a dense matrix.

    Returns
    -------
    labels : ndarray of shape (n_samples,) or None
        Component of each row for the one-hot initialisations; -1 for rows in
        no component (those not drawn by 'random_from_data' and 'k-means++').
    resp : ndarray of shape (n_samples, n_components) or None
        Dense responsibilities, for 'random'.
    """
    n_samples = X.shape[0]
    if init_params == "kmeans":
        # KMeans(n_components, n_init=1, random_state).fit(X, sample_weight)'s
        # labels, without its copy of X.
        return kmeans_labels(X, n_components, sample_weight, random_state), None
    if init_params == "random":
        resp = np.asarray(
            random_state.uniform(size=(n_samples, n_components)), dtype=X.dtype
        )
        resp /= resp.sum(axis=1)[:, np.newaxis]
        return None, resp
    if init_params == "random_from_data":
        p = None if sample_weight is None else sample_weight / sample_weight.sum()
        indices = random_state.choice(n_samples, size=n_components, replace=False, p=p)
    else:  # "k-means++"
        # Imported here: sklearn.cluster is slow to import and rarely needed.
        from sklearn.cluster import kmeans_plusplus

        _, indices = kmeans_plusplus(
            X, n_components, random_state=random_state, sample_weight=sample_weight
        )
    labels = np.full(n_samples, -1, dtype=np.intp)
    labels[indices] = np.arange(n_components)
    return labels, None


def initial_statistics(X, sample_weight, labels, resp, covariance_type, n_components):
    """Sufficient statistics of given responsibilities.

    Same outputs and layout as ``fastgmm._kernels.em_statistics`` (without the
    log-likelihood) plus the reference points, so the one M-step serves both.
    Moments are centred on each component's mean; for 'tied' on the data's
    mean, with the scatter of every row, as scikit-learn's ``X.T @ X`` has.
    One-hot labels go to a compiled kernel (two passes, no copy of X); dense
    responsibilities are summed a component at a time.
    """
    if labels is not None:
        weights = _EMPTY if sample_weight is None else sample_weight
        code = COVARIANCE_CODES[covariance_type]
        return label_statistics(X, weights, labels, code, n_components)
    n_features = X.shape[1]
    nk = np.zeros(n_components)
    s1 = np.zeros((n_components, n_features))
    ref = np.zeros((n_components, n_features))
    s2 = second_moment_zeros(covariance_type, n_components, n_features)
    tied = covariance_type == "tied"
    if tied:
        ref[:] = np.average(X, axis=0, weights=sample_weight)
        s2[0] = _scatter(X, sample_weight, ref[0])
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
        if covariance_type == "full":
            s2[k] = (diff * rk[:, np.newaxis]).T @ diff
        elif not tied:
            s2[k, 0] = rk @ diff**2
    return nk, s1, s2, ref


def single_point_scatter(X, sample_weight, labels, covariance_type):
    """Uncentred second moments for ``_mstep.uncentred_covariances``.

    ``X.T @ X`` over every row for 'tied' (as scikit-learn has it, whichever
    rows the components hold); for 'diag' and 'spherical', ``w x**2`` of each
    component's one point.
    """
    if covariance_type == "tied":
        return _scatter(X, sample_weight, np.zeros(X.shape[1]))
    drawn = np.flatnonzero(labels >= 0)
    order = drawn[np.argsort(labels[drawn])]
    points = X[order].astype(np.float64)
    weights = 1.0 if sample_weight is None else sample_weight[order, np.newaxis]
    return weights * (points * points)


def _scatter(X, sample_weight, centre, block_rows=65536):
    """sum_i w_i (x_i - centre)(x_i - centre)^T, a block of rows at a time."""
    scatter = np.zeros((X.shape[1], X.shape[1]))
    for start in range(0, X.shape[0], block_rows):
        diff = X[start : start + block_rows] - centre
        weighted = diff
        if sample_weight is not None:
            weighted = diff * sample_weight[start : start + block_rows, np.newaxis]
        scatter += weighted.T @ diff
    return scatter
