"""Compiled kernels against slow, obviously-correct NumPy references."""

import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import COVARIANCE_TYPES
from naive import naive_e_step, naive_label_statistics, naive_statistics

from fastgmm.kernels import _estep as _kernels
from fastgmm.kernels import _groups as _batch_kernels
from fastgmm.kernels import _kmeans, _mstep, _unrolled
from fastgmm.kernels._config import BLOCK_ROWS
from fastgmm.kernels._covariance import FULL, covariance
from fastgmm.kernels._exp import exp_nonpositive, exp_nonpositive32
from fastgmm.kernels._specialise import Variant


def random_precision_cholesky(rng, covariance_type, n_components, n_features):
    if covariance_type == "full":
        factors = np.triu(rng.normal(size=(n_components, n_features, n_features)))
        factors[:, np.arange(n_features), np.arange(n_features)] = rng.uniform(
            0.5, 2.0, size=(n_components, n_features)
        )
        return factors
    if covariance_type == "tied":
        factor = np.triu(rng.normal(size=(n_features, n_features)))
        factor[np.arange(n_features), np.arange(n_features)] = rng.uniform(
            0.5, 2.0, size=n_features
        )
        return factor
    if covariance_type == "diag":
        return rng.uniform(0.5, 2.0, size=(n_components, n_features))
    return rng.uniform(0.5, 2.0, size=n_components)


def kernel_inputs(rng, covariance_type, n_samples, n_features, n_components, dtype):
    X = rng.normal(size=(n_samples, n_features)).astype(dtype)
    weights = rng.dirichlet(np.ones(n_components))
    means = rng.normal(size=(n_components, n_features)).astype(dtype)
    prec_chol = random_precision_cholesky(
        rng, covariance_type, n_components, n_features
    ).astype(dtype)
    return X, weights, means, prec_chol


def kernel_statistics(X, w, weights, means, prec_chol, covariance_type, ref):
    """``(ll, nk, s1, s2)`` of the compiled kernel, from scikit-learn's layout.

    ``w`` is the row weights, or an empty array for unit weights.
    """
    n_components, n_features = means.shape
    prec3, log_det = _mstep.kernel_precisions(
        prec_chol, covariance_type, n_components, n_features
    )
    return _kernels.em_statistics(
        X,
        w,
        np.log(weights),
        means,
        prec3,
        log_det,
        ref,
        code=covariance(covariance_type).code,
    )


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
# Up to 8 features, full covariances take the unrolled norms; 9 and 12 the
# column-by-column ones.
@pytest.mark.parametrize("n_features", [1, 2, 3, 5, 8, 9, 12])
@pytest.mark.parametrize("weighted", [False, True])
def test_em_statistics_matches_numpy(covariance_type, n_features, weighted):
    rng = np.random.default_rng(n_features)
    n_components = 3
    # Several tiles and blocks, with a ragged last tile.
    n_samples = 9000 + 37
    X, weights, means, prec_chol = kernel_inputs(
        rng, covariance_type, n_samples, n_features, n_components, np.float64
    )
    w = rng.uniform(0, 3, n_samples) if weighted else np.ones(n_samples)
    if covariance_type == "tied":
        ref = np.broadcast_to(weights @ means, means.shape).copy()
    else:
        ref = means + 0.1
    ll, nk, s1, s2 = kernel_statistics(
        X,
        w if weighted else np.empty(0),
        weights,
        means,
        prec_chol,
        covariance_type,
        ref,
    )
    expected = naive_statistics(X, w, weights, means, prec_chol, covariance_type, ref)
    np.testing.assert_allclose(ll, expected[0], rtol=1e-12)
    np.testing.assert_allclose(nk, expected[1], rtol=1e-12)
    scale = np.abs(expected[2]).max()
    np.testing.assert_allclose(s1, expected[2], rtol=1e-11, atol=1e-12 * scale)
    np.testing.assert_allclose(np.triu(s2), expected[3], rtol=1e-11)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_em_statistics_float32_accumulates_in_float64(covariance_type):
    rng = np.random.default_rng(0)
    X, weights, means, prec_chol = kernel_inputs(
        rng, covariance_type, 5000, 4, 3, np.float32
    )
    ref = np.broadcast_to(weights @ means, means.shape).astype(np.float64)
    ll, nk, s1, s2 = kernel_statistics(
        X, np.empty(0), weights, means, prec_chol, covariance_type, ref
    )
    expected = naive_statistics(
        X.astype(np.float64),
        np.ones(len(X)),
        weights,
        means.astype(np.float64),
        prec_chol.astype(np.float64),
        covariance_type,
        ref,
    )
    assert s2.dtype == np.float64
    np.testing.assert_allclose(ll, expected[0], rtol=1e-5)
    np.testing.assert_allclose(nk, expected[1], rtol=1e-5)
    np.testing.assert_allclose(np.triu(s2), expected[3], rtol=1e-4)


