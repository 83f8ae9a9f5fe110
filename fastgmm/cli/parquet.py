"""Parquet files (or directories of them) for the command line, through pyarrow.

A table's numeric columns (integers and floats) are the features, in the
table's order; its other columns (strings, dates, ...) are left out of
them, and may name the groups (``fit --groups COLUMN``).  pyarrow is an
optional dependency: ``pip install "fastgmm[parquet]"``.
"""

from __future__ import annotations

import os

from fastgmm.cli.messages import CLIError

PARQUET = ".parquet"


def is_parquet(path):
    """Whether ``path`` names Parquet data: a ``.parquet`` file, or a
    directory (of Parquet files)."""
    return path.lower().endswith(PARQUET) or os.path.isdir(path)


def _pyarrow():
    """``(pyarrow, pyarrow.dataset, pyarrow.parquet)``, or a CLIError naming
    the extra that installs them."""
    try:
        import pyarrow
        import pyarrow.dataset
        import pyarrow.parquet
    except ImportError:
        raise CLIError(
            "reading and writing .parquet needs pyarrow, which is not installed; "
            'install it with: pip install "fastgmm[parquet]"'
        ) from None
    return pyarrow, pyarrow.dataset, pyarrow.parquet


def _dataset(path):
    """The Parquet dataset at ``path`` (a file or a directory of files)."""
    pa, ds, _ = _pyarrow()
    try:
        return ds.dataset(path, format="parquet")
    except (OSError, pa.ArrowException) as exc:
        raise CLIError(f"{path}: cannot read as Parquet ({exc})") from None


def _numeric(field_type):
    import pyarrow.types as t

    return t.is_integer(field_type) or t.is_floating(field_type)


def feature_columns(path, schema, exclude=None):
    """The numeric columns of ``schema``, but ``exclude``; a CLIError if none."""
    names = [
        field.name for field in schema if _numeric(field.type) and field.name != exclude
    ]
    if not names:
        raise CLIError(f"{path}: no numeric column to use as a feature")
    return names


def _as_array(table, names):
    """The columns ``names`` of ``table`` as one C-contiguous 2-D array:
    float32 where every one is float32, float64 otherwise."""
    import numpy as np
    import pyarrow as pa

    types = [table.schema.field(name).type for name in names]
    dtype = np.float32 if all(t == pa.float32() for t in types) else np.float64
    X = np.empty((table.num_rows, len(names)), dtype=dtype)
    for j, name in enumerate(names):
        # Nulls become NaN, which the callers' checks refuse by row.
        X[:, j] = table.column(name).to_numpy(zero_copy_only=False)
    return X


def load_parquet(path):
    """``(X, feature names, other columns)`` of the Parquet data at ``path``.

    ``other columns`` maps the name of each non-numeric column to its
    values (a NumPy array), for ``--groups``.
    """
    pa, _, _ = _pyarrow()
    dataset = _dataset(path)
    try:
        table = dataset.to_table()
    except (OSError, pa.ArrowException) as exc:
        raise CLIError(f"{path}: cannot read as Parquet ({exc})") from None
    names = feature_columns(path, table.schema)
    others = {
        name: table.column(name).to_numpy(zero_copy_only=False)
        for name in table.column_names
        if name not in names
    }
    return _as_array(table, names), names, others


def parquet_chunks(path, chunk_rows, groups=None):
    """``(first row, array, groups)`` of at most ``chunk_rows`` rows, read a
    batch at a time (memory stays bounded for data larger than memory): the
    numeric columns but ``groups``, and the values of column ``groups``
    (None without it)."""
    pa, _, _ = _pyarrow()
    dataset = _dataset(path)
    if groups is not None and groups not in dataset.schema.names:
        raise CLIError(
            f"--groups {groups}: not a column of {path} (columns: "
            f"{', '.join(dataset.schema.names)})"
        )
    names = feature_columns(path, dataset.schema, groups)
    columns = names + ([groups] if groups is not None else [])
    row = 0
    try:
        for batch in dataset.to_batches(columns=columns, batch_size=chunk_rows):
            if batch.num_rows:
                table = pa.Table.from_batches([batch])
                labels = None
                if groups is not None:
                    labels = table.column(groups).to_numpy(zero_copy_only=False)
                yield row, _as_array(table, names), labels
                row += batch.num_rows
    except (OSError, pa.ArrowException) as exc:
        raise CLIError(f"{path}: cannot read as Parquet ({exc})") from None


def write_parquet_chunks(f, outputs, kind):
    """Write the chunks ``outputs`` (labels, responsibilities or scores) to
    the open binary file ``f`` as one Parquet file, a row group per chunk:
    a column ``label``, ``p0`` ... ``p{K-1}`` or ``score``."""
    pa, _, pq = _pyarrow()
    writer = None
    try:
        for block in outputs:
            if kind == "proba":
                names = [f"p{k}" for k in range(block.shape[1])]
                columns = [block[:, k] for k in range(block.shape[1])]
            else:
                names, columns = [kind if kind == "score" else "label"], [block]
            table = pa.table(dict(zip(names, columns)))
            if writer is None:
                writer = pq.ParquetWriter(f, table.schema)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()
