"""Numba's cache, shared by processes that compile at once, stays sound.

Numba saves a cached function's index without a lock: two processes saving
different signatures of one function at once can give both the same data
file, and the index then points one signature at the other's machine code
(see ``fastgmm.kernels._numba_internals``).  fastgmm's kernels save under a file
lock, data first; these tests compile one small cached function in many
processes at once, all into one empty cache, and check that afterwards every
index entry loads the code of its own signature.
"""

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

from fastgmm.kernels import _numba_internals

pytestmark = pytest.mark.skipif(
    not _numba_internals.SUPPORTED,
    reason="this Numba's cache is not locked (fastgmm falls back to Numba's)",
)

KERNEL = textwrap.dedent(
    """
    from fastgmm.kernels._numba_internals import njit

    @njit(cache=True)
    def affine(x):
        return x * 3 + 1
    """
)

# Each process compiles two of these: different signatures of one function.
TYPES = (
    "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float32", "float64", "complex64", "complex128",
)  # fmt: skip

COMPILE_AT = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    sys.path.insert(0, sys.argv[1])
    from kernel import affine
    start_at = float(sys.argv[2])
    values = [np.dtype(name).type(5) for name in sys.argv[3:]]
    time.sleep(max(0.0, start_at - time.time()))
    for value in values:
        affine(value)
    """
)

CHECK = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    sys.path.insert(0, sys.argv[1])
    from kernel import affine
    results = {}
    for name in sys.argv[2:]:
        value = affine(np.dtype(name).type(5))
        results[name] = complex(value).real
    hits = sum(affine.stats.cache_hits.values())
    misses = sum(affine.stats.cache_misses.values())
    print(json.dumps({"results": results, "hits": hits, "misses": misses}))
    """
)


def _run_together(module_dir, env, assignments):
    """Start one process per list of types; they compile at the same moment."""
    start_at = time.time() + 8.0  # after every process has imported Numba
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", COMPILE_AT, str(module_dir), str(start_at), *types],
            env=env,
        )
        for types in assignments
    ]
    for proc in procs:
        assert proc.wait(timeout=300) == 0


