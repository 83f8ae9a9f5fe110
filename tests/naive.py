"""Slow, obviously correct NumPy references the tests compare fastgmm with.

Each function recomputes, one component or one cluster at a time and with
plain NumPy/SciPy, something the package computes in compiled kernels.  They
favour clarity over speed and are shared by every test module (``from naive
import ...``; ``tests/`` is on ``sys.path`` through ``conftest.py``).
"""

import numpy as np
from scipy import linalg
from scipy.special import logsumexp

# ---------------------------------------------------------------------------
# Gaussian mixtures


def naive_full_matrices(values, covariance_type, n_components, n_features):
    """Per-component full matrices from any covariance type's parametrisation.

    ``values`` are covariances, precisions or precision Cholesky factors in
    scikit-learn's layout for ``covariance_type``; the result is an array of
    shape (n_components, n_features, n_features): 'full' as given, 'tied'
    repeated for every component, 'diag' as diagonal matrices and 'spherical'
    as multiples of the identity.
    """
    values = np.asarray(values)
    if covariance_type == "full":
        return values
    if covariance_type == "tied":
        return np.broadcast_to(values, (n_components, n_features, n_features))
    if covariance_type == "diag":
        return np.stack([np.diag(row) for row in values])
    return values[:, None, None] * np.eye(n_features)


def naive_weighted_log_prob(X, weights, means, prec_chol, covariance_type):
    """Weighted log-densities ``log(weight_k) + log N(x | mean_k, (U U^T)^-1)``.

    Computed one component at a time from the precision Cholesky factors
    ``prec_chol`` in scikit-learn's layout for ``covariance_type``, each
    expanded to a full matrix ``U``; returns an array of shape (n_samples,
    n_components).
    """
    n_samples, n_features = X.shape
    factors = naive_full_matrices(prec_chol, covariance_type, len(weights), n_features)
    out = np.empty((n_samples, len(weights)))
    for k in range(len(weights)):
        U = factors[k]
        y = (X - means[k]) @ U
        log_det = np.log(np.abs(np.linalg.det(U)))
        out[:, k] = (
            np.log(weights[k])
            - 0.5 * n_features * np.log(2 * np.pi)
            + log_det
            - 0.5 * np.sum(y**2, axis=1)
        )
    return out


def naive_e_step(X, weights, means, prec_chol, covariance_type):
    """The E-step of a mixture with the given parameters, by NumPy and SciPy.

    Returns ``(log_norm, resp, labels)``: each row's log-likelihood (the
    ``logsumexp`` of ``naive_weighted_log_prob`` over the components), its
    responsibilities ``exp(weighted log-prob - log_norm)``, and the index of
    its most likely component.
    """
    wlp = naive_weighted_log_prob(X, weights, means, prec_chol, covariance_type)
    log_norm = logsumexp(wlp, axis=1)
    resp = np.exp(wlp - log_norm[:, None])
    return log_norm, resp, np.argmax(wlp, axis=1)


def naive_moments(X, resp, covariance_type, ref, row_weights=None):
    """Zeroth, first and second moments of responsibilities about ``ref``.

    Returns ``(nk, s1, s2)`` in the compiled kernels' layout: ``nk`` the
    column sums of ``resp``; ``s1[k]`` the sum of ``resp[:, k] * (x - ref[k])``;
    ``s2`` the upper triangles of the per-component scatter matrices for
    'full', shape (n_components, n_features, n_features), the scatter of all
    rows about ``ref[0]`` (each row weighted by ``row_weights``, or by one)
    for 'tied', shape (1, n_features, n_features), and the per-feature
    squared deviations for 'diag' and 'spherical', shape (n_components, 1,
    n_features).
    """
    n_components = resp.shape[1]
    nk = resp.sum(axis=0)
    s1 = np.stack([resp[:, k] @ (X - ref[k]) for k in range(n_components)])
    if covariance_type == "full":
        s2 = np.stack(
            [
                np.triu((resp[:, k, None] * (X - ref[k])).T @ (X - ref[k]))
                for k in range(n_components)
            ]
        )
    elif covariance_type == "tied":
        d = X - ref[0]
        weighted = d if row_weights is None else row_weights[:, None] * d
        s2 = np.triu(weighted.T @ d)[None]
    else:
        s2 = np.stack([resp[:, k] @ (X - ref[k]) ** 2 for k in range(n_components)])
        s2 = s2[:, None, :]
    return nk, s1, s2


