"""Command-line interface: ``fastgmm fit``, ``select``, ``predict``, ``compile``.

Modules:

- ``entry_point``: the top-level parser (:func:`build_parser`) and
  :func:`main`, the ``fastgmm`` script;
- ``fit``, ``select``, ``predict``, ``compile``: one module per command;
- ``groups``: ``fit --groups``, one mixture per group;
- ``options``: argument types and the options the commands share;
- ``data``: loading the data (.csv, .npy, Parquet or iris);
- ``parquet``: Parquet files and directories, through pyarrow;
- ``chunks``: ``predict``'s data a chunk of rows at a time;
- ``report``: the summary lines, tables, the .npz file and plots;
- ``messages``: :class:`CLIError` and the one-line errors and warnings.

A command is a module named as the command, with ``HELP`` and
``DESCRIPTION`` (its lines in ``--help``), ``add_arguments(parser)``, which
adds its arguments to its sub-parser, and ``run(args)``, which takes the
parsed namespace and returns an exit status; it is listed in
``entry_point.COMMANDS``. A command reports a user-facing problem by raising
:class:`CLIError`; :func:`main` turns that (and any ``ValueError`` raised by
the estimator) into one ``fastgmm: error: ...`` line on stderr and exit
status 1.

Imports stay light: NumPy and the compiled estimator are imported inside the
``run`` functions, so ``fastgmm --help`` and argument errors do not pay for
them.
"""

from fastgmm.cli.data import Dataset, load_data
from fastgmm.cli.entry_point import build_parser, main
from fastgmm.cli.messages import PROG, CLIError
from fastgmm.cli.options import INIT_PARAMS
from fastgmm.kernels import COVARIANCE_TYPES

__all__ = [
    "COVARIANCE_TYPES",
    "INIT_PARAMS",
    "PROG",
    "CLIError",
    "Dataset",
    "build_parser",
    "load_data",
    "main",
]
