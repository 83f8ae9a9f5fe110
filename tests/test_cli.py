"""Tests of the ``fastgmm`` command line (fastgmm/cli/, fastgmm/__main__.py)."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import COVARIANCE_TYPES, noisy_centres
from numpy.testing import assert_allclose, assert_array_equal

from fastgmm import GaussianMixture
from fastgmm.cli import main

REPO_ROOT = Path(__file__).resolve().parents[1]


def _blobs(n=120, d=3, seed=0):
    """Three blobs in d dimensions."""
    return noisy_centres([[0.0] * d, [6.0] * d, [-6.0] + [3.0] * (d - 1)], n, seed)


def _sizes(stdout):
    """Cluster sizes from the component table printed by ``fit``."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("component "))
    sizes = []
    for line in lines[start + 1 :]:
        fields = line.split()
        if not fields or not fields[0].isdigit():
            break
        sizes.append(int(fields[1]))
    return sizes


def _write_csv(path, X, header=None):
    with open(path, "w") as f:
        if header is not None:
            f.write(",".join(header) + "\n")
        f.writelines(",".join(repr(float(v)) for v in row) + "\n" for row in X)


def _assert_one_error_line(captured):
    assert "Traceback" not in captured.err
    assert "Traceback" not in captured.out
    lines = [line for line in captured.err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("fastgmm: error:")]
    assert len(errors) == 1, captured.err
    return errors[0]


def _fit_error(capsys, *args):
    """Run ``fastgmm fit ARGS``: it must fail, with one error line (returned)."""
    assert main(["fit", *args]) != 0
    return _assert_one_error_line(capsys.readouterr())


def _fit_error_on_text(tmp_path, capsys, name, text, *args):
    """``_fit_error`` on a file ``name`` in tmp_path holding ``text``."""
    path = tmp_path / name
    path.write_text(text)
    return _fit_error(capsys, str(path), *args)