@pytest.mark.parametrize("n_features", range(1, _unrolled.MAX_UNROLLED_FEATURES + 1))
@pytest.mark.parametrize(
    "dtype, out_dtype",
    [(np.float64, np.float64), (np.float32, np.float32), (np.float32, np.float64)],
)
def test_unrolled_norms_are_the_column_by_column_ones(n_features, dtype, out_dtype):
    # For few features the unrolled norms replace the column-by-column ones,
    # in the same precisions (float32 products for float32 data).
    rng = np.random.default_rng(n_features)
    n_rows, n_components = 300, 3
    X, _, means, prec_chol = kernel_inputs(
        rng, "full", n_rows, n_features, n_components, dtype
    )
    xt = np.ascontiguousarray((X * 4).T)
    for k in range(n_components):
        unrolled = np.full(n_rows, np.nan, dtype=out_dtype)
        _unrolled.sq_norms(xt, means, prec_chol, k, unrolled)
        by_column = np.zeros(n_rows, dtype=out_dtype)
        diff = (xt - means[k][:, None]).astype(dtype)
        _kernels._triangular_sq_norms(
            diff, prec_chol, k, by_column, np.empty(n_rows, dtype=dtype)
        )
        expected = (((X * 4 - means[k]).astype(np.float64) @ prec_chol[k]) ** 2).sum(1)
        rtol = 1e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(unrolled, by_column, rtol=rtol)
        np.testing.assert_allclose(unrolled, expected, rtol=rtol)


@pytest.mark.parametrize("n_features", range(1, _unrolled.MAX_UNROLLED_FEATURES + 1))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_unrolled_moments_match_numpy(n_features, dtype):
    rng = np.random.default_rng(n_features)
    n_rows, n_components = 300, 3
    xt = rng.normal(3.0, 2.0, size=(n_features, n_rows)).astype(dtype)
    resp = rng.uniform(size=(n_components, n_rows)).astype(dtype)
    ref = rng.normal(3.0, 1.0, size=(n_components, n_features)).astype(dtype)
    s1 = np.ones((n_components, n_features))
    s2 = np.full((n_components, n_features, n_features), np.nan)
    upper = np.triu_indices(n_features)
    for k in range(n_components):
        s2[k][upper] = 1.0
        _unrolled.add_moments(xt, resp[k], ref, k, s1, s2)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    for k in range(n_components):
        diff = xt.T.astype(np.float64) - ref[k]
        r = resp[k].astype(np.float64)
        np.testing.assert_allclose(s1[k], 1.0 + r @ diff, rtol=rtol, atol=rtol)
        expected = 1.0 + (diff.T * r) @ diff
        # Sums of terms of either sign: relative to the terms' magnitude.
        scale = np.abs(diff.T * r) @ np.abs(diff)
        np.testing.assert_allclose(
            s2[k][upper], expected[upper], rtol=0, atol=rtol * scale[upper].max()
        )
        # The lower triangle is left as it was.
        assert np.isnan(s2[k][np.tril_indices(n_features, -1)]).all()


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_score_rows_matches_numpy(covariance_type):
    rng = np.random.default_rng(1)
    n_samples, n_features, n_components = 1000, 3, 4
    X, weights, means, prec_chol = kernel_inputs(
        rng, covariance_type, n_samples, n_features, n_components, np.float64
    )
    prec3, log_det = _mstep.kernel_precisions(
        prec_chol, covariance_type, n_components, n_features
    )
    log_norm = np.empty(n_samples)
    resp = np.empty((n_samples, n_components))
    labels = np.empty(n_samples, dtype=np.intp)
    _kernels.score_rows_into(
        X,
        np.log(weights),
        means,
        prec3,
        log_det,
        log_norm,
        resp,
        labels,
        code=covariance(covariance_type).code,
    )
    expected = naive_e_step(X, weights, means, prec_chol, covariance_type)
    np.testing.assert_allclose(log_norm, expected[0], rtol=1e-12)
    np.testing.assert_allclose(resp, expected[1], atol=1e-13)
    np.testing.assert_array_equal(labels, expected[2])


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_score_rows_float32_outputs_are_the_float64_ones_rounded(covariance_type):
    # float32 outputs (what score_samples and predict_proba return for a
    # float32 model on float32 data) hold the float64 values rounded once; a
    # row count past one block runs the parallel path, with a partial tile.
    rng = np.random.default_rng(2)
    n_samples, n_features, n_components = BLOCK_ROWS + 300, 3, 4
    X, weights, means, prec_chol = kernel_inputs(
        rng, covariance_type, n_samples, n_features, n_components, np.float32
    )
    prec3, log_det = _mstep.kernel_precisions(
        prec_chol, covariance_type, n_components, n_features
    )
    outputs = {}
    for dtype in (np.float64, np.float32):
        log_norm = np.empty(n_samples, dtype=dtype)
        resp = np.empty((n_samples, n_components), dtype=dtype)
        labels = np.empty(n_samples, dtype=np.intp)
        _kernels.score_rows_into(
            X, np.log(weights), means, prec3, log_det, log_norm, resp, labels,
            code=covariance(covariance_type).code,
        )  # fmt: skip
        outputs[dtype] = log_norm, resp, labels
    (log_norm64, resp64, labels64), (log_norm32, resp32, labels32) = outputs.values()
    np.testing.assert_array_equal(log_norm32, log_norm64.astype(np.float32))
    np.testing.assert_array_equal(resp32, resp64.astype(np.float32))
    np.testing.assert_array_equal(labels32, labels64)
    X64 = X.astype(np.float64)
    expected = naive_e_step(X64, weights, means, prec_chol, covariance_type)
    np.testing.assert_allclose(log_norm32, expected[0], rtol=1e-5)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("n_features", [1, 3, 8])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_label_statistics_matches_numpy(covariance_type, n_features, weighted, dtype):
    rng = np.random.default_rng(n_features)
    n_samples, n_components = 1000, 4
    X = (rng.normal(size=(n_samples, n_features)) + 50.0).astype(dtype)
    # Some rows in no component (-1), as the one-point initialisations leave.
    labels = rng.integers(-1, n_components, size=n_samples)
    labels[:n_components] = np.arange(n_components)
    w = rng.uniform(0.0, 3.0, size=n_samples) if weighted else np.ones(n_samples)
    code = covariance(covariance_type).code
    got = _kernels.label_statistics(
        X, w if weighted else np.empty(0), labels, n_components, code=code
    )
    expected = naive_label_statistics(X, w, labels, covariance_type, n_components)
    for name, a, b in zip(("nk", "s1", "s2", "ref"), got, expected):
        assert a.dtype == np.float64, name
        scale = np.max(np.abs(b)) if name != "s1" else np.max(np.abs(got[0]))
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10 * scale, err_msg=name)


