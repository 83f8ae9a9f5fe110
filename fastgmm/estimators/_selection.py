"""GaussianMixtureIC: choose the number of components and the covariance type.

Every combination of ``n_components`` and ``covariance_type`` is fitted as a
plain :class:`fastgmm.GaussianMixture` would fit it, scored with the Bayesian
or the Akaike information criterion, and the best model is kept.

With ``init_params='kmeans'`` the k-means clustering that starts EM depends on
the number of components and on the random state, not on the covariance type.
It is therefore computed once per number of components and shared by the
covariance types; each candidate is still exactly the model that
``GaussianMixture(n_components=k, covariance_type=t, random_state=seed, ...)``
fits on its own.

The candidates are independent, so they are fitted concurrently on a pool of
threads (the compiled kernels release the GIL), each fit's kernels on its
share of the threads. One fit parallelises over blocks of rows and has few of
them on small data, so spreading whole fits over the threads uses them
better; on large data both ways keep every thread busy.
"""

import math
import warnings
from concurrent.futures import ThreadPoolExecutor
from numbers import Integral, Real
from time import perf_counter

import numba
import numpy as np
from sklearn import config_context, get_config
from sklearn.base import BaseEstimator, DensityMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)

from ..engine._init import INIT_PARAMS, InitialAssignment, initial_assignment
from ..engine._validation import CachedParameterValidation
from ..kernels import COVARIANCE_TYPES, announce_compiling, check_n_jobs, thread_count
from ._gaussian_mixture import GaussianMixture, aic_from_score, bic_from_score

# The keys of ``results_``, in order.
RESULT_KEYS = (
    "n_components",
    "covariance_type",
    "bic",
    "aic",
    "converged",
    "n_iter",
    "lower_bound",
    "fit_time",
)


