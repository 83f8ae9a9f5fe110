"""BatchGaussianMixture on Dask arrays: the rows moved to their group's
partition, each partition fitted in memory; the same models, bit for bit."""

import os
import signal
import threading
import time
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from fastgmm import BatchGaussianMixture

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
pytest.importorskip("distributed")

from fastgmm.engine import _dask_groups  # noqa: E402  (imports dask)

NAMES = np.array([f"site-{i:03d}" for i in range(40)])


def _ragged(n_groups=40, n_features=3, seed=0, dtype=np.float64):
    """Shuffled rows of groups of 2 to 400 rows (one of 5,000: more than a
    kernel block), two clusters each, and their integer labels."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(2, 400, n_groups)
    sizes[3] = 5000
    blocks = []
    for g, size in enumerate(sizes):
        rows = rng.standard_normal((size, n_features)) * rng.uniform(0.5, 2)
        rows[: size // 2] += rng.uniform(2, 5)
        blocks.append(rows + 10 * g)
    X = np.concatenate(blocks).astype(dtype)
    groups = np.repeat(np.arange(n_groups), sizes)
    order = rng.permutation(len(X))
    return X[order], groups[order]


def _quietly(call, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return call(*args, **kwargs)


def _fitted(estimator):
    return {
        name: value
        for name, value in vars(estimator).items()
        if name.endswith("_") and not name.startswith("_")
    }


def assert_same_fit(got, expected):
    """Every fitted attribute equal, bit for bit, with its dtype and shape."""
    got, expected = _fitted(got), _fitted(expected)
    assert sorted(got) == sorted(expected)
    for name, value in expected.items():
        if isinstance(value, np.ndarray):
            assert got[name].dtype == value.dtype, name
            np.testing.assert_array_equal(got[name], value, err_msg=name)
        else:
            assert got[name] == value, name


def assert_same_scores(model, reference, X, groups, Xd, groups_d):
    for method in ("predict", "predict_proba", "score_samples"):
        lazy = getattr(model, method)(Xd, groups_d)
        assert isinstance(lazy, da.Array), method
        assert lazy.chunks[0] == Xd.chunks[0], method
        computed = lazy.compute()
        expected = getattr(reference, method)(X, groups)
        assert computed.dtype == lazy.dtype == expected.dtype, method
        np.testing.assert_array_equal(computed, expected, err_msg=method)
    # Per-group values: each group's rows scored together, as in memory.
    for method in ("score", "bic", "aic"):
        got = getattr(model, method)(Xd, groups_d)
        expected = getattr(reference, method)(X, groups)
        assert isinstance(got, np.ndarray) and got.dtype == expected.dtype, method
        np.testing.assert_array_equal(got, expected, err_msg=method)


@pytest.fixture(autouse=True)
def partition_per_block(monkeypatch):
    """A partition per row block, however small: the tests' rows move."""
    monkeypatch.setattr(_dask_groups, "PARTITION_ROWS", 1)


def test_partitions_hold_a_quarter_million_rows_at_least(monkeypatch):
    monkeypatch.setattr(_dask_groups, "PARTITION_ROWS", 250_000)
    for n_rows, chunk, expected in [
        (1000, 100, 1),
        (2_000_000, 125_000, 8),
        (2_000_000, 500_000, 4),
        (10_000_000, 250_000, 40),
    ]:
        X = da.zeros((n_rows, 2), chunks=(chunk, 2))
        assert _dask_groups.n_partitions(X) == expected


@pytest.fixture(scope="module")
def client(dask_client):
    return dask_client


# ---------------------------------------------------------------------------
# The in-memory fit's models


