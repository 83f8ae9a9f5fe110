"""The covariance types: every fact about them, in one place.

A type is known by its name (scikit-learn's) and, inside compiled kernels, by
an integer code.  Covariances and precision Cholesky factors travel in one of
two layouts:

- scikit-learn's, whose shape depends on the type (``parameter_shape``);
- the kernels', always 3-D, ``(n, m, n_features)`` (``kernel_shape``):
  (n_components, n_features, n_features) for 'full', (1, n_features,
  n_features) for 'tied', (n_components, 1, n_features) for 'diag' and, with
  the value repeated along the last axis, for 'spherical'.

A new covariance type adds its name, code and a branch to each function
here, then its cases in the kernels (``fastgmm.kernels._estep``) and the M-step
(``fastgmm.kernels._mstep``).
"""

import numpy as np

from ._config import NJIT_OPTIONS
from ._numba_internals import njit

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")

# Codes the compiled kernels branch on.
FULL, TIED, DIAG, SPHERICAL = 0, 1, 2, 3
COVARIANCE_CODES = {"full": FULL, "tied": TIED, "diag": DIAG, "spherical": SPHERICAL}


def parameter_shape(covariance_type, n_components, n_features):
    """Shape of covariances and precisions in scikit-learn's layout."""
    return {
        "full": (n_components, n_features, n_features),
        "tied": (n_features, n_features),
        "diag": (n_components, n_features),
        "spherical": (n_components,),
    }[covariance_type]


# Inlined: called with a kernel copy's constant ``CODE``, a function of its
# own would be compiled again for each constant.
@njit(inline="always", **NJIT_OPTIONS)
def kernel_shape(code, n_components, n_features):
    """Shape of covariances, precision factors and second moments in the
    kernels' layout.

    Python callers use ``kernel_shape.py_func``: the same code, without
    loading a compiled function.
    """
    if code == FULL:
        return (n_components, n_features, n_features)
    if code == TIED:
        return (1, n_features, n_features)
    return (n_components, 1, n_features)


def kernel_zeros(covariance_type, n_components, n_features):
    """Zeros in the kernels' layout (second moments to accumulate into)."""
    code = COVARIANCE_CODES[covariance_type]
    return np.zeros(kernel_shape.py_func(code, n_components, n_features))


def n_covariance_parameters(covariance_type, n_components, n_features):
    """Free parameters of the covariances, as scikit-learn counts them."""
    if covariance_type == "full":
        return n_components * n_features * (n_features + 1) / 2.0
    if covariance_type == "tied":
        return n_features * (n_features + 1) / 2.0
    if covariance_type == "diag":
        return n_components * n_features
    return n_components


def n_parameters(covariance_type, n_components, n_features):
    """Free parameters of a Gaussian mixture: covariances, means, weights."""
    covariance = n_covariance_parameters(covariance_type, n_components, n_features)
    return int(covariance + n_features * n_components + n_components - 1)


def to_kernel_layout(array, covariance_type, n_features):
    """A covariance or precision Cholesky array in the kernels' layout.

    Leading axes are kept (a batch of mixtures: one per group).
    """
    if covariance_type == "full":
        array3 = array
    elif covariance_type == "tied":
        array3 = array[..., None, :, :]
    elif covariance_type == "diag":
        array3 = array[..., :, None, :]
    else:
        array3 = np.repeat(array[..., None, None], n_features, axis=-1)
    return np.ascontiguousarray(array3)


def from_kernel_layout(array3, covariance_type):
    """Inverse of ``to_kernel_layout`` (a view); leading axes are kept."""
    if covariance_type == "full":
        return array3
    if covariance_type == "tied":
        return array3[..., 0, :, :]
    if covariance_type == "diag":
        return array3[..., :, 0, :]
    return array3[..., :, 0, 0]


def symmetric_from_upper(array):
    """Symmetric matrices from their upper triangles (the kernels' second
    moments; the lower triangle is ignored).  Leading axes are kept."""
    return np.triu(array) + np.swapaxes(np.triu(array, 1), -1, -2)


def full_matrices(covariances, covariance_type, n_components, n_features):
    """Covariances as (n_components, n_features, n_features) matrices."""
    if covariance_type == "full":
        return covariances
    if covariance_type == "tied":
        return np.broadcast_to(covariances, (n_components, n_features, n_features))
    if covariance_type == "diag":
        return np.stack([np.diag(c) for c in covariances])
    return covariances[:, None, None] * np.eye(n_features)
