"""Numerical robustness, determinism across threads, and lazy compilation."""

import copy
import json
import os
import subprocess
import sys
import textwrap
import warnings

import numba
import numpy as np
import pytest
from conftest import (
    COVARIANCE_TYPES,
    ILL_DEFINED,
    PARAMETER_ATTRIBUTES,
    assert_valid_model,
    fit,
    load_dataset,
    make_explicit_init,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.exceptions import ConvergenceWarning

import fastgmm

# --------------------------------------------------------------------------
# Offset stability: a constant shift of the data must only shift the means.
# scikit-learn's one-pass (E[x^2] - E[x]^2) formulas fail this for
# tied/diag/spherical, so the reference here is fastgmm on the unshifted data.
# The reference is fitted on (X + offset) - offset, i.e. X with the rounding
# it gets at the offset (exact in floating point), so that only the
# algorithm's own error is measured, not the rounding of the data.


def at_offset(X, offset):
    """X shifted to the offset, and X as rounded there, moved back (exactly)."""
    X_moved = X + offset
    return X_moved, X_moved - offset


def assert_offset_invariant(shifted, reference, offset, X):
    assert shifted.n_iter_ == reference.n_iter_
    np.testing.assert_allclose(shifted.lower_bound_, reference.lower_bound_, rtol=1e-6)
    np.testing.assert_allclose(shifted.weights_, reference.weights_, rtol=1e-6)
    np.testing.assert_allclose(
        shifted.means_ - offset, reference.means_, rtol=0, atol=1e-6
    )
    # Near-zero entries get an absolute slack: at 1e8 the means themselves are
    # only representable to ulp(1e8) = 1.5e-8, about 1e-8 of the data spread.
    for name in ("covariances_", "precisions_", "precisions_cholesky_"):
        expected = getattr(reference, name)
        np.testing.assert_allclose(
            getattr(shifted, name),
            expected,
            rtol=1e-6,
            atol=1e-7 * np.max(np.abs(expected)),
            err_msg=name,
        )
    np.testing.assert_array_equal(shifted.predict(X + offset), reference.predict(X))


@pytest.mark.parametrize("offset", [1e6, 1e8])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_offset_stability_from_explicit_init(covariance_type, offset):
    X_moved, X = at_offset(load_dataset("iris"), offset)
    init = make_explicit_init(X, 3, covariance_type)
    reference = fit(X, n_components=3, covariance_type=covariance_type, **init)
    init["means_init"] = init["means_init"] + offset
    shifted = fit(X_moved, n_components=3, covariance_type=covariance_type, **init)
    assert_offset_invariant(shifted, reference, offset, X)


@pytest.mark.parametrize("offset", [1e6, 1e8])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_offset_stability_with_default_init(covariance_type, offset):
    # The default k-means initialisation and every EM step after it.
    X_moved, X = at_offset(load_dataset("iris"), offset)
    params = dict(n_components=3, covariance_type=covariance_type, random_state=0)
    assert_offset_invariant(fit(X_moved, **params), fit(X, **params), offset, X)


# Only "full": from one-row-per-component responsibilities, scikit-learn's
# tied, diag and spherical initial covariances use its uncentred formulas
# (X.T @ X over all rows; sum r x**2 / nk - means**2), whose result depends on
# the offset, and fastgmm reproduces them for parity (EM steps are checked for
# every type above).
@pytest.mark.parametrize("offset", [1e6, 1e8])
@pytest.mark.parametrize("covariance_type", ["full"])
def test_offset_stability_from_random_rows(covariance_type, offset):
    X_moved, X = at_offset(load_dataset("separated_blobs"), offset)
    params = dict(
        n_components=3,
        covariance_type=covariance_type,
        init_params="random_from_data",
        random_state=0,
        # Each component starts from a single row; a larger reg_covar keeps
        # that first step well-conditioned so both runs follow the same path.
        reg_covar=1e-3,
    )
    reference = fit(X, **params)
    shifted = fit(X_moved, **params)
    assert_offset_invariant(shifted, reference, offset, X)


@pytest.mark.parametrize("offset", [1e6, 1e8])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_offset_stability_of_prediction(covariance_type, offset):
    # The same model moved far from the origin must score the moved data like
    # the original model scores the original data.  Only the E-step is
    # involved; the data's own rounding at the offset bounds the agreement.
    X_moved, X_rounded = at_offset(load_dataset("blobs"), offset)
    reference = fit(
        X_rounded, n_components=4, covariance_type=covariance_type, random_state=0
    )
    moved = copy.deepcopy(reference)
    moved.means_ = reference.means_ + offset
    np.testing.assert_allclose(
        moved.score_samples(X_moved),
        reference.score_samples(X_rounded),
        rtol=1e-7,
        atol=1e-7,
    )
    np.testing.assert_allclose(
        moved.predict_proba(X_moved),
        reference.predict_proba(X_rounded),
        rtol=1e-6,
        atol=1e-7,
    )
    np.testing.assert_array_equal(moved.predict(X_moved), reference.predict(X_rounded))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_scale_equivariance(covariance_type):
    # Scaling by a power of two is exact in floating point: X * c with
    # reg_covar * c**2 must give means * c and covariances * c**2, and the
    # mean log-likelihood drops by n_features * log(c).
    X = load_dataset("iris")
    n_features = X.shape[1]
    for c in (2.0**-12, 2.0**12):
        init = make_explicit_init(X, 3, covariance_type)
        reference = fit(X, n_components=3, covariance_type=covariance_type, **init)
        init["means_init"] = init["means_init"] * c
        init["precisions_init"] = init["precisions_init"] / c**2
        scaled = fit(
            X * c,
            n_components=3,
            covariance_type=covariance_type,
            reg_covar=1e-6 * c**2,
            **init,
        )
        assert scaled.n_iter_ == reference.n_iter_
        np.testing.assert_allclose(scaled.weights_, reference.weights_, rtol=1e-10)
        np.testing.assert_allclose(scaled.means_, reference.means_ * c, rtol=1e-10)
        np.testing.assert_allclose(
            scaled.covariances_, reference.covariances_ * c**2, rtol=1e-9, atol=0
        )
        np.testing.assert_allclose(
            scaled.lower_bound_,
            reference.lower_bound_ - n_features * np.log(c),
            rtol=1e-10,
        )


# --------------------------------------------------------------------------
# Property tests: any shape/dtype either fits cleanly or raises the
# ill-defined-covariance error.  Never NaN.


@st.composite
def datasets(draw):
    n_samples = draw(st.integers(10, 200))
    n_features = draw(st.integers(1, 5))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    kind = draw(st.sampled_from(["gaussian", "hypothesis"]))
    if kind == "gaussian":
        seed = draw(st.integers(0, 2**32 - 1))
        scale = draw(st.sampled_from([1e-3, 1.0, 1e3]))
        rng = np.random.RandomState(seed)
        X = (rng.randn(n_samples, n_features) * scale).astype(dtype)
    else:
        # Hypothesis likes repeated and extreme-but-finite values: collapsed
        # components, constant columns and subnormals come for free.
        X = draw(
            hnp.arrays(
                dtype,
                (n_samples, n_features),
                elements=st.floats(-1e3, 1e3, width=32),
            )
        )
    return X


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    X=datasets(),
    n_components=st.integers(1, 4),
    covariance_type=st.sampled_from(COVARIANCE_TYPES),
    random_state=st.integers(0, 1000),
)
def test_fit_never_returns_nan(X, n_components, covariance_type, random_state):
    model = fastgmm.GaussianMixture(
        n_components=n_components,
        covariance_type=covariance_type,
        init_params="random_from_data",
        random_state=random_state,
        max_iter=20,
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X)
    except ValueError as error:
        assert ILL_DEFINED in str(error)
        return
    assert_valid_model(model, X)
    proba = model.predict_proba(X)
    assert proba.shape == (X.shape[0], n_components)
    assert np.all(np.isfinite(proba))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert np.all(np.isfinite(model.score_samples(X)))
    labels = model.predict(X)
    assert labels.min() >= 0 and labels.max() < n_components


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_collapsed_component_raises_never_nan(covariance_type, dtype):
    # Three distinct rows repeated, K = 3 and no regularisation: each
    # component collapses onto one point.
    X = np.repeat([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]], 5, axis=0).astype(dtype)
    for init_params in ("kmeans", "random_from_data"):
        model = fastgmm.GaussianMixture(
            n_components=3,
            covariance_type=covariance_type,
            reg_covar=0.0,
            init_params=init_params,
            random_state=0,
        )
        with pytest.raises(ValueError, match=ILL_DEFINED):
            model.fit(X)