@pytest.mark.parametrize("labels", ["int", "str"])
@pytest.mark.parametrize(
    "chunks",
    ["one", 997, (5, 3000, 1, 7000, 2000)],
    ids=["one-chunk", "many-chunks", "uneven-chunks"],
)
def test_same_models_and_scores_as_in_memory(chunks, labels):
    X, groups = _ragged()
    if labels == "str":
        groups = NAMES[groups]
    if isinstance(chunks, tuple):
        chunks = (*chunks, len(X) - sum(chunks))
    elif chunks == "one":
        chunks = len(X)
    params = dict(n_components=2, random_state=0)
    expected = _quietly(BatchGaussianMixture(**params).fit, X, groups)
    Xd = da.from_array(X, chunks=(chunks, -1))
    groups_d = da.from_array(groups, chunks=chunks)
    with dask.config.set(scheduler="threads"):
        got = _quietly(BatchGaussianMixture(**params).fit, Xd, groups_d)
        assert_same_fit(got, expected)
        assert got.groups_.dtype == groups.dtype
        # groups in memory beside a Dask X.
        assert_same_scores(got, expected, X, groups, Xd, groups)
        assert_same_scores(got, expected, X, groups, Xd, groups_d)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_sample_weight_selection_and_float32(covariance_type):
    X, groups = _ragged(n_groups=12, seed=1, dtype=np.float32)
    weights = np.random.default_rng(2).integers(0, 4, len(X)).astype(float)
    params = dict(
        n_components=[1, 2, 3], covariance_type=covariance_type, random_state=3
    )
    expected = _quietly(BatchGaussianMixture(**params).fit, X, groups, weights)
    Xd = da.from_array(X, chunks=(1500, -1))
    with dask.config.set(scheduler="threads"):
        # Weights chunked unlike X: rechunked to its row blocks.
        wd = da.from_array(weights, chunks=2000)
        got = _quietly(BatchGaussianMixture(**params).fit, Xd, groups, wd)
        assert_same_fit(got, expected)
        assert got.means_.dtype == np.float32
        assert got.criterion_values_.shape == (12, 3)
        assert_same_scores(got, expected, X, groups, Xd, groups)


def test_random_state_instance_or_none_draws_one_seed():
    X, groups = _ragged(n_groups=8, seed=4)
    Xd = da.from_array(X, chunks=(700, -1))
    seed = np.random.RandomState(7).randint(np.iinfo(np.int32).max)
    expected = _quietly(
        BatchGaussianMixture(2, n_init=2, random_state=seed).fit, X, groups
    )
    with dask.config.set(scheduler="threads"):
        state = np.random.RandomState(7)
        got = _quietly(
            BatchGaussianMixture(2, n_init=2, random_state=state).fit, Xd, groups
        )
        assert_same_fit(got, expected)
        # The generator gave one draw.
        reference = np.random.RandomState(7)
        reference.randint(np.iinfo(np.int32).max)
        assert state.randint(1000) == reference.randint(1000)
        # None: one seed from NumPy's global generator.
        np.random.seed(7)
        got = _quietly(BatchGaussianMixture(2, n_init=2).fit, Xd, groups)
        assert_same_fit(got, expected)


def test_partitions_in_threads_leave_the_warning_filters_alone():
    X, groups = _ragged(n_groups=40, seed=11)
    small = groups != 3  # no group of more than one block
    Xd = da.from_array(X[small], chunks=(300, -1))
    filters, show = list(warnings.filters), warnings.showwarning
    with dask.config.set(scheduler="threads", num_workers=4):
        BatchGaussianMixture(2, random_state=0, max_iter=500).fit(Xd, groups[small])
    assert warnings.filters == filters and warnings.showwarning is show


# ---------------------------------------------------------------------------
# Groups that cannot be fitted


def _with_bad_groups():
    X, groups = _ragged(n_groups=6, seed=5)
    X = np.concatenate([X, [[0.0, 1.0, 2.0]]])
    groups = np.concatenate([groups, [9]])  # one row: too few
    X[np.flatnonzero(groups == 2)[0], 1] = np.nan
    return X, groups


def test_groups_that_cannot_be_fitted_warn_once():
    X, groups = _with_bad_groups()
    params = dict(n_components=2, random_state=0)
    with pytest.warns(UserWarning, match="2 of 7 groups could not be fitted") as rec:
        expected = _quietly(BatchGaussianMixture(**params).fit, X, groups)
    Xd = da.from_array(X, chunks=(900, -1))
    with (
        dask.config.set(scheduler="threads"),
        pytest.warns(UserWarning, match="2 of 7 groups could not be fitted") as got_rec,
    ):
        got = _quietly(BatchGaussianMixture(**params).fit, Xd, groups)
    messages = [str(w.message) for w in got_rec if w.category is UserWarning]
    assert messages == [str(w.message) for w in rec if w.category is UserWarning]
    assert "2 (non_finite)" in messages[0] and "9 (too_few_rows)" in messages[0]
    assert_same_fit(got, expected)
    # Rows without NaN score as in memory; the unfitted group's are NaN.
    finite = ~np.isnan(X).any(axis=1)
    Xd = da.from_array(X[finite], chunks=(900, -1))
    with dask.config.set(scheduler="threads"):
        assert_same_scores(got, expected, X[finite], groups[finite], Xd, groups[finite])


