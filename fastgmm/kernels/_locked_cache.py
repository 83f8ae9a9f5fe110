"""Numba's per-function cache, made safe for processes that save at once.

Numba's ``IndexDataCacheFile.save`` reads a function's cache index, adds an
entry and writes it back without a lock, taking the first free data-file
number and writing the index before the data.  Two processes that save
different signatures of one function at once can both take ``*.1.nbc``, and
the index then points one signature at the other's machine code, which
Numba loads without checking (Numba issues 4807 and 10128).  ``LockedCache``
saves under an exclusive file lock beside the index (``fcntl.flock``:
released by the kernel if the process dies), writes the data before the
index that names it, and checks on loading that the code loaded is that of
the signature asked for (otherwise the kernel compiles, as on a miss).  Its
loads skip Numba's refresh of the whole compiler context, which machine
code does not need (only the runtime's symbols: ``rtsys.initialize``).

It uses the ``FunctionCache`` class and its ``_cache_file`` and
``load_overload``/``_load_overload``/``_save_overload`` hooks
(``cache_hooks_present`` checks them), and the dispatcher's ``_cache``
attribute; ``fastgmm.kernels._numba_internals.njit`` installs it where they
are as tested.
"""

import contextlib
import os

import numba
from numba.core import caching, sigutils
from numba.core.runtime import rtsys

try:  # POSIX; elsewhere saves are not locked (Numba's own behaviour)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None


def cache_hooks_present():
    """Whether Numba's cache classes have the members ``LockedCache`` uses,
    and files can be locked."""
    members = {
        caching.FunctionCache: (
            "load_overload", "_load_overload", "_save_overload", "_index_key",
            "_guard_against_spurious_io_errors",
        ),
        caching.IndexDataCacheFile: (
            "_load_index", "_save_index", "_save_data", "_data_name", "save",
        ),
    }  # fmt: skip
    return fcntl is not None and (
        all(hasattr(cls, name) for cls, names in members.items() for name in names)
        and hasattr(numba.core.dispatcher.Dispatcher, "enable_caching")
        and hasattr(rtsys, "initialize")
    )


@contextlib.contextmanager
def _file_lock(path, exclusive):
    """Hold ``flock`` on ``path`` (created if missing) for the block."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # closing releases the lock


class _LockedIndexDataCacheFile(caching.IndexDataCacheFile):
    """Numba's index and data files, saved under a lock, data first."""

    @property
    def lock_path(self):
        return self._index_path + ".lock"

    def save(self, key, data):
        with _file_lock(self.lock_path, exclusive=True):
            overloads = self._load_index()
            data_name = overloads.get(key)
            shared = list(overloads.values()).count(data_name) > 1
            if data_name is None or shared:
                # A new file; never one that another entry names (an index
                # left by an unlocked save may name one file twice).
                existing = set(overloads.values())
                number = 1
                while self._data_name(number) in existing:
                    number += 1
                data_name = self._data_name(number)
            # The data before the index that names it: a reader never finds
            # an entry whose file holds something else.
            self._save_data(data_name, data)
            if overloads.get(key) != data_name:
                overloads[key] = data_name
                self._save_index(overloads)

    def load(self, key):
        if not os.path.exists(self._index_path):
            return None  # nothing cached yet: no lock file to create
        with _file_lock(self.lock_path, exclusive=False):
            return super().load(key)


class LockedCache(caching.FunctionCache):
    """Numba's per-function cache, safe for processes saving at once."""

    def __init__(self, py_func):
        super().__init__(py_func)
        old = self._cache_file
        self._cache_file = _LockedIndexDataCacheFile(
            cache_path=old._cache_path,
            filename_base=self._impl.filename_base,
            source_stamp=old._source_stamp,
        )

    def load_overload(self, sig, target_context):
        # Numba's own first refreshes the whole target context: it imports
        # and registers every implementation module Numba has, a sixth of a
        # second of a warm start.  Machine code loaded from the cache needs
        # only the runtime's symbols (the context's own are installed when
        # it is created); a compile, on a miss, refreshes as always.
        rtsys.initialize(target_context)
        with self._guard_against_spurious_io_errors():
            return self._load_overload(sig, target_context)

    def _load_overload(self, sig, target_context):
        cres = super()._load_overload(sig, target_context)
        if cres is None:
            return None
        args, _ = sigutils.normalize_signature(sig)
        if tuple(cres.signature.args) != tuple(args):
            return None  # another signature's code: compile instead
        return cres


def cache_index_path(dispatcher):
    """Path of a cached kernel's index file, or None if Numba hides it."""
    try:
        return dispatcher._cache._cache_file._index_path
    except AttributeError:
        return None


def mismatched_cache_entries(dispatcher):
    """Index entries of a cached kernel whose data holds another signature.

    Returns a list of (signature in the index, signature of the code), empty
    for a sound cache (or one this Numba does not let us read).
    """
    try:
        cache_file = dispatcher._cache._cache_file
        index = cache_file._load_index()
    except AttributeError:
        return []
    mismatched = []
    for key, name in index.items():
        try:
            payload = cache_file._load_data(name)
        except OSError:
            continue  # removed since: a miss, not a mismatch
        wanted = tuple(sigutils.normalize_signature(key[0])[0])
        # The payload is CompileResult._reduce(): its fourth item the signature.
        found = tuple(payload[3].args)
        if found != wanted:
            mismatched.append((wanted, found))
    return mismatched