# --------------------------------------------------------------------------
# Threads: the number of Numba threads must not change a single bit.


@pytest.fixture(scope="module")
def large_X():
    rng = np.random.RandomState(0)
    centers = np.array([[0.0, 0.0, 0.0], [4.0, 4.0, 0.0], [-4.0, 4.0, 4.0]])
    X = centers[rng.randint(0, 3, size=20_000)] + rng.randn(20_000, 3)
    return X


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_n_jobs_gives_bitwise_identical_model(covariance_type, large_X):
    weights = np.random.RandomState(1).uniform(0.5, 2.0, size=len(large_X))
    for dtype, sample_weight in [(np.float64, None), (np.float32, weights)]:
        X = large_X.astype(dtype)
        models = {}
        for n_jobs in (1, 2):
            models[n_jobs] = fit(
                X,
                sample_weight,
                n_components=3,
                covariance_type=covariance_type,
                init_params="random_from_data",
                random_state=0,
                max_iter=8,
                tol=0.0,
                n_jobs=n_jobs,
            )
        one = models[1]
        for n_jobs, other in models.items():
            for name in PARAMETER_ATTRIBUTES:
                assert np.array_equal(getattr(one, name), getattr(other, name)), (
                    f"{name} differs between n_jobs=1 and n_jobs={n_jobs}"
                )
            assert one.lower_bound_ == other.lower_bound_
            assert np.array_equal(one.lower_bounds_, other.lower_bounds_)
            assert one.n_iter_ == other.n_iter_
            assert np.array_equal(one.score_samples(X), other.score_samples(X))
            assert np.array_equal(one.predict_proba(X), other.predict_proba(X))


