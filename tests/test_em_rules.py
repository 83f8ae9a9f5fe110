"""The EM loop's rules, shared by the Python engine and the batch's compiled
loop: the two forms give the same answers."""

import numpy as np
import pytest
from numba import njit

from fastgmm.kernels._covariance import COVARIANCE_TYPES, covariance
from fastgmm.kernels._em_rules import em_iterations, is_better_run, moment_centres


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_moment_centres_compiled_and_in_python_agree(covariance_type, dtype):
    rng = np.random.default_rng(0)
    weights = rng.dirichlet(np.ones(5)).astype(dtype)
    means = rng.normal(size=(5, 3)).astype(dtype)
    code = covariance(covariance_type).code
    compiled, python = np.empty((5, 3)), np.empty((5, 3))
    moment_centres(code, weights, means, compiled)
    moment_centres.py_func(code, weights, means, python)
    np.testing.assert_array_equal(compiled, python)
    if covariance_type == "tied":
        np.testing.assert_allclose(python, np.tile(weights @ means, (5, 1)), rtol=1e-6)
    else:
        np.testing.assert_array_equal(python, means)


def test_tied_centre_is_rounded_to_the_means_dtype():
    # float64 weights (the Bayesian mixture's) over float32 means: the centre
    # is a float32 value, the one float32 kernels subtract.
    rng = np.random.default_rng(1)
    weights = rng.dirichlet(np.ones(4))
    means = rng.normal(size=(4, 6)).astype(np.float32)
    centres = np.empty((4, 6))
    moment_centres.py_func(covariance("tied").code, weights, means, centres)
    exact = weights @ means.astype(np.float64)
    np.testing.assert_array_equal(centres[0], exact.astype(np.float32))
    assert not np.array_equal(centres[0], exact)


def test_the_run_kept_compiled_and_in_python_agree():
    values = [-np.inf, -3.0, -1e-12, 0.0, 1e-12, 2.5, np.inf]
    for a in values:
        for b in values:
            assert is_better_run(a, b) == is_better_run.py_func(a, b), (a, b)
    assert is_better_run.py_func(-np.inf, -np.inf)  # the first run is kept
    assert not is_better_run.py_func(-2.0, -1.0)


@njit
def _replayed_bound(bounds, n_iter, previous_lower_bound):
    # An iteration whose bound is the n-th of ``bounds``; NaN: ill-defined.
    value = bounds[n_iter - 1]
    return not np.isnan(value), value


@njit
def _compiled_run(bounds, tol, max_iter, lower_bounds):
    return em_iterations(_replayed_bound, bounds, -np.inf, tol, max_iter, lower_bounds)


@pytest.mark.parametrize(
    "bounds, tol, max_iter, expected",
    [
        # Stops at the first change below tol (the 4th iteration).
        ([-5.0, -2.0, -1.5, -1.4995, -1.4990], 1e-3, 5, (True, 4, -1.4995, True)),
        # max_iter reached first.
        ([-5.0, -2.0, -1.5, -1.4995, -1.4990], 1e-3, 3, (True, 3, -1.5, False)),
        # An ill-defined iteration ends the run.
        ([-5.0, np.nan, -1.0], 1e-3, 3, (False, 2, np.nan, False)),
        # No iteration: the start's bound.
        ([-5.0], 1e-3, 0, (True, 0, -np.inf, False)),
    ],
)
def test_em_iterations_compiled_and_in_python_agree(bounds, tol, max_iter, expected):
    bounds = np.array(bounds)
    compiled_bounds = np.full(max(max_iter, 1), np.nan)
    python_bounds = np.full(max(max_iter, 1), np.nan)
    compiled = _compiled_run(bounds, tol, max_iter, compiled_bounds)
    python = em_iterations.py_func(
        _replayed_bound.py_func, bounds, -np.inf, tol, max_iter, python_bounds
    )
    np.testing.assert_equal(compiled, python)
    np.testing.assert_equal(python, expected)
    np.testing.assert_equal(compiled_bounds, python_bounds)
