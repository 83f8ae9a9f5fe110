"""``fastgmm fit``: fit one Gaussian mixture and print (and save) a summary."""

from __future__ import annotations

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
    if args.out is not None:
        check_writable(args.out)
    data = load_data(args.data, dtype=args.dtype)
    params = model_params(
        args,
        n_components=args.n_components,
        covariance_type=args.covariance_type,
    )
    if args.groups is not None:
        return run_groups(args, data, params)
    _check_single_fit(args, data)
    fitted = _fit(data.X, params)
    _print_summary(data, params, fitted)
    gm, X = fitted["model"], data.X
    if args.out is not None:
        save_npz(
            args.out,
            gm,
            covariance_type=args.covariance_type,
            source=data.source,
            n_samples=X.shape[0],
            n_features=X.shape[1],
            **{key: fitted[key] for key in ("sizes", "bic", "aic", "fit_time")},
            kernel_load_time=fitted["load_time"],
        )
        print(f"\nsaved:       {args.out}")
    if args.plot is not None:
        from fastgmm.plot import plot_clusters

        save_plot(args.plot, [lambda ax: plot_clusters(gm, X, ax=ax)])
        print(("" if args.out else "\n") + f"plot:        {args.plot}")
    return 0


def _check_single_fit(args, data):
    """Fail before fitting: a plot of fewer than 2 features, more
    components than rows."""
    n_samples, n_features = data.X.shape
    if args.plot is not None:
        check_plot(args.plot)
        if n_features < 2:
            raise CLIError("--plot needs data with at least 2 features")
    if args.n_components > n_samples:
        raise CLIError(
            f"-k {args.n_components} is more components than the "
            f"{n_samples} samples in {data.source}"
        )


def _fit(X, params):
    """Fit ``GaussianMixture(**params)`` to X, after loading (or compiling)
    its kernels on a few rows so that the fit time is the fit's own.

    Returns a dict: the model, the seconds of loading and of fitting, the
    components' sizes (rows labelled each), BIC and AIC.
    """
    import numpy as np

    from fastgmm import GaussianMixture
    from fastgmm.kernels import announce_compiling

    gm = GaussianMixture(**params)
    announce_compiling()
    t0 = time.perf_counter()
    _warm_up(GaussianMixture, X, params)
    load_time = time.perf_counter() - t0
    with warnings_reported_once():
        t0 = time.perf_counter()
        gm.fit(X)
        fit_time = time.perf_counter() - t0
        labels = gm.predict(X)
        bic, aic = float(gm.bic(X)), float(gm.aic(X))
    sizes = np.bincount(labels, minlength=gm.n_components)
    return {"model": gm, "load_time": load_time, "fit_time": fit_time,
            "sizes": sizes, "bic": bic, "aic": aic}  # fmt: skip


def _print_summary(data, params, fitted):
    """The fit's summary and component table, on the standard output."""
    gm = fitted["model"]
    shown = {k: v for k, v in params.items() if v is not None}
    print(data_lines(data))
    print(
        "model:       GaussianMixture("
        + ", ".join(f"{k}={v!r}" for k, v in shown.items())
        + ")"
    )
    print(f"converged:   {bool(gm.converged_)}")
    print(f"n_iter:      {int(gm.n_iter_)}")
    print(f"lower_bound: {float(gm.lower_bound_):.6f}")
    print(f"BIC:         {fitted['bic']:.4f}")
    print(f"AIC:         {fitted['aic']:.4f}")
    print(f"fit time:    {fitted['fit_time']:.4f} s")
    print(
        f"kernel load: {fitted['load_time']:.4f} s (loading or compiling, "
        "before the fit)"
    )
    print()
    print(component_table(fitted["sizes"], gm.weights_, gm.means_, data.feature_names))


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
