"""Many small mixtures: BatchGaussianMixture against loops of single fits.

Run from the repository root on an otherwise idle machine::

    python benchmarks/compare_batch.py            # the table of the README
    python benchmarks/compare_batch.py --quick    # smaller cases, a smoke run
    python benchmarks/compare_batch.py --dask     # the Dask case alone

Every timing is the median of ``--repeats`` runs, the libraries alternating,
in one process, after one untimed run of each (compilation).  The cases:

- gmm-gpu's benchmark: groups of 400 rows in 2-D, K=2, full covariances,
  default initialisation.  The batch on all threads and on one thread, a
  loop of ``fastgmm.GaussianMixture`` fits, and a loop of scikit-learn's
  fits on the first ``--sklearn-groups`` groups, scaled to all of them.
  Then 10,000 such fits, scaled to 100,000 for the comparison with
  gmm-gpu's published 11.1 s on a Tesla P100.
- Ragged: groups with sizes drawn log-uniform between 20 and 20,000 rows,
  4-D, K=3, diagonal covariances: the batch against the fastgmm loop.
- Per-group K: groups of 400 rows in 2-D, full covariances,
  ``n_components=range(1, 5)`` chosen by BIC: the batch against a loop of
  ``fastgmm.GaussianMixtureIC`` over the same candidates.
- Dask (``--dask`` alone, or in the table when dask is installed): 20,000
  groups of 40-160 rows (about 2 million rows), 4-D, K=2, full covariances,
  the rows shuffled across the blocks, persisted on a
  ``LocalCluster(n_workers=2, threads_per_worker=1, processes=True)``: the
  Dask fit (rows moved to their group's partition, each partition fitted
  on a worker) against the in-process batch on all threads, and a check
  that the models are the same.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numba
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from fastgmm import BatchGaussianMixture, GaussianMixture, GaussianMixtureIC


def equal_groups(n_groups, n_rows, n_features, seed=0):
    """(n_groups, n_rows, n_features): two clusters per group."""
    rng = np.random.default_rng(seed)
    X3 = rng.standard_normal((n_groups, n_rows, n_features))
    X3[:, : n_rows // 2] += 3
    return X3


def ragged_groups(n_groups, low, high, n_features, seed=0):
    """Rows and labels of groups with log-uniform sizes in [low, high]."""
    rng = np.random.default_rng(seed)
    sizes = np.exp(rng.uniform(np.log(low), np.log(high), n_groups)).astype(int)
    labels = np.repeat(np.arange(n_groups), sizes)
    X = rng.standard_normal((len(labels), n_features))
    X[rng.random(len(labels)) < 0.3] += 4
    X += labels[:, None] % 7
    return X, labels, sizes


def seconds(function, repeats):
    """Median wall time of ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def loop(estimator_class, blocks, **params):
    """Fit one estimator per block of rows."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for rows in blocks:
            estimator_class(**params).fit(rows)


def batch(X, groups=None, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        BatchGaussianMixture(**params).fit(X, groups)


def same_fit(a, b):
    """Whether two fitted batches hold the same attributes, bit for bit."""
    for name, value in vars(a).items():
        if name.endswith("_") and isinstance(value, np.ndarray):
            other = getattr(b, name)
            if value.dtype != other.dtype or not np.array_equal(
                value, other, equal_nan=value.dtype.kind == "f"
            ):
                return False
    return True


def dask_case(n_groups, repeats, chunk_rows):
    """(in-process seconds, Dask seconds, rows, partitions, same models)."""
    import logging

    import dask.array as da
    from dask.distributed import Client, LocalCluster

    rng = np.random.default_rng(2)
    sizes = rng.integers(40, 161, n_groups)
    labels = np.repeat(np.arange(n_groups), sizes)
    X = rng.standard_normal((len(labels), 4))
    X[rng.random(len(labels)) < 0.3] += 4
    X += labels[:, None] % 7
    order = rng.permutation(len(X))  # every group's rows in every block
    X, labels = X[order], labels[order]
    params = dict(n_components=2, covariance_type="full", random_state=0)

    def fit(X, groups):
        with warnings.catch_warnings():
            # (The warm-up's cut groups are too small to fit.)
            warnings.simplefilter("ignore")
            return BatchGaussianMixture(**params).fit(X, groups)

    fit(X[:5000], labels[:5000])
    t_memory = seconds(lambda: fit(X, labels), repeats)
    in_memory = fit(X, labels)
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True,
            dashboard_address=None, silence_logs=logging.CRITICAL,
        ) as cluster,
        Client(cluster) as client,
    ):  # fmt: skip
        Xd = da.from_array(X, chunks=(chunk_rows, 4))
        groups = da.from_array(labels, chunks=chunk_rows)
        Xd, groups = client.persist([Xd, groups])
        client.wait_for_workers(2)
        # Each worker loads the compiled kernels once, untimed.
        client.run(fit, X[:5000], labels[:5000])
        t_dask = seconds(lambda: fit(Xd, groups), repeats)
        same = same_fit(fit(Xd, groups), in_memory)
    return t_memory, t_dask, len(X), Xd.numblocks[0], same


def print_dask_case(n_groups, repeats, chunk_rows):
    t_memory, t_dask, n_rows, n_parts, same = dask_case(n_groups, repeats, chunk_rows)
    print(
        f"\nDask: {n_groups:,} groups of 40-160 rows ({n_rows:,} rows), 4-D, K=2, "
        f"full, shuffled in {n_parts} blocks, persisted on LocalCluster(n_workers=2,"
        " threads_per_worker=1, processes=True); median of "
        f"{repeats} runs; seconds\n"
    )
    print("| case | Dask batch | in-process batch | Dask throughput / in-process "
          "| same models |")  # fmt: skip
    print("|---|---|---|---|---|")
    print(
        f"| {n_groups:,} groups, Dask | {t_dask:.3f} | {t_memory:.3f} "
        f"| {t_memory / t_dask:.2f}x | {'yes' if same else 'NO'} |"
    )


def dask_table(args):
    """The Dask case, at the sizes of ``--quick`` and ``--dask-*``."""
    print_dask_case(
        args.dask_groups or (2000 if args.quick else 20_000),
        1 if args.quick else args.repeats,
        args.dask_chunk_rows // (10 if args.quick else 1),
    )


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small cases")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sklearn-groups", type=int, default=50)
    parser.add_argument(
        "--dask", action="store_true", help="the Dask case alone (needs dask)"
    )
    parser.add_argument(
        "--dask-groups", type=int, default=None,
        help="groups of the Dask case (default 20,000; 2,000 with --quick)",
    )  # fmt: skip
    parser.add_argument("--dask-chunk-rows", type=int, default=125_000)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.dask:
        dask_table(args)
        return
    n_groups = 100 if args.quick else 1000
    n_large = 1000 if args.quick else 10_000
    n_ragged = 100 if args.quick else 2000
    repeats = 1 if args.quick else args.repeats
    threads = numba.get_num_threads()
    params = dict(n_components=2, covariance_type="full", random_state=0)

    X3 = equal_groups(n_groups, 400, 2)
    blocks = list(X3)
    batch(X3[:20], **params)
    loop(GaussianMixture, blocks[:20], **params)
    loop(SkGaussianMixture, blocks[:2], **params)
    t_batch = seconds(lambda: batch(X3, **params), repeats)
    t_one = seconds(lambda: batch(X3, n_jobs=1, **params), repeats)
    t_loop = seconds(lambda: loop(GaussianMixture, blocks, **params), repeats)
    sk_blocks = blocks[: args.sklearn_groups]
    t_sk = seconds(lambda: loop(SkGaussianMixture, sk_blocks, **params), 1)
    t_sk *= n_groups / len(sk_blocks)

    X_large = equal_groups(n_large, 400, 2, seed=1)
    t_large = seconds(lambda: batch(X_large, **params), max(1, repeats // 2))

    X, labels, sizes = ragged_groups(n_ragged, 20, 20_000, 4)
    ragged = dict(n_components=3, covariance_type="diag", random_state=0)
    starts = np.concatenate([[0], np.cumsum(sizes)])
    ragged_blocks = [X[a:b] for a, b in zip(starts[:-1], starts[1:])]
    batch(X[:2000], labels[:2000], **ragged)
    t_ragged = seconds(lambda: batch(X, labels, **ragged), repeats)
    t_ragged_loop = seconds(
        lambda: loop(GaussianMixture, ragged_blocks, **ragged), repeats
    )

    select = dict(covariance_type="full", random_state=0)
    candidates = range(1, 5)
    batch(X3[:20], n_components=candidates, **select)
    loop(GaussianMixtureIC, blocks[:20], n_components=candidates, **select)
    t_select = seconds(lambda: batch(X3, n_components=candidates, **select), repeats)
    t_select_loop = seconds(
        lambda: loop(GaussianMixtureIC, blocks, n_components=candidates, **select),
        repeats,
    )

    print(f"{threads} threads; median of {repeats} runs; seconds\n")
    print("| case | batch | fastgmm loop | scikit-learn loop | loop / batch "
          "| scikit-learn / batch | 1 thread / all |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    print(
        f"| {n_groups} groups x 400 rows, 2-D, K=2, full | {t_batch:.4f} "
        f"| {t_loop:.4f} | {t_sk:.2f} (from {len(sk_blocks)} groups) "
        f"| {t_loop / t_batch:.1f}x | {t_sk / t_batch:.0f}x | {t_one / t_batch:.2f}x |"
    )
    print(
        f"| {n_ragged} groups of 20-20,000 rows ({len(X):,} rows), 4-D, K=3, diag "
        f"| {t_ragged:.4f} | {t_ragged_loop:.4f} | - "
        f"| {t_ragged_loop / t_ragged:.1f}x | - | - |"
    )
    print(
        f"| {n_groups} groups x 400 rows, 2-D, K in 1..4 by BIC, full "
        f"| {t_select:.4f} | {t_select_loop:.4f} (GaussianMixtureIC) | - "
        f"| {t_select_loop / t_select:.1f}x | - | - |"
    )
    print(
        f"\n{n_large:,} fits of 400 rows, 2-D, K=2, full: {t_large:.3f} s; "
        f"100,000 fits at that rate: {t_large * 100_000 / n_large:.2f} s "
        "(gmm-gpu, published: 11.1 s on a Tesla P100, 19.0 s on an 8-core Xeon)."
    )
    try:
        import dask.array  # noqa: F401
        import distributed  # noqa: F401
    except ImportError:
        return
    dask_table(args)


if __name__ == "__main__":
    main()
