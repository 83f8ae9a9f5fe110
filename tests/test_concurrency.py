"""predict / predict_proba / score_samples from many Python threads at once."""

import os
import subprocess
import sys

import pytest

SCRIPT = """
import threading
import numba
import numpy as np
from fastgmm import GaussianMixture

rng = np.random.default_rng(0)
X = rng.standard_normal((40000, 3))  # several blocks: the kernels start threads
X[::2] += 3
model = GaussianMixture(3, random_state=0).fit(X)
expected = (model.predict(X), model.predict_proba(X), model.score_samples(X))
mismatches = []

def work():
    for _ in range(50):
        got = (model.predict(X), model.predict_proba(X), model.score_samples(X))
        if not all(np.array_equal(a, b) for a, b in zip(got, expected)):
            mismatches.append(1)

threads = [threading.Thread(target=work) for _ in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(numba.threading_layer(), len(mismatches))
"""


@pytest.mark.parametrize("layer", ["workqueue", "default"])
def test_concurrent_scoring_gives_the_serial_answers(layer):
    env = dict(os.environ)
    if layer == "default":
        env.pop("NUMBA_THREADING_LAYER", None)
    else:
        env["NUMBA_THREADING_LAYER"] = layer
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    used, mismatches = done.stdout.split()
    if layer != "default":
        assert used == layer
    assert mismatches == "0"
