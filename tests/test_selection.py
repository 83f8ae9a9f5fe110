"""Tests of GaussianMixtureIC (``fastgmm.estimators._selection``) and
``fastgmm select``."""

import math
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import sklearn.mixture
from conftest import COVARIANCE_TYPES, PARAMETER_ATTRIBUTES
from sklearn.base import clone
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import parametrize_with_checks

import fastgmm
from fastgmm import GaussianMixture, GaussianMixtureIC
from fastgmm.cli import main
from fastgmm.estimators import _selection

RESULT_KEYS = (
    "n_components",
    "covariance_type",
    "bic",
    "aic",
    "converged",
    "n_iter",
    "lower_bound",
    "fit_time",
)


@pytest.fixture(autouse=True)
def _quiet_convergence():
    # Large candidates on small data may stop at max_iter; that is no failure.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def _four_blobs():
    X, _ = make_blobs(
        n_samples=400,
        n_features=2,
        centers=[[0, 0], [12, 0], [0, 12], [12, 12]],
        cluster_std=1.0,
        random_state=3,
    )
    return X


# With several components, the k-means initialisation of a weighted fit does
# not draw what it draws on repeated rows, so weights are not repetitions (as
# for GaussianMixture itself). One component has no initial draw: the second
# instance checks that the weighted criteria count weights as repetitions.
_WEIGHTS_ARE_NOT_REPEATS = {
    "check_sample_weight_equivalence_on_dense_data": (
        "the k-means initialisation of several components draws differently "
        "with sample_weight than with repeated rows"
    )
}


