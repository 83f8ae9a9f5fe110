"""Compiling every kernel on purpose: the fits that compile them.

``compile_kernels`` (``fastgmm compile``) compiles the kernels of every fit,
prediction and score ahead of time, for image builds and cluster nodes;
``_compile_fit_kernels`` is what the process started by
``fastgmm.kernels._warmup.compile_ahead`` runs.  Both fit the estimators, so this
module sits above them (``fastgmm.kernels._warmup`` sits below).
"""

import time
import warnings

import numpy as np

from .engine._init import INIT_PARAMS
from .kernels import COVARIANCE_TYPES, no_compile_ahead

DTYPES = ("float64", "float32")


def _compile_fit_kernels(kind, dtype, covariance_type, n_features, labels=True):
    """What a default fit runs after its k-means start, compiled into the cache.

    A fit of two components from random responsibilities, on rows of the
    fit's dtype and number of features (the kernels after the start are the
    same for small data and large): the initial moments, the EM iterations
    and, with ``labels`` (``fit_predict``), the final labels; and the
    moments of k-means labels.
    """
    from .estimators._bayesian_mixture import BayesianGaussianMixture
    from .estimators._gaussian_mixture import GaussianMixture
    from .kernels import covariance, label_statistics

    rng = np.random.default_rng(0)
    n_rows = 60
    X = rng.standard_normal((n_rows, n_features))
    X[: n_rows // 2] += 4
    X = X.astype(dtype)
    estimator = GaussianMixture if kind == "gaussian" else BayesianGaussianMixture
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = estimator(
            n_components=2, covariance_type=covariance_type, init_params="random",
            max_iter=2, random_state=0,
        )  # fmt: skip
        if labels:
            model.fit_predict(X)
        else:
            model.fit(X)
    assigned = (np.arange(n_rows) % 2).astype(np.int32)
    label_statistics(X, np.empty(0), assigned, 2, code=covariance(covariance_type).code)


def compile_kernels(
    dtypes=DTYPES, covariance_types=COVARIANCE_TYPES, progress=None, jobs=1
):
    """Compile (or load) the kernels of every fit, prediction and score.

    Kernels are compiled per dtype and variant (covariance type, and for
    'full' the unrolled width of its number of features; see
    ``fastgmm.kernels._specialise``).  Each group fits a few rows of that many
    features with every ``init_params``, with and without
    ``sample_weight``, then predicts and scores, with ``GaussianMixture`` and with
    ``BatchGaussianMixture``, so that every kernel they use is compiled into
    Numba's cache.

    Parameters
    ----------
    dtypes : iterable of {'float64', 'float32'}, default=('float64', 'float32')
    covariance_types : iterable of str, default=all four
    progress : callable, default=None
        Called with one line of text per group: what was compiled and the
        seconds it took.
    jobs : int, default=1
        Processes that compile groups at once.  Numba's cache is safe for
        processes that save at once (``fastgmm.kernels._numba_internals``).

    Returns
    -------
    seconds : float
        The time it all took.
    """
    start = time.perf_counter()
    # Dtype after dtype within a variant: with several processes, the first
    # groups of each process are of different dtypes, so that the kernels
    # every group of a dtype shares (k-means, M-step) are compiled by one
    # process, not by all at once.
    groups = [
        (dtype, covariance_type, n_features)
        for covariance_type, n_features in _variant_groups(covariance_types)
        for dtype in dtypes
    ]
    report = progress or (lambda line: None)
    jobs = min(max(int(jobs), 1), len(groups))
    if jobs == 1:
        for group in groups:
            report(_compile_group(*group))
        return time.perf_counter() - start

    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # "spawn": a forked child would inherit Numba's threads and locks.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(jobs, mp_context=context) as pool:
        for line in pool.map(_compile_group, *zip(*groups)):
            report(line)
    return time.perf_counter() - start


def _variant_groups(covariance_types):
    """(covariance type, n_features) of data that runs each variant."""
    from .kernels import MAX_UNROLLED_FEATURES, Variant, covariance

    for variant in Variant.every():
        covariance_type = COVARIANCE_TYPES[variant.code]
        if covariance_type in covariance_types:
            unrolled = covariance(covariance_type).unrolled
            wide = MAX_UNROLLED_FEATURES + 1 if unrolled else 3
            yield covariance_type, variant.width or wide


def _compile_group(dtype, covariance_type, n_features):
    """Compile the kernels of one group; returns its progress line."""
    with no_compile_ahead():
        return _compile_group_here(dtype, covariance_type, n_features)


def _compile_group_here(dtype, covariance_type, n_features):
    """``_compile_group`` in this process: every fit, prediction and score
    of a few rows of this dtype and number of features (see
    ``compile_kernels``); returns the group's progress line."""
    from .estimators._batch import BatchGaussianMixture
    from .estimators._bayesian_mixture import BayesianGaussianMixture
    from .estimators._gaussian_mixture import GaussianMixture
    from .kernels import BLOCK_ROWS, covariance, kmeans_labels, split_rows

    group_start = time.perf_counter()
    rng = np.random.default_rng(0)
    rows = np.concatenate(
        [rng.standard_normal((30, n_features)) + 4 * c for c in range(2)]
    )
    X = rows.astype(dtype)
    weights = rng.uniform(0.5, 2.0, len(rows))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # k-means leaving a cluster empty (three centres, two distinct rows):
        # relocation and what follows it, which Python calls; stopped by
        # max_iter right after, and run on.  For data of one block and of
        # several: their copies differ (fastgmm.kernels._specialise).
        for n_rows in (len(X), BLOCK_ROWS + 2):
            two_points = np.repeat(X[:2], n_rows // 2, axis=0)
            for max_iter in (1, 300):
                kmeans_labels(two_points, 3, None, np.random.RandomState(0), max_iter)
        for init_params in INIT_PARAMS:
            for sample_weight in (None, weights):
                model = GaussianMixture(
                    2,
                    covariance_type=covariance_type,
                    init_params=init_params,
                    max_iter=2,
                    random_state=0,
                ).fit(X, sample_weight=sample_weight)
        model.predict(X)
        model.predict_proba(X)
        model.score_samples(X)
        model.score(X)
        # A Bayesian model's parameters are float64 for float32 rows too:
        # float64 outputs of float32 rows, another signature.
        bayesian = BayesianGaussianMixture(
            n_components=2, covariance_type=covariance_type, max_iter=2,
            random_state=0,
        ).fit(X)  # fmt: skip
        bayesian.predict_proba(X)
        bayesian.score_samples(X)
        groups = np.arange(len(X)) % 2
        for init_params in ("kmeans", "random"):
            batch = BatchGaussianMixture(
                2,
                covariance_type=covariance_type,
                init_params=init_params,
                max_iter=2,
                random_state=0,
            ).fit(X, groups)
        batch.predict(X, groups)
        batch.predict_proba(X, groups)
        batch.bic(X, groups)
        # A Dask batch fit's cut of each row block (``engine._dask_groups``).
        split_rows(
            X, groups.astype(np.int64), 3, np.empty_like(X), np.empty(len(X), np.int64)
        )
    seconds = time.perf_counter() - group_start
    unrolled = covariance(covariance_type).unrolled
    features = f"  ({n_features} features)" if unrolled else ""
    return f"{covariance_type:9s} {dtype}: {seconds:6.1f} s{features}"
