"""Tests of fastgmm.plot and of the ``--plot`` option of the command line."""

import importlib
import subprocess
import sys
import warnings

import numpy as np
import pytest
from conftest import COVARIANCE_TYPES
from naive import naive_full_matrices
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning

from fastgmm import GaussianMixture, GaussianMixtureIC
from fastgmm.cli import main

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def mpl():
    return pytest.importorskip("matplotlib")


@pytest.fixture(scope="module")
def blobs_2d():
    X, _ = make_blobs(n_samples=300, n_features=2, centers=3, random_state=2)
    return X


def _figure(ncols=1):
    # A figure without pyplot: no backend is selected, savefig renders PNGs
    # with Agg.
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4 * ncols, 4.8))
    return fig, fig.subplots(1, ncols, squeeze=False)[0]


def _assert_png(path):
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert len(data) > 10_000, len(data)


def _ellipses(ax):
    from matplotlib.patches import Ellipse

    return [p for p in ax.patches if isinstance(p, Ellipse)]


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("data", ["blobs_2d", "iris"])
def test_plot_clusters_png(mpl, request, tmp_path, data, covariance_type):
    from fastgmm.plot import plot_clusters

    X = request.getfixturevalue(data)
    model = GaussianMixture(
        n_components=3, covariance_type=covariance_type, random_state=0, n_jobs=1
    ).fit(X)
    fig, (ax,) = _figure()
    assert plot_clusters(model, X, ax=ax) is ax
    # 1- and 2-sigma ellipses of each component.
    assert len(_ellipses(ax)) == 6
    fig.savefig(tmp_path / "clusters.png", dpi=80)
    _assert_png(tmp_path / "clusters.png")


def test_ellipses_follow_the_covariances(mpl, blobs_2d):
    from fastgmm.plot import plot_clusters

    model = GaussianMixture(n_components=3, random_state=0, n_jobs=1).fit(blobs_2d)
    fig, (ax,) = _figure()
    plot_clusters(model, blobs_2d, ax=ax)
    ellipses = _ellipses(ax)
    for k in range(3):
        eigenvalues = np.linalg.eigvalsh(model.covariances_[k])
        for n_sigma, ellipse in zip((1, 2), ellipses[2 * k : 2 * k + 2]):
            np.testing.assert_allclose(ellipse.center, model.means_[k])
            np.testing.assert_allclose(
                sorted([ellipse.width, ellipse.height]),
                2 * n_sigma * np.sqrt(eigenvalues),
            )


def test_projection_of_higher_dimensional_data(mpl, iris):
    from fastgmm.plot import full_covariances, plot_clusters

    model = GaussianMixture(n_components=3, random_state=0, n_jobs=1).fit(iris)
    fig, (ax,) = _figure()
    plot_clusters(model, iris, ax=ax)
    centre = iris.mean(axis=0)
    basis = np.linalg.svd(iris - centre, full_matrices=False)[2][:2].T
    ellipses = _ellipses(ax)
    for k in range(3):
        np.testing.assert_allclose(
            ellipses[2 * k].center, (model.means_[k] - centre) @ basis, atol=1e-12
        )
        projected = basis.T @ full_covariances(model)[k] @ basis
        np.testing.assert_allclose(
            sorted([ellipses[2 * k].width, ellipses[2 * k].height]),
            2 * np.sqrt(np.linalg.eigvalsh(projected)),
        )
    assert "principal component 1" in ax.get_xlabel()


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_full_covariances(covariance_type, iris):
    from fastgmm.plot import full_covariances

    model = GaussianMixture(
        n_components=2, covariance_type=covariance_type, random_state=0, n_jobs=1
    ).fit(iris)
    covariances = full_covariances(model)
    assert covariances.shape == (2, 4, 4)
    # Inverse of the precisions, whatever the parametrisation.
    precisions = naive_full_matrices(model.precisions_, covariance_type, 2, 4)
    for c, p in zip(covariances, precisions):
        np.testing.assert_allclose(c @ p, np.eye(4), atol=1e-8)