@parametrize_with_checks(
    [
        GaussianMixtureIC(n_components=range(1, 4), n_jobs=1),
        GaussianMixtureIC(n_components=1, criterion="aic", n_jobs=1),
    ],
    expected_failed_checks=lambda est: (
        _WEIGHTS_ARE_NOT_REPEATS if est.n_components != 1 else {}
    ),
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_exported():
    assert fastgmm.GaussianMixtureIC is GaussianMixtureIC
    assert "GaussianMixtureIC" in fastgmm.__all__


def test_selects_four_well_separated_blobs():
    X = _four_blobs()
    selector = GaussianMixtureIC(random_state=0, n_jobs=1).fit(X)
    assert selector.n_components_ == 4
    assert selector.best_estimator_.n_components == 4
    assert selector.covariance_type_ == selector.best_estimator_.covariance_type
    assert np.isclose(selector.criterion_, selector.best_estimator_.bic(X))
    assert len(np.unique(selector.predict(X))) == 4


def test_agrees_with_a_scikit_learn_bic_loop(iris):
    selector = GaussianMixtureIC(random_state=0, n_jobs=1).fit(iris)
    expected = {}
    for k in range(1, 11):
        for covariance_type in COVARIANCE_TYPES:
            gm = sklearn.mixture.GaussianMixture(
                n_components=k, covariance_type=covariance_type, random_state=0
            ).fit(iris)
            expected[k, covariance_type] = gm.bic(iris)
    results = selector.results_
    assert len(results["bic"]) == len(expected)
    for k, covariance_type, bic in zip(
        results["n_components"], results["covariance_type"], results["bic"]
    ):
        np.testing.assert_allclose(bic, expected[k, covariance_type], rtol=1e-6)
    best = min(expected, key=expected.get)
    assert (selector.n_components_, selector.covariance_type_) == best
    np.testing.assert_allclose(selector.criterion_, expected[best], rtol=1e-6)


@pytest.mark.parametrize(
    "params",
    [
        {"n_init": 2},  # shared k-means labels, one set per initialisation
        {"init_params": "random"},  # no sharing: plain fits
        {"init_params": "k-means++", "covariance_type": ["tied", "diag"]},
    ],
)
def test_each_candidate_is_the_plain_fit(blobs, params):
    params = dict(params)
    covariance_types = params.pop("covariance_type", COVARIANCE_TYPES)
    selector = GaussianMixtureIC(
        n_components=range(1, 5),
        covariance_type=covariance_types,
        random_state=7,
        n_jobs=1,
        **params,
    ).fit(blobs)
    results = selector.results_
    assert list(results["covariance_type"][: len(covariance_types)]) == list(
        covariance_types
    )
    for i in range(len(results["n_components"])):
        k, covariance_type = results["n_components"][i], results["covariance_type"][i]
        plain = GaussianMixture(
            n_components=int(k),
            covariance_type=covariance_type,
            random_state=7,
            n_jobs=1,
            **params,
        ).fit(blobs)
        assert results["n_iter"][i] == plain.n_iter_
        assert results["converged"][i] == plain.converged_
        assert results["lower_bound"][i] == plain.lower_bound_
        assert results["bic"][i] == plain.bic(blobs)
        assert results["aic"][i] == plain.aic(blobs)
        if (k, covariance_type) == (selector.n_components_, selector.covariance_type_):
            best = selector.best_estimator_
            assert type(best) is GaussianMixture
            assert best.get_params() == plain.get_params()
            for name in PARAMETER_ATTRIBUTES + ("lower_bounds_",):
                np.testing.assert_array_equal(getattr(best, name), getattr(plain, name))


def test_threads_do_not_change_the_selection(blobs):
    one = GaussianMixtureIC(n_components=range(1, 6), random_state=0, n_jobs=1)
    two = clone(one).set_params(n_jobs=2)
    one.fit(blobs)
    two.fit(blobs)
    for key in RESULT_KEYS[:-1]:
        np.testing.assert_array_equal(one.results_[key], two.results_[key])
    assert two.best_estimator_.n_jobs == 2
    np.testing.assert_array_equal(
        one.best_estimator_.means_, two.best_estimator_.means_
    )


def test_candidates_run_one_by_one_on_workqueue(monkeypatch):
    monkeypatch.setattr(_selection.numba, "threading_layer", lambda: "workqueue")
    assert not _selection._concurrent_kernels_supported()
    monkeypatch.setattr(_selection.numba, "threading_layer", lambda: "omp")
    assert _selection._concurrent_kernels_supported()


def test_results_table(iris):
    selector = GaussianMixtureIC(
        n_components=[3, 1, 2, 2], covariance_type=["diag", "full"], n_jobs=1
    ).fit(iris)
    table = pd.DataFrame(selector.results_)
    assert list(table.columns) == list(RESULT_KEYS)
    assert table["n_components"].tolist() == [1, 1, 2, 2, 3, 3]
    assert table["covariance_type"].tolist() == ["diag", "full"] * 3
    assert (table["fit_time"] >= 0).all()
    assert table["n_iter"].dtype.kind == "i"
    assert table["converged"].dtype == bool
    row = table[
        (table.n_components == selector.n_components_)
        & (table.covariance_type == selector.covariance_type_)
    ]
    assert row["bic"].item() == selector.criterion_ == table["bic"].min()


def test_aic_criterion(iris):
    selector = GaussianMixtureIC(
        n_components=range(1, 5), criterion="aic", random_state=0, n_jobs=1
    ).fit(iris)
    assert selector.criterion_ == np.nanmin(selector.results_["aic"])
    assert selector.criterion_ == pytest.approx(selector.aic(iris))


def test_single_values(iris):
    selector = GaussianMixtureIC(
        n_components=3, covariance_type="tied", random_state=0, n_jobs=1
    ).fit(iris)
    assert (selector.n_components_, selector.covariance_type_) == (3, "tied")
    assert len(selector.results_["bic"]) == 1
    assert selector.get_params()["n_components"] == 3


def test_delegates_to_the_best_model(iris):
    selector = GaussianMixtureIC(n_components=range(1, 4), random_state=0, n_jobs=1)
    best = selector.fit(iris).best_estimator_
    np.testing.assert_array_equal(selector.predict(iris), best.predict(iris))
    np.testing.assert_array_equal(
        selector.predict_proba(iris), best.predict_proba(iris)
    )
    np.testing.assert_array_equal(
        selector.score_samples(iris), best.score_samples(iris)
    )
    assert selector.score(iris) == best.score(iris)
    assert selector.bic(iris) == best.bic(iris)
    assert selector.aic(iris) == best.aic(iris)
    np.testing.assert_array_equal(selector.sample(5)[0], best.sample(5)[0])
    np.testing.assert_array_equal(
        GaussianMixtureIC(
            n_components=range(1, 4), random_state=0, n_jobs=1
        ).fit_predict(iris),
        selector.predict(iris),
    )
    restored = pickle.loads(pickle.dumps(selector))
    np.testing.assert_array_equal(restored.predict(iris), selector.predict(iris))


@pytest.mark.parametrize("data_dtype", [np.float32, np.float64])
def test_float32_outputs_and_criteria_like_sklearn(iris, data_dtype):
    # Fitted on float32 rows: a float32 best model, whose per-row outputs
    # have scikit-learn's dtype, and whose score is their mean in that dtype.
    X32 = iris.astype(np.float32)
    selector = GaussianMixtureIC(n_components=range(1, 4), random_state=0, n_jobs=1)
    best = selector.fit(X32).best_estimator_
    X = iris.astype(data_dtype)
    expected = np.result_type(np.float32, data_dtype)
    sk = sklearn.mixture.GaussianMixture(
        best.n_components, covariance_type=best.covariance_type
    )
    for name in PARAMETER_ATTRIBUTES + ("n_features_in_",):
        setattr(sk, name, getattr(best, name))
    for method in ("score_samples", "predict_proba"):
        got = getattr(selector, method)(X)
        assert got.dtype == getattr(sk, method)(X).dtype == expected, method
        np.testing.assert_array_equal(got, getattr(best, method)(X))
    assert selector.criterion_ == best.bic(X32)
    assert selector.criterion_ == np.nanmin(selector.results_["bic"])
    n, p = X.shape[0], best._n_parameters()
    assert selector.bic(X) == best.bic(X) == -2 * best.score(X) * n + p * math.log(n)
    assert selector.score(X) == best.score(X) == float(best.score_samples(X).mean())


@pytest.mark.parametrize("random_state", [None, np.random.RandomState(3)])
def test_non_integer_random_state_draws_one_seed(blobs, random_state):
    selector = GaussianMixtureIC(
        n_components=range(1, 4), random_state=random_state, n_jobs=1
    ).fit(blobs)
    best = selector.best_estimator_
    assert isinstance(best.random_state, int)
    plain = clone(best).fit(blobs)
    np.testing.assert_array_equal(plain.means_, best.means_)
    assert plain.lower_bound_ == best.lower_bound_


def test_params_stored_as_given():
    grid = range(2, 6)
    selector = GaussianMixtureIC(n_components=grid)
    assert selector.get_params()["n_components"] is grid
    assert clone(selector).get_params()["n_components"] == grid
    assert GaussianMixtureIC().n_components == tuple(range(1, 11))
    assert GaussianMixtureIC().covariance_type == COVARIANCE_TYPES


def test_candidates_larger_than_the_data_are_skipped():
    X = np.array([[0.0, 1.0], [1.0, 0.5], [2.0, 3.0], [3.0, 1.0], [4.0, 0.0]])
    selector = GaussianMixtureIC(random_state=0, n_jobs=1).fit(X)
    assert set(selector.results_["n_components"]) == {1, 2, 3, 4, 5}
    with pytest.raises(ValueError, match="n_samples >= n_components"):
        GaussianMixtureIC(n_components=[6, 7]).fit(X)
    # Rows with zero weight do not count.
    weighted = GaussianMixtureIC(n_components=range(1, 5), random_state=0, n_jobs=1)
    weighted.fit(X, sample_weight=[1, 1, 0, 0, 1])
    assert set(weighted.results_["n_components"]) == {1, 2, 3}


def test_integer_weights_score_as_repeated_rows(iris):
    weights = np.arange(len(iris)) % 3
    # No 'tied': with one component it is the same model as 'full', and which
    # of two equal criteria is lower would be decided by the last digit.
    params = {
        "n_components": 1,
        "covariance_type": ["full", "diag", "spherical"],
        "n_jobs": 1,
    }
    weighted = GaussianMixtureIC(**params).fit(iris, sample_weight=weights)
    repeated = GaussianMixtureIC(**params).fit(np.repeat(iris, weights, axis=0))
    for key in ("bic", "aic", "lower_bound"):
        np.testing.assert_allclose(
            weighted.results_[key], repeated.results_[key], rtol=1e-9
        )
    assert weighted.covariance_type_ == repeated.covariance_type_


def test_failed_candidates_are_left_out():
    # Three distinct points: more components collapse without regularisation.
    X = np.repeat(np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]), 5, axis=0)
    selector = GaussianMixtureIC(
        n_components=range(1, 5),
        covariance_type="full",
        reg_covar=0.0,
        random_state=0,
        n_jobs=1,
    )
    with pytest.warns(UserWarning, match="failed to fit"):
        selector.fit(X)
    bic = selector.results_["bic"]
    assert np.isnan(bic).any() and not np.isnan(bic).all()
    assert selector.criterion_ == np.nanmin(bic)
    with pytest.raises(ValueError, match="Every candidate failed"):
        GaussianMixtureIC(n_components=[4], reg_covar=0.0, random_state=0).fit(X)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"n_components": []}, "at least one value"),
        ({"n_components": [1, 0]}, "integers >= 1"),
        ({"n_components": [1, 2.5]}, "integers >= 1"),
        ({"n_components": [True]}, "integers >= 1"),
        ({"covariance_type": ["full", "banana"]}, "covariance_type must be among"),
        ({"covariance_type": []}, "at least one value"),
        ({"criterion": "hqc"}, "criterion"),
        ({"n_jobs": 0}, "n_jobs"),
    ],
)
def test_invalid_parameters(iris, params, message):
    with pytest.raises(ValueError, match=message):
        GaussianMixtureIC(**params).fit(iris)


