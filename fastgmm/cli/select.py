"""``fastgmm select``: choose the number of components and covariance type."""

from __future__ import annotations

import argparse
import sys
import time

from fastgmm.cli.data import load_data
from fastgmm.cli.messages import CLIError, warnings_reported_once
from fastgmm.cli.options import (
    add_covariance_types_option,
    add_data_argument,
    add_model_options,
    add_plot_option,
    model_params,
)
from fastgmm.cli.report import check_plot, criterion_table, data_lines, save_plot

# Fits that did not converge are marked ! in the table instead.
_NOT_CONVERGED = "Best performing initialization did not converge"


def k_values(text):
    """Argument type: ``1..10``, ``2,3,5`` or both (``1..4,8``).

    Parameters
    ----------
    text : str

    Returns
    -------
    list of int
        Sorted, without repeats.
    """
    values = set()
    for token in text.split(","):
        token = token.strip()
        low, sep, high = token.partition("..")
        try:
            first = int(low)
            last = int(high) if sep else first
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"invalid value {token!r}: expected a number, a range such as "
                "1..10, or a comma-separated list of them"
            ) from None
        if first < 1 or last < first:
            raise argparse.ArgumentTypeError(
                f"invalid range {token!r}: need 1 <= first <= last"
            )
        values.update(range(first, last + 1))
    return sorted(values)


HELP = "choose the number of components and the covariance type by BIC or AIC"
DESCRIPTION = (
    "Fit a Gaussian mixture for every number of components and "
    "covariance type asked for, print the information criterion of "
    "each (rows: number of components, columns: covariance types; * "
    "marks the lowest) and the model chosen. DATA is a .csv or .npy "
    "file as for 'fit'; without DATA the iris data set is used."
)


def add_arguments(p):
    """Add ``select``'s arguments to its sub-parser ``p``."""
    add_data_argument(p)
    p.add_argument(
        "-k",
        "--k",
        "--n-components",
        dest="n_components",
        type=k_values,
        default=list(range(1, 11)),
        metavar="K",
        help="numbers of components to try: a range such as 1..10, a list "
        "such as 2,3,5, or both (default: 1..10)",
    )
    add_covariance_types_option(
        p,
        "comma-separated covariance types to try, e.g. full,diag "
        "(default: all, i.e. full,tied,diag,spherical)",
    )
    p.add_argument(
        "--criterion",
        choices=("bic", "aic"),
        default="bic",
        help="information criterion; lower is better (default: bic)",
    )
    add_model_options(p)
    add_plot_option(p, "the criterion curves and the chosen model's clusters")


def run(args):
    """Fit every candidate ``args`` asks for; print the table and the best.

    Raises CLIError on a problem with the data or the plot file, or when
    every number of components asked for exceeds the number of samples.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed by the ``select`` sub-parser.

    Returns
    -------
    int
        0, the exit status.
    """
    if args.plot is not None:
        check_plot(args.plot)
    data = load_data(args.data, dtype=args.dtype)
    X = data.X
    n_samples, n_features = X.shape
    skipped = [k for k in args.n_components if k > n_samples]
    if len(skipped) == len(args.n_components):
        raise CLIError(
            f"-k {_format_k(args.n_components)}: every value is more components "
            f"than the {n_samples} samples in {data.source}"
        )

    from fastgmm import GaussianMixtureIC
    from fastgmm.kernels import announce_compiling

    params = model_params(
        args,
        n_components=args.n_components,
        covariance_type=args.covariance_types,
        criterion=args.criterion,
    )
    selector = GaussianMixtureIC(**params)
    announce_compiling()
    with warnings_reported_once(ignore=(_NOT_CONVERGED,)):
        t0 = time.perf_counter()
        selector.fit(X)
        total_time = time.perf_counter() - t0

    _print_summary(data, selector, args.criterion, skipped, total_time)

    if args.plot is not None:
        from fastgmm.plot import plot_clusters, plot_criterion

        draws = [lambda ax: plot_criterion(selector, ax=ax)]
        if n_features >= 2:
            draws.append(lambda ax: plot_clusters(selector, X, ax=ax))
        save_plot(args.plot, draws)
        print(f"plot:        {args.plot}", file=sys.stdout)
    return 0


def _print_summary(data, selector, criterion, skipped, total_time):
    """The data, the criterion table, the best candidate and the fits."""
    results = selector.results_
    n_fits = len(results["n_components"])
    not_converged = n_fits - int(sum(results["converged"]))
    name = criterion.upper()
    out = sys.stdout
    print(data_lines(data), file=out)
    print(f"criterion:   {name} (lower is better)", file=out)
    print(file=out)
    print(criterion_table(selector), file=out)
    print(file=out)
    print(
        f"best:        n_components={selector.n_components_}, "
        f"covariance_type={selector.covariance_type_!r}, "
        f"{name}={selector.criterion_:.4f}",
        file=out,
    )
    fits = f"fits:        {n_fits}"
    if not_converged:
        fits += f" ({not_converged} did not converge, marked !)"
    else:
        fits += " (all converged)"
    print(fits, file=out)
    if skipped:
        print(
            f"skipped:     k = {_format_k(skipped)} (more components than samples)",
            file=out,
        )
    print(f"total time:  {total_time:.3f} s", file=out)


def _format_k(values):
    values = sorted(values)
    if len(values) > 2 and values == list(range(values[0], values[-1] + 1)):
        return f"{values[0]}..{values[-1]}"
    return ",".join(str(v) for v in values)
