"""One mixture per group of a Parquet directory: Spark's way and fastgmm's.

Run from the repository root on an otherwise idle machine, with pyspark and
Java installed (``pip install pyspark``; not a dependency of fastgmm)::

    python benchmarks/spark_groups.py --groups 2000     # a quick run
    python benchmarks/spark_groups.py                   # 100,000 groups
    python benchmarks/spark_groups.py --groups 10000 --skip-spark-sklearn-above 2000

The data is ``dask_batch_parquet.py``'s, the same files: ``--groups``
groups of ``--rows`` rows (by default 100,000 x 400), columns ``x0``, ``x1``
(float) and ``group`` (int), every group's rows spread over all the files.
It is written once to ``--path`` (by default the path that script uses) and
reused when present.  Every method fits ``n_components=2, random_state=0``
on ``x0, x1`` per group and returns one row per group (converged, n_iter,
lower bound, the two means).  The methods:

- **Spark + scikit-learn**, the way Spark users do it:
  ``spark.read.parquet(path).groupBy("group").applyInPandas(fit_one, schema)``,
  ``fit_one`` fitting ``sklearn.mixture.GaussianMixture`` on one group.
  scikit-learn takes milliseconds a group, so with
  ``--skip-spark-sklearn-above N`` (default 5,000; 0: all) only the groups
  ``< N`` are fitted (the filter is applied after the read, so all files
  are still read and their reading is scaled too) and the time is scaled to
  all groups, as the output says.
- **Spark + fastgmm**, the same pipeline with a coarser key: the rows are
  grouped by ``group % --batches`` and each call fits all the groups of its
  batch with ``BatchGaussianMixture(n_jobs=1)`` (Spark already runs one task
  per core).
- **fastgmm in memory**: the files read with pyarrow in this process, then
  ``BatchGaussianMixture`` on all threads.
- **fastgmm on Dask** (``--dask``): ``dask_batch_parquet.py``'s run, a
  ``LocalCluster`` of two single-threaded worker processes.

Each time is the median of ``--repeats`` runs (default one), from the read
to the per-group results in this process (``toPandas()`` for Spark),
reading included.  Excluded: the start of the JVM and of the SparkSession
(printed apart), the Dask cluster's start, and one untimed warm-up run of
each pipeline on a few groups (imports and Numba's cached kernels loaded in
the Python workers, the JVM's first plans).
Spark runs ``local[2]`` with its default settings otherwise (200 shuffle
partitions, adaptive execution on), Arrow enabled, BLAS and OpenMP limited to
one thread in its Python workers.  ``local[2]`` on a 2-core machine: the
driver, the JVM and the Python workers share the two cores, and nothing
here measures a cluster (its network, its executors' start).

The answers are checked, since timings of different answers would mean
nothing.  On ``--sample-check`` groups scikit-learn is run here on the rows
in the order fastgmm in memory sees them (file order) and compared with
fastgmm in memory; the two Spark results, whose rows reach each group in
the order of Spark's shuffle, are compared with each other and with
fastgmm in memory.  For the same rows in the same order the
means agree to rounding.  In another order the k-means start picks other
rows: the components can come out numbered the other way round (hence the
count with components matched, ordered by their means), and EM can stop
at another iteration within ``tol``, with means a little apart.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from dask_batch_parquet import dask_arrays, default_path, read_file, write_data

SCHEMA = (
    "group long, converged boolean, n_iter long, lower_bound double, "
    "m0_x0 double, m0_x1 double, m1_x0 double, m1_x1 double"
)
MEANS = ["m0_x0", "m0_x1", "m1_x0", "m1_x1"]
PARAMS = dict(n_components=2, random_state=0)
QUIET_LOG4J = """\
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n
"""


def result_frame(groups, converged, n_iter, lower_bound, means):
    """One row per group, the columns of ``SCHEMA``."""
    import pandas as pd

    means = np.asarray(means, dtype=np.float64).reshape(len(groups), 4)
    frame = pd.DataFrame(
        {
            "group": np.asarray(groups, dtype=np.int64),
            "converged": np.asarray(converged, dtype=bool),
            "n_iter": np.asarray(n_iter, dtype=np.int64),
            "lower_bound": np.asarray(lower_bound, dtype=np.float64),
        }
    )
    for j, name in enumerate(MEANS):
        frame[name] = means[:, j]
    return frame


def fit_one(pdf):
    """Spark's ``applyInPandas`` function: scikit-learn on one group."""
    from sklearn.mixture import GaussianMixture

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm = GaussianMixture(**PARAMS).fit(pdf[["x0", "x1"]].to_numpy())
    return result_frame(
        pdf["group"].iloc[:1], [gm.converged_], [gm.n_iter_], [gm.lower_bound_],
        gm.means_[None],
    )  # fmt: skip


