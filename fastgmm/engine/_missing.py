"""Rows with missing entries (NaN): EM of incomplete data, exactly.

A row's E-step uses the density of its observed features alone.  Its
M-step statistics take each missing entry's conditional expectation given
the row's observed entries, under each component, and add the conditional
covariance to the second moments (Ghahramani and Jordan, "Supervised
learning from incomplete data via an EM approach", NIPS 1994).  The
statistics keep the layout of ``fastgmm.kernels.em_statistics``, so the
models' M-steps are unchanged.

Everything follows from the precision matrix L of a component (the E-step's
parameters: the precision Cholesky factors).  For observed features o and
missing m:

- the observed features' marginal has precision L_oo - L_om L_mm^-1 L_mo;
- the missing ones given the observed are Gaussian with covariance
  L_mm^-1 and mean mu_m - L_mm^-1 L_mo (x_o - mu_o).

Rows are grouped by their pattern of missing features, so that these are
computed once per pattern and component in an iteration, not once per row.
Complete rows run the compiled E-step and scoring, as in-memory data do.
"""

import numpy as np
from scipy import linalg
from scipy.special import logsumexp

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


class MissingPatterns:
    """The rows of X grouped by which features they miss.

    Attributes
    ----------
    complete : ndarray of int
        The rows without a missing entry.
    patterns : list of (observed, rows)
        For each pattern of the other rows, the boolean mask of its observed
        features and the indices of its rows.
    """

    def __init__(self, X):
        missing = np.isnan(X)
        incomplete = missing.any(axis=1)
        self.complete = np.flatnonzero(~incomplete)
        rows = np.flatnonzero(incomplete)
        keys, inverse = np.unique(missing[rows], axis=0, return_inverse=True)
        order = np.argsort(inverse.ravel(), kind="stable")
        starts = np.searchsorted(inverse.ravel()[order], np.arange(len(keys) + 1))
        self.patterns = [
            (~keys[p], rows[order[starts[p] : starts[p + 1]]]) for p in range(len(keys))
        ]


def precision_matrices(params):
    """Each component's precision matrix (float64), from its Cholesky factor.

    Returns
    -------
    ndarray of shape (n_components, n_features, n_features)
    """
    n_components, n_features = params.means.shape
    prec = np.asarray(params.prec_chol, dtype=np.float64)
    if params.covariance_type in ("full", "tied"):
        matrices = prec @ np.swapaxes(prec, -1, -2)
        return np.broadcast_to(matrices, (n_components, n_features, n_features))
    # 'diag' and 'spherical': (n_components, 1, n_features) of 1 / sigma.
    return prec[:, 0, :, None] ** 2 * np.eye(n_features)


class _Conditional:
    """One component's Gaussian split into a pattern's observed and missing
    features: the observed marginal and the missing given the observed."""

    def __init__(self, precision, mean, observed):
        o, m = np.flatnonzero(observed), np.flatnonzero(~observed)
        self.o, self.m = o, m
        self.mean = mean
        l_mm = precision[np.ix_(m, m)]
        l_mo = precision[np.ix_(m, o)]
        # Covariance of the missing features given the observed ones.
        self.covariance = np.linalg.inv(l_mm)
        self.covariance = (self.covariance + self.covariance.T) / 2
        # x_m | x_o has mean mu_m + gain @ (x_o - mu_o).
        self.gain = -self.covariance @ l_mo
        marginal = precision[np.ix_(o, o)] - l_mo.T @ self.covariance @ l_mo
        # Nothing observed (imputing a row with every entry missing): the
        # marginal is of no feature, its density 1.
        self.factor = (
            linalg.cholesky((marginal + marginal.T) / 2, lower=True)
            if len(o)
            else marginal
        )
        self.half_log_det = np.sum(np.log(np.diag(self.factor)))

    def log_density(self, X_o):
        """log N(x_o; mu_o, marginal covariance) of each row of ``X_o``."""
        y = (X_o - self.mean[self.o]) @ self.factor
        return (
            self.half_log_det
            - 0.5 * len(self.o) * _LOG_2PI
            - 0.5 * np.einsum("ij,ij->i", y, y)
        )

    def completed(self, X_o):
        """The rows with each missing entry replaced by its conditional mean."""
        rows = np.empty((len(X_o), len(self.mean)))
        rows[:, self.o] = X_o
        rows[:, self.m] = self.mean[self.m] + (X_o - self.mean[self.o]) @ self.gain.T
        return rows


