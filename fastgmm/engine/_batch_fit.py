"""Many small mixtures in one call: the engine's side of
``BatchGaussianMixture``.

The rows are sorted by group (``GroupLayout``); ``BatchFit`` draws each
group's starts as ``GaussianMixture`` draws them (k-means in the compiled
``kmeans_groups`` for groups of one block of rows, in Python for larger
ones, or given), runs the compiled ``fit_groups`` on chunks of groups in
threads, and fits in Python (``fit_em``) the groups whose k-means start
left a cluster empty.  The estimator validates, picks the number of
components and turns the results into fitted attributes.
"""

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ..kernels import (
    BLOCK_ROWS,
    FITTED,
    ILL_DEFINED,
    NOT_FITTED,
    SINGLE_FIT,
    EMSettings,
    GroupResults,
    GroupRows,
    GroupStarts,
    KMeansDraws,
    covariance,
    empty_component_guard,
    fit_groups,
    kernel_threads,
    kmeans_groups,
    kmeans_labels,
    move_rows,
    n_distinct_labels,
    over_groups,
    parameter_arrays,
)
from ._data import InMemoryData
from ._em import Start, fit_em
from ._gaussian_model import GaussianModel
from ._init import InitialAssignment
from ._parameters import MixtureParameters
from ._validation import (
    check_means,
    check_precisions,
    check_random_state,
    check_weights,
    is_seed,
    sum_is_finite,
)


class ReplayedDraws:
    """Stands for a RandomState in ``kmeans_labels``: returns recorded draws."""

    def __init__(self, draws):
        self._draws = list(draws)

    def random_sample(self, size=None):
        return self._draws.pop(0)