def test_errors_raise_names_the_group_and_keeps_the_earlier_fit():
    X, groups = _with_bad_groups()
    Xd = da.from_array(X, chunks=(900, -1))
    model = BatchGaussianMixture(2, random_state=0, errors="raise")
    with dask.config.set(scheduler="threads"):
        finite = ~np.isnan(X).any(axis=1) & (groups != 9)
        good = _quietly(model.fit, X[finite], groups[finite])
        means = good.means_.copy()
        with pytest.raises(ValueError, match="Group 2 could not be fitted: non-finite"):
            _quietly(model.fit, Xd, groups)
    np.testing.assert_array_equal(model.means_, means)


# ---------------------------------------------------------------------------
# Lazy outputs, parameters in the graph once


def test_outputs_are_lazy_until_computed():
    X, groups = _ragged(n_groups=10, seed=6)
    model = _quietly(BatchGaussianMixture(2, random_state=0).fit, X, groups)
    reads = []

    def counted(block):
        reads.append(len(block))
        return block

    Xd = da.from_array(X, chunks=(1000, -1))
    Xd = Xd.map_blocks(counted, meta=np.empty((0, 0), dtype=X.dtype))
    groups_d = da.from_array(groups, chunks=1000)
    with dask.config.set(scheduler="threads"):
        lazy = [
            model.predict(Xd, groups_d),
            model.predict_proba(Xd, groups_d),
            model.score_samples(Xd, groups_d),
        ]
        assert reads == []
        assert all(isinstance(a, da.Array) for a in lazy)
        np.testing.assert_array_equal(lazy[0].compute(), model.predict(X, groups))
    assert sum(reads) == len(X)
    assert lazy[1].shape == (len(X), 2) and lazy[1].chunks[0] == Xd.chunks[0]


def test_parameters_enter_the_graph_once():
    import pickle

    X, groups = _ragged(n_groups=400, n_features=2, seed=7)
    model = _quietly(BatchGaussianMixture(2, random_state=0).fit, X, groups)
    size = model.means_.nbytes + model.precisions_cholesky_.nbytes
    Xd = da.from_array(X, chunks=(2000, -1))
    assert Xd.numblocks[0] > 20
    lazy = model.predict_proba(Xd, da.from_array(groups, chunks=2000))
    tasks = dict(lazy.__dask_graph__())
    # Each task pickled alone: only one holds the parameters.
    holding = [key for key, task in tasks.items() if len(pickle.dumps(task)) > size]
    assert len(holding) == 1
    with dask.config.set(scheduler="threads"):
        np.testing.assert_array_equal(lazy.compute(), model.predict_proba(X, groups))


# ---------------------------------------------------------------------------
# A cluster of worker processes


def test_fit_and_predict_on_a_cluster_of_processes(request):
    X, groups = _ragged(n_groups=30, seed=8)
    groups = NAMES[groups]
    params = dict(n_components=2, covariance_type="diag", random_state=1)
    expected = _quietly(BatchGaussianMixture(**params).fit, X, groups)
    # The cluster only now: compiling the fit above holds the GIL for long
    # enough, on a fresh cache and a busy machine, that the client in this
    # process would lose its scheduler.
    client = request.getfixturevalue("client")
    Xd = client.persist(da.from_array(X, chunks=(1500, -1)))
    groups_d = da.from_array(groups, chunks=1500)
    with client.as_current():
        got = _quietly(BatchGaussianMixture(**params).fit, Xd, groups_d)
        assert_same_fit(got, expected)
        assert_same_scores(got, expected, X, groups, Xd, groups_d)
    # The worker processes fitted the partitions.
    assert len(client.run(lambda: 0)) == 2


def _slow_partition_fits(seconds):
    """In a worker: each partition's fit waits ``seconds`` first (0: as it
    was).  Tasks find ``_fit_partition`` by name, so they run this one."""
    import time

    from fastgmm.engine import _dask_groups

    fit = getattr(_dask_groups, "_unslowed", _dask_groups._fit_partition)
    _dask_groups._unslowed = fit

    def slow(template, pieces):
        time.sleep(seconds)
        return fit(template, pieces)

    _dask_groups._fit_partition = slow if seconds else fit


