"""Time the model-selection sweep on iris: fastgmm against scikit-learn.

The sweep fits every n_components in 1..10 with each of the four covariance
types (40 fits) and scores them by BIC. Both libraries run in this process,
alternately, after one untimed warm-up sweep (which compiles or loads the
Numba kernels). Run with::

    python benchmarks/iris_sweep.py [--repeat N]
"""

import argparse
import os
import time
import warnings

import numba
import numpy as np
import sklearn
import sklearn.mixture
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning

import fastgmm
from fastgmm import GaussianMixtureIC

N_COMPONENTS = range(1, 11)
COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


def loop_sweep(X, estimator=sklearn.mixture.GaussianMixture, **params):
    """The loop one writes with scikit-learn: fit, score, keep the lowest."""
    best = None
    for k in N_COMPONENTS:
        for covariance_type in COVARIANCE_TYPES:
            gm = estimator(
                n_components=k,
                covariance_type=covariance_type,
                random_state=0,
                **params,
            ).fit(X)
            bic = gm.bic(X)
            if best is None or bic < best[0]:
                best = (bic, k, covariance_type)
    return best


def fastgmm_sweep(X, n_jobs=None):
    selector = GaussianMixtureIC(
        n_components=N_COMPONENTS,
        covariance_type=COVARIANCE_TYPES,
        random_state=0,
        n_jobs=n_jobs,
    ).fit(X)
    return (selector.criterion_, selector.n_components_, selector.covariance_type_)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    X = load_iris().data

    runs = {
        "scikit-learn GaussianMixture loop": loop_sweep,
        "fastgmm GaussianMixture loop (n_jobs=1)": lambda X: loop_sweep(
            X, fastgmm.GaussianMixture, n_jobs=1
        ),
        "fastgmm GaussianMixtureIC (n_jobs=None)": fastgmm_sweep,
        "fastgmm GaussianMixtureIC (n_jobs=1)": lambda X: fastgmm_sweep(X, 1),
    }
    answers = {name: run(X) for name, run in runs.items()}  # warm-up
    times = {name: [] for name in runs}
    for _ in range(args.repeat):
        for name, run in runs.items():
            t0 = time.perf_counter()
            run(X)
            times[name].append(time.perf_counter() - t0)

    print(
        f"iris sweep: n_components 1..10 x {len(COVARIANCE_TYPES)} covariance "
        f"types = {len(N_COMPONENTS) * len(COVARIANCE_TYPES)} fits, BIC, "
        f"random_state=0; best of {args.repeat} (median)"
    )
    print(
        f"fastgmm {fastgmm.__version__}, scikit-learn {sklearn.__version__}, "
        f"numba {numba.__version__} ({numba.threading_layer()} layer, "
        f"{numba.get_num_threads()} threads), {os.cpu_count()} CPUs"
    )
    reference = min(times["scikit-learn GaussianMixture loop"])
    for name in runs:
        best = min(times[name])
        bic, k, covariance_type = answers[name]
        print(
            f"  {name:40s} {best:7.3f} s ({np.median(times[name]):.3f})  "
            f"x{reference / best:5.1f}   best: k={k}, {covariance_type}, "
            f"BIC={bic:.4f}"
        )


if __name__ == "__main__":
    main()
