"""Where a fresh process's time goes: import, then a first fit of iris.

Run from the repository root::

    python benchmarks/cold_start.py            # median of 5 processes each
    python benchmarks/cold_start.py --runs 9

Each library runs in fresh interpreters (alternating, after one untimed
fastgmm run so that Numba's cache is warm).  A process times, in order:
importing scikit-learn's base and loading iris (which both pay), importing
Numba, importing the library, setting up Numba's compiler registries (which
Numba's cache loader does before the first kernel it loads), the first fit
(loading the kernels) and a second fit; the rest of the process's wall time
is the interpreter's start and exit.  For fastgmm it also counts the compiled
kernels the first fit loaded from Numba's cache.
``benchmarks/compare_sklearn.py`` reports the total only.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
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
    # What Numba's cache loader does before loading the first kernel.
    from numba.core.registry import cpu_target
    cpu_target.target_context.refresh()
    marks.append(("Numba's compiler registries", time.perf_counter()))
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
    from numba.core.registry import CPUDispatcher
    for name, module in list(sys.modules.items()):
        if name.startswith("fastgmm"):
            kernels += sum(
                len(f.overloads)
                for f in vars(module).values()
                if isinstance(f, CPUDispatcher)
            )
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="processes per library")
    args = parser.parse_args(argv)

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


if __name__ == "__main__":
    main()
