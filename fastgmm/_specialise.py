"""Kernels compiled on demand: per covariance type and width, threaded or serial.

Numba compiles a function with all of its branches, so a kernel that
branched at run time over every covariance type, every unrolled width and
both thread modes would compile all of them for a fit that runs one.  Here
a kernel is one Python function compiled in copies, each made on first use
(``_numba_internals.twin``: the same code under its own name, so that each
copy has cache files of its own):

- **per variant.**  A kernel that reads the constants ``CODE`` and ``WIDTH``
  (the covariance type's code, and for 'full' with few features the
  unrolled width; see ``Variant``), or calls a kernel that does, has one
  copy per variant a fit asks for, with the two names bound to the
  variant's values (a kernel that reads ``CODE`` only, as the M-step's,
  has one copy per covariance type).  Numba prunes the branches of the other types and
  widths before typing them, so their code is never compiled.
- **threaded or serial** (``twins=True``).  A pass over the rows whose
  blocks run in a ``prange`` loop has a threaded copy, compiled with
  ``parallel``, and a serial one for data of one block (the parallel
  pipeline costs several times the compile time of the serial code); a
  driver of such passes has a copy that calls the threaded ones and one
  that calls the serial ones.

Each copy's globals are its module's, with the names of the kernels it calls
bound to their copies of the same variant and thread mode.  Both thread
modes run the same block functions over the same blocks, so their results
are the same to the last bit.
"""

import functools
from typing import NamedTuple

from ._config import BLOCK_ROWS, MAX_UNROLLED_FEATURES, UNROLLED_WIDTHS, prange_only
from ._covariance import COVARIANCE_TYPES, FULL
from ._numba_internals import njit, twin

# Bound in each compiled copy of a kernel (see the module docstring); these
# module values are never compiled.
CODE = -1
WIDTH = 0


class Variant(NamedTuple):
    """What a kernel's copy is specialised for."""

    code: int
    # The unrolled width of a 'full' kernel for few features; 0 otherwise.
    width: int = 0

    @classmethod
    def of(cls, code, n_features):
        """The variant that fits data of ``n_features`` with ``code``."""
        if code == FULL and n_features <= MAX_UNROLLED_FEATURES:
            return cls(code, min(w for w in UNROLLED_WIDTHS if w >= n_features))
        return cls(int(code), 0)

    @classmethod
    def every(cls):
        """Every variant: each covariance type, and 'full' at each width."""
        full = [cls(FULL, width) for width in (*UNROLLED_WIDTHS, 0)]
        others = [cls(code, 0) for code in range(len(COVARIANCE_TYPES)) if code != FULL]
        return full + others

    @property
    def suffix(self):
        """``_full4``, ``_full``, ``_tied``, ...: the copies' name suffix."""
        return f"_{COVARIANCE_TYPES[self.code]}{self.width or ''}"


# id -> (object, binder): the objects a copy's globals bind per variant and
# thread mode, and how (``binder(variant, threaded)`` gives the bound value).
_BINDERS = {}


def register_binder(value, binder):
    """Bind the global ``value`` in kernel copies to ``binder(variant, threaded)``.

    ``binder`` is called with the copy's variant (None for a copy that has
    none) and thread mode.
    """
    _BINDERS[id(value)] = (value, binder)


def _bound(value):
    entry = _BINDERS.get(id(value))
    return entry[1] if entry is not None and entry[0] is value else None


def _global_names(function):
    return set(function.__code__.co_names)


def _runs_prange(function, seen=()):
    """Whether ``function`` has a ``prange`` loop, its own or that of a
    function inlined into it (``inline="always"``, as ``ordered_block_sums``)."""
    names = _global_names(function)
    if "prange" in names:
        return True
    for name in names:
        callee = function.__globals__.get(name)
        inner = getattr(callee, "py_func", None)
        options = getattr(callee, "targetoptions", {})
        if (
            inner is not None
            and options.get("inline") == "always"
            and inner not in seen
        ):
            if _runs_prange(inner, (*seen, function)):
                return True
    return False


