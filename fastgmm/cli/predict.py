"""``fastgmm predict``: apply a saved model to data, a chunk of rows at a time."""

from __future__ import annotations

import contextlib
import itertools
import os
import sys

from fastgmm._atomic_file import atomic_write
from fastgmm.cli.data import _header_names
from fastgmm.cli.group_chunks import group_chunks
from fastgmm.cli.messages import CLIError, brief, os_brief
from fastgmm.cli.parquet import (
    PARQUET,
    is_parquet,
    parquet_chunks,
    write_parquet_chunks,
)

CHUNK_ROWS = 65536


HELP = "apply a saved model (fastgmm fit --out) to a data file"
DESCRIPTION = (
    "Load MODEL (written by `fastgmm fit --out` or fastgmm.save) and "
    "print, for each row of DATA (.csv, with an optional header row, "
    "or .npy), its most probable component; --proba prints the "
    "responsibilities, --score the log-likelihood of each row. Rows are "
    "read and scored a chunk at a time, so a CSV larger than memory can "
    "be scored."
)


def add_arguments(p):
    """Add ``predict``'s arguments to its sub-parser ``p``."""
    p.add_argument("model", metavar="MODEL", help="a saved model (.npz)")
    p.add_argument(
        "data",
        metavar="DATA",
        help="rows to score (.csv, .npy, or .parquet: a file or a directory)",
    )
    what = p.add_mutually_exclusive_group()
    what.add_argument(
        "--proba", action="store_true", help="responsibilities, one column each"
    )
    what.add_argument("--score", action="store_true", help="log-likelihood of each row")
    p.add_argument(
        "-o",
        "--out",
        metavar="FILE",
        default=None,
        help=("write to FILE (.csv, .npy or .parquet) instead of the standard output"),
    )
    p.add_argument(
        "-g",
        "--groups",
        metavar="COLUMN",
        default=None,
        help=(
            "for a model saved by `fastgmm fit --groups`: each row's group, "
            "a column of DATA (a CSV header name or 0-based index, taken out "
            "of the features; any column of a Parquet table by name) or a "
            ".npy file of one label per row"
        ),
    )
    p.add_argument(
        "--chunk-rows",
        type=int,
        default=CHUNK_ROWS,
        metavar="N",
        help=f"rows read and scored at a time (default: {CHUNK_ROWS})",
    )


def run(args):
    """Score ``args.data`` with ``args.model``; write one output row per row.

    Returns
    -------
    int
        0; problems are raised as CLIError.
    """
    import numpy as np

    from fastgmm import load

    if args.chunk_rows < 1:
        raise CLIError("--chunk-rows must be at least 1")
    out_ext = None if args.out is None else os.path.splitext(args.out)[1].lower()
    if out_ext not in (None, ".csv", ".npy", PARQUET):
        raise CLIError(f"{args.out}: --out writes .csv, .npy or .parquet")
    if not os.path.isfile(args.model):
        raise CLIError(f"{args.model}: no such file")
    try:
        model = load(args.model)
    except ValueError as exc:
        raise CLIError(brief(exc)) from None
    by_group = type(model).__name__ == "BatchGaussianMixture"
    if by_group and args.groups is None:
        raise CLIError(
            f"{args.model}: a BatchGaussianMixture scores each row by its "
            "group's mixture; name the groups with --groups COLUMN"
        )
    if args.groups is not None and not by_group:
        raise CLIError(
            f"--groups: {args.model} holds one mixture "
            f"({type(model).__name__}), not one per group"
        )
    n_features = model.n_features_in_
    kind = "proba" if args.proba else "score" if args.score else "labels"
    if by_group:
        chunks = group_chunks(
            args.data, args.groups, args.chunk_rows, n_features, _chunks
        )
    else:
        chunks = ((X, None) for X in _chunks(args.data, args.chunk_rows, n_features))
    outputs = (_apply(model, kind, X, groups) for X, groups in chunks)
    if out_ext == ".npy":
        # The outputs are gathered (a label or a few numbers per row).
        results = list(outputs)
        if not results:
            raise CLIError(f"{args.data}: no data rows")
        with _written(args.out, "wb") as f:
            np.save(f, np.concatenate(results))
        return 0
    if args.out is None:
        _write_csv(sys.stdout, outputs, kind)
        return 0
    if out_ext == PARQUET:
        with _written(args.out, "wb") as f:
            write_parquet_chunks(f, outputs, kind)
        return 0
    with _written(args.out, "w") as f:
        _write_csv(f, outputs, kind)
    return 0


def _apply(model, kind, X, groups=None):
    """The model's output of ``kind`` for rows X (of ``groups``, for a
    batch of mixtures)."""
    by_group = () if groups is None else (groups,)
    if kind == "proba":
        return model.predict_proba(X, *by_group)
    if kind == "score":
        return model.score_samples(X, *by_group)
    return model.predict(X, *by_group)


@contextlib.contextmanager
def _written(path, mode):
    """``atomic_write(path, mode)``: the file replaces ``path`` once whole
    (an interrupted or failed run leaves ``path`` as it was)."""
    try:
        with atomic_write(path, mode) as f:
            yield f
    except OSError as exc:
        raise CLIError(f"{path}: cannot write ({os_brief(exc)})") from None


def _write_csv(f, outputs, kind):
    import numpy as np

    fmt = "%d" if kind == "labels" else "%.17g"
    for block in outputs:
        np.savetxt(f, block, fmt=fmt, delimiter=",")


def _chunks(path, chunk_rows, n_features):
    """Validated float arrays of at most ``chunk_rows`` rows, in file order."""
    if not os.path.exists(path):
        raise CLIError(f"{path}: no such file")
    if is_parquet(path):
        return _parquet_chunks(path, chunk_rows, n_features)
    ext = os.path.splitext(path)[1].lower()
    if ext == ".npy":
        return _npy_chunks(path, chunk_rows, n_features)
    if ext == ".csv":
        return _csv_chunks(path, chunk_rows, n_features)
    raise CLIError(f"{path}: unsupported file type {ext or '(no extension)'!r}")


def _parquet_chunks(path, chunk_rows, n_features):
    """Validated arrays of the numeric columns of Parquet data, a batch of
    at most ``chunk_rows`` rows at a time."""
    for start, X, _ in parquet_chunks(path, chunk_rows):
        _check_width(path, X.shape[1], n_features)
        yield _checked(path, X, start)


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
