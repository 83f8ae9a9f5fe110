"""Loading the data a command fits: a .npy, .csv or Parquet file, or iris."""

from __future__ import annotations

import csv
import itertools
import mmap
import os
import warnings

from fastgmm.cli.messages import CLIError, brief, os_brief
from fastgmm.cli.parquet import is_parquet, load_parquet

# How np.loadtxt reads a CSV body, in both readers below.
_LOADTXT_OPTIONS = {"delimiter": ",", "dtype": "float64", "ndmin": 2, "quotechar": '"'}

# Byte strings in whose presence only the line-by-line reader gives today's
# result: NUL (refused), the quote (a quoted field may span lines), and the
# line breaks of str.splitlines beyond \n and \r (\v, \f, \x1c-\x1e, and
# U+0085, U+2028, U+2029 in UTF-8).
_LINE_BY_LINE_MARKERS = (
    b"\x00",
    b'"',
    b"\x0b",
    b"\x0c",
    b"\x1c",
    b"\x1d",
    b"\x1e",
    b"\xc2\x85",
    b"\xe2\x80\xa8",
    b"\xe2\x80\xa9",
)


class Dataset:
    """Loaded data: the array plus what the summary needs to describe it.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    source : str
        Where the data came from (the file name), as printed.
    feature_names : list of str or None
    other_columns : dict of str to ndarray, default=None
        Columns that are not features (a Parquet table's non-numeric ones),
        by name.
    """

    def __init__(self, X, source, feature_names, other_columns=None):
        self.X = X
        self.source = source
        self.feature_names = feature_names
        self.other_columns = other_columns or {}


def load_data(path, dtype="auto"):
    """Load ``path`` (.csv, .npy or Parquet), or iris when ``path`` is None.

    Parameters
    ----------
    path : str or None
        A .csv file (numbers, optionally under a header row of feature
        names), a .npy file holding a 2-D numeric array, or Parquet data (a
        .parquet file or a directory of them: the numeric columns are the
        features, the others kept aside for ``--groups``).
    dtype : {"auto", "float64", "float32"}, default="auto"
        "auto" keeps float32 .npy data (and Parquet data whose features are
        all float32) in float32 and uses float64 otherwise.

    Returns
    -------
    Dataset
        ``X`` is C-contiguous, finite, with at least 2 rows; there is one
        feature name per column (``x0``, ``x1``, ... when the file has none).

    Raises
    ------
    CLIError
        With a one-line message, on any problem with the file or its data.
    """
    import numpy as np

    if path is None:
        from sklearn.datasets import load_iris

        iris = load_iris()
        X = np.asarray(iris.data, dtype=np.float64)
        names = [str(n) for n in iris.feature_names]
        data = Dataset(X, "iris (bundled with scikit-learn)", names)
    else:
        if not os.path.exists(path):
            raise CLIError(f"{path}: no such file")
        others = None
        ext = os.path.splitext(path)[1].lower()
        if is_parquet(path):
            X, names, others = load_parquet(path)
        elif ext == ".npy":
            X, names = _load_npy(path)
        elif ext == ".csv":
            X, names = _load_csv(path)
        else:
            raise CLIError(
                f"{path}: unsupported file type {ext or '(no extension)'!r}; "
                "expected .csv, .npy or .parquet"
            )
        data = Dataset(X, path, names, others)

    data.X = _check_array(data.X, data.source, dtype)
    if data.feature_names is None or len(data.feature_names) != data.X.shape[1]:
        data.feature_names = [f"x{j}" for j in range(data.X.shape[1])]
    return data


def _load_npy(path):
    """The array of a .npy file, never unpickling objects; a ``CLIError``
    for a file that cannot be read or holds no plain array."""
    import numpy as np

    try:
        X = np.load(path, allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc):
            raise CLIError(
                f"{path}: not a plain .npy array (it holds pickled objects, "
                "which are never loaded)"
            ) from None
        raise CLIError(f"{path}: not a readable .npy file ({brief(exc)})") from None
    except (OSError, EOFError) as exc:
        raise CLIError(f"{path}: cannot read .npy file ({os_brief(exc)})") from None
    if not isinstance(X, np.ndarray):
        raise CLIError(f"{path}: not a .npy array file")
    if X.dtype.names is not None:
        raise CLIError(
            f"{path}: structured arrays are not supported; "
            "save a plain 2-D numeric array"
        )
    if X.dtype.kind not in "biuf":
        raise CLIError(f"{path}: expected a numeric array, got dtype {X.dtype}")
    return X, None


# --------------------------------------------------------------------------
# CSV
#
# The first non-blank line is a header of feature names unless all of its
# fields are numbers. np.loadtxt (NumPy's C parser) reads the rest straight
# from the file. Only when that is refused or fails does the slow reader run:
# it splits the text into lines, skips the blank ones, and on a parse error
# goes through the lines again to name the first bad one in the message.


def _load_csv(path):
    loaded = _read_csv_fast(path)
    if loaded is None:
        loaded = _read_csv_by_lines(path)
    X, names = loaded
    if names is not None and len(names) != X.shape[1]:
        raise CLIError(
            f"{path}: header has {len(names)} fields but the data rows have "
            f"{X.shape[1]}"
        )
    return X, names


