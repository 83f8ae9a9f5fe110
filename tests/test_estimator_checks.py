"""scikit-learn API compliance: estimator checks, meta-estimators, pandas."""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import sklearn.mixture
from conftest import PARAMETER_ATTRIBUTES, assert_same_model
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import fastgmm


# The second instance exercises another covariance type, init and threading.
# It keeps one component: with several, a random initialisation picks rows
# without regard to their weights, so the sample_weight equivalence check
# (weights == repeated rows) only holds from identical initial parameters.
@parametrize_with_checks(
    [
        fastgmm.GaussianMixture(),
        fastgmm.GaussianMixture(
            covariance_type="spherical", init_params="random_from_data", n_jobs=2
        ),
    ]
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_get_params_matches_sklearn_plus_n_jobs_and_missing_values():
    fast = fastgmm.GaussianMixture().get_params()
    sk = sklearn.mixture.GaussianMixture().get_params()
    assert fast.pop("n_jobs") is None
    assert fast.pop("missing_values") is None
    assert fast == sk


# With missing values allowed, scikit-learn's checks include NaN input.
@parametrize_with_checks(
    [
        fastgmm.GaussianMixture(missing_values=np.nan),
        fastgmm.BayesianGaussianMixture(missing_values=np.nan, max_iter=20),
    ]
)
def test_sklearn_estimator_checks_with_missing_values(estimator, check):
    check(estimator)


def test_set_params_and_clone():
    model = fastgmm.GaussianMixture(n_components=3, n_jobs=2, covariance_type="tied")
    assert model.set_params(reg_covar=1e-3, n_jobs=1) is model
    copy = clone(model)
    assert copy is not model
    assert copy.get_params() == model.get_params()
    assert copy.get_params()["n_jobs"] == 1
    assert copy.get_params()["reg_covar"] == 1e-3


def test_clone_of_fitted_model_is_unfitted(iris):
    model = fastgmm.GaussianMixture(n_components=3, random_state=0).fit(iris)
    copy = clone(model)
    assert not hasattr(copy, "means_")
    copy.fit(iris)
    for name in PARAMETER_ATTRIBUTES:
        np.testing.assert_array_equal(getattr(copy, name), getattr(model, name))


def test_pickle_round_trip(iris):
    model = fastgmm.GaussianMixture(n_components=3, random_state=0).fit(iris)
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(
        restored.predict_proba(iris), model.predict_proba(iris)
    )
    np.testing.assert_array_equal(
        restored.score_samples(iris), model.score_samples(iris)
    )


def test_pipeline_with_scaler_matches_sklearn(wine):
    fast = make_pipeline(
        StandardScaler(), fastgmm.GaussianMixture(n_components=3, random_state=0)
    )
    sk = make_pipeline(
        StandardScaler(),
        sklearn.mixture.GaussianMixture(n_components=3, random_state=0),
    )
    fast.fit(wine)
    sk.fit(wine)
    assert_same_model(fast[-1], sk[-1])
    np.testing.assert_array_equal(fast.predict(wine), sk.predict(wine))
    np.testing.assert_allclose(fast.score(wine), sk.score(wine), rtol=1e-8)
    np.testing.assert_allclose(
        fast.predict_proba(wine), sk.predict_proba(wine), rtol=1e-6, atol=1e-9
    )


def test_grid_search_over_n_components_matches_sklearn(blobs):
    grid = {"n_components": [2, 3, 4, 5], "covariance_type": ["full", "spherical"]}
    cv = KFold(n_splits=3, shuffle=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fast = GridSearchCV(fastgmm.GaussianMixture(random_state=0), grid, cv=cv).fit(
            blobs
        )
        sk = GridSearchCV(
            sklearn.mixture.GaussianMixture(random_state=0), grid, cv=cv
        ).fit(blobs)
    # GridSearchCV ranks by GaussianMixture.score (mean log-likelihood).
    np.testing.assert_allclose(
        fast.cv_results_["mean_test_score"],
        sk.cv_results_["mean_test_score"],
        rtol=1e-8,
    )
    assert fast.best_params_ == sk.best_params_
    assert isinstance(fast.best_estimator_, fastgmm.GaussianMixture)
    assert_same_model(fast.best_estimator_, sk.best_estimator_, X=blobs)


def test_cross_val_score_matches_sklearn(iris):
    cv = KFold(n_splits=3, shuffle=True, random_state=0)
    fast = cross_val_score(fastgmm.GaussianMixture(3, random_state=0), iris, cv=cv)
    sk = cross_val_score(
        sklearn.mixture.GaussianMixture(3, random_state=0), iris, cv=cv
    )
    np.testing.assert_allclose(fast, sk, rtol=1e-8)


def _iris_frame(iris):
    return pd.DataFrame(iris, columns=["sepal_l", "sepal_w", "petal_l", "petal_w"])


def test_dataframe_input_sets_feature_names(iris):
    frame = _iris_frame(iris)
    fast = fastgmm.GaussianMixture(n_components=3, random_state=0).fit(frame)
    sk = sklearn.mixture.GaussianMixture(n_components=3, random_state=0).fit(frame)
    np.testing.assert_array_equal(fast.feature_names_in_, sk.feature_names_in_)
    assert fast.feature_names_in_.dtype == object
    assert fast.n_features_in_ == 4
    assert_same_model(fast, sk, X=frame)
    # Same model as from the bare array.
    bare = fastgmm.GaussianMixture(n_components=3, random_state=0).fit(iris)
    assert not hasattr(bare, "feature_names_in_")
    np.testing.assert_array_equal(bare.means_, fast.means_)


def test_dataframe_with_mismatched_columns_is_rejected_like_sklearn(iris):
    frame = _iris_frame(iris)
    renamed = frame.rename(columns={"petal_w": "other"})
    fast = fastgmm.GaussianMixture(n_components=3, random_state=0).fit(frame)
    sk = sklearn.mixture.GaussianMixture(n_components=3, random_state=0).fit(frame)
    with pytest.raises(ValueError) as sk_error:
        sk.predict(renamed)
    with pytest.raises(ValueError) as fast_error:
        fast.predict(renamed)
    assert str(fast_error.value) == str(sk_error.value)


def test_array_after_dataframe_fit_warns_like_sklearn(iris):
    fast = fastgmm.GaussianMixture(n_components=3, random_state=0)
    fast.fit(_iris_frame(iris))
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        fast.predict(iris)


def test_dataframe_after_array_fit_warns_like_sklearn(iris):
    fast = fastgmm.GaussianMixture(n_components=3, random_state=0).fit(iris)
    with pytest.warns(UserWarning, match="X has feature names"):
        fast.score_samples(_iris_frame(iris))


def test_float32_dataframe_keeps_float32(iris):
    frame = _iris_frame(iris).astype(np.float32)
    model = fastgmm.GaussianMixture(n_components=3, random_state=0).fit(frame)
    assert model.means_.dtype == np.float32


def test_fit_returns_self_and_y_is_ignored(iris):
    model = fastgmm.GaussianMixture(n_components=3, random_state=0)
    assert model.fit(iris, y=np.arange(len(iris))) is model
    labels = model.predict(iris)
    again = fastgmm.GaussianMixture(n_components=3, random_state=0).fit(iris)
    np.testing.assert_array_equal(again.predict(iris), labels)


def test_verbose_output_matches_sklearn(iris, capsys):
    params = dict(n_components=3, random_state=0, verbose=1, verbose_interval=2)
    sklearn.mixture.GaussianMixture(**params).fit(iris)
    sk_out = capsys.readouterr().out
    fastgmm.GaussianMixture(**params).fit(iris)
    fast_out = capsys.readouterr().out
    assert fast_out == sk_out
    assert "Initialization converged" in fast_out


def test_a_mixture_without_its_hooks_cannot_be_made():
    # The hooks the engine needs are abstract: a subclass that leaves one
    # out fails when it is instantiated, not in the middle of a fit.
    from fastgmm.estimators._mixture import BaseMixture

    class NoHooks(BaseMixture):
        def _model(self, data):
            return None

    with pytest.raises(TypeError, match="abstract"):
        NoHooks()
    assert not fastgmm.GaussianMixture.__abstractmethods__
    assert not fastgmm.BayesianGaussianMixture.__abstractmethods__
