"""The performance gate: HEAD against the newest commit with recorded results.

Run from the repository root (CI runs it from ``.ci/run``)::

    python benchmarks/perf_gate.py                 # base: newest recorded commit
    python benchmarks/perf_gate.py --base HEAD     # calibration: HEAD against itself

It finds the newest ancestor of HEAD whose results are recorded in
``benchmarks/results/<machine>/`` (the performance history) and whose
package differs from HEAD's (an ancestor with HEAD's code, such as the commit
whose results HEAD records, could only measure noise), then runs
``asv continuous`` on the gate's benchmarks (``gate_subset.txt``): asv builds
both commits, runs their benchmarks in interleaved rounds in one session,
prints its comparison table, and reports the benchmarks that got slower by
more than ``--factor``.  Those are run again, both commits, in a second
session; the gate fails only for a benchmark that got slower in both, so that
one noisy round on a shared machine does not fail it.  The results of the
runs go to a temporary directory: the recorded history is left as it is.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
MACHINE = "ci-2core"
# What asv builds and installs: commits that agree on these run the same code.
PACKAGE_PATHS = (":/fastgmm", ":/pyproject.toml")
# Calibrated: see CONTRIBUTING, "The performance gate".
FACTOR = 1.3


def git(*args):
    return subprocess.run(
        ["git", *args], cwd=HERE, check=True, capture_output=True, text=True
    ).stdout.strip()


def recorded_commits():
    """Commit hashes with results in the history, for any file of the machine."""
    commits = set()
    for path in (HERE / "results" / MACHINE).glob("*.json"):
        if path.name == "machine.json":
            continue
        with open(path) as f:
            commit = json.load(f).get("commit_hash")
        if commit:
            commits.add(commit)
    return commits


def same_package(commit, other):
    """Whether two commits have the same package sources."""
    return not git("diff", "--name-only", commit, other, "--", *PACKAGE_PATHS)


def newest_recorded_ancestor():
    """The newest commit of HEAD's history with results and other code."""
    recorded = recorded_commits()
    for commit in git("rev-list", "HEAD~1").splitlines():
        if commit in recorded and not same_package(commit, "HEAD"):
            return commit
    return None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", help="commit to compare against")
    parser.add_argument("--factor", type=float, default=FACTOR)
    parser.add_argument(
        "--history-regressions",
        action="store_true",
        help="instead, publish the recorded history and print its regressions",
    )
    args = parser.parse_args(argv)
    if args.history_regressions:
        return print_history_regressions()
    base = args.base or newest_recorded_ancestor()
    if base is None:
        print("perf gate: no recorded results in HEAD's history; nothing to compare")
        return 1
    base = git("rev-parse", base)
    head = git("rev-parse", "HEAD")
    subset = (HERE / "gate_subset.txt").read_text().strip()
    print(f"perf gate: {base[:8]} (recorded) against HEAD {head[:8]}, "
          f"factor {args.factor}", flush=True)  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="fastgmm-gate-") as tmp:
        env = gate_environment(tmp, head)
        status, slower = continuous(tmp, "first", env, base, head, subset, args.factor)
        if status == 1 and slower:  # exit 1 with slower benchmarks: confirm them
            print(f"perf gate: slower in the first session: {_listed(slower)}; "
                  "running them again", flush=True)  # fmt: skip
            names = sorted({name.split("(")[0] for name in slower})
            again = "|".join(f"^{re.escape(name)}(?!\\w)" for name in names)
            # Twice the rounds: few benchmarks, and more samples for asv's test.
            status, slower_again = continuous(
                tmp, "second", env, base, head, again, args.factor, "-a", "rounds=4"
            )
            if status == 1 and slower_again:
                status = 0  # judged below, by what both sessions found
            slower &= slower_again
            if slower:
                print(f"perf gate: slower in both sessions: {_listed(slower)}")
                status = 1
    print(f"perf gate: {'passed' if status == 0 else 'FAILED'} (asv exit {status})")
    return status


