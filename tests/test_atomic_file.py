"""Files are written whole or not at all (fastgmm/_atomic_file.py): models
saved by ``fastgmm.save`` and everything the command line writes."""

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import fastgmm
from fastgmm import GaussianMixture
from fastgmm._atomic_file import atomic_write

REPO_ROOT = Path(__file__).resolve().parents[1]


def _leftovers(directory):
    return sorted(p.name for p in Path(directory).iterdir() if p.suffix == ".part")


def test_the_file_appears_whole_when_the_block_ends(tmp_path):
    path = tmp_path / "out.bin"
    path.write_bytes(b"old")
    with atomic_write(path) as f:
        f.write(b"new and longer")
        # Until the block ends the target keeps its earlier content.
        assert path.read_bytes() == b"old"
    assert path.read_bytes() == b"new and longer"
    assert _leftovers(tmp_path) == []


def test_an_exception_leaves_the_earlier_file_and_no_temporary(tmp_path):
    path = tmp_path / "out.csv"
    path.write_text("earlier\n")
    with pytest.raises(RuntimeError, match="part-way"):
        with atomic_write(path, "w") as f:
            f.write("half of a ")
            raise RuntimeError("failed part-way")
    assert path.read_text() == "earlier\n"
    assert _leftovers(tmp_path) == []


def test_permissions_kept_or_as_open_gives_them(tmp_path):
    kept = tmp_path / "kept"
    kept.write_bytes(b"")
    os.chmod(kept, 0o640)
    with atomic_write(kept) as f:
        f.write(b"x")
    assert stat.S_IMODE(os.stat(kept).st_mode) == 0o640
    plain, new = tmp_path / "plain", tmp_path / "new"
    plain.write_bytes(b"")  # as open() creates it
    with atomic_write(new) as f:
        f.write(b"x")
    assert stat.S_IMODE(os.stat(new).st_mode) == stat.S_IMODE(os.stat(plain).st_mode)


def test_a_failed_save_keeps_the_earlier_model(tmp_path, monkeypatch):
    X = np.random.default_rng(0).standard_normal((200, 2))
    earlier = GaussianMixture(2, random_state=0).fit(X)
    path = tmp_path / "model.npz"
    fastgmm.save(earlier, path)
    saved = path.read_bytes()

    def savez_then_fail(f, **arrays):
        f.write(b"PK\x03\x04 a zip that never ends")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", savez_then_fail)
    with pytest.raises(OSError, match="No space"):
        fastgmm.save(GaussianMixture(3, random_state=0).fit(X), path)
    monkeypatch.undo()
    assert path.read_bytes() == saved
    np.testing.assert_array_equal(fastgmm.load(path).means_, earlier.means_)
    assert _leftovers(tmp_path) == []


@pytest.fixture(scope="module")
def model_and_rows(tmp_path_factory):
    """A saved model of 2 features, and 2,000,000 rows to score with it."""
    directory = tmp_path_factory.mktemp("predict")
    rng = np.random.default_rng(0)
    model = directory / "model.npz"
    fastgmm.save(
        GaussianMixture(3, random_state=0).fit(rng.standard_normal((500, 2))), model
    )
    rows = directory / "rows.npy"
    np.save(rows, rng.standard_normal((2_000_000, 2)))
    return model, rows


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
def test_killed_predict_leaves_the_earlier_output(tmp_path, model_and_rows, how):
    model, rows = model_and_rows
    out = tmp_path / "scores.csv"
    out.write_text("earlier scores\n")
    command = [sys.executable, "-m", "fastgmm", "predict", str(model), str(rows),
               "--score", "--chunk-rows", "20000", "-o", str(out)]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.Popen(command, env=env, stderr=subprocess.PIPE)
    # Killed once the temporary file holds some of the scores.
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and proc.poll() is None:
        parts = [p for p in tmp_path.iterdir() if p.suffix == ".part"]
        if parts and parts[0].stat().st_size > 100_000:
            break
        time.sleep(0.005)
    assert proc.poll() is None, "predict ended before it could be killed"
    proc.send_signal(how)
    _, stderr = proc.communicate(timeout=60)
    assert out.read_text() == "earlier scores\n"
    if how == signal.SIGTERM:
        # Ended as an exception ends it: the temporary file removed.
        assert proc.returncode == 128 + signal.SIGTERM, stderr.decode()
        assert _leftovers(tmp_path) == []
    else:
        # Killed outright: at most the temporary file is left, never a
        # partial scores.csv.
        assert proc.returncode == -signal.SIGKILL
        assert len(_leftovers(tmp_path)) <= 1
