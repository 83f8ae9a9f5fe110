"""Loading data for ``fastgmm fit``: Parquet against CSV.

Run from the repository root (needs pyarrow: ``pip install "fastgmm[parquet]"``)::

    python benchmarks/parquet_load.py                  # 10,000,000 x 8
    python benchmarks/parquet_load.py --rows 1000000

Writes the same N x 8 float64 rows (standard normal) as a CSV file (17
significant digits, as ``fastgmm predict`` writes) and as a Parquet file
(pyarrow's defaults) in a temporary directory, then times the command
line's loader (``fastgmm.cli.data.load_data``, what ``fastgmm fit DATA``
runs before fitting) on each, in that order, once each, and checks that
both give the same array.
"""

import argparse
import os
import tempfile
import time

import numpy as np
from compare_sklearn import cpu_model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="N")
    args = parser.parse_args(argv)

    import pyarrow as pa
    import pyarrow.parquet as pq

    from fastgmm.cli.data import load_data

    X = np.random.default_rng(0).standard_normal((args.rows, 8))
    with tempfile.TemporaryDirectory() as directory:
        csv_path = os.path.join(directory, "data.csv")
        parquet_path = os.path.join(directory, "data.parquet")
        with open(csv_path, "w") as f:
            f.write(",".join(f"x{j}" for j in range(8)) + "\n")
            for start in range(0, args.rows, 1_000_000):
                np.savetxt(f, X[start : start + 1_000_000], fmt="%.17g", delimiter=",")
        pq.write_table(pa.table({f"x{j}": X[:, j] for j in range(8)}), parquet_path)
        sizes = {p: os.path.getsize(p) / 2**20 for p in (csv_path, parquet_path)}
        seconds, loaded = {}, {}
        for path in (csv_path, parquet_path):
            start = time.perf_counter()
            loaded[path] = load_data(path).X
            seconds[path] = time.perf_counter() - start
        same = np.array_equal(loaded[csv_path], loaded[parquet_path])

    print(f"{cpu_model()}; {args.rows:,} x 8 float64; seconds to load\n")
    print("| file | MB | seconds | CSV / this |")
    print("|---|---|---|---|")
    for name, path in (("CSV", csv_path), ("Parquet", parquet_path)):
        ratio = seconds[csv_path] / seconds[path]
        print(f"| {name} | {sizes[path]:.0f} | {seconds[path]:.2f} | {ratio:.1f}x |")
    print(f"\nsame array from both: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
