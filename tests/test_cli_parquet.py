"""The command line on Parquet data (fastgmm/cli/parquet.py): fit and predict
read a .parquet file or a directory of them, predict writes .parquet."""

import sys

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import fastgmm
from fastgmm import BatchGaussianMixture
from fastgmm.cli import main

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


def _table(n=1200, seed=0):
    """Three numeric columns (one float32, one integer) and a string column."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3))
    X[: n // 3] += 4
    site = np.array(["north", "south", "east"])[rng.integers(0, 3, n)]
    table = pa.table(
        {
            "x": X[:, 0],
            "site": site,
            "y": X[:, 1].astype(np.float32),
            "count": rng.integers(0, 5, n),
        }
    )
    features = np.column_stack([X[:, 0], X[:, 1].astype(np.float32), table["count"]])
    return table, features.astype(np.float64), site


def _written(tmp_path, table, name="data.parquet", **options):
    path = tmp_path / name
    pq.write_table(table, path, **options)
    return path


def _one_error(capsys):
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("fastgmm: error:")]
    assert len(errors) == 1, err
    return errors[0]


def test_fit_reads_the_numeric_columns(tmp_path, capsys):
    table, features, _ = _table()
    data = _written(tmp_path, table)
    np.save(tmp_path / "same.npy", features)
    for source, out in ((data, "a.npz"), (tmp_path / "same.npy", "b.npz")):
        rc = main(["fit", str(source), "-k", "2", "--random-state", "0",
                   "-o", str(tmp_path / out)])  # fmt: skip
        assert rc == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "x  " in printed and "count" in printed and "site" not in printed
    a, b = fastgmm.load(tmp_path / "a.npz"), fastgmm.load(tmp_path / "b.npz")
    assert_array_equal(a.means_, b.means_)
    assert_array_equal(a.covariances_, b.covariances_)


def test_a_directory_of_files_is_one_table(tmp_path, capsys):
    table, _, _ = _table()
    one = _written(tmp_path, table)
    parts = tmp_path / "parts"
    parts.mkdir()
    pq.write_table(table.slice(0, 500), parts / "part-0.parquet")
    pq.write_table(table.slice(500), parts / "part-1.parquet")
    for source, out in ((one, "one.npz"), (parts, "parts.npz")):
        rc = main(["fit", str(source), "-k", "2", "--random-state", "0",
                   "-o", str(tmp_path / out)])  # fmt: skip
        assert rc == 0, capsys.readouterr().err
    a, b = fastgmm.load(tmp_path / "one.npz"), fastgmm.load(tmp_path / "parts.npz")
    assert_array_equal(a.means_, b.means_)


def test_groups_by_a_string_column(tmp_path, capsys):
    table, features, site = _table()
    data = _written(tmp_path, table)
    out = tmp_path / "groups.csv"
    rc = main(["fit", str(data), "-k", "2", "--random-state", "0", "--groups",
               "site", "-o", str(out)])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    rows = out.read_text().splitlines()
    expected = BatchGaussianMixture(2, random_state=0).fit(features, site)
    assert [row.split(",")[0] for row in rows[1:]] == list(expected.groups_)
    header = rows[0].split(",")
    for row, means in zip(rows[1:], expected.means_):
        fields = dict(zip(header, row.split(",")))
        assert float(fields["mean_0_x"]) == pytest.approx(means[0, 0], rel=1e-12)


def test_predict_reads_and_writes_parquet_in_chunks(tmp_path, capsys):
    table, features, _ = _table(n=2000)
    data = _written(tmp_path, table, row_group_size=300)
    model = tmp_path / "model.npz"
    assert main(["fit", str(data), "-k", "3", "--random-state", "0",
                 "-o", str(model)]) == 0  # fmt: skip
    fitted = fastgmm.load(model)
    for kind, expected in (
        ("--proba", fitted.predict_proba(features)),
        ("--score", fitted.score_samples(features)),
        (None, fitted.predict(features)),
    ):
        out = tmp_path / "out.parquet"
        args = ["predict", str(model), str(data), "--chunk-rows", "450", "-o", str(out)]
        assert main(args + ([kind] if kind else [])) == 0, capsys.readouterr().err
        written = pq.read_table(out)
        columns = np.column_stack([c.to_numpy() for c in written.columns])
        np.testing.assert_allclose(
            columns.reshape(expected.shape), expected, rtol=1e-12
        )
        assert pq.ParquetFile(out).metadata.num_rows == 2000
    assert written.column_names == ["label"]


def test_parquet_problems_are_one_line_errors(tmp_path, capsys, monkeypatch):
    table, _, _ = _table()
    only_text = _written(tmp_path, pa.table({"site": table["site"]}), "text.parquet")
    assert main(["fit", str(only_text)]) == 1
    assert "no numeric column" in _one_error(capsys)

    x = np.arange(40.0)
    with_null = pa.table({"x": pa.array(list(x[:7]) + [None] + list(x[8:])),
                          "y": x})  # fmt: skip
    path = _written(tmp_path, with_null, "null.parquet")
    assert main(["fit", str(path)]) == 1
    assert "NaN" in _one_error(capsys)

    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not a parquet file")
    assert main(["fit", str(broken)]) == 1
    assert "cannot read as Parquet" in _one_error(capsys)

    monkeypatch.setitem(sys.modules, "pyarrow", None)
    data = _written(tmp_path, table)
    assert main(["fit", str(data)]) == 1
    assert 'pip install "fastgmm[parquet]"' in _one_error(capsys)


def test_predict_groups_from_a_parquet_column(tmp_path, capsys):
    table, features, site = _table()
    data = _written(tmp_path, table, row_group_size=250)
    model = tmp_path / "batch.npz"
    assert main(["fit", str(data), "-k", "2", "--random-state", "0", "--groups",
                 "site", "-o", str(model)]) == 0  # fmt: skip
    out = tmp_path / "scores.parquet"
    assert main(["predict", str(model), str(data), "--groups", "site", "--score",
                 "--chunk-rows", "300", "-o", str(out)]) == 0  # fmt: skip
    expected = fastgmm.load(model).score_samples(features, site)
    got = pq.read_table(out)["score"].to_numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_predict_groups_names_a_bad_row(tmp_path, capsys):
    table, _, _ = _table()
    model = tmp_path / "batch.npz"
    data = _written(tmp_path, table)
    assert main(["fit", str(data), "-k", "2", "--random-state", "0", "--groups",
                 "site", "-o", str(model)]) == 0  # fmt: skip
    x = table["x"].to_numpy().copy()
    x[5] = np.nan
    bad = _written(tmp_path, table.set_column(0, "x", pa.array(x)), "bad.parquet")
    capsys.readouterr()
    assert main(["predict", str(model), str(bad), "--groups", "site"]) == 1
    assert "row 5: NaN or infinite value" in _one_error(capsys)
