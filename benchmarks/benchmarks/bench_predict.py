"""predict / predict_proba / score_samples on a fitted model.

The model is fitted in ``setup`` from fixed initial parameters; only the
E-step style scoring of 100000 x 8 samples (K=16) is timed.
"""

import time

from .common import COVARIANCE_TYPES, initial_parameters, make_blobs, quiet

N_SAMPLES = 100_000
N_FEATURES = 8
N_COMPONENTS = 16


def _fitted(cls, X, centers, covariance_type):
    init = initial_parameters(centers, covariance_type)
    gm = cls(
        n_components=N_COMPONENTS,
        covariance_type=covariance_type,
        tol=0.0,
        max_iter=3,
        **init,
    )
    return gm.fit(X[:5000])


class Score:
    params = COVARIANCE_TYPES
    param_names = ["covariance_type"]

    def setup(self, covariance_type):
        from fastgmm import GaussianMixture

        quiet()
        self.X, centers = make_blobs(N_SAMPLES, N_FEATURES, N_COMPONENTS)
        self.gm = _fitted(GaussianMixture, self.X, centers, covariance_type)
        # The kernels of data of this shape, outside the
        # timed code.
        self.gm.predict(self.X)
        self.gm.predict_proba(self.X)
        self.gm.score_samples(self.X)

    def time_predict(self, covariance_type):
        self.gm.predict(self.X)

    def time_predict_proba(self, covariance_type):
        self.gm.predict_proba(self.X)

    def time_score_samples(self, covariance_type):
        self.gm.score_samples(self.X)


class ScoreSpeedupOverSklearn:
    """Ratio of scikit-learn's to fastgmm's score_samples time."""

    params = COVARIANCE_TYPES
    param_names = ["covariance_type"]
    unit = "x"

    def setup(self, covariance_type):
        from sklearn.mixture import GaussianMixture as SkGaussianMixture

        from fastgmm import GaussianMixture

        quiet()
        self.X, centers = make_blobs(N_SAMPLES, N_FEATURES, N_COMPONENTS)
        self.fast = _fitted(GaussianMixture, self.X, centers, covariance_type)
        self.sk = _fitted(SkGaussianMixture, self.X, centers, covariance_type)
        self.fast.score_samples(self.X)

    def track_score_samples_speedup(self, covariance_type):
        def best(fn):
            times = []
            for _ in range(3):
                t0 = time.perf_counter()
                fn(self.X)
                times.append(time.perf_counter() - t0)
            return min(times)

        return best(self.sk.score_samples) / best(self.fast.score_samples)