def test_fit_restores_numba_thread_count(large_X):
    # n_jobs applies to one fit; the caller's Numba setting is left alone.
    before = numba.get_num_threads()
    for n_jobs in (1, 2):
        fit(large_X[:2000], n_components=2, n_jobs=n_jobs, max_iter=2)
        assert numba.get_num_threads() == before


# --------------------------------------------------------------------------
# Importing fastgmm must not compile anything: kernels compile (or load from
# Numba's cache) on first use.

IMPORT_CHECK = textwrap.dedent(
    """
    import importlib
    import json
    import pkgutil
    import sys

    import fastgmm
    from numba.core.dispatcher import Dispatcher

    # Import every kernel module too, even ones fastgmm loads lazily.
    for info in pkgutil.walk_packages(fastgmm.__path__, "fastgmm."):
        if "kernel" in info.name:
            importlib.import_module(info.name)

    def dispatchers(value, depth=0):
        if isinstance(value, Dispatcher):
            yield value
        elif depth < 2 and isinstance(value, dict):
            for item in value.values():
                yield from dispatchers(item, depth + 1)
        elif depth < 2 and isinstance(value, (list, tuple)):
            for item in value:
                yield from dispatchers(item, depth + 1)

    found = {}
    for name, module in list(sys.modules.items()):
        if name != "fastgmm" and not name.startswith("fastgmm."):
            continue
        for attr, value in vars(module).items():
            for dispatcher in dispatchers(value):
                key = f"{name}.{attr}:{dispatcher.py_func.__qualname__}"
                found[key] = [str(sig) for sig in dispatcher.signatures]
    print(json.dumps(found))
    """
)


def test_import_compiles_nothing():
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_CHECK],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    kernel_dispatchers = {key: sigs for key, sigs in found.items() if "kernel" in key}
    # The scan must see the kernels, or the assertion below proves nothing.
    assert kernel_dispatchers, f"no Numba dispatchers found in kernel modules: {found}"
    compiled = {key: sigs for key, sigs in found.items() if sigs}
    assert not compiled, f"compiled at import: {compiled}"