def test_cli_select_prints_the_table(capsys):
    rc = main(
        ["select", "--k", "1..4", "-c", "full,diag", "--random-state", "0"]
        + ["--n-jobs", "1"]
    )
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    lines = captured.out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:1] == ["k"])
    assert lines[header].split() == ["k", "full", "diag"]
    rows = [line.split() for line in lines[header + 1 : header + 5]]
    assert [row[0] for row in rows] == ["1", "2", "3", "4"]
    starred = [cell for row in rows for cell in row[1:] if cell.endswith("*")]
    assert len(starred) == 1
    selector = GaussianMixtureIC(
        n_components=range(1, 5),
        covariance_type=["full", "diag"],
        random_state=0,
        n_jobs=1,
    ).fit(fastgmm.cli.load_data(None).X)
    assert starred[0] == f"{selector.criterion_:.3f}*"
    assert (
        f"best:        n_components={selector.n_components_}, "
        f"covariance_type={selector.covariance_type_!r}" in captured.out
    )
    assert "total time:" in captured.out


def test_cli_select_errors(capsys, tmp_path):
    assert main(["select", "--k", "0..3"]) == 2
    assert main(["select", "-c", "full,banana"]) == 2
    capsys.readouterr()
    path = tmp_path / "tiny.csv"
    path.write_text("1,2\n3,4\n5,7\n")
    assert main(["select", str(path), "--k", "4..6"]) == 1
    err = capsys.readouterr().err
    assert err.count("fastgmm: error:") == 1 and "more components" in err
