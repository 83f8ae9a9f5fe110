"""Rows in this process: the in-memory ``fastgmm.engine._em.DataSource``.

``InMemoryData`` runs the Numba kernels over an array in this process;
``fastgmm.engine._dask.DaskData`` implements the same protocol for a Dask array
whose row blocks stay on a cluster.
"""

import sys

import numpy as np

from ..kernels import em_statistics, runs_in_parallel, score_rows_into
from ._init import initial_assignment, initial_moments, row_scatter

_EMPTY = np.empty(0)


def is_dask_array(X):
    """Whether ``X`` is a Dask array; never imports dask itself."""
    dask_array = sys.modules.get("dask.array")
    return dask_array is not None and isinstance(X, dask_array.Array)


def is_dask_frame(X):
    """Whether ``X`` is a Dask DataFrame or Series; never imports dask itself."""
    dask_dataframe = sys.modules.get("dask.dataframe")
    return dask_dataframe is not None and isinstance(
        X, (dask_dataframe.DataFrame, dask_dataframe.Series)
    )


def dask_frames_as_arrays(*values):
    """Dask DataFrames and Series as Dask arrays of their values, a block per
    partition; other values as given.

    The partitions' lengths are computed, a pass over the first frame; the
    others reuse them when they have as many partitions (the columns of
    one table).
    """
    lengths = None
    arrays = []
    for value in values:
        if is_dask_frame(value):
            reuse = lengths is not None and value.npartitions == len(lengths)
            value = value.to_dask_array(lengths=lengths if reuse else True)
            lengths = value.chunks[0]
        arrays.append(value)
    return tuple(arrays)


def output_dtype(X_dtype, weights, means, prec_chol):
    """The dtype of per-row log p(x) and responsibilities on rows of ``X_dtype``.

    What scikit-learn's ``score_samples`` and ``predict_proba`` return: the
    result type of the data's and the parameters' dtypes, float32 only when
    all are float32.  The kernel's values are float64 either way; float32
    outputs are those values rounded once.
    """
    return np.result_type(
        X_dtype, *(np.asarray(a).dtype for a in (weights, means, prec_chol))
    )


def score_rows(X, params, log_norm=False, resp=False, labels=False, dtype=None):
    """Per-row log p(x), responsibilities and labels of validated ``X``.

    Only the outputs asked for are allocated; the others are returned empty.
    ``dtype``: that of log p(x) and the responsibilities; by default
    scikit-learn's (``output_dtype``).
    """
    n_samples = X.shape[0]
    n_components = params.means.shape[0]
    if dtype is None:
        dtype = output_dtype(X.dtype, params.weights, params.means, params.prec_chol)
    out_log_norm = np.empty(n_samples if log_norm else 0, dtype=dtype)
    out_resp = np.empty((n_samples if resp else 0, n_components), dtype=dtype)
    out_labels = np.empty(n_samples if labels else 0, dtype=np.intp)
    score_rows_into(
        X, *params.as_args(), out_log_norm, out_resp, out_labels, code=params.code
    )
    return out_log_norm, out_resp, out_labels


class InMemoryData:
    """Validated rows in this process, with optional row weights.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float32 or float64, C order
    sample_weight : ndarray of shape (n_samples,) or None
    """

    def __init__(self, X, sample_weight=None):
        self.X = X
        self.sample_weight = sample_weight
        self.dtype = X.dtype
        self.n_samples = X.shape[0]
        self.parallel = runs_in_parallel(self.n_samples)
        self.total_weight = (
            float(self.n_samples) if sample_weight is None else sample_weight.sum()
        )
        # A ``fastgmm.kernels._warmup.CompileAhead`` of the kernels after the start.
        self.compiling = None

    def initial_moments(
        self, start, n_components, covariance_type, reg_covar, random_state
    ):
        """Weights, means and covariances of the initial responsibilities.

        ``start``: an ``init_params`` name, drawn as scikit-learn draws it,
        or an ``InitialAssignment`` computed by the caller.
        """
        assignment = start
        if isinstance(start, str):
            assignment = initial_assignment(
                self.X, self.sample_weight, n_components, start, random_state
            )
        if self.compiling is not None:
            self.compiling.wait()
            self.compiling = None
        return initial_moments(
            self.X, self.sample_weight, assignment, n_components, covariance_type,
            reg_covar, self.total_weight,
        )  # fmt: skip

    def statistics(self, params, ref):
        """E-step: (sum of weighted log p(x), nk, s1, s2) about ``ref``."""
        weights = _EMPTY if self.sample_weight is None else self.sample_weight
        return em_statistics(self.X, weights, *params.as_args(), ref, code=params.code)

    def labels(self, params):
        """Most probable component of each row."""
        return score_rows(self.X, params, labels=True)[2]

    def moments(self):
        """Weighted mean and scatter of all rows (``DataSource.moments``).

        The mean as scikit-learn's ``X.mean(axis=0)`` computes it; the scatter
        a block of rows at a time, without a centred copy of X.
        """
        if self.sample_weight is None:
            mean = self.X.mean(axis=0)
        else:
            mean = np.average(self.X, axis=0, weights=self.sample_weight)
        mean = np.asarray(mean, dtype=np.float64)
        return mean, row_scatter(self.X, self.sample_weight, mean)