def _check_in_fresh_process(module_dir, env, types):
    """CHECK's results, cache hits and misses, from a new process."""
    proc = subprocess.run(
        [sys.executable, "-c", CHECK, str(module_dir), *types],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_processes_saving_at_once_keep_each_signature_its_code(tmp_path):
    (tmp_path / "kernel.py").write_text(KERNEL)
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    _run_together(tmp_path, env, [TYPES[i : i + 2] for i in range(0, len(TYPES), 2)])

    indexes = list((tmp_path / "cache").rglob("*.nbi"))
    data_files = list((tmp_path / "cache").rglob("*.nbc"))
    assert len(indexes) == 1
    assert len(data_files) == len(TYPES), "two signatures shared a data file"

    # A fresh process loads every signature from the cache (no compiling),
    # and each computes 5 * 3 + 1: code of another signature would read the
    # argument's bits as another type.
    checked = _check_in_fresh_process(tmp_path, env, TYPES)
    assert checked["misses"] == 0 and checked["hits"] == len(TYPES)
    assert checked["results"] == dict.fromkeys(TYPES, 16.0)


def test_an_entry_holding_another_signatures_code_is_not_loaded(tmp_path):
    # The index made to point int64 at float64's data file, as Numba's
    # unlocked save can leave it: the load is refused and int64 compiles.
    (tmp_path / "kernel.py").write_text(KERNEL)
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    _run_together(tmp_path, env, [("int64", "float64")])
    swap = textwrap.dedent(
        """
        import sys
        sys.path.insert(0, sys.argv[1])
        from kernel import affine
        cache_file = affine._cache._cache_file
        index = cache_file._load_index()
        by_type = {str(key[0][0]): name for key, name in index.items()}
        for key in index:
            if str(key[0][0]) == "int64":
                index[key] = by_type["float64"]
        cache_file._save_index(index)
        """
    )
    subprocess.run([sys.executable, "-c", swap, str(tmp_path)], env=env, check=True)
    checked = _check_in_fresh_process(tmp_path, env, ("int64", "float64"))
    assert checked["results"] == {"int64": 16.0, "float64": 16.0}
    assert checked["hits"] == 1 and checked["misses"] == 1


def test_a_save_waits_for_the_lock_another_process_holds(tmp_path):
    # While this process holds the index's lock, another process that
    # compiles a new signature finishes compiling but cannot save (or load)
    # until the lock is released.
    import fcntl

    (tmp_path / "kernel.py").write_text(KERNEL)
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    _run_together(tmp_path, env, [("float64",)])
    (index,) = (tmp_path / "cache").rglob("*.nbi")
    fd = os.open(f"{index}.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        waiting = subprocess.Popen(
            [sys.executable, "-c", COMPILE_AT, str(tmp_path), "0", "int32"], env=env
        )
        # Unlocked, it would be done in a few seconds (its import and one
        # small kernel's compile).
        with pytest.raises(subprocess.TimeoutExpired):
            waiting.wait(timeout=12)
    finally:
        os.close(fd)
    assert waiting.wait(timeout=300) == 0
    assert len(list((tmp_path / "cache").rglob("*.nbc"))) == 2


def test_every_entry_of_fastgmms_cache_holds_its_own_signature():
    # The cache this suite runs on (in CI, filled by the suite's workers,
    # processes saving at once): each entry's code is its own signature's.
    import importlib

    import numpy as np

    from fastgmm import GaussianMixture
    from fastgmm.kernels._warmup import kernels

    X = np.random.default_rng(0).standard_normal((50, 2))
    GaussianMixture(2, random_state=0).fit(X)  # at least these entries exist
    modules = ("_groups", "_copy", "_covariance", "_exp", "_estep", "_kmeans",
               "_mstep")  # fmt: skip
    for name in modules:
        importlib.import_module(f"fastgmm.kernels.{name}")
    checked = 0
    for kernel in kernels():
        assert _numba_internals.mismatched_cache_entries(kernel) == []
        cache_file = getattr(kernel._cache, "_cache_file", None)
        if cache_file is not None:
            checked += len(cache_file._load_index())
    assert checked > 0


def test_a_helper_has_no_python_wrapper_and_python_calls_run_a_copy():
    from fastgmm.kernels._numba_internals import WRAPPERLESS, Helper, njit

    @njit(helper=True)
    def plus_half(x):
        return x + 0.5

    @njit
    def twice_plus_half(x):
        return 2.0 * plus_half(x)

    if not WRAPPERLESS:  # a Numba without the options: a plain dispatcher
        assert not isinstance(plus_half, Helper)
        return
    assert isinstance(plus_half, Helper)
    assert twice_plus_half(1.5) == 4.0
    # Compiled for the compiled caller first, without the wrapper that a
    # call from Python would jump through: Python calls run the copy.
    (cres,) = plus_half.overloads.values()
    assert cres.fndesc.llvm_cpython_wrapper_name not in cres.library.get_llvm_str()
    assert plus_half(1.5) == 2.0
    assert plus_half.python_copy.py_func.__qualname__.endswith("plus_half_from_python")
    assert len(plus_half.python_copy.overloads) == 1
    assert len(plus_half.overloads) == 1


def test_a_helper_is_compiled_to_ir_only_and_not_cached():
    from numba.core import caching

    from fastgmm.kernels._numba_internals import LINK_ONLY_HELPERS, njit

    @njit(helper=True, cache=True)
    def plus_one(x):
        return x + 1.0

    @njit
    def twice_plus_one(x):
        return 2.0 * plus_one(x)

    assert twice_plus_one(1.5) == 5.0
    (caller,) = twice_plus_one.overloads.values()
    (helper,) = plus_one.overloads.values()
    # Machine code is made for the caller, with the helper's code in it.
    assert caller.library._compiled
    if not LINK_ONLY_HELPERS:  # a Numba without the hooks: as Numba does
        assert helper.library._compiled
        return
    assert not getattr(helper.library, "_compiled", False)
    assert isinstance(plus_one._cache, caching.NullCache)
    # A call from Python runs the wrapped copy, cached as asked.
    assert plus_one(1.5) == 2.5
    assert not isinstance(plus_one.python_copy._cache, caching.NullCache)


_WARM_FIT = textwrap.dedent(
    """
    from numba.core import base

    refreshes = []
    refresh = base.BaseContext.refresh
    base.BaseContext.refresh = lambda self: (refreshes.append(1), refresh(self))
    import numpy as np
    from fastgmm import BayesianGaussianMixture, GaussianMixture

    X = np.random.default_rng(0).standard_normal((300, 3))
    for model in (GaussianMixture(2, random_state=0), BayesianGaussianMixture(
        n_components=2, covariance_type="diag", random_state=0)):
        model.fit(X)
        print(model.lower_bound_.hex(), model.score_samples(X).sum().hex())
    print(len(refreshes))
    """
)


def test_cached_kernels_load_without_refreshing_numbas_compiler():
    # The first process compiles (or loads) and refreshes; the second loads
    # machine code only, without Numba importing and registering its
    # implementation modules, and gives the same answers.
    def run():
        proc = subprocess.run(
            [sys.executable, "-c", _WARM_FIT], capture_output=True, text=True,
            check=True,
        )  # fmt: skip
        *answers, refreshes = proc.stdout.split("\n")[:-1]
        return answers, int(refreshes)

    answers, _ = run()
    warm_answers, refreshes = run()
    assert warm_answers == answers
    assert refreshes == 0


def test_allocations_lowered_into_the_caller_match_numpys():
    # ``empty`` and ``zeros`` give the arrays np.empty and np.zeros give,
    # from code compiled once for any caller, and NumPy's error for a
    # negative size.
    import numba
    import numpy as np

    from fastgmm.kernels._numba_internals import INLINE_ALLOCATION, empty, zeros

    @numba.njit(fastmath={"contract"}, error_model="numpy")
    def allocate(n, like):
        return (
            zeros((n, 3), like.dtype), zeros(n, np.bool_), zeros(n, np.int32),
            empty((n, 2, 2), np.float64), empty(0, like.dtype),
        )  # fmt: skip

    for like in (np.ones(1, np.float32), np.ones(1)):
        arrays = allocate(5, like)
        expected = (
            np.zeros((5, 3), like.dtype), np.zeros(5, np.bool_),
            np.zeros(5, np.int32), np.empty((5, 2, 2)), np.empty(0, like.dtype),
        )  # fmt: skip
        for got, want in zip(arrays, expected):
            assert (got.shape, got.dtype) == (want.shape, want.dtype)
            assert got.flags.c_contiguous and got.flags.writeable
        for got in arrays[:3]:
            assert not got.any()
    with pytest.raises(ValueError, match="negative dimensions"):
        allocate(-1, np.ones(1))
    if INLINE_ALLOCATION:
        # Lowered into the caller: no function of their own compiled, nor
        # Numba's allocation trampoline.
        llvm = allocate.inspect_llvm(allocate.signatures[0])
        assert llvm.count("ol_np_") == 0
        assert "_call_allocator" not in llvm


def test_two_number_max_and_min_lowered_into_the_caller_are_pythons():
    # ``larger`` and ``smaller`` select as Python's max and min of two do:
    # the first of equals (signed zeros), a NaN kept only when first, and
    # the unified type of mixed arguments.
    import math

    import numba
    import numpy as np

    from fastgmm.kernels._numba_internals import larger, smaller

    @numba.njit(error_model="numpy")
    def both(a, b):
        return larger(a, b), smaller(a, b)

    pairs = [
        (1.0, 2.0), (2.0, 1.0), (0.0, -0.0), (-0.0, 0.0), (math.nan, 1.0),
        (1.0, math.nan), (3, 2), (-1, 5), (np.float32(1.5), 2), (np.int32(7), 3),
    ]  # fmt: skip
    for a, b in pairs:
        got = both(a, b)
        want = (max(a, b), min(a, b))
        for g, w in zip(got, want):
            assert math.isnan(g) == math.isnan(w)
            if not math.isnan(w):
                assert g == w and math.copysign(1, g) == math.copysign(1, w)
    assert type(both(3, 2)[0]) is int
    assert isinstance(both(np.float32(1.5), 2)[0], float)


def test_machine_epsilon_lowered_into_the_caller_is_numpys():
    import numba
    import numpy as np

    from fastgmm.kernels._numba_internals import epsilon

    @numba.njit
    def eps(a):
        return epsilon(a)

    for dtype in (np.float32, np.float64):
        got = eps(np.ones((2, 2), dtype=dtype))
        assert type(got) is float
        assert got == float(np.finfo(dtype).eps)


def test_next_index_hands_each_value_to_one_thread():
    # Threads sharing a counter take values until a bound; together they
    # take each value once (the E-step's blocks are shared out this way).
    from concurrent.futures import ThreadPoolExecutor

    import numba
    import numpy as np

    from fastgmm.kernels._numba_internals import next_index

    @numba.njit(nogil=True)
    def take(counter, owner, me):
        c = next_index(counter)
        while c < owner.shape[0]:
            owner[c] += me  # each slot once: 1, 2, 4 or 8, never a sum
            c = next_index(counter)

    for _ in range(20):
        counter = np.zeros(1, dtype=np.int64)
        owner = np.zeros(200_000, dtype=np.int64)
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda me: take(counter, owner, me), (1, 2, 4, 8)))
        assert np.isin(owner, (1, 2, 4, 8)).all()
        assert counter[0] == owner.shape[0] + 4  # one past the end per thread


