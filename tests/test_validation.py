"""Bad input raises the same exceptions, with the same messages, as sklearn."""

import re
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn.mixture
from conftest import (
    COVARIANCE_TYPES,
    ILL_DEFINED,
    assert_attributes_equal,
    fitted_attributes,
    make_explicit_init,
)
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import InvalidParameterError

import fastgmm

RNG = np.random.RandomState(0)
X_GOOD = RNG.randn(30, 3)


def _with(value, index=(0, 0)):
    X = X_GOOD.copy()
    X[index] = value
    return X


def sklearn_error(call):
    """Run ``call`` with sklearn's GaussianMixture; return the raised error."""
    with pytest.raises(Exception) as excinfo:
        call(sklearn.mixture.GaussianMixture)
    return excinfo.value


def _normalise(message):
    # Allowed string options print as a Python set, whose order depends on
    # how the set was built; sort them so equal sets print the same.
    return re.sub(
        r"\{([^{}]*)\}",
        lambda m: "{" + ", ".join(sorted(m.group(1).split(", "))) + "}",
        message,
    )


def assert_same_error(call):
    """``call(cls)`` must raise the same error type and message for both."""
    expected = sklearn_error(call)
    with pytest.raises(type(expected)) as excinfo:
        call(fastgmm.GaussianMixture)
    assert _normalise(str(excinfo.value)) == _normalise(str(expected))


BAD_X = {
    "nan": _with(np.nan),
    "inf": _with(np.inf),
    "neg_inf": _with(-np.inf),
    "1d": X_GOOD[:, 0].copy(),
    "3d": X_GOOD[:, :, None].copy(),
    "one_sample": X_GOOD[:1].copy(),
    "no_samples": X_GOOD[:0].copy(),
    "no_features": X_GOOD[:, :0].copy(),
    "csr_matrix": sp.csr_matrix(X_GOOD),
    "csr_array": sp.csr_array(X_GOOD),
    "complex": X_GOOD + 1j,
    "strings": np.array([["a", "b"], ["c", "d"], ["e", "f"]]),
    "object_with_none": np.array([[1.0, None], [2.0, 3.0], [4.0, 5.0]], dtype=object),
}


@pytest.mark.parametrize("method", ["fit", "fit_predict"])
@pytest.mark.parametrize("case", sorted(BAD_X))
def test_bad_X_at_fit(case, method):
    X = BAD_X[case]
    assert_same_error(lambda cls: getattr(cls(n_components=2), method)(X))


@pytest.mark.parametrize("n_samples", [2, 3])
def test_fewer_samples_than_components(n_samples):
    X = X_GOOD[:n_samples]

    def call(cls):
        cls(n_components=4).fit(X)

    assert_same_error(call)
    with pytest.raises(ValueError, match="Expected n_samples >= n_components"):
        call(fastgmm.GaussianMixture)


INVALID_PARAMS = [
    {"n_components": 0},
    {"n_components": 2.5},
    {"n_components": "2"},
    {"covariance_type": "bogus"},
    {"tol": -1},
    {"tol": "small"},
    {"reg_covar": -1e-6},
    {"max_iter": -1},
    {"max_iter": 1.5},
    {"n_init": 0},
    {"init_params": "kmeans++"},
    {"random_state": "seed"},
    {"warm_start": "yes"},
    {"verbose_interval": 0},
]


@pytest.mark.parametrize(
    "params", INVALID_PARAMS, ids=lambda p: "-".join(f"{k}={v}" for k, v in p.items())
)
def test_invalid_constructor_parameters(params):
    def call(cls):
        cls(**params).fit(X_GOOD)

    assert_same_error(call)
    # Parameter validation is sklearn's own, so the type is the exact subclass.
    with pytest.raises(InvalidParameterError):
        call(fastgmm.GaussianMixture)


@pytest.mark.parametrize("n_jobs", ["two", 1.5])
def test_invalid_n_jobs(n_jobs):
    with pytest.raises(InvalidParameterError, match="n_jobs"):
        fastgmm.GaussianMixture(n_components=2, n_jobs=n_jobs).fit(X_GOOD)


