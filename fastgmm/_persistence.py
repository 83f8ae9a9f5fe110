"""Saving fitted models without pickle, and loading them back safely.

The format is an ``.npz`` file (NumPy's zip of ``.npy`` arrays) with:

- ``__fastgmm__``: a JSON header, ``{"format": "fastgmm-model", "version": 1,
  "fastgmm": <version that wrote it>, "estimator": <estimator>}``, where an
  estimator is ``{"class": name, "params": {...}, "attributes": {...}}`` and
  every value is JSON, or a reference to one of the file's arrays
  (``{"array": key}``), or a tagged list, tuple, range, dict, NumPy
  ``RandomState`` or nested estimator;
- the arrays, read with ``allow_pickle=False``;
- any extra arrays the writer added (``fastgmm fit --out`` adds its fit
  summary), which loading ignores.

Loading builds only the estimator classes of ``ESTIMATORS`` and NumPy arrays,
checks every fitted array's shape, and raises one ``ValueError`` naming what
is wrong; nothing in the file is executed.
"""

from __future__ import annotations

import json
import zipfile

import numpy as np

from ._atomic_file import atomic_write

FORMAT = "fastgmm-model"
VERSION = 1
HEADER = "__fastgmm__"


def _estimators():
    from .estimators._batch import BatchGaussianMixture
    from .estimators._bayesian_mixture import BayesianGaussianMixture
    from .estimators._gaussian_mixture import GaussianMixture
    from .estimators._selection import GaussianMixtureIC

    return {
        cls.__name__: cls
        for cls in (
            GaussianMixture, GaussianMixtureIC, BatchGaussianMixture,
            BayesianGaussianMixture,
        )
    }  # fmt: skip


# ---------------------------------------------------------------------------
# Writing


def save(model, path, extra=None):
    """Save a fitted fastgmm estimator to ``path`` (an ``.npz`` file).

    Parameters
    ----------
    model : GaussianMixture, BayesianGaussianMixture, GaussianMixtureIC or
        BatchGaussianMixture
        Fitted.
    path : str or path-like
        Written to exactly this name.
    extra : dict of str to array-like, default=None
        More arrays to store beside the model (ignored by :func:`load`).

    Raises
    ------
    TypeError
        For an object that is not a fastgmm estimator.
    ValueError
        For an estimator that is not fitted, or a value the format cannot
        hold (an object array of other than strings).
    """
    from sklearn.utils.validation import check_is_fitted

    if type(model).__name__ not in _estimators():
        raise TypeError(
            f"save() takes a fitted fastgmm estimator, not {type(model).__name__}."
        )
    check_is_fitted(model)
    arrays = {}
    header = {
        "format": FORMAT,
        "version": VERSION,
        "fastgmm": _version(),
        "estimator": _encode_estimator(model, arrays),
    }
    for key, value in (extra or {}).items():
        if key == HEADER or key in arrays:
            raise ValueError(f"extra array name {key!r} is taken by the model.")
        arrays[key] = np.asarray(value)
    arrays[HEADER] = np.array(json.dumps(header))
    # Written whole or not at all: a save that fails part-way leaves the
    # file at ``path`` as it was.
    with atomic_write(path) as f:
        np.savez(f, **arrays)


def _version():
    from ._version import __version__

    return __version__


def _encode_estimator(model, arrays):
    params = {
        name: _encode(value, arrays)
        for name, value in model.get_params(deep=False).items()
    }
    attributes = {
        name: _encode(value, arrays)
        for name, value in vars(model).items()
        if name.endswith("_") and not name.startswith("_")
    }
    return {"class": type(model).__name__, "params": params, "attributes": attributes}