def naive_statistics(X, w, weights, means, prec_chol, covariance_type, ref):
    """What one pass of the compiled EM statistics kernel returns, by NumPy.

    The E-step of ``naive_e_step`` with the responsibilities multiplied by the
    row weights ``w``, then their moments about ``ref`` (``naive_moments``);
    returns ``(log_likelihood, nk, s1, s2, log_norm, resp)`` where
    ``log_likelihood`` is the ``w``-weighted sum of the rows' ``log_norm``.
    """
    log_norm, resp, _ = naive_e_step(X, weights, means, prec_chol, covariance_type)
    resp = resp * w[:, None]
    nk, s1, s2 = naive_moments(X, resp, covariance_type, ref, row_weights=w)
    return w @ log_norm, nk, s1, s2, log_norm, resp


def naive_label_statistics(X, w, labels, covariance_type, n_components):
    """Moments of one-hot responsibilities about each component's mean.

    Rows labelled ``k`` belong to component ``k`` with their weight ``w``;
    rows labelled -1 belong to none.  The reference point is each component's
    weighted mean, or for 'tied' the weighted mean of all rows.  Returns
    ``(nk, s1, s2, ref)``, the moments in ``naive_moments``'s layout, all in
    float64.
    """
    X = X.astype(np.float64)
    resp = np.zeros((len(X), n_components))
    inside = labels >= 0
    resp[np.flatnonzero(inside), labels[inside]] = 1.0
    resp *= w[:, None]
    nk = resp.sum(axis=0)
    if covariance_type == "tied":
        ref = np.repeat(np.average(X, axis=0, weights=w)[None], n_components, axis=0)
    else:
        ref = np.stack([resp[:, k] @ X / nk[k] for k in range(n_components)])
    nk, s1, s2 = naive_moments(X, resp, covariance_type, ref, row_weights=w)
    return nk, s1, s2, ref


def naive_m_step(X, resp, covariance_type, reg_covar):
    """scikit-learn's M-step formulas on explicit responsibilities.

    Weights, means and covariances (with ``reg_covar`` added to the
    variances) in scikit-learn's layout for ``covariance_type``, from the
    data ``X`` and the responsibilities ``resp``, as
    ``sklearn.mixture._gaussian_mixture`` computes them, including the
    ``10 * eps`` it adds to every component's total responsibility.
    """
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


def naive_precision_cholesky(covariances, covariance_type):
    """Precision Cholesky factors by SciPy, as scikit-learn computes them.

    scikit-learn's ``_compute_precision_cholesky``: for 'full' and 'tied' the
    upper-triangular transpose of the inverse of each covariance's lower
    Cholesky factor, for 'diag' and 'spherical' ``1 / sqrt(covariances)``;
    the result has the layout of ``covariances``.
    """
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


# ---------------------------------------------------------------------------
# k-means


def naive_seeding_distances(Xc, centre):
    """Squared distances of the (centred) rows to one centre, in float64.

    Rows and centre are upcast to float64 before the differences are taken,
    so the result is the exact-as-possible reference for the distances a
    k-means++ seeding pass keeps (non-negative by construction).
    """
    diff = Xc.astype(np.float64) - centre.astype(np.float64)
    return (diff**2).sum(axis=1)


def naive_nearest_centre(Xc, centres):
    """Index of each (centred) row's nearest centre, as a Lloyd step finds it.

    The argmin over the centres of ``|c|^2 - 2 x.c``, the squared distance
    less the row's own ``|x|^2``, which is the expansion scikit-learn's and
    fastgmm's Lloyd steps rank the centres by.
    """
    cc = np.einsum("ij,ij->i", centres, centres)
    return np.argmin(cc - 2 * Xc @ centres.T, axis=1)


def naive_cluster_sums(Xc, w, labels, n_clusters):
    """Weighted sums of each cluster's rows, and each cluster's total weight.

    Returns ``(sums, weights)``: ``sums[j]`` the sum of ``w * x`` over the
    rows labelled ``j`` (in the dtype of ``Xc``, added in row order) and
    ``weights[j]`` the sum of their ``w`` (a float64 ``np.bincount``).
    """
    sums = np.zeros((n_clusters, Xc.shape[1]), dtype=Xc.dtype)
    np.add.at(sums, labels, Xc * w[:, None])
    return sums, np.bincount(labels, weights=w, minlength=n_clusters)


# ---------------------------------------------------------------------------
# Gaussian mixtures of rows with missing entries (NaN)


