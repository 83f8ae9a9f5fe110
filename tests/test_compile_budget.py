"""The compile budget: what the first fit of iris compiles, counted without a clock.

Every new environment compiles the kernels a fit runs before the fit itself
(README, "Compilation cache"), so the code a first fit compiles is a cost
every user pays.  This test fits iris in a fresh process with an empty Numba
cache and counts what Numba compiled for it: the compiled overloads of
fastgmm's kernels, and the size of their optimised LLVM IR (each overload's
module holds the code of the kernels it calls, as LLVM optimises it).  A
change that compiles more fails here; a kernel that needs more raises the
budget in its commit, with the compile seconds of
``python benchmarks/cold_start.py --per-kernel`` before and after.
"""

import json
import os
import subprocess
import sys
import textwrap

# Measured at the commit that set them (47 overloads, 7.07 MB of IR for
# one fit of iris), with a little room for Numba versions.
MAX_OVERLOADS = 47
MAX_IR_BYTES = 7_300_000

FIRST_FIT = textwrap.dedent(
    """
    import json
    from sklearn.datasets import load_iris
    from fastgmm import GaussianMixture
    from fastgmm._warmup import kernels

    GaussianMixture(n_components=3, random_state=0).fit(load_iris().data)
    overloads, ir_bytes, hits = [], 0, 0
    for dispatcher in kernels():
        hits += sum(dispatcher.stats.cache_hits.values())
        for sig, cres in dispatcher.overloads.items():
            overloads.append(f"{dispatcher.py_func.__qualname__}{sig}")
            ir_bytes += len(cres.library.get_llvm_str())
    print(json.dumps({"overloads": overloads, "ir_bytes": ir_bytes, "hits": hits}))
    """
)


def first_fit_of_iris(cache_dir):
    """What a first fit of iris compiles into the empty cache ``cache_dir``."""
    # The budget is for the code users compile: without bounds checking
    # (CI runs the suite once more with it, which adds code to every kernel).
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_BOUNDSCHECK"}
    env["NUMBA_CACHE_DIR"] = str(cache_dir)
    proc = subprocess.run(
        [sys.executable, "-c", FIRST_FIT],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        timeout=900,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_first_fit_of_iris_compiles_within_budget(tmp_path):
    compiled = first_fit_of_iris(tmp_path)
    assert compiled["hits"] == 0, "the cache was not empty"
    listing = "\n".join(sorted(compiled["overloads"]))
    assert len(compiled["overloads"]) <= MAX_OVERLOADS, listing
    assert compiled["ir_bytes"] <= MAX_IR_BYTES, listing
    # A small fit runs the serial copies of the passes over the rows, never
    # the threaded ones (the parallel pipeline's compile time), and the
    # copies of its own variant only: 'full' at 4 features, unrolled at 4.
    names = {overload.split("(")[0] for overload in compiled["overloads"]}
    passes = (
        "em_statistics_full4",
        "score_rows_into_full4",
        "seeding_pass",
        "lloyd_pass",
    )
    assert {f"{name}_serial" for name in passes} <= names
    assert not set(passes) & names
    others = ("_full2", "_full8", "_full_", "_tied", "_diag", "_spherical")
    assert not [name for name in names if any(o in name + "_" for o in others)]


def test_import_loads_nothing_a_fit_does_not_use():
    # Integrations, the command line and persistence load on first use.
    code = (
        "import sys, fastgmm; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('dask', 'distributed', 'matplotlib', 'skops', 'pyarrow') "
        "or m in ('fastgmm.cli', 'fastgmm.plot', 'fastgmm._dask', "
        "'fastgmm._persistence')))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert proc.stdout.strip() == "[]"
