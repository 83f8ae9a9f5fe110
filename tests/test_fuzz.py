"""Differential fuzzing against scikit-learn on awkward data.

Random data sets (1 to 400 rows, 1 to 6 features, 1 to 6 components) mix
clusters, scales from 1e-8 to 1e8, offsets up to 1e6, rounded values,
duplicated rows and constant columns, in float32 and float64, with every
covariance type, initialisation and a random ``reg_covar``.  Each is fitted
by fastgmm and by scikit-learn from the same ``random_state``.

What must hold everywhere:

- fastgmm raises nothing but ``ValueError``, and only with a message meant
  for users (one of ``USER_ERRORS``), never an internal one (broadcasting,
  shapes, indices);
- a fitted model is finite, in the data's dtype, with weights summing to one;
- ``predict`` and ``score_samples`` of that model give the naive
  reference's answers for its parameters, and ``sample`` scikit-learn's.

Where the data is well conditioned (float64, no ties, no constant column, and
an offset that scikit-learn's one-pass covariance formulas survive; see
``well_conditioned``) and scikit-learn fits a finite model, fastgmm fits too
and reaches the same ``lower_bound_`` (1e-6 relative) or a higher one.

Degenerate data may end elsewhere, and there the two are expected to
disagree: scikit-learn computes 'tied', 'diag' and 'spherical' covariances
as ``E[x^2] - E[x]^2`` (float32 data in float32), which loses the digits of
small variances far from the origin, while fastgmm centres its moments and
accumulates in float64.  ``test_constant_column_far_from_origin`` shows, on
one such case, that fastgmm's answer is the exact one.  The fuzz test counts
these disagreements as hypothesis events (``--hypothesis-show-statistics``).

CI runs the ``ci`` profile (a fixed seed, a few hundred examples).  More
locally: ``FASTGMM_FUZZ_EXAMPLES=5000 python -m pytest tests/test_fuzz.py
--hypothesis-show-statistics``.
"""

import os
import warnings

import numpy as np
import pytest
from conftest import (
    COVARIANCE_TYPES,
    ILL_DEFINED,
    INIT_PARAMS,
    PARAMETER_ATTRIBUTES,
    assert_valid_model,
)
from hypothesis import HealthCheck, assume, event, given, note, settings
from hypothesis import strategies as st
from naive import naive_weighted_log_prob
from scipy.special import logsumexp
from sklearn.mixture import GaussianMixture as SkGaussianMixture

import fastgmm

# Every message fastgmm may raise on valid arguments and finite data.
USER_ERRORS = (
    ILL_DEFINED,  # a collapsed component, as scikit-learn
    "Expected n_samples >= n_components",
    "while a minimum of 2 is required",  # one row: scikit-learn's check_array
    "at least n_components rows with positive sample_weight",
    "Sample weights must contain at least one non-zero number",
)

N_EXAMPLES = int(os.environ.get("FASTGMM_FUZZ_EXAMPLES", "200"))

FUZZ_SETTINGS = settings(
    max_examples=N_EXAMPLES,
    deadline=None,
    # A fixed seed in CI; FASTGMM_FUZZ_EXAMPLES runs explore new examples.
    derandomize="FASTGMM_FUZZ_EXAMPLES" not in os.environ,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
    database=None,
)


# --------------------------------------------------------------------------
# Data


@st.composite
def awkward_data(draw):
    """(X, description): awkward data as the module docstring lists."""
    n_samples = draw(st.one_of(st.integers(1, 20), st.integers(20, 400)))
    n_features = draw(st.integers(1, 6))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    X = rng.standard_normal((n_samples, n_features))
    n_clusters = draw(st.integers(0, 4))
    if n_clusters:
        centres = 5 * rng.standard_normal((n_clusters, n_features))
        X += centres[rng.integers(0, n_clusters, n_samples)]
    # Half the examples plain (float64, no ties, no constant column, a
    # moderate scale), so that many are well conditioned.
    plain = draw(st.booleans())
    rounding = None if plain else draw(st.sampled_from([None, 1, 3, 10]))
    if rounding:
        X = np.round(X * rounding) / rounding
    n_duplicated = 0
    if not plain and draw(st.booleans()):
        n_duplicated = draw(st.integers(0, n_samples - 1))
    if n_duplicated:
        X[rng.integers(0, n_samples, n_duplicated)] = X[
            rng.integers(0, n_samples, n_duplicated)
        ]
    constant = not plain and draw(st.booleans()) and draw(st.booleans())
    if constant:
        X[:, rng.integers(0, n_features)] = X[0, 0]
    scale = 10.0 ** draw(st.floats(-2, 2) if plain else st.floats(-8, 8))
    offset = draw(st.sampled_from([0.0, 1.0] if plain else [0.0, 1.0, 1e3, 1e6]))
    offset *= draw(st.sampled_from([1, -1]))
    dtype = np.float64 if plain else draw(st.sampled_from([np.float32, np.float64]))
    X = (X * scale + offset).astype(dtype)
    description = {
        "ties": bool(rounding) or n_duplicated > 0,
        "constant": constant,
        "scale": scale,
        "offset": offset,
    }
    return X, description


