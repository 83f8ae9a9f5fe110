"""Telling when a fit will compile its kernels, and compiling them ahead.

Numba compiles each kernel on its first use in an environment and caches the
machine code (see README, "Compilation cache").  ``kernels_cached`` tells
whether a first fit will load kernels or compile them, so that the command
line and ``verbose`` estimators can say so first; ``compile_ahead`` starts a
second process that compiles a first fit's later kernels meanwhile.  The
fits that compile kernels on purpose (``fastgmm compile``, and that second
process's) are in ``fastgmm._precompile``, which imports the estimators:
this module imports none.
"""

import contextlib
import functools
import os
import subprocess
import sys

import numpy as np

COMPILING_MESSAGE = "compiling fastgmm's kernels for this CPU (first run only)..."


def _e_step_cache_indexes():
    """Paths of the E-step's indexes in Numba's cache, one per variant, or
    None if unknown.  (Naming a copy compiles nothing.)
    """
    from . import _estep
    from ._numba_internals import cache_index_path
    from ._specialise import Variant

    paths = [
        cache_index_path(_estep.e_step_blocks.copy(variant))
        for variant in Variant.every()
    ]
    return None if None in paths else paths


def cache_directory():
    """Where Numba caches fastgmm's machine code (``NUMBA_CACHE_DIR`` or
    ``__pycache__`` beside the sources)."""
    indexes = _e_step_cache_indexes()
    return "(unknown)" if indexes is None else os.path.dirname(indexes[0])


def kernels_cached():
    """Whether Numba's cache holds a serial E-step kernel in this environment.

    False means that a first fit compiles its kernels (tens of seconds).  A
    cache that holds some kernels but not those of another dtype or
    covariance type still answers True; so does a Numba whose cache cannot
    be inspected.
    """
    indexes = _e_step_cache_indexes()
    return indexes is None or any(os.path.exists(path) for path in indexes)


def kernels():
    """Every compiled kernel of fastgmm's modules imported so far, once each
    (every copy made so far of a ``Kernel``)."""
    import sys

    from numba.core.registry import CPUDispatcher

    from ._specialise import Kernel

    seen = set()
    for name, module in list(sys.modules.items()):
        if not name.startswith(__package__):
            continue
        for value in list(vars(module).values()):
            copies = isinstance(value, Kernel)
            for kernel in value.kernels if copies else (value,):
                if isinstance(kernel, CPUDispatcher) and id(kernel) not in seen:
                    seen.add(id(kernel))
                    yield kernel


def kernel_overloads():
    """{kernel name: overloads compiled or loaded in this process}.

    Over ``kernels()``; a check that ``compile_kernels`` covered what later
    ran (nothing new appears).
    """
    return {k.py_func.__qualname__: len(k.overloads) for k in kernels()}


@functools.cache
def _announced():
    """Print ``COMPILING_MESSAGE`` once per process; True when printed."""
    print(COMPILING_MESSAGE, flush=True)
    return True


def announce_compiling():
    """Print ``COMPILING_MESSAGE`` (once per process) if kernels will compile."""
    if not kernels_cached():
        _announced()


# ---------------------------------------------------------------------------
# A first fit's compile in two processes

# "0": a first fit compiles in its own process; "1": with a second process
# whenever its kernels are not cached; unset: where a CPU is spare.
COMPILE_AHEAD_VARIABLE = "FASTGMM_COMPILE_AHEAD"
# The longest a fit waits for the process compiling ahead of it; past that it
# stops it and compiles what is missing itself.
COMPILE_AHEAD_TIMEOUT = 300.0
_ahead_disabled = False
# (kind, dtype, covariance type, n_features) of fits whose E-step
# was cached, or compiled ahead, in this process: a later fit of the same
# kind skips every check (a small fit takes a few hundred microseconds).
_ahead_done = set()


@contextlib.contextmanager
def no_compile_ahead():
    """Within the block, fits of this process compile in this process."""
    global _ahead_disabled
    previous, _ahead_disabled = _ahead_disabled, True
    try:
        yield
    finally:
        _ahead_disabled = previous


