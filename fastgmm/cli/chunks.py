"""Reading DATA for ``fastgmm predict`` a chunk of rows at a time, each
chunk validated, and with ``--groups`` each row's group (for a model saved
by ``fastgmm fit --groups``)."""

from __future__ import annotations

import itertools
import os

from fastgmm.cli.data import _header_names
from fastgmm.cli.messages import CLIError, brief, os_brief
from fastgmm.cli.parquet import is_parquet, parquet_chunks


def group_chunks(path, spec, chunk_rows, n_features):
    """``(X, groups)`` of at most ``chunk_rows`` rows of ``path``, in order.

    Parameters
    ----------
    path : str
        DATA: .csv, .npy or Parquet.
    spec : str
        The groups: a .npy file of one label per row; a column of a Parquet
        table by name; or a column of the CSV (header name or 0-based index)
        or of the .npy array (index), taken out of the features.
    chunk_rows : int
    n_features : int
        The model's number of features.
    """
    import numpy as np

    if spec.lower().endswith(".npy"):
        if not os.path.isfile(spec):
            raise CLIError(f"{spec}: no such file")
        labels = np.load(spec, mmap_mode="r", allow_pickle=False)
        if labels.ndim != 1:
            raise CLIError(f"{spec}: expected one group label per row")
        return _with_labels(row_chunks(path, chunk_rows, n_features), labels, spec)
    if is_parquet(path):
        return _parquet_chunks(path, chunk_rows, n_features, groups=spec)
    column = group_column(spec, _column_names(path, n_features + 1), path)
    return (
        (np.delete(X, column, axis=1), as_group_labels(X[:, column]))
        for X in row_chunks(path, chunk_rows, n_features + 1)
    )


def _with_labels(chunks, labels, spec):
    row = 0
    for X in chunks:
        if row + X.shape[0] > labels.shape[0]:
            raise CLIError(f"{spec}: {labels.shape[0]} group labels, fewer than rows")
        yield X, labels[row : row + X.shape[0]]
        row += X.shape[0]
    if row != labels.shape[0]:
        raise CLIError(f"{spec}: {labels.shape[0]} group labels for {row} rows")


def _column_names(path, n_columns):
    """The names of the columns of a .csv or .npy DATA of ``n_columns``
    columns, as ``fastgmm fit`` names them: the CSV's header, else ``x0``,
    ``x1``, ..."""
    if path.lower().endswith(".csv"):
        with open(path, encoding="utf-8-sig") as f:
            names = _header_names(next((line for line in f if line.strip()), ""))
        if names is not None and len(names) == n_columns:
            return names
    return [f"x{j}" for j in range(n_columns)]


def group_column(spec, names, source):
    """The index of the group column ``spec`` among the columns ``names`` of
    ``source``: a name, or a 0-based index; a CLIError otherwise."""
    if spec in names:
        return names.index(spec)
    if spec.isdigit() and int(spec) < len(names):
        return int(spec)
    raise CLIError(
        f"--groups {spec}: not a column of {source} (columns: "
        f"{', '.join(names)}) nor a .npy file"
    )


def as_group_labels(values):
    """Integer labels where a column holds whole numbers only, as ``fit
    --groups`` makes them."""
    import numpy as np

    return values.astype(np.int64) if np.all(values == np.round(values)) else values


def row_chunks(path, chunk_rows, n_features):
    """Validated float arrays of at most ``chunk_rows`` rows, in file order."""
    if not os.path.exists(path):
        raise CLIError(f"{path}: no such file")
    if is_parquet(path):
        return (X for X, _ in _parquet_chunks(path, chunk_rows, n_features))
    ext = os.path.splitext(path)[1].lower()
    if ext == ".npy":
        return _npy_chunks(path, chunk_rows, n_features)
    if ext == ".csv":
        return _csv_chunks(path, chunk_rows, n_features)
    raise CLIError(f"{path}: unsupported file type {ext or '(no extension)'!r}")


def _parquet_chunks(path, chunk_rows, n_features, groups=None):
    """``(X, groups)``: validated arrays of the numeric columns of Parquet
    data but ``groups``, a batch of at most ``chunk_rows`` rows at a time,
    with the values of column ``groups`` (None without it)."""
    for start, X, labels in parquet_chunks(path, chunk_rows, groups=groups):
        _check_width(path, X.shape[1], n_features)
        yield _checked(path, X, start), labels


def _npy_chunks(path, chunk_rows, n_features):
    import numpy as np

    try:
        data = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise CLIError(f"{path}: cannot read ({brief(exc)})") from None
    if data.ndim != 2:
        raise CLIError(f"{path}: expected a 2-D array, got shape {data.shape}")
    _check_width(path, data.shape[1], n_features)
    for start in range(0, data.shape[0], chunk_rows):
        yield _checked(path, np.asarray(data[start : start + chunk_rows]), start)


def _csv_chunks(path, chunk_rows, n_features):
    """Validated float arrays of at most ``chunk_rows`` rows of a .csv file,
    in file order, skipping a header line and blank lines; raises
    ``CLIError`` naming the line of the first row that does not parse."""
    try:
        f = open(path, encoding="utf-8-sig")
    except OSError as exc:
        raise CLIError(f"{path}: cannot read ({os_brief(exc)})") from None
    with f:
        line_number = 0
        first = None
        for line in f:
            line_number += 1
            if line.strip():
                first = line
                break
        if first is None:
            raise CLIError(f"{path}: file is empty")
        has_header = _header_names(first) is not None
        pending = [] if has_header else [(line_number, first)]
        row = 0
        while True:
            lines = pending + [
                (line_number + i + 1, text)
                for i, text in enumerate(itertools.islice(f, chunk_rows))
            ]
            line_number += len(lines) - len(pending)
            pending = []
            lines = [(n, text) for n, text in lines if text.strip()]
            if not lines:
                return
            X = _parse_lines(path, lines, n_features)
            yield _checked(path, X, row, lines)
            row += len(lines)


def _parse_lines(path, lines, n_features):
    """``lines`` ((line number, text) pairs) as a 2-D array, or a
    ``CLIError`` naming the first line with the wrong number of fields or a
    field that is not a number."""
    import numpy as np

    try:
        X = np.loadtxt([text for _, text in lines], delimiter=",", ndmin=2)
    except ValueError:
        for number, text in lines:
            fields = text.rstrip("\r\n").split(",")
            if len(fields) != n_features:
                raise CLIError(
                    f"{path}: line {number}: {len(fields)} fields, the model "
                    f"expects {n_features} features"
                ) from None
            for field in fields:
                try:
                    float(field)
                except ValueError:
                    raise CLIError(
                        f"{path}: line {number}: not a number: {field.strip()!r}"
                    ) from None
        raise CLIError(f"{path}: cannot parse lines {lines[0][0]}-{lines[-1][0]}")
    _check_width(path, X.shape[1], n_features)
    return X


def _check_width(path, width, n_features):
    if width != n_features:
        raise CLIError(
            f"{path}: {width} features per row, but the model was fitted on "
            f"{n_features}"
        )


def _checked(path, X, first_row, lines=None):
    """X as floats, with the first non-finite value's row named."""
    import numpy as np

    if X.dtype.kind != "f":
        X = X.astype(np.float64)
    bad = ~np.isfinite(X).all(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        where = f"line {lines[i][0]}" if lines else f"row {first_row + i}"
        raise CLIError(f"{path}: {where}: NaN or infinite value")
    return X
