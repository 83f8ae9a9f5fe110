"""What the command line tells the user: one-line errors and warnings."""

from __future__ import annotations

import contextlib
import sys
import warnings

PROG = "fastgmm"


class CLIError(Exception):
    """A problem reported to the user as one ``fastgmm: error:`` line."""


def print_error(message):
    """Print ``message`` on stderr as one ``fastgmm: error: ...`` line.

    Parameters
    ----------
    message : object
        The text (or an exception); its white space, line breaks included,
        is folded into single spaces.
    """
    text = " ".join(str(message).split()) or "unknown error"
    print(f"{PROG}: error: {text}", file=sys.stderr)


def print_warning(message):
    """Print ``message`` on stderr as one ``fastgmm: warning: ...`` line.

    Parameters
    ----------
    message : object
        The text; its white space is folded into single spaces.
    """
    text = " ".join(str(message).split())
    print(f"{PROG}: warning: {text}", file=sys.stderr)


@contextlib.contextmanager
def warnings_reported_once(ignore=()):
    """Record the warnings raised in the block; then print each text once.

    Each distinct message is printed with :func:`print_warning` when the
    block ends normally; nothing is printed when it raises.

    Parameters
    ----------
    ignore : tuple of str, default=()
        Messages starting with any of these prefixes are not printed (the
        command reports them another way).
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    seen = set()
    for w in caught:
        text = " ".join(str(w.message).split())
        if text.startswith(tuple(ignore)) or text in seen:
            continue
        seen.add(text)
        print_warning(text)


def brief(exc):
    """The exception's text on one line, or its type name when it has none.

    Parameters
    ----------
    exc : BaseException

    Returns
    -------
    str
    """
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def os_brief(exc):
    """The operating system's reason for an ``OSError`` ("Permission denied").

    Parameters
    ----------
    exc : OSError

    Returns
    -------
    str
    """
    return getattr(exc, "strerror", None) or brief(exc)
