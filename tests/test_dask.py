"""Dask arrays: the same EM as in memory, with the rows left on the workers."""

import os
import signal
import subprocess
import sys
import threading
import time
import warnings

import numpy as np
import pytest
from conftest import (
    COVARIANCE_TYPES,
    INIT_PARAMS,
    assert_same_fit,
    fit,
    make_explicit_init,
    noisy_centres,
)
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

import fastgmm

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

from fastgmm.engine import _dask  # noqa: E402  (imports dask)

N_COMPONENTS = 4
CENTRES = np.array([[0.0, 0.0, 0.0], [6.0, 6.0, 0.0], [-6.0, 6.0, 6.0], [0, -6, 6]])


def make_data(n_samples=3000, seed=0, dtype=np.float64):
    """Four well separated blobs in 3-D, offset from the origin."""
    X = noisy_centres(CENTRES, n_samples, seed) + 100.0
    return np.ascontiguousarray(X, dtype=dtype)


def explicit_init(X, covariance_type, n_components=N_COMPONENTS):
    """Initial parameters from X's rows, with identity precisions."""
    return make_explicit_init(X, n_components, covariance_type, unit_precisions=True)


def assert_same_model(got, expected, rtol=1e-8, lower_bound_rtol=1e-10):
    """``assert_same_fit`` with dtypes, and a ``rtol * max|param|`` slack."""
    assert_same_fit(
        got,
        expected,
        rtol,
        atol_scale=rtol,
        lower_bound_rtol=lower_bound_rtol,
        check_dtype=True,
    )


@pytest.fixture(scope="module", autouse=True)
def single_threaded_blas():
    # The M-step's linear algebra is on tiny matrices, which BLAS threads only
    # slow down on a busy machine.
    with threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.fixture(scope="module")
def client(dask_client):
    return dask_client


@pytest.fixture(params=["threads", "cluster"])
def scheduler(request):
    """Run the test under Dask's default threaded scheduler or on the cluster."""
    if request.param == "threads":
        with dask.config.set(scheduler="threads"):
            yield request.param
    else:
        # (Not dask.config.set(scheduler=client): a nanny restarting a worker
        # passes the configuration to the new process, which cannot take a
        # client.)
        with request.getfixturevalue("client").as_current():
            yield request.param


# ---------------------------------------------------------------------------
# Same model as in memory


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_same_model_as_in_memory(scheduler, covariance_type, weighted):
    X = make_data()
    weights = np.random.default_rng(1).uniform(0, 3, len(X)) if weighted else None
    params = dict(
        n_components=N_COMPONENTS,
        covariance_type=covariance_type,
        tol=1e-6,
        max_iter=30,
        **explicit_init(X, covariance_type),
    )
    expected = fit(X, weights, **params)
    Xd = da.from_array(X, chunks=(700, 3))
    # Weights chunked unlike X: rechunked to X's row blocks.
    wd = None if weights is None else da.from_array(weights, chunks=1000)
    got = fit(Xd, wd, **params)
    assert got.n_iter_ > 2
    assert_same_model(got, expected)


def test_same_model_float32_and_column_chunks():
    X = make_data(dtype=np.float32)
    params = dict(n_components=N_COMPONENTS, max_iter=20, **explicit_init(X, "full"))
    expected = fit(X, **params)
    with dask.config.set(scheduler="threads"):
        got = fit(da.from_array(X, chunks=(1000, 1)), **params)
    assert got.means_.dtype == np.float32
    # Parameters are rounded to float32 after every M-step, which turns sums
    # added in another order into differences of a float32 rounding.
    assert_same_model(got, expected, rtol=1e-5, lower_bound_rtol=1e-7)


def test_numpy_sample_weight_with_dask_X():
    X = make_data()
    weights = np.random.default_rng(2).integers(0, 4, len(X)).astype(float)
    params = dict(n_components=N_COMPONENTS, **explicit_init(X, "diag"))
    params["covariance_type"] = "diag"
    expected = fit(X, weights, **params)
    with dask.config.set(scheduler="threads"):
        got = fit(da.from_array(X, chunks=500), weights, **params)
    assert_same_model(got, expected)


