"""Rows with missing entries (NaN): EM of incomplete data, exactly.

A row's E-step uses the density of its observed features alone.  Its
M-step statistics take each missing entry's conditional expectation given
the row's observed entries, under each component, and add the conditional
covariance to the second moments (Ghahramani and Jordan, "Supervised
learning from incomplete data via an EM approach", NIPS 1994).  The
statistics keep the layout of ``fastgmm.kernels.em_statistics``, so the
models' M-steps are unchanged.

Everything follows from the precision matrix P of a component (the E-step's
parameters: the precision Cholesky factors).  For a row with observed
features o and missing m:

- the missing ones given the observed are Gaussian with covariance
  P_mm^-1 and mean mu_m - P_mm^-1 P_mo (x_o - mu_o);
- with x~ the row completed by that mean, the observed features' marginal
  density is log p(x_o) = -d_o/2 log 2 pi + 1/2 log|P| - 1/2 log|P_mm|
  - 1/2 (x~ - mu)^T P (x~ - mu) (the marginal's quadratic form is the
  joint's minimum over x_m, and |Sigma_oo| = |Sigma| |P_mm|).  The weight
  and 1/2 log|P| are the E-step parameters' ``log_weights`` and ``log_det``,
  as the compiled E-step takes them.

So a row needs only P_mm, a matrix of its missing features, factored once
per pattern of missing features and component in an iteration.  Rows with
the same number of missing features are computed together, whatever
features they miss: the patterns' matrices as one stack, the rows as
arrays, so that the work is NumPy's batched linear algebra, not a Python
loop over rows or patterns.  Complete rows run the compiled E-step and
scoring, as in-memory data do.
"""

import functools
from typing import NamedTuple

import numpy as np

from ..kernels import covariance, em_statistics
from ._data import InMemoryData, score_rows

_EMPTY = np.empty(0)
_LOG_2PI = np.log(2 * np.pi)


def check_missing(X):
    """Reject rows and features with no observed value, naming the first.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Validated rows, NaN where an entry is missing.
    """
    missing = np.isnan(X)
    all_missing = np.flatnonzero(missing.all(axis=1))
    if all_missing.size:
        raise ValueError(
            f"Row {all_missing[0]} of X has every feature missing (NaN); "
            f"{all_missing.size} row(s) do. A row needs at least one observed "
            "feature: drop such rows before fitting."
        )
    never_seen = np.flatnonzero(missing.all(axis=0))
    if never_seen.size:
        raise ValueError(
            f"Feature {never_seen[0]} of X is missing (NaN) in every row; "
            "its distribution cannot be estimated. Drop the feature."
        )


class MissingRows:
    """The rows of X grouped by how many features they miss.

    Attributes
    ----------
    complete : ndarray of int
        The rows without a missing entry.
    groups : list of RowGroup
        One for each number of missing features that some rows miss.
    """

    def __init__(self, X):
        missing = np.isnan(X)
        counts = missing.sum(axis=1)
        self.complete = np.flatnonzero(counts == 0)
        self.groups = []
        for d in np.unique(counts[counts > 0]):
            rows = np.flatnonzero(counts == d)
            features = np.nonzero(missing[rows])[1].reshape(len(rows), d)
            patterns, inverse = np.unique(features, axis=0, return_inverse=True)
            values = np.nan_to_num(X[rows].astype(np.float64), nan=0.0)
            observed = (~missing[rows]).astype(np.float64)
            self.groups.append(
                RowGroup(rows, features, patterns, inverse.ravel(), values, observed)
            )


class RowGroup(NamedTuple):
    """Rows that each miss the same number d of features."""

    rows: np.ndarray  # their indices in X
    missing: np.ndarray  # (n_rows, d): the features each misses, increasing
    patterns: np.ndarray  # the distinct rows of ``missing``
    inverse: np.ndarray  # each row's pattern: missing == patterns[inverse]
    values: np.ndarray  # the rows in float64, 0 where missing
    observed: np.ndarray  # 1.0 where observed, 0.0 where missing


