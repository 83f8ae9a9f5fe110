"""Command-line interface: ``fastgmm fit`` (and room for more subcommands).

The module keeps its imports light: NumPy and the compiled estimator are
imported inside the command functions, so ``fastgmm --help`` and argument
errors do not pay for them.

Adding a subcommand takes one function that registers a sub-parser and sets
``func`` to the function that runs the command, plus one line in
``_SUBCOMMANDS``::

    def _add_select(subparsers):
        p = subparsers.add_parser("select", help="...")
        p.add_argument(...)
        p.set_defaults(func=_run_select)

A command function takes the parsed namespace and returns an exit status.
It reports a user-facing problem by raising :class:`CLIError`; ``main``
turns that (and any ``ValueError`` raised by the estimator) into one
``fastgmm: error: ...`` line on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

PROG = "fastgmm"

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data")

# Widest means table printed before columns are elided.
_MAX_TABLE_FEATURES = 8


class CLIError(Exception):
    """A problem reported to the user as one ``fastgmm: error:`` line."""


# --------------------------------------------------------------------------
# parser


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _nonnegative_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number: {text!r}") from None
    if not value >= 0.0:  # also rejects nan
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _n_jobs(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid integer: {text!r}") from None
    if value == 0:
        raise argparse.ArgumentTypeError("must be a non-zero integer (-1: all cores)")
    return value


def _add_model_options(p):
    """Options passed to every GaussianMixture that a subcommand fits."""
    p.add_argument(
        "--random-state",
        type=int,
        default=None,
        metavar="S",
        help="seed for the initialisations (default: none, i.e. not reproducible)",
    )
    p.add_argument(
        "--max-iter",
        type=_positive_int,
        default=100,
        metavar="N",
        help="maximum number of EM iterations per initialisation (default: 100)",
    )
    p.add_argument(
        "--tol",
        type=_nonnegative_float,
        default=1e-3,
        help="convergence threshold on the lower-bound gain (default: 1e-3)",
    )
    p.add_argument(
        "--reg-covar",
        type=_nonnegative_float,
        default=1e-6,
        help="non-negative regularisation added to the covariance diagonal "
        "(default: 1e-6)",
    )
    p.add_argument(
        "--init-params",
        choices=INIT_PARAMS,
        default="kmeans",
        help="initialisation method (default: kmeans)",
    )
    p.add_argument(
        "--n-init",
        type=_positive_int,
        default=1,
        metavar="N",
        help="number of initialisations of each fit; the best is kept (default: 1)",
    )
    p.add_argument(
        "--n-jobs",
        type=_n_jobs,
        default=None,
        metavar="J",
        help="threads for the compiled kernels (default: Numba's thread count; "
        "-1: all)",
    )
    p.add_argument(
        "--dtype",
        choices=("auto", "float64", "float32"),
        default="auto",
        help="floating-point type of the data; auto keeps float32 .npy data in "
        "float32 and uses float64 otherwise (default: auto)",
    )


def _add_fit(subparsers):
    p = subparsers.add_parser(
        "fit",
        help="fit a Gaussian mixture to a data file (or to iris)",
        description=(
            "Fit a Gaussian mixture model by EM and print a summary. DATA is a "
            ".csv file (numbers, optionally with a header row) or a .npy file "
            "holding a 2-D array of shape (n_samples, n_features). Without "
            "DATA the iris data set bundled with scikit-learn is used."
        ),
    )
    p.add_argument("data", nargs="?", metavar="DATA", help=".csv or .npy file")
    p.add_argument(
        "-k",
        "--n-components",
        type=_positive_int,
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
    _add_model_options(p)
    p.add_argument(
        "-o",
        "--out",
        metavar="FILE",
        default=None,
        help="save the fitted parameters and the fit summary to FILE (.npz)",
    )
    _add_plot_option(p, "the clusters (data coloured by component, means, ellipses)")
    p.set_defaults(func=_run_fit)


def _k_values(text):
    """Parse ``1..10``, ``2,3,5`` or both (``1..4,8``) into sorted integers."""
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


def _covariance_types(text):
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


def _add_plot_option(p, what):
    p.add_argument(
        "--plot",
        metavar="FILE",
        default=None,
        help=f"save a picture of {what} to FILE (.png, .svg, .pdf, ...); "
        "needs matplotlib",
    )


def _add_select(subparsers):
    p = subparsers.add_parser(
        "select",
        help="choose the number of components and the covariance type by BIC or AIC",
        description=(
            "Fit a Gaussian mixture for every number of components and "
            "covariance type asked for, print the information criterion of "
            "each (rows: number of components, columns: covariance types; * "
            "marks the lowest) and the model chosen. DATA is a .csv or .npy "
            "file as for 'fit'; without DATA the iris data set is used."
        ),
    )
    p.add_argument("data", nargs="?", metavar="DATA", help=".csv or .npy file")
    p.add_argument(
        "-k",
        "--k",
        "--n-components",
        dest="n_components",
        type=_k_values,
        default=list(range(1, 11)),
        metavar="K",
        help="numbers of components to try: a range such as 1..10, a list "
        "such as 2,3,5, or both (default: 1..10)",
    )
    p.add_argument(
        "-c",
        "--covariance-types",
        type=_covariance_types,
        default=list(COVARIANCE_TYPES),
        metavar="TYPES",
        help="comma-separated covariance types to try, e.g. full,diag "
        "(default: all, i.e. full,tied,diag,spherical)",
    )
    p.add_argument(
        "--criterion",
        choices=("bic", "aic"),
        default="bic",
        help="information criterion; lower is better (default: bic)",
    )
    _add_model_options(p)
    _add_plot_option(p, "the criterion curves and the chosen model's clusters")
    p.set_defaults(func=_run_select)


# One entry per subcommand, in the order shown by --help.
_SUBCOMMANDS = (_add_fit, _add_select)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Gaussian mixture models fitted by EM with compiled kernels; "
            "scikit-learn's GaussianMixture, faster."
        ),
    )
    parser.add_argument("--version", action="version", version=_version())
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for add in _SUBCOMMANDS:
        add(subparsers)
    return parser


def _version():
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"{PROG} {version(PROG)}"
    except PackageNotFoundError:  # running from a source tree
        package = sys.modules.get("fastgmm")
        return f"{PROG} {getattr(package, '__version__', '(version unknown)')}"


# --------------------------------------------------------------------------
# entry point


def main(argv=None) -> int:
    """Run the command line ``fastgmm ARGS``; return the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return _exit_code(exc.code)
    try:
        return int(args.func(args) or 0)
    except CLIError as exc:
        _error(str(exc))
        return 1
    except ValueError as exc:  # parameter validation inside the estimator
        _error(str(exc))
        return 1
    except MemoryError:
        _error("out of memory")
        return 1
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except BrokenPipeError:  # e.g. `fastgmm fit | head`
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 1