def well_conditioned(X, description, fitted):
    """Whether both libraries should find the same EM run on X.

    float64 without ties (which make k-means labels a matter of rounding) or
    constant columns, and with the rounding of scikit-learn's
    ``E[x^2] - E[x]^2`` (about ``max |x|^2 * eps``) far below the smallest
    variance of the covariances scikit-learn fitted: no component is so thin
    that rounding decides whether its Cholesky factor exists.
    """
    if X.dtype != np.float64 or description["ties"] or description["constant"]:
        return False
    covariances = np.asarray(fitted.covariances_)
    if fitted.covariance_type in ("full", "tied"):
        smallest = np.linalg.eigvalsh(covariances).min()
    else:
        smallest = covariances.min()
    largest = float(np.max(np.abs(X)))
    return largest**2 * np.finfo(np.float64).eps < 1e-10 * smallest


model_params = st.fixed_dictionaries(
    {
        "n_components": st.integers(1, 6),
        "covariance_type": st.sampled_from(COVARIANCE_TYPES),
        "init_params": st.sampled_from(INIT_PARAMS),
        "reg_covar": st.one_of(
            st.just(1e-6), st.floats(-10, -1).map(lambda e: 10.0**e)
        ),
        "random_state": st.integers(0, 2**31 - 1),
    }
)


# --------------------------------------------------------------------------
# Helpers


def fit_or_error(estimator, X, **fit_params):
    """The fitted estimator, or the exception its fit raised."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return estimator.fit(X, **fit_params)
        except Exception as error:  # noqa: BLE001 - classified by the caller
            return error


def assert_user_error(error):
    """fastgmm may fail only with a ValueError meant for users."""
    assert isinstance(error, ValueError), repr(error)
    message = str(error)
    assert any(text in message for text in USER_ERRORS), message


def is_finite_model(model):
    return all(
        np.all(np.isfinite(getattr(model, name))) for name in PARAMETER_ATTRIBUTES
    ) and np.isfinite(model.lower_bound_)


def sklearn_twin(model):
    """A scikit-learn GaussianMixture holding ``model``'s fitted parameters."""
    twin = SkGaussianMixture(**{
        name: value
        for name, value in model.get_params().items()
        if name in SkGaussianMixture().get_params()
    })  # fmt: skip
    for name in (*PARAMETER_ATTRIBUTES, "n_features_in_", "converged_"):
        setattr(twin, name, getattr(model, name))
    return twin


def assert_same_predictions(model, X):
    """predict, score_samples and sample of ``model`` as they should be.

    Scores and labels against the naive reference in float64 with the
    model's own parameters (scikit-learn's 'diag' and 'spherical' scoring
    expands (x - m)^2 and loses every digit far from the origin, so it is no
    oracle there); draws against scikit-learn's ``sample`` with the same
    parameters and ``random_state``, which must be the same numbers.
    """
    params64 = [
        np.asarray(getattr(model, name), dtype=np.float64)
        for name in ("weights_", "means_", "precisions_cholesky_")
    ]
    X64 = X.astype(np.float64)
    reference = naive_weighted_log_prob(X64, *params64, model.covariance_type)
    expected = logsumexp(reference, axis=1)
    rtol = 1e-9 if X.dtype == np.float64 else 1e-4
    tolerance = rtol * (np.abs(reference).max(axis=1) + 1.0)
    log_prob = model.score_samples(X)
    assert log_prob.shape == (X.shape[0],)
    assert np.all(np.abs(log_prob - expected) <= tolerance)
    # Labels may differ only where two components are tied within rounding.
    labels = model.predict(X)
    best = reference.max(axis=1)
    chosen = reference[np.arange(X.shape[0]), labels]
    assert np.all(best - chosen <= 2 * tolerance)
    proba = model.predict_proba(X)
    assert np.all(np.isfinite(proba))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    n_draws = 7
    with warnings.catch_warnings():
        # NumPy's multivariate_normal on a covariance that rounding left a
        # hair short of positive definite: scikit-learn's draws warn alike.
        warnings.simplefilter("ignore", RuntimeWarning)
        drawn, drawn_labels = model.sample(n_draws)
    assert drawn.shape == (n_draws, X.shape[1]) and drawn.dtype == np.float64
    assert np.bincount(drawn_labels, minlength=model.n_components).sum() == n_draws
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            their_drawn, their_drawn_labels = sklearn_twin(model).sample(n_draws)
    except ValueError as error:
        # float32 weights whose float64 sum exceeds one: scikit-learn's
        # multinomial draw refuses them, fastgmm renormalises them.
        assert "pvals" in str(error) and model.weights_.dtype == np.float32
        return
    np.testing.assert_array_equal(drawn_labels, their_drawn_labels)
    np.testing.assert_array_equal(drawn, their_drawn)