def fit_batch(pdf):
    """Spark's ``applyInPandas`` function: fastgmm on a batch of groups."""
    from fastgmm import BatchGaussianMixture

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = BatchGaussianMixture(**PARAMS, n_jobs=1).fit(
            pdf[["x0", "x1"]].to_numpy(), pdf["group"].to_numpy()
        )
    return model_frame(model)


def model_frame(model):
    return result_frame(
        model.groups_, model.converged_, model.n_iter_, model.lower_bound_,
        model.means_,
    )  # fmt: skip


def fit_in_memory(X, groups, **params):
    from fastgmm import BatchGaussianMixture

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return BatchGaussianMixture(**PARAMS, **params).fit(X, groups)


def read_all(path):
    """X and groups of every file, in file order."""
    X, groups = zip(*map(read_file, sorted(path.glob("*.parquet"))))
    return np.concatenate(X), np.concatenate(groups)


def read_and_fit(path):
    """fastgmm in memory: (X, groups, model)."""
    X, groups = read_all(path)
    return X, groups, fit_in_memory(X, groups)


# ---------------------------------------------------------------- Spark


def spark_unavailable():
    """Why Spark cannot run here, or None."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (pip install pyspark)"
    java_home = os.environ.get("JAVA_HOME")
    if not shutil.which("java") and not (
        java_home and (Path(java_home) / "bin" / "java").exists()
    ):
        return "no Java found (pyspark needs Java 17 or later on PATH or JAVA_HOME)"
    return None


def start_spark(driver_memory, log_dir):
    from pyspark.sql import SparkSession

    log4j = Path(log_dir) / "log4j2.properties"
    log4j.write_text(QUIET_LOG4J)
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = (
        SparkSession.builder.master("local[2]")
        .appName("fastgmm spark_groups")
        .config("spark.driver.memory", driver_memory)
        .config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile={log4j}")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
    )
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        builder = builder.config(f"spark.executorEnv.{name}", "1")
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def spark_sklearn(spark, path, below=None):
    """Results of Spark + scikit-learn, one applyInPandas call per group."""
    from pyspark.sql import functions as F

    df = spark.read.parquet(str(path))
    if below is not None:
        df = df.filter(F.col("group") < below)
    return df.groupBy("group").applyInPandas(fit_one, SCHEMA).toPandas()


def spark_fastgmm(spark, path, batches, below=None):
    """Results of Spark + fastgmm, one applyInPandas call per batch of groups."""
    from pyspark.sql import functions as F

    df = spark.read.parquet(str(path))
    if below is not None:
        df = df.filter(F.col("group") < below)
    df = df.withColumn("batch", F.col("group") % batches)
    return df.groupBy("batch").applyInPandas(fit_batch, SCHEMA).toPandas()


def timed(function, *args, repeats=1, **kwargs):
    """(median seconds of ``repeats`` calls, the last call's result)."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = function(*args, **kwargs)
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


# ---------------------------------------------------------------- Dask


def dask_fit(path, repeats, workers=2):
    """(seconds, model): dask_batch_parquet.py's fit, on a LocalCluster."""
    import logging

    from dask.distributed import Client, LocalCluster
    from dask_batch_parquet import fit, warm_up

    with (
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True,
            dashboard_address=None, silence_logs=logging.CRITICAL,
        ) as cluster,
        Client(cluster) as client,
    ):  # fmt: skip
        client.wait_for_workers(workers)
        client.run(warm_up)
        X, groups = dask_arrays(path)
        return timed(fit, X, groups, repeats=repeats)


# ---------------------------------------------------------------- checks