class GroupLayout:
    """Rows sorted by group (stable): group g is rows bounds[g]:bounds[g + 1].

    Keeps each row's group (int32), from which the rows are moved in and out
    of group order by a counting sort: no argsort, and no index array beside
    the sorted copy.
    """

    def __init__(self, group_of_row, n_groups, n_rows):
        if group_of_row is None:
            # Equal groups, in order (a 3-D X).
            self.counts = np.full(n_groups, n_rows // max(n_groups, 1))
            self.bounds = np.arange(n_groups + 1, dtype=np.int64) * self.counts[:1]
            self.sorted, self.group_of_row = True, None
            return
        self.counts = np.bincount(group_of_row, minlength=n_groups)
        self.bounds = np.concatenate([[0], np.cumsum(self.counts)]).astype(np.int64)
        self.sorted = bool(np.all(group_of_row[:-1] <= group_of_row[1:]))
        self.group_of_row = None if self.sorted else group_of_row

    def sorted_rows(self, a):
        """``a`` (rows first) in group order."""
        return a if self.sorted else self._permuted(a, to_groups=True)

    def unsorted_rows(self, a):
        """Rows in group order back in the original order."""
        if self.sorted or len(a) == 0:
            return a
        return self._permuted(a, to_groups=False)

    def _permuted(self, a, to_groups):
        out = np.empty_like(a)
        move_rows(
            np.ascontiguousarray(a).reshape(len(a), -1), self.group_of_row,
            self.bounds, to_groups, out.reshape(len(a), -1),
        )  # fmt: skip
        return out

    def largest_first(self, mask):
        groups = np.flatnonzero(mask)
        return groups[np.argsort(-self.counts[groups], kind="stable")]


class BatchFit:
    """One ``BatchGaussianMixture.fit``: starts, kernels, the groups fitted alone."""

    def __init__(self, estimator, X, sample_weight, layout, warm, n_components):
        self.est = estimator
        self.n_components = n_components
        self.X = X
        self.sample_weight = sample_weight
        self.layout = layout
        self.warm = warm
        n_groups = len(layout.counts)
        n_features = X.shape[1]
        self.kind = covariance(estimator.covariance_type)
        shape = self.kind.kernel_shape(n_components, n_features)
        self.n_init = 1 if warm else estimator.n_init
        dtype = X.dtype
        self.out = parameter_arrays((n_groups,), n_components, n_features, shape, dtype)
        self.n_iter = np.zeros(n_groups, dtype=np.int64)
        self.lower_bound = np.full(n_groups, -np.inf)
        self.converged = np.zeros(n_groups, dtype=np.bool_)
        self.lower_bounds = np.full((n_groups, estimator.max_iter), np.nan)
        self.few_distinct = np.zeros(n_groups, dtype=np.bool_)
        self.start_lower_bounds = np.full(n_groups, -np.inf)
        self.status_names = np.full(n_groups, "fitted", dtype=object)
        self._check_groups()
        self.status = np.where(
            self.status_names == "fitted", FITTED, NOT_FITTED
        ).astype(np.int8)

    def _rows(self, a, g):
        return a[self.layout.bounds[g] : self.layout.bounds[g + 1]]

    def _check_groups(self):
        """Groups that a separate fit would refuse, and why."""
        counts = self.layout.counts
        names = self.status_names
        names[counts < max(2, self.n_components)] = "too_few_rows"
        starts = self.layout.bounds[:-1]
        if not sum_is_finite(self.X):
            finite_rows = np.isfinite(self.X).all(axis=1)
            non_finite = np.add.reduceat((~finite_rows).astype(np.intp), starts)
            names[(non_finite > 0) & (names == "fitted")] = "non_finite"
        if self.sample_weight is not None:
            positive = np.add.reduceat((self.sample_weight > 0).astype(np.intp), starts)
            names[(positive < self.n_components) & (names == "fitted")] = (
                "too_few_weights"
            )

    def _model(self, g):
        est = self.est
        n_features = self.X.shape[1]
        weights = group_value(est.weights_init, "weights_init", g, est)
        means = group_value(est.means_init, "means_init", g, est)
        precisions = group_value(est.precisions_init, "precisions_init", g, est)
        if weights is not None:
            weights = check_weights(weights, self.n_components)
        if means is not None:
            means = check_means(means, self.n_components, n_features)
        if precisions is not None:
            precisions = check_precisions(
                precisions, est.covariance_type, self.n_components, n_features
            )
        return GaussianModel(
            self.n_components, est.covariance_type, est.reg_covar, weights, means,
            precisions,
        )  # fmt: skip

    def _data(self, g):
        weights = None
        if self.sample_weight is not None:
            weights = self._rows(self.sample_weight, g)
        return InMemoryData(self._rows(self.X, g), weights)

    def run(self):
        """Fit every group: the starts (k-means drawn as ``GaussianMixture``
        draws them, in the kernel for groups of one block and in Python for
        larger ones, or given), then the EM runs of ``fit_groups``, groups
        in threads."""
        est = self.est
        n_groups = len(self.layout.counts)
        drawn, draws, starts, given = self._starts()
        in_kernel = self.status == FITTED
        weights64 = np.empty(0) if self.sample_weight is None else self.sample_weight
        rows = GroupRows(self.X, weights64, self.layout.bounds)
        settings = EMSettings(
            float(est.reg_covar), empty_component_guard(self.X.dtype),
            float(est.tol), int(est.max_iter), self.n_init,
        )  # fmt: skip
        order = self.layout.largest_first(in_kernel)
        # k-means runs first, for every group: its kernel is compiled once per
        # dtype, not once per covariance type as part of fit_groups.
        group_starts = GroupStarts(
            given,
            np.empty((self.n_init, len(self.X) if drawn else 0), dtype=np.int32),
            np.full(n_groups, self.n_init, dtype=np.intp),
            starts,
            self.start_lower_bounds,
        )
        results = GroupResults(
            self.out, self.n_iter, self.lower_bound, self.converged,
            self.lower_bounds, self.status, self.few_distinct,
        )  # fmt: skip
        kmeans_rows = rows._replace(weights=weights64.astype(self.X.dtype))

        def start(chunk):
            kmeans_groups(kmeans_rows, chunk, group_starts, self.status, draws)

        # The copy compiled for this covariance type and number of features.
        fit_kernel = fit_groups.copy_for(self.X, self.kind.code)

        def fit(chunk):
            fit_kernel(rows, chunk, settings, group_starts, results)

        with kernel_threads(est.n_jobs):
            if drawn:
                over_groups(start, order, est.n_jobs)
            over_groups(fit, order, est.n_jobs)
        self.status_names[self.status == ILL_DEFINED] = "ill_defined"
        self._fit_single_fits(draws)

    def _fit_single_fits(self, draws):
        """The groups whose k-means left a cluster empty, as single fits."""
        for g in np.flatnonzero(self.status == SINGLE_FIT):
            # k-means left a cluster empty: relocating it is Python code.
            model, data = self._model(g), self._data(g)
            replay = self._replay(g, draws)
            group_starts = (
                Start(model.initial_parameters(data, "kmeans", replay))
                for _ in range(self.n_init)
            )
            self._fit_alone(g, group_starts)

    def _starts(self):
        """Where each group's runs start: k-means labels drawn as
        ``GaussianMixture`` draws them (in Python here for groups of more
        than a block of rows; ``kmeans_groups`` draws the others), or the
        starts given or drawn otherwise, in Python.

        Returns (drawn, draws, starts, given): whether k-means draws the
        starts, its random numbers, the parameter buffers and which groups
        have their starts given.
        """
        est = self.est
        n_groups = len(self.layout.counts)
        fitted = self.status == FITTED
        drawn = (
            est.init_params == "kmeans"
            and not self.warm
            and est.weights_init is None
            and est.means_init is None
            and est.precisions_init is None
        )
        n_features = self.X.shape[1]
        shape = self.kind.kernel_shape(self.n_components, n_features)
        starts = parameter_arrays(
            (n_groups, self.n_init), self.n_components, n_features, shape, self.X.dtype
        )
        given = np.zeros(n_groups, dtype=np.bool_)
        draws = KMeansDraws(np.empty((0, 0)), np.empty((0, 0, 0)), 0)
        if drawn:
            draws = self._kmeans_draws(fitted)
            # More than a block of rows: k-means here, groups side by side in
            # threads; the EM runs in the kernel with the others.
            large = fitted & (self.layout.counts > BLOCK_ROWS)
            self._kmeans_starts(starts, given, large, draws)
        else:
            seed = est.random_state
            shared = None if is_seed(seed) else check_random_state(seed)
            self._python_starts(
                starts, given, np.flatnonzero(fitted),
                lambda g: check_random_state(seed) if shared is None else shared,
            )  # fmt: skip
        return drawn, draws, starts, given

    def _replay(self, g, draws):
        """Group g's k-means++ draws, as ``kmeans_labels`` asks for them."""
        d = g if len(draws.u) > 1 else 0
        return ReplayedDraws(
            x for r in range(self.n_init) for x in (draws.u[d, r], draws.uniforms[d, r])
        )

    def _kmeans_draws(self, fitted):
        """k-means++'s draws of every initialisation, as separate fits draw them.

        An integer seed gives every group the same draws (one row); otherwise
        the generator is consumed group after group.
        """
        est = self.est
        # kmeans_plusplus's trials per centre after the first.
        n_trials = 2 + int(np.log(self.n_components))
        n_uniforms = (self.n_components - 1) * n_trials
        seed = est.random_state
        rows = 1 if is_seed(seed) else len(self.layout.counts)
        draws = KMeansDraws(
            np.zeros((rows, self.n_init)),
            np.zeros((rows, self.n_init, n_uniforms)),
            n_trials,
        )
        random_state = check_random_state(seed)
        for g in range(rows):
            if rows > 1 and not fitted[g]:
                continue  # a separate fit would fail before drawing
            for r in range(self.n_init):
                draws.u[g, r] = random_state.random_sample()
                draws.uniforms[g, r] = random_state.random_sample(n_uniforms)
        return draws

    def _kmeans_starts(self, starts, given, groups, draws):
        """k-means starts of the ``groups`` mask (more than a block of rows each),
        computed here with the draws ``draws`` replayed, groups side by side
        in threads.

        Each group's k-means passes run on its thread, their sums in block
        order, as on any number of threads: the labels are those of a
        separate fit.  A pass over a few blocks gains little from threads
        of its own, while groups side by side keep every thread busy.
        """
        est = self.est
        k = self.n_components

        def start(chunk):
            for g in chunk:
                replay = self._replay(g, draws)
                model, data = self._model(g), self._data(g)

                def run_start(r, g=g, model=model, data=data, replay=replay):
                    labels = kmeans_labels(
                        data.X, k, data.sample_weight, replay, warn=False
                    )
                    if n_distinct_labels(labels, k) < k:
                        self.few_distinct[g] = True
                    assignment = InitialAssignment(labels=labels)
                    return model.initial_parameters(data, assignment, replay)

                self._store_starts(g, starts, given, run_start)

        with kernel_threads(est.n_jobs):
            over_groups(start, self.layout.largest_first(groups), est.n_jobs)

    def _python_starts(self, starts, given, groups, random_state_of):
        """Initial parameters of ``groups``, computed here, one group at a time.

        Written to ``starts`` (``given`` marks them) for the kernel's EM; the
        draws come from ``random_state_of(g)``.
        """
        est = self.est
        for g in groups:
            random_state = random_state_of(g)
            model, data = self._model(g), self._data(g)

            def run_start(r, g=g, model=model, data=data, random_state=random_state):
                if self.warm:
                    self.start_lower_bounds[g] = est.lower_bound_[g]
                    return fitted_group_parameters(self.est, g)
                return model.initial_parameters(data, est.init_params, random_state)

            with (
                kernel_threads(est.n_jobs, data.parallel),
                warnings.catch_warnings(record=True) as caught,
            ):
                warnings.simplefilter("always", ConvergenceWarning)
                stored = self._store_starts(g, starts, given, run_start)
            if stored:
                self.few_distinct[g] = any(
                    issubclass(w.category, ConvergenceWarning) for w in caught
                )

    def _store_starts(self, g, starts, given, run_start):
        """Group g's initial parameters of each run, ``run_start(r)``, stored
        in ``starts`` and marked ``given``; an ill-defined covariance marks
        the group instead.  Returns whether they were stored."""
        try:
            for r in range(self.n_init):
                store_parameters(starts, (g, r), run_start(r))
        except ValueError:
            self.status[g] = ILL_DEFINED
            self.status_names[g] = "ill_defined"
            return False
        given[g] = True
        return True

    def _fit_alone(self, g, group_starts):
        """A group fitted by the single-fit engine (multi-threaded kernels)."""
        est = self.est
        model, data = self._model(g), self._data(g)
        try:
            with kernel_threads(est.n_jobs, data.parallel), warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                run = fit_em(
                    model, data, group_starts, tol=est.tol, max_iter=est.max_iter
                )
        except ValueError:
            self.status_names[g] = "ill_defined"
            return
        self.status[g] = FITTED
        store_parameters(self.out, (g,), run.params)
        self.n_iter[g] = run.n_iter
        self.lower_bound[g] = run.lower_bound
        self.converged[g] = run.converged
        self.lower_bounds[g] = np.nan
        self.lower_bounds[g, : len(run.lower_bounds)] = run.lower_bounds


def store_parameters(arrays, index, params):
    """``MixtureParameters`` into the slot ``index`` of ``parameter_arrays``."""
    values = (
        params.weights, params.means, params.covariances3, params.prec_chol,
        params.log_weights, params.log_det,
    )  # fmt: skip
    for array, value in zip(arrays, values):
        array[index] = value


def group_value(value, name, g, est):
    """A ``*_init`` parameter for group ``g``: shared, or the g-th of a stack."""
    if value is None:
        return None
    value = np.asarray(value)
    single = {"weights_init": 1, "means_init": 2}.get(
        name, covariance(est.covariance_type).ndim
    )
    if value.ndim == single + 1:
        if value.shape[0] != len(est.groups_):
            raise ValueError(
                f"{name} has a leading axis of length {value.shape[0]}, "
                f"but there are {len(est.groups_)} groups."
            )
        return value[g]
    return value


def fitted_group_parameters(estimator, g):
    """Group g's fitted parameters of a fitted ``BatchGaussianMixture``, to
    start a warm fit from."""
    return MixtureParameters.from_arrays(
        estimator.weights_[g], estimator.means_[g], estimator.precisions_cholesky_[g],
        estimator.covariance_type, estimator.covariances_[g],
    )  # fmt: skip
