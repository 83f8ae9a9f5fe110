"""Kernels compiled on demand: per covariance type and width.

Numba compiles a function with all of its branches, so a kernel that
branched at run time over every covariance type, every unrolled width and
both thread modes would compile all of them for a fit that runs one.  Here
a kernel is one Python function compiled in copies, each made on first use
(``_numba_internals.twin``: the same code under its own name, so that each
copy has cache files of its own), one copy per variant a fit asks for.

A kernel that reads the constants ``CODE`` and ``WIDTH``
  (the covariance type's code, and for 'full' with few features the
  unrolled width; see ``Variant``), or calls a kernel that does, has one
  copy per variant a fit asks for, with the two names bound to the
  variant's values (a kernel that reads ``CODE`` only, as the M-step's,
has one copy per covariance type).  Numba prunes the branches of the other
types and widths before typing them, so their code is never compiled.

Each copy's globals are its module's, with the names of the kernels it calls
bound to their copies of the same variant.

A kernel that runs a pass over the rows through
``fastgmm.kernels._reduction.ordered_block_sums``, or calls a kernel that does, also
has copies for data of at most one block of rows (``copy(one_block=True)``):
there the name is bound to ``one_block_sums``, which runs the one block in
place, so that a small fit does not compile the code that runs several
blocks on threads.  The caller picks the copy by the number of rows (as
``kmeans_labels`` does); both run the same block functions, so the results
are the same bits.
"""

import functools
from typing import NamedTuple

from ._config import MAX_UNROLLED_FEATURES, UNROLLED_WIDTHS
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


# id -> (object, binder): the objects a copy's globals bind per variant, and
# how (``binder(variant)`` gives the bound value).
_BINDERS = {}


def register_binder(value, binder):
    """Bind the global ``value`` in kernel copies to ``binder(variant)``.

    ``binder`` is called with the copy's variant (None for a copy that has
    none).
    """
    _BINDERS[id(value)] = (value, binder)


def _registered(table, value):
    """What ``table`` (id -> (object, item)) holds for ``value`` itself, or
    None (an id alone could be a dead object's, reused)."""
    entry = table.get(id(value))
    return entry[1] if entry is not None and entry[0] is value else None


def _bound(value):
    return _registered(_BINDERS, value)


# id -> (object, replacement): what copies for one block of rows bind in
# place of a pass over several (see the module docstring).
_ONE_BLOCK_FORMS = {}


def register_one_block_form(value, replacement):
    """Bind the global ``value`` to ``replacement`` in copies for data of
    at most one block of rows."""
    _ONE_BLOCK_FORMS[id(value)] = (value, replacement)


def _one_block_form(value):
    return _registered(_ONE_BLOCK_FORMS, value)


def _global_names(function):
    return set(function.__code__.co_names)


class Kernel:
    """A compiled function, in copies per variant (see the module docstring).

    Called from Python with the rows first, it runs the copy of the variant
    of ``code`` (a keyword argument, for kernels specialised per variant)
    and ``X``'s number of features.  Compiled callers name it as a global
    and get their own copies.
    """

    def __init__(self, function, options):
        self.function = function
        self.options = options
        self._copies = {}
        self._calls = {}  # (code, n_features) -> copy
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

    @functools.cached_property
    def per_size(self):
        """Whether the copies for data of one block differ: the function
        names a pass with a one-block form, or a kernel whose copies do."""
        for name in _global_names(self.function):
            value = self.function.__globals__.get(name)
            if _one_block_form(value) is not None:
                return True
            if isinstance(value, Kernel) and value.per_size:
                return True
        return False

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

    def copy(self, variant=None, *, one_block=False):
        """The dispatcher of one variant (ignored if not ``per_variant``),
        for data of at most one block of rows with ``one_block`` (ignored if
        not ``per_size``), made on first use."""
        variant = Variant(*variant) if self.per_variant else None
        if variant is not None and not self.per_width:
            variant = Variant(variant.code)
        key = (variant, bool(one_block) and self.per_size)
        if key not in self._copies:
            self._copies[key] = self._compile(*key)
        return self._copies[key]

    def _compile(self, variant, one_block):
        bound = {}
        if variant is not None:
            bound.update(CODE=variant.code, WIDTH=variant.width)
        for name in _global_names(self.function):
            value = self.function.__globals__.get(name)
            one_block_form = _one_block_form(value) if one_block else None
            binder = _bound(value)
            if isinstance(value, Kernel):
                bound[name] = value.copy(variant, one_block=one_block)
            elif one_block_form is not None:
                bound[name] = one_block_form
            elif binder is not None:
                bound[name] = binder(variant)
        suffix = variant.suffix if variant is not None else ""
        if one_block:
            suffix += "_one_block"
        return njit(**self.options)(twin(self.function, suffix, bound))

    @property
    def kernels(self):
        """The copies made so far."""
        return tuple(self._copies.values())

    def __call__(self, X, *args, code=None):
        return self.copy_for(X, code)(X, *args)

    def run_in_python(self, X, *args, code=None):
        """Run the Python function of the copy a call with ``X`` would run.

        Its calls to other kernels go to their compiled copies, the ones
        Python calls directly, so it compiles no code of its own: for a few
        kernels composed once, for compiled callers and Python alike.
        """
        return self.copy_for(X, code).py_func(X, *args)

    def copy_for(self, X, code=None):
        """The copy a call from Python with rows ``X`` runs (for a kernel
        that is not per width, any array whose last axis is the features)."""
        # Small fits call kernels thousands of times a second: one lookup.
        key = (code, X.shape[-1])
        dispatcher = self._calls.get(key)
        if dispatcher is None:
            if self.per_variant and code is None:
                raise TypeError(
                    f"{self.__name__} needs code=, the covariance type's code"
                )
            variant = Variant.of(code, X.shape[-1]) if self.per_variant else None
            dispatcher = self._calls[key] = self.copy(variant)
        return dispatcher


def kernel(**options):
    """Decorator: ``Kernel(function, options)``."""
    return functools.partial(Kernel, options=options)
