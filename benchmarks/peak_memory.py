"""Peak memory a fit adds, relative to the size of the data.

Run from the repository root::

    python benchmarks/peak_memory.py                       # fastgmm, kmeans init
    python benchmarks/peak_memory.py --init random_from_data
    python benchmarks/peak_memory.py --library sklearn

Builds a 2,000,000 x 8 float64 array without temporaries, runs the library
once on a few rows (Numba loads its kernels, NumPy and BLAS their buffers),
then fits K=16 'full' for 5 iterations and prints how much the process's peak
resident memory grew during that fit.  Run one measurement per process: the
peak only ever grows.
"""

import argparse
import resource
import warnings

import numpy as np


def peak_added(library, init_params, n_samples):
    """(bytes the fit added to peak RSS, X.nbytes)."""
    if library == "sklearn":
        from sklearn.mixture import GaussianMixture
    else:
        from fastgmm import GaussianMixture
    warnings.simplefilter("ignore")
    rng = np.random.default_rng(0)
    X = np.empty((n_samples, 8))
    rng.standard_normal(out=X)
    X[:, 0] += np.repeat(np.arange(16.0), -(-n_samples // 16))[:n_samples]
    GaussianMixture(16, max_iter=1, init_params=init_params, random_state=0).fit(
        X[:5000]
    )
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    GaussianMixture(16, init_params=init_params, random_state=0, max_iter=5, tol=0).fit(
        X
    )
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return after - before, X.nbytes


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--library", choices=["fastgmm", "sklearn"], default="fastgmm")
    parser.add_argument(
        "--init", default="kmeans", choices=["kmeans", "random_from_data"]
    )
    parser.add_argument("--n-samples", type=int, default=2_000_000)
    args = parser.parse_args(argv)
    added, nbytes = peak_added(args.library, args.init, args.n_samples)
    print(
        f"{args.library}, init={args.init}: peak RSS added by fit "
        f"{added / 1e6:.1f} MB = {added / nbytes:.2f} x X.nbytes "
        f"({nbytes / 1e6:.0f} MB)"
    )
    print(f"ratio {added / nbytes:.4f}")


if __name__ == "__main__":
    main()
