"""``BatchGaussianMixture``: many independent mixtures fitted in one call."""

import time
import warnings
from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_sample_weight, check_is_fitted

from ..engine._batch_fit import BatchFit, GroupLayout, group_value
from ..engine._data import dask_frames_as_arrays, is_dask_array, output_dtype
from ..engine._validation import rows_and_groups, unchanged_on_failure
from ..kernels import (
    announce_compiling,
    check_n_jobs,
    covariance,
    group_log_determinants,
    kernel_threads,
    over_groups,
    precisions_from_cholesky,
    score_groups,
)
from ._gaussian_mixture import GaussianMixture, aic_from_score, bic_from_score

# fit_status_ values, and what they mean.
STATUS_MESSAGES = {
    "fitted": "fitted",
    "too_few_rows": "fewer rows than n_components (or than 2)",
    "too_few_weights": "fewer rows with positive sample_weight than n_components",
    "non_finite": "non-finite values (NaN or infinity) in its rows",
    "ill_defined": "ill-defined empirical covariance (collapsed or singleton "
    "samples); try fewer components, a larger reg_covar, or scaled data",
}


class BatchGaussianMixture(BaseEstimator):
    """Many independent Gaussian mixtures, one per group of rows, in one call.

    Each group's mixture is the one :class:`fastgmm.GaussianMixture` with the
    same parameters fits on that group's rows alone (an integer
    ``random_state`` seeds every group as it would seed that separate fit);
    the groups are fitted in parallel on all threads.

    Parameters
    ----------
    n_components, covariance_type, tol, reg_covar, max_iter, n_init, \
init_params, random_state, warm_start, verbose, verbose_interval, n_jobs
        As for :class:`fastgmm.GaussianMixture`.  A ``RandomState`` (or
        ``None``) is consumed group after group, in the order of ``groups_``;
        on Dask arrays it gives one integer seed instead (one draw), and the
        fit is the one with that integer ``random_state``.  ``verbose``
        prints one line before and one after the fit.  On Dask arrays
        ``n_jobs`` is the threads of each partition's fit (default 1: the
        scheduler's threads fit partitions side by side), and neither
        ``warm_start`` nor initial parameters given per group are taken.
    weights_init, means_init, precisions_init : array-like, default=None
        As for :class:`fastgmm.GaussianMixture`, the same for every group, or
        one per group with a leading axis of length n_groups.
    errors : {'warn', 'raise'}, default='warn'
        What a group that cannot be fitted does: with 'warn' its parameters
        are NaN, ``fit_status_`` says why, and one warning names every such
        group; with 'raise' the first one raises a ``ValueError`` naming it.

    Attributes
    ----------
    groups_ : ndarray of shape (n_groups,)
        The sorted distinct group labels.
    weights_ : ndarray of shape (n_groups, n_components)
    means_ : ndarray of shape (n_groups, n_components, n_features)
    covariances_, precisions_, precisions_cholesky_ : ndarray
        Shape (n_groups, *shape of GaussianMixture's attribute).
    converged_ : ndarray of shape (n_groups,), bool
    n_iter_ : ndarray of shape (n_groups,), int
    lower_bound_ : ndarray of shape (n_groups,)
    lower_bounds_ : ndarray of shape (n_groups, max_iter)
        The kept run's lower bound after each iteration, NaN after its last.
    fit_status_ : ndarray of shape (n_groups,), str
        'fitted', or why the group's parameters are NaN: 'too_few_rows',
        'too_few_weights', 'non_finite', 'ill_defined'.
    n_features_in_ : int

    Notes
    -----
    The groups are fitted in parallel, a group per thread, largest first.
    Groups of more than 4,096 rows (one block of the kernels) first get their
    k-means start one after another, each on all threads, as a single fit
    computes it.  The rows are copied once, sorted by group (no copy when
    they are already sorted).

    A Dask array ``X`` (with ``groups`` and ``sample_weight`` as Dask arrays
    or in memory) is fitted where its blocks live: every block sends each
    of its rows to its group's partition (one per row block of ``X``, or
    per 250,000 rows if fewer), each partition is fitted as above on its
    worker, and the fitted attributes are gathered here.  With an integer
    ``random_state`` the models are those of the fit in memory, bit for
    bit, whatever the chunking.  ``predict``, ``predict_proba`` and
    ``score_samples`` of a Dask ``X`` return lazy Dask arrays chunked like
    its rows; ``score``, ``bic`` and ``aic`` score each partition of groups
    on its worker.  A Dask DataFrame of numeric columns (and a Dask Series
    of labels) is taken as the Dask array of its values, a block per
    partition.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgmm import BatchGaussianMixture
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((600, 2))
    >>> groups = np.repeat(["a", "b", "c"], 200)
    >>> bgm = BatchGaussianMixture(n_components=2, random_state=0).fit(X, groups)
    >>> bgm.means_.shape
    (3, 2, 2)
    >>> bgm.predict(X, groups).shape
    (600,)
    """

    _parameter_constraints: dict = {
        **GaussianMixture._parameter_constraints,
        "n_components": [Interval(Integral, 1, None, closed="left"), "array-like"],
        "criterion": [StrOptions({"bic", "aic"})],
        "errors": [StrOptions({"warn", "raise"})],
    }

    def __init__(
        self,
        n_components=1,
        *,
        covariance_type="full",
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        weights_init=None,
        means_init=None,
        precisions_init=None,
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
        n_jobs=None,
        criterion="bic",
        errors="warn",
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.n_jobs = n_jobs
        self.criterion = criterion
        self.errors = errors

    # ------------------------------------------------------------------
    # Fitting

    def fit(self, X, groups=None, sample_weight=None):
        """Fit one mixture per group.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), or \
                (n_groups, n_samples_per_group, n_features)
            The rows; a 3-D array holds one group per leading index and then
            takes no ``groups``.  A 2-D Dask array (or Dask DataFrame) is
            fitted by partitions of groups (see Notes).
        groups : array-like of shape (n_samples,), default=None
            The group of each row: labels of any type ``np.unique`` sorts
            (with a Dask ``X``, a Dask array or Series, or in memory).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each row (for a 3-D ``X``, of shape
            (n_groups, n_samples_per_group)).

        Returns
        -------
        self : object
        """
        with unchanged_on_failure(self):
            return self._fit(X, groups, sample_weight)

    @_fit_context(prefer_skip_nested_validation=True)
    def _fit(self, X, groups, sample_weight):
        """``fit`` once its context is set: in memory, or by partitions of
        Dask arrays; then the warnings (or the error) about the groups."""
        check_n_jobs(self.n_jobs)
        started = time.perf_counter()
        X, groups, sample_weight = dask_frames_as_arrays(X, groups, sample_weight)
        if any(is_dask_array(a) for a in (X, groups, sample_weight)):
            few_distinct = self._fit_dask(X, groups, sample_weight)
        else:
            few_distinct = self._fit_rows(X, groups, sample_weight)
        self._report(few_distinct, time.perf_counter() - started)
        return self

    def _fit_rows(self, X, groups, sample_weight):
        """Validate, sort the rows by group, fit every group (each number of
        components when selecting), keep the best by the criterion, set the
        fitted attributes; the number of groups whose kept k-means start
        found fewer distinct clusters than components."""
        X, groups_, group_of_row = rows_and_groups(X, groups, allow_nan=True)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(
                np.reshape(sample_weight, -1) if np.ndim(sample_weight) == 2
                else sample_weight,
                X, dtype=np.float64, ensure_non_negative=True,
            )  # fmt: skip
        layout = GroupLayout(group_of_row, len(groups_), X.shape[0])
        X = layout.sorted_rows(X)
        if sample_weight is not None:
            sample_weight = layout.sorted_rows(sample_weight)
        warm = self.warm_start and hasattr(self, "converged_")
        if warm and not np.array_equal(groups_, self.groups_):
            raise ValueError(
                "warm_start=True needs the groups of the previous fit; "
                f"got {len(groups_)} groups, the previous fit had "
                f"{len(self.groups_)}."
            )
        candidates = self._candidates()
        if len(candidates) > 1 and (warm or self._given_initial_parameters()):
            raise ValueError(
                "A sequence of n_components takes no warm_start and no "
                "weights_init, means_init or precisions_init."
            )
        self.groups_ = groups_
        self.n_features_in_ = X.shape[1]
        if self.verbose:
            announce_compiling()
            print(f"Fitting {len(groups_)} groups of {X.shape[0]} rows in all")
        fits = []
        for n_components in candidates:
            fits.append(BatchFit(self, X, sample_weight, layout, warm, n_components))
            fits[-1].run()
        if len(fits) == 1:
            best = np.zeros(len(groups_), dtype=np.intp)
            self.criterion_values_ = None
        else:
            values = np.stack([self._fit_criteria(fit, X, layout) for fit in fits])
            self.criterion_values_ = values.T
            # The smallest criterion; ties and all-NaN go to the fewest components.
            best = np.argmin(np.where(np.isnan(values), np.inf, values), axis=0)
        self._store(fits, best)
        return int(
            sum((fit.few_distinct & (best == c)).sum() for c, fit in enumerate(fits))
        )

    def _fit_dask(self, X, groups, sample_weight):
        """``_fit_rows`` of Dask arrays, by partitions of groups (see
        ``fastgmm.engine._dask_groups``); the attributes assembled here."""
        from ..engine._dask_groups import fit_partitions

        attributes, few_distinct = fit_partitions(self, X, groups, sample_weight)
        for name, value in attributes.items():
            setattr(self, name, value)
        return few_distinct

    def _candidates(self):
        """The numbers of components to try, from ``n_components``."""
        if isinstance(self.n_components, Integral):
            return [int(self.n_components)]
        candidates = np.asarray(list(self.n_components)).reshape(-1)
        if (
            len(candidates) == 0
            or candidates.dtype.kind not in "iu"
            or (candidates < 1).any()
        ):
            raise ValueError(
                "n_components must be a positive int or a non-empty sequence of "
                f"positive ints; got {self.n_components!r}."
            )
        return sorted({int(k) for k in candidates})

    def _given_initial_parameters(self):
        return any(
            p is not None
            for p in (self.weights_init, self.means_init, self.precisions_init)
        )

    def _fit_criteria(self, fit, X, layout):
        """BIC or AIC of each group's fit with ``fit.n_components``, on its rows."""
        n_components = np.full(len(layout.counts), fit.n_components)
        failed = fit.status_names != "fitted"
        weights, means, _, prec3 = fit.out[:4]
        log_weights, log_det = _kernel_logs(weights, prec3, self.covariance_type)
        # In score_samples's dtype, as each group's GaussianMixture.bic sums it.
        dtype = output_dtype(X.dtype, weights, means, prec3)
        log_prob = np.full(X.shape[0], np.nan, dtype=dtype)
        order = layout.largest_first(~failed)
        code = covariance(self.covariance_type).code
        no_resp = np.empty((0, fit.n_components), dtype=dtype)
        no_labels = np.empty(0, dtype=np.intp)

        def score(chunk):
            score_groups(
                X, layout.bounds, chunk, n_components, log_weights, means, prec3,
                log_det, log_prob, no_resp, no_labels, np.zeros(len(chunk), np.int64),
                code=code,
            )  # fmt: skip

        with kernel_threads(self.n_jobs):
            over_groups(score, order, self.n_jobs)
        return self._group_criteria(log_prob, layout, n_components)

    def _group_criteria(self, sorted_log_prob, layout, n_components, kind=None):
        """BIC or AIC of each group, from its rows' log p(x) (in group order).

        Each group's ``GaussianMixture.bic`` / ``.aic``: scikit-learn's formula
        of the group's :meth:`score`; NaN for groups without rows.
        """
        kind = kind or self.criterion
        criterion = bic_from_score if kind == "bic" else aic_from_score
        scores = _group_scores(sorted_log_prob, layout)
        n_params = {
            k: covariance(self.covariance_type).n_parameters(k, self.n_features_in_)
            for k in np.unique(n_components)
        }
        out = np.full(len(layout.counts), np.nan)
        for g in np.flatnonzero(layout.counts):
            out[g] = criterion(
                scores[g], int(layout.counts[g]), n_params[n_components[g]]
            )
        return out

    def _store(self, fits, best):
        """Fitted attributes of each group's kept fit, padded to the largest K.

        Components a group does not have get weight 0 and NaN parameters;
        groups that were not fitted are NaN throughout.
        """
        n_groups = len(best)
        k_max = max(fit.n_components for fit in fits)
        n_features = self.n_features_in_
        shape = covariance(self.covariance_type).kernel_shape(k_max, n_features)
        dtype = fits[0].X.dtype
        weights = np.zeros((n_groups, k_max), dtype=dtype)
        means = np.full((n_groups, k_max, n_features), np.nan, dtype=dtype)
        covariances3 = np.full((n_groups, *shape), np.nan, dtype=dtype)
        prec3 = np.full((n_groups, *shape), np.nan, dtype=dtype)
        self.n_components_ = np.zeros(n_groups, dtype=np.intp)
        self.n_iter_ = np.zeros(n_groups, dtype=np.intp)
        self.converged_ = np.zeros(n_groups, dtype=bool)
        self.lower_bound_ = np.full(n_groups, np.nan)
        self.lower_bounds_ = np.full((n_groups, self.max_iter), np.nan)
        self.fit_status_ = np.empty(n_groups, dtype=object)
        for c, fit in enumerate(fits):
            kept = best == c
            k = fit.n_components
            self.fit_status_[kept] = fit.status_names[kept]
            ok = kept & (fit.status_names == "fitted")
            self.n_components_[ok] = k
            weights[ok, :k] = fit.out[0][ok]
            means[ok, :k] = fit.out[1][ok]
            components = slice(None) if shape[0] == 1 else slice(0, k)
            covariances3[ok, components] = fit.out[2][ok]
            prec3[ok, components] = fit.out[3][ok]
            self.n_iter_[ok] = fit.n_iter[ok]
            self.converged_[ok] = fit.converged[ok]
            self.lower_bound_[ok] = fit.lower_bound[ok]
            self.lower_bounds_[ok] = fit.lower_bounds[ok]
        weights[self.fit_status_ != "fitted"] = np.nan
        self.weights_ = weights
        self.means_ = means
        self.covariances_ = np.ascontiguousarray(
            covariance(self.covariance_type).from_kernel_layout(covariances3)
        )
        self.precisions_cholesky_ = np.ascontiguousarray(
            covariance(self.covariance_type).from_kernel_layout(prec3)
        )
        self.precisions_ = precisions_from_cholesky(
            self.precisions_cholesky_, self.covariance_type
        )

    def _report(self, few_distinct, seconds):
        """The one warning per kind of trouble, or the error of errors='raise'.

        ``few_distinct``: the number of groups whose kept k-means start found
        fewer distinct clusters than components.
        """
        failed = np.flatnonzero(self.fit_status_ != "fitted")
        if len(failed) and self.errors == "raise":
            g = failed[0]
            raise ValueError(
                f"Group {_label(self.groups_[g])!r} could not be fitted: "
                f"{STATUS_MESSAGES[self.fit_status_[g]]}."
            )
        if len(failed):
            listed = ", ".join(
                f"{_label(self.groups_[g])!r} ({self.fit_status_[g]})"
                for g in failed[:10]
            )
            more = f" and {len(failed) - 10} more" if len(failed) > 10 else ""
            warnings.warn(
                f"{len(failed)} of {len(self.groups_)} groups could not be "
                f"fitted: {listed}{more}. Their parameters are NaN; "
                "fit_status_ says why.",
                UserWarning,
                stacklevel=3,
            )
        if few_distinct:
            warnings.warn(
                f"k-means found fewer distinct clusters than n_components in "
                f"{few_distinct} groups. Possibly due to "
                "duplicate points in X.",
                ConvergenceWarning,
                stacklevel=3,
            )
        not_converged = ~self.converged_ & (self.fit_status_ == "fitted")
        if self.max_iter > 0 and not_converged.any():
            warnings.warn(
                f"Best performing initialization did not converge in "
                f"{int(not_converged.sum())} of {len(self.groups_)} groups. Try "
                "different init parameters, or increase max_iter, tol, or "
                "check for degenerate data.",
                ConvergenceWarning,
                stacklevel=3,
            )
        if self.verbose:
            print(
                f"Fitted {len(self.groups_) - len(failed)} of {len(self.groups_)} "
                f"groups in {seconds:.2f} s; {int(self.converged_.sum())} converged"
            )

    # ------------------------------------------------------------------
    # Using the fitted models

    def _score(self, X, groups, log_norm=False, resp=False, labels=False):
        """Per-row outputs, each row scored by its group's mixture; for a Dask
        X (or groups), lazy Dask arrays of the outputs asked for (the others
        None)."""
        X, groups = dask_frames_as_arrays(X, groups)
        if is_dask_array(X) or is_dask_array(groups):
            return self._score_lazily(X, groups, (log_norm, resp, labels))
        layout, outputs = self._score_in_group_order(
            X, groups, log_norm=log_norm, resp=resp, labels=labels
        )
        return tuple(layout.unsorted_rows(a) for a in outputs)

    def _score_in_group_order(
        self, X, groups, log_norm=False, resp=False, labels=False
    ):
        """The rows' layout, and their outputs with the rows in group order.

        log p(x) and the responsibilities have the dtype of each group's
        ``GaussianMixture`` (scikit-learn's: float32 for float32 rows and
        models).
        """
        check_is_fitted(self, "converged_")
        X, group_index = self._rows_of_fitted_groups(X, groups)
        layout = GroupLayout(group_index, len(self.groups_), X.shape[0])
        Xs = layout.sorted_rows(X)
        n, k_max = X.shape[0], self.weights_.shape[1]
        dtype = output_dtype(
            X.dtype, self.weights_, self.means_, self.precisions_cholesky_
        )
        out_log_norm = np.full(n if log_norm else 0, np.nan, dtype=dtype)
        out_resp = np.zeros((n if resp else 0, k_max), dtype=dtype)
        out_labels = np.full(n if labels else 0, -1, dtype=np.intp)
        log_weights, prec3, log_det = self._kernel_parameters()
        fitted = self.fit_status_ == "fitted"
        order = layout.largest_first(fitted & (layout.counts > 0))
        code = covariance(self.covariance_type).code

        def score(chunk):
            score_groups(
                Xs, layout.bounds, chunk, self.n_components_, log_weights,
                self.means_, prec3, log_det, out_log_norm, out_resp, out_labels,
                np.zeros(len(chunk), np.int64), code=code,
            )  # fmt: skip

        with kernel_threads(self.n_jobs):
            over_groups(score, order, self.n_jobs)
        if resp:
            for g in np.flatnonzero(~fitted):
                out_resp[layout.bounds[g] : layout.bounds[g + 1]] = np.nan
        return layout, (out_log_norm, out_resp, out_labels)

    def _score_lazily(self, X, groups, wanted):
        """``_score`` of Dask arrays, block by block (see
        ``fastgmm.engine._dask_groups.score_lazily``)."""
        from ..engine._dask_groups import score_lazily

        check_is_fitted(self, "converged_")
        return score_lazily(self, X, groups, wanted)

    def _kernel_parameters(self):
        """Log-weights, factors and log-determinants as a single fit computes them."""
        prec3 = np.ascontiguousarray(
            covariance(self.covariance_type).to_kernel_layout(
                self.precisions_cholesky_, self.n_features_in_
            )
        )
        log_weights, log_det = _kernel_logs(self.weights_, prec3, self.covariance_type)
        return log_weights, prec3, log_det

    def _rows_of_fitted_groups(self, X, groups):
        X, labels, group_of_row = rows_and_groups(X, groups, allow_nan=False)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but {type(self).__name__} is "
                f"expecting {self.n_features_in_} features as input."
            )
        index = np.searchsorted(self.groups_, labels)
        index = np.minimum(index, len(self.groups_) - 1)
        unknown = self.groups_[index] != labels
        if unknown.any():
            raise ValueError(
                f"Unknown groups (not seen in fit): {labels[unknown][:10].tolist()}"
            )
        if group_of_row is None:
            group_of_row = np.repeat(np.arange(len(labels)), X.shape[0] // len(labels))
        return X, index[group_of_row]

    def score_samples(self, X, groups=None):
        """Log-likelihood of each row under its group's mixture.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), or 3-D as in ``fit``
        groups : array-like of shape (n_samples,), default=None
            Each row's group; every label must be one of ``groups_``.

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
            NaN for the rows of groups that were not fitted.  float32 when
            `X` and the models are float32, float64 otherwise, as each
            group's ``GaussianMixture`` returns it.  A lazy Dask array
            chunked like the rows of a Dask ``X``.
        """
        return self._score(X, groups, log_norm=True)[0]

    def predict_proba(self, X, groups=None):
        """Responsibilities of each row's group's components.

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components)
            NaN for the rows of groups that were not fitted.  float32 when
            `X` and the models are float32, float64 otherwise.  A lazy Dask
            array chunked like the rows of a Dask ``X``.
        """
        return self._score(X, groups, resp=True)[1]

    def predict(self, X, groups=None):
        """The most probable component of each row in its group's mixture.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            -1 for the rows of groups that were not fitted.  A lazy Dask
            array chunked like the rows of a Dask ``X``.
        """
        return self._score(X, groups, labels=True)[2]

    def score(self, X, groups=None):
        """Mean log-likelihood of each group's rows under its group's mixture.

        Each group's ``GaussianMixture.score`` of its rows:
        ``score_samples(X).mean()`` over them, in the dtype of
        :meth:`score_samples`, as scikit-learn computes it.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), or 3-D as in ``fit``
        groups : array-like of shape (n_samples,), default=None
            Each row's group; every label must be one of ``groups_``.

        Returns
        -------
        score : ndarray of shape (n_groups,)
            In the order of ``groups_``; NaN for groups without rows in ``X``
            or not fitted.
        """
        return self._criterion(X, groups, "score")

    def _criterion(self, X, groups, kind):
        """Each group's ``score``, ``bic`` or ``aic`` (``kind``) on its rows."""
        X, groups = dask_frames_as_arrays(X, groups)
        if is_dask_array(X) or is_dask_array(groups):
            return self._criterion_of_dask_rows(X, groups, kind)
        layout, (log_prob, _, _) = self._score_in_group_order(X, groups, log_norm=True)
        if kind == "score":
            return _group_scores(log_prob, layout)
        return self._group_criteria(log_prob, layout, self.n_components_, kind)

    def _criterion_of_dask_rows(self, X, groups, kind):
        """``score``, ``bic`` or ``aic`` of Dask rows, each partition of groups
        in memory where it lives (``fastgmm.engine._dask_groups``)."""
        from ..engine._dask_groups import group_criteria

        check_is_fitted(self, "converged_")
        return group_criteria(self, X, groups, kind)

    def bic(self, X, groups=None):
        """Bayesian information criterion of each group's mixture on its rows.

        Each group's ``GaussianMixture.bic`` of its rows, from its
        :meth:`score` with scikit-learn's formula.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), or 3-D as in ``fit``
        groups : array-like of shape (n_samples,), default=None
            Each row's group; every label must be one of ``groups_``.

        Returns
        -------
        bic : ndarray of shape (n_groups,)
            NaN for groups without rows in ``X`` or not fitted.
        """
        return self._criterion(X, groups, "bic")

    def aic(self, X, groups=None):
        """Akaike information criterion of each group's mixture on its rows.

        Each group's ``GaussianMixture.aic`` of its rows, from its
        :meth:`score` with scikit-learn's formula.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), or 3-D as in ``fit``
        groups : array-like of shape (n_samples,), default=None
            Each row's group; every label must be one of ``groups_``.

        Returns
        -------
        aic : ndarray of shape (n_groups,)
            NaN for groups without rows in ``X`` or not fitted.
        """
        return self._criterion(X, groups, "aic")

    def estimator(self, group):
        """The fitted :class:`fastgmm.GaussianMixture` of one group.

        Parameters
        ----------
        group : label
            One of ``groups_``.

        Returns
        -------
        GaussianMixture
        """
        check_is_fitted(self, "converged_")
        g = np.searchsorted(self.groups_, group)
        if g >= len(self.groups_) or self.groups_[g] != group:
            raise ValueError(f"Unknown group {_label(group)!r}.")
        if self.fit_status_[g] != "fitted":
            raise ValueError(
                f"Group {_label(group)!r} was not fitted: "
                f"{STATUS_MESSAGES[self.fit_status_[g]]}."
            )
        params = self.get_params()
        del params["errors"], params["criterion"]
        k = int(self.n_components_[g])
        params["n_components"] = k
        components = slice(0, k)
        for name in ("weights_init", "means_init", "precisions_init"):
            params[name] = group_value(params[name], name, g, self)
        model = GaussianMixture(**params)
        shared = covariance(self.covariance_type).shared
        per_component = slice(None) if shared else components
        model.weights_ = self.weights_[g, components].copy()
        model.means_ = self.means_[g, components].copy()
        model.covariances_ = self.covariances_[g][per_component].copy()
        model.precisions_cholesky_ = self.precisions_cholesky_[g][per_component].copy()
        model.precisions_ = self.precisions_[g][per_component].copy()
        model.converged_ = bool(self.converged_[g])
        model.n_iter_ = int(self.n_iter_[g])
        model.lower_bound_ = float(self.lower_bound_[g])
        model.lower_bounds_ = [
            float(b) for b in self.lower_bounds_[g, : self.n_iter_[g]]
        ]
        model.n_features_in_ = self.n_features_in_
        return model


def _kernel_logs(weights, prec3, covariance_type):
    """Log-weights (log 0 = -inf for padding) and log-determinants per group."""
    with np.errstate(divide="ignore", invalid="ignore"):
        log_weights = np.log(weights.astype(np.float64))
    log_det = group_log_determinants(
        prec3, weights.shape[1], code=covariance(covariance_type).code
    )
    return log_weights, log_det


def _group_scores(sorted_log_prob, layout):
    """Each group's ``score``: the mean of its rows' log p(x), in their dtype.

    The rows of group g are contiguous in group order, so the mean is NumPy's
    over the same values a separate ``GaussianMixture.score`` averages.  NaN
    for groups without rows.
    """
    scores = np.full(len(layout.counts), np.nan)
    for g in np.flatnonzero(layout.counts):
        rows = sorted_log_prob[layout.bounds[g] : layout.bounds[g + 1]]
        scores[g] = float(rows.mean())
    return scores


def _label(value):
    """A group label as Python prints it (``3``, not ``np.int64(3)``)."""
    return value.item() if isinstance(value, np.generic) else value
