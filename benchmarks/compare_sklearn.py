"""Side-by-side timing of fastgmm against scikit-learn's GaussianMixture and
BayesianGaussianMixture.

Run from the repository root::

    python benchmarks/compare_sklearn.py            # full sizes (minutes)
    python benchmarks/compare_sklearn.py --quick    # N / 10 (a few minutes)
    python benchmarks/compare_sklearn.py --smoke    # N / 100, each time once (CI)
    python benchmarks/compare_sklearn.py --bayesian-only   # only the last section

How the comparison is kept fair:

* one process, the same data arrays and the same initial parameters
  (``weights_init``, ``means_init``, ``precisions_init``) for both libraries;
* per-iteration rows fit with ``tol=0`` and ``max_iter=M``, so both run exactly
  M EM iterations; the time reported is the best of R repeats divided by M
  (it includes input validation and the final E-step, for both);
* every kernel is compiled (or loaded from Numba's cache) before any timing,
  and scikit-learn gets the same untimed warm-up call;
* both use their default threading: fastgmm its Numba threads, scikit-learn
  NumPy's BLAS threads.

The "roofline" column is the fraction of this machine's dense float64 matrix
multiply rate (a 2000 x 2000 ``A @ B``, measured in this run) that fastgmm's
iteration reaches, counting floating-point operations per EM iteration as

* full:       4 * N * K * d**2            (E-step solve + M-step scatter)
* tied:       4 * N * d**2 + 2 * N * K * d
* diag:       2 * N * K * d
* spherical:  2 * N * K * d

These are approximate operation counts (lower-order terms dropped), so the
column is an indication of how far from the dense-arithmetic bound a kernel
is, not an exact efficiency.

The last section, "BayesianGaussianMixture per EM iteration", compares
``fastgmm.BayesianGaussianMixture`` with scikit-learn's, Dirichlet process
prior (the default).  scikit-learn's Bayesian mixture takes no ``*_init``
arrays, so "the same initial state" is ``init_params="random_from_data"`` and
``random_state=0`` for both (fastgmm reproduces scikit-learn's draw, and the
note column shows how far apart the two final lower bounds are).  Its fits
have a prior to compute and an initial M-step before the first iteration, so
the time per iteration is a difference of two fits with ``tol=0``::

    s/iter = (t(max_iter=M2) - t(max_iter=M1)) / (M2 - M1),    M1 = 1, M2 = 5

where each t is the best (minimum) of R fits, R = 2 (``--repeats`` sets it),
the M1 and M2 fits alternating.  The initialisation, the prior, input
validation and the final E-step cancel.  The section also times a default fit
end to end (k-means start, default ``tol`` and ``max_iter``; best of two whole
fits, which must end with the same ``n_iter_`` and lower bounds within 1e-8
relative), fastgmm's float32 against its float64 iteration, and the peak
memory a fit adds (``peak_memory.py --bayesian``).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

# (N, d, K, covariance_type, dtype, target speed-up over scikit-learn)
EM_ROWS = [
    (500_000, 2, 8, "full", "float64", 15.0),
    (500_000, 8, 16, "full", "float64", 20.0),
    (100_000, 32, 16, "full", "float64", 6.0),
    (100_000, 64, 16, "full", "float64", 3.0),
    (500_000, 8, 16, "diag", "float64", 5.0),
    (500_000, 8, 16, "spherical", "float64", 8.0),
    (500_000, 8, 16, "tied", "float64", 8.0),
    (100_000, 32, 16, "full", "float32", 6.0),
]

END_TO_END = (1_000_000, 8, 16, 10.0)  # N, d, K, target
# The default start alone: KMeans(K, n_init=1) against fastgmm's k-means,
# which must give the same labels.
KMEANS_START = (300_000, 8, 16, 5.0)  # N, d, K, target
# Best of two: the first fit after the other library's can find its BLAS
# threads still spinning.
END_TO_END_REPEATS = 2
SCORING = (2_000_000, 8, 16, 20.0)  # N, d, K, target for each method
SMALL_FITS = ((500, 2, 3), {"kmeans": 5.0, "random_from_data": 8.0})
MEMORY_CASE = (2_000_000, 8, 16, 0.5)  # N, d, K, most peak memory added / X.nbytes
COLD_START_RUNS = 7  # fresh processes per library, alternating; the median is kept
THREADS_CASE = (500_000, 8, 16, "full", 1.7)  # 2 threads vs 1 thread
FLOAT32_CASE = (100_000, 32, 16, "full", 1.5)  # float32 vs float64

# BayesianGaussianMixture, dirichlet_process prior, random_from_data start:
# (N, d, K, covariance_type, dtype, target speed-up over scikit-learn or None)
BAYES_ROWS = [
    (500_000, 8, 16, "full", "float64", 20.0),
    (500_000, 8, 16, "diag", "float64", 10.0),
    (500_000, 8, 16, "spherical", "float64", 10.0),
    (500_000, 8, 16, "tied", "float64", 15.0),
    (100_000, 32, 16, "full", "float64", 6.0),
    (100_000, 32, 16, "full", "float32", None),  # see BAYES_FLOAT32_CASE
]
BAYES_ITERS = (1, 5)  # M1, M2: s/iter = (t(M2) - t(M1)) / (M2 - M1)
BAYES_REPEATS = 2  # R at full size (best of R); --repeats overrides
BAYES_FLOAT32_CASE = (100_000, 32, 16, "full", 1.5)  # fastgmm float32 vs float64
BAYES_END_TO_END = (300_000, 8, 16, 10.0)  # N, d, K, target; default fit
BAYES_LOWER_BOUND_RTOL = 1e-8  # "the same answer" for the end-to-end fit
BAYES_MEMORY_CASE = (2_000_000, 8, 16, 0.5)  # N, d, K, most added / X.nbytes

DTYPES = {"float64": np.float64, "float32": np.float32}


# ---------------------------------------------------------------- data


def make_blobs(
    n_samples, n_features, n_components, dtype=np.float64, seed=0, center_scale=4.0
):
    """Seeded Gaussian blobs with unequal spreads; returns (X, centers)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=center_scale, size=(n_components, n_features))
    labels = rng.integers(0, n_components, size=n_samples)
    scales = rng.uniform(0.5, 1.5, size=n_components)
    X = centers[labels]
    X += rng.normal(size=(n_samples, n_features)) * scales[labels, None]
    return np.ascontiguousarray(X, dtype=dtype), centers