# --------------------------------------------------------------------------
# The differential fuzz test


@FUZZ_SETTINGS
@given(data=awkward_data(), params=model_params)
def test_fuzz_against_scikit_learn(data, params):
    X, description = data
    note(f"X {X.shape} {X.dtype}, {description}")
    ours = fit_or_error(fastgmm.GaussianMixture(**params), X)
    theirs = fit_or_error(SkGaussianMixture(**params), X)
    if isinstance(ours, Exception):
        assert_user_error(ours)
    else:
        assert_valid_model(ours, X)
        assert_same_predictions(ours, X)
    if isinstance(theirs, Exception) or not is_finite_model(theirs):
        event("scikit-learn fails or returns a non-finite model")
        return
    if not well_conditioned(X, description, theirs):
        if isinstance(ours, Exception):
            event("degenerate data: only scikit-learn fits")
        elif not np.isclose(
            ours.lower_bound_, theirs.lower_bound_, rtol=1e-6, atol=1e-6
        ):
            higher = ours.lower_bound_ > theirs.lower_bound_
            event(f"degenerate data: fastgmm {'higher' if higher else 'lower'}")
        return
    event("well conditioned")
    assert not isinstance(ours, Exception), f"scikit-learn fits; fastgmm: {ours!r}"
    tolerance = 1e-6 * max(abs(theirs.lower_bound_), 1.0)
    assert ours.lower_bound_ >= theirs.lower_bound_ - tolerance, (
        ours.lower_bound_,
        theirs.lower_bound_,
    )


@st.composite
def awkward_weights(draw, n_samples):
    """Row weights with zeros and ratios up to 1e24 between rows."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(["zeros", "huge ratios", "integers"]))
    if kind == "huge ratios":
        weights = 10.0 ** rng.uniform(-12, 12, n_samples)
    elif kind == "integers":
        weights = rng.integers(0, 4, n_samples).astype(np.float64)
    else:
        weights = rng.uniform(0, 1, n_samples)
    if kind != "integers" and n_samples > 1:
        weights[rng.random(n_samples) < draw(st.floats(0, 0.9))] = 0.0
    return weights


@FUZZ_SETTINGS
@given(data=st.data(), params=model_params)
def test_fuzz_sample_weight(data, params):
    X, description = data.draw(awkward_data())
    weights = data.draw(awkward_weights(X.shape[0]))
    note(f"X {X.shape} {X.dtype}, {description}, weights {weights}")
    model = fit_or_error(fastgmm.GaussianMixture(**params), X, sample_weight=weights)
    if isinstance(model, Exception):
        assert_user_error(model)
        return
    assert_valid_model(model, X)
    assert_same_predictions(model, X)


@FUZZ_SETTINGS
@given(data=st.data(), params=model_params)
def test_zero_weight_rows_change_nothing(data, params):
    """Rows of weight zero appended after the others leave the model as it was.

    Up to rounding: the total weight is a NumPy sum, whose pairwise order
    depends on the number of rows.  Not for 'kmeans', whose tolerance
    scikit-learn derives from the unweighted variance of every row.
    """
    X, description = data.draw(awkward_data())
    assume(X.shape[0] >= 2)  # one row is refused, two are not
    weights = data.draw(awkward_weights(X.shape[0]))
    params = {**params, "init_params": data.draw(st.sampled_from(INIT_PARAMS[1:]))}
    n_extra = data.draw(st.integers(1, 50))
    X_more = np.concatenate([X, X[:n_extra] * 2 + 1]).astype(X.dtype)
    weights_more = np.concatenate([weights, np.zeros(X_more.shape[0] - len(X))])
    # A fixed number of iterations: no convergence test to land on either side.
    params = {**params, "tol": 0.0, "max_iter": 3}
    note(f"X {X.shape} {X.dtype}, {description}, weights {weights}")
    model = fit_or_error(fastgmm.GaussianMixture(**params), X, sample_weight=weights)
    more = fit_or_error(
        fastgmm.GaussianMixture(**params), X_more, sample_weight=weights_more
    )
    failures = [result for result in (model, more) if isinstance(result, Exception)]
    for error in failures:
        assert_user_error(error)
    if len(failures) == 1:
        # Only a covariance that rounding decides may collapse in one fit and
        # not the other (scikit-learn's uncentred formulas, copied for the
        # one-row starts, on data far from the origin).
        assert ILL_DEFINED in str(failures[0])
    if failures:
        return
    # Equal up to rounding only: the total weight is a pairwise NumPy sum and
    # the kernels' sums over a tile's rows are vectorised, both in an order
    # that depends on the number of rows.  Last-bit differences grow through
    # the iterations with the condition number of the covariances, with the
    # offset (the one-row starts' uncentred formulas) and, for float32, with
    # the rounding of the parameters to 24 bits after every M-step: compared
    # on well-conditioned data only.  Precisions, the inverses of the
    # covariances, are left out for the same reason.
    rtol = 1e-6
    if (
        not well_conditioned(X, description, model)
        or condition_number(model) * np.finfo(float).eps > 1e-9
    ):
        event("degenerate data: not compared")
        return
    for name in ("weights_", "means_", "covariances_", "lower_bound_"):
        expected = getattr(model, name)
        np.testing.assert_allclose(
            getattr(more, name),
            expected,
            rtol=rtol,
            atol=rtol * float(np.max(np.abs(expected))),
            err_msg=name,
        )


def condition_number(model):
    """The largest condition number of a fitted model's covariances."""
    covariances = np.asarray(model.covariances_, dtype=np.float64)
    if model.covariance_type == "spherical":
        return 1.0
    if model.covariance_type == "diag":
        return float(np.max(covariances.max(axis=1) / covariances.min(axis=1)))
    return float(np.max(np.linalg.cond(covariances)))