class Kernel:
    """A compiled function, in copies per variant and thread mode (see the
    module docstring).

    Called from Python with the rows first, it runs the copy of the variant
    of ``code`` (a keyword argument, for kernels specialised per variant)
    and ``X``'s number of features, threaded where it has a threaded copy
    and ``X`` has more than one block of rows.  Compiled callers name it as
    a global and get their own copies.
    """

    def __init__(self, function, options, twins=False):
        self.function = function
        self.options = options
        self.twins = twins
        self._copies = {}
        self._calls = {}  # (code, n_features, threaded) -> copy
        functools.update_wrapper(self, function)
        register_binder(self, self.copy)

    @functools.cached_property
    def per_variant(self):
        """Whether the copies differ by variant: the function reads ``CODE``
        or ``WIDTH``, or names a kernel whose copies do."""
        return self._depends_on({"CODE", "WIDTH"}, "per_variant")

    @functools.cached_property
    def per_width(self):
        """Whether the copies differ by unrolled width: the function reads
        ``WIDTH`` or names a kernel whose copies do."""
        return self._depends_on({"WIDTH"}, "per_width")

    def _depends_on(self, constants, attribute):
        """Whether the function reads one of ``constants``, or names a bound
        value whose ``attribute`` is true (a bound value without it, such as
        a pass class, counts as true)."""
        names = _global_names(self.function)
        if names & constants:
            return True
        for name in names:
            value = self.function.__globals__.get(name)
            if _bound(value) is not None and getattr(value, attribute, True):
                return True
        return False

    @property
    def parallel(self):
        """Whether the function runs a ``prange`` loop of its own (or of a
        function inlined into it)."""
        return _runs_prange(self.function)

    def copy(self, variant=None, threaded=False):
        """The dispatcher of one variant (ignored if not ``per_variant``)
        and thread mode (ignored without ``twins``: such a kernel is serial,
        even with a ``prange`` loop inlined), made on first use."""
        variant = Variant(*variant) if self.per_variant else None
        if variant is not None and not self.per_width:
            variant = Variant(variant.code)
        threaded = bool(threaded) and self.twins
        key = (variant, threaded)
        if key not in self._copies:
            self._copies[key] = self._compile(variant, threaded)
        return self._copies[key]

    def _compile(self, variant, threaded):
        bound = {}
        if variant is not None:
            bound.update(CODE=variant.code, WIDTH=variant.width)
        for name in _global_names(self.function):
            binder = _bound(self.function.__globals__.get(name))
            if binder is not None:
                bound[name] = binder(variant, threaded)
        suffix = (variant.suffix if variant is not None else "") + (
            "" if threaded or not self.twins else "_serial"
        )
        options = dict(self.options)
        if threaded and self.parallel:
            options["parallel"] = prange_only()
        return njit(**options)(twin(self.function, suffix, bound))

    @property
    def kernels(self):
        """The copies made so far."""
        return tuple(self._copies.values())

    @property
    def serial(self):
        """The serial copy, for kernels not specialised per variant."""
        return self.copy(None, False)

    def __call__(self, X, *args, code=None):
        return self.copy_for(X, code)(X, *args)

    def copy_for(self, X, code=None):
        """The copy a call from Python with rows ``X`` runs (for a kernel
        that is not per width, any array whose last axis is the features)."""
        # Small fits call kernels thousands of times a second: one lookup.
        key = (code, X.shape[-1], X.shape[0] > BLOCK_ROWS)
        dispatcher = self._calls.get(key)
        if dispatcher is None:
            if self.per_variant and code is None:
                raise TypeError(
                    f"{self.__name__} needs code=, the covariance type's code"
                )
            variant = Variant.of(code, X.shape[-1]) if self.per_variant else None
            dispatcher = self._calls[key] = self.copy(variant, key[2])
        return dispatcher


def kernel(twins=False, **options):
    """Decorator: ``Kernel(function, options, twins)``."""
    return functools.partial(Kernel, options=options, twins=twins)
