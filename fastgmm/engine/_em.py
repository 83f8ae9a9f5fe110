"""The EM engine: one driver for every mixture model and every data source.

``fit_em`` runs scikit-learn's EM loop (``BaseMixture.fit_predict``): one run
per initial state, E-step and M-step until the lower bound changes by less
than ``tol``, the run with the highest lower bound kept, a
``ConvergenceWarning`` when that run did not converge, and scikit-learn's
progress messages.  It works over three inputs:

- a *model* (``MixtureModel``): the few hooks in which mixtures differ,
  all at the level of sufficient statistics, so that one compiled E-step
  serves every model;
- a *data source* (``DataSource``): where the rows live (in memory, Dask),
  and the passes over them;
- the *initial states*, one per run, given by the caller (parameters drawn
  by the data source, computed from given labels or responsibilities, or a
  previous fit's).

The facades (``GaussianMixture``, ``GaussianMixtureIC``) validate, build the
three inputs and turn the result into fitted attributes.
"""

import warnings
from collections.abc import Iterable
from time import time
from typing import NamedTuple, Protocol

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ..kernels import em_iterations, is_better_run


class DataSource(Protocol):
    """Where the rows live; every pass over them goes through here.

    Implemented by ``fastgmm.engine._data.InMemoryData`` (an array in this process)
    and ``fastgmm.engine._dask.DaskData`` (a Dask array's row blocks, on a cluster).

    Attributes
    ----------
    dtype : numpy dtype
        float32 or float64, the dtype of the fitted parameters.
    n_samples : int
    total_weight : float
        The number of rows, or the sum of their weights.
    parallel : bool
        Whether the passes start threads in this process (BLAS is held to
        one thread meanwhile).
    """

    dtype: np.dtype
    n_samples: int
    total_weight: float
    parallel: bool

    def initial_moments(
        self, start, n_components, covariance_type, reg_covar, random_state
    ):
        """Weights, means and covariances (scikit-learn's layout) to start from.

        ``start`` is an ``init_params`` name, drawn from ``random_state``, or
        a ``fastgmm.engine._init.InitialAssignment`` the caller computed (in-memory
        data only).
        """

    def statistics(self, params, ref):
        """The E-step: (sum_i w_i log p(x_i), nk, s1, s2) of ``params``.

        Moments about ``ref``, as ``fastgmm.kernels._estep.em_statistics`` returns
        them, whatever ``params``' model: it passes its kernel arguments
        (``params.as_args()``, ``params.code``).
        """

    def labels(self, params):
        """The most probable component of each row."""

    def moments(self):
        """(mean, scatter) of all rows: the weighted mean, float64, of shape
        (n_features,), and sum_i w_i (x_i - mean)(x_i - mean)^T, of shape
        (n_features, n_features), upper triangle at least (priors of the
        Bayesian mixture)."""


class MixtureModel(Protocol):
    """The hooks in which mixture models differ.

    ``fastgmm.engine._gaussian_model.GaussianModel`` implements them for maximum
    likelihood, ``fastgmm.engine._bayesian_model.BayesianModel`` for the variational
    Bayesian mixture, which implements the same three:
    its parameters give the E-step the Cholesky factor of the expected
    precision and a per-component constant in place of the log-weight and
    log-determinant, its ``m_step`` computes the posterior parameters from
    the same statistics, and its ``lower_bound`` the evidence lower bound.
    """

    def reference(self, params):
        """The point (n_components, n_features) each component's moments are
        centred on in the next E-step."""

    def m_step(self, statistics, data):
        """New parameters from the E-step's (nk, s1, s2, ref)."""

    def lower_bound(self, log_likelihood, statistics, e_step_params, params, data):
        """The run's objective after an iteration.

        ``log_likelihood`` and ``statistics`` come from the E-step with
        ``e_step_params``; ``params`` are the new ones.
        """


class Start(NamedTuple):
    """The initial state of one EM run."""

    params: object
    # The lower bound the first iteration's change is measured from.
    lower_bound: float = -np.inf


class EMRun(NamedTuple):
    """The kept run of ``fit_em``."""

    params: object
    n_iter: int
    lower_bound: float
    lower_bounds: list
    converged: bool