def test_worker_killed_during_the_partitions_fits(request):
    X, groups = _ragged(n_groups=30, seed=11)
    params = dict(n_components=2, covariance_type="full", random_state=2)
    expected = _quietly(BatchGaussianMixture(**params).fit, X, groups)
    client = request.getfixturevalue("client")
    client.wait_for_workers(2, timeout=60)
    Xd = client.persist(da.from_array(X, chunks=(1200, -1)))  # 8 partitions
    groups_d = client.persist(da.from_array(groups, chunks=1200))
    pids = sorted(client.run(os.getpid).values())
    client.run(_slow_partition_fits, 0.4)
    fit_over = threading.Event()
    killed = []

    def kill_a_worker():
        # Splitting takes milliseconds; each worker's partitions then take
        # 0.4 s each, four of them.
        time.sleep(0.6)
        if not fit_over.is_set():
            os.kill(pids[0], signal.SIGKILL)
            killed.append(True)

    killer = threading.Thread(target=kill_a_worker, daemon=True)
    try:
        with client.as_current():
            killer.start()
            got = _quietly(BatchGaussianMixture(**params).fit, Xd, groups_d)
    finally:
        fit_over.set()
        killer.join(timeout=30)
        client.run(_slow_partition_fits, 0)
    assert killed, "the fit ended before a worker was killed"
    assert_same_fit(got, expected)
    # The nanny has started a new worker in place of the killed one.
    client.wait_for_workers(2, timeout=60)
    assert pids[0] not in client.run(os.getpid).values()


# ---------------------------------------------------------------------------
# Validation and messages


def test_bad_input_gets_the_in_memory_errors():
    X, groups = _ragged(n_groups=4, seed=9)
    Xd = da.from_array(X, chunks=(500, -1))
    model = BatchGaussianMixture(2, random_state=0)
    with pytest.raises(ValueError, match="groups is required"):
        model.fit(Xd)
    with pytest.raises(ValueError, match="one label per row"):
        model.fit(Xd, groups[:-1])
    with pytest.raises(ValueError, match="one label per row"):
        model.fit(Xd, da.from_array(groups[:-1]))
    with pytest.raises(ValueError, match="Expected 2D array"):
        model.fit(Xd[:, 0], groups)
    unknown = Xd[Xd[:, 0] > -np.inf]
    with pytest.raises(ValueError, match="unknown chunk sizes"):
        model.fit(unknown, groups)
    with pytest.raises(TypeError, match="pass X as a Dask array"):
        model.fit(X, da.from_array(groups))
    _quietly(model.set_params(warm_start=True).fit, X, groups)
    with pytest.raises(ValueError, match="warm_start=True is not supported"):
        model.fit(Xd, groups)
    stacked = np.zeros((4, 2, 3))
    with pytest.raises(ValueError, match="means_init must be shared"):
        BatchGaussianMixture(2, means_init=stacked).fit(Xd, groups)
    with dask.config.set(scheduler="threads"):
        model = _quietly(BatchGaussianMixture(2, random_state=0).fit, Xd, groups)
        with pytest.raises(ValueError, match="expecting 3 features"):
            model.predict(Xd[:, :2], groups)
        with pytest.raises(ValueError, match="Unknown groups"):
            model.predict(Xd, groups + 10).compute()
        X_nan = X.copy()
        X_nan[5, 0] = np.nan
        lazy = model.predict(da.from_array(X_nan, chunks=(500, -1)), groups)
        with pytest.raises(ValueError, match="contains NaN"):
            lazy.compute()
        with pytest.raises(ValueError, match="contains NaN"):
            model.predict(X_nan, groups)


def test_verbose_prints_one_line_before_and_after(capsys):
    X, groups = _ragged(n_groups=5, seed=10)
    Xd = da.from_array(X, chunks=(800, -1))
    with dask.config.set(scheduler="threads"):
        _quietly(BatchGaussianMixture(2, random_state=0, verbose=1).fit, Xd, groups)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    n_parts = Xd.numblocks[0]
    assert lines[0].startswith(f"Fitting the groups of {len(X)} rows in {n_parts} ")
    assert lines[1].startswith("Fitted 5 of 5 groups in")


@pytest.mark.parametrize(
    "labels, same",
    [
        (np.array(["a", "bb", "ccc"]), np.array(["a", "bb", "ccc"], dtype="U10")),
        (np.array([b"a", b"bb"]), np.array([b"a", b"bb"], dtype="S7")),
        (np.array([-3, 5, 70], dtype=np.int8), np.array([-3, 5, 70])),
        (np.array([-0.0, 1.5]), np.array([0.0, 1.5], dtype=np.float32)),
        (np.array(["x", "y"], dtype=object), np.array(["x", "y"], dtype=object)),
    ],
)
def test_equal_labels_go_to_the_same_partition(labels, same):
    for n_parts in (1, 2, 7, 64):
        where = _dask_groups.partition_of(labels, n_parts)
        np.testing.assert_array_equal(where, _dask_groups.partition_of(same, n_parts))
        assert ((where >= 0) & (where < n_parts)).all()


