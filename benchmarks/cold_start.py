"""Where a fresh process's time goes: import, then a first fit of iris.

Run from the repository root::

    python benchmarks/cold_start.py            # median of 5 processes each
    python benchmarks/cold_start.py --runs 9 --empty-cache-runs 3
    python benchmarks/cold_start.py --per-kernel   # where compiling goes

Each library runs in fresh interpreters (alternating, after one untimed
fastgmm run so that Numba's cache is warm).  A process times, in order:
importing scikit-learn's base and loading iris (which both pay), importing
Numba, importing the library, the first fit (loading the kernels) and a
second fit; the rest of the process's wall time is the interpreter's start
and exit.  For fastgmm it also counts the compiled kernels the first fit
loaded from Numba's cache.
``benchmarks/compare_sklearn.py`` reports the total only.

Then the start-up targets, each the median of ``--empty-cache-runs`` fresh
processes with an empty Numba cache of their own (``NUMBA_CACHE_DIR`` in a
new temporary directory): importing fastgmm and fitting iris (every kernel
the fit needs is compiled), the same for a default fit of 1,000,000 x 8,
K=16 (several blocks, in threads), and ``fastgmm compile --jobs N`` (every
kernel); and, from the table above, the warm-cache import and fit against
scikit-learn's.

The two first fits are timed both ways a first fit runs: with the kernels
after the k-means start compiled meanwhile in a second process
(``fastgmm.kernels._warmup.compile_ahead``, as where a CPU is spare; forced with
``FASTGMM_COMPILE_AHEAD=1``, since this script's back-to-back processes keep
the load average up), and in one process (``FASTGMM_COMPILE_AHEAD=0``, as on
a single CPU or a busy machine).

``--per-kernel`` instead fits iris once with an empty cache, in one
process, and prints the seconds Numba spent compiling each kernel (its own
time, not counting the kernels it calls, which are listed on their own
lines).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

PHASES = """
import json, sys, time
library = sys.argv[1]
marks = [("start", time.perf_counter())]
from sklearn.datasets import load_iris
X = load_iris().data
marks.append(("scikit-learn base + iris", time.perf_counter()))
if library == "fastgmm":
    import numba
    marks.append(("import numba", time.perf_counter()))
    from fastgmm import GaussianMixture
    marks.append(("import the estimator", time.perf_counter()))
else:
    from sklearn.mixture import GaussianMixture
    marks.append(("import the estimator", time.perf_counter()))
GaussianMixture(n_components=3, random_state=0).fit(X)
marks.append(("first fit", time.perf_counter()))
GaussianMixture(n_components=3, random_state=1).fit(X)
marks.append(("second fit", time.perf_counter()))
phases = {b[0]: b[1] - a[1] for a, b in zip(marks, marks[1:])}
kernels = 0
if library == "fastgmm":
    # Every copy of every kernel (fastgmm.kernels._specialise), not only the
    # dispatchers that are module globals.
    from fastgmm.kernels._warmup import kernels as compiled

    kernels = sum(len(k.overloads) for k in compiled())
print(json.dumps({"phases": phases, "kernels": kernels}))
"""


def run(library):
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", PHASES, library],
        check=True,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - start
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["phases"]["interpreter start + exit"] = wall - sum(result["phases"].values())
    return result


FIRST_FIT = """
from sklearn.datasets import load_iris
from fastgmm import GaussianMixture

GaussianMixture(n_components=3, random_state=0).fit(load_iris().data)
"""


def seconds_with_empty_cache(command, ahead=None):
    """Wall time of ``command`` (argv) with an empty Numba cache of its own;
    ``ahead``: FASTGMM_COMPILE_AHEAD for it ("1" a first fit's second
    process, "0" none)."""
    with tempfile.TemporaryDirectory(prefix="fastgmm-cold-") as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        if ahead is not None:
            env["FASTGMM_COMPILE_AHEAD"] = ahead
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, env=env)
        return time.perf_counter() - start


PER_KERNEL = """
import json, time
from numba.core import event
from sklearn.datasets import load_iris
from fastgmm import GaussianMixture

X = load_iris().data
with event.install_recorder("numba:compile") as recorder:
    start = time.perf_counter()
    GaussianMixture(n_components=3, random_state=0).fit(X)
    total = time.perf_counter() - start
own, stack = {}, []
for at, ev in recorder.buffer:
    if ev.is_start:
        stack.append([at, 0.0])
        continue
    began, nested = stack.pop()
    spent = at - began
    name = ev.data["dispatcher"].py_func.__qualname__
    own[name] = own.get(name, 0.0) + spent - nested
    if stack:
        stack[-1][1] += spent
