"""The covariance types: every fact about them, in one place.

A type is known by its name (scikit-learn's) and, inside compiled kernels, by
an integer code.  ``covariance(name)`` gives the type's object, and only it
turns a name into a code (``covariance(name).code``).  Covariances and
precision Cholesky factors travel in one of two layouts:

- scikit-learn's, whose shape depends on the type (``parameter_shape``);
- the kernels', always 3-D, ``(n, m, n_features)`` (``kernel_shape``):
  (n_components, n_features, n_features) for 'full', (1, n_features,
  n_features) for 'tied', (n_components, 1, n_features) for 'diag' and, with
  the value repeated along the last axis, for 'spherical'.

A new covariance type is a subclass of ``CovarianceType`` here, registered
in ``_TYPES`` with a new code, a branch on that code in ``kernel_shape``,
and its cases in the compiled E-step (``fastgmm.kernels._estep``) and M-step
(``fastgmm.kernels._mstep``), which branch on the code.
"""

from abc import ABC, abstractmethod

import numpy as np

from ._config import NJIT_OPTIONS
from ._numba_internals import njit

# Codes the compiled kernels branch on.
FULL, TIED, DIAG, SPHERICAL = 0, 1, 2, 3


class CovarianceType(ABC):
    """One covariance type: its name, its kernel code and its layouts.

    Each method takes and returns arrays of one type; leading axes beyond a
    mixture's are kept (a batch of mixtures: one per group).
    """

    name = None
    code = None
    # Axes of a mixture's covariances in scikit-learn's layout.
    ndim = None
    # Whether covariances are matrices (else variances: inverted, factored
    # and square-rooted elementwise).
    matrices = None
    # Whether one covariance serves every component.
    shared = False
    # Whether its kernels are compiled per unrolled width of few features
    # (``fastgmm.kernels._unrolled``).
    unrolled = False
    # Whether scikit-learn estimates the covariances from uncentred sums
    # (sum x x^T - nk mu mu^T), whose rounding a start from single rows
    # reproduces (``fastgmm.kernels._mstep.uncentred_covariances``).
    uncentred = True

    @abstractmethod
    def parameter_shape(self, n_components, n_features):
        """Shape of covariances and precisions in scikit-learn's layout."""

    @abstractmethod
    def n_covariance_parameters(self, n_components, n_features):
        """Free parameters of the covariances, as scikit-learn counts them."""

    @abstractmethod
    def to_kernel_layout(self, array, n_features):
        """A covariance or precision Cholesky array in the kernels' layout."""

    @abstractmethod
    def from_kernel_layout(self, array3):
        """Inverse of ``to_kernel_layout`` (a view)."""

    @abstractmethod
    def full_matrices(self, covariances, n_components, n_features):
        """Covariances as (n_components, n_features, n_features) matrices."""

    def from_feature_variances(self, variances):
        """The covariances of variances per component and feature, as
        scikit-learn estimates them (a type of variances only)."""
        return variances

    def kernel_shape(self, n_components, n_features):
        """Shape of covariances, factors and second moments in the kernels'
        layout (``kernel_shape``, which compiled code calls with the code)."""
        return kernel_shape.py_func(self.code, n_components, n_features)

    def kernel_zeros(self, n_components, n_features):
        """Zeros in the kernels' layout (second moments to accumulate into)."""
        return np.zeros(self.kernel_shape(n_components, n_features))

    def n_parameters(self, n_components, n_features):
        """Free parameters of a Gaussian mixture: covariances, means, weights."""
        covariances = self.n_covariance_parameters(n_components, n_features)
        return int(covariances + n_features * n_components + n_components - 1)

    def __repr__(self):
        return f"covariance({self.name!r})"


class Full(CovarianceType):
    """A matrix per component."""

    name, code, ndim, matrices = "full", FULL, 3, True
    unrolled, uncentred = True, False

    def parameter_shape(self, n_components, n_features):
        return (n_components, n_features, n_features)

    def n_covariance_parameters(self, n_components, n_features):
        return n_components * n_features * (n_features + 1) / 2.0

    def to_kernel_layout(self, array, n_features):
        return np.ascontiguousarray(array)

    def from_kernel_layout(self, array3):
        return array3

    def full_matrices(self, covariances, n_components, n_features):
        return covariances


class Tied(CovarianceType):
    """One matrix shared by every component."""

    name, code, ndim, matrices = "tied", TIED, 2, True
    shared = True

    def parameter_shape(self, n_components, n_features):
        return (n_features, n_features)

    def n_covariance_parameters(self, n_components, n_features):
        return n_features * (n_features + 1) / 2.0

    def to_kernel_layout(self, array, n_features):
        return np.ascontiguousarray(array[..., None, :, :])

    def from_kernel_layout(self, array3):
        return array3[..., 0, :, :]

    def full_matrices(self, covariances, n_components, n_features):
        return np.broadcast_to(covariances, (n_components, n_features, n_features))


class Diag(CovarianceType):
    """A variance per component and feature."""

    name, code, ndim, matrices = "diag", DIAG, 2, False

    def parameter_shape(self, n_components, n_features):
        return (n_components, n_features)

    def n_covariance_parameters(self, n_components, n_features):
        return n_components * n_features

    def to_kernel_layout(self, array, n_features):
        return np.ascontiguousarray(array[..., :, None, :])

    def from_kernel_layout(self, array3):
        return array3[..., :, 0, :]

    def full_matrices(self, covariances, n_components, n_features):
        return np.stack([np.diag(c) for c in covariances])


class Spherical(CovarianceType):
    """A variance per component."""

    name, code, ndim, matrices = "spherical", SPHERICAL, 1, False

    def parameter_shape(self, n_components, n_features):
        return (n_components,)

    def n_covariance_parameters(self, n_components, n_features):
        return n_components

    def to_kernel_layout(self, array, n_features):
        array3 = np.repeat(array[..., None, None], n_features, axis=-1)
        return np.ascontiguousarray(array3)

    def from_kernel_layout(self, array3):
        return array3[..., :, 0, 0]

    def full_matrices(self, covariances, n_components, n_features):
        return covariances[:, None, None] * np.eye(n_features)

    def from_feature_variances(self, variances):
        return variances.mean(axis=-1)


_TYPES = {t.name: t for t in (Full(), Tied(), Diag(), Spherical())}
assert [t.code for t in _TYPES.values()] == list(range(len(_TYPES)))

# The names, in code order (scikit-learn's parameter constraint, CLI choices).
COVARIANCE_TYPES = tuple(_TYPES)


def covariance(name):
    """The ``CovarianceType`` named ``name`` ('full', 'tied', 'diag',
    'spherical')."""
    try:
        return _TYPES[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"covariance_type must be one of {COVARIANCE_TYPES}, got {name!r}"
        ) from None


# Inlined: called with a kernel copy's constant ``CODE``, a function of its
# own would be compiled again for each constant.
@njit(inline="always", **NJIT_OPTIONS)
def kernel_shape(code, n_components, n_features):
    """Shape of covariances, precision factors and second moments in the
    kernels' layout: the compiled side of ``CovarianceType``.

    Python callers use ``kernel_shape.py_func``: the same code, without
    loading a compiled function.
    """
    if code == FULL:
        return (n_components, n_features, n_features)
    if code == TIED:
        return (1, n_features, n_features)
    return (n_components, 1, n_features)


def symmetric_from_upper(array):
    """Symmetric matrices from their upper triangles (the kernels' second
    moments; the lower triangle is ignored).  Leading axes are kept."""
    return np.triu(array) + np.swapaxes(np.triu(array, 1), -1, -2)
