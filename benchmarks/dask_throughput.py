"""Rows per second of one EM iteration: Dask cluster vs in-process kernels.

A 20,000,000 x 8 float64 array (1.3 GB) is persisted in the memory of a
2-worker ``LocalCluster`` (one thread per worker) and a copy is pulled into
this process.  One EM iteration (the E-step pass over the data, then the
M-step) of a 16-component 'full' mixture is timed from the same parameters:

- in process: ``fastgmm`` on the NumPy array, the Numba kernels on all of
  this process's threads;
- Dask: the same kernel on each row block, on the workers, the sufficient
  statistics reduced and sent to this process.

Run from the repository root::

    python benchmarks/dask_throughput.py [--rows 20_000_000] [--repeat 5]

It prints the best time of ``--repeat`` iterations of each, the rows per
second and their ratio (Dask / in process).  With as many worker threads as
the process has cores, the ratio measures what Dask's scheduling and
transfers cost.
"""

import argparse
import os
import time
import warnings

import numpy as np


def number(text):
    return int(text.replace("_", ""))


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=number, default=20_000_000)
    parser.add_argument("--features", type=int, default=8)
    parser.add_argument("--components", type=int, default=16)
    parser.add_argument("--chunk-rows", type=number, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="Numba threads of the in-process run (default: Numba's default)",
    )
    return parser.parse_args()


def best_time(step, repeat):
    """Best wall time of ``repeat`` calls of ``step`` and its last result."""
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        result = step()
        best = min(best, time.perf_counter() - start)
    return best, result


def main():
    args = parse_args()
    import dask.array as da
    import numba
    from distributed import Client, LocalCluster, wait
    from sklearn.exceptions import ConvergenceWarning

    from fastgmm import GaussianMixture
    from fastgmm.engine._dask import DaskData
    from fastgmm.engine._data import InMemoryData
    from fastgmm.engine._em import Start, fit_em

    rng = np.random.default_rng(0)
    centres = rng.normal(scale=4.0, size=(args.components, args.features))
    init = {
        "weights_init": np.full(args.components, 1.0 / args.components),
        "means_init": centres + rng.normal(scale=0.5, size=centres.shape),
        "precisions_init": np.tile(np.eye(args.features), (args.components, 1, 1)),
    }
    gm = GaussianMixture(args.components, covariance_type="full", **init)

    if args.threads is not None:
        numba.set_num_threads(args.threads)
    print(
        f"{args.rows:,} x {args.features} float64, K={args.components} full, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )
    cluster = LocalCluster(
        n_workers=args.workers,
        threads_per_worker=1,
        dashboard_address=None,
        memory_limit=None,
    )
    with cluster, Client(cluster) as client:
        X = da.random.default_rng(1).standard_normal(
            (args.rows, args.features), chunks=(args.chunk_rows, -1)
        )
        X = (X * 2.0 + 1.0).persist()
        wait(X)
        X_in_memory = X.compute()
        print(
            f"persisted on {args.workers} workers x 1 thread "
            f"({X.numblocks[0]} blocks of {args.chunk_rows:,} rows); "
            f"in process: {numba.get_num_threads()} Numba threads"
        )

        in_memory = InMemoryData(X_in_memory)
        on_cluster = DaskData(X)
        # The estimator's own EM engine, one iteration per call from the
        # explicit initial parameters (no draws: every one is given).
        model = gm._model(args.features)
        params = model.initial_parameters(in_memory, None, None)

        def em_step(data):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                run = fit_em(model, data, [Start(params)], tol=0.0, max_iter=1)
            return run.lower_bound

        # Compile (or load) the kernels in this process and on the workers.
        em_step(in_memory)
        em_step(on_cluster)

        t_local, bound_local = best_time(lambda: em_step(in_memory), args.repeat)
        t_dask, bound_dask = best_time(lambda: em_step(on_cluster), args.repeat)
        client.cancel(X)

    assert abs(bound_dask - bound_local) <= 1e-10 * abs(bound_local)
    rate_local, rate_dask = args.rows / t_local, args.rows / t_dask
    print(f"in process: {t_local:7.3f} s/iteration  {rate_local / 1e6:7.2f} M rows/s")
    print(f"Dask:       {t_dask:7.3f} s/iteration  {rate_dask / 1e6:7.2f} M rows/s")
    print(f"Dask / in process: {rate_dask / rate_local:.0%}")
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