def test_default_iris_fit(capsys):
    rc = main(["fit", "--random-state", "0"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    out = captured.out
    assert "iris" in out
    assert "150 samples x 4 features" in out
    sizes = _sizes(out)
    assert len(sizes) == 3
    assert sum(sizes) == 150
    for word in (
        "converged:",
        "n_iter:",
        "lower_bound:",
        "BIC:",
        "fit time:",
        "kernel load:",
    ):
        assert word in out
    assert "fastgmm: error" not in captured.err


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_covariance_types(capsys, covariance_type):
    rc = main(
        ["fit", "-k", "2", "--covariance-type", covariance_type, "--random-state", "1"]
    )
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert sum(_sizes(captured.out)) == 150


def test_csv_with_header(tmp_path, capsys):
    X = _blobs()
    path = tmp_path / "data.csv"
    _write_csv(path, X, header=["alpha", "beta", "gamma"])
    rc = main(["fit", str(path), "-k", "3", "--random-state", "0"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "120 samples x 3 features" in captured.out
    assert "alpha" in captured.out and "gamma" in captured.out
    assert sum(_sizes(captured.out)) == 120


def test_csv_without_header(tmp_path, capsys):
    X = _blobs(n=90, d=2)
    path = tmp_path / "data.csv"
    _write_csv(path, X)
    rc = main(["fit", str(path), "-k", "2", "--random-state", "0"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    # The first row is data, not a header: all 90 rows are used.
    assert "90 samples x 2 features" in captured.out
    assert sum(_sizes(captured.out)) == 90


def test_npy(tmp_path, capsys):
    X = _blobs(n=100, d=4)
    path = tmp_path / "data.npy"
    np.save(path, X)
    rc = main(["fit", str(path), "-k", "3", "--random-state", "0"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "100 samples x 4 features" in captured.out
    assert sum(_sizes(captured.out)) == 100


def test_npy_float32_stays_float32(tmp_path, capsys):
    path = tmp_path / "data.npy"
    np.save(path, _blobs(n=60, d=2).astype(np.float32))
    rc = main(["fit", str(path), "-k", "2", "--random-state", "0"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "float32" in captured.out


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_out_npz_matches_direct_fit(tmp_path, capsys, covariance_type):
    X = _blobs(n=150, d=3, seed=3)
    data = tmp_path / "data.npy"
    np.save(data, X)
    out = tmp_path / "model.npz"
    rc = main(
        [
            "fit",
            str(data),
            "-k",
            "3",
            "--covariance-type",
            covariance_type,
            "--random-state",
            "7",
            "--max-iter",
            "50",
            "--tol",
            "1e-4",
            "--out",
            str(out),
        ]
    )
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert out.exists()

    gm = GaussianMixture(
        n_components=3,
        covariance_type=covariance_type,
        random_state=7,
        max_iter=50,
        tol=1e-4,
    ).fit(X)
    with np.load(out) as f:
        assert str(f["covariance_type"]) == covariance_type
        assert_allclose(f["weights"], gm.weights_, rtol=1e-10, atol=1e-12)
        assert_allclose(f["means"], gm.means_, rtol=1e-10, atol=1e-12)
        assert_allclose(f["covariances"], gm.covariances_, rtol=1e-10, atol=1e-12)
        assert_allclose(
            f["precisions_cholesky"], gm.precisions_cholesky_, rtol=1e-10, atol=1e-12
        )
        assert bool(f["converged"]) == gm.converged_
        assert int(f["n_iter"]) == gm.n_iter_
        assert_allclose(float(f["lower_bound"]), gm.lower_bound_, rtol=1e-10)
        assert_allclose(float(f["bic"]), gm.bic(X), rtol=1e-10)
        assert_array_equal(f["sizes"], np.bincount(gm.predict(X), minlength=3))
        assert int(f["n_samples"]) == 150 and int(f["n_features"]) == 3
        assert float(f["fit_time"]) >= 0.0
        assert float(f["kernel_load_time"]) >= 0.0


def test_out_keeps_given_name(tmp_path, capsys):
    out = tmp_path / "model.bin"
    assert main(["fit", "-k", "2", "--random-state", "0", "--out", str(out)]) == 0
    capsys.readouterr()
    assert out.exists()
    assert not (tmp_path / "model.bin.npz").exists()
    with np.load(out) as f:
        assert f["means"].shape == (2, 4)


def test_non_convergence_is_a_warning_not_an_error(capsys):
    rc = main(["fit", "--max-iter", "1", "--tol", "0", "--random-state", "0"])
    captured = capsys.readouterr()
    assert rc == 0
    assert "converged:   False" in captured.out
    assert "Traceback" not in captured.err
    assert "fastgmm: error" not in captured.err
    for line in captured.err.splitlines():
        assert line.startswith("fastgmm: warning:")


# ---------------------------------------------------------------- errors


def test_missing_file(tmp_path, capsys):
    line = _fit_error(capsys, str(tmp_path / "nope.csv"))
    assert "nope.csv" in line and "no such file" in line


def test_bad_csv_text(tmp_path, capsys):
    line = _fit_error_on_text(
        tmp_path, capsys, "bad.csv", "a,b\n1.0,2.0\n3.0,banana\n4.0,5.0\n", "-k", "2"
    )
    assert "line 3" in line and "banana" in line


def test_ragged_csv(tmp_path, capsys):
    line = _fit_error_on_text(
        tmp_path, capsys, "ragged.csv", "1,2\n3,4\n5,6,7\n", "-k", "1"
    )
    assert "line 3" in line


def test_empty_field_csv(tmp_path, capsys):
    line = _fit_error_on_text(
        tmp_path, capsys, "holes.csv", "1,2\n3,\n5,6\n", "-k", "1"
    )
    assert "missing values" in line


def test_binary_file_as_csv(tmp_path, capsys):
    path = tmp_path / "binary.csv"
    path.write_bytes(bytes(range(256)) * 4)
    _fit_error(capsys, str(path))


@pytest.mark.parametrize("text", ["", "\n\n", "x,y\n"])
def test_csv_without_data_rows(tmp_path, capsys, text):
    _fit_error_on_text(tmp_path, capsys, "empty.csv", text)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_in_data(tmp_path, capsys, bad):
    X = _blobs(n=30, d=2)
    X[5, 1] = bad
    path = tmp_path / "data.npy"
    np.save(path, X)
    line = _fit_error(capsys, str(path), "-k", "2")
    assert "NaN or infinite" in line


def test_nan_in_csv(tmp_path, capsys):
    line = _fit_error_on_text(
        tmp_path, capsys, "nan.csv", "x,y\n1,2\nnan,3\n4,5\n", "-k", "1"
    )
    assert "NaN" in line


def test_one_row(tmp_path, capsys):
    line = _fit_error_on_text(tmp_path, capsys, "one.csv", "x,y\n1.0,2.0\n", "-k", "1")
    assert "at least 2 samples" in line


def test_more_components_than_samples(tmp_path, capsys):
    path = tmp_path / "few.npy"
    np.save(path, _blobs(n=5, d=2))
    _fit_error(capsys, str(path), "-k", "6")


@pytest.mark.parametrize(
    "array", [np.arange(6.0), np.zeros((2, 3, 4)), np.array([["a", "b"], ["c", "d"]])]
)
def test_npy_wrong_dims_or_dtype(tmp_path, capsys, array):
    path = tmp_path / "bad.npy"
    np.save(path, array)
    _fit_error(capsys, str(path), "-k", "1")


def test_npy_with_pickled_objects_is_refused(tmp_path, capsys):
    path = tmp_path / "obj.npy"
    np.save(path, np.array([[1, None], [2, 3]], dtype=object), allow_pickle=True)
    _fit_error(capsys, str(path), "-k", "1")


def test_corrupt_npy(tmp_path, capsys):
    path = tmp_path / "corrupt.npy"
    path.write_bytes(b"\x93NUMPY\x01\x00garbage")
    _fit_error(capsys, str(path))


def test_unsupported_extension(tmp_path, capsys):
    line = _fit_error_on_text(tmp_path, capsys, "data.xlsx", "1,2\n3,4\n")
    assert ".xlsx" in line


def test_directory_as_data(tmp_path, capsys):
    _fit_error(capsys, str(tmp_path))


def test_unwritable_out_fails_before_fitting(tmp_path, capsys):
    out = tmp_path / "missing-dir" / "model.npz"
    assert main(["fit", "--out", str(out)]) != 0
    captured = capsys.readouterr()
    _assert_one_error_line(captured)
    assert "BIC" not in captured.out


def test_value_error_from_fit_is_one_line(monkeypatch, capsys):
    def failing_fit(self, X, y=None, sample_weight=None):
        raise ValueError("first line\nsecond line")

    monkeypatch.setattr(GaussianMixture, "fit", failing_fit)
    line = _fit_error(capsys)
    assert line == "fastgmm: error: first line second line"


def test_usage_errors_return_2(capsys):
    assert main(["fit", "-k", "0"]) == 2
    assert main(["fit", "--covariance-type", "banana"]) == 2
    assert main([]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err


def test_help_returns_0(capsys):
    assert main(["--help"]) == 0
    assert "fit" in capsys.readouterr().out
    assert main(["fit", "--help"]) == 0
    assert "--covariance-type" in capsys.readouterr().out


# ---------------------------------------------------------- entry point


def test_python_m_fastgmm(tmp_path):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO_ROOT), *filter(None, [env.get("PYTHONPATH")])]
    )
    proc = subprocess.run(
        [sys.executable, "-m", "fastgmm", "fit", "-k", "2", "--random-state", "0"],
        check=False,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert sum(_sizes(proc.stdout)) == 150
    assert len(_sizes(proc.stdout)) == 2


def test_groups_column_writes_the_batch_table(tmp_path, capsys):
    import csv

    from fastgmm import BatchGaussianMixture

    rng = np.random.default_rng(0)
    X = rng.standard_normal((600, 2))
    site = rng.integers(0, 4, len(X))
    X[site == 1] += 3
    path, out = tmp_path / "d.csv", tmp_path / "table.csv"
    _write_csv(path, np.column_stack([X, site]), header=["a", "b", "site"])
    assert main(["fit", str(path), "--groups", "site", "-k", "2",
                 "--random-state", "0", "-o", str(out)]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert "groups:      4 (4 fitted" in printed and f"table:       {out}" in printed
    with open(out) as f:
        rows = list(csv.DictReader(f))
    expected = BatchGaussianMixture(2, random_state=0).fit(X, site)
    bic = expected.bic(X, site)
    assert [int(r["group"]) for r in rows] == [0, 1, 2, 3]
    for g, row in enumerate(rows):
        assert int(row["n"]) == np.sum(site == g)
        assert row["status"] == "fitted" and int(row["n_iter"]) == expected.n_iter_[g]
        assert float(row["bic"]) == bic[g]
        assert float(row["weight_1"]) == expected.weights_[g, 1]
        assert float(row["mean_0_b"]) == expected.means_[g, 0, 1]


def test_groups_from_npy_labels_to_stdout(tmp_path, capsys):
    X = _blobs(n=60, d=2)
    labels = np.array(["x", "y"])[np.arange(len(X)) % 2]
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "g.npy", labels)
    assert main(["fit", str(tmp_path / "X.npy"), "--groups",
                 str(tmp_path / "g.npy"), "-k", "3"]) == 0  # fmt: skip
    lines = capsys.readouterr().out.splitlines()
    header = lines.index(next(line for line in lines if line.startswith("group,")))
    assert [line.split(",")[0] for line in lines[header + 1 :]] == ["x", "y"]


def test_groups_errors(tmp_path, capsys):
    path = tmp_path / "d.csv"
    _write_csv(path, _blobs(n=30, d=2), header=["a", "b"])
    assert "not a column" in _fit_error(capsys, str(path), "--groups", "site")
    line = _fit_error(capsys, str(path), "--groups", "a", "-o", str(tmp_path / "m.txt"))
    assert "writes the per-group table (.csv) or the model (.npz)" in line
    np.save(tmp_path / "short.npy", np.zeros(3))
    line = _fit_error(capsys, str(path), "--groups", str(tmp_path / "short.npy"))
    assert "expected 30 group labels" in line


def test_fit_out_then_predict(tmp_path, capsys):
    import fastgmm

    X = _blobs(n=200, d=3)
    data, model = tmp_path / "d.csv", tmp_path / "m.npz"
    _write_csv(data, X, header=["a", "b", "c"])
    assert main(["fit", str(data), "-k", "3", "--random-state", "0",
                 "--out", str(model)]) == 0  # fmt: skip
    capsys.readouterr()
    fitted = fastgmm.load(model)
    with np.load(model) as npz:  # the summary stays beside the model
        assert npz["n_iter"] == fitted.n_iter_
    assert main(["predict", str(model), str(data), "--chunk-rows", "7"]) == 0
    labels = np.array(capsys.readouterr().out.split(), dtype=int)
    assert_array_equal(labels, fitted.predict(X))
    out = tmp_path / "proba.npy"
    assert main(["predict", str(model), str(data), "--proba", "-o", str(out)]) == 0
    assert_array_equal(np.load(out), fitted.predict_proba(X))
    out = tmp_path / "score.csv"
    assert main(["predict", str(model), str(data), "--score", "-o", str(out)]) == 0
    assert_array_equal(np.loadtxt(out), fitted.score_samples(X))
    np.save(tmp_path / "X.npy", X)
    assert main(["predict", str(model), str(tmp_path / "X.npy"), "--chunk-rows",
                 "50"]) == 0  # fmt: skip
    assert_array_equal(np.array(capsys.readouterr().out.split(), dtype=int), labels)


def test_float32_model_predicts_float32(tmp_path, capsys):
    import fastgmm

    X = _blobs(n=200, d=3).astype(np.float32)
    data, model = tmp_path / "X.npy", tmp_path / "m.npz"
    np.save(data, X)
    assert main(["fit", str(data), "-k", "3", "--random-state", "0",
                 "--out", str(model)]) == 0  # fmt: skip
    capsys.readouterr()
    fitted = fastgmm.load(model)
    assert fitted.means_.dtype == np.float32
    for option, method in [("--score", "score_samples"), ("--proba", "predict_proba")]:
        expected = getattr(fitted, method)(X)
        assert expected.dtype == np.float32
        out = tmp_path / f"{method}.npy"
        assert main(["predict", str(model), str(data), option, "--chunk-rows", "64",
                     "-o", str(out)]) == 0  # fmt: skip
        saved = np.load(out)
        assert saved.dtype == np.float32
        np.testing.assert_array_equal(saved, expected)
        # A .csv holds every float32 digit: read back, the same values.
        out = tmp_path / f"{method}.csv"
        assert main(["predict", str(model), str(data), option, "-o", str(out)]) == 0
        np.testing.assert_array_equal(
            np.loadtxt(out, delimiter=",", ndmin=expected.ndim), expected
        )
    # CSV data is read as float64: float64 outputs of the float32 model.
    csv = tmp_path / "X.csv"
    _write_csv(csv, X)
    out = tmp_path / "score64.npy"
    assert main(["predict", str(model), str(csv), "--score", "-o", str(out)]) == 0
    saved = np.load(out)
    assert saved.dtype == np.float64
    np.testing.assert_array_equal(saved, fitted.score_samples(X.astype(np.float64)))


def test_predict_errors_name_the_line(tmp_path, capsys):
    X = _blobs(n=30, d=2)
    data, model = tmp_path / "d.csv", tmp_path / "m.npz"
    _write_csv(data, X)
    assert main(["fit", str(data), "-k", "2", "--out", str(model)]) == 0
    capsys.readouterr()
    bad = tmp_path / "bad.csv"
    bad.write_text("x,y\n1.0,2.0\n3.0,banana\n")
    assert main(["predict", str(model), str(bad)]) != 0
    line = _assert_one_error_line(capsys.readouterr())
    assert "line 3" in line and "banana" in line
    wide = tmp_path / "wide.csv"
    wide.write_text("1,2,3\n4,5,6\n")
    assert main(["predict", str(model), str(wide)]) != 0
    line = _assert_one_error_line(capsys.readouterr())
    assert "3 features per row" in line and "fitted on 2" in line
    nan = tmp_path / "nan.csv"
    nan.write_text("1,2\n3,nan\n")
    assert main(["predict", str(model), str(nan)]) != 0
    assert "line 2: NaN or infinite" in _assert_one_error_line(capsys.readouterr())
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"junk")
    assert main(["predict", str(junk), str(data)]) != 0
    assert "not a readable fastgmm model" in _assert_one_error_line(capsys.readouterr())
