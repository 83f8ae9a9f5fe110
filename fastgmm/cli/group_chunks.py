"""``fastgmm predict --groups``: the rows of DATA a chunk at a time, each
chunk with its rows' groups, for a model saved by ``fastgmm fit --groups``."""

from __future__ import annotations

import os

from fastgmm.cli.messages import CLIError
from fastgmm.cli.parquet import is_parquet, parquet_chunks


def group_chunks(path, spec, chunk_rows, n_features, chunks):
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
    chunks : callable
        ``chunks(path, chunk_rows, n_columns)``: validated float arrays of
        the rows of a .csv or .npy file with ``n_columns`` columns.
    """
    import numpy as np

    if spec.lower().endswith(".npy"):
        if not os.path.isfile(spec):
            raise CLIError(f"{spec}: no such file")
        labels = np.load(spec, mmap_mode="r", allow_pickle=False)
        if labels.ndim != 1:
            raise CLIError(f"{spec}: expected one group label per row")
        return _with_labels(chunks(path, chunk_rows, n_features), labels, spec)
    if is_parquet(path):
        return (
            (_checked_width(path, X, n_features), groups)
            for _, X, groups in parquet_chunks(path, chunk_rows, groups=spec)
        )
    column = _column(path, spec, n_features + 1)
    return (
        (np.delete(X, column, axis=1), as_group_labels(X[:, column]))
        for X in chunks(path, chunk_rows, n_features + 1)
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


def _column(path, spec, n_columns):
    """The index of column ``spec`` (a header name or a 0-based index) of a
    .csv or .npy DATA of ``n_columns`` columns."""
    from fastgmm.cli.data import _header_names

    names = None
    if path.lower().endswith(".csv"):
        with open(path, encoding="utf-8-sig") as f:
            first = next((line for line in f if line.strip()), "")
        names = _header_names(first)
    if names is not None and spec in names:
        return names.index(spec)
    if spec.isdigit() and int(spec) < n_columns:
        return int(spec)
    raise CLIError(
        f"--groups {spec}: not a column of {path} (a header name or an index "
        f"below {n_columns}) nor a .npy file"
    )


def _checked_width(path, X, n_features):
    if X.shape[1] != n_features:
        raise CLIError(
            f"{path}: {X.shape[1]} feature columns besides the groups, but the "
            f"model was fitted on {n_features}"
        )
    return X


def as_group_labels(values):
    """Integer labels where a column holds whole numbers only, as ``fit
    --groups`` makes them."""
    import numpy as np

    return values.astype(np.int64) if np.all(values == np.round(values)) else values
