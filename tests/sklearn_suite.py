"""scikit-learn's own mixture tests, run against fastgmm: what is swapped, what
is deselected and why, and the pytest plugin that runs them.

``tests/test_sklearn_suite.py`` copies ``MODULES`` from the installed
scikit-learn's ``sklearn/mixture/tests`` into a temporary directory, with
``from sklearn.mixture import ...`` rewritten to ``from fastgmm import ...``
(``swap_imports``), and runs them in a pytest process of their own with
scikit-learn's ``conftest.py`` (its ``global_dtype`` and
``global_random_seed`` fixtures) and this module as plugins.  Every test of
those modules runs except the ones listed in ``DESELECTED``, so a test that a
new scikit-learn adds runs too.

A test is deselected only when it calls private functions or methods that
fastgmm does not have: scikit-learn's module-level helpers tested on their
own, or private estimator methods fastgmm's EM engine replaces.  Tests that
reach a private name fastgmm also provides with scikit-learn's meaning
(``GaussianMixture._n_parameters``), or that use scikit-learn's private
functions only to build the input of a fastgmm estimator, run.
"""

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import sklearn

import fastgmm

MODULES = ("test_gaussian_mixture.py", "test_bayesian_mixture.py", "test_mixture.py")

# The names scikit-learn's tests take from sklearn.mixture; in the copies they
# must be fastgmm's.
ESTIMATORS = ("GaussianMixture", "BayesianGaussianMixture")

# "module::test function" -> why it is deselected (every parametrisation).
DESELECTED = {
    "test_gaussian_mixture.py::test_suffstat_sk_full": (
        "tests scikit-learn's private _estimate_gaussian_covariances_full and "
        "_compute_precision_cholesky on their own; no estimator is involved"
    ),
    "test_gaussian_mixture.py::test_suffstat_sk_tied": (
        "tests scikit-learn's private _estimate_gaussian_covariances_full, "
        "_estimate_gaussian_covariances_tied and _compute_precision_cholesky on "
        "their own; no estimator is involved"
    ),
    "test_gaussian_mixture.py::test_suffstat_sk_diag": (
        "tests scikit-learn's private _estimate_gaussian_covariances_full, "
        "_estimate_gaussian_covariances_diag and _compute_precision_cholesky on "
        "their own; no estimator is involved"
    ),
    "test_gaussian_mixture.py::test_gaussian_suffstat_sk_spherical": (
        "tests scikit-learn's private _estimate_gaussian_covariances_spherical "
        "and _compute_precision_cholesky on their own; no estimator is involved"
    ),
    "test_gaussian_mixture.py::test_compute_log_det_cholesky": (
        "tests scikit-learn's private _compute_log_det_cholesky and "
        "_compute_precision_cholesky on their own; no estimator is involved"
    ),
    "test_gaussian_mixture.py::test_gaussian_mixture_log_probabilities": (
        "tests scikit-learn's private _estimate_log_gaussian_prob on its own; "
        "no estimator is involved"
    ),
    "test_gaussian_mixture.py::test_gaussian_mixture_precisions_init": (
        "calls the private GaussianMixture._set_parameters with scikit-learn's "
        "tuple of parameters and GaussianMixture._initialize(X, resp), which "
        "fastgmm's EM engine replaces"
    ),
    "test_gaussian_mixture.py::"
    "test_gaussian_mixture_all_init_does_not_estimate_gaussian_parameters": (
        "counts the calls to scikit-learn's private "
        "_estimate_gaussian_parameters by monkeypatching it; fastgmm's M-step "
        "is its own compiled code and never calls it"
    ),
    "test_bayesian_mixture.py::test_log_dirichlet_norm": (
        "tests scikit-learn's private _log_dirichlet_norm on its own; no "
        "estimator is involved"
    ),
    "test_bayesian_mixture.py::test_log_wishart_norm": (
        "tests scikit-learn's private _log_wishart_norm on its own; no estimator "
        "is involved"
    ),
    "test_bayesian_mixture.py::test_compare_covar_type": (
        "calls the private BayesianGaussianMixture._check_parameters and "
        "_initialize_parameters, which fastgmm's EM engine replaces"
    ),
}

_IMPORT = re.compile(r"^(\s*)from sklearn\.mixture import ", re.MULTILINE)
_ATTRIBUTE = re.compile(r"\bsklearn\.mixture\.(%s)\b" % "|".join(ESTIMATORS))


