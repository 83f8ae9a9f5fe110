"""Missing values (``missing_values=np.nan``): EM of incomplete data, scoring
with NaN, and the errors."""

import numpy as np
import pytest
from naive import naive_missing_em_step, naive_missing_log_prob
from sklearn.exceptions import ConvergenceWarning

from fastgmm import BayesianGaussianMixture, GaussianMixture
from fastgmm.kernels._covariance import COVARIANCE_TYPES


def incomplete(rng, n=240, n_features=4, fraction=0.2):
    """Two clusters with ``fraction`` of the entries removed at random (no
    row loses every feature)."""
    X = np.concatenate(
        [
            rng.normal(0.0, 1.0, (n // 2, n_features)),
            rng.normal(3.0, 0.7, (n - n // 2, n_features)),
        ]
    )
    X[:, 1] += 0.5 * X[:, 0]  # correlated features: conditional means matter
    missing = rng.random(X.shape) < fraction
    missing[missing.all(axis=1), 0] = False
    X[missing] = np.nan
    return X


def start(covariance_type, n_features, rng):
    weights = np.array([0.4, 0.6])
    means = np.array([np.full(n_features, 0.3), np.full(n_features, 2.5)])
    base = np.eye(n_features) + 0.3 * np.ones((n_features, n_features))
    precision = np.linalg.inv(base)
    precisions = {
        "full": np.stack([precision, 0.8 * precision]),
        "tied": precision,
        "diag": np.array([np.full(n_features, 1.2), np.full(n_features, 0.7)]),
        "spherical": np.array([1.1, 0.6]),
    }[covariance_type]
    return weights, means, precisions


def covariances_of(precisions, covariance_type):
    if covariance_type in ("full", "tied"):
        return np.linalg.inv(precisions)
    return 1.0 / precisions


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("weighted", [False, True])
def test_one_iteration_matches_the_naive_reference(covariance_type, weighted):
    rng = np.random.default_rng(0)
    X = incomplete(rng, n=120)
    w = rng.uniform(0.2, 2.0, len(X)) if weighted else np.ones(len(X))
    weights, means, precisions = start(covariance_type, X.shape[1], rng)
    gm = GaussianMixture(
        2, covariance_type=covariance_type, max_iter=1, missing_values=np.nan,
        weights_init=weights, means_init=means, precisions_init=precisions,
    )  # fmt: skip
    with pytest.warns(ConvergenceWarning):
        gm.fit(X, sample_weight=w if weighted else None)
    log_likelihood, *want = naive_missing_em_step(
        X, w, weights, means, covariances_of(precisions, covariance_type),
        covariance_type, gm.reg_covar,
    )  # fmt: skip
    got = (gm.weights_, gm.means_, gm.covariances_)
    for g, expected in zip(got, want):
        np.testing.assert_allclose(g, expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(gm.lower_bound_, log_likelihood / w.sum(), rtol=1e-12)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_the_lower_bound_never_decreases(covariance_type):
    X = incomplete(np.random.default_rng(1), n=400, fraction=0.3)
    gm = GaussianMixture(
        3, covariance_type=covariance_type, tol=0.0, max_iter=40,
        missing_values=np.nan, random_state=0,
    )  # fmt: skip
    with pytest.warns(ConvergenceWarning):
        gm.fit(X)
    bounds = np.asarray(gm.lower_bounds_)
    assert len(bounds) == 40 and np.all(np.isfinite(bounds))
    assert np.all(np.diff(bounds) >= -1e-12 * np.abs(bounds[1:]))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_without_nan_the_fit_is_the_ordinary_one(covariance_type):
    X = np.nan_to_num(incomplete(np.random.default_rng(2)), nan=1.0)
    kwargs = dict(covariance_type=covariance_type, random_state=0)
    plain = GaussianMixture(2, **kwargs).fit(X)
    opted = GaussianMixture(2, missing_values=np.nan, **kwargs).fit(X)
    assert plain.lower_bound_ == opted.lower_bound_
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        np.testing.assert_array_equal(getattr(plain, name), getattr(opted, name))
    np.testing.assert_array_equal(plain.score_samples(X), opted.score_samples(X))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_scoring_uses_the_observed_features(covariance_type):
    X = incomplete(np.random.default_rng(3))
    gm = GaussianMixture(
        2, covariance_type=covariance_type, missing_values=np.nan, random_state=0
    ).fit(X)
    want = naive_missing_log_prob(
        X, gm.weights_, gm.means_, gm.covariances_, covariance_type
    )
    np.testing.assert_allclose(gm.score_samples(X), want, rtol=1e-10)
    assert gm.score(X) == pytest.approx(want.mean(), rel=1e-12)
    proba = gm.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(gm.predict(X), proba.argmax(axis=1))
    np.testing.assert_array_equal(gm.fit_predict(X), gm.predict(X))
    # Complete rows score as in any fitted model.
    complete = X[~np.isnan(X).any(axis=1)]
    plain = GaussianMixture(2, covariance_type=covariance_type)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        setattr(plain, name, getattr(gm, name))
    plain.precisions_ = gm.precisions_
    plain.n_features_in_ = X.shape[1]
    np.testing.assert_array_equal(
        gm.score_samples(complete), plain.score_samples(complete)
    )


def test_better_than_dropping_or_mean_filling():
    # A known mixture, 20% of entries removed completely at random: the
    # means are estimated closer than from complete rows only or from
    # mean-filled rows.
    rng = np.random.default_rng(4)
    true_means = np.array([[0.0, 0.0, 0.0], [4.0, 4.0, 0.0]])
    cov = np.array([[1.0, 0.8, 0.3], [0.8, 1.0, 0.2], [0.3, 0.2, 1.0]])
    X = np.concatenate([rng.multivariate_normal(m, cov, 1500) for m in true_means])
    Xm = X.copy()
    Xm[rng.random(X.shape) < 0.2] = np.nan
    Xm = Xm[~np.isnan(Xm).all(axis=1)]

    def error(model):
        order = np.argsort(model.means_[:, 0])
        return np.abs(model.means_[order] - true_means).max()

    em = GaussianMixture(2, missing_values=np.nan, random_state=0).fit(Xm)
    dropped = GaussianMixture(2, random_state=0).fit(Xm[~np.isnan(Xm).any(axis=1)])
    filled = np.where(np.isnan(Xm), np.nanmean(Xm, axis=0), Xm)
    mean_filled = GaussianMixture(2, random_state=0).fit(filled)
    assert error(em) < error(mean_filled)
    assert error(em) < error(dropped) or error(em) < 0.05


def test_errors():
    X = incomplete(np.random.default_rng(5))
    with pytest.raises(ValueError, match="Input X contains NaN"):
        GaussianMixture(2).fit(X)
    bad = X.copy()
    bad[7] = np.nan
    with pytest.raises(ValueError, match="Row 7 of X has every feature missing"):
        GaussianMixture(2, missing_values=np.nan).fit(bad)
    bad = np.nan_to_num(X)
    bad[:, 2] = np.nan
    with pytest.raises(ValueError, match="Feature 2 of X is missing"):
        GaussianMixture(2, missing_values=np.nan).fit(bad)
    bad = X.copy()
    bad[3, 1] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        GaussianMixture(2, missing_values=np.nan).fit(bad)
    with pytest.raises(ValueError, match="missing_values must be None or np.nan"):
        GaussianMixture(2, missing_values=0.0).fit(X)
    # A model fitted without the option refuses NaN when scoring.
    gm = GaussianMixture(2, random_state=0).fit(np.nan_to_num(X))
    with pytest.raises(ValueError, match="Input X contains NaN"):
        gm.score_samples(X)


def test_the_tag_follows_the_option():
    assert not GaussianMixture().__sklearn_tags__().input_tags.allow_nan
    assert (
        GaussianMixture(missing_values=np.nan).__sklearn_tags__().input_tags.allow_nan
    )


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_dask_arrays_give_the_in_memory_model(covariance_type):
    # From the same start, the blocks' statistics add up to the in-memory
    # fit's; the scores are lazy and row for row the same.
    da = pytest.importorskip("dask.array")
    X = incomplete(np.random.default_rng(6), n=900)
    weights, means, precisions = start(covariance_type, X.shape[1], None)
    kwargs = dict(
        covariance_type=covariance_type, missing_values=np.nan,
        weights_init=weights, means_init=means, precisions_init=precisions,
    )  # fmt: skip
    memory = GaussianMixture(2, **kwargs).fit(X)
    blocks = GaussianMixture(2, **kwargs).fit(da.from_array(X, chunks=250))
    assert blocks.n_iter_ == memory.n_iter_
    np.testing.assert_allclose(blocks.lower_bound_, memory.lower_bound_, rtol=1e-12)
    for name in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(
            getattr(blocks, name), getattr(memory, name), rtol=1e-9, atol=1e-12
        )
    lazy = blocks.score_samples(da.from_array(X, chunks=250))
    assert isinstance(lazy, da.Array)
    np.testing.assert_allclose(lazy.compute(), memory.score_samples(X), rtol=1e-9)
    np.testing.assert_array_equal(
        blocks.predict(da.from_array(X, chunks=250)).compute(), memory.predict(X)
    )


def test_dask_errors_name_the_row_and_the_feature():
    da = pytest.importorskip("dask.array")
    X = incomplete(np.random.default_rng(7), n=600)
    bad = X.copy()
    bad[450] = np.nan
    with pytest.raises(ValueError, match="Row 450 of X has every feature missing"):
        GaussianMixture(2, missing_values=np.nan).fit(da.from_array(bad, chunks=200))
    bad = np.nan_to_num(X)
    bad[:, 3] = np.nan
    with pytest.raises(ValueError, match="Feature 3 of X is missing"):
        GaussianMixture(2, missing_values=np.nan).fit(da.from_array(bad, chunks=200))
    # The default still refuses NaN, when the first pass reads it.
    with pytest.raises(ValueError, match="NaN"):
        GaussianMixture(2).fit(da.from_array(X, chunks=200))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_bayesian_lower_bound_never_decreases(covariance_type):
    X = incomplete(np.random.default_rng(8), n=400, fraction=0.25)
    bgm = BayesianGaussianMixture(
        n_components=4, covariance_type=covariance_type, tol=0.0, max_iter=40,
        missing_values=np.nan, random_state=0,
    )  # fmt: skip
    with pytest.warns(ConvergenceWarning):
        bgm.fit(X)
    bounds = np.asarray(bgm.lower_bounds_, dtype=np.float64).ravel()
    assert len(bounds) == 40 and np.all(np.isfinite(bounds))
    assert np.all(np.diff(bounds) >= -1e-12 * np.abs(bounds[1:]))
    plain = np.nan_to_num(X, nan=1.0)
    kwargs = dict(n_components=3, covariance_type=covariance_type, random_state=0)
    a = BayesianGaussianMixture(**kwargs).fit(plain)
    b = BayesianGaussianMixture(missing_values=np.nan, **kwargs).fit(plain)
    np.testing.assert_array_equal(a.lower_bound_, b.lower_bound_)
    np.testing.assert_array_equal(a.means_, b.means_)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_bayesian_bound_counts_the_missing_entries_entropy(covariance_type):
    # The variational bound's -E[log q] term, recovered from the statistics,
    # is sum_i w_i sum_k r_ik (log r_ik - H[q(x_m | k)]), with r from each
    # row's observed marginal: computed here row by row from the marginal
    # covariances (P^-1)_oo and the conditional ones (P_mm)^-1.
    from scipy.special import logsumexp
    from scipy.stats import multivariate_normal

    from fastgmm.engine._bayesian_model import _sum_resp_log_resp
    from fastgmm.engine._missing import MissingData, precision_matrices

    X = incomplete(np.random.default_rng(9), n=150, fraction=0.3)
    w = np.random.default_rng(10).uniform(0.5, 1.5, len(X))
    bgm = BayesianGaussianMixture(
        n_components=2, covariance_type=covariance_type, max_iter=3,
        missing_values=np.nan, random_state=0,
    )  # fmt: skip
    with pytest.warns(ConvergenceWarning):
        bgm.fit(X, sample_weight=w)
    params = bgm._kernel_parameters(X.dtype)
    ref = params.moment_centres()
    log_likelihood, nk, s1, s2 = MissingData(X, w).statistics(params, ref)
    got = _sum_resp_log_resp(log_likelihood, (nk, s1, s2, ref), params)

    precisions = precision_matrices(params)
    offsets = params.log_weights + params.log_det
    want = 0.0
    for i, row in enumerate(X):
        o, m = ~np.isnan(row), np.isnan(row)
        log_rho, entropy = [], []
        for k in range(2):
            P = precisions[k]
            covariance = np.linalg.inv(P)
            log_rho.append(
                offsets[k]
                - 0.5 * np.linalg.slogdet(P)[1]
                + multivariate_normal(
                    params.means[k][o], covariance[np.ix_(o, o)]
                ).logpdf(row[o])
            )
            conditional = np.linalg.inv(P[np.ix_(m, m)])
            entropy.append(
                0.5 * m.sum() * (1 + np.log(2 * np.pi))
                + 0.5 * np.linalg.slogdet(conditional)[1]
                if m.any()
                else 0.0
            )
        r = np.exp(np.array(log_rho) - logsumexp(log_rho))
        want += w[i] * np.sum(r * (np.log(r) - np.array(entropy)))
    assert got == pytest.approx(want, rel=1e-9)