def precision_matrices(params):
    """Each component's precision matrix (float64), from its Cholesky factor.

    Returns
    -------
    ndarray of shape (n_components, n_features, n_features)
    """
    n_components, n_features = params.means.shape
    prec = np.asarray(params.prec_chol, dtype=np.float64)
    if covariance(params.covariance_type).matrices:
        matrices = prec @ np.swapaxes(prec, -1, -2)
        return np.broadcast_to(matrices, (n_components, n_features, n_features))
    # 'diag' and 'spherical': (n_components, 1, n_features) of 1 / sigma.
    return prec[:, 0, :, None] ** 2 * np.eye(n_features)


class _Conditionals:
    """One component's conditional of the missing features given the observed,
    for a group of rows that each miss the same number of features.

    ``covariances``: each pattern's conditional covariance P_mm^-1;
    ``completed``: the rows with each missing entry at its conditional
    mean; ``log_density``: each row's log p(x_o).
    """

    def __init__(self, group, precision, mean, log_det_factor):
        missing, patterns, inverse = group.missing, group.patterns, group.inverse
        # x - mu with the missing entries at the mean (zero).
        diff = (group.values - mean) * group.observed
        # P_mm of each pattern, and P_mo (x_o - mu_o): (P diff)_m, diff_m = 0.
        p_mm = precision[patterns[:, :, None], patterns[:, None, :]]
        p_diff = diff @ precision
        p_mo_diff = np.take_along_axis(p_diff, missing, axis=1)
        factors = np.linalg.cholesky(p_mm)
        self.covariances = np.linalg.inv(p_mm)
        # The conditional mean's offsets from mu_m.
        shift = -np.einsum("nij,nj->ni", self.covariances[inverse], p_mo_diff)
        # The completed row's quadratic form: d_o^T P_oo d_o - b^T P_mm^-1 b
        # with b = P_mo d_o (the Schur complement), without a second product.
        quadratic = np.einsum("ni,ni->n", p_diff, diff) + np.einsum(
            "ni,ni->n", p_mo_diff, shift
        )
        np.put_along_axis(diff, missing, shift, axis=1)
        self.completed = diff + mean
        half_log_det_mm = np.log(np.diagonal(factors, axis1=1, axis2=2)).sum(axis=1)
        half_log_det_mm = half_log_det_mm[inverse]
        self.log_density = (
            -0.5 * (diff.shape[1] - missing.shape[1]) * _LOG_2PI
            + log_det_factor
            - half_log_det_mm
            - 0.5 * quadratic
        )


class _Components(NamedTuple):
    """Each component's float64 precision matrix, mean, log-determinant and
    log-weight: computed once per pass over the groups of rows."""

    precisions: np.ndarray
    means: np.ndarray
    # 1/2 log|P|: the kernels' log-determinant of the factor, which a model's
    # E-step parameters may shift by a constant of their own, as for the
    # complete rows.
    log_dets: np.ndarray
    log_weights: np.ndarray

    @classmethod
    def of(cls, params):
        return cls(
            precision_matrices(params),
            np.asarray(params.means, dtype=np.float64),
            np.asarray(params.log_det, dtype=np.float64),
            np.asarray(params.log_weights, dtype=np.float64),
        )


def _group_conditionals(group, components):
    """The ``_Conditionals`` of every component for a group of rows (one of
    ``MissingRows.groups``)."""
    precisions, means, log_dets, _ = components
    return [
        _Conditionals(group, precisions[k], means[k], log_dets[k])
        for k in range(len(means))
    ]


def _responsibilities(conditionals, log_weights):
    """(log p(x_o), responsibilities, weighted log-densities) of the rows of
    a group."""
    scores = np.column_stack(
        [c.log_density + w for c, w in zip(conditionals, log_weights)]
    )
    top = scores.max(axis=1)
    top[~np.isfinite(top)] = 0.0
    shifted = np.exp(scores - top[:, None])
    total = shifted.sum(axis=1)
    log_norm = np.log(total) + top
    return log_norm, shifted / total[:, None], scores


def _add_covariances(s2, patterns, weights, covariances):
    """s2 += sum_p weights_p C_p, each pattern's C_p placed at its missing
    features (a bincount over the flattened (feature, feature) indices)."""
    n_features = s2.shape[-1]
    index = patterns[:, :, None] * n_features + patterns[:, None, :]
    s2 += np.bincount(
        index.ravel(),
        weights=(weights[:, None, None] * covariances).ravel(),
        minlength=n_features * n_features,
    ).reshape(n_features, n_features)