def _exit_code(code):
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    return 1


def _error(message):
    # One line, whatever the exception text looked like.
    text = " ".join(str(message).split()) or "unknown error"
    print(f"{PROG}: error: {text}", file=sys.stderr)


def _warn(message):
    text = " ".join(str(message).split())
    print(f"{PROG}: warning: {text}", file=sys.stderr)


# --------------------------------------------------------------------------
# data loading


class Dataset:
    """Loaded data: the array plus what the summary needs to describe it."""

    def __init__(self, X, source, feature_names):
        self.X = X
        self.source = source
        self.feature_names = feature_names


def load_data(path, dtype="auto"):
    """Load ``path`` (.csv or .npy), or iris when ``path`` is None.

    Raises :class:`CLIError` with a one-line message on any problem.
    """
    import numpy as np

    if path is None:
        from sklearn.datasets import load_iris

        iris = load_iris()
        X = np.asarray(iris.data, dtype=np.float64)
        names = [str(n) for n in iris.feature_names]
        data = Dataset(X, "iris (bundled with scikit-learn)", names)
    else:
        if not os.path.exists(path):
            raise CLIError(f"{path}: no such file")
        if os.path.isdir(path):
            raise CLIError(f"{path}: is a directory, expected a .csv or .npy file")
        ext = os.path.splitext(path)[1].lower()
        if ext == ".npy":
            X, names = _load_npy(path)
        elif ext == ".csv":
            X, names = _load_csv(path)
        else:
            raise CLIError(
                f"{path}: unsupported file type {ext or '(no extension)'!r}; "
                "expected .csv or .npy"
            )
        data = Dataset(X, path, names)

    data.X = _check_array(data.X, data.source, dtype)
    if data.feature_names is None or len(data.feature_names) != data.X.shape[1]:
        data.feature_names = [f"x{j}" for j in range(data.X.shape[1])]
    return data


