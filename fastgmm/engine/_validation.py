"""Checks of user input, with scikit-learn's messages."""

import numbers
from contextlib import contextmanager

import numpy as np
from numpy.random.bit_generator import ISeedSequence
from sklearn.utils import check_array
from sklearn.utils import check_random_state as sklearn_check_random_state
from sklearn.utils._param_validation import validate_parameter_constraints
from sklearn.utils.validation import validate_data

from ..kernels import covariance


def check_shape(param, param_shape, name):
    if param.shape != param_shape:
        raise ValueError(
            "The parameter '%s' should have the shape of %s, but got %s"
            % (name, param_shape, param.shape)
        )


def check_weights(weights, n_components):
    """Validate ``weights_init``: shape, range [0, 1] and normalisation."""
    weights = check_array(weights, dtype=[np.float64, np.float32], ensure_2d=False)
    check_shape(weights, (n_components,), "weights")
    if np.any(weights < 0.0) or np.any(weights > 1.0):
        raise ValueError(
            "The parameter 'weights' should be in the range "
            "[0, 1], but got max value %.5f, min value %.5f"
            % (np.min(weights), np.max(weights))
        )
    atol = 1e-6 if weights.dtype == np.float32 else 1e-8
    if not np.allclose(abs(1.0 - np.sum(weights)), 0.0, atol=atol):
        raise ValueError(
            "The parameter 'weights' should be normalized, but got sum(weights) = %.5f"
            % np.sum(weights)
        )
    return weights


def check_means(means, n_components, n_features):
    """Validate ``means_init``'s shape."""
    means = check_array(means, dtype=[np.float64, np.float32], ensure_2d=False)
    check_shape(means, (n_components, n_features), "means")
    return means


def check_positive(precision, covariance_type):
    if np.any(precision <= 0.0):
        raise ValueError("'%s precision' should be positive" % covariance_type)


def check_symmetric_positive_definite(precision, covariance_type):
    if not (
        np.all(np.isclose(precision, precision.T))
        and np.all(np.linalg.eigvalsh(precision) > 0.0)
    ):
        raise ValueError(
            "'%s precision' should be symmetric, positive-definite" % covariance_type
        )


def check_precisions(precisions, covariance_type, n_components, n_features):
    """Validate ``precisions_init``: shape and positive definiteness."""
    kind = covariance(covariance_type)
    precisions = check_array(
        precisions,
        dtype=[np.float64, np.float32],
        ensure_2d=False,
        allow_nd=kind.ndim > 2,
    )
    check_shape(
        precisions,
        kind.parameter_shape(n_components, n_features),
        "%s precision" % covariance_type,
    )
    if kind.matrices:
        # One matrix per component, or the shared one.
        for precision in kind.to_kernel_layout(precisions, n_features):
            check_symmetric_positive_definite(precision, covariance_type)
    else:
        check_positive(precisions, covariance_type)
    return precisions


# ---------------------------------------------------------------------------
# Fast paths for many small calls.  scikit-learn's generic checks cost more
# than a whole fit of a few hundred rows; the common, already valid case is
# recognised here at a fraction of the cost, and everything else goes through
# scikit-learn, so errors and warnings are exactly its own.


def validate_rows(estimator, X, reset, ensure_min_samples=1, allow_nan=False):
    """``validate_data(estimator, X, dtype=[float64, float32], order="C", ...)``.

    A C-ordered float64 or float32 ndarray with enough finite rows (and, with
    ``reset=False``, the fitted number of features and no fitted feature
    names) is returned as it is, with ``n_features_in_`` set as
    ``validate_data`` sets it; anything else is validated by scikit-learn.
    ``allow_nan``: NaN is accepted (a missing entry); infinity never is.
    """
    if (
        type(X) is np.ndarray
        and X.ndim == 2
        and X.dtype in _FLOAT_DTYPES
        and X.flags.c_contiguous
        and X.shape[0] >= ensure_min_samples
        and X.shape[1] >= 1
        and sum_is_finite(X)
    ):
        if reset:
            estimator.n_features_in_ = X.shape[1]
            if hasattr(estimator, "feature_names_in_"):
                del estimator.feature_names_in_
            return X
        if X.shape[1] == estimator.n_features_in_ and not hasattr(
            estimator, "feature_names_in_"
        ):
            return X
    return validate_data(
        estimator,
        X,
        dtype=list(_FLOAT_DTYPES),
        order="C",
        reset=reset,
        ensure_min_samples=ensure_min_samples,
        ensure_all_finite="allow-nan" if allow_nan else True,
    )


_FLOAT_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))


def sum_is_finite(X):
    """scikit-learn's first finiteness test: one pass, no temporary.

    A sum that overflows on finite values sends X to the full check.
    """
    with np.errstate(over="ignore"):
        return bool(np.isfinite(X.sum()))


class _UnusedSeedSequence(ISeedSequence):
    """Seeds a bit generator that is reseeded at once: no hashing needed."""

    def generate_state(self, n_words, dtype=np.uint32):
        return np.zeros(n_words, dtype=dtype)


def is_seed(seed):
    return isinstance(seed, numbers.Integral) and 0 <= seed < 2**32


def _unseeded_random_state():
    return np.random.RandomState(np.random.MT19937(_UnusedSeedSequence()))


def check_random_state(seed):
    """``sklearn.utils.check_random_state``, faster for an integer seed.

    ``np.random.RandomState(seed)`` first seeds its generator from a hashed
    seed sequence (over 100 microseconds), then reseeds it from ``seed``;
    only the second seeding is done here, which gives the same state.
    """
    if is_seed(seed):
        random_state = _unseeded_random_state()
        random_state.seed(seed)
        return random_state
    return sklearn_check_random_state(seed)


