"""The ``fastgmm`` entry point: the top-level parser and :func:`main`."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading

from fastgmm.cli import compile as compile_command
from fastgmm.cli import fit, predict, select
from fastgmm.cli.messages import PROG, CLIError, print_error

# One module per command, in the order shown by --help.
COMMANDS = (fit, select, predict, compile_command)


def build_parser() -> argparse.ArgumentParser:
    """The ``fastgmm`` parser, with one sub-parser per module of COMMANDS.

    Returns
    -------
    argparse.ArgumentParser
    """
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Gaussian mixture models fitted by EM with compiled kernels; "
            "scikit-learn's GaussianMixture, faster."
        ),
    )
    parser.add_argument("--version", action="version", version=_version())
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for command in COMMANDS:
        name = command.__name__.rpartition(".")[2]  # the module is the command
        sub = subparsers.add_parser(
            name, help=command.HELP, description=command.DESCRIPTION
        )
        command.add_arguments(sub)
        sub.set_defaults(func=command.run)
    return parser


def _version():
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"{PROG} {version(PROG)}"
    except PackageNotFoundError:  # running from a source tree
        from .._version import __version__

        return f"{PROG} {__version__}"


def main(argv=None) -> int:
    """Run the command line ``fastgmm ARGS``; return the exit status.

    Parameters
    ----------
    argv : list of str, optional
        The arguments after the program name; default: ``sys.argv[1:]``.

    Returns
    -------
    int
        0 on success; 1 after a ``fastgmm: error: ...`` line on stderr; 2
        on a usage error; 130 when interrupted.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return _exit_code(exc.code)
    try:
        with _terminate_as_exit():
            return int(args.func(args) or 0)
    except CLIError as exc:
        print_error(exc)
        return 1
    except ValueError as exc:  # parameter validation inside the estimator
        print_error(exc)
        return 1
    except MemoryError:
        print_error("out of memory")
        return 1
    except KeyboardInterrupt:
        print_error("interrupted")
        return 130
    except BrokenPipeError:  # e.g. `fastgmm fit | head`
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 1


@contextlib.contextmanager
def _terminate_as_exit():
    """SIGTERM (``kill``, a scheduler's time limit) ends the command as an
    exception would, so that a file being written is removed, not left
    half-written (``fastgmm._atomic_file``); exit status 143.  Only in the
    main thread, where Python runs signal handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminated(signum, frame):
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _exit_code(code):
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    return 1
