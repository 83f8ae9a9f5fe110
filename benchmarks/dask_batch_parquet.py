"""One mixture per group of a Parquet directory, fitted on a Dask cluster.

Run from the repository root on an otherwise idle machine::

    python benchmarks/dask_batch_parquet.py                 # 100,000 groups
    python benchmarks/dask_batch_parquet.py --groups 2000   # a quick run

The data: ``--groups`` groups of ``--rows`` rows (by default 100,000 x 400,
40 million rows), two float columns ``x0``, ``x1`` (two clusters per group)
and an integer column ``group``, the rows of every group shuffled across
the files (about a million rows each).  It is written once to ``--path``
(by default in the temporary directory) and reused when present.

Each file is read by pyarrow on a worker, as one row block of a Dask array
(the row counts come from the files' metadata, so the chunk sizes are
known); ``BatchGaussianMixture(n_components=2)`` then fits it on a
``LocalCluster(n_workers=2, threads_per_worker=1, processes=True)``: the
rows are moved to their group's partition and each partition is fitted on
its worker.  Printed: the fit time (reading included), the time per 1,000
groups, and each worker's peak resident memory (``ru_maxrss``: since the
worker started).  ``--check`` also fits the rows in memory and checks that
the models are the same (small runs only).
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROWS_PER_FILE = 1_000_000


def write_data(path, n_groups, n_rows, seed=0):
    """The Parquet directory, in files of about ``ROWS_PER_FILE`` rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    total = n_groups * n_rows
    labels = np.repeat(np.arange(n_groups, dtype=np.int64), n_rows)
    rng.shuffle(labels)  # every file holds rows of most groups
    n_files = max(4, -(-total // ROWS_PER_FILE))
    path.mkdir(parents=True)
    for f, part in enumerate(np.array_split(labels, n_files)):
        X = rng.standard_normal((len(part), 2))
        X[rng.random(len(part)) < 0.3] += 4.0
        X += (part % 7)[:, None]
        table = pa.table({"group": part, "x0": X[:, 0], "x1": X[:, 1]})
        pq.write_table(table, path / f"part-{f:04d}.parquet")


def default_path(n_groups, n_rows):
    """Where the data of ``n_groups`` x ``n_rows`` is written by default."""
    return Path(tempfile.gettempdir()) / f"fastgmm_batch_{n_groups}x{n_rows}.parquet"


def read_file(path):
    """A file's rows and labels, as NumPy arrays."""
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=["group", "x0", "x1"])
    X = np.column_stack([table["x0"].to_numpy(), table["x1"].to_numpy()])
    return X, table["group"].to_numpy()


def dask_arrays(path):
    """X and groups as Dask arrays, a row block per file."""
    import dask
    import dask.array as da
    import pyarrow.parquet as pq

    blocks, labels = [], []
    for file in sorted(path.glob("*.parquet")):
        n = pq.ParquetFile(file).metadata.num_rows
        read = dask.delayed(read_file, pure=True)(str(file))
        blocks.append(da.from_delayed(read[0], shape=(n, 2), dtype=np.float64))
        labels.append(da.from_delayed(read[1], shape=(n,), dtype=np.int64))
    return da.concatenate(blocks), da.concatenate(labels)


def peak_memory_mib():
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fit(X, groups):
    from fastgmm import BatchGaussianMixture

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return BatchGaussianMixture(n_components=2, random_state=0).fit(X, groups)


def warm_up():
    """Load the compiled kernels in this process."""
    rng = np.random.default_rng(0)
    fit(rng.standard_normal((800, 2)), np.repeat(np.arange(4), 200))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=100_000)
    parser.add_argument("--rows", type=int, default=400, help="rows per group")
    parser.add_argument("--path", type=Path, default=None)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--check", action="store_true", help="compare with the in-memory fit"
    )
    args = parser.parse_args(argv)
    path = args.path or default_path(args.groups, args.rows)
    if not path.exists():
        started = time.perf_counter()
        write_data(path, args.groups, args.rows)
        print(f"wrote {path} in {time.perf_counter() - started:.1f} s")

    from dask.distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=args.workers, threads_per_worker=1, processes=True,
            dashboard_address=None, silence_logs=logging.CRITICAL,
        ) as cluster,
        Client(cluster) as client,
    ):  # fmt: skip
        client.wait_for_workers(args.workers)
        client.run(warm_up)
        X, groups = dask_arrays(path)
        started = time.perf_counter()
        model = fit(X, groups)
        seconds = time.perf_counter() - started
        peaks = client.run(peak_memory_mib)
    n_groups = len(model.groups_)
    fitted = int((model.fit_status_ == "fitted").sum())
    print(
        f"{n_groups:,} groups, {X.shape[0]:,} rows x 2 in {X.numblocks[0]} files "
        f"({fitted:,} fitted), {args.workers} worker processes x 1 thread, "
        f"{os.cpu_count()} cores"
    )
    print(f"fit (reading the files included): {seconds:.2f} s")
    print(f"per 1,000 groups: {seconds / n_groups * 1000:.3f} s")
    for worker, peak in sorted(peaks.items()):
        print(f"peak memory of worker {worker}: {peak:.0f} MiB")
    print(f"peak memory of this process: {peak_memory_mib():.0f} MiB")
    if args.check:
        X_all, groups_all = (np.concatenate(a) for a in zip(*map(read_file, sorted(
            path.glob("*.parquet")))))  # fmt: skip
        in_memory = fit(X_all, groups_all)
        same = all(
            np.array_equal(value, getattr(in_memory, name), equal_nan=True)
            for name, value in vars(model).items()
            if name.endswith("_") and isinstance(value, np.ndarray)
            and value.dtype.kind != "O"
        ) and np.array_equal(model.fit_status_, in_memory.fit_status_)  # fmt: skip
        print(f"same models as the in-memory fit: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