def sklearn_sample(X, groups, sample):
    """scikit-learn on each sampled group's rows, in file order."""
    from sklearn.mixture import GaussianMixture

    order = np.argsort(groups, kind="stable")
    sorted_groups = groups[order]
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for g in sample:
            a, b = np.searchsorted(sorted_groups, [g, g + 1])
            gm = GaussianMixture(**PARAMS).fit(X[order[a:b]])
            rows.append((g, gm.converged_, gm.n_iter_, gm.lower_bound_, gm.means_))
    g, converged, n_iter, lower_bound, means = zip(*rows)
    return result_frame(g, converged, n_iter, lower_bound, np.stack(means))


def matched_means(frame):
    """The means with each group's two components ordered by (x0, x1)."""
    m = frame[MEANS].to_numpy().reshape(-1, 2, 2)
    swap = (m[:, 0, 0] > m[:, 1, 0]) | (
        (m[:, 0, 0] == m[:, 1, 0]) & (m[:, 0, 1] > m[:, 1, 1])
    )
    m[swap] = m[swap, ::-1]
    return m.reshape(-1, 4)


def agreement(a, b, tol=1e-6):
    """How many of the groups of ``a`` agree with ``b``."""
    b = b.set_index("group").loc[a["group"].to_numpy()].reset_index()
    a = a.reset_index(drop=True)
    diff = np.abs(a[MEANS].to_numpy() - b[MEANS].to_numpy()).max(axis=1)
    matched = np.abs(matched_means(a) - matched_means(b)).max(axis=1)
    return {
        "groups": len(a),
        "same n_iter": int((a["n_iter"] == b["n_iter"]).sum()),
        "same converged": int((a["converged"] == b["converged"]).sum()),
        f"means within {tol:g}": int((diff <= tol).sum()),
        f"means within {tol:g}, matched": int((matched <= tol).sum()),
        "max |lower bound diff|": float(
            np.nanmax(np.abs(a["lower_bound"] - b["lower_bound"]))
        ),
        "max |means diff|, matched": float(np.nanmax(matched)),
    }


def print_agreement(rows):
    names = list(next(iter(rows.values())))
    print("| " + " | ".join(["compared"] + names) + " |")
    print("|" + "---|" * (len(names) + 1))
    for label, counts in rows.items():
        cells = [
            f"{v:.1e}" if isinstance(v, float) else f"{v:,}" for v in counts.values()
        ]
        print("| " + " | ".join([label] + cells) + " |")


