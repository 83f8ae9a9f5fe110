"""Parser pieces the commands share: argument types and common options."""

from __future__ import annotations

import argparse

from fastgmm.kernels import COVARIANCE_TYPES

INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data")


def _convert(text, convert, what):
    try:
        return convert(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid {what}: {text!r}") from None


def positive_int(text):
    """Argument type (``type=``): an integer >= 1."""
    value = _convert(text, int, "integer")
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def nonnegative_float(text):
    """Argument type (``type=``): a number >= 0, NaN refused."""
    value = _convert(text, float, "number")
    if not value >= 0.0:  # also rejects nan
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def n_jobs(text):
    """Argument type (``type=``): a thread count, any integer but 0."""
    value = _convert(text, int, "integer")
    if value == 0:
        raise argparse.ArgumentTypeError("must be a non-zero integer (-1: all cores)")
    return value


def add_data_argument(parser):
    """Add the optional positional ``DATA`` file (.csv or .npy).

    Parameters
    ----------
    parser : argparse.ArgumentParser
    """
    parser.add_argument("data", nargs="?", metavar="DATA", help=".csv or .npy file")


def add_model_options(parser):
    """Add the options passed to every mixture a command fits.

    :func:`model_params` reads them back.

    Parameters
    ----------
    parser : argparse.ArgumentParser
    """
    parser.add_argument(
        "--random-state",
        type=int,
        default=None,
        metavar="S",
        help="seed for the initialisations (default: none, i.e. not reproducible)",
    )
    parser.add_argument(
        "--max-iter",
        type=positive_int,
        default=100,
        metavar="N",
        help="maximum number of EM iterations per initialisation (default: 100)",
    )
    parser.add_argument(
        "--tol",
        type=nonnegative_float,
        default=1e-3,
        help="convergence threshold on the lower-bound gain (default: 1e-3)",
    )
    parser.add_argument(
        "--reg-covar",
        type=nonnegative_float,
        default=1e-6,
        help="non-negative regularisation added to the covariance diagonal "
        "(default: 1e-6)",
    )
    parser.add_argument(
        "--init-params",
        choices=INIT_PARAMS,
        default="kmeans",
        help="initialisation method (default: kmeans)",
    )
    parser.add_argument(
        "--n-init",
        type=positive_int,
        default=1,
        metavar="N",
        help="number of initialisations of each fit; the best is kept (default: 1)",
    )
    parser.add_argument(
        "--n-jobs",
        type=n_jobs,
        default=None,
        metavar="J",
        help="threads for the compiled kernels (default: Numba's thread count; "
        "-1: all)",
    )
    parser.add_argument(
        "--dtype",
        choices=("auto", "float64", "float32"),
        default="auto",
        help="floating-point type of the data; auto keeps float32 .npy data in "
        "float32 and uses float64 otherwise (default: auto)",
    )


def model_params(args, **leading):
    """Estimator parameters from the options of :func:`add_model_options`.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line.
    **leading
        The command's own parameters (``n_components``, ...), placed first.

    Returns
    -------
    dict
        ``leading``, then ``tol``, ``reg_covar``, ``max_iter``, ``n_init``,
        ``init_params``, ``random_state`` and ``n_jobs``, in that order (the
        order ``fit`` prints them in).
    """
    return {
        **leading,
        "tol": args.tol,
        "reg_covar": args.reg_covar,
        "max_iter": args.max_iter,
        "n_init": args.n_init,
        "init_params": args.init_params,
        "random_state": args.random_state,
        "n_jobs": args.n_jobs,
    }


def add_plot_option(parser, what):
    """Add ``--plot FILE``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
    what : str
        What the picture shows, for the help text.
    """
    parser.add_argument(
        "--plot",
        metavar="FILE",
        default=None,
        help=f"save a picture of {what} to FILE (.png, .svg, .pdf, ...); "
        "needs matplotlib",
    )


def covariance_types(text):
    """Argument type: comma-separated covariance types, or ``all``.

    Parameters
    ----------
    text : str

    Returns
    -------
    list of str
        In the order given, without repeats.
    """
    if text.strip() == "all":
        return list(COVARIANCE_TYPES)
    types = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [t for t in types if t not in COVARIANCE_TYPES]
    if not types or unknown:
        raise argparse.ArgumentTypeError(
            f"invalid covariance type {(unknown or [text])[0]!r}: choose from "
            f"{', '.join(COVARIANCE_TYPES)} (comma-separated) or all"
        )
    return list(dict.fromkeys(types))


def add_covariance_types_option(p, help_text):
    """``-c/--covariance-types``: a comma-separated list, or ``all``."""
    p.add_argument(
        "-c",
        "--covariance-types",
        type=covariance_types,
        default=list(COVARIANCE_TYPES),
        metavar="TYPES",
        help=help_text,
    )