def _load_npy(path):
    import numpy as np

    try:
        X = np.load(path, allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc):
            raise CLIError(
                f"{path}: not a plain .npy array (it holds pickled objects, "
                "which are never loaded)"
            ) from None
        raise CLIError(f"{path}: not a readable .npy file ({_brief(exc)})") from None
    except (OSError, EOFError) as exc:
        raise CLIError(f"{path}: cannot read .npy file ({_os_brief(exc)})") from None
    if not isinstance(X, np.ndarray):
        raise CLIError(f"{path}: not a .npy array file")
    if X.dtype.names is not None:
        raise CLIError(
            f"{path}: structured arrays are not supported; "
            "save a plain 2-D numeric array"
        )
    if X.dtype.kind not in "biuf":
        raise CLIError(f"{path}: expected a numeric array, got dtype {X.dtype}")
    return X, None


def _load_csv(path):
    import csv

    import numpy as np

    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            text = f.read()
    except UnicodeDecodeError:
        raise CLIError(f"{path}: not a text file (cannot decode as UTF-8)") from None
    except OSError as exc:
        raise CLIError(f"{path}: cannot read ({_os_brief(exc)})") from None
    if "\x00" in text:
        raise CLIError(f"{path}: not a text file (contains NUL bytes)")

    lines = text.splitlines()
    # Index of the first non-blank line: it is either the header or data.
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        raise CLIError(f"{path}: file is empty")
    try:
        first_fields = next(csv.reader([lines[first]]))
    except csv.Error as exc:
        raise CLIError(f"{path}: line {first + 1}: {_brief(exc)}") from None
    first_fields = [field.strip() for field in first_fields]

    names = None
    skip = first
    if not _all_floats(first_fields):
        names = first_fields
        skip = first + 1

    body = [line for line in lines[skip:] if line.strip()]
    if not body:
        raise CLIError(f"{path}: no data rows (only a header line)")
    try:
        X = np.loadtxt(
            body,
            delimiter=",",
            dtype=np.float64,
            ndmin=2,
            quotechar='"',
        )
    except ValueError as exc:
        n_expected = len(names) if names is not None else None
        where = _locate_csv_problem(lines, skip, n_expected) or _brief(exc)
        raise CLIError(f"{path}: {where}") from None
    if names is not None and len(names) != X.shape[1]:
        raise CLIError(
            f"{path}: header has {len(names)} fields but the data rows have "
            f"{X.shape[1]}"
        )
    return X, names


def _all_floats(fields):
    if not fields:
        return False
    for field in fields:
        try:
            float(field)
        except ValueError:
            return False
    return True