# ---------------------------------------------------------------- main


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=100_000)
    parser.add_argument("--rows", type=int, default=400, help="rows per group")
    parser.add_argument(
        "--path", type=Path, default=None,
        help="the Parquet directory (default: dask_batch_parquet.py's)",
    )  # fmt: skip
    parser.add_argument(
        "--sample-check", type=int, default=200, metavar="N",
        help="groups fitted by scikit-learn here to check the answers (0: none)",
    )  # fmt: skip
    parser.add_argument(
        "--skip-spark-sklearn-above", type=int, default=5000, metavar="N",
        help="Spark + scikit-learn fits the groups < N only and is scaled to "
        "all groups (0: fit all)",
    )  # fmt: skip
    parser.add_argument(
        "--batches", type=int, default=16,
        help="batches of groups (applyInPandas calls) of Spark + fastgmm",
    )  # fmt: skip
    parser.add_argument(
        "--repeats", type=int, default=1, help="runs of each method (the median)"
    )
    parser.add_argument("--driver-memory", default="4g")
    parser.add_argument(
        "--dask", action="store_true", help="also dask_batch_parquet.py's fit"
    )
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    why = spark_unavailable()
    if why:
        sys.exit(f"spark_groups.py: cannot run Spark: {why}.")
    path = args.path or default_path(args.groups, args.rows)
    if not path.exists():
        started = time.perf_counter()
        write_data(path, args.groups, args.rows)
        print(f"wrote {path} in {time.perf_counter() - started:.1f} s")

    import sklearn

    import fastgmm

    warnings.filterwarnings("ignore", message="PySpark does not yet fully support")
    results, times, notes = {}, {}, {}
    load_before = os.getloadavg()[0]

    # fastgmm in memory, after loading the kernels on a few groups.
    X, groups = read_all(path)
    fit_in_memory(X[:20_000], groups[:20_000])
    times["fastgmm in memory"], (X, groups, model) = timed(
        read_and_fit, path, repeats=args.repeats
    )
    results["fastgmm in memory"] = model_frame(model)
    n_groups, n_rows = len(model.groups_), len(X)
    below = args.skip_spark_sklearn_above
    below = below if 0 < below < n_groups else None

    with tempfile.TemporaryDirectory() as log_dir:
        try:
            start_seconds, spark = timed(start_spark, args.driver_memory, log_dir)
        except Exception as error:  # Java too old, no free port, ...
            sys.exit(f"spark_groups.py: cannot start Spark: {error}")
        try:
            spark_version = spark.version
            # Untimed warm-ups: Python workers, imports, Numba's cache.
            spark_fastgmm(spark, path, args.batches, below=8)
            spark_sklearn(spark, path, below=8)
            times["Spark + fastgmm"], results["Spark + fastgmm"] = timed(
                spark_fastgmm, spark, path, args.batches, repeats=args.repeats
            )
            seconds, frame = timed(
                spark_sklearn, spark, path, below, repeats=args.repeats
            )
            results["Spark + scikit-learn"] = frame
            if below is not None:
                seconds *= n_groups / len(frame)
                notes["Spark + scikit-learn"] = (
                    f"fitted groups < {below:,} ({len(frame):,} groups), "
                    f"scaled to {n_groups:,}"
                )
            times["Spark + scikit-learn"] = seconds
        finally:
            spark.stop()

    if args.dask:
        times["fastgmm on Dask"], dask_model = dask_fit(path, args.repeats)
        results["fastgmm on Dask"] = model_frame(dask_model)

    import pyarrow

    load_after = os.getloadavg()[0]
    print(
        f"\n{n_groups:,} groups x {n_rows // n_groups:,} rows ({n_rows:,} rows), "
        f"2-D, K=2, full, random_state=0; {path}\n"
        f"{os.cpu_count()} cores (1-minute load average {load_before:.2f} "
        f"before, {load_after:.2f} after); Spark {spark_version} local[2] (driver "
        f"{args.driver_memory}), scikit-learn {sklearn.__version__}, fastgmm "
        f"{fastgmm.__version__}, pyarrow {pyarrow.__version__}\n"
        f"SparkSession start (not in the times): {start_seconds:.1f} s; "
        f"Spark + fastgmm: {args.batches} batches of groups (group % "
        f"{args.batches}); median of {args.repeats} run(s) each, reading "
        "included, seconds\n"
    )
    reference = times["Spark + scikit-learn"]
    print("| method | seconds | rows per second | seconds per 1,000 groups "
          "| Spark + scikit-learn / method |")  # fmt: skip
    print("|---|---|---|---|---|")
    for name in ["Spark + scikit-learn", "Spark + fastgmm", "fastgmm in memory",
                 "fastgmm on Dask"]:  # fmt: skip
        if name not in times:
            continue
        t = times[name]
        label = name + (" (scaled)" if name in notes else "")
        print(
            f"| {label} | {t:.2f} | {n_rows / t:,.0f} | {t / n_groups * 1000:.3f} "
            f"| {reference / t:,.1f}x |"
        )
    for name, note in notes.items():
        print(f"\n{name}: {note}.")

    reference = results["fastgmm in memory"]
    rows = {}
    if args.sample_check:
        rng = np.random.default_rng(0)
        sample = np.sort(
            rng.choice(model.groups_, min(args.sample_check, n_groups), replace=False)
        )
        rows["scikit-learn here (file order) vs fastgmm in memory"] = agreement(
            sklearn_sample(X, groups, sample), reference
        )
    for name in ["Spark + scikit-learn", "Spark + fastgmm", "fastgmm on Dask"]:
        if name in results:
            rows[f"{name} vs fastgmm in memory"] = agreement(results[name], reference)
    rows["Spark + scikit-learn vs Spark + fastgmm"] = agreement(
        results["Spark + scikit-learn"], results["Spark + fastgmm"]
    )
    print("\nAgreement, per group (means: the largest absolute difference of the 4)\n")
    print_agreement(rows)


if __name__ == "__main__":
    main()
