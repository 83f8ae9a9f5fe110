"""Compiling ahead of use (``fastgmm compile``) and the first-run message."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from sklearn.datasets import load_iris

from fastgmm import GaussianMixture, GaussianMixtureIC, _precompile
from fastgmm.cli import main
from fastgmm.kernels import _warmup


def run_python(code, env=None, timeout=600):
    """Run ``code`` in a fresh interpreter; its completed process."""
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=None if env is None else {**os.environ, **env},
        timeout=timeout,
    )


def test_compile_command_prints_one_line_per_group(capsys):
    assert main(["compile", "-c", "diag,spherical", "--dtype", "float64"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("cache:")
    compiled = [line for line in out if line.startswith("compiled:")]
    assert [line.split()[1:3] for line in compiled] == [
        ["diag", "float64:"],
        ["spherical", "float64:"],
    ]
    assert out[-1].startswith("total:")


def test_compile_kernels_covers_every_variant():
    # 'full' compiles per unrolled width, and once above them; the other
    # types once each.
    assert list(_precompile._variant_groups(("full", "diag"))) == [
        ("full", 2), ("full", 4), ("full", 8), ("full", 9), ("diag", 3),
    ]  # fmt: skip


def test_compile_kernels_reports_each_group():
    lines = []
    seconds = _precompile.compile_kernels(
        ("float32",), ("tied",), progress=lines.append
    )
    assert len(lines) == 1 and lines[0].split()[:2] == ["tied", "float32:"]
    assert seconds >= 0


def test_compile_kernels_covers_every_scoring_signature():
    # In a new process, compile_kernels loads (or compiles) each scoring
    # kernel's signatures; scoring float32 rows afterwards must need no
    # other.  The maximum-likelihood estimators return float32 outputs for
    # float32 rows and models, and their score averages those (as
    # scikit-learn's score_samples(X).mean()).
    code = textwrap.dedent(
        """
        import warnings
        import numpy as np
        from fastgmm import (
            BatchGaussianMixture, GaussianMixture, GaussianMixtureIC, _precompile,
        )
        from fastgmm.kernels._estep import score_groups

        _precompile.compile_kernels(("float32",), ("diag",))
        kernels = lambda: score_groups.kernels
        before = {k.__name__: set(k.signatures) for k in kernels()}
        X = np.random.default_rng(1).standard_normal((80, 3)).astype(np.float32)
        groups = np.arange(len(X)) % 3
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gm = GaussianMixture(2, covariance_type="diag", random_state=0).fit(X)
            GaussianMixtureIC(n_components=[1, 2], covariance_type="diag").fit(X)
            batch = BatchGaussianMixture(
                2, covariance_type="diag", random_state=0
            ).fit(X, groups)
        gm.score_samples(X), gm.predict_proba(X), gm.predict(X)
        gm.score(X), gm.bic(X), gm.aic(X)
        big = np.tile(X, (60, 1))  # more than a block: scored in threads
        gm.score_samples(big), gm.predict_proba(big), gm.predict(big), gm.score(big)
        batch.score_samples(X, groups), batch.predict_proba(X, groups)
        batch.predict(X, groups), batch.bic(X, groups), batch.aic(X, groups)
        output_dtypes = {
            str(sig[-3].dtype) for k in score_groups.kernels for sig in k.signatures
        }
        print(sorted(output_dtypes))
        for kernel in kernels():
            known = before.get(kernel.__name__, set())
            print(kernel.__name__, sorted(map(str, set(kernel.signatures) - known)))
        """
    )
    proc = run_python(code)
    lines = proc.stdout.splitlines()
    assert lines[-2] == "['float32', 'float64']"
    assert lines[-1] == "score_groups_diag []"


def test_compile_kernels_covers_bayesian_float32_scoring():
    code = textwrap.dedent(
        """
        import warnings
        import numpy as np
        from fastgmm import BayesianGaussianMixture, _precompile
        from fastgmm.kernels._config import BLOCK_ROWS
        from fastgmm.kernels._estep import score_groups

        _precompile.compile_kernels(("float32",), ("diag",))
        before = {k.__name__: set(k.signatures) for k in score_groups.kernels}
        X = np.random.default_rng(1).standard_normal((80, 3)).astype(np.float32)
        big = np.tile(X, (BLOCK_ROWS // len(X) + 1, 1))  # scored in threads
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = BayesianGaussianMixture(
                n_components=2, covariance_type="diag", random_state=0
            ).fit(X)
        for rows in (X, big):
            model.score_samples(rows), model.predict_proba(rows), model.score(rows)
        for kernel in score_groups.kernels:
            known = before.get(kernel.__name__, set())
            print(kernel.__name__, len(set(kernel.signatures) - known))
        """
    )
    proc = run_python(code)
    assert proc.stdout.splitlines()[-1] == "score_groups_diag 0"


def test_compile_command_rejects_unknown_covariance_type(capsys):
    assert main(["compile", "-c", "round"]) == 2
    assert "invalid covariance type 'round'" in capsys.readouterr().err


def test_empty_cache_is_detected_without_compiling(tmp_path):
    # A fresh NUMBA_CACHE_DIR holds nothing: a first fit would compile.
    code = textwrap.dedent(
        """
        from fastgmm.kernels import _warmup
        print(_warmup.kernels_cached(), _warmup.cache_directory())
        """
    )
    proc = run_python(code, env={"NUMBA_CACHE_DIR": str(tmp_path)}, timeout=300)
    cached, directory = proc.stdout.split()
    assert cached == "False"
    assert directory.startswith(str(tmp_path))


def test_warm_cache_is_detected():
    GaussianMixture(2, random_state=0).fit(load_iris().data)
    assert _warmup.kernels_cached()


@pytest.mark.parametrize("estimator", [GaussianMixture, GaussianMixtureIC])
def test_verbose_fit_announces_compiling_once(monkeypatch, capsys, estimator):
    monkeypatch.setattr(_warmup, "kernels_cached", lambda: False)
    _warmup._announced.cache_clear()
    X = load_iris().data
    params = {"n_components": 2} if estimator is GaussianMixture else {}
    estimator(**params, verbose=1, random_state=0).fit(X)
    estimator(**params, verbose=1, random_state=0).fit(X)
    out = capsys.readouterr().out
    assert out.count(_warmup.COMPILING_MESSAGE) == 1
    _warmup._announced.cache_clear()


def test_quiet_fit_and_warm_cache_print_nothing_extra(monkeypatch, capsys):
    _warmup._announced.cache_clear()
    X = load_iris().data
    GaussianMixture(2, verbose=1, random_state=0).fit(X)  # warm cache
    monkeypatch.setattr(_warmup, "kernels_cached", lambda: False)
    GaussianMixture(2, random_state=0).fit(X)  # verbose=0
    assert _warmup.COMPILING_MESSAGE not in capsys.readouterr().out


def test_cli_fit_announces_compiling(monkeypatch, capsys):
    monkeypatch.setattr(_warmup, "kernels_cached", lambda: False)
    _warmup._announced.cache_clear()
    assert main(["fit", "-k", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == _warmup.COMPILING_MESSAGE
    _warmup._announced.cache_clear()
    assert out[1].startswith("data:")


_FIRST_FIT_HITS = textwrap.dedent(
    """
    import json
    from sklearn.datasets import load_iris
    from fastgmm import BayesianGaussianMixture, GaussianMixture
    from fastgmm.kernels._warmup import kernels

    X = load_iris().data
    gm = GaussianMixture(3, random_state=0)
    labels = gm.fit_predict(X)
    bgm = BayesianGaussianMixture(n_components=3, covariance_type="diag",
                                  random_state=0).fit(X.astype("float32"))
    hits = sorted(
        k.py_func.__qualname__ for k in kernels() if sum(k.stats.cache_hits.values())
    )
    compiled = sorted(k.py_func.__qualname__ for k in kernels() if k.overloads)
    answers = [gm.lower_bound_.hex(), gm.means_.tobytes().hex(),
               labels.tobytes().hex(), bgm.lower_bound_.hex(),
               bgm.means_.tobytes().hex()]
    print(json.dumps({"hits": hits, "compiled": compiled, "answers": answers}))
    """
)


def first_fits(cache_dir, ahead):
    """Kernels a fresh process's first fits loaded from the cache, and answers."""
    import json

    env = {"NUMBA_CACHE_DIR": str(cache_dir), "FASTGMM_COMPILE_AHEAD": ahead}
    proc = run_python(_FIRST_FIT_HITS, env=env, timeout=900)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_a_first_fit_compiles_its_em_kernels_in_a_second_process(tmp_path):
    # With an empty cache, the kernels after the k-means start are compiled
    # by a second process while the fit runs k-means: the fit loads them
    # from the cache.  In one process (FASTGMM_COMPILE_AHEAD=0) nothing is
    # loaded; the answers are the same.  (FASTGMM_COMPILE_AHEAD=1: however
    # busy the test workers keep the machine's CPUs.)
    ahead = first_fits(tmp_path / "ahead", "1")
    alone = first_fits(tmp_path / "alone", "0")
    assert alone["hits"] == []
    for kernel in (
        "e_step_blocks_full4", "_iteration_m_step_full", "label_statistics_full",
        "score_groups_full4", "e_step_blocks_diag",
    ):  # fmt: skip
        assert kernel in ahead["hits"]
    # fit_predict's scoring kernel is compiled ahead; fit's runs no scoring.
    for run in (ahead, alone):
        assert "score_groups_diag" not in run["compiled"]
    # The k-means start is the fit's own.
    assert "kmeans_run" not in ahead["hits"]
    assert ahead["answers"] == alone["answers"]


def test_compile_ahead_only_where_it_pays(monkeypatch, tmp_path):
    from fastgmm.kernels import _numba_internals

    def ahead(forget=True):
        if forget:  # what this process saw before
            _warmup._ahead_done.clear()
        started = _warmup.compile_ahead("gaussian", np.float64, "diag", 7)
        if started is not None:
            started.stop()
        return started is not None

    monkeypatch.setattr(_warmup, "_ahead_done", set())

    X = load_iris().data
    GaussianMixture(2, random_state=0).fit(X)  # this variant is in the cache
    monkeypatch.setenv("FASTGMM_COMPILE_AHEAD", "1")
    assert _warmup.compile_ahead("gaussian", X.dtype, "full", 4) is None
    # A variant whose E-step is not in the cache.
    monkeypatch.setattr(
        _numba_internals, "cache_index_path", lambda _: str(tmp_path / "none.nbi")
    )
    assert ahead()
    assert not ahead(forget=False)  # once per kind of fit and process
    with _warmup.no_compile_ahead():  # fastgmm compile compiles everything
        assert not ahead()
    monkeypatch.setenv("FASTGMM_COMPILE_AHEAD", "0")
    assert not ahead()
    # Unset: only with a CPU to spare.
    monkeypatch.delenv("FASTGMM_COMPILE_AHEAD")
    monkeypatch.setattr(_warmup, "_available_cpus", lambda: 4)
    monkeypatch.setattr(os, "getloadavg", lambda: (3.4, 3.4, 3.4))
    assert ahead()
    monkeypatch.setattr(os, "getloadavg", lambda: (3.6, 3.6, 3.6))
    assert not ahead()
    monkeypatch.setattr(_warmup, "_available_cpus", lambda: 1)
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert not ahead()


def test_compile_ahead_process_is_stopped_past_its_time(monkeypatch):
    # A process that does not end is killed, and the fit goes on without it.
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    monkeypatch.setattr(_warmup, "COMPILE_AHEAD_TIMEOUT", 0.5)
    ahead = _warmup.CompileAhead(sleeper)
    ahead.wait()
    assert sleeper.returncode is not None
    ahead.wait()  # waited for already: nothing left to do
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    _warmup.CompileAhead(other).stop()
    assert other.returncode is not None