@pytest.mark.parametrize("n_jobs", [None, 1, 2, -1])
def test_valid_n_jobs(n_jobs):
    model = fastgmm.GaussianMixture(n_components=2, n_jobs=n_jobs, random_state=0)
    assert model.fit(X_GOOD) is model
    assert model.get_params()["n_jobs"] == n_jobs


BAD_INITS = {
    "weights_not_normalised": {"weights_init": [0.5, 0.6]},
    "weights_out_of_range": {"weights_init": [1.5, -0.5]},
    "weights_wrong_shape": {"weights_init": [0.2, 0.3, 0.5]},
    "weights_2d": {"weights_init": [[0.5, 0.5]]},
    "weights_nan": {"weights_init": [np.nan, 1.0]},
    "means_wrong_n_components": {"means_init": np.zeros((3, 3))},
    "means_wrong_n_features": {"means_init": np.zeros((2, 2))},
    "means_nan": {"means_init": np.full((2, 3), np.nan)},
    "full_not_positive_definite": {"precisions_init": -np.stack([np.eye(3)] * 2)},
    "full_not_symmetric": {
        "precisions_init": np.stack([np.eye(3) + np.triu(np.ones((3, 3)), 1)] * 2)
    },
    "full_wrong_shape": {"precisions_init": np.stack([np.eye(2)] * 2)},
    "full_2d": {"precisions_init": np.eye(3)},
    "tied_not_positive_definite": {
        "covariance_type": "tied",
        "precisions_init": np.diag([1.0, 0.0, 1.0]),
    },
    "tied_wrong_shape": {"covariance_type": "tied", "precisions_init": np.eye(2)},
    "diag_not_positive": {
        "covariance_type": "diag",
        "precisions_init": np.array([[1.0, 1.0, 1.0], [1.0, 0.0, 1.0]]),
    },
    "diag_wrong_shape": {"covariance_type": "diag", "precisions_init": np.ones(3)},
    "spherical_not_positive": {
        "covariance_type": "spherical",
        "precisions_init": np.array([1.0, -1.0]),
    },
    "spherical_wrong_shape": {
        "covariance_type": "spherical",
        "precisions_init": np.ones(3),
    },
}


@pytest.mark.parametrize("case", sorted(BAD_INITS))
def test_bad_initial_parameters(case):
    params = BAD_INITS[case]
    assert_same_error(lambda cls: cls(n_components=2, **params).fit(X_GOOD))


@pytest.mark.parametrize(
    "method", ["predict", "predict_proba", "score_samples", "score"]
)
@pytest.mark.parametrize("n_features", [2, 4])
def test_wrong_number_of_features_after_fit(method, n_features):
    X_other = RNG.randn(5, n_features)

    def call(cls):
        model = cls(n_components=2, random_state=0).fit(X_GOOD)
        getattr(model, method)(X_other)

    assert_same_error(call)


@pytest.mark.parametrize("case", ["nan", "inf", "1d", "csr_matrix", "complex"])
@pytest.mark.parametrize("method", ["predict", "predict_proba", "score_samples"])
def test_bad_X_after_fit(method, case):
    X = BAD_X[case]

    def call(cls):
        model = cls(n_components=2, random_state=0).fit(X_GOOD)
        getattr(model, method)(X)

    assert_same_error(call)


@pytest.mark.parametrize(
    "method", ["predict", "predict_proba", "score_samples", "score", "bic", "aic"]
)
def test_not_fitted(method):
    def call(cls):
        getattr(cls(n_components=2), method)(X_GOOD)

    assert_same_error(call)
    with pytest.raises(NotFittedError):
        call(fastgmm.GaussianMixture)


def test_sample_not_fitted_and_bad_n_samples():
    assert_same_error(lambda cls: cls(n_components=2).sample(3))
    assert_same_error(
        lambda cls: cls(n_components=2, random_state=0).fit(X_GOOD).sample(0)
    )


