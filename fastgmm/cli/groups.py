"""``fastgmm fit --groups``: one mixture per group, and a per-group table."""

from __future__ import annotations

import csv
import os
import sys
import time

from fastgmm._atomic_file import atomic_write
from fastgmm.cli.chunks import as_group_labels, group_column
from fastgmm.cli.messages import CLIError, warnings_reported_once


def add_groups_option(parser):
    """Register ``--groups COLUMN``."""
    parser.add_argument(
        "-g",
        "--groups",
        metavar="COLUMN",
        default=None,
        help=(
            "fit one mixture per group: COLUMN is a column of DATA (its header "
            "name or 0-based index; of a Parquet table, any column by name), "
            "removed from the features, or a .npy file of one label per row; "
            "writes a per-group table (CSV) to --out, or to the standard output"
        ),
    )


def split_groups(data, spec):
    """The group label of each row, and ``data`` without the group column.

    Parameters
    ----------
    data : fastgmm.cli.data.Dataset
    spec : str
        A .npy file of labels, a column name (a feature's, or one of
        ``data.other_columns``), or a 0-based feature index.

    Returns
    -------
    labels : ndarray of shape (n_samples,)
        Integers where a column holds whole numbers only.
    """
    import numpy as np

    n_samples = data.X.shape[0]
    if spec in data.other_columns:  # a column that is not a feature
        return np.asarray(data.other_columns[spec])
    if spec.lower().endswith(".npy"):
        if not os.path.isfile(spec):
            raise CLIError(f"{spec}: no such file")
        try:
            labels = np.load(spec, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise CLIError(f"{spec}: cannot read the group labels ({exc})") from None
        if labels.ndim != 1 or len(labels) != n_samples:
            raise CLIError(
                f"{spec}: expected {n_samples} group labels, one per row of "
                f"{data.source}; got an array of shape {labels.shape}"
            )
        return labels
    names = list(data.feature_names)
    column = group_column(spec, names, data.source)
    if len(names) < 2:
        raise CLIError(f"--groups {spec}: no feature column would be left to fit")
    labels = as_group_labels(data.X[:, column])
    keep = [j for j in range(len(names)) if j != column]
    data.X = np.ascontiguousarray(data.X[:, keep])
    data.feature_names = [names[j] for j in keep]
    return labels


def run_groups(args, data, params):
    """Fit ``BatchGaussianMixture(**params)`` per group; print, write the table.

    Returns
    -------
    int
        0.
    """
    import numpy as np

    from fastgmm import BatchGaussianMixture
    from fastgmm.kernels import announce_compiling

    if args.plot is not None:
        raise CLIError("--plot draws one mixture; it does not apply with --groups")
    out_ext = None if args.out is None else os.path.splitext(args.out)[1].lower()
    if out_ext not in (None, ".csv", ".npz"):
        raise CLIError(
            f"{args.out}: with --groups, --out writes the per-group table (.csv) "
            "or the model (.npz)"
        )
    labels = split_groups(data, args.groups)
    announce_compiling()
    start = time.perf_counter()
    _warm_up(BatchGaussianMixture, data.X, labels, params)
    load_time = time.perf_counter() - start
    model = BatchGaussianMixture(**params)
    with warnings_reported_once():
        start = time.perf_counter()
        model.fit(data.X, labels)
        fit_time = time.perf_counter() - start
        bic = model.bic(data.X, labels)
    fitted = model.fit_status_ == "fitted"
    print(f"data:        {data.source} ({data.X.shape[0]} rows, "
          f"{data.X.shape[1]} features)")  # fmt: skip
    print(f"groups:      {len(model.groups_)} ({int(fitted.sum())} fitted, "
          f"{int(model.converged_.sum())} converged)")  # fmt: skip
    print(f"fit time:    {fit_time:.4f} s")
    print(f"kernel load: {load_time:.4f} s (loading or compiling, before the fit)")
    counts = np.bincount(np.searchsorted(model.groups_, labels), minlength=len(bic))
    rows = _table_rows(model, counts, bic, data.feature_names)
    if out_ext != ".csv":
        print()
        csv.writer(sys.stdout, lineterminator="\n").writerows(rows)
    try:
        if out_ext == ".csv":
            with atomic_write(args.out, "w", newline="") as f:
                csv.writer(f).writerows(rows)
        elif out_ext == ".npz":
            from fastgmm import save

            save(model, args.out)
    except OSError as exc:
        raise CLIError(f"{args.out}: cannot write ({exc.strerror})") from None
    if out_ext is not None:
        print(f"{'table' if out_ext == '.csv' else 'saved'}:{' ' * 7}{args.out}")
    return 0


def _warm_up(BatchGaussianMixture, X, labels, params):
    """Load (or compile) the kernels on a few rows, so the fit time is the fit's."""
    import warnings

    rows = slice(0, min(len(X), 200))
    warm = dict(params, max_iter=1, n_init=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        BatchGaussianMixture(**warm).fit(X[rows], labels[rows])


def _table_rows(model, counts, bic, feature_names):
    """Header and one row per group: label, size, status, fit, weights, means."""
    k_max = model.weights_.shape[1]
    header = ["group", "n", "status", "n_components", "converged", "n_iter", "bic"]
    header += [f"weight_{k}" for k in range(k_max)]
    header += [f"mean_{k}_{name}" for k in range(k_max) for name in feature_names]
    rows = [header]
    for g, label in enumerate(model.groups_):
        rows.append(
            [
                label.item() if hasattr(label, "item") else label,
                int(counts[g]),
                model.fit_status_[g],
                int(model.n_components_[g]),
                bool(model.converged_[g]),
                int(model.n_iter_[g]),
                repr(float(bic[g])),
                *(repr(float(w)) for w in model.weights_[g]),
                *(repr(float(m)) for m in model.means_[g].ravel()),
            ]
        )
    return rows
