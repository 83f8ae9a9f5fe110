"""Where an EM run starts, written once: the Python engine runs the batch's
compiled start kernels (``fastgmm.kernels._start``) from Python, and both
forms give the same parameters."""

import numpy as np
import pytest

from fastgmm.kernels._covariance import COVARIANCE_TYPES, covariance
from fastgmm.kernels._specialise import Variant
from fastgmm.kernels._start import (
    label_moments,
    moments_of_labels,
    parameters_from_moments,
    start_parameters,
)


def _data(dtype, n=300, n_features=3, n_components=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_features)).astype(dtype)
    labels = rng.integers(0, n_components, size=n).astype(np.int32)
    weights = rng.uniform(0.5, 2.0, size=n)
    return X, labels, weights


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weighted", [False, True])
def test_compiled_and_in_python_starts_agree(covariance_type, dtype, weighted):
    X, labels, weights = _data(dtype)
    weights64 = weights if weighted else np.empty(0)
    total = float(weights.sum() if weighted else X.shape[0])
    kind = covariance(covariance_type)
    variant = Variant.of(kind.code, X.shape[1])
    args = (X, weights64, labels, 4, 1e-6, 10 * float(np.finfo(dtype).eps), total)
    compiled = label_moments.copy(variant)(*args)
    python = label_moments.run_in_python(*args, code=kind.code)
    for a, b in zip(compiled, python, strict=True):
        np.testing.assert_array_equal(a, b)

    def buffers():
        shape = python[2].shape
        return tuple(
            np.full(s, np.nan, dtype=d)
            for s, d in [
                (4, dtype), ((4, 3), dtype), (shape, dtype), (shape, dtype),
                (4, np.float64), (4, np.float64),
            ]
        )  # fmt: skip

    out_compiled, out_python = buffers(), buffers()
    factors = np.empty(python[2].shape)
    assert start_parameters.copy(variant)(*compiled, factors, out_compiled)
    assert start_parameters.run_in_python(*python, factors, out_python, code=kind.code)
    for name, a, b in zip(
        ["weights", "means", "covariances", "prec_chol", "log_weights", "log_det"],
        out_compiled, out_python, strict=True,
    ):  # fmt: skip
        assert np.all(np.isfinite(b)), name
        if name == "log_weights":
            # NumPy's log from Python (as scikit-learn), math.log compiled.
            np.testing.assert_allclose(a, b, rtol=4e-16, atol=0)
        else:
            np.testing.assert_array_equal(a, b, err_msg=name)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_python_start_is_scikit_learns(covariance_type):
    # The moments and factors of given labels, as scikit-learn's
    # _initialize computes them from one-hot responsibilities.
    from sklearn.mixture._gaussian_mixture import (
        _compute_precision_cholesky,
        _estimate_gaussian_parameters,
    )

    X, labels, _ = _data(np.float64)
    resp = np.zeros((X.shape[0], 4))
    resp[np.arange(X.shape[0]), labels] = 1
    nk, means, covariances = _estimate_gaussian_parameters(
        X, resp, 1e-6, covariance_type
    )
    weights, our_means, our_covariances = moments_of_labels(
        X, None, labels, 4, covariance_type, 1e-6, X.shape[0]
    )
    np.testing.assert_allclose(weights, nk / X.shape[0], rtol=1e-14)
    np.testing.assert_allclose(our_means, means, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(our_covariances, covariances, rtol=1e-10, atol=1e-14)
    params = parameters_from_moments(
        weights, our_means, our_covariances, covariance_type, np.float64
    )
    kind = covariance(covariance_type)
    expected = _compute_precision_cholesky(covariances, covariance_type)
    np.testing.assert_allclose(
        kind.from_kernel_layout(params[3]), expected, rtol=1e-9, atol=1e-12
    )
    np.testing.assert_array_equal(params[4], np.log(weights))


def test_an_ill_defined_start_raises_scikit_learns_error():
    X = np.zeros((20, 2))
    labels = np.zeros(20, dtype=np.int32)
    moments = moments_of_labels(X, None, labels, 1, "full", 0.0, 20)
    with pytest.raises(ValueError, match="ill-defined empirical covariance"):
        parameters_from_moments(*moments, "full", np.float64)
