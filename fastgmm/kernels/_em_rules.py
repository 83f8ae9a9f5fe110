"""The EM loop's rules, written once for both of its drivers.

``fastgmm.engine._em.fit_em`` (in Python, over any model and data source)
and ``fastgmm.kernels._groups.fit_groups`` (compiled, many small Gaussian
mixtures in one call) run the same loop: centre the moments, E-step, M-step,
stop when the lower bound changes by less than ``tol``, keep the best run.
The rules they share are here, once.  Compiled callers inline them (no
compiled function of their own); Python calls their ``py_func``, the same
code run by the interpreter.
"""

import numpy as np

from ._config import EXACT_NJIT_OPTIONS
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
    # Element loops, not slice assignments: compiled, those would bring
    # Numba's broadcast error formatting (most of a second of compiling);
    # in Python they are a few microseconds for a mixture's means.
    n_components, n_features = means.shape
    if code == TIED:
        mixture_mean = np.dot(weights, means)
        rounded = np.empty(n_features, means.dtype)
        for i in range(n_features):
            rounded[i] = mixture_mean[i]
        for k in range(n_components):
            for i in range(n_features):
                out[k, i] = rounded[i]
    else:
        for k in range(n_components):
            for i in range(n_features):
                out[k, i] = means[k, i]


@njit(inline="always", **EXACT_NJIT_OPTIONS)
def has_converged(lower_bound, previous_lower_bound, tol):
    """Whether a run stops: its lower bound changed by less than ``tol``."""
    return abs(lower_bound - previous_lower_bound) < tol


@njit(inline="always", **EXACT_NJIT_OPTIONS)
def is_better_run(lower_bound, best_lower_bound):
    """Whether a finished run replaces the best so far: a higher lower bound,
    or the first run (scikit-learn keeps the first when every bound is
    -inf)."""
    return lower_bound > best_lower_bound or best_lower_bound == -np.inf