def naive_missing_em_step(X, w, weights, means, covariances, covariance_type, reg):
    """One EM iteration of incomplete data, one row and component at a time.

    ``covariances`` in scikit-learn's layout; the E-step uses each row's
    observed features (``scipy.stats.multivariate_normal`` of the observed
    block of the covariance), the M-step the conditional means of the missing
    entries and their conditional covariances (Ghahramani and Jordan, 1994).
    Returns ``(log_likelihood, weights, means, covariances)``: the weighted
    sum of the rows' log p(x_o) under the given parameters, then the new
    parameters in scikit-learn's layout (without scikit-learn's 10 eps guard
    on empty components).
    """
    from scipy.stats import multivariate_normal

    n_samples, n_features = X.shape
    n_components = len(weights)
    full = naive_full_matrices(covariances, covariance_type, n_components, n_features)
    resp = np.empty((n_samples, n_components))
    completed = np.empty((n_samples, n_components, n_features))
    conditional = np.zeros((n_samples, n_components, n_features, n_features))
    log_likelihood = 0.0
    for i in range(n_samples):
        o = ~np.isnan(X[i])
        m = ~o
        log_p = np.empty(n_components)
        for k in range(n_components):
            S = full[k]
            S_oo, S_mo, S_mm = S[np.ix_(o, o)], S[np.ix_(m, o)], S[np.ix_(m, m)]
            log_p[k] = np.log(weights[k]) + multivariate_normal(
                means[k][o], S_oo
            ).logpdf(X[i, o])
            gain = S_mo @ np.linalg.inv(S_oo)
            completed[i, k, o] = X[i, o]
            completed[i, k, m] = means[k][m] + gain @ (X[i, o] - means[k][o])
            conditional[i, k][np.ix_(m, m)] = S_mm - gain @ S_mo.T
        log_norm = logsumexp(log_p)
        log_likelihood += w[i] * log_norm
        resp[i] = np.exp(log_p - log_norm) * w[i]
    nk = resp.sum(axis=0)
    new_means = np.einsum("ik,ikd->kd", resp, completed) / nk[:, None]
    scatter = np.empty((n_components, n_features, n_features))
    for k in range(n_components):
        diff = completed[:, k] - new_means[k]
        scatter[k] = np.einsum("i,id,ie->de", resp[:, k], diff, diff) + np.einsum(
            "i,ide->de", resp[:, k], conditional[:, k]
        )
    eye = np.eye(n_features)
    if covariance_type == "full":
        new_cov = scatter / nk[:, None, None] + reg * eye
    elif covariance_type == "tied":
        new_cov = scatter.sum(axis=0) / nk.sum() + reg * eye
    else:
        variances = np.stack([np.diag(s) for s in scatter]) / nk[:, None] + reg
        new_cov = variances if covariance_type == "diag" else variances.mean(axis=1)
    return log_likelihood, nk / nk.sum(), new_means, new_cov


def naive_missing_log_prob(X, weights, means, covariances, covariance_type):
    """Each row's log p(x_o): the mixture's marginal over its observed features."""
    from scipy.stats import multivariate_normal

    n_components, n_features = means.shape
    full = naive_full_matrices(covariances, covariance_type, n_components, n_features)
    out = np.empty(len(X))
    for i, row in enumerate(X):
        o = ~np.isnan(row)
        out[i] = logsumexp(
            [
                np.log(weights[k])
                + multivariate_normal(means[k][o], full[k][np.ix_(o, o)]).logpdf(row[o])
                for k in range(n_components)
            ]
        )
    return out


def naive_conditional_means(X, weights, means, covariances, covariance_type):
    """Each row with its NaN entries replaced by E[x_m | x_o] under the mixture,
    one row and component at a time."""
    from scipy.stats import multivariate_normal

    n_components, n_features = means.shape
    full = naive_full_matrices(covariances, covariance_type, n_components, n_features)
    out = np.array(X, dtype=np.float64)
    for i, row in enumerate(X):
        o = ~np.isnan(row)
        m = ~o
        if not m.any():
            continue
        log_p, filled = [], []
        for k in range(n_components):
            S = full[k]
            log_p.append(
                np.log(weights[k])
                + multivariate_normal(means[k][o], S[np.ix_(o, o)]).logpdf(row[o])
            )
            gain = S[np.ix_(m, o)] @ np.linalg.inv(S[np.ix_(o, o)])
            filled.append(means[k][m] + gain @ (row[o] - means[k][o]))
        resp = np.exp(np.array(log_p) - logsumexp(log_p))
        out[i, m] = resp @ np.array(filled)
    return out
