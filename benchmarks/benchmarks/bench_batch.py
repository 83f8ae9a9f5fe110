"""BatchGaussianMixture: many small mixtures in one call.

gmm-gpu's case (groups of 400 rows, 2-D, K=2, full covariances, the default
k-means start), ragged groups, and a per-group choice of K by BIC.  Kernels
are compiled (or loaded) in ``setup`` by a fit of a few groups.
"""

import numpy as np

from .common import quiet


def _equal_groups(n_groups, n_rows=400, n_features=2, seed=0):
    rng = np.random.default_rng(seed)
    X3 = rng.standard_normal((n_groups, n_rows, n_features))
    X3[:, : n_rows // 2] += 3
    return X3


def _ragged_groups(n_groups, n_features=4, seed=0):
    rng = np.random.default_rng(seed)
    sizes = np.exp(rng.uniform(np.log(20), np.log(20_000), n_groups)).astype(int)
    labels = np.repeat(np.arange(n_groups), sizes)
    X = rng.standard_normal((len(labels), n_features))
    X[rng.random(len(labels)) < 0.3] += 4
    return X + (labels[:, None] % 7), labels


class BatchFit:
    """1,000 groups of 400 rows; 200 ragged groups; K in 1..4 per group."""

    timeout = 300

    def setup(self):
        from fastgmm import BatchGaussianMixture

        quiet()
        self.cls = BatchGaussianMixture
        self.X3 = _equal_groups(1000)
        self.X, self.labels = _ragged_groups(200)
        self.cls(2, random_state=0).fit(self.X3[:10])
        self.cls(3, covariance_type="diag", random_state=0).fit(
            self.X[:5000], self.labels[:5000]
        )
        self.cls(range(1, 5), random_state=0).fit(self.X3[:10])

    def time_equal_groups_full(self):
        self.cls(2, random_state=0).fit(self.X3)

    def time_ragged_groups_diag(self):
        self.cls(3, covariance_type="diag", random_state=0).fit(self.X, self.labels)

    def time_components_by_bic(self):
        self.cls(range(1, 5), random_state=0).fit(self.X3)
