"""EM on a Dask array: per-pass overhead of the map-reduce over row blocks.

Small data (200000 x 8 in 8 blocks, K=8) under Dask's threaded scheduler, so
that the suite stays quick and needs no cluster; the fit starts from fixed
initial parameters (``tol=0``, ``MAX_ITER`` passes).  Compared with
``bench_fit``, the difference is what the Dask path costs per pass.  Skipped
when dask is not installed.
"""

from .common import COVARIANCE_TYPES, initial_parameters, make_blobs, quiet

N_SAMPLES = 200_000
N_FEATURES = 8
N_COMPONENTS = 8
N_BLOCKS = 8
MAX_ITER = 5


def _dask_array():
    try:
        import dask.array as da
    except ImportError:
        raise NotImplementedError("dask is not installed") from None
    return da


class DaskFit:
    """``fit`` on a Dask array (threaded scheduler), MAX_ITER passes."""

    params = COVARIANCE_TYPES
    param_names = ["covariance_type"]
    timeout = 300

    def setup(self, covariance_type):
        da = _dask_array()  # first: skips the benchmark without dask
        import dask

        from fastgmm import GaussianMixture

        quiet()
        X, centers = make_blobs(N_SAMPLES, N_FEATURES, N_COMPONENTS)
        self.X = da.from_array(X, chunks=(N_SAMPLES // N_BLOCKS, N_FEATURES))
        self.gm = GaussianMixture(
            N_COMPONENTS,
            covariance_type=covariance_type,
            tol=0.0,
            max_iter=MAX_ITER,
            **initial_parameters(centers, covariance_type),
        )
        # Set for the benchmark process; teardown restores the previous one.
        self.config = dask.config.set(scheduler="threads")
        # Compile (or load from cache) the kernels, outside the timed code.
        self.gm.fit(self.X[:2000])
        self.gm.predict(self.X[:2000]).compute()

    def teardown(self, covariance_type):
        # asv calls teardown also after setup skipped the benchmark.
        if hasattr(self, "config"):
            self.config.__exit__(None, None, None)

    def time_fit(self, covariance_type):
        self.gm.fit(self.X)

    def time_predict(self, covariance_type):
        self.gm.predict(self.X).compute()


class DaskInit:
    """The distributed initialisations, on the same data (K=8, 'full')."""

    params = ["kmeans", "k-means++", "random", "random_from_data"]
    param_names = ["init_params"]
    timeout = 300

    def setup(self, init_params):
        da = _dask_array()  # first: skips the benchmark without dask
        import dask

        from fastgmm import GaussianMixture

        quiet()
        X, _ = make_blobs(N_SAMPLES, N_FEATURES, N_COMPONENTS, seed=3)
        self.X = da.from_array(X, chunks=(N_SAMPLES // N_BLOCKS, N_FEATURES))
        self.gm = GaussianMixture(
            N_COMPONENTS, init_params=init_params, max_iter=0, random_state=0
        )
        self.config = dask.config.set(scheduler="threads")
        self.gm.fit(self.X[:2000])

    def teardown(self, init_params):
        # asv calls teardown also after setup skipped the benchmark.
        if hasattr(self, "config"):
            self.config.__exit__(None, None, None)

    def time_initialisation(self, init_params):
        self.gm.fit(self.X)
