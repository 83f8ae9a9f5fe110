"""BayesianGaussianMixture fit time, per covariance type.

scikit-learn's Bayesian mixture takes no ``*_init`` arrays, so every timed
``fit`` starts from the same ``init_params="random_from_data"`` draw
(``random_state=0``) and runs exactly ``MAX_ITER`` EM iterations (``tol=0``),
Dirichlet process prior (the default).  The time includes the random start,
the prior and one final E-step, the same for every commit.  Kernels are
compiled (or loaded from Numba's cache) in ``setup``, never inside the timed
code.
"""

from .common import COVARIANCE_TYPES, make_blobs, quiet

N_SAMPLES = 20_000
N_FEATURES = 8
N_COMPONENTS = 8
MAX_ITER = 10


def _estimator(cls, covariance_type, max_iter=MAX_ITER):
    return cls(
        n_components=N_COMPONENTS,
        covariance_type=covariance_type,
        tol=0.0,
        max_iter=max_iter,
        init_params="random_from_data",
        random_state=0,
    )


class BayesianFitEM:
    """``fit`` for MAX_ITER EM iterations on 20000 x 8 data, K=8."""

    params = COVARIANCE_TYPES
    param_names = ["covariance_type"]
    timeout = 300

    def setup(self, covariance_type):
        from fastgmm import BayesianGaussianMixture

        quiet()
        self.X, _ = make_blobs(N_SAMPLES, N_FEATURES, N_COMPONENTS)
        self.gm = _estimator(BayesianGaussianMixture, covariance_type)
        # Compile (or load from cache) every kernel fit uses: data of the
        # same shape runs the same copies.
        _estimator(BayesianGaussianMixture, covariance_type, max_iter=1).fit(self.X)

    def time_fit(self, covariance_type):
        self.gm.fit(self.X)
