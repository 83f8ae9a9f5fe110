"""Memory layouts and dtypes give the same model as a C-contiguous array."""

import conftest
import numpy as np
import pytest
import sklearn.mixture
from conftest import (
    COVARIANCE_TYPES,
    PARAMETER_ATTRIBUTES,
    assert_same_fit,
    load_dataset,
)

import fastgmm


def fit(X, **params):
    """Three components from random_state 0, ConvergenceWarning silenced."""
    return conftest.fit(X, n_components=3, random_state=0, **params)


def assert_models_equal(a, b, X_a, X_b):
    """Same parameters (to rounding) and same predictions on X_a / X_b."""
    assert_same_fit(
        a, b, rtol=1e-12, atol_scale=1e-14, check_dtype=True, check_trajectory=False
    )
    assert a.n_iter_ == b.n_iter_
    np.testing.assert_allclose(a.lower_bound_, b.lower_bound_, rtol=1e-12)
    np.testing.assert_array_equal(a.predict(X_a), b.predict(X_b))
    np.testing.assert_allclose(
        a.score_samples(X_a), b.score_samples(X_b), rtol=1e-12, atol=1e-12
    )
    np.testing.assert_allclose(
        a.predict_proba(X_a), b.predict_proba(X_b), rtol=1e-12, atol=1e-12
    )


def _readonly(X):
    X = X.copy()
    X.setflags(write=False)
    return X


def _strided_rows(X):
    # Every row stored twice: X_big[::2] is X without being contiguous.
    X_big = np.repeat(X, 2, axis=0)
    view = X_big[::2]
    assert not view.flags.c_contiguous
    return view


def _strided_columns(X):
    X_big = np.repeat(X, 2, axis=1)
    view = X_big[:, ::2]
    assert not view.flags.c_contiguous and not view.flags.f_contiguous
    return view


def _big_endian(X):
    return X.astype(X.dtype.newbyteorder(">"))


# Each layout is the same data as X (same dtype), stored differently.
LAYOUTS = {
    "fortran": np.asfortranarray,
    "readonly": _readonly,
    "readonly_fortran": lambda X: _readonly(np.asfortranarray(X)),
    "strided_rows": _strided_rows,
    "strided_columns": _strided_columns,
    "negative_stride": lambda X: np.ascontiguousarray(X[::-1])[::-1],
    "big_endian": _big_endian,
}


# Each layout with one covariance type, to keep the number of fits small;
# every type is covered.  Read-only arrays are a distinct Numba type, so they
# go with "full", whose read-only kernels sklearn's readonly_memmap estimator
# checks compile anyway.
LAYOUT_CASES = [
    ("big_endian", "tied"),
    ("fortran", "diag"),
    ("negative_stride", "spherical"),
    ("readonly", "full"),
    ("readonly_fortran", "tied"),
    ("strided_columns", "full"),
    ("strided_rows", "spherical"),
]
assert {layout for layout, _ in LAYOUT_CASES} == set(LAYOUTS)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("layout, covariance_type", LAYOUT_CASES)
def test_layout_gives_same_model(layout, covariance_type, dtype):
    X = load_dataset("iris").astype(dtype)
    X_layout = LAYOUTS[layout](X)
    np.testing.assert_array_equal(X_layout, X)
    if layout == "big_endian":
        # Like sklearn's check_array: a non-native float dtype is not in
        # [float64, float32], so it is converted to (native) float64.
        X = X.astype(np.float64)
    reference = fit(X, covariance_type=covariance_type)
    model = fit(X_layout, covariance_type=covariance_type)
    assert_models_equal(model, reference, X_layout, X)


@pytest.mark.parametrize(
    "dtype, expected_dtype",
    [
        (np.int64, np.float64),
        (np.int32, np.float64),
        (np.uint8, np.float64),
        (np.float16, np.float64),
        (np.float32, np.float32),
    ],
)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_dtype_conversion_like_sklearn(covariance_type, dtype, expected_dtype):
    # Integer and float16 data are fitted in float64, float32 stays float32:
    # the same conversion as sklearn's validate_data(dtype=[float64, float32]).
    X = np.round(load_dataset("iris") * 10).astype(dtype)
    model = fit(X, covariance_type=covariance_type)
    sk = sklearn.mixture.GaussianMixture(
        n_components=3, covariance_type=covariance_type, random_state=0
    ).fit(X)
    for name in PARAMETER_ATTRIBUTES:
        assert getattr(model, name).dtype == expected_dtype, name
        assert getattr(sk, name).dtype == expected_dtype, name
    reference = fit(X.astype(expected_dtype), covariance_type=covariance_type)
    assert_models_equal(model, reference, X, X.astype(expected_dtype))


def test_float16_values_are_used_as_rounded():
    # float16 rounds the data; the model is that of the rounded values.
    X16 = load_dataset("iris").astype(np.float16)
    assert_models_equal(fit(X16), fit(X16.astype(np.float64)), X16, X16)


def test_list_of_lists_input():
    X = load_dataset("iris")
    assert_models_equal(fit(X.tolist()), fit(X), X.tolist(), X)


def test_predict_accepts_any_layout_and_dtype():
    X = load_dataset("iris")
    model = fit(X, covariance_type="full")
    expected = model.score_samples(X)
    for other in [
        np.asfortranarray(X),
        _readonly(X),
        _strided_rows(X),
        _big_endian(X),
        X.tolist(),
    ]:
        np.testing.assert_allclose(model.score_samples(other), expected, rtol=1e-13)
    # Predicting float32 data with a float64 model works, like sklearn.
    np.testing.assert_array_equal(
        model.predict(X.astype(np.float32)),
        model.predict(X.astype(np.float32).astype(np.float64)),
    )


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_float32_model_predicts_float64_data_like_sklearn(covariance_type):
    X = load_dataset("separated_blobs").astype(np.float32)
    params = dict(n_components=3, covariance_type=covariance_type, random_state=0)
    fast = fastgmm.GaussianMixture(**params).fit(X)
    sk = sklearn.mixture.GaussianMixture(**params).fit(X)
    X64 = load_dataset("separated_blobs")
    np.testing.assert_array_equal(fast.predict(X64), sk.predict(X64))
    np.testing.assert_allclose(
        fast.score_samples(X64), sk.score_samples(X64), rtol=1e-4
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fit_does_not_modify_input(dtype):
    X = load_dataset("blobs").astype(dtype)
    original = X.copy()
    weights = np.linspace(0.5, 2.0, len(X))
    model = fastgmm.GaussianMixture(n_components=4, random_state=0)
    model.fit(X, sample_weight=weights)
    model.predict_proba(X)
    model.score_samples(X)
    np.testing.assert_array_equal(X, original)
    np.testing.assert_array_equal(weights, np.linspace(0.5, 2.0, len(X)))


def test_initial_parameters_may_be_readonly_or_fortran():
    X = load_dataset("iris")
    rng = np.random.RandomState(0)
    means = X[rng.choice(len(X), 3, replace=False)]
    precisions = np.stack([np.eye(4) * 2.0] * 3)
    weights = np.full(3, 1 / 3)
    reference = fit(
        X, weights_init=weights, means_init=means, precisions_init=precisions
    )
    model = fit(
        X,
        weights_init=_readonly(weights),
        means_init=_readonly(np.asfortranarray(means)),
        precisions_init=_readonly(np.asfortranarray(precisions)),
    )
    assert_models_equal(model, reference, X, X)
