"""Peak memory a fit adds, relative to the size of the data.

Run from the repository root::

    python benchmarks/peak_memory.py random_from_data
    python benchmarks/peak_memory.py kmeans

Builds a 2,000,000 x 8 float64 array without temporaries, loads the kernels on
a few rows, then fits K=16 'full' for 5 iterations and prints how much the
process's peak resident memory grew during the fit.
"""

import resource
import sys
import warnings

import numpy as np

from fastgmm import GaussianMixture


def main(init_params):
    warnings.simplefilter("ignore")
    rng = np.random.default_rng(0)
    X = np.empty((2_000_000, 8))
    rng.standard_normal(out=X)
    X[:, 0] += np.repeat(np.arange(16.0), 125_000)
    GaussianMixture(16, max_iter=1, init_params="random_from_data").fit(X[:5000])
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    GaussianMixture(16, init_params=init_params, random_state=0, max_iter=5, tol=0).fit(
        X
    )
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    added = after - before
    print(
        f"init={init_params}: peak RSS added by fit {added / 1e6:.1f} MB = "
        f"{added / X.nbytes:.2f} x X.nbytes ({X.nbytes / 1e6:.0f} MB)"
    )


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "kmeans")