def test_integer_data_and_warm_start():
    X = np.rint(make_data() * 10).astype(np.int64)
    Xd = da.from_array(X, chunks=(800, 3))
    params = dict(n_components=N_COMPONENTS, max_iter=3, warm_start=True)
    params.update(explicit_init(X.astype(float), "full"))
    expected, got = fastgmm.GaussianMixture(**params), fastgmm.GaussianMixture(**params)
    with dask.config.set(scheduler="threads"), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(2):
            expected.fit(X)
            got.fit(Xd)
    assert got.means_.dtype == np.float64
    assert_same_model(got, expected)


# ---------------------------------------------------------------------------
# Lazy outputs


def test_lazy_predictions_equal_in_memory(scheduler):
    X = make_data()
    Xd = da.from_array(X, chunks=(700, 3))
    model = fit(X, n_components=N_COMPONENTS, random_state=0)
    for method in ("predict", "predict_proba", "score_samples"):
        lazy = getattr(model, method)(Xd)
        assert isinstance(lazy, da.Array), method
        assert lazy.chunks[0] == Xd.chunks[0]
        np.testing.assert_allclose(
            lazy.compute(), getattr(model, method)(X), rtol=1e-12, err_msg=method
        )
    assert isinstance(model.score(Xd), float)
    np.testing.assert_allclose(model.score(Xd), model.score(X), rtol=1e-12)
    np.testing.assert_allclose(model.bic(Xd), model.bic(X), rtol=1e-12)


@pytest.mark.parametrize(
    "fit_dtype, data_dtype",
    [(np.float32, np.float32), (np.float32, np.float64), (np.float64, np.float32)],
)
def test_lazy_outputs_declare_the_dtype_they_compute(fit_dtype, data_dtype):
    X = make_data()
    model = fit(X.astype(fit_dtype), n_components=N_COMPONENTS, random_state=0)
    X = X.astype(data_dtype)
    Xd = da.from_array(X, chunks=(700, 3))
    float_dtype = np.result_type(fit_dtype, data_dtype)  # as in memory
    for method, dtype in [
        ("score_samples", float_dtype),
        ("predict_proba", float_dtype),
        ("predict", np.intp),
    ]:
        lazy = getattr(model, method)(Xd)
        assert lazy.dtype == lazy._meta.dtype == dtype, method
        computed = lazy.compute()
        assert computed.dtype == dtype, method
        in_memory = getattr(model, method)(X)
        assert in_memory.dtype == dtype, method
        np.testing.assert_array_equal(computed, in_memory, err_msg=method)
    # score is score_samples(X).mean() in that dtype, as in memory (where
    # NumPy adds the float32 values in another order than Dask's blocks).
    score = model.score(Xd)
    assert isinstance(score, float)
    assert score == float(model.score_samples(Xd).mean().compute())
    rtol = 1e-6 if float_dtype == np.float32 else 1e-12
    np.testing.assert_allclose(score, model.score(X), rtol=rtol)
    np.testing.assert_allclose(model.bic(Xd), model.bic(X), rtol=rtol)


def test_fit_predict_is_lazy_and_agrees_with_predict():
    X = make_data()
    Xd = da.from_array(X, chunks=(700, 3))
    model = fastgmm.GaussianMixture(N_COMPONENTS, **explicit_init(X, "full"))
    with dask.config.set(scheduler="threads"):
        labels = model.fit_predict(Xd)
        assert isinstance(labels, da.Array)
        np.testing.assert_array_equal(labels.compute(), model.predict(X))


# ---------------------------------------------------------------------------
# Initialisations


