"""What the commands print and save: summary lines, tables, .npz, plots."""

from __future__ import annotations

import math
import os

from fastgmm._atomic_file import atomic_write
from fastgmm.cli.messages import CLIError, os_brief

# Widest means table printed before columns are elided.
_MAX_TABLE_FEATURES = 8


def data_lines(data):
    """The ``data:`` and ``shape:`` lines that open every command's summary.

    Parameters
    ----------
    data : Dataset

    Returns
    -------
    str
        Two lines, without a final line break.
    """
    n_samples, n_features = data.X.shape
    return (
        f"data:        {data.source}\n"
        f"shape:       {n_samples} samples x {n_features} features ({data.X.dtype})"
    )


def component_table(sizes, weights, means, feature_names):
    """The per-component table: size, weight and means (first 8 features).

    Parameters
    ----------
    sizes : array-like of shape (n_components,)
        Samples assigned to each component by ``predict``.
    weights : array-like of shape (n_components,)
    means : ndarray of shape (n_components, n_features)
    feature_names : list of str

    Returns
    -------
    str
        The title line, then the aligned table.
    """
    n_features = means.shape[1]
    shown = min(n_features, _MAX_TABLE_FEATURES)
    header = ["component", "size", "weight"] + list(feature_names[:shown])
    rows = []
    for k in range(len(weights)):
        rows.append(
            [str(k), str(int(sizes[k])), f"{float(weights[k]):.4f}"]
            + [f"{float(v):.4g}" for v in means[k, :shown]]
        )
    widths = [max(len(h), *(len(r[j]) for r in rows)) for j, h in enumerate(header)]

    def fmt(cells):
        left = cells[0].ljust(widths[0])
        rest = (c.rjust(w) for c, w in zip(cells[1:], widths[1:]))
        return "  ".join([left, *rest]).rstrip()

    title = "components (size: samples assigned by predict; then the means):"
    lines = [title, fmt(header)] + [fmt(r) for r in rows]
    if shown < n_features:
        lines.append(f"({n_features - shown} more features not shown)")
    return "\n".join(lines)


def criterion_table(selector):
    """The information criterion of every fit of a model selection.

    Parameters
    ----------
    selector : GaussianMixtureIC
        Fitted.

    Returns
    -------
    str
        Rows: numbers of components; columns: covariance types. ``*`` marks
        the best value, ``!`` a fit that did not converge, ``failed`` a fit
        that failed and ``-`` a combination not tried.
    """
    results = selector.results_
    criterion = selector.criterion
    kinds = list(dict.fromkeys(str(t) for t in results["covariance_type"]))
    ks = sorted({int(k) for k in results["n_components"]})
    cells = {}
    for i in range(len(results["n_components"])):
        key = (int(results["n_components"][i]), str(results["covariance_type"][i]))
        value = float(results[criterion][i])
        if math.isnan(value):
            cells[key] = "failed "
            continue
        best = key == (selector.n_components_, selector.covariance_type_)
        mark = "*" if best else ("!" if not results["converged"][i] else " ")
        cells[key] = f"{value:.3f}{mark}"
    # Values end with a one-character mark; the header leaves room for it.
    header = ["k"] + [t + " " for t in kinds]
    rows = [[str(k)] + [cells.get((k, t), "- ") for t in kinds] for k in ks]
    table = [header] + rows
    widths = [max(len(row[j]) for row in table) for j in range(len(header))]
    return "\n".join(
        "  ".join(c.rjust(w) for c, w in zip(row, widths)).rstrip() for row in table
    )


def save_npz(path, gm, **summary):
    """Save a fitted mixture (``fastgmm.save``) and the fit summary to ``path``.

    Parameters
    ----------
    path : str
        Written to exactly this name (no ``.npz`` is appended).
    gm : GaussianMixture
        Fitted.
    **summary
        ``covariance_type`` and ``source``, then any other scalars or arrays
        to store (sizes, BIC, timings, ...), one array each.

    Raises
    ------
    CLIError
        When the file cannot be written.
    """
    import numpy as np

    arrays = {
        "weights": np.asarray(gm.weights_),
        "means": np.asarray(gm.means_),
        "covariances": np.asarray(gm.covariances_),
        "precisions_cholesky": np.asarray(gm.precisions_cholesky_),
        "covariance_type": np.asarray(summary.pop("covariance_type")),
        "converged": np.asarray(bool(gm.converged_)),
        "n_iter": np.asarray(int(gm.n_iter_)),
        "lower_bound": np.asarray(float(gm.lower_bound_)),
        "source": np.asarray(str(summary.pop("source"))),
    }
    lower_bounds = getattr(gm, "lower_bounds_", None)
    if lower_bounds is not None:
        arrays["lower_bounds"] = np.asarray(lower_bounds, dtype=np.float64)
    for key, value in summary.items():
        arrays[key] = np.asarray(value)
    from fastgmm import save

    try:
        # The model in fastgmm's format (fastgmm.load reads it back), the
        # summary as arrays of their own beside it.
        save(gm, path, extra=arrays)
    except OSError as exc:
        raise CLIError(f"{path}: cannot write ({os_brief(exc)})") from None


def check_writable(path):
    """Fail before fitting rather than after when ``path`` cannot be written.

    Parameters
    ----------
    path : str

    Raises
    ------
    CLIError
        When ``path`` is a directory or its directory is missing or read-only.
    """
    parent = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise CLIError(f"{path}: is a directory; --out needs a file name")
    if not os.path.isdir(parent):
        raise CLIError(f"{path}: cannot write (directory {parent} does not exist)")
    if not os.access(parent, os.W_OK):
        raise CLIError(f"{path}: cannot write (directory {parent} is not writable)")


def check_plot(path):
    """Fail before fitting when ``--plot path`` cannot be drawn or written:
    matplotlib missing, an image type it cannot write, or a path that
    :func:`check_writable` refuses. Raises CLIError.

    Parameters
    ----------
    path : str
        The picture's file name, its extension naming the image type.
    """
    try:
        from fastgmm.plot import require_matplotlib

        require_matplotlib()
    except ImportError:
        raise CLIError(
            "--plot needs matplotlib, which is not installed; install it with: "
            'pip install "fastgmm[plot]"'
        ) from None
    from matplotlib.figure import Figure

    if os.path.isdir(path):
        raise CLIError(f"{path}: is a directory; --plot needs a file name")
    ext = os.path.splitext(path)[1].lower().lstrip(".")
    supported = Figure().canvas.get_supported_filetypes()
    if ext not in supported:
        raise CLIError(
            f"{path}: unsupported image type {('.' + ext) if ext else '(none)'!r}; "
            f"use one of {', '.join('.' + e for e in sorted(supported))}"
        )
    check_writable(path)


def save_plot(path, draws):
    """Draw one panel per function of ``draws`` and save the figure to path.

    The figure is drawn without pyplot, so no backend is selected and no
    window opens: the file type picks the renderer (Agg for .png).

    Parameters
    ----------
    path : str
    draws : list of callable
        Each takes a matplotlib ``Axes`` and draws one panel on it.

    Raises
    ------
    CLIError
        When the file cannot be written.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4 * len(draws), 5.2), layout="constrained")
    for draw, ax in zip(draws, fig.subplots(1, len(draws), squeeze=False)[0]):
        draw(ax)
    try:
        with atomic_write(path) as f:
            fig.savefig(f, dpi=100, format=os.path.splitext(path)[1][1:].lower())
    except OSError as exc:
        raise CLIError(f"{path}: cannot write ({os_brief(exc)})") from None