def test_plot_criterion_png(mpl, iris, tmp_path):
    from fastgmm.plot import plot_clusters, plot_criterion

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        selector = GaussianMixtureIC(
            n_components=range(1, 6), random_state=0, n_jobs=1
        ).fit(iris)
    fig, (left, right) = _figure(ncols=2)
    assert plot_criterion(selector, ax=left) is left
    # A selector draws its best model.
    plot_clusters(selector, iris, ax=right)
    assert len(_ellipses(right)) == 2 * selector.n_components_
    assert len(left.get_lines()) == 4  # one curve per covariance type
    labels = [t.get_text() for t in left.get_legend().get_texts()]
    assert any(label.startswith("chosen:") for label in labels)
    fig.savefig(tmp_path / "selection.png", dpi=80)
    _assert_png(tmp_path / "selection.png")


def test_default_axes_come_from_pyplot(mpl, blobs_2d):
    import matplotlib.pyplot as plt

    from fastgmm.plot import plot_clusters

    plt.switch_backend("agg")
    model = GaussianMixture(n_components=2, random_state=0, n_jobs=1).fit(blobs_2d)
    try:
        assert plot_clusters(model, blobs_2d) is plt.gca()
    finally:
        plt.close("all")


def test_one_feature_is_refused(mpl):
    from fastgmm.plot import plot_clusters

    X = np.arange(20.0).reshape(-1, 1)
    model = GaussianMixture(n_components=2, random_state=0, n_jobs=1).fit(X)
    fig, (ax,) = _figure()
    with pytest.raises(ValueError, match="at least 2 features"):
        plot_clusters(model, X, ax=ax)


def test_cli_select_plot(mpl, tmp_path, capsys):
    out = tmp_path / "select.png"
    args = ["select", "--k", "1..4", "--random-state", "0", "--n-jobs", "1"]
    rc = main(args + ["--plot", str(out)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert f"plot:        {out}" in captured.out
    _assert_png(out)


def test_cli_fit_plot(mpl, tmp_path, capsys):
    out = tmp_path / "fit.png"
    rc = main(["fit", "--random-state", "0", "--n-jobs", "1", "--plot", str(out)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    _assert_png(out)


def test_cli_plot_errors(mpl, tmp_path, capsys):
    assert main(["fit", "--plot", str(tmp_path / "fit.xyz")]) == 1
    assert main(["select", "--plot", str(tmp_path)]) == 1
    assert main(["fit", "--plot", str(tmp_path / "missing" / "fit.png")]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3 and all(line.startswith("fastgmm: error:") for line in err)
    assert "unsupported image type '.xyz'" in err[0]


@pytest.mark.parametrize("command", ["fit", "select"])
def test_plot_without_matplotlib(monkeypatch, tmp_path, capsys, command):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import fails
    out = tmp_path / "plot.png"
    rc = main([command, "--plot", str(out)])
    captured = capsys.readouterr()
    assert rc == 1
    assert captured.out == ""  # refused before any fitting
    assert captured.err.count("\n") == 1
    assert captured.err.startswith("fastgmm: error: --plot needs matplotlib")
    assert 'pip install "fastgmm[plot]"' in captured.err
    assert not out.exists()


def test_plot_module_without_matplotlib(monkeypatch, iris):
    import fastgmm.plot

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    module = importlib.reload(fastgmm.plot)
    model = GaussianMixture(n_components=2, random_state=0, n_jobs=1).fit(iris)
    with pytest.raises(ImportError, match=r'pip install "fastgmm\[plot\]"'):
        module.plot_clusters(model, iris)


def test_importing_does_not_import_matplotlib():
    code = (
        "import sys, fastgmm, fastgmm.plot, fastgmm.cli; "
        "sys.exit('matplotlib' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
