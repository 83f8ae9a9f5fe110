"""The k-means start and the default fit, side by side with scikit-learn.

Run from the repository root on an otherwise idle machine::

    python benchmarks/kmeans_start.py                 # 300,000 and 1,000,000 rows
    python benchmarks/kmeans_start.py --rows 300000

The data: N x 8, a third of the rows shifted by 3, a sixth scaled by 0.4
(overlapping clusters, so that k-means runs many Lloyd steps), K=16,
``random_state=0``.  For each N it prints

- the k-means start alone: ``fastgmm``'s (the labels of ``KMeans(16,
  n_init=1, random_state=0)``, median of 5) against scikit-learn's
  ``KMeans`` (median of 3), each after one untimed run, the runs
  alternating, and whether the labels are the same;
- the default fit end to end: ``GaussianMixture(16, random_state=0).fit``,
  fastgmm's best of two against scikit-learn's one fit, with both numbers
  of EM iterations and the difference of the lower bounds;
- with ``--floor``, what one Lloyd step cannot go below on this machine: a
  compiled pass that reads every row of X once on all threads (each row's
  sum; median of 200), and the mean time per Lloyd step of the k-means
  start, seeding included.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time
import warnings

import numpy as np
from compare_sklearn import cpu_model


def data(n_rows):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n_rows, 8))
    X[: n_rows // 3] += 3
    X[n_rows // 3 : n_rows // 2] *= 0.4
    return X


def timed(function):
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


@functools.cache
def _row_sums():
    from numba import njit, prange

    # The kernels' fast-math flags (no nnan/ninf), as they read rows too.
    from fastgmm.kernels._config import FASTMATH

    @njit(parallel=True, fastmath=FASTMATH)
    def row_sums(X, out):
        for i in prange(X.shape[0]):
            total = 0.0
            for j in range(X.shape[1]):
                total += X[i, j]
            out[i] = total

    return row_sums


def read_every_row(X):
    """Seconds of one compiled pass summing each row of X, on all threads."""
    out = np.empty(X.shape[0])
    _row_sums()(X, out)  # compiled and warm before the timing
    return timed(lambda: _row_sums()(X, out))[0]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rows", type=int, nargs="+", default=[300_000, 1_000_000], help="N"
    )
    parser.add_argument(
        "--floor", action="store_true", help="also time one read of X per step"
    )
    args = parser.parse_args(argv)

    from sklearn.cluster import KMeans
    from sklearn.mixture import GaussianMixture as SkGaussianMixture

    from fastgmm import GaussianMixture

    try:  # a commit from before the layer folders (tried first: an editable
        # install would find today's fastgmm.kernels for an older fastgmm)
        from fastgmm._kmeans import kmeans_labels
    except ImportError:
        from fastgmm.kernels._kmeans import kmeans_labels

    warnings.simplefilter("ignore")
    import numba

    print(f"{cpu_model()}, {numba.get_num_threads()} Numba threads; seconds")
    print()
    print("| N x 8, K=16 | fastgmm | scikit-learn | ratio | note |")
    print("|---|---|---|---|---|")
    for n_rows in args.rows:
        X = data(n_rows)

        def start():
            return kmeans_labels(X, 16, None, np.random.RandomState(0))

        def kmeans():
            return KMeans(16, n_init=1, random_state=0).fit(X)

        # Each after one untimed run (the first call of either pays for
        # starting its threads), the two alternating.
        start(), kmeans()
        fast, slow = [], []
        for _ in range(5):
            fast.append(timed(start)[0])
            if len(slow) < 3:
                seconds, km = timed(kmeans)
                slow.append(seconds)
        fast, slow = statistics.median(fast), statistics.median(slow)
        same = np.array_equal(km.labels_, start())
        print(
            f"| {n_rows:,}: k-means start | {fast:.3f} | {slow:.3f} "
            f"| {slow / fast:.2f}x | median of 5 vs 3 runs; same labels: "
            f"{'yes' if same else 'NO'}; {km.n_iter_} Lloyd steps |"
        )

        if args.floor:
            read = statistics.median(read_every_row(X) for _ in range(200))
            print(
                f"| {n_rows:,}: one read of X, all threads | {read:.5f} | - | - "
                f"| a Lloyd step that reads every row; the k-means start took "
                f"{fast / km.n_iter_:.5f} per Lloyd step, seeding included |"
            )

        def fit():
            return GaussianMixture(16, random_state=0).fit(X)

        fit()
        fast, ours = min((timed(fit) for _ in range(2)), key=lambda pair: pair[0])
        slow, theirs = timed(lambda: SkGaussianMixture(16, random_state=0).fit(X))
        gap = abs(ours.lower_bound_ - theirs.lower_bound_)
        print(
            f"| {n_rows:,}: default fit end to end | {fast:.3f} | {slow:.3f} "
            f"| {slow / fast:.1f}x | best of 2 vs 1 fit; n_iter {ours.n_iter_} vs "
            f"{theirs.n_iter_}; lower bounds differ by {gap:.1e} |"
        )


if __name__ == "__main__":
    main()
