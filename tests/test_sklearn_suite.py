"""scikit-learn's own mixture tests, from the installed scikit-learn, on fastgmm.

The test modules of ``sklearn/mixture/tests`` run with their imports swapped
to fastgmm's estimators, every test but those ``tests/sklearn_suite.py``
deselects (each with its reason), in a pytest process of their own.  Their
counts are printed at the end of the run.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sklearn
import sklearn_suite
from conftest import SKLEARN_SUITE_SUMMARY
from sklearn_suite import DESELECTED, MODULES, swap_imports

import fastgmm

# Generous: about a minute and a half on a 2-core machine with the kernels
# compiled, several minutes more when the run compiles them.
TIMEOUT_S = 3600


def _sklearn_test_files():
    """scikit-learn's conftest.py and its mixture test modules."""
    root = Path(sklearn.__file__).parent
    files = [root / "conftest.py", *(root / "mixture" / "tests" / m for m in MODULES)]
    missing = [str(path) for path in files if not path.is_file()]
    if missing:
        pytest.fail(
            f"scikit-learn {sklearn.__version__} is installed without its tests "
            f"(missing: {', '.join(missing)}); install it from a wheel, as the "
            "test extra does."
        )
    return files[1:]


def _text(output):
    """Captured output as text (a timeout leaves it as bytes)."""
    if isinstance(output, bytes):
        return output.decode(errors="replace")
    return output or ""


def _tail(text, n_lines=200):
    lines = text.splitlines()
    return "\n".join(lines[-n_lines:])


def test_sklearn_mixture_tests_pass_on_fastgmm(tmp_path, request):
    for path in _sklearn_test_files():
        (tmp_path / path.name).write_text(swap_imports(path.read_text(), path.name))
    shutil.copy(sklearn_suite.__file__, tmp_path / "sklearn_suite.py")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    report_path = tmp_path / "report.json"
    # This fastgmm (first on the path), the plugin beside the tests (named
    # on the path: `python -m` does not add the working directory under
    # PYTHONSAFEPATH), scikit-learn's float32 tests on.
    env = {key: value for key, value in os.environ.items() if key != "PYTEST_ADDOPTS"}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(fastgmm.__file__).parent.parent), str(tmp_path)]
        + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    )
    env["SKLEARN_RUN_FLOAT32_TESTS"] = "1"
    command = [
        sys.executable, "-m", "pytest", *MODULES,
        "-c", "pytest.ini", "--rootdir", str(tmp_path),
        "-p", "sklearn.conftest", "-p", "sklearn_suite", "-p", "no:cacheprovider",
        f"--sklearn-suite-report={report_path}", "-q", "-rfE",
    ]  # fmt: skip
    try:
        run = subprocess.run(
            command, cwd=tmp_path, env=env, capture_output=True, text=True,
            timeout=TIMEOUT_S,
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        output = "".join(_text(part) for part in (exc.stdout, exc.stderr))
        pytest.fail(
            f"scikit-learn's mixture tests did not finish in {TIMEOUT_S} s:\n"
            + _tail(output)
        )
    output = run.stdout + run.stderr
    if not report_path.is_file():
        pytest.fail(
            f"scikit-learn's mixture tests stopped (exit status {run.returncode}) "
            "before reporting:\n" + _tail(output)
        )
    report = json.loads(report_path.read_text())
    lines = _summary(report)
    request.config.stash[SKLEARN_SUITE_SUMMARY] = lines
    print("\n".join(lines))
    assert run.returncode == 0, (
        "scikit-learn's mixture tests failed on fastgmm:\n" + _tail(output)
    )
    assert report["fastgmm_file"] == fastgmm.__file__, "another fastgmm was tested"
    assert report["modules"] == sorted(MODULES)
    assert report["counts"].get("passed", 0) > 0


def _summary(report):
    """The lines printed at the end of the run: counts, deselections, skips."""
    counts = report["counts"]
    order = ("passed", "failed", "error", "deselected", "skipped", "xfailed")
    order += tuple(sorted(set(counts) - set(order)))
    lines = [
        f"scikit-learn {report['sklearn_version']} ({', '.join(MODULES)}): "
        + ", ".join(f"{counts[key]} {key}" for key in order if counts.get(key))
    ]
    lines.append("deselected (they call private functions or methods):")
    for key, reason in DESELECTED.items():
        n_items = report["deselected"].get(key, 0)
        if n_items:
            found = f"{n_items} item{'s' if n_items > 1 else ''}"
        else:
            found = f"not in scikit-learn {report['sklearn_version']}"
        lines.append(f"  {key} [{found}]: {reason}")
    if report["skip_reasons"]:
        lines.append("skipped by scikit-learn's own conditions:")
        for reason, n_items in sorted(report["skip_reasons"].items()):
            lines.append(f"  {n_items} x {reason}")
    for nodeid in report["failed"]:
        lines.append(f"FAILED {nodeid}")
    return lines