def _available_cpus():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _spare_cpu():
    """Whether a CPU is free for a second process: two or more to run on,
    and the last minute's load average (``os.getloadavg``, this process
    included) at least half a CPU below their number.  Parallel fits and
    test workers keep every CPU busy, and a second process would only slow
    them."""
    cpus = _available_cpus()
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # pragma: no cover - not Unix
        load = 0.0
    return cpus >= 2 and load < cpus - 0.5


class CompileAhead:
    """A process compiling a fit's moments, EM and scoring kernels into
    Numba's cache while the fit compiles and runs its k-means start.

    Numba compiles under one lock per process, so threads would not help;
    a process does, and the cache is safe for processes that save at once
    (``fastgmm.kernels._numba_internals``).  ``wait`` is called once the k-means
    labels are known: the kernels that follow are then loaded from the
    cache, or, where the process failed, compiled as without it.
    """

    def __init__(self, process):
        self._process = process

    def wait(self):
        """Wait for the process (at most ``COMPILE_AHEAD_TIMEOUT`` seconds)."""
        self._end(COMPILE_AHEAD_TIMEOUT)

    def stop(self):
        """Stop the process, if still running (a fit that ended early)."""
        self._end(0)

    def _end(self, timeout):
        """Wait up to ``timeout`` seconds for the process, then kill it."""
        if self._process is None:
            return
        try:
            self._process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None


def compile_ahead(kind, dtype, covariance_type, n_features, labels=True):
    """Start compiling a first fit's kernels in another process, or not.

    Only where it pays and is safe: a first fit of this variant in this
    environment (its E-step is not in Numba's cache yet), a CPU to spare
    (``_spare_cpu``; ``FASTGMM_COMPILE_AHEAD=1`` skips that check), fastgmm's
    cache lock in use, and not disabled by ``FASTGMM_COMPILE_AHEAD=0`` or
    within ``compile_kernels``.

    Parameters
    ----------
    kind : {'gaussian', 'bayesian'}
        The estimator whose kernels to compile.
    dtype : numpy dtype
    covariance_type : str
    n_features : int
    labels : bool, default=True
        Whether the fit ends with the rows' labels (``fit_predict``), so
        that the scoring kernel is compiled too.

    Returns
    -------
    CompileAhead or None
    """
    key = (kind, np.dtype(dtype).name, covariance_type, n_features)
    if key in _ahead_done or _ahead_disabled:
        return None
    from . import _estep
    from ._covariance import covariance
    from ._numba_internals import SUPPORTED, cache_index_path
    from ._specialise import Variant

    setting = os.environ.get(COMPILE_AHEAD_VARIABLE, "")
    if setting == "0" or not SUPPORTED or not sys.executable:
        return None
    variant = Variant.of(covariance(covariance_type).code, n_features)
    index = cache_index_path(_estep.e_step_blocks.copy(variant))
    if index is None or os.path.exists(index):
        _ahead_done.add(key)
        return None
    if not (setting == "1" or _spare_cpu()):
        return None
    # This fastgmm, into this process's cache, or nothing.
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = (
        f"import sys; sys.path.append({os.path.dirname(package)!r}); "
        "import os, fastgmm; "
        f"same = os.path.dirname(os.path.abspath(fastgmm.__file__)) == {package!r}; "
        "from fastgmm._precompile import _compile_fit_kernels; "
        f"same and _compile_fit_kernels({kind!r}, {np.dtype(dtype).name!r}, "
        f"{covariance_type!r}, {int(n_features)}, {bool(labels)!r}); "
        # The fit waits for this process to end: skip the interpreter's
        # teardown (half a second of garbage collection after compiling).
        "os._exit(0)"
    )
    import numba

    env = {**os.environ, COMPILE_AHEAD_VARIABLE: "0"}
    env.pop("NUMBA_CACHE_DIR", None)
    if numba.config.CACHE_DIR:
        env["NUMBA_CACHE_DIR"] = numba.config.CACHE_DIR
    try:
        process = subprocess.Popen(
            [sys.executable, "-c", code], env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
    except OSError:
        return None
    _ahead_done.add(key)
    return CompileAhead(process)
