"""README's "Build once, use everywhere": compiling ahead covers what runs.

An image build, a new cluster node or a Dask worker runs
``fastgmm compile`` / ``fastgmm.compile_kernels`` once so that its fits
never compile.  Each test runs the recipe in a process of its own, then the
work it promises to cover, and checks that this work needed no kernel the
recipe had not already compiled or loaded in that process (it neither
compiled nor loaded another overload), whatever the cache held before.
"""

import json
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
from conftest import local_cluster

AFTER_COMPILE = textwrap.dedent(
    """
    import json, warnings
    import numpy as np
    import fastgmm
    from fastgmm.kernels._warmup import kernel_overloads as count_overloads

    fastgmm.compile_kernels(["float64"], ["full"])
    before = count_overloads()
    rng = np.random.default_rng(3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for n_rows in (200, 10_000):  # one block, and several in threads
            X = rng.standard_normal((n_rows, 5))
            X[: n_rows // 2] += 4.0
            model = fastgmm.GaussianMixture(3, random_state=0).fit(X)
            model.predict(X), model.predict_proba(X), model.score(X)
        groups = np.arange(200) % 4
        batch = fastgmm.BatchGaussianMixture(2, random_state=0).fit(X[:200], groups)
        batch.predict(X[:200], groups)
    after = count_overloads()
    print(json.dumps({k: [before.get(k, 0), v] for k, v in after.items()
                      if v != before.get(k, 0)}))
    """
)


def test_after_compile_kernels_fits_need_no_other_kernel():
    # The image and cluster-node recipes: `fastgmm compile` (this group),
    # then fits, predictions and scores of that dtype and covariance type.
    proc = subprocess.run(
        [sys.executable, "-c", AFTER_COMPILE],
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ),
        timeout=1200,
    )
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {}


def test_dask_workers_compile_before_the_first_fit():
    pytest.importorskip("distributed")
    da = pytest.importorskip("dask.array")
    import fastgmm
    from fastgmm.kernels._warmup import kernel_overloads

    cluster, client = local_cluster(1)
    try:
        client.run(fastgmm.compile_kernels, ["float64"], ["full"])
        (before,) = client.run(kernel_overloads).values()
        rng = np.random.default_rng(4)
        X = rng.standard_normal((6000, 3))
        X[:3000] += 4.0
        with client.as_current(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dX = da.from_array(X, chunks=(2000, 3))
            model = fastgmm.GaussianMixture(2, random_state=0).fit(dX)
            model.predict(dX).compute()
        (after,) = client.run(kernel_overloads).values()
    finally:
        client.close()
        cluster.close()
    assert model.converged_
    assert after == before
