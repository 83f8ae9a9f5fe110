"""The EM loop's rules, shared by the Python engine and the batch's compiled
loop: the two forms give the same answers."""

import numpy as np
import pytest

from fastgmm.kernels._covariance import COVARIANCE_TYPES, covariance
from fastgmm.kernels._em_rules import has_converged, is_better_run, moment_centres


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


@pytest.mark.parametrize("rule", [has_converged, is_better_run])
def test_loop_rules_compiled_and_in_python_agree(rule):
    values = [-np.inf, -3.0, -1e-12, 0.0, 1e-12, 2.5, np.inf]
    for a in values:
        for b in values:
            args = (a, b, 1e-3) if rule is has_converged else (a, b)
            assert rule(*args) == rule.py_func(*args), (a, b)
    assert is_better_run.py_func(-np.inf, -np.inf)  # the first run is kept
    assert not is_better_run.py_func(-2.0, -1.0)
    assert has_converged.py_func(-1.0, -1.0005, 1e-3)
    assert not has_converged.py_func(-1.0, -1.5, 1e-3)
