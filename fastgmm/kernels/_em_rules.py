"""The EM loop and its rules, written once for both of its drivers.

``fastgmm.engine._em.fit_em`` (in Python, over any model and data source)
and ``fastgmm.kernels._groups.fit_groups`` (compiled, many small Gaussian
mixtures in one call) run the same loop: centre the moments, E-step, M-step,
stop when the lower bound changes by less than ``tol``, keep the best run.
The loop (``em_iterations``, over an iteration given as a function, with
the convergence test) and the other rules are here, once.  Compiled callers
inline them (no compiled function of their own) and pass a compiled
iteration; Python calls their ``py_func``, the same code run by the
interpreter, with an iteration in Python.
"""

import numpy as np

from ._config import EXACT_NJIT_OPTIONS
from ._copy import assign
from ._covariance import TIED
from ._numba_internals import njit


@njit(inline="always", **EXACT_NJIT_OPTIONS)
def moment_centres(code, weights, means, out):
    """The point each component's moments are centred on in an E-step,
    written to ``out`` (float64, shape of ``means``).

    Each component's mean; for 'tied', the mixture's mean for all (one centre
    for the shared scatter), rounded to the means' dtype, so that kernels
    may subtract it in that dtype exactly (float64 weights, the Bayesian
    mixture's, would otherwise give a float64 centre that float32 kernels
    round anyway, away from the centre the M-step adds back).
    """
    if code == TIED:
        mixture_mean = np.dot(weights, means)
        rounded = np.empty(means.shape[1], means.dtype)
        assign(rounded, mixture_mean)
        for k in range(means.shape[0]):
            assign(out[k], rounded)
    else:
        assign(out, means)


@njit(inline="always", **EXACT_NJIT_OPTIONS)
def is_better_run(lower_bound, best_lower_bound):
    """Whether a finished run replaces the best so far: a higher lower bound,
    or the first run (scikit-learn keeps the first when every bound is
    -inf)."""
    return lower_bound > best_lower_bound or best_lower_bound == -np.inf


@njit(inline="always", **EXACT_NJIT_OPTIONS)
def em_iterations(iterate, state, lower_bound, tol, max_iter, lower_bounds):
    """One EM run: at most ``max_iter`` iterations, until the lower bound
    changes by less than ``tol``.

    A run converges when its lower bound changes by less than ``tol``.
    ``iterate(state, n_iter, previous_lower_bound)`` runs one iteration (the
    E-step, the M-step, the new bound), updating ``state``, and returns
    (ok, lower_bound); ok False (an ill-defined covariance) ends the run.
    Each iteration's bound is written to ``lower_bounds[n_iter - 1]``.

    Returns
    -------
    ok, n_iter, lower_bound, converged
    """
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        previous_lower_bound = lower_bound
        ok, lower_bound = iterate(state, n_iter, previous_lower_bound)
        if not ok:
            return False, n_iter, lower_bound, False
        lower_bounds[n_iter - 1] = lower_bound
        # Written here, not called: Python runs this function's py_func, and
        # a compiled helper called from it would be compiled for Python.
        if abs(lower_bound - previous_lower_bound) < tol:
            return True, n_iter, lower_bound, True
    return True, n_iter, lower_bound, False