# Generators free for reuse by ``random_state_for``.
_SPARE_RANDOM_STATES = []
_MAX_SPARE_RANDOM_STATES = 8


@contextmanager
def random_state_for(seed):
    """``check_random_state(seed)`` for the length of a ``with`` block.

    For an integer seed a spare generator is reseeded and taken back at the
    end of the block: making a new MT19937 costs about 40 microseconds (NumPy
    fills its state one element at a time), reseeding one about 2.  The
    generator must not be kept after the block.
    """
    if not is_seed(seed):
        yield sklearn_check_random_state(seed)
        return
    try:
        random_state = _SPARE_RANDOM_STATES.pop()
    except IndexError:
        random_state = _unseeded_random_state()
    random_state.seed(seed)
    try:
        yield random_state
    finally:
        if len(_SPARE_RANDOM_STATES) < _MAX_SPARE_RANDOM_STATES:
            _SPARE_RANDOM_STATES.append(random_state)


# ----------------------------------------------------------------------
# Estimator parameters

# (class, name, type, value) of scalar parameter values found valid.
_VALID_PARAMETERS = set()
_MAX_VALID_PARAMETERS = 4096
_CACHED_TYPES = (int, float, str, bool, type(None))
_PARAMETER_NAMES = {}


class CachedParameterValidation:
    """``BaseEstimator``'s parameter checks, without repeating them per fit.

    scikit-learn introspects the constructor's signature for every
    ``get_params`` and checks every parameter for every ``fit``: about 80
    microseconds, more than a small fit's EM iteration.  The names are found
    once per class, and a scalar value already found valid for a parameter
    is not checked again; anything else goes through scikit-learn's
    ``validate_parameter_constraints``, so errors are its own.  Put it before
    ``BaseEstimator`` among the bases.
    """

    @classmethod
    def _get_param_names(cls):
        names = _PARAMETER_NAMES.get(cls)
        if names is None:
            names = tuple(super()._get_param_names())
            _PARAMETER_NAMES[cls] = names
        return list(names)

    def _validate_params(self):
        cls = type(self)
        unchecked = {}
        for name in self._get_param_names():
            value = getattr(self, name)
            known = type(value) in _CACHED_TYPES and (
                (cls, name, type(value), value) in _VALID_PARAMETERS
            )
            if not known:
                unchecked[name] = value
        validate_parameter_constraints(
            self._parameter_constraints, unchecked, caller_name=cls.__name__
        )
        if len(_VALID_PARAMETERS) > _MAX_VALID_PARAMETERS:
            _VALID_PARAMETERS.clear()
        for name, value in unchecked.items():
            if type(value) in _CACHED_TYPES:
                _VALID_PARAMETERS.add((cls, name, type(value), value))


@contextmanager
def unchanged_on_failure(estimator):
    """Within the block, an error restores ``estimator``'s attributes: a
    failed fit leaves an earlier fitted model as it was."""
    previous_state = estimator.__dict__.copy()
    try:
        yield
    except BaseException:
        estimator.__dict__.clear()
        estimator.__dict__.update(previous_state)
        raise


def rows_and_groups(X, groups, allow_nan):
    """2-D float rows, the sorted distinct labels, and each row's label index.

    For a 3-D X the index is None: group g holds the g-th run of
    ``n_samples_per_group`` rows.
    """
    X = np.asarray(X) if not hasattr(X, "__array__") else X
    ndim = np.ndim(X)
    if ndim == 3:
        if groups is not None:
            raise ValueError(
                "A 3-D X holds one group per leading index: pass no groups."
            )
        X = check_array(
            X, dtype=[np.float64, np.float32], order="C", allow_nd=True,
            ensure_all_finite=not allow_nan,
        )  # fmt: skip
        n_groups, n_rows = X.shape[:2]
        # Each row's group is implied: None (see ``GroupLayout``).
        return X.reshape(n_groups * n_rows, X.shape[2]), np.arange(n_groups), None
    if groups is None:
        raise ValueError(
            "groups is required for a 2-D X (or pass X of shape "
            "(n_groups, n_samples_per_group, n_features))."
        )
    X = check_array(
        X, dtype=[np.float64, np.float32], order="C",
        ensure_all_finite=not allow_nan,
    )  # fmt: skip
    groups = np.asarray(groups)
    if groups.ndim != 1 or len(groups) != X.shape[0]:
        raise ValueError(
            f"groups must have shape ({X.shape[0]},), one label per row; "
            f"got shape {groups.shape}."
        )
    labels, group_of_row = distinct_labels(groups)
    return X, labels, group_of_row


def distinct_labels(groups):
    """``np.unique(groups, return_inverse=True)``, without sorting for integers
    of a range not much wider than their number (the usual group ids)."""
    if groups.dtype.kind in "iu" and len(groups):
        low, high = int(groups.min()), int(groups.max())
        if high - low < 2 * len(groups) + 1024:
            # (Fresh arrays of the rows' size cost more than the passes:
            # none is made where the labels need no offset or renumbering.)
            offset = groups.astype(np.int64, copy=False)
            if low:
                offset = offset - np.int64(low)
            present = np.bincount(offset, minlength=high - low + 1) > 0
            labels = (np.flatnonzero(present) + low).astype(groups.dtype)
            if present.all():  # every id from low to high: the offsets
                return labels, offset.astype(index_dtype(len(groups)))
            codes = (np.cumsum(present) - 1).astype(index_dtype(len(groups)))
            return labels, np.take(codes, offset)
    labels, group_of_row = np.unique(groups, return_inverse=True)
    return labels, group_of_row.reshape(-1).astype(index_dtype(len(groups)))


def index_dtype(n):
    """int32 group indices where they fit (half the memory of intp)."""
    return np.int32 if n < 2**31 else np.intp
