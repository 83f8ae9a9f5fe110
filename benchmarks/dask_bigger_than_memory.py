"""Fit a Gaussian mixture to more data than the machine has memory, with Dask.

The data, 500,000,000 x 8 float64 by default (32 GB), is a lazily generated
``dask.array.random`` array: a mixture of ``--components`` Gaussian blobs.
Nothing is persisted.  Every EM pass generates each row block on a worker,
reduces it to sufficient statistics (a few kilobytes) and drops it, so the
workers' memory stays within their limits whatever the number of rows.  The
fit starts from explicit initial parameters (no initialisation pass) and runs
``--max-iter`` iterations.

Run from the repository root::

    python benchmarks/dask_bigger_than_memory.py              # 500M rows
    python benchmarks/dask_bigger_than_memory.py --rows 20_000_000

It prints the time of each EM iteration, the peak memory of the cluster and
the fitted means next to the true centres.
"""

import argparse
import time
import warnings

import numpy as np


def number(text):
    return int(text.replace("_", ""))


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=number, default=500_000_000)
    parser.add_argument("--features", type=int, default=8)
    parser.add_argument("--components", type=int, default=8)
    parser.add_argument("--chunk-rows", type=number, default=1_000_000)
    parser.add_argument("--max-iter", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads-per-worker", type=int, default=1)
    parser.add_argument("--memory-limit", default="3GiB", help="per worker")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def _blobs(noise, labels, centres, scales):
    """Rows of a block: each row's noise scaled and moved to its centre."""
    labels = labels[:, 0]
    rows = noise * scales[labels, None]
    rows += centres[labels]
    return rows


def make_data(n_rows, n_features, n_components, chunk_rows, seed):
    """A lazy mixture of Gaussian blobs, generated block by block."""
    import dask.array as da

    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=5.0, size=(n_components, n_features))
    scales = rng.uniform(0.5, 1.5, size=n_components)
    weights = rng.dirichlet(np.full(n_components, 5.0))

    lazy = da.random.default_rng(seed)
    labels = lazy.choice(n_components, size=n_rows, p=weights, chunks=chunk_rows)
    noise = lazy.standard_normal((n_rows, n_features), chunks=(chunk_rows, -1))
    X = da.map_blocks(_blobs, noise, labels[:, None], centres, scales, dtype=np.float64)
    return X, centres, weights


def initial_parameters(centres, seed):
    rng = np.random.default_rng(seed + 1)
    n_components, n_features = centres.shape
    return {
        "weights_init": np.full(n_components, 1.0 / n_components),
        "means_init": centres + rng.normal(scale=0.5, size=centres.shape),
        "precisions_init": np.tile(np.eye(n_features), (n_components, 1, 1)),
    }


def main():
    args = parse_args()
    from distributed import Client, LocalCluster
    from distributed.diagnostics import MemorySampler
    from sklearn.exceptions import ConvergenceWarning

    from fastgmm import GaussianMixture
    from fastgmm.engine import _dask

    X, centres, weights = make_data(
        args.rows, args.features, args.components, args.chunk_rows, args.seed
    )
    print(
        f"data: {X.shape[0]:,} x {X.shape[1]} {X.dtype} = {X.nbytes / 1e9:.1f} GB "
        f"(never held anywhere), {X.numblocks[0]} blocks of "
        f"{args.chunk_rows:,} rows"
    )
    cluster = LocalCluster(
        n_workers=args.workers,
        threads_per_worker=args.threads_per_worker,
        memory_limit=args.memory_limit,
        dashboard_address=None,
    )
    with cluster, Client(cluster) as client:
        workers = client.scheduler_info()["workers"].values()
        limits = [worker["memory_limit"] for worker in workers]
        print(
            f"cluster: {args.workers} workers x {args.threads_per_worker} threads, "
            f"memory limit {sum(limits) / 2**30:.1f} GiB in all"
        )
        model = GaussianMixture(
            args.components,
            covariance_type="full",
            tol=0.0,
            max_iter=args.max_iter,
            **initial_parameters(centres, args.seed),
        )
        # Time each EM pass (one per iteration) as the estimator runs it.
        statistics = _dask.DaskData.statistics
        times = []

        def timed_statistics(self, params, ref):
            start = time.perf_counter()
            result = statistics(self, params, ref)
            times.append(time.perf_counter() - start)
            print(
                f"  iteration {len(times)}: {times[-1]:8.1f} s, "
                f"{X.shape[0] / times[-1] / 1e6:6.2f} M rows/s, "
                f"mean log-likelihood {result[0] / X.shape[0]:.6f}",
                flush=True,
            )
            return result

        _dask.DaskData.statistics = timed_statistics
        sampler = MemorySampler()
        start = time.perf_counter()
        with sampler.sample("fit", interval=1.0), warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X)
        elapsed = time.perf_counter() - start
        _dask.DaskData.statistics = statistics

        peak = sampler.to_pandas()["fit"].max()
        print(f"fit: {len(times)} iterations in {elapsed:.1f} s")
        print(
            f"peak cluster memory: {peak / 2**30:.2f} GiB "
            f"(data {X.nbytes / 2**30:.1f} GiB)"
        )
        print(f"lower bound: {model.lower_bound_:.6f}")
        order = np.argsort(weights)[::-1]
        print("true weight, fitted weight, |fitted mean - true centre|:")
        for k in order:
            print(
                f"  {weights[k]:.4f}  {model.weights_[k]:.4f}  "
                f"{np.linalg.norm(model.means_[k] - centres[k]):.4f}"
            )


if __name__ == "__main__":
    main()