def test_labels_spread_over_the_partitions():
    for labels in (np.arange(1000), NAMES, np.linspace(0, 1, 1000)):
        counts = np.bincount(_dask_groups.partition_of(labels, 8), minlength=8)
        assert counts.min() >= len(labels) / 8 / 2


@pytest.mark.parametrize("n_parts", [2, 7, 8])
@pytest.mark.parametrize(
    "labels",
    [
        np.array([-9, 3, 0, 8, -1, 15, 2**40, -(2**40), 7, 7, 3, -9]),
        np.array([200, 3, 0, 255, 7, 7, 3, 200], dtype=np.uint8),
        np.array(["a", "bb", "a", "ccc", "bb", "a", "dd", "e"]),
    ],
)
def test_a_block_splits_as_a_stable_sort_by_partition(labels, n_parts):
    # The compiled counting sort cuts a block as NumPy's stable sort by
    # ``partition_of`` does, rows and weights alike.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(len(labels), 3)).astype(np.float32)
    weights = rng.uniform(size=len(labels))
    pieces = _dask_groups._split_rows(X, labels, weights, n_parts)
    where = _dask_groups.partition_of(labels, n_parts)
    assert len(pieces) == n_parts
    for p, (Xp, labels_p, weights_p) in enumerate(pieces):
        rows = np.flatnonzero(where == p)  # in their order
        np.testing.assert_array_equal(Xp, X[rows])
        np.testing.assert_array_equal(labels_p, labels[rows])
        np.testing.assert_array_equal(weights_p, weights[rows])
        assert Xp.dtype == X.dtype and labels_p.dtype == labels.dtype


def test_per_group_scores_of_some_groups_and_unknown_groups():
    X, groups = _ragged(n_groups=12, seed=3)
    model = _quietly(
        BatchGaussianMixture(n_components=2, random_state=0).fit, X, groups
    )
    some = groups % 3 == 0
    Xd = da.from_array(X[some], chunks=(500, -1))
    groups_d = da.from_array(groups[some], chunks=500)
    with dask.config.set(scheduler="threads"):
        for method in ("score", "bic", "aic"):
            got = getattr(model, method)(Xd, groups_d)
            np.testing.assert_array_equal(
                got, getattr(model, method)(X[some], groups[some]), err_msg=method
            )
            assert np.isnan(got[np.arange(12) % 3 != 0]).all()
        with pytest.raises(ValueError, match="Unknown groups"):
            model.score(da.from_array(X[:50], chunks=25), np.full(50, 99))
        with pytest.raises(ValueError, match="expecting 3 features"):
            model.bic(da.from_array(X[:50, :2], chunks=25), groups[:50])


def test_a_dask_dataframe_and_series_are_their_values():
    # A table on the cluster: numeric columns and a column of labels, as
    # read from Parquet.  Fitted and scored as the Dask arrays of their
    # values, without gathering the rows here.
    dd = pytest.importorskip("dask.dataframe")
    pd = pytest.importorskip("pandas")
    X, groups = _ragged(n_groups=8, seed=5)
    table = pd.DataFrame(X, columns=["a", "b", "c"]).assign(site=NAMES[groups])
    frame = dd.from_pandas(table, npartitions=3)
    params = dict(n_components=2, random_state=0)
    # (Strings come out of the table as objects, as pandas hands them.)
    labels_in_memory = NAMES[groups].astype(object)
    expected = _quietly(BatchGaussianMixture(**params).fit, X, labels_in_memory)
    with dask.config.set(scheduler="threads"):
        got = _quietly(
            BatchGaussianMixture(**params).fit, frame[["a", "b", "c"]], frame["site"]
        )
        assert_same_fit(got, expected)
        labels = got.predict(frame[["a", "b", "c"]], frame["site"])
        assert isinstance(labels, da.Array)
        np.testing.assert_array_equal(
            labels.compute(), expected.predict(X, NAMES[groups])
        )
        np.testing.assert_array_equal(
            got.bic(frame[["a", "b", "c"]], frame["site"]),
            expected.bic(X, NAMES[groups]),
        )
