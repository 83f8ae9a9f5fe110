"""Compiling the kernels on purpose, and telling when a fit will compile them.

Numba compiles each kernel on its first use in an environment and caches the
machine code (see README, "Compilation cache").  ``compile_kernels`` does all
of that ahead of time, for image builds and cluster nodes;
``kernels_cached`` tells whether a first fit will load kernels or compile
them, so that the command line and ``verbose`` estimators can say so first.
"""

import functools
import os
import time
import warnings

import numpy as np

from ._covariance import COVARIANCE_TYPES

COMPILING_MESSAGE = "compiling fastgmm's kernels for this CPU (first run only)..."

DTYPES = ("float64", "float32")
_INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data")


def _e_step_cache_index():
    """Path of the serial E-step's index in Numba's cache, or None if unknown.

    The serial twin: every fit runs it (its k-means start and a small fit
    compile it), where only fits of more than a block of rows run the
    threaded one.
    """
    from . import _kernels
    from ._numba_internals import cache_index_path

    return cache_index_path(_kernels.em_statistics.serial)


def cache_directory():
    """Where Numba caches fastgmm's machine code (``NUMBA_CACHE_DIR`` or
    ``__pycache__`` beside the sources)."""
    index = _e_step_cache_index()
    return "(unknown)" if index is None else os.path.dirname(index)


def kernels_cached():
    """Whether Numba's cache holds the E-step kernel in this environment.

    False means that a first fit compiles its kernels (tens of seconds).  A
    cache that holds some kernels but not those of another dtype or
    covariance type still answers True; so does a Numba whose cache cannot
    be inspected.
    """
    index = _e_step_cache_index()
    return index is None or os.path.exists(index)


def kernels():
    """Every compiled kernel of fastgmm's modules imported so far, once each
    (both twins of a ``ThreadedOrSerial``)."""
    import sys

    from numba.core.registry import CPUDispatcher

    from ._reduction import ThreadedOrSerial

    seen = set()
    for name, module in list(sys.modules.items()):
        if not name.startswith(__package__):
            continue
        for value in list(vars(module).values()):
            twins = isinstance(value, ThreadedOrSerial)
            for kernel in value.kernels if twins else (value,):
                if isinstance(kernel, CPUDispatcher) and id(kernel) not in seen:
                    seen.add(id(kernel))
                    yield kernel


def kernel_overloads():
    """{kernel name: overloads compiled or loaded in this process}.

    Over ``kernels()``; a check that ``compile_kernels`` covered what later
    ran (nothing new appears).
    """
    return {k.py_func.__qualname__: len(k.overloads) for k in kernels()}


@functools.cache
def _announced():
    """Print ``COMPILING_MESSAGE`` once per process; True when printed."""
    print(COMPILING_MESSAGE, flush=True)
    return True


def announce_compiling():
    """Print ``COMPILING_MESSAGE`` (once per process) if kernels will compile."""
    if not kernels_cached():
        _announced()


def compile_kernels(
    dtypes=DTYPES, covariance_types=COVARIANCE_TYPES, progress=None, jobs=1
):
    """Compile (or load) the kernels of every fit, prediction and score.

    Each (dtype, covariance type) group fits a few rows with every
    ``init_params``, with and without ``sample_weight``, and more than one
    block of rows (the threaded kernels), then predicts and scores, with
    ``GaussianMixture`` and with ``BatchGaussianMixture``, so that every
    kernel they use is compiled into Numba's cache.

    Parameters
    ----------
    dtypes : iterable of {'float64', 'float32'}, default=('float64', 'float32')
    covariance_types : iterable of str, default=all four
    progress : callable, default=None
        Called with one line of text per group: what was compiled and the
        seconds it took.
    jobs : int, default=1
        Processes that compile at once.  Kernels are compiled per dtype (the
        covariance type is an argument), so each process takes one dtype's
        groups in turn: more jobs than dtypes add nothing.  Numba's cache is
        safe for processes that save at once (``fastgmm._numba_internals``).

    Returns
    -------
    seconds : float
        The time it all took.
    """
    start = time.perf_counter()
    dtypes, covariance_types = tuple(dtypes), tuple(covariance_types)
    report = progress or (lambda line: None)
    jobs = min(max(int(jobs), 1), len(dtypes))
    if jobs == 1:
        for dtype in dtypes:
            _compile_dtype(dtype, covariance_types, report)
        return time.perf_counter() - start

    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # "spawn": a forked child would inherit Numba's threads and locks.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(jobs, mp_context=context) as pool:
        units = [
            pool.submit(_compile_dtype, dtype, covariance_types) for dtype in dtypes
        ]
        for unit in units:
            for line in unit.result():
                report(line)
    return time.perf_counter() - start


def _compile_dtype(dtype, covariance_types, progress=None):
    """Compile the groups of one dtype; returns their progress lines."""
    from ._batch import BatchGaussianMixture
    from ._config import BLOCK_ROWS
    from ._gaussian_mixture import GaussianMixture
    from ._kmeans import kmeans_labels

    rng = np.random.default_rng(0)
    rows = np.concatenate([rng.standard_normal((30, 3)) + 4 * c for c in range(2)])
    X = rows.astype(dtype)
    weights = rng.uniform(0.5, 2.0, len(rows))
    # More than a block of rows: the threaded entry points.
    big = np.concatenate([rows] * (BLOCK_ROWS // len(rows) + 1)).astype(dtype)
    # k-means ended by max_iter: its final relabelling, which Python calls.
    for data in (X, big):
        kmeans_labels(data, 2, None, np.random.RandomState(0), max_iter=1)
    lines = []
    for covariance_type in covariance_types:
        group_start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for init_params in _INIT_PARAMS:
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
            # float64 log p(x) also for float32: another signature.
            model.score(X)
            big_model = GaussianMixture(
                2, covariance_type=covariance_type, max_iter=2, random_state=0
            ).fit(big)
            big_model.predict_proba(big)
            big_model.score(big)
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
        seconds = time.perf_counter() - group_start
        lines.append(f"{covariance_type:9s} {dtype}: {seconds:6.1f} s")
        if progress is not None:
            progress(lines[-1])
    return lines
