"""Many small mixtures at once: the serial kernels, one group per thread.

Each group's rows are a contiguous slice of the rows sorted by group, read
in place by the single fit's serial kernels; a group of several blocks
(``BLOCK_ROWS`` rows) has its blocks summed in block order, as a single fit
sums them, in one thread.  ``fit_groups`` runs, for each group of a list
(largest first), exactly what ``GaussianMixture`` runs on that group alone:
the k-means start (``fastgmm.kernels._kmeans``), the initial moments, then the EM
loop of ``fastgmm.engine._em.fit_em`` over the same E-step block function and
M-step kernel.  The kernels here are serial; Python threads run them on
chunks of the list at once (``fastgmm.kernels._threads.over_groups``: they release
the GIL), which spares them Numba's parallel pipeline, tens of seconds of
compiling per covariance type for a kernel this size.  Every output is
written to its group's slot, so nothing is reduced across threads and the
result is the same for any number of threads.  The loop is compiled here
rather than driven from Python because a Python round trip per iteration
costs more than a small group's E-step.
"""

from typing import NamedTuple

import numpy as np

from ._config import EXACT_NJIT_OPTIONS
from ._copy import copy_into
from ._covariance import kernel_shape
from ._em_rules import em_iterations, is_better_run, moment_centres
from ._estep import (
    _EStep,
    _statistics_layout,
)
from ._kmeans import (
    _EMPTY_CLUSTER,
    KMEANS_MAX_ITER,
    KMEANS_TOL,
    _n_distinct,
    kmeans_run,
)
from ._mstep import _iteration_m_step, log_determinants
from ._numba_internals import empty, njit, zeros
from ._numpy_sums import _pairwise_sum
from ._reduction import ordered_block_sums
from ._specialise import CODE, kernel
from ._start import label_moments, start_parameters

# A group's ``status`` after ``fit_groups``.
FITTED = 0
ILL_DEFINED = 1  # a covariance was not positive definite
SINGLE_FIT = 2  # k-means left a cluster empty: the caller fits it in Python
# Set by the caller before ``fit_groups``: groups the kernel skips.
NOT_FITTED = 3


class GroupRows(NamedTuple):
    """Rows sorted by group: group ``g`` is ``X[bounds[g]:bounds[g + 1]]``."""

    X: np.ndarray
    # Row weights (float64 for EM, X's dtype for k-means); empty: all ones.
    weights: np.ndarray
    bounds: np.ndarray


class EMSettings(NamedTuple):
    """A single fit's settings; ``eps`` is 10 eps of X's dtype."""

    reg_covar: float
    eps: float
    tol: float
    max_iter: int
    n_init: int


class KMeansDraws(NamedTuple):
    """k-means++'s random numbers, drawn in Python as ``kmeans_labels`` draws
    them: per group (or one row for all) and run, the first centre's
    ``u`` and the ``uniforms`` of the later trials."""

    u: np.ndarray  # (1 or n_groups, n_init)
    uniforms: np.ndarray  # (1 or n_groups, n_init, n_uniforms)
    n_trials: int


class GroupStarts(NamedTuple):
    """Where each group's runs start.

    ``given[g]``: ``params`` holds the group's initial parameters; if not,
    they are the moments of the k-means ``labels`` of ``kmeans_groups``
    (``labels`` of shape (n_init, 0) when every start is given), whose
    ``empty_at[g]`` is the run that left a cluster empty (``n_init`` if
    none).  ``params`` is (weights, means, covariances, prec_chol,
    log_weights, log_det), each of shape (n_groups, n_init, ...) in the
    kernels' layout: the given parameters, or the buffers of the runs.
    ``lower_bounds[g]``: the bound the first change is measured from (-inf,
    or the previous fit's for a warm start).
    """

    given: np.ndarray
    labels: np.ndarray
    empty_at: np.ndarray
    params: tuple
    lower_bounds: np.ndarray


