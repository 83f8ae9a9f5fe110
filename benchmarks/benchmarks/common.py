"""Data and fixed initial parameters shared by the benchmarks.

Every timed fit starts from the same ``weights_init``/``means_init``/
``precisions_init`` with ``tol=0``, so each call runs exactly ``max_iter`` EM
iterations and does the same work whatever the data's randomness.
"""

import importlib
import itertools
import json
import os
import pkgutil
import re
import shutil
import subprocess
import sys
import time
import warnings

import numpy as np

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]


def make_blobs(n_samples, n_features, n_components, dtype=np.float64, seed=0):
    """Seeded, well separated Gaussian blobs; returns (X, centers)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=4.0, size=(n_components, n_features))
    labels = rng.integers(0, n_components, size=n_samples)
    scales = rng.uniform(0.5, 1.5, size=n_components)
    X = (
        centers[labels]
        + rng.normal(size=(n_samples, n_features)) * scales[labels, None]
    )
    return np.ascontiguousarray(X, dtype=dtype), centers


def initial_parameters(centers, covariance_type, seed=1):
    """weights_init, means_init, precisions_init near (not at) the truth."""
    rng = np.random.default_rng(seed)
    n_components, n_features = centers.shape
    weights = np.full(n_components, 1.0 / n_components)
    means = centers + rng.normal(scale=0.5, size=centers.shape)
    if covariance_type == "full":
        precisions = np.tile(np.eye(n_features), (n_components, 1, 1))
    elif covariance_type == "tied":
        precisions = np.eye(n_features)
    elif covariance_type == "diag":
        precisions = np.ones((n_components, n_features))
    elif covariance_type == "spherical":
        precisions = np.ones(n_components)
    else:
        raise ValueError(covariance_type)
    return {
        "weights_init": weights,
        "means_init": means,
        "precisions_init": precisions,
    }


def quiet():
    """The start of every ``setup``: silence the ConvergenceWarning that
    every tol=0 fit raises, and under the performance gate, compile its
    kernels first (``warm_up_gate``)."""
    from sklearn.exceptions import ConvergenceWarning

    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    warm_up_gate()


# The performance gate's warm-up: see warm_up_gate.
_RUN_SETUPS = """
import importlib, json, sys
for module, name, params in json.loads(sys.argv[1]):
    getattr(importlib.import_module(module), name)().setup(*params)
"""
_PREFIXES = ("time_", "timeraw_", "peakmem_", "mem_", "track_")


def warm_up_gate():
    """Compile the gate's kernels once per commit, in parallel processes.

    The performance gate (``../perf_gate.py``) names the benchmarks it runs
    (``FASTGMM_BENCH_WARM``, asv's ``--bench`` pattern) and gives each commit
    a Numba cache of its own (``__init__.py``).  The first of its benchmarks
    to be set up runs the ``setup`` of every one of them, for every
    parameter combination, in one process per CPU, filling that cache; the
    benchmarks then load their kernels instead of each compiling its own on
    one core.  Elsewhere (no gate) this does nothing.  A failed warm-up is
    reported and left to the benchmarks' own setups.
    """
    pattern = os.environ.get("FASTGMM_BENCH_WARM")
    cache = os.environ.get("NUMBA_CACHE_DIR")
    if not (pattern and cache and os.environ.get("FASTGMM_BENCH_NUMBA_CACHES")):
        return
    marker = os.path.join(cache, "gate-warmed")
    if os.path.exists(marker):
        return
    seeded = _seed(cache)
    tasks = _setups_matching(pattern)
    jobs = max(1, min(os.cpu_count() or 1, len(tasks)))
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path}
    del env["FASTGMM_BENCH_WARM"]  # the workers' setups warm nothing
    start = time.perf_counter()
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _RUN_SETUPS, json.dumps(tasks[i::jobs])], env=env
        )
        for i in range(jobs)
    ]
    statuses = [worker.wait() for worker in workers]
    seconds = time.perf_counter() - start
    if any(statuses):
        print(f"gate warm-up failed ({statuses}); each benchmark compiles its own",
              file=sys.stderr)  # fmt: skip
        return
    os.makedirs(cache, exist_ok=True)
    done = (f"{seeded} cache files seeded; {len(tasks)} setups in {jobs} "
            f"processes, {seconds:.1f} s")  # fmt: skip
    with open(marker, "w") as f:
        f.write(done + "\n")
    print(f"gate warm-up: {done}", file=sys.stderr)


def _seed(cache):
    """HEAD's kernels as the environment that started the gate compiled them.

    ``FASTGMM_BENCH_SEED`` ("<commit> <directory>", set by ``perf_gate.py``
    only where that environment's fastgmm is the commit's sources) names
    its Numba cache; for that commit its index and data files are copied
    into this one (Numba keys them by source content, not path), so the
    warm-up compiles only what that environment had not.  Returns the
    number of files copied.
    """
    commit, _, source = os.environ.get("FASTGMM_BENCH_SEED", "").partition(" ")
    if not source or commit != os.environ.get("ASV_COMMIT"):
        return 0
    try:  # a commit from before the layer folders
        from fastgmm._warmup import cache_directory
    except ImportError:
        from fastgmm.kernels._warmup import cache_directory

    target = cache_directory()  # "(unknown)" where Numba hides it
    if not target.startswith(cache):
        return 0
    os.makedirs(target, exist_ok=True)
    copied = 0
    for name in os.listdir(source):
        if name.endswith((".nbi", ".nbc")):
            shutil.copyfile(os.path.join(source, name), os.path.join(target, name))
            copied += 1
    return copied


def _setups_matching(pattern):
    """[module, class, params] of every benchmark asv's ``--bench pattern``
    selects, once per class and parameter combination."""
    package = __name__.rpartition(".")[0]
    tasks = []
    for info in pkgutil.iter_modules([os.path.dirname(os.path.abspath(__file__))]):
        module = importlib.import_module(f"{package}.{info.name}")
        for name, cls in sorted(vars(module).items()):
            if not (isinstance(cls, type) and cls.__module__ == module.__name__):
                continue
            methods = [m for m in dir(cls) if m.startswith(_PREFIXES)]
            selected = any(
                re.search(pattern, f"{info.name}.{name}.{m}") for m in methods
            )
            if not (selected and hasattr(cls, "setup")):
                continue
            params = getattr(cls, "params", [])
            if params and not isinstance(params[0], (list, tuple)):
                params = [params]  # one parameter
            for combination in itertools.product(*params):
                tasks.append([module.__name__, name, list(combination)])
    return tasks
