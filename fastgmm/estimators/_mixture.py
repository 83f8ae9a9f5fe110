"""What every mixture estimator shares: fitting through the EM engine, and
using the fitted model (scoring, prediction, sampling).

An estimator adds its parameters, its model's hooks (``_model``) and the
conversion between the engine's parameters and its fitted attributes
(``_get_parameters``, ``_set_parameters``, ``_kernel_parameters``).
"""

import contextlib
from abc import ABCMeta, abstractmethod
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)

from ..engine._data import InMemoryData, is_dask_array, score_rows
from ..engine._em import Progress, Start, fit_em
from ..engine._init import INIT_PARAMS
from ..engine._missing import MissingData, check_missing, score_missing
from ..engine._validation import (
    CachedParameterValidation,
    check_random_state,
    random_state_for,
    sum_is_finite,
    unchanged_on_failure,
    validate_rows,
)
from ..kernels import (
    COVARIANCE_TYPES,
    announce_compiling,
    check_n_jobs,
    compile_ahead,
    covariance,
    kernel_threads,
    runs_in_parallel,
)


class BaseMixture(
    CachedParameterValidation, DensityMixin, BaseEstimator, metaclass=ABCMeta
):
    """Fit, score, predict and sample; the estimators' shared methods."""

    # Which fit ``fastgmm.kernels._warmup.compile_ahead`` compiles for this estimator
    # ('gaussian' or 'bayesian'); None: none.
    _compile_kind = None

    # The parameters of scikit-learn's BaseMixture, n_jobs and missing_values.
    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "covariance_type": [StrOptions(set(COVARIANCE_TYPES))],
        "tol": [Interval(Real, 0.0, None, closed="left")],
        "reg_covar": [Interval(Real, 0.0, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "init_params": [StrOptions(set(INIT_PARAMS))],
        "random_state": ["random_state"],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
        "verbose_interval": [Interval(Integral, 1, None, closed="left")],
        "n_jobs": [Integral, None],
        "missing_values": [None, Real],
    }

    # ------------------------------------------------------------------
    # Fitting

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Estimate model parameters with the EM algorithm.

        The model is fitted ``n_init`` times and the parameters with the
        largest lower bound are kept. Each trial iterates E-step and M-step at
        most ``max_iter`` times, until the change of the lower bound is less
        than ``tol``; otherwise a ``ConvergenceWarning`` is raised. With
        ``warm_start=True``, ``n_init`` is ignored and consecutive calls start
        where the previous one left off.

        Parameters
        ----------
        X : array-like or Dask array of shape (n_samples, n_features)
            List of n_features-dimensional data points. Each row corresponds
            to a single data point.

        y : Ignored
            Not used, present for API consistency by convention.

        sample_weight : array-like or Dask array of shape (n_samples,), \
                default=None
            Non-negative weight of each row; the responsibilities of a row are
            multiplied by its weight. Integer weights give the model of the
            data with each row repeated that many times.

        Returns
        -------
        self : object
            The fitted mixture.
        """
        self._fit_keeping_state(X, sample_weight, labels=False)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_predict(self, X, y=None, sample_weight=None):
        """Estimate model parameters using X and predict the labels for X.

        Fits as :meth:`fit` does, then predicts the most probable component
        of each row with the final parameters.

        Parameters
        ----------
        X : array-like or Dask array of shape (n_samples, n_features)
            List of n_features-dimensional data points. Each row corresponds
            to a single data point.

        y : Ignored
            Not used, present for API consistency by convention.

        sample_weight : array-like or Dask array of shape (n_samples,), \
                default=None
            Non-negative weight of each row.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Component labels; a lazy Dask array for a Dask ``X``.
        """
        return self._fit_keeping_state(X, sample_weight)

    @_fit_context(prefer_skip_nested_validation=True)
    def _fit_from_assignments(self, X, sample_weight, assignments):
        """Fit from given initial responsibilities, one per initialisation.

        ``assignments``: ``fastgmm.engine._init.InitialAssignment`` objects, used in
        place of ``init_params``'s draws (``GaussianMixtureIC`` shares its
        k-means labels this way).
        """
        self._fit_keeping_state(X, sample_weight, assignments, labels=False)

    def _fit_keeping_state(self, X, sample_weight, assignments=None, labels=True):
        with unchanged_on_failure(self):
            return self._fit(X, sample_weight, assignments, labels)

    def _fit(self, X, sample_weight, assignments=None, labels=True):
        """Validate, run the EM engine, set the fitted attributes.

        ``assignments``: one ``fastgmm.engine._init.InitialAssignment`` per
        initialisation, given by the caller in place of ``init_params``'s
        draws (in-memory data only).  Returns the labels of the final
        parameters (:meth:`fit_predict`), or None without ``labels``: a
        fit that does not return them neither scores the rows again nor
        compiles the scoring kernel.
        """
        if is_dask_array(X):
            data = self._dask_data(X, sample_weight)
        else:
            missing = self._missing_values_allowed()
            X = validate_rows(
                self, X, reset=True, ensure_min_samples=2, allow_nan=missing
            )
            self._check_counts(X.shape[0])
            sample_weight = self._check_sample_weight(sample_weight, X)
            if missing and not sum_is_finite(X):
                check_missing(X)
                data = MissingData(X, sample_weight)
            else:
                data = InMemoryData(X, sample_weight)
        model = self._model(data)
        if self.verbose:
            announce_compiling()
        warm = self.warm_start and hasattr(self, "converged_")
        kmeans_start = not warm and assignments is None and self.init_params == "kmeans"
        with (
            self._compiling_ahead(data, kmeans_start, labels),
            random_state_for(self.random_state) as random_state,
            kernel_threads(self.n_jobs, data.parallel),
        ):
            if warm:
                starts = [
                    Start(self._get_parameters(data.dtype), self._lower_bound_value())
                ]
            else:
                inits = assignments or [self.init_params] * self.n_init
                starts = (
                    Start(model.initial_parameters(data, start, random_state))
                    for start in inits
                )
            run = fit_em(
                model, data, starts, tol=self.tol, max_iter=self.max_iter,
                progress=Progress(self.verbose, self.verbose_interval),
            )  # fmt: skip
            self._set_parameters(run.params)
            self.converged_ = run.converged
            self.n_iter_ = run.n_iter
            self._set_lower_bounds(run.lower_bound, run.lower_bounds)
            if not labels:
                return None
            # The labels of the final parameters, so that fit_predict(X) and
            # fit(X).predict(X) agree for any max_iter and tol.
            return data.labels(self._kernel_parameters(data.dtype))

    @contextlib.contextmanager
    def _compiling_ahead(self, data, kmeans_start, labels):
        """Within the block, a first fit's kernels after its k-means start
        (with ``labels``, the scoring kernel too) compile in another process
        (``fastgmm.kernels._warmup.compile_ahead``), where that pays; the data source
        waits for it once the start's labels are known.  A fit that ends
        before then stops it."""
        if kmeans_start and self._compile_kind and isinstance(data, InMemoryData):
            data.compiling = compile_ahead(
                self._compile_kind, data.dtype, self.covariance_type,
                data.X.shape[1], labels,
            )  # fmt: skip
        try:
            yield
        finally:
            if getattr(data, "compiling", None) is not None:
                data.compiling.stop()
                data.compiling = None

    def _dask_data(self, X, sample_weight):
        """Validated data source for a Dask array (see ``fastgmm.engine._dask``)."""
        from ..engine import _dask

        X = _dask.check_array(X, ensure_min_samples=2)
        validate_data(self, X, skip_check_array=True)
        self._check_counts(X.shape[0])
        total_weight = None
        if sample_weight is not None:
            sample_weight, n_positive, total_weight = _dask.check_sample_weight(
                sample_weight, X
            )
            self._check_positive_weights(n_positive)
        if self._missing_values_allowed():
            return _dask.MissingDaskData(X, sample_weight, total_weight)
        return _dask.DaskData(X, sample_weight, total_weight)

    def _missing_values_allowed(self):
        """Whether NaN marks a missing entry (``missing_values=np.nan``),
        rather than being an error."""
        value = getattr(self, "missing_values", None)
        if value is None:
            return False
        if isinstance(value, float) and np.isnan(value):
            return True
        raise ValueError(
            f"missing_values must be None or np.nan, got {value!r}: only NaN "
            "can mark a missing entry."
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = getattr(self, "missing_values", None) is not None
        return tags

    def _check_counts(self, n_samples):
        """n_samples against n_components, and n_jobs."""
        if n_samples < self.n_components:
            raise ValueError(
                "Expected n_samples >= n_components "
                f"but got n_components = {self.n_components}, "
                f"n_samples = {n_samples}"
            )
        check_n_jobs(self.n_jobs)

    def _check_sample_weight(self, sample_weight, X):
        if sample_weight is None:
            return None
        sample_weight = _check_sample_weight(
            sample_weight, X, dtype=np.float64, ensure_non_negative=True
        )
        self._check_positive_weights(np.count_nonzero(sample_weight))
        return sample_weight

    def _check_positive_weights(self, n_positive):
        if n_positive == 0:
            raise ValueError(
                "Sample weights must contain at least one non-zero number."
            )
        if n_positive < self.n_components:
            raise ValueError(
                "Expected at least n_components rows with positive sample_weight "
                f"but got n_components = {self.n_components}, "
                f"positive weights = {n_positive}"
            )

    @abstractmethod
    def _model(self, data):
        """The EM engine's hooks (``fastgmm.engine._em.MixtureModel``) for ``data``."""

    @abstractmethod
    def _get_parameters(self, dtype):
        """The fitted model as the engine's parameters (for ``warm_start``).

        ``dtype``: that of the rows the fit continues on.
        """

    @abstractmethod
    def _set_parameters(self, params):
        """The fitted attributes of the engine's parameters."""

    @abstractmethod
    def _kernel_parameters(self, dtype):
        """The kernels' inputs of the fitted attributes, for rows of ``dtype``."""

    def _set_lower_bounds(self, lower_bound, lower_bounds):
        """``lower_bound_`` and ``lower_bounds_`` of the engine's floats."""
        self.lower_bound_ = lower_bound
        self.lower_bounds_ = lower_bounds

    def _lower_bound_value(self):
        """``lower_bound_`` as the engine's float (where a fit continues)."""
        return float(self.lower_bound_)

    # ------------------------------------------------------------------
    # Using the fitted model

    def _score(self, X, **outputs):
        """Per-row outputs of the fitted mixture on validated ``X``.

        Lazy Dask arrays for a Dask array ``X``; log p(x) and the
        responsibilities in scikit-learn's dtype (see
        ``fastgmm.engine._data.output_dtype``).
        """
        if is_dask_array(X):
            from ..engine._dask import score_lazily

            return score_lazily(
                X, self._kernel_parameters(X.dtype), **outputs,
                missing=self._missing_values_allowed(),
            )  # fmt: skip
        with kernel_threads(self.n_jobs, runs_in_parallel(X.shape[0])):
            params = self._kernel_parameters(X.dtype)
            if self._missing_values_allowed() and not sum_is_finite(X):
                return score_missing(X, params, **outputs)
            return score_rows(X, params, **outputs)

    def _validate_for_predict(self, X):
        check_is_fitted(self)
        if is_dask_array(X):
            from ..engine._dask import check_array

            X = check_array(X)
            validate_data(self, X, reset=False, skip_check_array=True)
            return X
        return validate_rows(
            self, X, reset=False, allow_nan=self._missing_values_allowed()
        )

    def score_samples(self, X):
        """Compute the log-likelihood of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            List of n_features-dimensional data points. Each row corresponds
            to a single data point.

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
            Log-likelihood of each sample in `X` under the current model; a
            lazy Dask array for a Dask ``X``.  float32 when `X` and the model
            are float32, float64 otherwise, as in scikit-learn.
        """
        X = self._validate_for_predict(X)
        return self._score(X, log_norm=True)[0]

    def score(self, X, y=None):
        """Compute the per-sample average log-likelihood of the given data X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            List of n_features-dimensional data points. Each row corresponds
            to a single data point.

        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        log_likelihood : float
            Log-likelihood of `X` under the Gaussian mixture model:
            ``score_samples(X).mean()``, as scikit-learn computes it, so the
            mean is taken in the dtype of :meth:`score_samples` (float32 for
            float32 data on a float32 model).  For a Dask ``X``, Dask's mean
            of the lazy log-likelihoods, computed.
        """
        return float(self.score_samples(X).mean())

    def predict(self, X):
        """Predict the labels for the data samples in X using the fitted model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            List of n_features-dimensional data points. Each row corresponds
            to a single data point.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Component labels; a lazy Dask array for a Dask ``X``.
        """
        X = self._validate_for_predict(X)
        return self._score(X, labels=True)[2]

    def predict_proba(self, X):
        """Evaluate the posterior probability of each component for each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            List of n_features-dimensional data points. Each row corresponds
            to a single data point.

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components)
            Posterior probability of each Gaussian component for each sample;
            a lazy Dask array for a Dask ``X``.  float32 when `X` and the
            model are float32, float64 otherwise, as in scikit-learn.
        """
        X = self._validate_for_predict(X)
        return self._score(X, resp=True)[1]

    def sample(self, n_samples=1):
        """Generate random samples from the fitted Gaussian distribution.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples to generate.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            Randomly generated sample.

        y : ndarray of shape (n_samples,)
            Component labels.
        """
        check_is_fitted(self)
        if n_samples < 1:
            raise ValueError(
                "Invalid value for 'n_samples': %d . The sampling requires at "
                "least one sample." % (self.n_components)
            )
        n_features = self.means_.shape[1]
        rng = check_random_state(self.random_state)
        n_samples_comp = rng.multinomial(
            n_samples, _multinomial_probabilities(self.weights_)
        )
        kind = covariance(self.covariance_type)
        if kind.matrices:
            # scikit-learn's draws: a component's matrix (the shared one for
            # 'tied'), or standard normals scaled by the deviations.
            matrices = kind.full_matrices(
                self.covariances_, len(self.means_), n_features
            )
            X = np.vstack(
                [
                    rng.multivariate_normal(mean, matrix, int(sample))
                    for (mean, matrix, sample) in zip(
                        self.means_, matrices, n_samples_comp
                    )
                ]
            )
        else:
            X = np.vstack(
                [
                    mean
                    + rng.standard_normal(size=(sample, n_features))
                    * np.sqrt(variances)
                    for (mean, variances, sample) in zip(
                        self.means_, self.covariances_, n_samples_comp
                    )
                ]
            )
        y = np.concatenate(
            [np.full(sample, j, dtype=int) for j, sample in enumerate(n_samples_comp)]
        )
        return X, y


def _multinomial_probabilities(weights):
    """The weights as ``RandomState.multinomial`` accepts them.

    float32 weights summing to one can exceed it once cast to float64, which
    ``multinomial`` refuses; only then are they divided by their sum, so that
    every other model draws exactly as scikit-learn's does.
    """
    weights = np.asarray(weights, dtype=np.float64)
    if weights[:-1].sum() > 1.0:
        weights = weights / weights.sum()
    return weights