def group_statistics(X, sample_weight, groups, params, ref):
    """The E-step's statistics of the incomplete rows.

    Same outputs and layout as ``fastgmm.kernels.em_statistics``: (sum of
    w_i log p(x_o,i), nk, s1, s2), the moments of each row completed by
    its conditional means, plus the conditional covariances, about ``ref``.
    """
    kind = covariance(params.covariance_type)
    n_components, n_features = params.means.shape
    nk = np.zeros(n_components)
    s1 = np.zeros((n_components, n_features))
    s2 = kind.kernel_zeros(n_components, n_features)
    log_likelihood = 0.0
    components = _Components.of(params)
    tied = kind.shared
    for group in groups:
        rows, patterns, inverse = group.rows, group.patterns, group.inverse
        w = np.ones(len(rows)) if sample_weight is None else sample_weight[rows]
        conditionals = _group_conditionals(group, components)
        log_norm, resp, _ = _responsibilities(conditionals, components.log_weights)
        log_likelihood += w @ log_norm
        resp *= w[:, None]
        for k, c in enumerate(conditionals):
            rk = resp[:, k]
            diff = c.completed - ref[k]
            nk[k] += rk.sum()
            s1[k] += rk @ diff
            # The conditional covariances, weighted by each pattern's total.
            pattern_weights = np.bincount(inverse, rk, minlength=len(patterns))
            if kind.matrices:
                target = s2[0] if tied else s2[k]
                target += (diff * rk[:, None]).T @ diff
                _add_covariances(target, patterns, pattern_weights, c.covariances)
            else:
                s2[k, 0] += rk @ diff**2
                variances = np.diagonal(c.covariances, axis1=1, axis2=2)
                s2[k, 0] += np.bincount(
                    patterns.ravel(),
                    weights=(pattern_weights[:, None] * variances).ravel(),
                    minlength=n_features,
                )
    return log_likelihood, nk, s1, s2


def score_missing(X, params, log_norm=False, resp=False, labels=False, dtype=None):
    """``fastgmm.engine._data.score_rows`` of rows that may miss features:
    each row scored by the marginal of its observed features."""
    grouped = MissingRows(X)
    complete = np.ascontiguousarray(X[grouped.complete])
    outputs = score_rows(complete, params, log_norm, resp, labels, dtype)
    n_samples, n_components = X.shape[0], params.means.shape[0]
    out_log_norm = np.empty(n_samples if log_norm else 0, dtype=outputs[0].dtype)
    out_resp = np.empty((n_samples if resp else 0, n_components), outputs[1].dtype)
    out_labels = np.empty(n_samples if labels else 0, dtype=np.intp)
    for out, values in zip((out_log_norm, out_resp, out_labels), outputs):
        if out.shape[0]:
            out[grouped.complete] = values
    components = _Components.of(params)
    for group in grouped.groups:
        rows = group.rows
        conditionals = _group_conditionals(group, components)
        row_log_norm, row_resp, scores = _responsibilities(
            conditionals, components.log_weights
        )
        if labels:
            out_labels[rows] = np.argmax(scores, axis=1)
        if log_norm:
            out_log_norm[rows] = row_log_norm
        if resp:
            out_resp[rows] = row_resp
    return out_log_norm, out_resp, out_labels


def conditional_means(X, params):
    """Each row with its missing entries replaced by E[x_m | x_o] under the
    mixture: the conditional means of the components weighted by the row's
    responsibilities.  Returns a float64 copy; observed entries unchanged."""
    out = np.array(X, dtype=np.float64)
    components = _Components.of(params)
    for group in MissingRows(X).groups:
        rows, missing = group.rows, group.missing
        conditionals = _group_conditionals(group, components)
        resp = _responsibilities(conditionals, components.log_weights)[1]
        index = np.arange(len(rows))[:, None]
        # Only the missing entries: a mix of the observed ones would round.
        out[rows[:, None], missing] = sum(
            resp[:, [k]] * c.completed[index, missing]
            for k, c in enumerate(conditionals)
        )
    return out