def _read_csv_fast(path):
    """(X, names) parsed by np.loadtxt from the open file, or None.

    None, for :func:`_read_csv_by_lines` to take over and word any problem,
    when the file holds one of ``_LINE_BY_LINE_MARKERS`` or a line of only
    white space (which np.loadtxt does not skip), or when it fails to parse.
    """
    import numpy as np

    try:
        if _contains_any(path, _LINE_BY_LINE_MARKERS):
            return None
        with open(path, encoding="utf-8-sig") as f, warnings.catch_warnings():
            warnings.simplefilter("error")  # e.g. "input contained no data"
            first = next((line for line in f if line.strip()), None)
            if first is None:
                return None
            names = _header_names(first)
            rows = f if names is not None else itertools.chain([first], f)
            return np.loadtxt(rows, **_LOADTXT_OPTIONS), names
    except (OSError, ValueError, csv.Error, Warning):
        return None


def _contains_any(path, needles):
    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size == 0:
            return False
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as view:
            # Looking for one byte is fast (memchr); for a longer needle, only
            # when its first byte is there at all.
            return any(
                view.find(needle[:1]) >= 0
                and (len(needle) == 1 or view.find(needle) >= 0)
                for needle in needles
            )


def _read_csv_by_lines(path):
    """(X, names) read line by line; raises CLIError naming the bad line."""
    import numpy as np

    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            text = f.read()
    except UnicodeDecodeError:
        raise CLIError(f"{path}: not a text file (cannot decode as UTF-8)") from None
    except OSError as exc:
        raise CLIError(f"{path}: cannot read ({os_brief(exc)})") from None
    if "\x00" in text:
        raise CLIError(f"{path}: not a text file (contains NUL bytes)")

    lines = text.splitlines()
    # Index of the first non-blank line: it is either the header or data.
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        raise CLIError(f"{path}: file is empty")
    try:
        names = _header_names(lines[first])
    except csv.Error as exc:
        raise CLIError(f"{path}: line {first + 1}: {brief(exc)}") from None
    skip = first if names is None else first + 1

    body = [line for line in lines[skip:] if line.strip()]
    if not body:
        raise CLIError(f"{path}: no data rows (only a header line)")
    try:
        X = np.loadtxt(body, **_LOADTXT_OPTIONS)
    except ValueError as exc:
        n_expected = len(names) if names is not None else None
        where = _locate_csv_problem(lines, skip, n_expected) or brief(exc)
        raise CLIError(f"{path}: {where}") from None
    return X, names


def _header_names(line):
    """The line's stripped fields if it is a header, None if it is data."""
    fields = [field.strip() for field in next(csv.reader([line]))]
    return None if _all_floats(fields) else fields


def _all_floats(fields):
    if not fields:
        return False
    for field in fields:
        try:
            float(field)
        except ValueError:
            return False
    return True


def _locate_csv_problem(lines, skip, n_expected):
    """Find the first malformed data line; return a message or None.

    Only used after np.loadtxt failed, to name the line and column.
    """
    for i in range(skip, len(lines)):
        if not lines[i].strip():
            continue
        try:
            fields = next(csv.reader([lines[i]]))
        except csv.Error as exc:
            return f"line {i + 1}: {brief(exc)}"
        if n_expected is None:
            n_expected = len(fields)
        if len(fields) != n_expected:
            return f"line {i + 1} has {len(fields)} fields, expected {n_expected}"
        for j, field in enumerate(fields):
            try:
                float(field)
            except ValueError:
                if not field.strip():
                    return (
                        f"line {i + 1}, column {j + 1}: empty field (missing "
                        "values are not supported)"
                    )
                return (
                    f"line {i + 1}, column {j + 1}: cannot parse "
                    f"{field.strip()!r} as a number"
                )
    return None


def _check_array(X, source, dtype):
    """``X`` as a C-contiguous float array (``dtype``: 'float32', 'float64'
    or 'auto', float32 data kept as such) of at least 2 samples and 1
    feature with finite values; otherwise a ``CLIError`` naming ``source``."""
    import numpy as np

    X = np.asarray(X)
    if X.ndim != 2:
        raise CLIError(
            f"{source}: expected a 2-D array (n_samples, n_features), got "
            f"{X.ndim}-D with shape {X.shape}"
        )
    n_samples, n_features = X.shape
    if n_features == 0:
        raise CLIError(f"{source}: the data has no columns")
    if dtype == "float32" or (dtype == "auto" and X.dtype == np.float32):
        X = np.ascontiguousarray(X, dtype=np.float32)
    else:
        X = np.ascontiguousarray(X, dtype=np.float64)
    if not np.isfinite(X).all():
        bad = np.argwhere(~np.isfinite(X))[0]
        what = "NaN" if np.isnan(X[bad[0], bad[1]]) else "infinite value"
        raise CLIError(
            f"{source}: data contains NaN or infinite values (first: {what} in "
            f"sample {bad[0]}, feature {bad[1]}); missing values are not supported"
        )
    if n_samples < 2:
        raise CLIError(
            f"{source}: need at least 2 samples to fit a mixture, got {n_samples}"
        )
    return X
