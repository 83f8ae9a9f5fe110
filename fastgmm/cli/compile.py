"""``fastgmm compile``: compile every kernel into Numba's cache ahead of use."""

from __future__ import annotations

import os
import sys

from fastgmm.cli.options import add_covariance_types_option, positive_int

DTYPES = ("float64", "float32")


HELP = "compile every kernel into the cache (for images and cluster nodes)"
DESCRIPTION = (
    "Compile the kernels of every fit, prediction and score, for every "
    "covariance type and dtype asked for, into Numba's cache, so that "
    "later processes load them instead of compiling. Run it once where "
    "fastgmm is installed (an image build, a new cluster node); it "
    "prints one line per covariance type and dtype."
)


def add_arguments(p):
    """Add ``compile``'s arguments to its sub-parser ``p``."""
    add_covariance_types_option(p, "comma-separated covariance types (default: all)")
    p.add_argument(
        "--dtype",
        choices=("all", *DTYPES),
        default="all",
        help="data types to compile for (default: all)",
    )
    p.add_argument(
        "--jobs",
        "-j",
        type=positive_int,
        default=os.cpu_count() or 1,
        help=(
            "processes compiling at once, one dtype each "
            "(default: the number of CPUs, at most the number of dtypes)"
        ),
    )


def run(args):
    """Compile the kernels ``args`` asks for, one progress line per group.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed by the ``compile`` sub-parser.

    Returns
    -------
    int
        0, the exit status.
    """
    from fastgmm._precompile import compile_kernels
    from fastgmm.kernels import cache_directory

    dtypes = DTYPES if args.dtype == "all" else (args.dtype,)
    out = sys.stdout
    print(f"cache:       {cache_directory()}", file=out, flush=True)

    def progress(line):
        print(f"compiled:    {line}", file=out, flush=True)

    seconds = compile_kernels(
        dtypes, args.covariance_types, progress=progress, jobs=args.jobs
    )
    print(f"total:       {seconds:.1f} s", file=out)
    return 0