def _close_to_the_truth(model):
    assert np.all(np.isfinite(model.means_))
    assert np.all(np.isfinite(model.covariances_))
    assert np.isfinite(model.lower_bound_)
    distances = np.linalg.norm(
        (CENTRES + 100.0)[:, None, :] - model.means_[None, :, :], axis=2
    )
    assert sorted(distances.argmin(axis=1)) == list(range(N_COMPONENTS))
    assert distances.min(axis=1).max() < 0.3


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("init_params", INIT_PARAMS)
def test_initialisations(init_params, covariance_type):
    X = make_data(seed=3)
    weights = np.random.default_rng(4).uniform(0.5, 2.0, len(X))
    Xd = da.from_array(X, chunks=(700, 3))
    wd = da.from_array(weights, chunks=700)
    params = dict(
        n_components=N_COMPONENTS,
        covariance_type=covariance_type,
        init_params=init_params,
        random_state=0,
    )
    with dask.config.set(scheduler="threads"):
        model = fit(Xd, wd, **params)
    assert np.all(np.isfinite(model.covariances_))
    assert np.isfinite(model.lower_bound_)
    if init_params == "kmeans":
        _close_to_the_truth(model)
    if init_params in ("k-means++", "random_from_data") and covariance_type == "full":
        # Small data is sampled as in memory: the same rows, the same model.
        # (Not so for the other covariance types: in memory, their initial
        # covariances carry scikit-learn's rounding noise, which EM's first
        # steps amplify; here they are exact.)
        assert_same_model(model, fit(X, weights, **params))


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("init_params", INIT_PARAMS)
def test_initialisations_on_sampled_data(monkeypatch, init_params, weighted):
    # Data larger than the in-memory sample: the distributed draws.
    monkeypatch.setattr(_dask, "SMALL_SAMPLE_ROWS", 500)
    X = make_data(seed=5)
    Xd = da.from_array(X, chunks=(600, 3))
    weights = np.random.default_rng(6).uniform(0, 2, len(X)) if weighted else None
    params = dict(
        n_components=N_COMPONENTS,
        covariance_type="full",
        init_params=init_params,
        random_state=1,
        max_iter=200,
    )
    with dask.config.set(scheduler="threads"):
        model = fit(Xd, weights, **params)
        again = fit(Xd, weights, **params)
    assert_same_model(again, model, rtol=0)
    if init_params == "kmeans":
        _close_to_the_truth(model)
    else:
        assert np.isfinite(model.lower_bound_)


def test_rows_drawn_from_large_data():
    # Distinct indices without materialising range(n_samples); rows fetched in
    # the order drawn.
    X = da.random.default_rng(0).normal(size=(400_000, 2), chunks=(1000, 2))
    data = _dask.DaskData(_dask.check_array(X))
    indices = data._draw_rows(3, np.random.RandomState(0))
    assert len(set(indices.tolist())) == 3
    rows, _ = data._take_rows(indices)
    np.testing.assert_array_equal(rows, X[np.asarray(indices)].compute())


# ---------------------------------------------------------------------------
# Faults


def test_worker_killed_during_fit(client, monkeypatch):
    n_samples = 200_000
    X = da.random.default_rng(7).normal(size=(n_samples, 4), chunks=(20_000, 4))
    X = X + da.arange(n_samples, chunks=20_000)[:, None] % 3 * 4.0
    X = client.persist(X)
    X_in_memory = X.compute(scheduler=client)
    params = dict(n_components=6, covariance_type="full", tol=0.0, max_iter=12)
    params.update(explicit_init(X_in_memory, "full", 6))
    expected = fit(X_in_memory, **params)

    pids = sorted(client.run(os.getpid).values())
    third_pass = threading.Event()
    fit_over = threading.Event()
    killed = []

    def kill_a_worker():
        # SIGKILL a worker while the third EM pass runs (it takes longer than
        # this delay: every pass computes all ten blocks).
        third_pass.wait(timeout=120)
        time.sleep(0.02)
        if not fit_over.is_set():
            os.kill(pids[0], signal.SIGKILL)
            killed.append(time.monotonic())

    statistics = _dask.DaskData.statistics
    calls = []

    def counting_statistics(self, params, ref):
        calls.append(time.monotonic())
        if len(calls) == 3:
            third_pass.set()
        return statistics(self, params, ref)

    monkeypatch.setattr(_dask.DaskData, "statistics", counting_statistics)
    killer = threading.Thread(target=kill_a_worker, daemon=True)
    killer.start()
    try:
        with client.as_current():
            got = fit(X, **params)
    finally:
        fit_over.set()
        third_pass.set()
        killer.join(timeout=30)
    assert len(calls) == 12
    # Killed during the fit, after the third pass had begun.
    assert killed and calls[2] < killed[0] < calls[-1]
    assert_same_model(got, expected)
    # The nanny has started a new worker in place of the killed one.
    client.wait_for_workers(2, timeout=60)
    assert pids[0] not in client.run(os.getpid).values()