def _locate_csv_problem(lines, skip, n_expected):
    """Find the first malformed data line; return a message or None.

    Only used after the fast parser failed, to name the line and column.
    """
    import csv

    for i in range(skip, len(lines)):
        if not lines[i].strip():
            continue
        try:
            fields = next(csv.reader([lines[i]]))
        except csv.Error as exc:
            return f"line {i + 1}: {_brief(exc)}"
        if n_expected is None:
            n_expected = len(fields)
        if len(fields) != n_expected:
            return f"line {i + 1} has {len(fields)} fields, expected {n_expected}"
        for j, field in enumerate(fields):
            try:
                float(field)
            except ValueError:
                if not field.strip():
                    return (
                        f"line {i + 1}, column {j + 1}: empty field (missing "
                        "values are not supported)"
                    )
                return (
                    f"line {i + 1}, column {j + 1}: cannot parse "
                    f"{field.strip()!r} as a number"
                )
    return None


def _check_array(X, source, dtype):
    import numpy as np

    X = np.asarray(X)
    if X.ndim != 2:
        raise CLIError(
            f"{source}: expected a 2-D array (n_samples, n_features), got "
            f"{X.ndim}-D with shape {X.shape}"
        )
    n_samples, n_features = X.shape
    if n_features == 0:
        raise CLIError(f"{source}: the data has no columns")
    if dtype == "float32" or (dtype == "auto" and X.dtype == np.float32):
        X = np.ascontiguousarray(X, dtype=np.float32)
    else:
        X = np.ascontiguousarray(X, dtype=np.float64)
    if not np.isfinite(X).all():
        bad = np.argwhere(~np.isfinite(X))[0]
        what = "NaN" if np.isnan(X[bad[0], bad[1]]) else "infinite value"
        raise CLIError(
            f"{source}: data contains NaN or infinite values (first: {what} in "
            f"sample {bad[0]}, feature {bad[1]}); missing values are not supported"
        )
    if n_samples < 2:
        raise CLIError(
            f"{source}: need at least 2 samples to fit a mixture, got {n_samples}"
        )
    return X


def _os_brief(exc):
    return getattr(exc, "strerror", None) or _brief(exc)


def _brief(exc):
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


# --------------------------------------------------------------------------
# fit