def initial_parameters(centers, covariance_type, seed=1):
    """The same starting point for both libraries: near, not at, the truth."""
    rng = np.random.default_rng(seed)
    n_components, n_features = centers.shape
    precisions = {
        "full": lambda: np.tile(np.eye(n_features), (n_components, 1, 1)),
        "tied": lambda: np.eye(n_features),
        "diag": lambda: np.ones((n_components, n_features)),
        "spherical": lambda: np.ones(n_components),
    }[covariance_type]()
    return {
        "weights_init": np.full(n_components, 1.0 / n_components),
        "means_init": centers + rng.normal(scale=0.5, size=centers.shape),
        "precisions_init": precisions,
    }


def em_flops(n, d, k, covariance_type):
    """Approximate floating-point operations of one EM iteration."""
    if covariance_type == "full":
        return 4.0 * n * k * d * d
    if covariance_type == "tied":
        return 4.0 * n * d * d + 2.0 * n * k * d
    return 2.0 * n * k * d  # diag, spherical


# ---------------------------------------------------------------- timing


def best_time(fn, repeats):
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def median_time(fn, calls):
    times = []
    for i in range(calls):
        t0 = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def dgemm_flops_per_s(n=2000, repeats=3):
    rng = np.random.default_rng(0)
    a = rng.random((n, n))
    b = rng.random((n, n))
    a @ b  # warm-up: BLAS thread start-up
    return 2.0 * n**3 / best_time(lambda: a @ b, repeats)


# ---------------------------------------------------------------- machine


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def print_machine(numba):
    import sklearn

    import fastgmm

    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        affinity = os.cpu_count()
    print("## Machine")
    print()
    print(f"- platform: {platform.platform()}; {cpu_model()}")
    print(f"- cpus: {os.cpu_count()} (usable by this process: {affinity})")
    print(
        f"- numba threads: {numba.get_num_threads()} "
        f"(NUMBA_NUM_THREADS={numba.config.NUMBA_NUM_THREADS})"
    )
    print(
        f"- python {platform.python_version()}, numpy {np.__version__}, "
        f"scikit-learn {sklearn.__version__}, numba {numba.__version__}, "
        f"fastgmm {getattr(fastgmm, '__version__', '?')}"
    )
    try:
        from threadpoolctl import threadpool_info

        for pool in threadpool_info():
            print(
                f"- {pool.get('user_api')}: {pool.get('internal_api')} "
                f"{pool.get('version') or ''} ({pool.get('num_threads')} threads"
                f"{', ' + pool['architecture'] if pool.get('architecture') else ''})"
            )
    except ImportError:
        print("- BLAS: (threadpoolctl not installed)")