print(json.dumps({"total": total, "own": own}))
"""


def print_per_kernel():
    """Seconds of compiling per kernel in one empty-cache fit of iris."""
    with tempfile.TemporaryDirectory(prefix="fastgmm-cold-") as cache:
        # Every kernel compiled in this process, where the events are.
        env = {**os.environ, "NUMBA_CACHE_DIR": cache, "FASTGMM_COMPILE_AHEAD": "0"}
        out = subprocess.run(
            [sys.executable, "-c", PER_KERNEL],
            check=True,
            capture_output=True,
            text=True,
            env=env,
        )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    own = sorted(result["own"].items(), key=lambda item: -item[1])
    width = max(len(name) for name, _ in own)
    print("empty cache: seconds compiling each kernel for one fit of iris\n")
    print(f"| {'kernel':{width}s} | seconds |")
    print(f"|{'-' * (width + 2)}|---------|")
    for name, seconds in own:
        print(f"| {name:{width}s} | {seconds:7.2f} |")
    compiled = sum(seconds for _, seconds in own)
    print(f"| {'all kernels':{width}s} | {compiled:7.2f} |")
    print(f"| {'the whole fit':{width}s} | {result['total']:7.2f} |")


BIG_FIRST_FIT = """
import numpy as np
from fastgmm import GaussianMixture

rng = np.random.default_rng(0)
X = rng.standard_normal((1_000_000, 8))
X[: len(X) // 3] += 3.0
GaussianMixture(n_components=16, random_state=0).fit(X)
"""


def print_targets(runs, warm_ratio, jobs):
    """The start-up targets, each the median of ``runs`` processes."""
    first_fit, first_fit_alone, big_fit, big_fit_alone = [], [], [], []
    for _ in range(runs):  # interleaved: the machine's speed drifts
        for script, ahead, alone in (
            (FIRST_FIT, first_fit, first_fit_alone),
            (BIG_FIRST_FIT, big_fit, big_fit_alone),
        ):
            command = [sys.executable, "-c", script]
            ahead.append(seconds_with_empty_cache(command, ahead="1"))
            alone.append(seconds_with_empty_cache(command, ahead="0"))
    compile_all = [
        seconds_with_empty_cache(
            [sys.executable, "-m", "fastgmm", "compile", "--jobs", str(jobs)]
        )
        for _ in range(runs)
    ]
    alone = ", in one process (s)"
    rows = [
        (
            "empty cache: import + fit iris, two processes (s)",
            statistics.median(first_fit),
            10,
        ),
        (
            "empty cache: import + fit iris" + alone,
            statistics.median(first_fit_alone),
            10,
        ),
        (
            "empty cache: import + fit 1,000,000 x 8, K=16, two processes (s)",
            statistics.median(big_fit),
            25,
        ),
        (
            "empty cache: import + fit 1,000,000 x 8, K=16" + alone,
            statistics.median(big_fit_alone),
            25,
        ),
        (
            f"empty cache: fastgmm compile --jobs {jobs}, everything (s)",
            statistics.median(compile_all),
            90,
        ),
    ]
    table = [
        (name, f"{value:.1f}", f"<= {limit}", value <= limit)
        for name, value, limit in rows
    ]
    table.append(
        (
            "warm cache: import + fit iris, scikit-learn / fastgmm",
            f"{warm_ratio:.2f}x",
            ">= 0.85x",
            warm_ratio >= 0.85,
        )
    )
    print(f"\nstart-up targets, median of {runs} fresh processes each\n")
    width = max(len(row[0]) for row in table)
    print(f"| {'target':{width}s} | measured | target   | met |")
    print(f"|{'-' * (width + 2)}|----------|----------|-----|")
    for name, value, target, met in table:
        answer = "yes" if met else "no"
        print(f"| {name:{width}s} | {value:>8s} | {target:>8s} | {answer:3s} |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="processes per library")
    parser.add_argument(
        "--empty-cache-runs",
        type=int,
        default=3,
        help="processes per empty-cache target (0 leaves the targets out)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        help="fastgmm compile --jobs for the compile target (default: CPUs)",
    )
    parser.add_argument(
        "--per-kernel",
        action="store_true",
        help="only print the seconds spent compiling each kernel (empty cache)",
    )
    args = parser.parse_args(argv)
    if args.per_kernel:
        print_per_kernel()
        return

    run("fastgmm")  # fills Numba's cache if it is empty
    results = {"sklearn": [], "fastgmm": []}
    for _ in range(args.runs):
        for library in results:
            results[library].append(run(library))

    phases = list(results["fastgmm"][0]["phases"])
    print(f"median of {args.runs} fresh processes each, seconds\n")
    width = max(len(phase) for phase in phases)
    print(f"| {'phase':{width}s} | scikit-learn | fastgmm |")
    print(f"|{'-' * (width + 2)}|--------------|---------|")
    totals = {}
    for library, runs in results.items():
        totals[library] = statistics.median(sum(r["phases"].values()) for r in runs)
    for phase in phases:
        cells = []
        for library in ("sklearn", "fastgmm"):
            values = [
                r["phases"][phase] for r in results[library] if phase in r["phases"]
            ]
            cells.append(f"{statistics.median(values):.3f}" if values else "-")
        print(f"| {phase:{width}s} | {cells[0]:>12s} | {cells[1]:>7s} |")
    print(
        f"| {'total':{width}s} | {totals['sklearn']:12.3f} | {totals['fastgmm']:7.3f} |"
    )
    kernels = results["fastgmm"][0]["kernels"]
    print(f"\nfastgmm's first fit loaded {kernels} compiled kernels from the cache.")
    print("'total' is the wall time of the process, as compare_sklearn.py times it.")
    if args.empty_cache_runs > 0:
        print_targets(
            args.empty_cache_runs, totals["sklearn"] / totals["fastgmm"], args.jobs
        )


if __name__ == "__main__":
    main()