BAD_SAMPLE_WEIGHTS = {
    "negative": np.r_[-1.0, np.ones(29)],
    "too_short": np.ones(29),
    "too_long": np.ones(31),
    "2d": np.ones((30, 1)),
    "all_zero": np.zeros(30),
    "nan": np.r_[np.nan, np.ones(29)],
    "inf": np.r_[np.inf, np.ones(29)],
}


@pytest.mark.parametrize("method", ["fit", "fit_predict"])
@pytest.mark.parametrize("case", sorted(BAD_SAMPLE_WEIGHTS))
def test_bad_sample_weight(case, method):
    model = fastgmm.GaussianMixture(n_components=2, random_state=0)
    with pytest.raises(ValueError, match=r"(?i)sample[_ ]weight"):
        getattr(model, method)(X_GOOD, sample_weight=BAD_SAMPLE_WEIGHTS[case])


def test_collapsed_components_raise_like_sklearn():
    # Three distinct points, each repeated; no regularisation.  Every point
    # has a zero second coordinate, so each component's covariance is exactly
    # singular whatever the rounding of the means.
    X = np.repeat([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]], 5, axis=0)
    for covariance_type in COVARIANCE_TYPES:

        def call(cls):
            cls(n_components=3, covariance_type=covariance_type, reg_covar=0.0).fit(X)

        expected = sklearn_error(call)
        assert ILL_DEFINED in str(expected)
        with pytest.raises(ValueError, match=ILL_DEFINED):
            call(fastgmm.GaussianMixture)


def _fit_then_fail(bad_fit):
    model = fastgmm.GaussianMixture(n_components=2, random_state=0).fit(X_GOOD)
    before = fitted_attributes(model)
    labels = model.predict(X_GOOD)
    proba = model.predict_proba(X_GOOD)
    with pytest.raises(ValueError):
        bad_fit(model)
    # A failed fit must not leave a half-updated model behind.
    assert_attributes_equal(before, fitted_attributes(model))
    np.testing.assert_array_equal(model.predict(X_GOOD), labels)
    np.testing.assert_array_equal(model.predict_proba(X_GOOD), proba)


def test_failed_fit_on_invalid_data_keeps_previous_model():
    _fit_then_fail(lambda model: model.fit(BAD_X["nan"]))


def test_failed_fit_with_bad_sample_weight_keeps_previous_model():
    _fit_then_fail(lambda model: model.fit(X_GOOD, sample_weight=-np.ones(30)))


def test_failed_fit_with_bad_init_keeps_previous_model():
    _fit_then_fail(lambda model: model.set_params(weights_init=[0.9, 0.9]).fit(X_GOOD))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_failed_em_keeps_previous_model(covariance_type):
    # Collapsing data with a different number of features: validation passes
    # and EM fails, after n_features_in_ would already have been reset.
    X_collapse = np.repeat([[0.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]], 4, axis=0)

    def bad_fit(model):
        model.set_params(covariance_type=covariance_type, reg_covar=0.0)
        model.fit(X_collapse)

    model = fastgmm.GaussianMixture(
        n_components=2, covariance_type=covariance_type, random_state=0
    ).fit(X_GOOD)
    before = fitted_attributes(model)
    labels = model.predict(X_GOOD)
    with pytest.raises(ValueError, match=ILL_DEFINED):
        bad_fit(model)
    assert_attributes_equal(before, fitted_attributes(model))
    np.testing.assert_array_equal(model.predict(X_GOOD), labels)


def test_failed_warm_start_fit_keeps_previous_model():
    init = make_explicit_init(X_GOOD, 2, "full")
    model = fastgmm.GaussianMixture(
        n_components=2, warm_start=True, max_iter=50, **init
    ).fit(X_GOOD)
    before = fitted_attributes(model)
    # Two features instead of three: the means_init shape check fails.
    with pytest.raises(ValueError):
        model.fit(X_GOOD[:, :2])
    assert_attributes_equal(before, fitted_attributes(model))


# ---------------------------------------------------------------------------
# The fast paths agree with scikit-learn's checks


