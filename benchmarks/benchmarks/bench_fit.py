"""EM fit time, memory and speed-up over scikit-learn, per covariance type.

Each timed ``fit`` runs exactly ``MAX_ITER`` EM iterations from fixed initial
parameters (``tol=0``), so the reported time divided by ``MAX_ITER`` is the
cost of one iteration (plus one final E-step and input validation, the same
for every commit).  Kernels are compiled (or loaded from Numba's cache) in
``setup``, never inside the timed code.
"""

import time

import numpy as np

from .common import COVARIANCE_TYPES, initial_parameters, make_blobs, quiet

N_SAMPLES = 20_000
N_FEATURES = 8
N_COMPONENTS = 8
MAX_ITER = 10

DTYPES = {"float64": np.float64, "float32": np.float32}


def _estimator(cls, covariance_type, init, max_iter=MAX_ITER):
    return cls(
        n_components=N_COMPONENTS,
        covariance_type=covariance_type,
        tol=0.0,
        max_iter=max_iter,
        **init,
    )


class FitEM:
    """``fit`` for MAX_ITER EM iterations on 20000 x 8 data, K=8."""

    params = (COVARIANCE_TYPES, list(DTYPES))
    param_names = ["covariance_type", "dtype"]
    timeout = 300

    def setup(self, covariance_type, dtype):
        from fastgmm import GaussianMixture

        quiet()
        self.X, centers = make_blobs(
            N_SAMPLES, N_FEATURES, N_COMPONENTS, dtype=DTYPES[dtype]
        )
        self.init = initial_parameters(centers, covariance_type)
        self.gm = _estimator(GaussianMixture, covariance_type, self.init)
        # Compile (or load from cache) every kernel fit uses: data of the
        # same shape runs the same copies.
        _estimator(GaussianMixture, covariance_type, self.init, max_iter=1).fit(self.X)

    def time_fit(self, covariance_type, dtype):
        self.gm.fit(self.X)


class FitMemory:
    """Peak resident memory of the process around one float64 ``fit``."""

    params = COVARIANCE_TYPES
    param_names = ["covariance_type"]
    timeout = 300

    def setup(self, covariance_type):
        from fastgmm import GaussianMixture

        quiet()
        self.X, centers = make_blobs(N_SAMPLES, N_FEATURES, N_COMPONENTS)
        init = initial_parameters(centers, covariance_type)
        self.gm = _estimator(GaussianMixture, covariance_type, init)
        _estimator(GaussianMixture, covariance_type, init, max_iter=1).fit(self.X)

    def peakmem_fit(self, covariance_type):
        self.gm.fit(self.X)


class SpeedupOverSklearn:
    """Ratio of scikit-learn's to fastgmm's fit time, same data and init."""

    params = COVARIANCE_TYPES
    param_names = ["covariance_type"]
    unit = "x"
    timeout = 300

    def setup(self, covariance_type):
        from sklearn.mixture import GaussianMixture as SkGaussianMixture

        from fastgmm import GaussianMixture

        quiet()
        self.X, centers = make_blobs(N_SAMPLES, N_FEATURES, N_COMPONENTS)
        init = initial_parameters(centers, covariance_type)
        self.fast = _estimator(GaussianMixture, covariance_type, init)
        self.sk = _estimator(SkGaussianMixture, covariance_type, init)
        self.fast.fit(self.X)  # the kernels of data of this shape

    @staticmethod
    def _best_time(fit, X, repeats=3):
        best = np.inf
        for _ in range(repeats):
            t0 = time.perf_counter()
            fit(X)
            best = min(best, time.perf_counter() - t0)
        return best

    def track_fit_speedup(self, covariance_type):
        t_sk = self._best_time(self.sk.fit, self.X)
        t_fast = self._best_time(self.fast.fit, self.X)
        return t_sk / t_fast


class SmallFits:
    """One default ``fit`` of 500 x 2 data with K=3: per-call overhead."""

    params = ["kmeans", "random_from_data"]
    param_names = ["init_params"]

    def setup(self, init_params):
        from fastgmm import GaussianMixture

        quiet()
        self.X, _ = make_blobs(500, 2, 3, seed=2)
        self.gm = GaussianMixture(3, init_params=init_params, random_state=0)
        self.gm.fit(self.X)

    def time_fit_small(self, init_params):
        self.gm.fit(self.X)


class KMeansStart:
    """The default start alone: ``fit`` with ``max_iter=0`` of 100000 x 8, K=16."""

    timeout = 300

    def setup(self):
        from fastgmm import GaussianMixture

        quiet()
        self.X, _ = make_blobs(100_000, N_FEATURES, 16, seed=3)
        self.gm = GaussianMixture(16, max_iter=0, random_state=0)
        self.gm.fit(self.X)

    def time_kmeans_start(self):
        self.gm.fit(self.X)
