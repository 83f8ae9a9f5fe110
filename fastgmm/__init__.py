"""fastgmm: Gaussian Mixture Models fitted by EM with compiled Numba kernels.

``fastgmm.GaussianMixture`` is a drop-in replacement for
``sklearn.mixture.GaussianMixture`` that gives the same answers, faster.
Importing the package compiles nothing; kernels compile (or load from Numba's
cache) on first use.
"""

import importlib

from ._version import __version__

# Each public name is imported on first use, so that ``import fastgmm`` and
# ``from fastgmm import GaussianMixture`` load only what that estimator's fit
# uses (saving and loading models, the batch estimator, model selection and
# their kernels are not part of a GaussianMixture fit).
_LAZY = {
    "BatchGaussianMixture": ".estimators._batch",
    "BayesianGaussianMixture": ".estimators._bayesian_mixture",
    "GaussianMixture": ".estimators._gaussian_mixture",
    "GaussianMixtureIC": ".estimators._selection",
    "GaussianMixtureImputer": ".estimators._imputer",
    "compile_kernels": "._precompile",
    "load": "._persistence",
    "save": "._persistence",
}


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "BatchGaussianMixture",
    "BayesianGaussianMixture",
    "GaussianMixture",
    "GaussianMixtureIC",
    "GaussianMixtureImputer",
    "__version__",
    "compile_kernels",
    "load",
    "save",
]
