"""The performance gate's reading of asv's tables and of the history."""

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import perf_gate  # noqa: E402

TABLE = """\
| Change   | Before [bc194bc6] <main~1>   | After [9f6ad88c] <main>   |   Ratio | Benchmark (Parameter)                                  |
|----------|------------------------------|---------------------------|---------|--------------------------------------------------------|
| +        | 3.22±0.07ms                  | 4.76±0.2ms                |    1.48 | bench_predict.Score.time_predict('spherical')          |
| +        | 6.22±0.1ms                   | 8.10±1ms                  |    1.30 | bench_fit.FitEM.time_fit('tied', 'float32')            |
|          | 3.77±0.4ms                   | 3.80±0.6ms                |    1.01 | bench_predict.Score.time_predict('diag')               |
| -        | 17.4±4ms                     | 13.2±0.1ms                |    0.76 | bench_fit.FitEM.time_fit('full', 'float64')            |
| x        | failed                       | 13.2±0.1ms                |     n/a | bench_fit.FitEM.time_fit('diag', 'float64')            |
"""  # noqa: E501


def test_slower_benchmarks_are_the_rows_marked_plus():
    assert perf_gate.slower_benchmarks(TABLE) == {
        "bench_predict.Score.time_predict('spherical')",
        "bench_fit.FitEM.time_fit('tied', 'float32')",
    }
    assert perf_gate.slower_benchmarks("") == set()


def _has_history():
    try:
        perf_gate.git("rev-parse", "HEAD~1")
    except (OSError, subprocess.CalledProcessError):
        return False
    return True


@pytest.mark.skipif(not _has_history(), reason="needs the git history")
def test_base_is_recorded_and_runs_other_code():
    assert perf_gate.same_package("HEAD", "HEAD")
    base = perf_gate.newest_recorded_ancestor()
    if base is None:
        pytest.skip("no recorded ancestor with other package code")
    assert base in perf_gate.recorded_commits()
    assert not perf_gate.same_package(base, "HEAD")
    # No newer recorded ancestor runs other code than HEAD.
    for commit in perf_gate.git("rev-list", f"{base}..HEAD~1").splitlines():
        assert commit not in perf_gate.recorded_commits() or perf_gate.same_package(
            commit, "HEAD"
        )