def swap_imports(source: str, name: str) -> str:
    """``source`` of a scikit-learn test module, with fastgmm's estimators.

    ``from sklearn.mixture import ...`` becomes ``from fastgmm import ...``
    and ``sklearn.mixture.GaussianMixture`` (or ``BayesianGaussianMixture``)
    ``fastgmm.GaussianMixture``; every other name (the private helpers of
    ``sklearn.mixture._gaussian_mixture``, the data of
    ``sklearn.mixture.tests``) stays scikit-learn's.

    Raises
    ------
    ValueError
        When ``source`` has no ``from sklearn.mixture import`` at all:
        scikit-learn's tests then import the estimators another way, which
        this function must learn before they can run on fastgmm.
    """
    swapped, n_imports = _IMPORT.subn(r"\1from fastgmm import ", source)
    if n_imports == 0:
        raise ValueError(
            f"{name}: no 'from sklearn.mixture import' to point at fastgmm; "
            "scikit-learn's tests import the estimators another way now, and "
            "swap_imports in tests/sklearn_suite.py must learn it."
        )
    swapped, n_attributes = _ATTRIBUTE.subn(r"fastgmm.\1", swapped)
    if n_attributes:
        swapped = "import fastgmm  # swapped in by tests/sklearn_suite.py\n" + swapped
    return swapped


# ---------------------------------------------------------------------------
# The plugin (loaded with ``-p sklearn_suite`` in the process that runs the
# copies)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--sklearn-suite-report",
        metavar="PATH",
        help="write what ran (counts, deselections, skips) to PATH as JSON",
    )


def pytest_configure(config: pytest.Config) -> None:
    path = config.getoption("--sklearn-suite-report")
    config.pluginmanager.register(_Recorder(path), "sklearn-suite-recorder")


def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Check that the estimators are fastgmm's; deselect ``DESELECTED``."""
    _check_estimators_are_fastgmm(items)
    recorder = config.pluginmanager.get_plugin("sklearn-suite-recorder")
    selected, deselected = [], []
    for item in items:
        key = _key(item)
        if key in DESELECTED:
            deselected.append(item)
            recorder.deselected[key] += 1
        else:
            selected.append(item)
        recorder.modules.add(item.path.name)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected


def _key(item: pytest.Item) -> str:
    name = getattr(item, "originalname", item.name)
    return f"{item.path.name}::{name}"


def _check_estimators_are_fastgmm(items: list[pytest.Item]) -> None:
    modules = {item.module for item in items if getattr(item, "module", None)}
    for module in modules:
        for name in ESTIMATORS:
            estimator = vars(module).get(name)
            if estimator is not None and not estimator.__module__.startswith(
                "fastgmm."
            ):
                raise pytest.UsageError(
                    f"{module.__name__}.{name} is {estimator.__module__}'s, not "
                    "fastgmm's: the imports were not swapped."
                )


class _Recorder:
    """Counts each test's outcome as pytest's summary does, and writes them."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.counts: Counter[str] = Counter()
        self.deselected: Counter[str] = Counter()
        self.skip_reasons: Counter[str] = Counter()
        self.failed: list[str] = []
        self.modules: set[str] = set()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.failed:
            outcome = "failed" if report.when == "call" else "error"
            self.failed.append(report.nodeid)
        elif report.skipped:
            outcome = "xfailed" if hasattr(report, "wasxfail") else "skipped"
            if outcome == "skipped":
                self.skip_reasons[_skip_reason(report)] += 1
        elif report.when == "call":
            outcome = "xpassed" if hasattr(report, "wasxfail") else "passed"
        else:
            return
        self.counts[outcome] += 1

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if not self.path:
            return
        report: dict[str, Any] = {
            "sklearn_version": sklearn.__version__,
            "sklearn_file": sklearn.__file__,
            "fastgmm_file": fastgmm.__file__,
            "exitstatus": int(exitstatus),
            "modules": sorted(self.modules),
            "counts": {**self.counts, "deselected": sum(self.deselected.values())},
            "deselected": dict(self.deselected),
            "skip_reasons": dict(self.skip_reasons),
            "failed": self.failed,
        }
        Path(self.path).write_text(json.dumps(report, indent=1))


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)