class GroupResults(NamedTuple):
    """Each group's kept run, written by ``fit_groups``.

    ``params`` as in ``GroupStarts``, of shape (n_groups, ...);
    ``lower_bounds`` of shape (n_groups, max_iter), NaN after the kept run's
    last iteration; ``n_iter``, ``lower_bound`` and ``converged`` are left as
    given when ``max_iter`` is 0.  ``status`` is read too: only FITTED groups
    are fitted.
    """

    params: tuple
    n_iter: np.ndarray
    lower_bound: np.ndarray
    converged: np.ndarray
    lower_bounds: np.ndarray
    status: np.ndarray
    few_distinct: np.ndarray


# k-means runs here for groups of at most one block of rows (larger ones in
# Python): the driver's copy for one block, which small fits run too.
_kmeans_run = kmeans_run.copy(one_block=True)


@kernel(**EXACT_NJIT_OPTIONS, helper=True)
def _label_start(X, weights64, labels, settings, total_weight, params):
    """``GaussianModel.initial_parameters`` of k-means labels, into ``params``
    (as ``GroupStarts.params``, one run's): the same two kernels
    (``fastgmm.kernels._start``).  Returns False for an ill-defined
    covariance.
    """
    moments = label_moments(
        X, weights64, labels, params[1].shape[0], settings.reg_covar, settings.eps,
        total_weight,
    )  # fmt: skip
    factors = empty(moments[2].shape, np.float64)
    return start_parameters(*moments, factors, params)


@kernel(**EXACT_NJIT_OPTIONS, helper=True)
def _em_iteration(state, n_iter, previous_lower_bound):
    """One iteration of a group's run (``em_iterations``' ``iterate``): the
    E-step over the group's rows in block order, the M-step into ``params``.

    ``state`` is (X, weights64, total_weight, settings, params, ref).
    Returns (ok, lower_bound); ok is False for an ill-defined covariance.
    """
    X, weights64, total_weight, settings, params, ref = state
    weights, means, covariances, prec_chol, log_weights, log_det = params
    n_components, n_features = means.shape
    shape = kernel_shape(CODE, n_components, n_features)
    size = n_components * (1 + n_features) + shape[0] * shape[1] * shape[2]
    moment_centres(CODE, weights, means, ref)
    e_step = _EStep(X, weights64, log_weights, means, prec_chol, log_det, ref)
    # The blocks' sums in block order, as a single fit adds them (on this
    # thread: ``over_groups`` runs each group on one).
    log_likelihood, flat = ordered_block_sums(e_step, X.shape[0], size, ref)
    nk, s1, s2 = _statistics_layout(flat, n_components, n_features, shape)
    ok, new_log_weights, new_log_det = _iteration_m_step(
        nk, s1, s2, ref, settings.reg_covar, settings.eps, weights, means,
        covariances, prec_chol,
    )  # fmt: skip
    if not ok:
        return False, previous_lower_bound
    copy_into(log_weights, new_log_weights)
    copy_into(log_det, new_log_det)
    return True, log_likelihood / total_weight


@kernel(**EXACT_NJIT_OPTIONS, helper=True)
def _em_run(X, weights64, total_weight, settings, lower_bound, params, lower_bounds):
    """One run of ``fit_em``'s loop (``em_iterations``) over a group's rows,
    updating the parameters ``params`` (as ``GroupStarts.params``, one
    run's) in place.

    Returns (ok, n_iter, lower_bound, converged); ok is False when an M-step
    met an ill-defined covariance.
    """
    ref = empty(params[1].shape, np.float64)
    state = (X, weights64, total_weight, settings, params, ref)
    return em_iterations(
        _em_iteration, state, lower_bound, settings.tol, settings.max_iter,
        lower_bounds,
    )  # fmt: skip