def fit_em(
    model: MixtureModel,
    data: DataSource,
    starts: Iterable,
    *,
    tol: float,
    max_iter: int,
    progress=None,
) -> EMRun:
    """Run EM from each initial state; return the run with the best bound.

    Parameters
    ----------
    model : MixtureModel
    data : DataSource
    starts : iterable of Start
        One per run, consumed lazily: a run's initial state is drawn after
        the previous run ended, as scikit-learn draws it.
    tol : float
        A run converges when its lower bound changes by less than this.
    max_iter : int
        Iterations per run; with 0, the last initial state is the model.
    progress : Progress, optional
        Prints scikit-learn's progress messages.

    Returns
    -------
    EMRun
        With ``lower_bound=-inf`` and ``n_iter=0`` when ``max_iter`` is 0.
    """
    progress = progress or Progress(0, 1)
    best_params, best_n_iter, best_lower_bounds = None, 0, []
    max_lower_bound, best_converged = -np.inf, False
    for index, (params, lower_bound) in enumerate(starts):
        progress.init_begin(index)
        run = _Run(model, data, params, progress)
        lower_bounds = _GrowingList()
        _, n_iter, lower_bound, converged = em_iterations.py_func(
            run.iterate, None, lower_bound, tol, max_iter, lower_bounds
        )
        params = run.params
        if max_iter == 0:
            # Without iterations the initial parameters are the model.
            best_params = params
            continue
        progress.init_end(lower_bound, converged)
        if is_better_run.py_func(lower_bound, max_lower_bound):
            max_lower_bound = lower_bound
            best_params, best_n_iter = params, n_iter
            best_lower_bounds, best_converged = list(lower_bounds), converged
    if not best_converged and max_iter > 0:
        warnings.warn(
            "Best performing initialization did not converge. "
            "Try different init parameters, or increase max_iter, "
            "tol, or check for degenerate data.",
            ConvergenceWarning,
        )
    return EMRun(
        best_params, best_n_iter, max_lower_bound, best_lower_bounds, best_converged
    )


class _GrowingList(list):
    """A list that ``em_iterations`` writes by index, one past its end each
    time: the bounds of a run, without allocating ``max_iter`` slots."""

    def __setitem__(self, index, value):
        if index == len(self):
            self.append(value)
        else:
            super().__setitem__(index, value)


class _Run:
    """One run's iteration for ``em_iterations`` (``fastgmm.kernels``): the
    model's hooks over the data source, the parameters kept here."""

    def __init__(self, model, data, params, progress):
        self.model, self.data = model, data
        self.params, self.progress = params, progress

    def iterate(self, state, n_iter, previous_lower_bound):
        """E-step, M-step and lower bound; returns (True, lower_bound)."""
        model, data = self.model, self.data
        ref = model.reference(self.params)
        log_likelihood, nk, s1, s2 = data.statistics(self.params, ref)
        statistics = (nk, s1, s2, ref)
        e_step_params, self.params = self.params, model.m_step(statistics, data)
        lower_bound = model.lower_bound(
            log_likelihood, statistics, e_step_params, self.params, data
        )
        if self.progress.verbose:
            self.progress.iteration_end(n_iter, lower_bound - previous_lower_bound)
        return True, lower_bound


class Progress:
    """scikit-learn's progress messages of an EM fit.

    Parameters
    ----------
    verbose : int
        1 prints each initialisation and every ``verbose_interval``-th
        iteration; 2 or more adds the times and the lower bound's change.
    verbose_interval : int
    """

    def __init__(self, verbose, verbose_interval):
        self.verbose = verbose
        self.verbose_interval = verbose_interval

    def init_begin(self, n_init):
        if self.verbose >= 1:
            print("Initialization %d" % n_init)
        if self.verbose >= 2:
            self._init_prev_time = time()
            self._iter_prev_time = self._init_prev_time

    def iteration_end(self, n_iter, diff_ll):
        if n_iter % self.verbose_interval == 0:
            if self.verbose == 1:
                print("  Iteration %d" % n_iter)
            elif self.verbose >= 2:
                cur_time = time()
                print(
                    "  Iteration %d\t time lapse %.5fs\t ll change %.5f"
                    % (n_iter, cur_time - self._iter_prev_time, diff_ll)
                )
                self._iter_prev_time = cur_time

    def init_end(self, lb, init_has_converged):
        converged_msg = "converged" if init_has_converged else "did not converge"
        if self.verbose == 1:
            print(f"Initialization {converged_msg}.")
        elif self.verbose >= 2:
            t = time() - self._init_prev_time
            print(
                f"Initialization {converged_msg}. time lapse {t:.5f}s\t lower bound"
                f" {lb:.5f}."
            )