# ---------------------------------------------------------------- table


def print_table(header, rows):
    widths = [
        max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(header)
    ]

    def line(cells):
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"

    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(line(r))
    sys.stdout.flush()


def fmt_s(seconds):
    if seconds >= 1.0:
        return f"{seconds:.3f}"
    if seconds >= 1e-3:
        return f"{seconds:.4f}"
    return f"{seconds:.2e}"


def met(ratio, target):
    return "yes" if ratio >= target else "no"


# ------------------------------------------------------- fresh processes

HERE = Path(__file__).resolve().parent

COLD_START = """
from {module} import GaussianMixture
from sklearn.datasets import load_iris
GaussianMixture(n_components=3, random_state=0).fit(load_iris().data)
"""


def cold_start_seconds(runs):
    """Median wall time of a fresh interpreter that imports and fits iris.

    Runs alternate between the libraries so that both see the same machine
    state; fastgmm runs once untimed first, so Numba's cache is warm.
    """
    modules = {"sklearn": "sklearn.mixture", "fastgmm": "fastgmm"}

    def run(library):
        code = COLD_START.format(module=modules[library])
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        return time.perf_counter() - start

    run("fastgmm")
    times = {library: [] for library in modules}
    for _ in range(runs):
        for library in modules:
            times[library].append(run(library))
    return {library: statistics.median(t) for library, t in times.items()}