@njit(**EXACT_NJIT_OPTIONS)
def kmeans_groups(rows, order, starts, status, draws):
    """The k-means labels of every start ``fit_groups`` draws, group by group.

    Compiled once per dtype, not per variant: ``fit_groups`` of each
    covariance type reads the labels instead of compiling k-means again.
    For each group of ``order`` that is FITTED and not ``starts.given``, run
    ``r`` leaves its labels in ``starts.labels[r, bounds[g]:bounds[g + 1]]``;
    a run that leaves a cluster empty sets ``starts.empty_at[g] = r`` and
    ends the group's runs (its fit is done in Python).

    Parameters
    ----------
    rows : GroupRows
        With row weights in X's dtype.
    order : ndarray of int
        The groups to start, largest first.
    starts : GroupStarts
    status : ndarray of shape (n_groups,), int8
    draws : KMeansDraws
    """
    X, weights_x, bounds = rows
    labels, empty_at = starts.labels, starts.empty_at
    for i in range(order.shape[0]):
        g = order[i]
        if status[g] != FITTED or starts.given[g]:
            continue
        group = slice(bounds[g], bounds[g + 1])
        Xg = X[group]
        wx = weights_x[group] if weights_x.shape[0] else weights_x
        # KMeans's total weight: in the data's dtype, NumPy's sum.
        weight_x = Xg.dtype.type(Xg.shape[0])
        if wx.shape[0]:
            weight_x = _pairwise_sum(wx, Xg.dtype.type(0), np.bool_(False))
        d = g if draws.u.shape[0] > 1 else 0
        # Typed as from Python, not as literals: the driver's copy that
        # kmeans_labels compiles serves here too.
        first, max_iter = np.int64(-1), np.int64(KMEANS_MAX_ITER)
        for r in range(labels.shape[0]):
            state = _kmeans_run(
                Xg, wx, weight_x, first, draws.u[d, r], draws.uniforms[d, r],
                draws.n_trials, KMEANS_TOL, max_iter, labels[r, group],
            )[0]  # fmt: skip
            if state == _EMPTY_CLUSTER:
                empty_at[g] = r
                break


@kernel(**EXACT_NJIT_OPTIONS)
def fit_groups(rows, order, settings, starts, results):
    """Fit every group of ``order`` whose ``results.status`` is FITTED, in
    order, as ``GaussianMixture`` fits it alone.

    Parameters
    ----------
    rows : GroupRows
        With row weights in float64.
    order : ndarray of int
        The groups to fit, largest first.
    settings : EMSettings
    starts : GroupStarts
    results : GroupResults
        Written for each group fitted; its ``status`` becomes ILL_DEFINED
        or SINGLE_FIT for a group the kernel cannot fit.

    (The Python call passes ``code=``, the covariance type's code, which
    picks the copy compiled for it.)
    """
    X, weights64, bounds = rows
    n_iter, lower_bound, converged = (
        results.n_iter,
        results.lower_bound,
        results.converged,
    )
    status, few_distinct = results.status, results.few_distinct
    max_iter = settings.max_iter
    for i in range(order.shape[0]):
        g = order[i]
        if status[g] != FITTED:
            continue
        group = slice(bounds[g], bounds[g + 1])
        Xg = X[group]
        w64 = weights64[group] if weights64.shape[0] else weights64
        total_weight = np.float64(Xg.shape[0])
        if w64.shape[0]:
            total_weight = _pairwise_sum(w64, np.float64(0), np.bool_(False))
        run_bounds = empty(max_iter, np.float64)
        best = -np.inf
        for r in range(settings.n_init):
            params = _slot(starts.params, g, r)
            if not starts.given[g]:
                if starts.empty_at[g] == r:
                    status[g] = SINGLE_FIT
                    break
                run_labels = starts.labels[r, group]
                n_clusters = params[1].shape[0]
                few_distinct[g] |= _n_distinct(run_labels, n_clusters) < n_clusters
                if not _label_start(
                    Xg, w64, run_labels, settings, total_weight, params
                ):  # fmt: skip
                    status[g] = ILL_DEFINED
                    break
            ok, run_iter, run_bound, run_converged = _em_run(
                Xg, w64, total_weight, settings, starts.lower_bounds[g], params,
                run_bounds,
            )  # fmt: skip
            if not ok:
                status[g] = ILL_DEFINED
                break
            if max_iter > 0 and not is_better_run(run_bound, best):
                continue
            # fit_em keeps the best bound, or without iterations the last start.
            if max_iter > 0:
                best = run_bound
                n_iter[g] = run_iter
                converged[g] = run_converged
                lower_bound[g] = run_bound
                copy_into(results.lower_bounds[g, :run_iter], run_bounds[:run_iter])
                results.lower_bounds[g, run_iter:] = np.nan
            out = results.params
            copy_into(out[0][g], params[0])
            copy_into(out[1][g], params[1])
            copy_into(out[2][g], params[2])
            copy_into(out[3][g], params[3])
            copy_into(out[4][g], params[4])
            copy_into(out[5][g], params[5])


