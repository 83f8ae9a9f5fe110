"""Peak memory a fit adds, relative to the size of the data.

Run from the repository root::

    python benchmarks/peak_memory.py                       # fastgmm, kmeans init
    python benchmarks/peak_memory.py --init random_from_data
    python benchmarks/peak_memory.py --library sklearn
    python benchmarks/peak_memory.py --batch shuffled   # BatchGaussianMixture
    python benchmarks/peak_memory.py --bayesian         # BayesianGaussianMixture
    python benchmarks/peak_memory.py --bayesian --library sklearn

Builds a 2,000,000 x 8 float64 array without temporaries, runs the library
once on a few rows (Numba loads its kernels, NumPy and BLAS their buffers),
then fits K=16 'full' for 5 iterations and prints how much the process's peak
resident memory during that fit exceeds its resident memory just before it
(Linux: the high-water mark is reset before the fit).

``--bayesian`` measures ``BayesianGaussianMixture(n_components=16,
max_iter=5, tol=0, random_state=0)`` (Dirichlet process prior, 'full') the
same way, fastgmm's or, with ``--library sklearn``, scikit-learn's.

``--batch`` instead fits ``BatchGaussianMixture(2)`` (full, default start)
to the same rows in groups of 400, their labels in order (``sorted``) or
shuffled (``shuffled``: the rows are then copied once, sorted by group).
"""

import argparse
import resource
import warnings

import numpy as np


def peak_added(library, init_params, n_samples, bayesian=False):
    """(bytes the fit added to peak RSS, X.nbytes)."""
    if library == "sklearn":
        from sklearn.mixture import BayesianGaussianMixture, GaussianMixture
    else:
        from fastgmm import BayesianGaussianMixture, GaussianMixture
    cls = BayesianGaussianMixture if bayesian else GaussianMixture
    warnings.simplefilter("ignore")
    rng = np.random.default_rng(0)
    X = np.empty((n_samples, 8))
    rng.standard_normal(out=X)
    X[:, 0] += np.repeat(np.arange(16.0), -(-n_samples // 16))[:n_samples]
    cls(n_components=16, max_iter=1, init_params=init_params, random_state=0).fit(
        X[:5000]
    )
    before = _reset_peak()
    cls(
        n_components=16, init_params=init_params, random_state=0, max_iter=5, tol=0
    ).fit(X)
    return _peak() - before, X.nbytes


def batch_peak_added(order, n_samples):
    """(bytes a BatchGaussianMixture fit added to peak RSS, X.nbytes)."""
    from fastgmm import BatchGaussianMixture

    warnings.simplefilter("ignore")
    rng = np.random.default_rng(0)
    X = np.empty((n_samples, 8))
    rng.standard_normal(out=X)
    groups = np.arange(n_samples) // 400
    if order == "shuffled":
        rng.shuffle(groups)
    X[:, 0] += 3 * (np.arange(n_samples) % 2)
    BatchGaussianMixture(2, random_state=0).fit(X[:5000], groups[:5000])
    before = _reset_peak()
    BatchGaussianMixture(2, random_state=0).fit(X, groups)
    return _peak() - before, X.nbytes


def _status_bytes(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise OSError(f"no {field} in /proc/self/status")


def _reset_peak():
    """Reset the peak RSS to the current RSS; returns the current RSS.

    Linux resets the high-water mark (VmHWM) when 5 is written to
    /proc/self/clear_refs, so earlier peaks (building X) do not hide the
    fit's.  Elsewhere the process's lifetime peak is the baseline.
    """
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return _status_bytes("VmRSS")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _peak():
    try:
        return _status_bytes("VmHWM")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--library", choices=["fastgmm", "sklearn"], default="fastgmm")
    parser.add_argument(
        "--init", default="kmeans", choices=["kmeans", "random_from_data"]
    )
    parser.add_argument("--n-samples", type=int, default=2_000_000)
    parser.add_argument("--batch", choices=["sorted", "shuffled"], default=None)
    parser.add_argument(
        "--bayesian",
        action="store_true",
        help="BayesianGaussianMixture instead of GaussianMixture",
    )
    args = parser.parse_args(argv)
    if args.batch and args.bayesian:
        parser.error("--batch and --bayesian are exclusive")
    if args.batch:
        added, nbytes = batch_peak_added(args.batch, args.n_samples)
        what = f"BatchGaussianMixture, groups of 400 rows, {args.batch} labels"
    else:
        added, nbytes = peak_added(
            args.library, args.init, args.n_samples, bayesian=args.bayesian
        )
        what = f"{args.library}, init={args.init}"
        if args.bayesian:
            what = f"{args.library} BayesianGaussianMixture, init={args.init}"
    print(
        f"{what}: peak RSS added by fit "
        f"{added / 1e6:.1f} MB = {added / nbytes:.2f} x X.nbytes "
        f"({nbytes / 1e6:.0f} MB)"
    )
    print(f"ratio {added / nbytes:.4f}")


if __name__ == "__main__":
    main()
