"""``n_jobs``: how many threads the compiled kernels run on."""

import functools
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numba
from threadpoolctl import ThreadpoolController

from ._numba_internals import start_threads


def check_n_jobs(n_jobs):
    """Refuse ``n_jobs=0``, which names no number of threads."""
    if n_jobs == 0:
        raise ValueError("n_jobs == 0 has no meaning; use None, -1 or >= 1.")


def thread_count(n_jobs):
    """The threads ``n_jobs`` stands for.

    None is Numba's current count for this Python thread; negative values
    count back from all threads as in joblib (-1 = all); the count is
    clipped to 1..``NUMBA_NUM_THREADS``.
    """
    if n_jobs is None:
        return numba.get_num_threads()
    available = numba.config.NUMBA_NUM_THREADS
    wanted = n_jobs if n_jobs > 0 else available + 1 + n_jobs
    return min(max(wanted, 1), available)


@functools.cache
def _blas_controller():
    """The loaded thread pools, found once: looking them up reads files."""
    return ThreadpoolController()


# Numba's workqueue threading layer aborts the process when two Python
# threads run parallel kernels at once; there, fastgmm's kernel calls take
# turns (the layer is only known after the first parallel call).
_WORKQUEUE_LOCK = threading.RLock()


def _needs_lock():
    try:
        return numba.threading_layer() == "workqueue"
    except ValueError:  # no parallel kernel has run yet in this process
        return True


@contextmanager
def kernel_threads(n_jobs, parallel=True):
    """Run the kernels on ``n_jobs`` threads; restore the previous count after.

    The setting is per Python thread and never touches global configuration.
    With ``parallel`` (kernels that will start threads), BLAS is held to one
    thread meanwhile: idle BLAS threads spinning between iterations would
    take the cores from the kernels' threads.  On Numba's workqueue layer
    the calls of concurrent Python threads are serialised.  Without
    ``parallel`` (serial kernels only) nothing is set.
    """
    if parallel and _needs_lock():
        with _WORKQUEUE_LOCK:
            with _kernel_threads(n_jobs, parallel):
                yield
        return
    with _kernel_threads(n_jobs, parallel):
        yield


@contextmanager
def _kernel_threads(n_jobs, parallel):
    if not parallel:
        # Serial kernels start no thread: Numba's thread pool is left
        # unstarted (reading or setting its count starts it, which loads the
        # threading layer: tens of milliseconds of a small fit's process).
        yield
        return
    start_threads()
    previous = numba.get_num_threads()
    with _blas_controller().limit(limits=1, user_api="blas"):
        if n_jobs is None:
            yield
            return
        numba.set_num_threads(thread_count(n_jobs))
        try:
            yield
        finally:
            numba.set_num_threads(previous)


def over_groups(call, order, n_jobs):
    """Run ``call(chunk)`` over consecutive chunks of ``order``, in threads.

    The batch kernels run one group at a time, serially, and release the GIL
    (``nogil``): ``thread_count(n_jobs)`` Python threads run them at once
    without Numba's parallel pipeline, whose compile time for a kernel that
    holds a whole fit is tens of seconds per variant.  Free threads take the
    next chunk in order (``order`` lists the largest groups first); each
    group's outputs are its own, so the result is the same for any number
    of threads.  Call it within ``kernel_threads`` (BLAS held to one thread).
    """
    n_threads = min(thread_count(n_jobs), len(order))
    if n_threads <= 1:
        call(order)
        return
    size = max(1, len(order) // (16 * n_threads))
    chunks = [order[start : start + size] for start in range(0, len(order), size)]

    def alone(chunk):
        # A group of several blocks runs them on this thread: Numba's
        # threads serve one Python thread at a time (``on_threads``).
        numba.set_num_threads(1)
        call(chunk)

    with ThreadPoolExecutor(n_threads) as pool:
        for _ in pool.map(alone, chunks):
            pass


# One pool of worker threads per process, made on first use; a forked child
# makes its own (the parent's threads do not exist there).
_POOL = None
_POOL_LOCK = threading.Lock()


def _forget_pool():
    global _POOL
    _POOL = None


os.register_at_fork(after_in_child=_forget_pool)


def _pool():
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(
                numba.config.NUMBA_NUM_THREADS, thread_name_prefix="fastgmm"
            )
        return _POOL


def in_threads(call, n_threads):
    """Run ``call()`` on this thread and ``n_threads - 1`` threads of a
    process-wide pool at once, and return when all have returned (a kernel
    that releases the GIL and shares its work out itself)."""
    if n_threads <= 1:
        call()
        return
    pool = _pool()
    futures = [pool.submit(call) for _ in range(n_threads - 1)]
    try:
        call()
    finally:
        # Every call ends before the outputs are read or an error is raised.
        for future in futures:
            future.exception()
    for future in futures:
        future.result()
