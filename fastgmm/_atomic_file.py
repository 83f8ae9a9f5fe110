"""Files written whole or not at all.

A file written in place is half-written while it is being written: a
process killed part-way, or a full disk, leaves neither the old file nor
the new one.  :func:`atomic_write` writes to a temporary file in the same
directory and renames it onto the target only once it is complete (a
rename within a directory replaces the target at once), so the target
holds either its earlier content or the new one, whole.
"""

import contextlib
import os
import tempfile


@contextlib.contextmanager
def atomic_write(path, mode="wb", **open_options):
    """Open a file whose content replaces ``path`` when the block completes.

    The file is a temporary one beside ``path`` (``.<name>.<random>.part``),
    flushed to disk and renamed onto ``path`` when the ``with`` block ends
    without an exception; on an exception it is removed and ``path`` keeps
    what it held.  A process killed outright (SIGKILL, power loss) can
    leave the temporary file behind, never a partial ``path``.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write.  Its permissions are kept when it exists; a new
        file gets those ``open`` would give it.
    mode : {"wb", "w"}, default="wb"
        Binary or text.
    **open_options
        Passed to ``open`` (``newline``, ``encoding``).

    Yields
    ------
    file object
    """
    path = os.fspath(path)
    directory, name = os.path.split(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=directory)
    try:
        with open(fd, mode, **open_options) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(temporary, _permissions(path))
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _permissions(path):
    """The target's permission bits if it exists, else a new file's (0o666
    less the umask; ``mkstemp`` creates its file 0o600)."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        return 0o666 & ~_umask()


def _umask():
    # Read without changing it where the system says it (Linux); otherwise
    # set and restore it at once.
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
