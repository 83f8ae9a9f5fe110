"""Compiling ahead of use (``fastgmm compile``) and the first-run message."""

import subprocess
import sys
import textwrap

import pytest
from sklearn.datasets import load_iris

from fastgmm import GaussianMixture, GaussianMixtureIC, _warmup
from fastgmm.cli import main


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


def test_compile_kernels_reports_each_group():
    lines = []
    seconds = _warmup.compile_kernels(("float32",), ("tied",), progress=lines.append)
    assert len(lines) == 1 and lines[0].split()[:2] == ["tied", "float32:"]
    assert seconds >= 0


def test_compile_command_rejects_unknown_covariance_type(capsys):
    assert main(["compile", "-c", "round"]) == 2
    assert "invalid covariance type 'round'" in capsys.readouterr().err


def test_empty_cache_is_detected_without_compiling(tmp_path):
    # A fresh NUMBA_CACHE_DIR holds nothing: a first fit would compile.
    code = textwrap.dedent(
        """
        from fastgmm import _warmup
        print(_warmup.kernels_cached(), _warmup.cache_directory())
        """
    )
    env = {"NUMBA_CACHE_DIR": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**__import__("os").environ, **env},
        timeout=300,
    )
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