def _pattern_scores(X_o, conditionals, log_weights):
    """log pi_k + log p(x_o | k) of each row of a pattern (n_rows, n_components)."""
    return np.column_stack(
        [c.log_density(X_o) + w for c, w in zip(conditionals, log_weights)]
    )


def _conditionals(params, observed):
    precisions = precision_matrices(params)
    means = np.asarray(params.means, dtype=np.float64)
    return [_Conditional(precisions[k], means[k], observed) for k in range(len(means))]


def pattern_statistics(X, sample_weight, patterns, params, ref):
    """The E-step's statistics of the incomplete rows, summed over patterns.

    Same outputs and layout as ``fastgmm.kernels.em_statistics``: (sum of
    w_i log p(x_o,i), nk, s1, s2), the moments of each row completed by
    its conditional means, plus the conditional covariances, about ``ref``.
    """
    kind = covariance(params.covariance_type)
    n_components, n_features = params.means.shape
    nk = np.zeros(n_components)
    s1 = np.zeros((n_components, n_features))
    s2 = kind.kernel_zeros(n_components, n_features)
    matrices = kind.matrices
    log_likelihood = 0.0
    log_weights = np.asarray(params.log_weights, dtype=np.float64)
    for observed, rows in patterns:
        X_o = X[np.ix_(rows, np.flatnonzero(observed))].astype(np.float64)
        w = np.ones(len(rows)) if sample_weight is None else sample_weight[rows]
        conditionals = _conditionals(params, observed)
        scores = _pattern_scores(X_o, conditionals, log_weights)
        log_norm = logsumexp(scores, axis=1)
        log_likelihood += w @ log_norm
        resp = np.exp(scores - log_norm[:, None]) * w[:, None]
        for k, c in enumerate(conditionals):
            rk = resp[:, k]
            total = rk.sum()
            diff = c.completed(X_o) - ref[k]
            nk[k] += total
            s1[k] += rk @ diff
            target = 0 if kind.code == covariance("tied").code else k
            if matrices:
                s2[target] += (diff * rk[:, None]).T @ diff
                s2[target][np.ix_(c.m, c.m)] += total * c.covariance
            else:
                s2[k, 0] += rk @ diff**2
                s2[k, 0, c.m] += total * np.diag(c.covariance)
    return log_likelihood, nk, s1, s2


def score_missing(X, params, log_norm=False, resp=False, labels=False, dtype=None):
    """``fastgmm.engine._data.score_rows`` of rows that may miss features:
    each row scored by the marginal of its observed features."""
    patterns = MissingPatterns(X)
    complete = np.ascontiguousarray(X[patterns.complete])
    outputs = score_rows(complete, params, log_norm, resp, labels, dtype)
    n_samples, n_components = X.shape[0], params.means.shape[0]
    out_log_norm = np.empty(n_samples if log_norm else 0, dtype=outputs[0].dtype)
    out_resp = np.empty((n_samples if resp else 0, n_components), outputs[1].dtype)
    out_labels = np.empty(n_samples if labels else 0, dtype=np.intp)
    for out, values in zip((out_log_norm, out_resp, out_labels), outputs):
        if out.shape[0]:
            out[patterns.complete] = values
    log_weights = np.asarray(params.log_weights, dtype=np.float64)
    for observed, rows in patterns.patterns:
        X_o = X[np.ix_(rows, np.flatnonzero(observed))].astype(np.float64)
        scores = _pattern_scores(X_o, _conditionals(params, observed), log_weights)
        if labels:
            out_labels[rows] = np.argmax(scores, axis=1)
        row_log_norm = logsumexp(scores, axis=1)
        if log_norm:
            out_log_norm[rows] = row_log_norm
        if resp:
            out_resp[rows] = np.exp(scores - row_log_norm[:, None])
    return out_log_norm, out_resp, out_labels