def test_c_view_is_numpys_reshape_of_a_c_array():
    import numba
    import numpy as np

    from fastgmm.kernels._numba_internals import c_view

    @numba.njit
    def views(flat, k, d):
        return c_view(flat[: k * d], (k, d)), c_view(flat[k * d :], flat.size - k * d)

    flat = np.arange(10.0)
    matrix, rest = views(flat, 2, 3)
    np.testing.assert_array_equal(matrix, flat[:6].reshape(2, 3))
    np.testing.assert_array_equal(rest, flat[6:])
    assert matrix.flags.c_contiguous
    matrix[1, 2] = -1.0  # a view, as reshape's
    assert flat[5] == -1.0
    with pytest.raises(ValueError, match="sizes differ"):
        views(flat, 4, 3)


def test_the_passes_of_two_variants_never_share_a_symbol_name():
    # Numba names the helpers that run a pass's blocks (``_blocks``) after
    # the printed types of their arguments, and a pass type prints as its
    # class's name and fields.  Kernels of two covariance types compiled in
    # two processes once gave their different E-step code one (weak) symbol
    # name: loaded from the cache into one process, the second kernel ran
    # the first one's E-step.  Each variant's pass type prints apart.
    import functools

    from numba.core import types

    from fastgmm.kernels import _estep, _kmeans_passes, _reduction, _specialise  # noqa: F401
    from fastgmm.kernels._specialise import Variant

    passes = [
        binder
        for _, binder in _specialise._BINDERS.values()
        if isinstance(binder, functools.partial) and binder.func is _reduction._pass_of
    ]
    assert passes, "no pass is compiled per variant"
    for binder in passes:
        printed = []
        for variant in Variant.every():
            cls = binder(variant)
            printed.append(
                str(types.NamedTuple([types.float64] * len(cls._fields), cls))
            )
        assert len(set(printed)) == len(printed), printed