def _run_fit(args):
    import warnings

    import numpy as np

    if args.out is not None:
        _check_writable(args.out)
    data = load_data(args.data, dtype=args.dtype)
    X = data.X
    n_samples, n_features = X.shape
    if args.plot is not None:
        _check_plot(args.plot)
        if n_features < 2:
            raise CLIError("--plot needs data with at least 2 features")
    if args.n_components > n_samples:
        raise CLIError(
            f"-k {args.n_components} is more components than the "
            f"{n_samples} samples in {data.source}"
        )

    from fastgmm import GaussianMixture

    params = {
        "n_components": args.n_components,
        "covariance_type": args.covariance_type,
        "tol": args.tol,
        "reg_covar": args.reg_covar,
        "max_iter": args.max_iter,
        "n_init": args.n_init,
        "init_params": args.init_params,
        "random_state": args.random_state,
        "n_jobs": args.n_jobs,
    }
    gm = GaussianMixture(**params)

    # Load the compiled kernels (or compile them, the first time) on a few
    # rows, so that the reported fit time is the fit's own.
    t0 = time.perf_counter()
    _warm_up(GaussianMixture, X, params)
    load_time = time.perf_counter() - t0

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t0 = time.perf_counter()
        gm.fit(X)
        fit_time = time.perf_counter() - t0
        labels = gm.predict(X)
        bic = float(gm.bic(X))
        aic = float(gm.aic(X))
    seen = set()
    for w in caught:
        text = " ".join(str(w.message).split())
        if text not in seen:
            seen.add(text)
            _warn(text)

    sizes = np.bincount(labels, minlength=args.n_components)

    out = sys.stdout
    shown = {k: v for k, v in params.items() if v is not None}
    print(f"data:        {data.source}", file=out)
    print(
        f"shape:       {n_samples} samples x {n_features} features ({X.dtype})",
        file=out,
    )
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
    print(_component_table(sizes, gm.weights_, gm.means_, data.feature_names), file=out)

    if args.out is not None:
        _save_npz(
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

        _save_plot(args.plot, [lambda ax: plot_clusters(gm, X, ax=ax)])
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


def _component_table(sizes, weights, means, feature_names):
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


def _save_npz(path, gm, **summary):
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
    try:
        # Write to exactly the given name (np.savez on a path appends .npz).
        with open(path, "wb") as f:
            np.savez(f, **arrays)
    except OSError as exc:
        raise CLIError(f"{path}: cannot write ({_os_brief(exc)})") from None


def _check_writable(path):
    """Fail before fitting rather than after when --out cannot be written."""
    parent = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise CLIError(f"{path}: is a directory; --out needs a file name")
    if not os.path.isdir(parent):
        raise CLIError(f"{path}: cannot write (directory {parent} does not exist)")
    if not os.access(parent, os.W_OK):
        raise CLIError(f"{path}: cannot write (directory {parent} is not writable)")


# --------------------------------------------------------------------------
# select (running)


def _run_select(args):
    import warnings

    if args.plot is not None:
        _check_plot(args.plot)
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

    params = {
        "n_components": args.n_components,
        "covariance_type": args.covariance_types,
        "criterion": args.criterion,
        "tol": args.tol,
        "reg_covar": args.reg_covar,
        "max_iter": args.max_iter,
        "n_init": args.n_init,
        "init_params": args.init_params,
        "random_state": args.random_state,
        "n_jobs": args.n_jobs,
    }
    selector = GaussianMixtureIC(**params)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t0 = time.perf_counter()
        selector.fit(X)
        total_time = time.perf_counter() - t0
    seen = set()
    for w in caught:
        text = " ".join(str(w.message).split())
        # Fits that did not converge are marked in the table instead.
        if text.startswith("Best performing initialization did not converge"):
            continue
        if text not in seen:
            seen.add(text)
            _warn(text)

    results = selector.results_
    n_fits = len(results["n_components"])
    not_converged = n_fits - int(sum(results["converged"]))
    name = args.criterion.upper()
    out = sys.stdout
    print(f"data:        {data.source}", file=out)
    print(
        f"shape:       {n_samples} samples x {n_features} features ({X.dtype})",
        file=out,
    )
    print(f"criterion:   {name} (lower is better)", file=out)
    print(file=out)
    print(_criterion_table(selector), file=out)
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

    if args.plot is not None:
        from fastgmm.plot import plot_clusters, plot_criterion

        draws = [lambda ax: plot_criterion(selector, ax=ax)]
        if n_features >= 2:
            draws.append(lambda ax: plot_clusters(selector, X, ax=ax))
        _save_plot(args.plot, draws)
        print(f"plot:        {args.plot}", file=out)
    return 0


def _format_k(values):
    values = sorted(values)
    if len(values) > 2 and values == list(range(values[0], values[-1] + 1)):
        return f"{values[0]}..{values[-1]}"
    return ",".join(str(v) for v in values)


def _criterion_table(selector):
    """Rows: n_components; columns: covariance types; * marks the best."""
    import math

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


# --------------------------------------------------------------------------
# plots


def _check_plot(path):
    """Fail before fitting when --plot cannot be drawn or written."""
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
    _check_writable(path)


def _save_plot(path, draws):
    """Draw one panel per function of ``draws`` and save the figure to path.

    The figure is drawn without pyplot, so no backend is selected and no
    window opens: the file type picks the renderer (Agg for .png).
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4 * len(draws), 5.2), layout="constrained")
    for draw, ax in zip(draws, fig.subplots(1, len(draws), squeeze=False)[0]):
        draw(ax)
    try:
        fig.savefig(path, dpi=100)
    except OSError as exc:
        raise CLIError(f"{path}: cannot write ({_os_brief(exc)})") from None


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