def gate_environment(tmp, head):
    """The environment of both sessions' asv runs.

    Each commit's kernels are compiled once, into a cache of its own under
    ``tmp`` (benchmarks/__init__.py); HEAD's starts as a copy of this
    environment's cache where this environment has HEAD's sources installed
    (benchmarks/common.py, ``_seed``).
    """
    env = {**os.environ, "FASTGMM_BENCH_NUMBA_CACHES": os.path.join(tmp, "numba")}
    seed = installed_cache_of(head)
    if seed:
        env["FASTGMM_BENCH_SEED"] = f"{head} {seed}"
    return env


def continuous(tmp, session, env, base, head, bench, factor, *asv_options):
    """``asv continuous`` of base and HEAD in ``tmp/session``, in ``env``.

    Returns asv's exit status and the benchmarks (``name(params)``) it found
    slower by more than ``factor``.
    """
    # asv.conf.json with the results in a temporary directory.
    config = json.loads(_strip_comments((HERE / "asv.conf.json").read_text()))
    config["repo"] = str(HERE.parent)
    config["benchmark_dir"] = str(HERE / "benchmarks")
    config["results_dir"] = os.path.join(tmp, session, "results")
    config["env_dir"] = str(HERE / ".asv" / "env")
    config["html_dir"] = os.path.join(tmp, session, "html")
    os.makedirs(os.path.join(tmp, session))
    config_path = os.path.join(tmp, session, "asv.conf.json")
    with open(config_path, "w") as f:
        json.dump(config, f)
    subprocess.run(
        ["asv", "machine", "--config", config_path, "--machine", MACHINE, "--yes"],
        cwd=HERE, check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    # The setups of the benchmarks run compile each commit's kernels in one
    # process per CPU before the first is timed (common.warm_up_gate).
    env = {**env, "FASTGMM_BENCH_WARM": bench}
    status = subprocess.run(
        ["asv", "continuous", "--config", config_path, "--machine", MACHINE,
         "--interleave-rounds", "--factor", str(factor), "--no-only-changed",
         "--bench", bench, "--show-stderr", *asv_options, base, head],
        cwd=HERE, env=env,
    ).returncode  # fmt: skip
    if status == 0:
        return status, set()
    table = subprocess.run(
        ["asv", "compare", "--config", config_path, "--machine", MACHINE,
         "--factor", str(factor), "--only-changed", base, head],
        cwd=HERE, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return status, slower_benchmarks(table)


def installed_cache_of(commit):
    """Numba's cache of the fastgmm installed here, if its sources are
    ``commit``'s (every ``.py`` file, byte for byte), else None."""
    try:
        import fastgmm
        from fastgmm.kernels._warmup import cache_directory
    except ImportError:
        return None
    package = Path(fastgmm.__file__).resolve().parent
    names = git("ls-tree", "-r", "--name-only", "--full-tree", commit, "fastgmm")
    names = names.split()
    sources = {name for name in names if name.endswith(".py")}
    installed = {
        path.relative_to(package.parent).as_posix() for path in package.rglob("*.py")
    }
    if sources != installed:
        return None
    for name in sorted(sources):
        committed = subprocess.run(
            ["git", "show", f"{commit}:{name}"], cwd=HERE, check=True,
            capture_output=True,
        ).stdout  # fmt: skip
        if (package.parent / name).read_bytes() != committed:
            return None
    directory = cache_directory()
    return directory if os.path.isdir(directory) else None


def slower_benchmarks(table):
    """The benchmarks asv compare's table marks slower ('+')."""
    slower = set()
    for line in table.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0] == "+":
            slower.add(cells[4])
    return slower


def print_history_regressions():
    """``asv publish`` the recorded history; print the regressions it finds."""
    subprocess.run(["asv", "publish"], cwd=HERE, check=True, stdout=subprocess.DEVNULL)
    with open(HERE / ".asv" / "html" / "regressions.json") as f:
        regressions = json.load(f)["regressions"]
    print(f"asv publish: {len(regressions)} regression(s) in the recorded history")
    for entry in regressions:
        # [benchmark, graph, parameters, [[commits..., before, after], ...]]
        print("  " + json.dumps(entry))
    return 0


def _listed(names):
    return ", ".join(sorted(names))


def _strip_comments(text):
    """asv.conf.json allows // comments; json does not."""
    return "\n".join(
        line for line in text.splitlines() if not line.lstrip().startswith("//")
    )


if __name__ == "__main__":
    sys.exit(main())