def conditional_draws(X, params, random_state):
    """Each row with its missing entries drawn from p(x_m | x_o) under the
    mixture: a component drawn by the row's responsibilities, then a
    Gaussian draw from that component's conditional.  Returns a float64
    copy."""
    out = np.array(X, dtype=np.float64)
    components = _Components.of(params)
    for group in MissingRows(X).groups:
        rows, missing, inverse = group.rows, group.missing, group.inverse
        conditionals = _group_conditionals(group, components)
        resp = _responsibilities(conditionals, components.log_weights)[1]
        u = random_state.uniform(size=(len(rows), 1))
        chosen = np.minimum((np.cumsum(resp, axis=1) < u).sum(axis=1), len(resp[0]) - 1)
        noise = random_state.standard_normal(missing.shape)
        index = np.arange(len(rows))[:, None]
        for k, c in enumerate(conditionals):
            mine = np.flatnonzero(chosen == k)
            factors = np.linalg.cholesky(c.covariances[inverse[mine]])
            draws = c.completed[index[mine], missing[mine]] + np.einsum(
                "nij,nj->ni", factors, noise[mine]
            )
            out[rows[mine, None], missing[mine]] = draws
    return out


class MissingData:
    """Validated rows of which some miss features (NaN): a
    ``fastgmm.engine._em.DataSource``.

    The start (``init_params``) is drawn from the rows with each missing
    entry replaced by its feature's (weighted) mean; the EM iterations use
    the observed entries only, as described in the module docstring.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float32 or float64, C order
        With at least one NaN; ``check_missing`` passed.
    sample_weight : ndarray of shape (n_samples,) or None
    """

    def __init__(self, X, sample_weight=None):
        self.X = X
        self.sample_weight = sample_weight
        self.dtype = X.dtype
        self.n_samples = X.shape[0]
        grouped = MissingRows(X)
        self.groups = grouped.groups
        self.complete = InMemoryData(
            np.ascontiguousarray(X[grouped.complete]),
            None if sample_weight is None else sample_weight[grouped.complete],
        )
        self.parallel = self.complete.parallel
        self.total_weight = (
            float(self.n_samples) if sample_weight is None else sample_weight.sum()
        )

    @functools.cached_property
    def imputed(self):
        """The rows mean-imputed, as in-memory data (the start's)."""
        means = feature_means(*feature_sums(self.X, self.sample_weight))
        return InMemoryData(mean_imputed(self.X, means), self.sample_weight)

    def initial_moments(
        self, start, n_components, covariance_type, reg_covar, random_state
    ):
        """The start of the mean-imputed rows (``InMemoryData.initial_moments``)."""
        return self.imputed.initial_moments(
            start, n_components, covariance_type, reg_covar, random_state
        )

    def statistics(self, params, ref):
        """E-step: (sum of weighted log p(x_o), nk, s1, s2) about ``ref``."""
        log_likelihood, nk, s1, s2 = group_statistics(
            self.X, self.sample_weight, self.groups, params, ref
        )
        if self.complete.n_samples:
            weights = self.complete.sample_weight
            complete = em_statistics(
                self.complete.X, _EMPTY if weights is None else weights,
                *params.as_args(), ref, code=params.code,
            )  # fmt: skip
            log_likelihood += complete[0]
            nk, s1, s2 = nk + complete[1], s1 + complete[2], s2 + complete[3]
        return log_likelihood, nk, s1, s2

    def labels(self, params):
        """Most probable component of each row, from its observed features."""
        return score_missing(self.X, params, labels=True)[2]

    def moments(self):
        """Weighted mean and scatter of the mean-imputed rows."""
        return self.imputed.moments()


def feature_sums(X, sample_weight):
    """Each feature's weighted sum of observed entries and their weight, and
    its count of observed entries: what ``feature_means`` needs, summed over
    blocks of rows."""
    observed = ~np.isnan(X)
    weights = np.ones(len(X)) if sample_weight is None else sample_weight
    values = np.where(observed, X, 0).astype(np.float64)
    totals = values.T @ weights
    sums = values.sum(axis=0)
    counts = observed.sum(axis=0)
    return totals, observed.T.astype(np.float64) @ weights, sums, counts


def feature_means(totals, weights, sums, counts):
    """Each feature's weighted mean over its observed entries; a feature seen
    only in rows of weight 0 gets its unweighted mean."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(weights > 0, totals / weights, sums / counts)


def mean_imputed(X, means):
    """X with each NaN replaced by its feature's entry of ``means``."""
    return np.where(np.isnan(X), means.astype(X.dtype), X)
