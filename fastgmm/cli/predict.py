"""``fastgmm predict``: apply a saved model to data, a chunk of rows at a time."""

from __future__ import annotations

import contextlib
import os
import sys

from fastgmm._atomic_file import atomic_write
from fastgmm.cli.chunks import group_chunks, row_chunks
from fastgmm.cli.messages import CLIError, brief, os_brief
from fastgmm.cli.parquet import (
    PARQUET,
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
        chunks = group_chunks(args.data, args.groups, args.chunk_rows, n_features)
    else:
        rows = row_chunks(args.data, args.chunk_rows, n_features)
        chunks = ((X, None) for X in rows)
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
