"""airspeed velocity benchmarks for fastgmm (see ../asv.conf.json)."""

import os

# The performance gate (../perf_gate.py) runs two commits in one environment,
# in interleaved rounds.  Numba's cache beside the installed sources holds one
# commit's kernels at a time (an index whose sources differ is dropped), so
# every round would compile its commit's kernels again.  The gate names a
# directory instead, and each commit gets a cache of its own under it.
_CACHES = os.environ.get("FASTGMM_BENCH_NUMBA_CACHES")
if _CACHES and os.environ.get("ASV_COMMIT"):
    os.environ["NUMBA_CACHE_DIR"] = os.path.join(_CACHES, os.environ["ASV_COMMIT"])