@pytest.mark.parametrize("seed", [0, 1, 42, np.int64(7), 2**32 - 1])
def test_check_random_state_gives_sklearns_generator(seed):
    from sklearn.utils import check_random_state as sklearn_check_random_state

    from fastgmm.engine._validation import check_random_state

    ours, theirs = check_random_state(seed), sklearn_check_random_state(seed)
    assert isinstance(ours, np.random.RandomState)
    for a, b in zip(ours.get_state(), theirs.get_state()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ours.uniform(size=50), theirs.uniform(size=50))


def test_check_random_state_passes_instances_and_rejects_junk():
    from fastgmm.engine._validation import check_random_state

    rs = np.random.RandomState(3)
    assert check_random_state(rs) is rs
    assert check_random_state(None) is np.random.mtrand._rand
    for bad in (-1, 2**32, "seed"):
        with pytest.raises(ValueError):
            check_random_state(bad)


def test_random_state_for_reuses_generators_with_fresh_states():
    from sklearn.utils import check_random_state as sklearn_check_random_state

    from fastgmm.engine._validation import random_state_for

    with random_state_for(5) as first:
        # An odd number of normal draws leaves a cached value behind.
        first.standard_normal(3)
        with random_state_for(5) as nested:
            assert nested is not first
            nested.uniform(size=7)
    for seed in (5, 6, np.int32(5)):
        with random_state_for(seed) as again:
            expected = sklearn_check_random_state(int(seed))
            for a, b in zip(again.get_state(), expected.get_state()):
                np.testing.assert_array_equal(a, b)
            np.testing.assert_array_equal(
                again.standard_normal(5), expected.standard_normal(5)
            )


def test_random_state_for_passes_other_seeds_through():
    from fastgmm.engine._validation import random_state_for

    rs = np.random.RandomState(3)
    with random_state_for(rs) as got:
        assert got is rs
    with random_state_for(None) as got:
        assert got is np.random.mtrand._rand
    for bad in (-1, 2**32, "seed"):
        with pytest.raises(ValueError):
            with random_state_for(bad):
                pass


def test_parameter_checks_are_not_skipped_after_valid_values():
    model = fastgmm.GaussianMixture(n_components=2, random_state=0)
    model.fit(X_GOOD)
    # Equal to a valid value but of another type, then a bad value.
    for bad in ({"n_components": 2.0}, {"n_components": "2"}, {"tol": -1.0}):
        model.set_params(**bad)
        with pytest.raises(InvalidParameterError):
            model.fit(X_GOOD)
        model.set_params(n_components=2, tol=1e-3)
    model.fit(X_GOOD)
    assert fastgmm.GaussianMixture._get_param_names() == sorted(model.get_params())


def test_refit_on_an_array_forgets_feature_names():
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame(X_GOOD, columns=["a", "b", "c"])
    gm = fastgmm.GaussianMixture(2, random_state=0).fit(X)
    np.testing.assert_array_equal(gm.feature_names_in_, ["a", "b", "c"])
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        gm.predict(X_GOOD)
    gm.fit(X_GOOD)
    assert not hasattr(gm, "feature_names_in_")
    assert gm.n_features_in_ == 3


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_valid_arrays_are_not_copied(dtype):
    X = np.ascontiguousarray(X_GOOD, dtype=dtype)
    gm = fastgmm.GaussianMixture(2, random_state=0)
    from fastgmm.engine._validation import validate_rows

    assert validate_rows(gm, X, reset=True, ensure_min_samples=2) is X
    assert gm.n_features_in_ == 3
    assert validate_rows(gm, X, reset=False) is X


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_fast_path_sees_non_finite_values_anywhere(value):
    from fastgmm.engine._validation import validate_rows

    gm = fastgmm.GaussianMixture(2)
    for index in [(0, 0), (29, 2), (13, 1)]:
        with pytest.raises(ValueError, match="Input X contains"):
            validate_rows(gm, _with(value, index), reset=True)


def test_huge_finite_values_pass_without_warnings():
    from fastgmm.engine._validation import validate_rows

    X = np.full((4, 2), 1e308)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert validate_rows(fastgmm.GaussianMixture(2), X, reset=True) is X