# ---------------------------------------------------------------------------
# Validation


def test_importing_fastgmm_does_not_import_dask():
    code = "import sys, fastgmm; assert 'dask' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(
    "X, message",
    [
        (da.ones(10, chunks=5), "Expected 2D array, got 1D array"),
        (da.ones((10, 2, 2), chunks=5), "Expected 2D array, got 3D array"),
        (da.ones((1, 2), chunks=5), "minimum of 2 is required"),
        (da.ones((10, 0), chunks=5), "0 feature"),
        (da.ones((10, 2), chunks=5, dtype=complex), "numeric dtype"),
        (da.ones((3, 2), chunks=5), "Expected n_samples >= n_components"),
    ],
)
def test_bad_X_at_fit(X, message):
    with pytest.raises(ValueError, match=message):
        fastgmm.GaussianMixture(4).fit(X)


def test_unknown_chunk_sizes():
    X = da.from_array(make_data(), chunks=(700, 3))
    X = X[X[:, 0] > 100]
    with pytest.raises(ValueError, match="compute_chunk_sizes"):
        fastgmm.GaussianMixture(2).fit(X)


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
@pytest.mark.parametrize("init_params", INIT_PARAMS + ("explicit",))
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_X_raises_at_fit(init_params, bad):
    X = make_data(500)
    X[321, 1] = bad
    params = dict(n_components=2, init_params="kmeans", random_state=0)
    if init_params == "explicit":
        params.update(explicit_init(X[:10], "full", 2))
    else:
        params["init_params"] = init_params
    model = fastgmm.GaussianMixture(**params)
    with dask.config.set(scheduler="threads"):
        with pytest.raises(ValueError, match="Input X contains NaN or infinity"):
            model.fit(da.from_array(X, chunks=(100, 3)))
    assert not hasattr(model, "means_")


def test_non_finite_X_raises_at_predict():
    X = make_data(500)
    model = fit(X, n_components=2, random_state=0)
    X[7, 0] = np.nan
    Xd = da.from_array(X, chunks=(100, 3))
    for method in ("predict", "predict_proba", "score_samples"):
        lazy = getattr(model, method)(Xd)
        with pytest.raises(ValueError, match="Input X contains NaN or infinity"):
            lazy.compute(scheduler="threads")


def test_wrong_number_of_features_after_fit():
    model = fit(make_data(500), n_components=2, random_state=0)
    with pytest.raises(ValueError, match="X has 2 features"):
        model.predict(da.ones((10, 2), chunks=5))


@pytest.mark.parametrize(
    "weights, message",
    [
        (da.ones(9, chunks=5), r"sample_weight.shape == \(9,\), expected \(10,\)"),
        (np.ones(9), "sample_weight.shape"),
        (-da.ones(10, chunks=5), "Negative values"),
        (da.full(10, np.nan, chunks=5), "sample_weight contains NaN"),
        (da.zeros(10, chunks=5), "at least one non-zero"),
        (da.arange(10, chunks=5) > 8, "at least n_components rows"),
    ],
)
def test_bad_sample_weight(weights, message):
    X = da.from_array(make_data(10), chunks=(4, 3))
    with pytest.raises(ValueError, match=message):
        fastgmm.GaussianMixture(2).fit(X, sample_weight=weights)


def test_given_initial_responsibilities_are_refused_for_dask_data():
    # The shared k-means labels of GaussianMixtureIC are per row, in memory;
    # a Dask fit must say so rather than fall back to another initialisation.
    da = pytest.importorskip("dask.array")
    from fastgmm.engine._init import InitialAssignment

    X = da.from_array(np.random.default_rng(0).normal(size=(60, 2)), chunks=30)
    labels = np.repeat([0, 1], 30)
    with pytest.raises(TypeError, match="in-memory data only"):
        fastgmm.GaussianMixture(2)._fit_from_assignments(
            X, None, [InitialAssignment(labels=labels)]
        )
