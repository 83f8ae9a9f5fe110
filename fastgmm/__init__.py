"""fastgmm: Gaussian Mixture Models fitted by EM with compiled Numba kernels.

``fastgmm.GaussianMixture`` is a drop-in replacement for
``sklearn.mixture.GaussianMixture`` that gives the same answers, faster.
Importing the package compiles nothing; kernels compile (or load from Numba's
cache) on first use.
"""

from ._batch import BatchGaussianMixture
from ._bayesian_mixture import BayesianGaussianMixture
from ._gaussian_mixture import GaussianMixture
from ._selection import GaussianMixtureIC
from ._warmup import compile_kernels

__version__ = "0.1.0"


def __getattr__(name):
    # Saving and loading models is not part of a fit: imported on first use,
    # so that ``import fastgmm`` stays light.
    if name in ("load", "save"):
        from . import _persistence

        return getattr(_persistence, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BatchGaussianMixture",
    "BayesianGaussianMixture",
    "GaussianMixture",
    "GaussianMixtureIC",
    "__version__",
    "compile_kernels",
    "load",
    "save",
]
