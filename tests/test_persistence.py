"""fastgmm.save / fastgmm.load: round trips, and clear errors on bad files."""

import json
import pickle

import numpy as np
import pytest

import fastgmm
from fastgmm import BatchGaussianMixture, GaussianMixture, GaussianMixtureIC

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


def _data(n=300, d=3, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    X[: n // 2] += 4
    return X.astype(dtype)


def _round_trip(model, tmp_path):
    path = tmp_path / "model.npz"
    fastgmm.save(model, path)
    return fastgmm.load(path)


def _assert_same_params(a, b):
    pa, pb = a.get_params(deep=False), b.get_params(deep=False)
    assert set(pa) == set(pb)
    for key in pa:
        if isinstance(pa[key], np.ndarray):
            np.testing.assert_array_equal(pa[key], pb[key])
        elif isinstance(pa[key], np.random.RandomState):
            assert str(pa[key].get_state()) == str(pb[key].get_state())
        else:
            assert pa[key] == pb[key], key


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gaussian_mixture_round_trip(tmp_path, covariance_type, dtype):
    X = _data(dtype=dtype)
    model = GaussianMixture(
        3, covariance_type=covariance_type, random_state=0, means_init=X[:3]
    ).fit(X)
    loaded = _round_trip(model, tmp_path)
    assert type(loaded) is GaussianMixture
    _assert_same_params(model, loaded)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    for method in ("predict_proba", "score_samples"):
        got, expected = getattr(loaded, method)(X), getattr(model, method)(X)
        assert got.dtype == expected.dtype == dtype, method
        np.testing.assert_array_equal(got, expected)
    assert loaded.score(X) == model.score(X)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        assert getattr(loaded, name).dtype == getattr(model, name).dtype
        np.testing.assert_array_equal(getattr(loaded, name), getattr(model, name))
    assert loaded.n_iter_ == model.n_iter_ and loaded.converged_ == model.converged_
    assert loaded.lower_bounds_ == model.lower_bounds_
    np.testing.assert_array_equal(loaded.sample(5)[0], model.sample(5)[0])


def test_feature_names_and_random_state_round_trip(tmp_path):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(_data(), columns=["a", "b", "c"])
    model = GaussianMixture(2, random_state=np.random.RandomState(3)).fit(frame)
    loaded = _round_trip(model, tmp_path)
    np.testing.assert_array_equal(loaded.feature_names_in_, ["a", "b", "c"])
    _assert_same_params(model, loaded)
    np.testing.assert_array_equal(loaded.predict(frame), model.predict(frame))


def test_selection_round_trip(tmp_path):
    X = _data()
    model = GaussianMixtureIC(n_components=range(1, 4), random_state=0).fit(X)
    loaded = _round_trip(model, tmp_path)
    assert loaded.n_components_ == model.n_components_
    assert loaded.covariance_type_ == model.covariance_type_
    _assert_same_params(model, loaded)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    for key, value in model.results_.items():
        np.testing.assert_array_equal(loaded.results_[key], value)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_batch_round_trip(tmp_path, dtype):
    X = _data(600, dtype=dtype)
    groups = np.array(["x", "y", "z"])[np.arange(600) % 3]
    model = BatchGaussianMixture(range(1, 3), random_state=0).fit(X, groups)
    loaded = _round_trip(model, tmp_path)
    _assert_same_params(model, loaded)
    np.testing.assert_array_equal(loaded.groups_, model.groups_)
    np.testing.assert_array_equal(loaded.fit_status_, model.fit_status_)
    np.testing.assert_array_equal(loaded.predict(X, groups), model.predict(X, groups))
    np.testing.assert_array_equal(loaded.bic(X, groups), model.bic(X, groups))
    for method in ("predict_proba", "score_samples"):
        got = getattr(loaded, method)(X, groups)
        expected = getattr(model, method)(X, groups)
        assert got.dtype == expected.dtype == dtype, method
        np.testing.assert_array_equal(got, expected)


def test_pickle_still_works():
    X = _data()
    model = GaussianMixture(2, random_state=0).fit(X)
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(again.predict(X), model.predict(X))


@pytest.mark.parametrize(
    "make",
    [
        lambda: GaussianMixture(2, random_state=0),
        lambda: fastgmm.BayesianGaussianMixture(n_components=2, random_state=0),
        lambda: GaussianMixtureIC(n_components=[1, 2], random_state=0),
    ],
    ids=["GaussianMixture", "BayesianGaussianMixture", "GaussianMixtureIC"],
)
def test_skops_with_trusted_types(tmp_path, make):
    sio = pytest.importorskip("skops.io")
    X = _data()
    model = make().fit(X)
    path = tmp_path / "model.skops"
    sio.dump(model, path)
    untrusted = sio.get_untrusted_types(file=path)
    # Only fastgmm's own estimators need trusting: their attributes are
    # arrays and types skops already trusts.
    assert untrusted and all(name.startswith("fastgmm.") for name in untrusted)
    with pytest.raises(sio.exceptions.UntrustedTypesFoundException):
        sio.load(path)
    loaded = sio.load(path, trusted=untrusted)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_array_equal(loaded.score_samples(X), model.score_samples(X))


# ---------------------------------------------------------------------------
# Bad files: one clear ValueError each


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "model.npz"
    fastgmm.save(GaussianMixture(2, random_state=0).fit(_data()), path)
    return path


def _rewrite(path, change):
    """Rewrite the saved npz with ``change(arrays, header)`` applied."""
    with np.load(path, allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    header = json.loads(str(arrays["__fastgmm__"]))
    change(arrays, header)
    arrays["__fastgmm__"] = np.array(json.dumps(header))
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def _attribute_key(header, name):
    return header["estimator"]["attributes"][name]["array"]


def test_pickled_objects_are_refused(tmp_path, saved):
    _rewrite(saved, lambda a, h: a.update(evil=np.array([object()], dtype=object)))
    with pytest.raises(ValueError, match="not a readable fastgmm model file"):
        fastgmm.load(saved)


def test_unknown_class_is_refused(saved):
    _rewrite(saved, lambda a, h: h["estimator"].update({"class": "os.system"}))
    with pytest.raises(ValueError, match="unknown estimator class 'os.system'"):
        fastgmm.load(saved)


def test_newer_format_is_refused(saved):
    _rewrite(saved, lambda a, h: h.update(version=2))
    with pytest.raises(ValueError, match="newer fastgmm .format version 2"):
        fastgmm.load(saved)


def test_missing_array_is_refused(saved):
    _rewrite(saved, lambda a, h: a.pop(_attribute_key(h, "means_")))
    with pytest.raises(ValueError, match="missing array"):
        fastgmm.load(saved)


def test_misshaped_array_is_refused(saved):
    def change(arrays, header):
        key = _attribute_key(header, "covariances_")
        arrays[key] = arrays[key][:1]

    _rewrite(saved, change)
    with pytest.raises(ValueError, match="covariances_ has shape"):
        fastgmm.load(saved)


def test_missing_attribute_is_refused(saved):
    _rewrite(saved, lambda a, h: h["estimator"]["attributes"].pop("weights_"))
    with pytest.raises(ValueError, match="missing attribute weights_"):
        fastgmm.load(saved)


def test_truncated_file_is_refused(saved):
    data = saved.read_bytes()
    saved.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a readable fastgmm model file"):
        fastgmm.load(saved)


def test_other_npz_is_refused(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, x=np.zeros(3))
    with pytest.raises(ValueError, match="no __fastgmm__ header"):
        fastgmm.load(path)


def test_invalid_parameters_are_refused(saved):
    _rewrite(saved, lambda a, h: h["estimator"]["params"].update(n_components=-1))
    with pytest.raises(ValueError, match="invalid parameters"):
        fastgmm.load(saved)


def test_save_refuses_what_it_cannot_save(tmp_path):
    with pytest.raises(TypeError, match="fitted fastgmm estimator"):
        fastgmm.save(object(), tmp_path / "x.npz")
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        fastgmm.save(GaussianMixture(2), tmp_path / "x.npz")


def test_not_a_zip_is_refused(tmp_path):
    path = tmp_path / "model.npz"
    path.write_bytes(b"not a zip at all")
    with pytest.raises(ValueError, match="not a readable fastgmm model file"):
        fastgmm.load(path)