def test_label_statistics_one_point_per_component():
    # The 'random_from_data' start: each component holds one row exactly.
    X = np.arange(20.0).reshape(10, 2)
    labels = np.full(10, -1)
    labels[[7, 2, 5]] = [0, 1, 2]
    nk, s1, s2, ref = _kernels.label_statistics(X, np.empty(0), labels, 3, code=FULL)
    np.testing.assert_array_equal(nk, [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(ref, X[[7, 2, 5]])
    np.testing.assert_array_equal(s1, 0.0)
    np.testing.assert_array_equal(s2, 0.0)


def test_exp_nonpositive_within_one_ulp():
    x = -np.concatenate(
        [np.linspace(0, 708, 200001), np.geomspace(1e-300, 1, 1001), [0.0]]
    )
    got = np.array([exp_nonpositive(v) for v in x[::97]])
    want = np.exp(x[::97])
    np.testing.assert_array_max_ulp(got, want, maxulp=2)


def test_exp_nonpositive32_within_one_ulp_of_float32():
    x = -np.concatenate(
        [np.linspace(0, 87, 100001), np.geomspace(1e-30, 1, 1001), [0.0]]
    ).astype(np.float32)
    got = np.array([exp_nonpositive32(v) for v in x[::37]], dtype=np.float32)
    # A helper: Python's calls ran its copy with a Python wrapper.
    (signature,) = exp_nonpositive32.python_copy.nopython_signatures
    assert str(signature.return_type) == "float32"
    # The float64 exp of the float32 input, rounded to float32.
    want = np.exp(x[::37].astype(np.float64)).astype(np.float32)
    np.testing.assert_array_max_ulp(got, want, maxulp=1)


def test_exp_nonpositive32_edges():
    assert exp_nonpositive32(np.float32(0.0)) == 1.0
    assert exp_nonpositive32(np.float32(-np.inf)) == 0.0
    assert exp_nonpositive32(np.float32(-90.0)) == 0.0
    assert np.isnan(exp_nonpositive32(np.float32(np.nan)))


def test_exp_nonpositive_edges():
    assert exp_nonpositive(0.0) == 1.0
    assert exp_nonpositive(-np.inf) == 0.0
    assert exp_nonpositive(-800.0) == 0.0
    assert np.isnan(exp_nonpositive(np.nan))


def test_log_positive32_close_to_float64_log():
    from fastgmm.kernels._exp import log_positive32

    x = np.concatenate([np.linspace(1, 64, 20001), np.geomspace(1, 1e30, 1001)])
    x = x.astype(np.float32)
    got = np.array([log_positive32(v) for v in x], dtype=np.float64)
    want = np.log(x.astype(np.float64))
    # Within one float32 ulp of the result's magnitude (at least of 1).
    tolerance = np.spacing(np.maximum(want, 1.0).astype(np.float32))
    assert np.all(np.abs(got - want) <= tolerance)


@pytest.mark.parametrize(
    "kernel",
    [_kmeans.seeding_pass, _kmeans.lloyd_pass, _kernels.e_step_blocks,
     _kernels.score_groups],
    ids=lambda k: k.__name__,
)  # fmt: skip
def test_data_of_any_size_runs_one_copy(kernel):
    # Several blocks run in threads (Numba's, or Python's for the E-step and
    # scoring) through the same compiled code as one block: one copy per
    # variant, none compiled with Numba's parallel pipeline.  (Making a copy
    # compiles nothing.)
    small = kernel.copy_for(np.zeros((5, 9)), code=FULL)
    assert kernel.copy_for(np.zeros((BLOCK_ROWS * 3, 9)), code=FULL) is small
    assert "parallel" not in small.targetoptions


ON_THREADS = """
import numba
import numpy as np
from fastgmm.kernels._numba_internals import next_index, njit, on_threads, start_threads

@njit(helper=True)
def body(ids, counter):
    ids[next_index(counter)] = numba.get_thread_id()

@njit
def run(n_threads):
    ids = np.full(8, -1)
    counter = np.zeros(1, dtype=np.int64)
    on_threads(body, n_threads, (ids, counter))
    return counter[0], len(set(ids[: counter[0]]))

print(*run(2))
start_threads()
for wanted in (1, 2, 5):
    print(*run(wanted))
numba.set_num_threads(1)
print(*run(2))
"""


def test_on_threads_runs_its_body_once_on_each_thread(tmp_path):
    # Before start_threads, once on the calling thread; then as many runs as
    # threads asked for, capped at Numba's thread count for the calling
    # thread, each on a thread of its own.
    # (Two threads, in a process of its own: the count is fixed when Numba's
    # threads start.)
    env = {**os.environ, "NUMBA_NUM_THREADS": "2", "NUMBA_CACHE_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", ON_THREADS], env=env, capture_output=True,
        text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.split("\n")
    assert lines[:5] == ["1 1", "1 1", "2 2", "2 2", "1 1"]


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_blocks_in_threads_sum_as_the_compiled_passes(covariance_type):
    # The E-step of several blocks (the Python threads' partials, added in
    # block order) equals, to the bit, the sum in block order of the
    # E-steps of each block alone, for any number of threads.
    import numba

    rng = np.random.default_rng(3)
    n_rows = BLOCK_ROWS * 2 + 17
    X, weights, means, prec_chol = kernel_inputs(
        rng, covariance_type, n_rows, 3, 4, np.float64
    )
    ref = means + 0.5

    def statistics(rows):
        return kernel_statistics(
            rows, np.empty(0), weights, means, prec_chol, covariance_type, ref
        )

    blocks = [statistics(X[s : s + BLOCK_ROWS]) for s in range(0, n_rows, BLOCK_ROWS)]
    want_total = 0.0
    want = [np.zeros_like(a) for a in blocks[0][1:]]
    for block in blocks:
        want_total += block[0]
        for total, part in zip(want, block[1:]):
            total += part
    previous = numba.get_num_threads()
    try:
        for n_threads in (1, 2):
            numba.set_num_threads(min(n_threads, numba.config.NUMBA_NUM_THREADS))
            got = statistics(X)
            assert got[0] == want_total
            for a, b in zip(got[1:], want):
                np.testing.assert_array_equal(a, b)
    finally:
        numba.set_num_threads(previous)


def test_batch_kernels_are_serial():
    # Their groups run in Python threads, each on one of Numba's.
    for kernel in (_batch_kernels.fit_groups, _batch_kernels._em_run):
        assert "parallel" not in kernel.copy(Variant(FULL, 0)).targetoptions