def peak_memory_ratio(library, n_samples, bayesian=False):
    """Peak memory a default fit adds / X.nbytes (``peak_memory.py``)."""
    out = subprocess.run(
        [
            sys.executable,
            str(HERE / "peak_memory.py"),
            "--library",
            library,
            "--n-samples",
            str(n_samples),
            *(["--bayesian"] if bayesian else []),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return float(out.split("ratio")[-1])


# ------------------------------------------------- BayesianGaussianMixture


def lower_bound(gm):
    """``lower_bound_`` as a float (scikit-learn's is an array for 'tied')."""
    return float(np.ravel(gm.lower_bound_)[0])


def relative_difference(a, b):
    return abs(a - b) / max(abs(a), abs(b), np.finfo(float).tiny)


def bayesian_section(shrink, repeats):
    """The BayesianGaussianMixture table (see the module's docstring)."""
    from sklearn.mixture import BayesianGaussianMixture as SkBGM

    from fastgmm import BayesianGaussianMixture as FastBGM

    m1, m2 = BAYES_ITERS
    t0 = time.perf_counter()
    print(
        f"BayesianGaussianMixture: s/iter = (t(max_iter={m2}) - t(max_iter={m1})) "
        f"/ {m2 - m1}, each t the best of R = {repeats}"
    )

    # ---- warm-up: every kernel variant used below, both libraries, untimed
    print("warming up (compiling kernels) ...", end=" ", flush=True)
    tw = time.perf_counter()
    for cov in ("full", "tied", "diag", "spherical"):
        for dtype in DTYPES.values():
            Xw, _ = make_blobs(2000, 4, 3, dtype=dtype, seed=9)
            for cls in (FastBGM, SkBGM):
                cls(
                    n_components=3,
                    covariance_type=cov,
                    tol=0.0,
                    max_iter=2,
                    init_params="random_from_data",
                    random_state=0,
                ).fit(Xw)
    Xw, _ = make_blobs(2000, 4, 3, seed=9)
    for cls in (FastBGM, SkBGM):
        cls(n_components=3, max_iter=2, random_state=0).fit(Xw)  # k-means start
    print(f"{time.perf_counter() - tw:.1f} s")
    print()

    def per_iteration(cls, X, k, cov):
        """(s/iter by the difference of two fits, the estimator after M2).

        The M1 and M2 fits alternate, so that a slow spell of the machine
        tends to hit both rather than one.
        """
        fits = {
            m: cls(
                n_components=k,
                covariance_type=cov,
                tol=0.0,
                max_iter=m,
                init_params="random_from_data",
                random_state=0,
            )
            for m in (m1, m2)
        }
        times = {m: np.inf for m in fits}
        for _ in range(repeats):
            for m, gm in fits.items():
                times[m] = min(times[m], best_time(lambda gm=gm: gm.fit(X), 1))
        return (times[m2] - times[m1]) / (m2 - m1), fits[m2]

    def ratio_cells(t_base, t_fast, target):
        if t_base <= 0 or t_fast <= 0:  # timing noise larger than M2 - M1 iterations
            return ["n/a", "-" if target is None else f"{target:g}x", "n/a"]
        ratio = t_base / t_fast
        if target is None:
            return [f"{ratio:.1f}x", "-", "-"]
        return [f"{ratio:.1f}x", f"{target:g}x", met(ratio, target)]

    rows = []
    fast_times = {}
    for n, d, k, cov, dtype, target in BAYES_ROWS:
        n //= shrink
        X, _ = make_blobs(n, d, k, dtype=DTYPES[dtype])
        t_sk, sk = per_iteration(SkBGM, X, k, cov)
        t_fast, fast = per_iteration(FastBGM, X, k, cov)
        fast_times[(n, d, k, cov, dtype)] = t_fast
        diff = relative_difference(lower_bound(sk), lower_bound(fast))
        note = f"lower_bound_ after {m2} iterations: relative difference {diff:.1e}"
        if t_sk <= 0 or t_fast <= 0:
            note += f"; t(M2) <= t(M1): timing noise over {m2 - m1} iterations"
        rows.append(
            [
                f"{n}x{d} K={k} {cov} {dtype} (s/iter)",
                fmt_s(t_sk),
                fmt_s(t_fast),
                *ratio_cells(t_sk, t_fast, target),
                note,
            ]
        )
        del X

    # float32 vs float64, fastgmm against itself, from the rows above
    n, d, k, cov, target = BAYES_FLOAT32_CASE
    n //= shrink
    t64 = fast_times[(n, d, k, cov, "float64")]
    t32 = fast_times[(n, d, k, cov, "float32")]
    rows.append(
        [
            f"float32 vs float64, fastgmm {n}x{d} K={k} {cov} (s/iter)",
            fmt_s(t64),
            fmt_s(t32),
            *ratio_cells(t64, t32, target),
            "baseline column: fastgmm float64",
        ]
    )

    # default fit, end to end: k-means start, default tol and max_iter
    n, d, k, target = BAYES_END_TO_END
    n //= shrink
    X, _ = make_blobs(n, d, k, seed=3, center_scale=1.5)  # overlapping clusters
    sk = SkBGM(n_components=k, random_state=0)
    fast = FastBGM(n_components=k, random_state=0)
    t_sk = best_time(lambda X=X: sk.fit(X), END_TO_END_REPEATS)
    t_fast = best_time(lambda X=X: fast.fit(X), END_TO_END_REPEATS)
    diff = relative_difference(lower_bound(sk), lower_bound(fast))
    same = sk.n_iter_ == fast.n_iter_ and diff <= BAYES_LOWER_BOUND_RTOL
    ratio = t_sk / t_fast
    rows.append(
        [
            f"default fit end to end, {n}x{d} K={k} (s/fit)",
            fmt_s(t_sk),
            fmt_s(t_fast),
            f"{ratio:.1f}x",
            f"{target:g}x, same answer",
            "yes" if ratio >= target and same else "no",
            f"best of {END_TO_END_REPEATS}; n_iter_ {sk.n_iter_} vs {fast.n_iter_} "
            f"(converged: {sk.converged_} vs {fast.converged_}); lower_bound_ "
            f"relative difference {diff:.1e} (same answer: "
            f"{'yes' if same else 'no'})",
        ]
    )
    del X

    # peak memory of a fit, each library in a fresh process
    n, d, k, target = BAYES_MEMORY_CASE
    n //= shrink
    ratios = {
        lib: peak_memory_ratio(lib, n, bayesian=True) for lib in ("sklearn", "fastgmm")
    }
    rows.append(
        [
            f"peak memory added by fit, {n}x{d} K={k} (x X.nbytes)",
            f"{ratios['sklearn']:.2f}",
            f"{ratios['fastgmm']:.2f}",
            f"{ratios['sklearn'] / max(ratios['fastgmm'], 1e-3):.1f}x",
            f"<= {target:g}",
            "yes" if ratios["fastgmm"] <= target else "no",
            "full, k-means start, max_iter=5, tol=0; peak_memory.py --bayesian",
        ]
    )

    print(
        "## BayesianGaussianMixture per EM iteration "
        "(dirichlet_process, same initial state, tol=0)"
    )
    print()
    print(
        "Same data and parameters for both, init_params='random_from_data', "
        "random_state=0. The baseline column is scikit-learn unless the note says "
        "otherwise; ratio = baseline / fastgmm."
    )
    print()
    print_table(["case", "baseline", "fastgmm", "ratio", "target", "met", "note"], rows)
    print()
    print(f"BayesianGaussianMixture section: {time.perf_counter() - t0:.0f} s")
    print()


# ---------------------------------------------------------------- main


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="divide every N by 10 (a few minutes)",
    )
    parser.add_argument(
        "--iters", type=int, default=None, help="EM iterations per timed fit (M)"
    )
    parser.add_argument(
        "--repeats", type=int, default=None, help="repeats; the best is kept (R)"
    )
    parser.add_argument(
        "--bayesian-only",
        action="store_true",
        help="only the BayesianGaussianMixture section",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="N / 100, each time taken once over 2 iterations: checks that "
        "the script runs (CI), its timings say nothing",
    )
    args = parser.parse_args(argv)

    global END_TO_END_REPEATS, COLD_START_RUNS
    if args.smoke:
        END_TO_END_REPEATS = COLD_START_RUNS = 1
    shrink = 100 if args.smoke else 10 if args.quick else 1
    n_iter = args.iters or (2 if args.smoke else 5 if args.quick else 10)
    repeats = args.repeats or (1 if args.smoke else 2 if args.quick else 3)
    bayes_repeats = args.repeats or (
        1 if args.smoke else 2 if args.quick else BAYES_REPEATS
    )
    small_calls = 3 if args.smoke else 20 if args.quick else 50

    import numba
    from sklearn.cluster import KMeans
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture as SkGM

    from fastgmm import GaussianMixture as FastGM
    from fastgmm.kernels._kmeans import kmeans_labels

    # Every tol=0 fit ends "not converged"; that is the point, not news.
    warnings.filterwarnings("ignore", category=ConvergenceWarning)

    print("# fastgmm vs scikit-learn")
    print()
    print_machine(numba)
    t0 = time.perf_counter()
    peak = dgemm_flops_per_s()
    print(f"- dense float64 matmul (2000 x 2000): {peak / 1e9:.1f} GFLOP/s")
    print(
        f"- settings: {f'N / {shrink}, ' if shrink > 1 else ''}M = {n_iter} "
        f"iterations per timed fit, best of R = {repeats}"
    )
    print()

    if args.bayesian_only:
        bayesian_section(shrink, bayes_repeats)
        print(f"total time: {time.perf_counter() - t0:.0f} s")
        return 0

    # ---- warm-up: compile every kernel variant used below, untimed
    print("warming up (compiling kernels) ...", end=" ", flush=True)
    tw = time.perf_counter()
    for cov in ("full", "tied", "diag", "spherical"):
        for dtype in DTYPES.values():
            Xw, cw = make_blobs(2000, 4, 3, dtype=dtype, seed=9)
            init = initial_parameters(cw, cov)
            for cls in (FastGM, SkGM):
                gm = cls(3, covariance_type=cov, tol=0.0, max_iter=2, **init).fit(Xw)
                gm.predict(Xw)
                gm.predict_proba(Xw)
                gm.score_samples(Xw)
    for init_params in SMALL_FITS[1]:
        Xw, _ = make_blobs(500, 2, 3, seed=9)
        for cls in (FastGM, SkGM):
            cls(3, init_params=init_params, random_state=0).fit(Xw)
    print(f"{time.perf_counter() - tw:.1f} s")
    try:
        layer = numba.threading_layer()
    except ValueError:
        layer = "?"
    print(f"numba threading layer: {layer}")
    print()

    # ---- per-iteration EM rows
    em_results = {}
    table = []
    for n, d, k, cov, dtype, target in EM_ROWS:
        n //= shrink
        X, centers = make_blobs(n, d, k, dtype=DTYPES[dtype])
        init = initial_parameters(centers, cov)

        def fit_with(cls, X=X, k=k, cov=cov, init=init, **extra):
            gm = cls(k, covariance_type=cov, tol=0.0, max_iter=n_iter, **init, **extra)
            return lambda: gm.fit(X)

        t_sk = best_time(fit_with(SkGM), repeats) / n_iter
        t_fast = best_time(fit_with(FastGM), repeats) / n_iter
        em_results[(n, d, k, cov, dtype)] = t_fast
        ratio = t_sk / t_fast
        roof = em_flops(n, d, k, cov) / t_fast / peak
        table.append(
            [
                f"{n}x{d} K={k} {cov} {dtype}",
                fmt_s(t_sk),
                fmt_s(t_fast),
                f"{ratio:.1f}x",
                f"{target:g}x",
                met(ratio, target),
                f"{100 * roof:.1f}%",
            ]
        )
    print("## Per EM iteration (same data, same initial parameters, tol=0)")
    print()
    print_table(
        [
            "case",
            "sklearn s/iter",
            "fastgmm s/iter",
            "ratio",
            "target",
            "met",
            "roofline",
        ],
        table,
    )
    print()

    # ---- other comparisons
    other = []

    # default fit, end to end: k-means initialisation, default tol
    n, d, k, target = END_TO_END
    n //= shrink
    # Overlapping clusters, so that EM needs a realistic number of iterations.
    X, _ = make_blobs(n, d, k, seed=3, center_scale=1.5)
    sk = SkGM(k, random_state=0)
    fast = FastGM(k, random_state=0)
    t_sk = best_time(lambda: sk.fit(X), END_TO_END_REPEATS)
    t_fast = best_time(lambda: fast.fit(X), END_TO_END_REPEATS)
    same_iter = sk.n_iter_ == fast.n_iter_
    lb_diff = abs(sk.lower_bound_ - fast.lower_bound_)
    agree = same_iter and lb_diff <= 1e-6 * max(1.0, abs(sk.lower_bound_))
    ratio = t_sk / t_fast
    other.append(
        [
            f"default fit end to end, {n}x{d} K={k} (s/fit)",
            fmt_s(t_sk),
            fmt_s(t_fast),
            f"{ratio:.1f}x",
            f"{target:g}x",
            "yes" if ratio >= target and agree else "no",
            f"best of {END_TO_END_REPEATS}; n_iter {sk.n_iter_} vs {fast.n_iter_}; "
            f"lower_bound differs by {lb_diff:.1e}",
        ]
    )
    del X

    # the k-means start alone: the labels GaussianMixture's default start uses
    n, d, k, target = KMEANS_START
    n //= shrink
    X, _ = make_blobs(n, d, k, seed=3, center_scale=1.5)
    t_sk = best_time(
        lambda: KMeans(k, n_init=1, random_state=0).fit(X), END_TO_END_REPEATS
    )
    t_fast = best_time(
        lambda: kmeans_labels(X, k, None, np.random.RandomState(0)),
        END_TO_END_REPEATS,
    )
    sk_labels = KMeans(k, n_init=1, random_state=0).fit(X).labels_
    fast_labels = kmeans_labels(X, k, None, np.random.RandomState(0))
    same = np.array_equal(sk_labels, fast_labels)
    ratio = t_sk / t_fast
    other.append(
        [
            f"k-means start alone, {n}x{d} K={k} (s)",
            fmt_s(t_sk),
            fmt_s(t_fast),
            f"{ratio:.1f}x",
            f"{target:g}x",
            "yes" if ratio >= target and same else "no",
            f"KMeans(n_init=1) vs fastgmm; same labels: {'yes' if same else 'NO'}",
        ]
    )
    del X

    # predict / predict_proba / score_samples of a fitted model
    n, d, k, target = SCORING
    n //= shrink
    X, centers = make_blobs(n, d, k, seed=4)
    init = initial_parameters(centers, "full")
    sk = SkGM(k, tol=0.0, max_iter=5, **init).fit(X[:20_000])
    fast = FastGM(k, tol=0.0, max_iter=5, **init).fit(X[:20_000])
    for method in ("predict", "predict_proba", "score_samples"):
        t_sk = best_time(lambda m=method: getattr(sk, m)(X), repeats)
        t_fast = best_time(lambda m=method: getattr(fast, m)(X), repeats)
        ratio = t_sk / t_fast
        other.append(
            [
                f"{method}, {n}x{d} K={k} full (s/call)",
                fmt_s(t_sk),
                fmt_s(t_fast),
                f"{ratio:.1f}x",
                f"{target:g}x",
                met(ratio, target),
                "",
            ]
        )
    del X

    # many small fits: per-call overhead
    (n, d, k), targets = SMALL_FITS
    X, _ = make_blobs(n, d, k, seed=5)
    for init_params, target in targets.items():

        def one_fit(seed, cls, init_params=init_params):
            cls(k, init_params=init_params, random_state=seed).fit(X)

        t_sk = median_time(lambda s: one_fit(s, SkGM), small_calls)
        t_fast = median_time(lambda s: one_fit(s, FastGM), small_calls)
        ratio = t_sk / t_fast
        other.append(
            [
                f"small fit {n}x{d} K={k}, init_params={init_params!r} (s/fit)",
                fmt_s(t_sk),
                fmt_s(t_fast),
                f"{ratio:.1f}x",
                f"{target:g}x",
                met(ratio, target),
                f"median of {small_calls} fits",
            ]
        )

    # peak memory of a default fit, each library in a fresh process
    n, d, k, target = MEMORY_CASE
    n //= shrink
    ratios = {lib: peak_memory_ratio(lib, n) for lib in ("sklearn", "fastgmm")}
    other.append(
        [
            f"peak memory added by a default fit, {n}x{d} K={k} (x X.nbytes)",
            f"{ratios['sklearn']:.2f}",
            f"{ratios['fastgmm']:.2f}",
            f"{ratios['sklearn'] / max(ratios['fastgmm'], 1e-3):.1f}x",
            f"<= {target:g}",
            "yes" if ratios["fastgmm"] <= target else "no",
            "peak RSS growth during fit, benchmarks/peak_memory.py",
        ]
    )

    # cold start: a fresh process imports the library and fits iris
    cold = cold_start_seconds(COLD_START_RUNS)
    ratio = cold["sklearn"] / cold["fastgmm"]
    other.append(
        [
            "cold start: fresh process, import + fit iris K=3 (s)",
            fmt_s(cold["sklearn"]),
            fmt_s(cold["fastgmm"]),
            f"{ratio:.2f}x",
            ">= 1x",
            met(ratio, 1.0),
            f"median of {COLD_START_RUNS} processes each, warm Numba cache",
        ]
    )

    # threads: fastgmm with n_jobs=1 vs n_jobs=2 (the baseline is fastgmm)
    n, d, k, cov, target = THREADS_CASE
    n //= shrink
    if numba.config.NUMBA_NUM_THREADS >= 2:
        X, centers = make_blobs(n, d, k)
        init = initial_parameters(centers, cov)
        times = {}
        for jobs in (1, 2):
            gm = FastGM(
                k, covariance_type=cov, tol=0.0, max_iter=n_iter, n_jobs=jobs, **init
            )
            times[jobs] = best_time(lambda gm=gm: gm.fit(X), repeats) / n_iter
        ratio = times[1] / times[2]
        other.append(
            [
                f"threads: fastgmm 1 vs 2 threads, {n}x{d} K={k} {cov} (s/iter)",
                fmt_s(times[1]),
                fmt_s(times[2]),
                f"{ratio:.2f}x",
                f"{target:g}x",
                met(ratio, target),
                "baseline column: fastgmm, n_jobs=1",
            ]
        )
        del X
    else:
        other.append(
            [
                "threads: fastgmm 1 vs 2 threads",
                "-",
                "-",
                "-",
                f"{target:g}x",
                "n/a",
                "fewer than 2 Numba threads",
            ]
        )

    # float32 vs float64, from the per-iteration rows above
    n, d, k, cov, target = FLOAT32_CASE
    n //= shrink
    t64 = em_results.get((n, d, k, cov, "float64"))
    t32 = em_results.get((n, d, k, cov, "float32"))
    ratio = t64 / t32
    other.append(
        [
            f"float32 vs float64, fastgmm {n}x{d} K={k} {cov} (s/iter)",
            fmt_s(t64),
            fmt_s(t32),
            f"{ratio:.2f}x",
            f"{target:g}x",
            met(ratio, target),
            "baseline column: fastgmm float64",
        ]
    )

    print("## Other comparisons")
    print()
    print(
        "The baseline column is scikit-learn unless the note says otherwise; "
        "ratio = baseline / fastgmm."
    )
    print()
    print_table(
        ["case", "baseline", "fastgmm", "ratio", "target", "met", "note"], other
    )
    print()
    bayesian_section(shrink, bayes_repeats)
    print(f"total time: {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
