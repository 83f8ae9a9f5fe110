"""``fastgmm fit``: fit one Gaussian mixture and print (and save) a summary."""

from __future__ import annotations

import sys
import time

from fastgmm.cli.data import load_data
from fastgmm.cli.groups import add_groups_option, run_groups
from fastgmm.cli.messages import CLIError, warnings_reported_once
from fastgmm.cli.options import (
    add_data_argument,
    add_model_options,
    add_plot_option,
    model_params,
    positive_int,
)
from fastgmm.cli.report import (
    check_plot,
    check_writable,
    component_table,
    data_lines,
    save_npz,
    save_plot,
)
from fastgmm.kernels import COVARIANCE_TYPES

HELP = "fit a Gaussian mixture to a data file (or to iris)"
DESCRIPTION = (
    "Fit a Gaussian mixture model by EM and print a summary. DATA is a "
    ".csv file (numbers, optionally with a header row) or a .npy file "
    "holding a 2-D array of shape (n_samples, n_features). Without "
    "DATA the iris data set bundled with scikit-learn is used."
)


def add_arguments(p):
    """Add ``fit``'s arguments to its sub-parser ``p``."""
    add_data_argument(p)
    p.add_argument(
        "-k",
        "--n-components",
        type=positive_int,
        default=3,
        metavar="K",
        help="number of mixture components (default: 3)",
    )
    p.add_argument(
        "-c",
        "--covariance-type",
        choices=COVARIANCE_TYPES,
        default="full",
        help="covariance parametrisation (default: full)",
    )
    add_model_options(p)
    p.add_argument(
        "-o",
        "--out",
        metavar="FILE",
        default=None,
        help=(
            "save the fitted parameters and the fit summary to FILE (.npz); "
            "with --groups, the per-group table (.csv)"
        ),
    )
    add_plot_option(p, "the clusters (data coloured by component, means, ellipses)")
    add_groups_option(p)


def run(args):
    """Fit one mixture as ``args`` asks; print the summary, save, plot.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed by the ``fit`` sub-parser.

    Returns
    -------
    int
        0: every problem is raised as a CLIError (with the output files and
        the data checked before fitting).
    """
    import numpy as np

    if args.out is not None:
        check_writable(args.out)
    data = load_data(args.data, dtype=args.dtype)
    if args.groups is not None:
        params = model_params(
            args,
            n_components=args.n_components,
            covariance_type=args.covariance_type,
        )
        return run_groups(args, data, params)
    X = data.X
    n_samples, n_features = X.shape
    if args.plot is not None:
        check_plot(args.plot)
        if n_features < 2:
            raise CLIError("--plot needs data with at least 2 features")
    if args.n_components > n_samples:
        raise CLIError(
            f"-k {args.n_components} is more components than the "
            f"{n_samples} samples in {data.source}"
        )

    from fastgmm import GaussianMixture
    from fastgmm.kernels import announce_compiling

    params = model_params(
        args,
        n_components=args.n_components,
        covariance_type=args.covariance_type,
    )
    gm = GaussianMixture(**params)

    # Load the compiled kernels (or compile them, the first time) on a few
    # rows, so that the reported fit time is the fit's own.
    announce_compiling()
    t0 = time.perf_counter()
    _warm_up(GaussianMixture, X, params)
    load_time = time.perf_counter() - t0

    with warnings_reported_once():
        t0 = time.perf_counter()
        gm.fit(X)
        fit_time = time.perf_counter() - t0
        labels = gm.predict(X)
        bic = float(gm.bic(X))
        aic = float(gm.aic(X))

    sizes = np.bincount(labels, minlength=args.n_components)

    out = sys.stdout
    shown = {k: v for k, v in params.items() if v is not None}
    print(data_lines(data), file=out)
    print(
        "model:       GaussianMixture("
        + ", ".join(f"{k}={v!r}" for k, v in shown.items())
        + ")",
        file=out,
    )
    print(f"converged:   {bool(gm.converged_)}", file=out)
    print(f"n_iter:      {int(gm.n_iter_)}", file=out)
    print(f"lower_bound: {float(gm.lower_bound_):.6f}", file=out)
    print(f"BIC:         {bic:.4f}", file=out)
    print(f"AIC:         {aic:.4f}", file=out)
    print(f"fit time:    {fit_time:.4f} s", file=out)
    print(
        f"kernel load: {load_time:.4f} s (loading or compiling, before the fit)",
        file=out,
    )
    print(file=out)
    print(component_table(sizes, gm.weights_, gm.means_, data.feature_names), file=out)

    if args.out is not None:
        save_npz(
            args.out,
            gm,
            covariance_type=args.covariance_type,
            source=data.source,
            n_samples=n_samples,
            n_features=n_features,
            sizes=sizes,
            bic=bic,
            aic=aic,
            fit_time=fit_time,
            kernel_load_time=load_time,
        )
        print(f"\nsaved:       {args.out}", file=out)
    if args.plot is not None:
        from fastgmm.plot import plot_clusters

        save_plot(args.plot, [lambda ax: plot_clusters(gm, X, ax=ax)])
        print(("" if args.out else "\n") + f"plot:        {args.plot}", file=out)
    return 0


def _warm_up(GaussianMixture, X, params):
    """One cheap fit on a few rows with the same dtype and covariance type."""
    import warnings

    k = params["n_components"]
    rows = X[: min(X.shape[0], max(4 * k, 50))]
    warm = dict(params, max_iter=1, n_init=1, random_state=0)
    warm["reg_covar"] = max(warm["reg_covar"], 1e-6)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            GaussianMixture(**warm).fit(rows).predict(rows[:1])
    except ValueError:
        pass  # a degenerate slice; the real fit reports real problems
