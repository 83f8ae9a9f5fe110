"""Where an EM run starts, written once for both of its drivers.

The Python engine (``fastgmm.engine._gaussian_model.GaussianModel``) and the
batch's compiled loop (``fastgmm.kernels._groups.fit_groups``) start a run
the same way: the moments of the k-means labels, then the precision factors
of the float64 covariances, everything stored in the data's dtype.  Both
are kernels here.  Compiled callers compile them into their own code;
Python runs each copy's Python function (``Kernel.run_in_python``), whose
calls go to the compiled kernels Python calls anyway, so running them from
Python compiles nothing more.
"""

import numpy as np

from ._config import EXACT_NJIT_OPTIONS
from ._copy import assign, log_into
from ._covariance import covariance
from ._estep import label_statistics
from ._mstep import (
    _precision_factors,
    component_moments,
    empty_component_guard,
    ill_defined_error,
    log_determinants,
)
from ._specialise import kernel

_EMPTY = np.empty(0)


@kernel(**EXACT_NJIT_OPTIONS, helper=True)
def label_moments(X, weights64, labels, n_components, reg_covar, eps, total_weight):
    """Weights, means and covariances (kernel layout, float64) of the
    one-hot responsibilities ``labels`` (int32; -1 for none).

    ``weights64`` is empty for unit weights; the weights are divided by
    ``total_weight`` (scikit-learn's initialisation divides them by the
    number of samples); ``eps`` guards empty components (10 eps of X's
    dtype).
    """
    nk, s1, s2, ref = label_statistics(X, weights64, labels, n_components)
    return component_moments(nk, s1, s2, ref, reg_covar, eps, total_weight)


@kernel(**EXACT_NJIT_OPTIONS, helper=True)
def start_parameters(weights64, means64, covariances64, factors, params):
    """Fill ``params`` (weights, means, covariances, prec_chol, log_weights,
    log_det; the first four in the data's dtype, kernel layout) from float64
    moments.

    The precision factors are those of the float64 covariances, written to
    the float64 scratch ``factors`` (shape of ``covariances64``), then
    stored; the log-weights and log-determinants are taken from the stored
    values, as the E-step reads them.  Returns False for an ill-defined
    covariance, with ``params`` left as they were.
    """
    weights, means, covariances, prec_chol, log_weights, log_det = params
    if not _precision_factors(covariances64, factors):
        return False
    assign(weights, weights64)
    assign(means, means64)
    assign(covariances, covariances64)
    assign(prec_chol, factors)
    log_into(log_weights, weights)
    assign(log_det, log_determinants(prec_chol, weights.shape[0]))
    return True


def moments_of_labels(
    X, sample_weight, labels, n_components, covariance_type, reg_covar, total_weight
):
    """``label_moments`` run from Python: float64 weights, means and
    covariances (scikit-learn's layout) of k-means ``labels``."""
    kind = covariance(covariance_type)
    weights64 = _EMPTY if sample_weight is None else sample_weight
    # int32 labels, as k-means gives them: one compiled signature for all.
    labels = np.asarray(labels, dtype=np.int32)
    weights, means, covariances = label_moments.run_in_python(
        X, weights64, labels, n_components, float(reg_covar),
        empty_component_guard(X.dtype),
        float(total_weight), code=kind.code,
    )  # fmt: skip
    return weights, means, kind.from_kernel_layout(covariances)


def parameter_arrays(lead, n_components, n_features, shape, dtype):
    """Weights, means, covariances, factors, log-weights, log-dets in kernel
    layout, zeros, with the leading axes ``lead`` (a batch's groups and
    runs; none for one run): ``start_parameters``' ``params``."""
    return (
        np.zeros((*lead, n_components), dtype=dtype),
        np.zeros((*lead, n_components, n_features), dtype=dtype),
        np.zeros((*lead, *shape), dtype=dtype),
        np.zeros((*lead, *shape), dtype=dtype),
        np.zeros((*lead, n_components)),
        np.zeros((*lead, n_components)),
    )


def parameters_from_moments(weights, means, covariances, covariance_type, dtype):
    """``start_parameters`` run from Python, on moments in scikit-learn's
    layout.

    Returns the kernels' parameters (weights, means, covariances, prec_chol,
    log_weights, log_det), as ``MixtureParameters`` holds them.  Raises
    scikit-learn's "ill-defined empirical covariance" ValueError.
    """
    kind = covariance(covariance_type)
    n_components, n_features = np.shape(means)
    covariances64 = np.ascontiguousarray(
        kind.to_kernel_layout(np.asarray(covariances, dtype=np.float64), n_features)
    )
    params = parameter_arrays((), n_components, n_features, covariances64.shape, dtype)
    moments = (
        np.asarray(weights, dtype=np.float64),
        np.asarray(means, dtype=np.float64),
        covariances64,
    )
    factors = np.empty(covariances64.shape)
    if not start_parameters.run_in_python(
        *moments, factors, params, code=kind.code
    ):  # fmt: skip
        raise ill_defined_error(dtype)
    return params
