"""BatchGaussianMixture: each group's model is the separate fit's model."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from fastgmm import BatchGaussianMixture, GaussianMixture

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data")


def _ragged(sizes, n_features=2, seed=0, dtype=np.float64):
    """Rows of groups with the given sizes, shuffled, two clusters per group."""
    rng = np.random.default_rng(seed)
    blocks, labels = [], []
    for g, size in enumerate(sizes):
        rows = rng.standard_normal((size, n_features)) * rng.uniform(0.5, 2)
        rows[: size // 2] += rng.uniform(2, 5)
        blocks.append(rows + 10 * g)
        labels.append(np.full(size, g))
    X = np.concatenate(blocks).astype(dtype)
    groups = np.concatenate(labels)
    order = rng.permutation(len(X))
    return X[order], groups[order]


def _separate_fit(params, X, groups, g, sample_weight=None):
    rows = groups == g
    weights = None if sample_weight is None else sample_weight[rows]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return GaussianMixture(**params).fit(X[rows], sample_weight=weights)


def _assert_same_model(batch, g, single, X_g):
    assert batch.fit_status_[g] == "fitted"
    assert batch.n_iter_[g] == single.n_iter_
    assert batch.converged_[g] == single.converged_
    np.testing.assert_allclose(batch.lower_bound_[g], single.lower_bound_, rtol=1e-10)
    np.testing.assert_allclose(
        batch.weights_[g], single.weights_, rtol=1e-8, atol=1e-12
    )
    np.testing.assert_allclose(batch.means_[g], single.means_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(
        batch.covariances_[g], single.covariances_, rtol=1e-8, atol=1e-12
    )
    np.testing.assert_array_equal(batch.estimator(g).predict(X_g), single.predict(X_g))
    np.testing.assert_allclose(
        batch.lower_bounds_[g, : single.n_iter_], single.lower_bounds_, rtol=1e-10
    )
    assert np.isnan(batch.lower_bounds_[g, single.n_iter_ :]).all()


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("init_params", INIT_PARAMS)
def test_each_group_is_its_separate_fit(covariance_type, init_params):
    # Sizes from a few rows to more than one block (fitted alone).
    X, groups = _ragged([4, 9, 60, 400, 2500, 6000])
    params = dict(
        n_components=2, covariance_type=covariance_type, init_params=init_params,
        random_state=3, n_init=2,
    )  # fmt: skip
    batch = BatchGaussianMixture(**params).fit(X, groups)
    np.testing.assert_array_equal(batch.groups_, np.arange(6))
    for g in batch.groups_:
        single = _separate_fit(params, X, groups, g)
        _assert_same_model(batch, g, single, X[groups == g])


def test_a_group_of_100000_rows_and_tiny_ones():
    X, groups = _ragged([100_000, 3, 30], n_features=3)
    params = dict(n_components=3, covariance_type="diag", random_state=0)
    batch = BatchGaussianMixture(**params).fit(X, groups)
    for g in batch.groups_:
        _assert_same_model(
            batch, g, _separate_fit(params, X, groups, g), X[groups == g]
        )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_random_state_instance_is_consumed_group_after_group(dtype):
    X, groups = _ragged([50, 80, 5000, 30], dtype=dtype)
    params = dict(n_components=2, n_init=2)
    batch = BatchGaussianMixture(**params, random_state=np.random.RandomState(7))
    batch.fit(X, groups)
    shared = np.random.RandomState(7)
    for g in batch.groups_:
        single = _separate_fit({**params, "random_state": shared}, X, groups, g)
        assert batch.n_iter_[g] == single.n_iter_
        rtol = 1e-10 if dtype == np.float64 else 1e-6
        np.testing.assert_allclose(
            batch.lower_bound_[g], single.lower_bound_, rtol=rtol
        )
        np.testing.assert_array_equal(
            batch.predict(X[groups == g], groups[groups == g]),
            single.predict(X[groups == g]),
        )


def test_sample_weight_and_string_labels():
    X, groups = _ragged([40, 300, 5000])
    names = np.array(["north", "east", "south"])[groups]
    weights = np.random.default_rng(1).integers(0, 4, len(X)).astype(float)
    params = dict(n_components=2, covariance_type="full", random_state=0)
    batch = BatchGaussianMixture(**params).fit(X, names, sample_weight=weights)
    np.testing.assert_array_equal(batch.groups_, ["east", "north", "south"])
    for g, name in enumerate(batch.groups_):
        rows = names == name
        single = GaussianMixture(**params).fit(X[rows], sample_weight=weights[rows])
        assert batch.n_iter_[g] == single.n_iter_
        np.testing.assert_allclose(
            batch.lower_bound_[g], single.lower_bound_, rtol=1e-10
        )
        np.testing.assert_allclose(batch.means_[g], single.means_, rtol=1e-8)


def test_three_dimensional_input_equals_labelled_rows():
    rng = np.random.default_rng(0)
    X3 = rng.standard_normal((20, 50, 2))
    X3[:, :25] += 4
    a = BatchGaussianMixture(2, random_state=0).fit(X3)
    b = BatchGaussianMixture(2, random_state=0).fit(
        X3.reshape(-1, 2), np.repeat(np.arange(20), 50)
    )
    np.testing.assert_array_equal(a.means_, b.means_)
    np.testing.assert_array_equal(a.n_iter_, b.n_iter_)
    np.testing.assert_array_equal(
        a.predict(X3), b.predict(X3.reshape(-1, 2), np.repeat(np.arange(20), 50))
    )


@pytest.mark.parametrize(
    "fit_dtype, data_dtype",
    [(np.float64, np.float64), (np.float32, np.float32), (np.float32, np.float64)],
)
def test_per_row_outputs_and_criteria_match_each_groups_estimator(
    fit_dtype, data_dtype
):
    X, groups = _ragged([30, 200, 5000, 70], n_features=3)
    batch = BatchGaussianMixture(3, covariance_type="tied", random_state=1).fit(
        X.astype(fit_dtype), groups
    )
    X = X.astype(data_dtype)
    labels = batch.predict(X, groups)
    proba = batch.predict_proba(X, groups)
    log_prob = batch.score_samples(X, groups)
    # The dtype of each group's GaussianMixture (scikit-learn's): float32 for
    # float32 rows on float32 models.
    expected = np.result_type(fit_dtype, data_dtype)
    assert proba.dtype == log_prob.dtype == expected
    score, bic, aic = batch.score(X, groups), batch.bic(X, groups), batch.aic(X, groups)
    for g in batch.groups_:
        rows = groups == g
        single = batch.estimator(g)
        np.testing.assert_array_equal(labels[rows], single.predict(X[rows]))
        single_proba = single.predict_proba(X[rows])
        assert single_proba.dtype == expected
        np.testing.assert_array_equal(proba[rows], single_proba)
        np.testing.assert_array_equal(log_prob[rows], single.score_samples(X[rows]))
        # Means in score_samples's dtype, as GaussianMixture.score, .bic and
        # .aic (and scikit-learn's) take them.
        assert score[g] == single.score(X[rows])
        assert bic[g] == single.bic(X[rows])
        assert aic[g] == single.aic(X[rows])


def test_same_bits_for_any_number_of_threads():
    X, groups = _ragged([20 + 7 * g for g in range(60)] + [5000])
    one = BatchGaussianMixture(2, random_state=0, n_jobs=1).fit(X, groups)
    two = BatchGaussianMixture(2, random_state=0, n_jobs=2).fit(X, groups)
    for name in ("weights_", "means_", "covariances_", "lower_bound_", "n_iter_"):
        np.testing.assert_array_equal(getattr(one, name), getattr(two, name))


def test_groups_that_cannot_be_fitted_do_not_stop_the_others():
    X, groups = _ragged([1, 50, 40, 60, 30])
    X[np.flatnonzero(groups == 2)[0], 0] = np.nan
    X[groups == 3] = 1.5  # collapsed: ill-defined without regularisation
    params = dict(n_components=2, random_state=0, reg_covar=0.0)
    with pytest.warns(UserWarning, match="3 of 5 groups could not be fitted") as record:
        batch = BatchGaussianMixture(**params).fit(X, groups)
    message = str(record[0].message)
    assert "0 (too_few_rows)" in message and "2 (non_finite)" in message
    assert "3 (ill_defined)" in message
    np.testing.assert_array_equal(
        batch.fit_status_,
        ["too_few_rows", "fitted", "non_finite", "ill_defined", "fitted"],
    )
    for g in (0, 2, 3):
        assert np.isnan(batch.means_[g]).all() and np.isnan(batch.weights_[g]).all()
        with pytest.raises(ValueError, match=f"Group {g} was not fitted"):
            batch.estimator(g)
    for g in (1, 4):
        single = _separate_fit(params, X, groups, g)
        _assert_same_model(batch, g, single, X[groups == g])
    finite = groups != 2
    X_finite, groups_finite = X[finite], groups[finite]
    labels = batch.predict(X_finite, groups_finite)
    fitted = np.isin(groups_finite, [1, 4])
    assert (labels[~fitted] == -1).all()
    assert (labels[fitted] >= 0).all()
    log_prob = batch.score_samples(X_finite, groups_finite)
    assert np.isnan(log_prob[~fitted]).all()
    assert np.isfinite(log_prob[fitted]).all()
    # Groups not fitted, or without rows here (2), score NaN.
    score = batch.score(X_finite, groups_finite)
    assert np.isnan(score[[0, 2, 3]]).all()
    for g in (1, 4):
        assert score[g] == batch.estimator(g).score(X[groups == g])


def test_errors_raise_names_the_group_and_keeps_the_earlier_fit():
    X, groups = _ragged([50, 40])
    batch = BatchGaussianMixture(2, random_state=0, errors="raise").fit(X, groups)
    means = batch.means_.copy()
    X_bad = X.copy()
    X_bad[groups == 1] = 0.0
    with pytest.raises(ValueError, match="Group 1 could not be fitted: ill-defined"):
        batch.set_params(reg_covar=0.0).fit(X_bad, groups)
    np.testing.assert_array_equal(batch.means_, means)


def test_warm_start_continues_each_group():
    X, groups = _ragged([80, 5000, 120])
    params = dict(n_components=2, random_state=0, max_iter=2, warm_start=True)
    batch = BatchGaussianMixture(**params)
    singles = {g: GaussianMixture(**params) for g in range(3)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(3):
            batch.fit(X, groups)
            for g, single in singles.items():
                single.fit(X[groups == g])
    for g, single in singles.items():
        assert batch.n_iter_[g] == single.n_iter_
        np.testing.assert_allclose(
            batch.lower_bound_[g], single.lower_bound_, rtol=1e-10
        )
        np.testing.assert_allclose(batch.means_[g], single.means_, rtol=1e-8)


def test_given_initial_parameters_per_group_or_shared():
    X, groups = _ragged([60, 90])
    means_init = np.stack(
        [[X[groups == g].min(0), X[groups == g].max(0)] for g in range(2)]
    )
    batch = BatchGaussianMixture(2, means_init=means_init, random_state=0).fit(
        X, groups
    )
    for g in range(2):
        single = GaussianMixture(2, means_init=means_init[g], random_state=0)
        _assert_same_model(batch, g, single.fit(X[groups == g]), X[groups == g])
    with pytest.raises(ValueError, match="leading axis of length 3"):
        BatchGaussianMixture(2, means_init=np.zeros((3, 2, 2))).fit(X, groups)


def test_bad_input_gets_clear_errors():
    X, groups = _ragged([30, 30])
    with pytest.raises(ValueError, match="groups is required"):
        BatchGaussianMixture(2).fit(X)
    with pytest.raises(ValueError, match="one label per row"):
        BatchGaussianMixture(2).fit(X, groups[:-1])
    with pytest.raises(ValueError, match="pass no groups"):
        BatchGaussianMixture(2).fit(X.reshape(2, 30, 2), groups)
    batch = BatchGaussianMixture(2, random_state=0).fit(X, groups)
    with pytest.raises(ValueError, match="Unknown groups"):
        batch.predict(X, groups + 5)
    with pytest.raises(ValueError, match="expecting 2 features"):
        batch.predict(np.zeros((3, 3)), [0, 0, 1])
    with pytest.raises(ValueError, match="Unknown group 9"):
        batch.estimator(9)


@pytest.mark.parametrize(
    "groups",
    [
        np.array([5, -3, 5, 0, -3, 7], dtype=np.int8),
        np.array([200, 3, 3, 255], dtype=np.uint8),
        np.array([10**12, 1, 10**12, 5]),  # a wide range: sorted by np.unique
        np.array(["b", "a", "b"]),
    ],
)
def test_distinct_labels_are_numpy_unique(groups):
    from fastgmm.engine._validation import distinct_labels

    labels, index = distinct_labels(groups)
    expected_labels, expected_index = np.unique(groups, return_inverse=True)
    np.testing.assert_array_equal(labels, expected_labels)
    assert labels.dtype == expected_labels.dtype
    np.testing.assert_array_equal(index, expected_index)


def test_too_few_positive_weights_is_reported():
    X, groups = _ragged([30, 30])
    weights = np.ones(len(X))
    weights[groups == 0] = 0.0
    weights[np.flatnonzero(groups == 0)[0]] = 1.0
    with pytest.warns(UserWarning, match=r"0 \(too_few_weights\)"):
        batch = BatchGaussianMixture(2, random_state=0).fit(X, groups, weights)
    np.testing.assert_array_equal(batch.fit_status_, ["too_few_weights", "fitted"])


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("criterion", ["bic", "aic"])
def test_each_group_keeps_its_best_number_of_components(covariance_type, criterion):
    X, groups = _ragged([25, 120, 400, 5000, 1])
    params = dict(covariance_type=covariance_type, random_state=0)
    batch = BatchGaussianMixture(range(1, 4), criterion=criterion, **params)
    with pytest.warns(UserWarning, match=r"4 \(too_few_rows\)"):
        batch.fit(X, groups)
    assert batch.weights_.shape == (5, 3)
    for g in range(4):
        rows = groups == g
        singles = [
            _separate_fit({**params, "n_components": k}, X, groups, g)
            for k in (1, 2, 3)
        ]
        values = [getattr(s, criterion)(X[rows]) for s in singles]
        np.testing.assert_allclose(batch.criterion_values_[g], values, rtol=1e-10)
        k = int(np.argmin(values)) + 1
        assert batch.n_components_[g] == k
        _assert_same_model_k(batch, g, singles[k - 1], X[rows])
        assert (batch.weights_[g, k:] == 0).all()
        assert np.isnan(batch.means_[g, k:]).all()
        proba = batch.predict_proba(X[rows], groups[rows])
        np.testing.assert_array_equal(
            proba[:, :k], singles[k - 1].predict_proba(X[rows])
        )
        assert (proba[:, k:] == 0).all()
        assert getattr(batch, criterion)(X[rows], groups[rows])[g] == values[k - 1]
    assert batch.n_components_[4] == 0 and np.isnan(batch.weights_[4]).all()


def _assert_same_model_k(batch, g, single, X_g):
    model = batch.estimator(g)
    assert model.n_components == single.n_components
    assert model.n_iter_ == single.n_iter_
    np.testing.assert_allclose(model.lower_bound_, single.lower_bound_, rtol=1e-10)
    np.testing.assert_allclose(model.means_, single.means_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(model.covariances_, single.covariances_, rtol=1e-8)
    np.testing.assert_array_equal(model.predict(X_g), single.predict(X_g))


def test_a_sequence_of_components_takes_no_initial_parameters():
    X, groups = _ragged([30, 30])
    with pytest.raises(ValueError, match="takes no warm_start"):
        BatchGaussianMixture([1, 2], means_init=np.zeros((2, 2))).fit(X, groups)
    with pytest.raises(ValueError, match="non-empty sequence of positive ints"):
        BatchGaussianMixture([0, 2]).fit(X, groups)


def test_no_iterations_keeps_the_initial_parameters():
    X, groups = _ragged([40, 5000])
    params = dict(n_components=2, random_state=0, max_iter=0, n_init=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        batch = BatchGaussianMixture(**params).fit(X, groups)
    for g in range(2):
        single = GaussianMixture(**params).fit(X[groups == g])
        assert batch.n_iter_[g] == 0 and not batch.converged_[g]
        assert batch.lower_bound_[g] == single.lower_bound_ == -np.inf
        np.testing.assert_allclose(batch.means_[g], single.means_, rtol=1e-12)


def test_verbose_prints_one_line_before_and_after(capsys):
    X, groups = _ragged([40, 50])
    BatchGaussianMixture(2, random_state=0, verbose=1).fit(X, groups)
    out = capsys.readouterr().out
    assert "Fitting 2 groups of 90 rows in all" in out
    assert "Fitted 2 of 2 groups in" in out


def test_clone_and_params_round_trip():
    from sklearn.base import clone

    batch = BatchGaussianMixture(range(1, 3), covariance_type="diag", errors="raise")
    params = clone(batch).get_params()
    assert params["n_components"] == range(1, 3) and params["errors"] == "raise"


def test_large_groups_k_means_side_by_side_report_their_trouble():
    # Groups of more than a block of rows run k-means side by side in
    # threads.  Two of them have fewer distinct rows than components: k-means
    # finds fewer clusters (one warning for both), and without
    # regularisation their covariances collapse (ill-defined).  The others
    # are their separate fits, on any number of threads.
    X, groups = _ragged([5000, 6000, 4500, 7000])
    X[groups == 1] = np.where(np.arange(6000)[:, None] % 2, 1.0, -1.0)
    X[groups == 3] = 2.5
    for reg_covar, failed in ((1e-6, []), (0.0, [1, 3])):
        params = dict(n_components=3, random_state=0, reg_covar=reg_covar)
        for n_jobs in (1, 2):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                batch = BatchGaussianMixture(**params, n_jobs=n_jobs).fit(X, groups)
            messages = [str(w.message) for w in caught]
            assert (
                sum("distinct clusters" in m and "in 2 groups" in m for m in messages)
                == 1
            )
            assert sum("could not be fitted" in m for m in messages) == bool(failed)
            assert list(np.flatnonzero(batch.fit_status_ == "ill_defined")) == failed
            for g in sorted({0, 1, 2, 3} - set(failed)):
                single = _separate_fit(params, X, groups, g)
                _assert_same_model(batch, g, single, X[groups == g])