def conditional_means(X, params):
    """Each row with its missing entries replaced by E[x_m | x_o] under the
    mixture: the conditional means of the components weighted by the row's
    responsibilities.  Returns a float64 copy."""
    out = np.array(X, dtype=np.float64)
    log_weights = np.asarray(params.log_weights, dtype=np.float64)
    for observed, rows in MissingPatterns(X).patterns:
        X_o = out[np.ix_(rows, np.flatnonzero(observed))]
        conditionals = _conditionals(params, observed)
        scores = _pattern_scores(X_o, conditionals, log_weights)
        resp = np.exp(scores - logsumexp(scores, axis=1)[:, None])
        # Only the missing entries: a mix of the observed ones would round.
        missing = np.flatnonzero(~observed)
        filled = [c.completed(X_o)[:, missing] for c in conditionals]
        out[np.ix_(rows, missing)] = sum(resp[:, [k]] * f for k, f in enumerate(filled))
    return out


def conditional_draws(X, params, random_state):
    """Each row with its missing entries drawn from p(x_m | x_o) under the
    mixture: a component drawn by the row's responsibilities, then a
    Gaussian draw from that component's conditional.  Returns a float64
    copy."""
    out = np.array(X, dtype=np.float64)
    log_weights = np.asarray(params.log_weights, dtype=np.float64)
    for observed, rows in MissingPatterns(X).patterns:
        X_o = out[np.ix_(rows, np.flatnonzero(observed))]
        conditionals = _conditionals(params, observed)
        scores = _pattern_scores(X_o, conditionals, log_weights)
        resp = np.exp(scores - logsumexp(scores, axis=1)[:, None])
        cumulative = np.cumsum(resp, axis=1)
        u = random_state.uniform(size=(len(rows), 1))
        chosen = np.minimum((cumulative < u).sum(axis=1), len(conditionals) - 1)
        for k, c in enumerate(conditionals):
            mine = chosen == k
            if not mine.any():
                continue
            means = c.completed(X_o[mine])[:, c.m]
            noise = random_state.multivariate_normal(
                np.zeros(len(c.m)), c.covariance, size=int(mine.sum())
            )
            out[np.ix_(rows[mine], c.m)] = means + noise
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
        patterns = MissingPatterns(X)
        self.patterns = patterns.patterns
        self.complete = InMemoryData(
            np.ascontiguousarray(X[patterns.complete]),
            None if sample_weight is None else sample_weight[patterns.complete],
        )
        self.parallel = self.complete.parallel
        self.total_weight = (
            float(self.n_samples) if sample_weight is None else sample_weight.sum()
        )
        self.imputed = InMemoryData(_mean_imputed(X, sample_weight), sample_weight)

    def initial_moments(
        self, start, n_components, covariance_type, reg_covar, random_state
    ):
        """The start of the mean-imputed rows (``InMemoryData.initial_moments``)."""
        return self.imputed.initial_moments(
            start, n_components, covariance_type, reg_covar, random_state
        )

    def statistics(self, params, ref):
        """E-step: (sum of weighted log p(x_o), nk, s1, s2) about ``ref``."""
        log_likelihood, nk, s1, s2 = pattern_statistics(
            self.X, self.sample_weight, self.patterns, params, ref
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


def _mean_imputed(X, sample_weight):
    """A copy of X with each NaN replaced by its feature's weighted mean."""
    observed = ~np.isnan(X)
    weights = np.ones(len(X)) if sample_weight is None else sample_weight
    totals = np.where(observed, X, 0).astype(np.float64).T @ weights
    counts = observed.T.astype(np.float64) @ weights
    with np.errstate(invalid="ignore", divide="ignore"):
        means = totals / counts
    # A feature seen only in rows of weight 0: its unweighted mean.
    means = np.where(counts > 0, means, np.nanmean(X, axis=0))
    return np.where(observed, X, means.astype(X.dtype))
