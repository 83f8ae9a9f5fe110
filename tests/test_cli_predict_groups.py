"""``fastgmm fit --groups --out model.npz`` saves the batch of mixtures, and
``fastgmm predict MODEL DATA --groups COLUMN`` scores each row by its group's
mixture (fastgmm/cli/chunks.py)."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import fastgmm
from fastgmm import BatchGaussianMixture
from fastgmm.cli import main


def _grouped(n_groups=5, rows=120, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_groups * rows, 2))
    groups = np.repeat(np.arange(n_groups), rows)
    X[::2] += 3 + groups[::2, None]
    order = rng.permutation(len(X))
    return X[order], groups[order]


def _csv(path, X, groups):
    with open(path, "w") as f:
        f.write("a,site,b\n")
        for row, g in zip(X, groups):
            f.write(f"{float(row[0])!r},{g},{float(row[1])!r}\n")


def _one_error(capsys):
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("fastgmm: error:")]
    assert len(errors) == 1, err
    return errors[0]


@pytest.fixture
def saved(tmp_path, capsys):
    X, groups = _grouped()
    data = tmp_path / "data.csv"
    _csv(data, X, groups)
    model = tmp_path / "model.npz"
    rc = main(["fit", str(data), "-k", "2", "--groups", "site", "--random-state",
               "0", "-o", str(model)])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    assert "saved:" in capsys.readouterr().out
    return data, model, X, groups


def test_fit_groups_saves_the_batch_model(saved):
    _, model, X, groups = saved
    loaded = fastgmm.load(model)
    expected = BatchGaussianMixture(2, random_state=0).fit(X, groups)
    assert isinstance(loaded, BatchGaussianMixture)
    assert_array_equal(loaded.groups_, expected.groups_)
    assert_array_equal(loaded.means_, expected.means_)


@pytest.mark.parametrize("kind", [None, "--proba", "--score"])
def test_predict_groups_from_a_csv_column(saved, tmp_path, capsys, kind):
    data, model, X, groups = saved
    out = tmp_path / "out.npy"
    args = ["predict", str(model), str(data), "--groups", "site",
            "--chunk-rows", "77", "-o", str(out)]  # fmt: skip
    args += [kind] if kind else []
    assert main(args) == 0, capsys.readouterr().err
    fitted = fastgmm.load(model)
    expected = {
        None: fitted.predict, "--proba": fitted.predict_proba,
        "--score": fitted.score_samples,
    }[kind](X, groups)  # fmt: skip
    assert_allclose(np.load(out), expected, rtol=1e-12)


def test_predict_groups_from_a_label_file(saved, tmp_path, capsys):
    _, model, X, groups = saved
    rows, labels = tmp_path / "rows.npy", tmp_path / "labels.npy"
    np.save(rows, X)
    np.save(labels, groups)
    out = tmp_path / "labels_out.csv"
    assert main(["predict", str(model), str(rows), "--groups", str(labels),
                 "--chunk-rows", "100", "-o", str(out)]) == 0  # fmt: skip
    assert_array_equal(np.loadtxt(out), fastgmm.load(model).predict(X, groups))
    np.save(labels, groups[:-1])
    assert main(["predict", str(model), str(rows), "--groups", str(labels)]) == 1
    assert "group labels" in _one_error(capsys)


def test_predict_groups_problems(saved, tmp_path, capsys):
    data, model, X, groups = saved
    assert main(["predict", str(model), str(data)]) == 1
    assert "--groups COLUMN" in _one_error(capsys)
    assert main(["predict", str(model), str(data), "--groups", "nope"]) == 1
    assert "not a column" in _one_error(capsys)
    unknown = tmp_path / "unknown.csv"
    _csv(unknown, X[:10], np.full(10, 99))
    assert main(["predict", str(model), str(unknown), "--groups", "site"]) == 1
    assert "Unknown groups" in _one_error(capsys)
    single = tmp_path / "single.npz"
    rows = tmp_path / "rows.npy"
    np.save(rows, X)
    assert main(["fit", str(rows), "-k", "2", "-o", str(single)]) == 0
    capsys.readouterr()
    assert main(["predict", str(single), str(rows), "--groups", "0"]) == 1
    assert "not one per group" in _one_error(capsys)
