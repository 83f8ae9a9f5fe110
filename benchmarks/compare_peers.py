"""fastgmm against Intel oneDAL's EM (``daal4py.em_gmm``), per EM iteration.

Run from the repository root on an otherwise idle machine::

    python benchmarks/compare_peers.py            # the README's sizes
    python benchmarks/compare_peers.py --quick    # small sizes, a smoke run

oneDAL comes with ``pip install scikit-learn-intelex`` (the module
``daal4py``); without it the script says so and stops.

Both libraries get the same data (standard normal rows, half of them
shifted by 3) and the same start: the weights, means and covariances of
scikit-learn's ``random_from_data`` draw with ``random_state=0``.  fastgmm
runs with ``tol=0``, oneDAL with ``accuracyThreshold=0``, so both run exactly
the iterations asked for (oneDAL's ``regularizationFactor`` is 1e-6, the
``reg_covar`` default; a start oneDAL refuses is reported and its cells
are ``nan``); the time of one iteration is (fit of 20
iterations - fit of 5) / 15, which leaves out everything done once per fit.
Each number is the median of ``--repeats`` such pairs, the libraries
alternating, in one process, all at their default thread count.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numba
import numpy as np
from sklearn.exceptions import ConvergenceWarning

from fastgmm import GaussianMixture

CASES = [
    # n_samples, n_features, n_components, covariance_type
    (1_000_000, 2, 8, "full"),
    (1_000_000, 8, 16, "full"),
    (200_000, 32, 16, "full"),
    (1_000_000, 8, 16, "diag"),
]
QUICK_CASES = [(50_000, 2, 4, "full"), (50_000, 4, 4, "diag")]
SHORT, LONG = 5, 20


def make_data(n_samples, n_features, dtype, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, n_features))
    X[: n_samples // 2] += 3
    return np.ascontiguousarray(X, dtype=dtype)


def initial_parameters(X, n_components, covariance_type):
    """scikit-learn's random_from_data start (random_state=0), in float64.

    Its weights sum to n_components / n_samples (one row per component);
    they are normalised, as both libraries require of given weights.
    """
    start = GaussianMixture(
        n_components,
        covariance_type=covariance_type,
        init_params="random_from_data",
        random_state=0,
        max_iter=0,
    ).fit(X)
    return (
        start.weights_.astype(np.float64) / start.weights_.astype(np.float64).sum(),
        start.means_.astype(np.float64),
        start.covariances_.astype(np.float64),
    )


def fastgmm_fit(X, start, covariance_type, max_iter):
    weights, means, covariances = start
    precisions = (
        np.linalg.inv(covariances) if covariance_type == "full" else 1 / covariances
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        GaussianMixture(
            len(weights),
            covariance_type=covariance_type,
            tol=0,
            max_iter=max_iter,
            weights_init=weights,
            means_init=means,
            precisions_init=precisions,
        ).fit(X)


def onedal_fit(daal4py, X, start, covariance_type, max_iter):
    weights, means, covariances = start
    fptype = "float" if X.dtype == np.float32 else "double"
    dtype = X.dtype
    if covariance_type == "full":
        covs = [np.ascontiguousarray(c, dtype=dtype) for c in covariances]
        storage = "full"
    else:
        covs = [np.ascontiguousarray(c[None, :], dtype=dtype) for c in covariances]
        storage = "diagonal"
    algorithm = daal4py.em_gmm(
        nComponents=len(weights),
        fptype=fptype,
        maxIterations=max_iter,
        accuracyThreshold=0.0,
        regularizationFactor=1e-6,
        covarianceStorage=storage,
    )
    result = algorithm.compute(
        X, weights[None, :].astype(dtype), means.astype(dtype), covs
    )
    return int(np.asarray(result.nIterations).ravel()[0])


def per_iteration(fit, repeats):
    """Median of (fit of LONG iterations - fit of SHORT) / (LONG - SHORT)."""
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fit(SHORT)
        t1 = time.perf_counter()
        fit(LONG)
        t2 = time.perf_counter()
        samples.append(((t2 - t1) - (t1 - t0)) / (LONG - SHORT))
    return statistics.median(samples)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    try:
        import daal4py
    except ImportError:
        print("daal4py is not installed (pip install scikit-learn-intelex): skipped")
        return
    cases = QUICK_CASES if args.quick else CASES
    repeats = 1 if args.quick else args.repeats
    print(
        f"{numba.get_num_threads()} threads; per EM iteration, milliseconds, "
        f"median of {repeats}\n"
    )
    print(
        "| case | fastgmm f64 | oneDAL f64 | oneDAL / fastgmm f64 "
        "| fastgmm f32 | oneDAL f32 | oneDAL / fastgmm f32 | fastgmm f64 / f32 |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for n_samples, n_features, n_components, covariance_type in cases:
        cells = {}
        for dtype in (np.float64, np.float32):
            X = make_data(n_samples, n_features, dtype)
            start = initial_parameters(X, n_components, covariance_type)
            ours = lambda it: fastgmm_fit(X, start, covariance_type, it)  # noqa: E731
            theirs = lambda it: onedal_fit(daal4py, X, start, covariance_type, it)  # noqa: E731
            ours(2)
            try:
                iterations = theirs(SHORT)
            except RuntimeError as exc:  # oneDAL refuses some starts
                print(f"(oneDAL, {np.dtype(dtype).name}: {str(exc).splitlines()[0]})")
                theirs = None
            else:
                if iterations != SHORT:
                    print(f"(oneDAL ran {iterations} iterations, not {SHORT})")
            times = {"fastgmm": [], "onedal": []}
            for _ in range(repeats):
                times["fastgmm"].append(per_iteration(ours, 1))
                if theirs is not None:
                    times["onedal"].append(per_iteration(theirs, 1))
            cells[dtype] = {
                k: statistics.median(v) * 1e3 if v else float("nan")
                for k, v in times.items()
            }
        f64, f32 = cells[np.float64], cells[np.float32]
        print(
            f"| {n_samples:,} x {n_features}, K={n_components}, {covariance_type} "
            f"| {f64['fastgmm']:.1f} | {f64['onedal']:.1f} "
            f"| {f64['onedal'] / f64['fastgmm']:.2f}x "
            f"| {f32['fastgmm']:.1f} | {f32['onedal']:.1f} "
            f"| {f32['onedal'] / f32['fastgmm']:.2f}x "
            f"| {f64['fastgmm'] / f32['fastgmm']:.2f}x |"
        )


if __name__ == "__main__":
    main()