def _encode(value, arrays):
    """A JSON value, or a tagged reference to arrays stored in ``arrays``."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, np.generic):
        return value
    if isinstance(value, np.generic):
        return {"scalar": _store(np.asarray(value), arrays)}
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            if not all(isinstance(v, str) for v in value.ravel()):
                raise ValueError("Only object arrays of strings can be saved.")
            return {"strings": _store(value.astype(str), arrays)}
        return {"array": _store(value, arrays)}
    if isinstance(value, range):
        return {"range": [value.start, value.stop, value.step]}
    if isinstance(value, (list, tuple)):
        items = [_encode(v, arrays) for v in value]
        return {"list" if isinstance(value, list) else "tuple": items}
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"dict": {k: _encode(v, arrays) for k, v in value.items()}}
    if isinstance(value, np.random.RandomState):
        name, keys, pos, has_gauss, cached = value.get_state()
        return {
            "random_state": [name, _store(keys, arrays), int(pos), int(has_gauss),
                             float(cached)]
        }  # fmt: skip
    if type(value).__name__ in _estimators():
        return {"estimator": _encode_estimator(value, arrays)}
    raise ValueError(f"Cannot save a value of type {type(value).__name__}.")


def _store(array, arrays):
    key = f"a{len(arrays)}"
    arrays[key] = array
    return key


# ---------------------------------------------------------------------------
# Reading


def load(path):
    """Load a model written by :func:`save` (or ``fastgmm fit --out``).

    Nothing in the file is executed: the arrays are read with
    ``allow_pickle=False`` and only fastgmm's estimator classes are built.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    model : GaussianMixture, BayesianGaussianMixture, GaussianMixtureIC or
        BatchGaussianMixture

    Raises
    ------
    ValueError
        When the file is not a fastgmm model, is truncated, holds pickled
        objects, comes from a newer format version, names an unknown class,
        or lacks or mis-shapes an array; the message says which.
    """
    try:
        with np.load(path, allow_pickle=False) as npz:
            files = {key: npz[key] for key in npz.files}
    except FileNotFoundError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise ValueError(
            f"{path}: not a readable fastgmm model file ({_one_line(exc)})."
        ) from None
    if HEADER not in files:
        raise ValueError(f"{path}: not a fastgmm model file (no {HEADER} header).")
    try:
        header = json.loads(str(files[HEADER]))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: unreadable header ({_one_line(exc)}).") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ValueError(f"{path}: not a fastgmm model file (format).")
    version = header.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise ValueError(
            f"{path}: written by a newer fastgmm (format version {version!r}; "
            f"this fastgmm reads version {VERSION} and older)."
        )
    try:
        return _Decoder(files).estimator(header.get("estimator"))
    except _FormatError as exc:
        raise ValueError(f"{path}: {exc}.") from None


class _FormatError(Exception):
    pass


class _Decoder:
    def __init__(self, files):
        self.files = files

    def estimator(self, spec):
        """The fitted estimator an ``estimator`` entry describes: a known
        class, valid parameters and fitted attributes only, else
        ``_FormatError``."""
        if not isinstance(spec, dict):
            raise _FormatError("malformed estimator entry")
        name = spec.get("class")
        classes = _estimators()
        if name not in classes:
            raise _FormatError(f"unknown estimator class {name!r}")
        params = {k: self.value(v) for k, v in _mapping(spec, "params").items()}
        model = classes[name]()
        valid = set(model.get_params(deep=False))
        unknown = set(params) - valid
        if unknown:
            raise _FormatError(f"unknown parameters of {name}: {sorted(unknown)}")
        model.set_params(**params)
        try:
            model._validate_params()
        except ValueError as exc:
            raise _FormatError(f"invalid parameters ({_one_line(exc)})") from None
        for key, value in _mapping(spec, "attributes").items():
            if not (isinstance(key, str) and key.endswith("_")):
                raise _FormatError(f"unexpected attribute name {key!r}")
            setattr(model, key, self.value(value))
        _check_fitted(model)
        return model

    def value(self, value):
        """A parameter or attribute value from its tagged form (plain JSON
        scalars as they are); ``_FormatError`` for an unknown or malformed
        tag."""
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if isinstance(value, list):
            raise _FormatError("untagged list")
        if not isinstance(value, dict) or len(value) != 1:
            raise _FormatError(f"malformed value {str(value)[:60]!r}")
        ((tag, content),) = value.items()
        if tag == "array":
            return self.array(content)
        if tag == "scalar":
            return self.array(content)[()]
        if tag == "strings":
            return self.array(content).astype(object)
        if tag in ("list", "tuple") and isinstance(content, list):
            items = [self.value(v) for v in content]
            return items if tag == "list" else tuple(items)
        if tag == "range" and _all_ints(content, 3):
            return range(*content)
        if tag == "dict" and isinstance(content, dict):
            return {k: self.value(v) for k, v in content.items()}
        if tag == "random_state" and isinstance(content, list) and len(content) == 5:
            state = np.random.RandomState()
            name, keys, pos, has_gauss, cached = content
            try:
                state.set_state((name, self.array(keys), pos, has_gauss, cached))
            except (TypeError, ValueError) as exc:
                raise _FormatError(f"bad random state ({_one_line(exc)})") from None
            return state
        if tag == "estimator":
            return self.estimator(content)
        raise _FormatError(f"unknown value tag {tag!r}")

    def array(self, key):
        if not isinstance(key, str) or key not in self.files:
            raise _FormatError(f"missing array {key!r}")
        return self.files[key]


def _mapping(spec, key):
    value = spec.get(key)
    if not isinstance(value, dict):
        raise _FormatError(f"malformed {key}")
    return value


def _all_ints(values, n):
    return (
        isinstance(values, list)
        and len(values) == n
        and all(isinstance(v, int) for v in values)
    )


def _one_line(exc):
    return " ".join(str(exc).split()) or type(exc).__name__


# ---------------------------------------------------------------------------
# Shapes of the fitted parameters


def _check_fitted(model):
    """Every fitted parameter present, with the shape the parameters imply."""
    name = type(model).__name__
    if name == "GaussianMixtureIC":
        if not hasattr(model, "best_estimator_"):
            raise _FormatError("missing attribute best_estimator_")
        return
    required = (
        "weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_",
        "converged_", "n_iter_", "lower_bound_", "n_features_in_",
    )  # fmt: skip
    for attribute in required:
        if not hasattr(model, attribute):
            raise _FormatError(f"missing attribute {attribute}")
    means = np.asarray(model.means_)
    lead = means.shape[:-2]  # (n_groups,) for a batch
    if means.ndim != (3 if name == "BatchGaussianMixture" else 2):
        raise _FormatError(f"means_ has shape {means.shape}")
    n_components, n_features = means.shape[-2:]
    if n_features != model.n_features_in_:
        raise _FormatError(
            f"means_ has {n_features} features, n_features_in_ is "
            f"{model.n_features_in_}"
        )
    from .kernels import covariance

    kind = covariance(model.covariance_type)
    shapes = {
        "weights_": (*lead, n_components),
        "covariances_": (*lead, *kind.parameter_shape(n_components, n_features)),
    }
    shapes["precisions_"] = shapes["precisions_cholesky_"] = shapes["covariances_"]
    if name == "BayesianGaussianMixture":
        shapes.update(_posterior_shapes(model, n_components))
    for attribute, shape in shapes.items():
        actual = np.shape(getattr(model, attribute))
        if actual != tuple(shape):
            raise _FormatError(
                f"{attribute} has shape {actual}, expected {tuple(shape)}"
            )


def _posterior_shapes(model, n_components):
    """The shapes of a ``BayesianGaussianMixture``'s posterior parameters."""
    for attribute in (
        "weight_concentration_",
        "mean_precision_",
        "degrees_of_freedom_",
    ):
        if not hasattr(model, attribute):
            raise _FormatError(f"missing attribute {attribute}")
    from .kernels import covariance

    shared = covariance(model.covariance_type).shared
    shapes = {
        "mean_precision_": (n_components,),
        "degrees_of_freedom_": () if shared else (n_components,),
    }
    concentration = model.weight_concentration_
    if model.weight_concentration_prior_type == "dirichlet_process":
        if not isinstance(concentration, tuple) or len(concentration) != 2:
            raise _FormatError("weight_concentration_ is not a pair of arrays")
        for part in concentration:
            if np.shape(part) != (n_components,):
                raise _FormatError(
                    f"weight_concentration_ has a part of shape {np.shape(part)}, "
                    f"expected {(n_components,)}"
                )
    else:
        shapes["weight_concentration_"] = (n_components,)
    return shapes