class GaussianMixtureIC(CachedParameterValidation, DensityMixin, BaseEstimator):
    """Gaussian mixture with the number of components chosen by BIC or AIC.

    Fits a :class:`fastgmm.GaussianMixture` for every combination of
    ``n_components`` and ``covariance_type``, scores each fit with the chosen
    information criterion on the training data, and keeps the fit with the
    lowest value in ``best_estimator_``. Prediction, scoring and sampling
    delegate to that model.

    Each candidate is the model that a plain ``GaussianMixture`` with the same
    parameters fits: for ``init_params='kmeans'`` the k-means initialisation
    is computed once per number of components and shared by the covariance
    types, which saves work without changing any result.

    Parameters
    ----------
    n_components : int or iterable of int, default=(1, 2, ..., 10)
        The numbers of mixture components to try, e.g. ``range(1, 11)``.
        Values larger than the number of samples are skipped.

    covariance_type : {'full', 'tied', 'diag', 'spherical'} or list of them, \
            default=('full', 'tied', 'diag', 'spherical')
        The covariance types to try.

    criterion : {'bic', 'aic'}, default='bic'
        The information criterion that picks the model; lower is better.

    tol : float, default=1e-3
        The convergence threshold of each fit.

    reg_covar : float, default=1e-6
        Non-negative regularization added to the diagonal of covariance.

    max_iter : int, default=100
        The number of EM iterations to perform per initialisation.

    n_init : int, default=1
        The number of initializations of each fit. The best results are kept.

    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}, \
            default='kmeans'
        The method used to initialize the weights, the means and the
        precisions.

    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation. Every candidate is fitted with the same
        integer seed: ``random_state`` itself when it is an integer, otherwise
        one integer drawn from it at the start of :meth:`fit`. The seed is the
        ``random_state`` of ``best_estimator_``.

    n_jobs : int, default=None
        Number of threads in all. None uses Numba's current thread count (all
        threads unless changed); -1 means all threads. The candidates are
        fitted concurrently on up to ``n_jobs`` threads, each fit's kernels on
        its share of them; ``n_jobs=1`` fits them one after the other. The
        results are the same for any value.

    verbose : int, default=0
        With 1 or more, print one line per fitted candidate.

    Attributes
    ----------
    best_estimator_ : GaussianMixture
        The fitted candidate with the lowest criterion.

    n_components_ : int
        The number of components of ``best_estimator_``.

    covariance_type_ : str
        The covariance type of ``best_estimator_``.

    criterion_ : float
        The criterion of ``best_estimator_`` on the training data.

    results_ : dict of ndarray
        One entry per fitted candidate, in the order of ``n_components`` then
        ``covariance_type``, with the keys ``n_components``,
        ``covariance_type``, ``bic``, ``aic``, ``converged``, ``n_iter``,
        ``lower_bound`` and ``fit_time`` (seconds, including the candidate's
        share of the shared k-means initialisation). ``pandas.DataFrame``
        takes it as it is. A candidate whose fit failed (for instance with
        collapsed components) has NaN criteria.

    n_features_in_ : int
        Number of features seen during :term:`fit`.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during :term:`fit`, when ``X`` has string
        feature names.

    See Also
    --------
    GaussianMixture : One Gaussian mixture model fitted by EM.

    Notes
    -----
    The criteria are those of :meth:`GaussianMixture.bic` and
    :meth:`GaussianMixture.aic`. With ``sample_weight`` they use the weighted
    log-likelihood and count ``sum(sample_weight)`` samples, so integer
    weights score as repeated rows would.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgmm import GaussianMixtureIC
    >>> rng = np.random.RandomState(0)
    >>> X = np.vstack([rng.normal(0, 1, (100, 2)), rng.normal(8, 1, (100, 2))])
    >>> model = GaussianMixtureIC(n_components=range(1, 5), random_state=0).fit(X)
    >>> model.n_components_, model.covariance_type_
    (2, 'spherical')
    >>> model.predict([[0, 0], [8, 8]]).tolist() in ([0, 1], [1, 0])
    True
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left"), "array-like"],
        "covariance_type": [StrOptions(set(COVARIANCE_TYPES)), "array-like"],
        "criterion": [StrOptions({"bic", "aic"})],
        "tol": [Interval(Real, 0.0, None, closed="left")],
        "reg_covar": [Interval(Real, 0.0, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "init_params": [StrOptions(set(INIT_PARAMS))],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        n_components=tuple(range(1, 11)),
        *,
        covariance_type=COVARIANCE_TYPES,
        criterion="bic",
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        random_state=None,
        n_jobs=None,
        verbose=0,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.criterion = criterion
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose

    # ------------------------------------------------------------------
    # Fitting

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Fit every candidate and keep the one with the lowest criterion.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            List of n_features-dimensional data points. Each row corresponds
            to a single data point.

        y : Ignored
            Not used, present for API consistency by convention.

        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each row, passed to every fit; integer
            weights act as repeated rows.

        Returns
        -------
        self : object
            The fitted selector.
        """
        n_components = _check_n_components(self.n_components)
        covariance_types = _check_covariance_types(self.covariance_type)
        check_n_jobs(self.n_jobs)
        X = validate_data(
            self, X, dtype=[np.float64, np.float32], order="C", ensure_min_samples=2
        )
        if sample_weight is not None:
            sample_weight = _check_sample_weight(
                sample_weight, X, dtype=np.float64, ensure_non_negative=True
            )
            n_rows = int(np.count_nonzero(sample_weight))
        else:
            n_rows = X.shape[0]
        feasible = [k for k in n_components if k <= n_rows]
        if not feasible:
            raise ValueError(
                "Expected n_samples >= n_components for at least one candidate "
                f"but got n_components = {list(n_components)}, n_samples = {n_rows}"
            )
        seed = _seed(self.random_state)
        if self.verbose:
            announce_compiling()
        share_kmeans = self.init_params == "kmeans" and len(covariance_types) > 1

        groups = self._fit_groups(
            X, sample_weight, feasible, covariance_types, seed, share_kmeans
        )
        rows, models, errors = [], [], []
        for group_rows, group_models, group_errors in groups:
            rows += group_rows
            models += group_models
            errors += group_errors

        scores = np.array([row[self.criterion] for row in rows])
        if np.all(np.isnan(scores)):
            raise ValueError(
                "Every candidate failed to fit. First error: "
                + (errors[0] if errors else f"the {self.criterion} is NaN")
            )
        if errors:
            warnings.warn(
                f"{len(errors)} of {len(rows)} candidates failed to fit and were "
                "left out of the selection. First error: " + errors[0],
                UserWarning,
            )
        best = int(np.nanargmin(scores))
        self.best_estimator_ = models[best]
        self.n_components_ = int(rows[best]["n_components"])
        self.covariance_type_ = str(rows[best]["covariance_type"])
        self.criterion_ = float(scores[best])
        self.results_ = _as_table(rows)
        return self

    def _fit_groups(
        self, X, sample_weight, n_components, covariance_types, seed, share_kmeans
    ):
        """Fit every candidate; one (rows, models, errors) per n_components.

        The candidates of each number of components form a group (they share
        the k-means initialisation). With more than one thread and more than
        two groups, the groups run on a pool of worker threads, largest
        first, each fit's kernels on the worker's share of the threads: one
        fit of small data has too few blocks of rows to keep many threads
        busy, whole fits do. The smallest group runs first, on the calling
        thread: its kernels start Numba's threading layer, and the pool is
        used only if that layer allows parallel kernels on several Python
        threads at once (not 'workqueue'). Otherwise the groups run one after
        the other, each fit with all the threads.
        """

        def fit_group(k, n_jobs):
            with config_context(**config):
                return self._fit_group(
                    X, sample_weight, k, covariance_types, seed, share_kmeans, n_jobs
                )

        config = get_config()
        first, rest = n_components[0], sorted(n_components[1:], reverse=True)
        budget = thread_count(self.n_jobs)
        workers = min(budget, len(rest))
        if workers > 1:
            n_jobs = max(1, budget // workers)
            groups = {first: fit_group(first, n_jobs)}
            if _concurrent_kernels_supported():
                with ThreadPoolExecutor(workers) as pool:
                    futures = {k: pool.submit(fit_group, k, n_jobs) for k in rest}
                    groups.update((k, f.result()) for k, f in futures.items())
                return [groups[k] for k in n_components]
        else:
            groups = {first: fit_group(first, self.n_jobs)}
        groups.update((k, fit_group(k, self.n_jobs)) for k in rest)
        return [groups[k] for k in n_components]

    def _fit_group(
        self, X, sample_weight, k, covariance_types, seed, share_kmeans, n_jobs
    ):
        """Fit the candidates with ``k`` components; (rows, models, errors)."""
        rows, models, errors = [], [], []
        init_time = 0.0
        labels = None
        if share_kmeans:
            t0 = perf_counter()
            labels = _kmeans_labels(X, sample_weight, k, self.n_init, seed)
            init_time = (perf_counter() - t0) / len(covariance_types)
        for covariance_type in covariance_types:
            model = self._candidate(k, covariance_type, seed, n_jobs)
            t0 = perf_counter()
            try:
                if labels is None:
                    model.fit(X, sample_weight=sample_weight)
                else:
                    starts = [InitialAssignment(labels=run) for run in labels]
                    model._fit_from_assignments(X, sample_weight, starts)
            except ValueError as exc:  # e.g. collapsed components
                errors.append(f"n_components={k}, {covariance_type}: {exc}")
                model = None
            fit_time = perf_counter() - t0 + init_time
            row = _result_row(model, k, covariance_type, X, sample_weight)
            row["fit_time"] = fit_time
            if model is not None:
                # The thread count used for the fit changes nothing in the
                # model; later calls use the selector's.
                model.n_jobs = self.n_jobs
            rows.append(row)
            models.append(model)
            if self.verbose:
                _print_candidate(row, self.criterion)
        return rows, models, errors

    def _candidate(self, n_components, covariance_type, seed, n_jobs):
        params = {
            "n_components": n_components,
            "covariance_type": covariance_type,
            "tol": self.tol,
            "reg_covar": self.reg_covar,
            "max_iter": self.max_iter,
            "n_init": self.n_init,
            "init_params": self.init_params,
            "random_state": seed,
            "n_jobs": n_jobs,
        }
        return GaussianMixture(**params)

    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit the candidates, then predict the labels of X with the best.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            List of n_features-dimensional data points.

        y : Ignored
            Not used, present for API consistency by convention.

        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each row.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Component labels.
        """
        return self.fit(X, sample_weight=sample_weight).predict(X)

    # ------------------------------------------------------------------
    # Delegation to the best model

    def _validate_for_predict(self, X):
        check_is_fitted(self)
        return validate_data(
            self, X, dtype=[np.float64, np.float32], order="C", reset=False
        )

    def score_samples(self, X):
        """Log-likelihood of each sample under the best model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            List of n_features-dimensional data points.

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
            float32 when `X` and the best model are float32, float64
            otherwise, as in scikit-learn.
        """
        X = self._validate_for_predict(X)
        return self.best_estimator_.score_samples(X)

    def score(self, X, y=None):
        """Per-sample average log-likelihood of X under the best model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            List of n_features-dimensional data points.

        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        log_likelihood : float
        """
        X = self._validate_for_predict(X)
        return self.best_estimator_.score(X)

    def predict(self, X):
        """Most probable component of each sample under the best model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            List of n_features-dimensional data points.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        X = self._validate_for_predict(X)
        return self.best_estimator_.predict(X)

    def predict_proba(self, X):
        """Posterior probability of each component of the best model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            List of n_features-dimensional data points.

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components_)
            float32 when `X` and the best model are float32, float64
            otherwise, as in scikit-learn.
        """
        X = self._validate_for_predict(X)
        return self.best_estimator_.predict_proba(X)

    def sample(self, n_samples=1):
        """Generate random samples from the best model.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples to generate.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        return self.best_estimator_.sample(n_samples)

    def bic(self, X):
        """Bayesian information criterion of the best model on X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        bic : float
            The lower the better.
        """
        X = self._validate_for_predict(X)
        return self.best_estimator_.bic(X)

    def aic(self, X):
        """Akaike information criterion of the best model on X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        aic : float
            The lower the better.
        """
        X = self._validate_for_predict(X)
        return self.best_estimator_.aic(X)


# ----------------------------------------------------------------------
# Shared k-means initialisation


def _kmeans_labels(X, sample_weight, n_components, n_init, seed):
    """The k-means labels of each initialisation of a fit seeded with ``seed``.

    The random state is consumed as the fit consumes it: one k-means per
    initialisation, in order.  A fit started from these labels is, to the
    last bit, the fit that draws them itself.
    """
    random_state = check_random_state(seed)
    return [
        initial_assignment(
            X, sample_weight, n_components, "kmeans", random_state
        ).labels
        for _ in range(n_init)
    ]


# ----------------------------------------------------------------------
# Helpers


def _seed(random_state):
    """One integer seed for every candidate."""
    if isinstance(random_state, Integral) and not isinstance(random_state, bool):
        return int(random_state)
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


def _concurrent_kernels_supported():
    """Whether parallel kernels may run on several Python threads at once.

    Numba's 'workqueue' layer aborts the process when they do; 'omp' and
    'tbb' do not. The layer is only known once a parallel kernel has run.
    """
    try:
        return numba.threading_layer() != "workqueue"
    except ValueError:  # no parallel kernel has run yet
        return False


def _check_n_components(value):
    values = [value] if isinstance(value, Integral) else list(value)
    if not values:
        raise ValueError("n_components must hold at least one value, got none.")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, Integral) or v < 1:
            raise ValueError(
                f"n_components must be integers >= 1, got {v!r} in {value!r}."
            )
    return sorted({int(v) for v in values})


def _check_covariance_types(value):
    values = [value] if isinstance(value, str) else list(value)
    if not values:
        raise ValueError("covariance_type must hold at least one value, got none.")
    for v in values:
        if v not in COVARIANCE_TYPES:
            raise ValueError(
                f"covariance_type must be among {COVARIANCE_TYPES}, got {v!r}."
            )
    # Unique, in the order given.
    return list(dict.fromkeys(str(v) for v in values))


def _result_row(model, n_components, covariance_type, X, sample_weight):
    """One row of ``results_``: the criteria (weighted by ``sample_weight``
    when given) and the fit's convergence, or NaN criteria for a model that
    could not be fitted (``model`` None)."""
    row = {"n_components": n_components, "covariance_type": covariance_type}
    if model is None:
        row.update(
            bic=np.nan, aic=np.nan, converged=False, n_iter=0, lower_bound=np.nan
        )
        return row
    n_parameters = model._n_parameters()
    if sample_weight is None:
        # GaussianMixture.bic and .aic, from one pass over X.
        score = model.score(X)
        row["bic"] = bic_from_score(score, X.shape[0], n_parameters)
        row["aic"] = aic_from_score(score, X.shape[0], n_parameters)
    else:
        n_samples = float(sample_weight.sum())
        log_likelihood = float(sample_weight @ model.score_samples(X))
        row["bic"] = -2 * log_likelihood + n_parameters * math.log(n_samples)
        row["aic"] = -2 * log_likelihood + 2 * n_parameters
    row["converged"] = bool(model.converged_)
    row["n_iter"] = int(model.n_iter_)
    row["lower_bound"] = float(model.lower_bound_)
    return row


def _as_table(rows):
    table = {}
    for key in RESULT_KEYS:
        values = [row[key] for row in rows]
        if key == "covariance_type":
            table[key] = np.array(values, dtype=object)
        else:
            table[key] = np.array(values)
    return table


def _print_candidate(row, criterion):
    print(
        "[GaussianMixtureIC] n_components=%d, covariance_type=%s: %s=%.4f, "
        "n_iter=%d, %.3f s"
        % (
            row["n_components"],
            row["covariance_type"],
            criterion,
            row[criterion],
            row["n_iter"],
            row["fit_time"],
        )
    )