# --------------------------------------------------------------------------
# The reproducer of the k-means++ fix, and a documented disagreement


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("init_params", ["k-means++", "random_from_data"])
def test_fewer_distinct_rows_than_components(init_params, covariance_type, dtype):
    # k-means++ starts several components from the same row; each keeps it.
    X = np.zeros((320, 4), dtype=dtype)
    params = dict(
        n_components=3,
        covariance_type=covariance_type,
        init_params=init_params,
        random_state=0,
    )
    ours = fastgmm.GaussianMixture(**params).fit(X)
    theirs = SkGaussianMixture(**params).fit(X)
    assert ours.n_iter_ == theirs.n_iter_
    np.testing.assert_allclose(ours.lower_bound_, theirs.lower_bound_, rtol=1e-6)
    for name in PARAMETER_ATTRIBUTES:
        np.testing.assert_allclose(
            getattr(ours, name), getattr(theirs, name), rtol=1e-6, err_msg=name
        )


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("rounding", [3, 10])
def test_rounded_data_with_repeated_starting_rows(covariance_type, rounding):
    # Few distinct rows: k-means++ draws the same row for several components.
    rng = np.random.default_rng(0)
    distinct = np.round(rng.standard_normal((4, 2)) * rounding) / rounding
    X = distinct[rng.integers(0, 4, 40)]
    assert len(np.unique(X, axis=0)) == 4
    params = dict(
        n_components=6,
        covariance_type=covariance_type,
        init_params="k-means++",
        random_state=0,
    )
    ours = fit_or_error(fastgmm.GaussianMixture(**params), X)
    theirs = fit_or_error(SkGaussianMixture(**params), X)
    if isinstance(theirs, Exception):
        assert_user_error(ours)
        return
    assert not isinstance(ours, Exception), ours
    np.testing.assert_allclose(ours.lower_bound_, theirs.lower_bound_, rtol=1e-6)


def test_constant_column_far_from_origin():
    """Where the two disagree, fastgmm's covariance is the exact one.

    A constant column 1000 away from the origin has zero variance, so its
    fitted variance is exactly ``reg_covar``.  scikit-learn's
    ``E[x^2] - E[x]^2`` leaves rounding noise of the order of
    ``eps * 1000^2 = 2e-10`` on top; fastgmm centres the moments first.
    """
    rng = np.random.default_rng(1)
    X = np.column_stack([rng.standard_normal(200), np.full(200, 1000.0 + 1 / 3)])
    params = dict(n_components=2, covariance_type="diag", random_state=0)
    ours = fastgmm.GaussianMixture(**params).fit(X)
    theirs = SkGaussianMixture(**params).fit(X)
    reg_covar = ours.reg_covar
    np.testing.assert_allclose(ours.covariances_[:, 1], reg_covar, rtol=1e-12)
    noise = np.abs(theirs.covariances_[:, 1] - reg_covar)
    assert noise.max() > 1e-12