@njit(inline="always", **EXACT_NJIT_OPTIONS)
def _slot(params, g, r):
    """Run ``r`` of group ``g`` of a ``GroupStarts.params`` tuple."""
    return (
        params[0][g, r], params[1][g, r], params[2][g, r], params[3][g, r],
        params[4][g, r], params[5][g, r],
    )  # fmt: skip


@njit(**EXACT_NJIT_OPTIONS)
def move_rows(src, group_of_row, bounds, to_groups, out):
    """Rows into group order (stable), or back: a counting sort.

    Row ``i`` of group ``g`` goes to the next free slot of ``g``'s range
    ``bounds[g]:bounds[g + 1]`` (``to_groups``), or comes back from it.
    """
    cursor = empty(bounds.shape[0] - 1, bounds.dtype)
    copy_into(cursor, bounds[:-1])
    for i in range(src.shape[0]):
        g = group_of_row[i]
        p = cursor[g]
        cursor[g] += 1
        if to_groups:
            for j in range(src.shape[1]):
                out[p, j] = src[i, j]
        else:
            for j in range(src.shape[1]):
                out[i, j] = src[p, j]


@njit(**EXACT_NJIT_OPTIONS)
def split_rows(X, keys, n_parts, out, order):
    """Rows cut into ``n_parts`` pieces by ``keys % n_parts`` (stable): a
    counting sort, for a Dask block's rows on their way to the partitions
    of their groups.

    Writes the rows in piece order to ``out`` and their order to ``order``
    (``out = X[order]``); returns the pieces' bounds: piece ``p`` is rows
    ``bounds[p]:bounds[p + 1]``.  The caller allocates ``out`` and
    ``order`` with NumPy, which asks the system for huge pages for large
    arrays: at a block's size, faulting in fresh pages is most of the cost.
    """
    n_rows = X.shape[0]
    # Each row's piece, kept (an integer division per row is most of the
    # cost): ``& (n_parts - 1)`` is that remainder for a power of two.
    piece = empty(n_rows, np.int32)
    bounds = zeros(n_parts + 1, np.int64)
    mask = n_parts - 1
    power_of_two = n_parts & mask == 0
    for i in range(n_rows):
        p = keys[i] & mask if power_of_two else keys[i] % n_parts
        piece[i] = p
        bounds[p + 1] += 1
    for p in range(n_parts):
        bounds[p + 1] += bounds[p]
    cursor = empty(n_parts, np.int64)
    copy_into(cursor, bounds[:-1])
    for i in range(n_rows):
        at = cursor[piece[i]]
        cursor[piece[i]] += 1
        order[at] = i
        for j in range(X.shape[1]):
            out[at, j] = X[i, j]
    return bounds


@kernel(**EXACT_NJIT_OPTIONS)
def group_log_determinants(prec_chol, n_components):
    """``fastgmm.kernels._mstep.log_determinants`` of each group's factors."""
    out = empty((prec_chol.shape[0], n_components), np.float64)
    for g in range(prec_chol.shape[0]):
        copy_into(out[g], log_determinants(prec_chol[g], n_components))
    return out
