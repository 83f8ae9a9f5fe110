"""Full-covariance kernels for few features, unrolled per row.

``_estep._triangular_sq_norms`` computes |(x - mean) U|^2 column by
column of U, and ``_estep._add_weighted_scatter`` the second moments two
rows and two columns at a time, each a pass over the tile's samples that
loads the differences again.  With few features a sample's differences,
products and sums fit in registers, so a pass that keeps them there does the
same arithmetic with a fraction of the loads and stores: per tile and thread
the norms are 2.7x faster at 8 features and 4x at 2, the moments 2x at 8
and 2.5x at 4.  Numba cannot unroll over a run-time number of features, so
functions of a few fixed widths (``UNROLLED_WIDTHS``) are generated from
their source here.  ``sq_norms`` and ``add_moments`` name them in the
kernels: a kernel's copy for a variant with a width calls that width's
function (``fastgmm.kernels._specialise``), so a fit compiles its own width only.

The generated functions are compiled without Numba's cache, which cannot
locate generated source; the cached kernels that call them keep their
compiled code inline.
"""

import functools

from ._config import MAX_UNROLLED_FEATURES, NJIT_OPTIONS, UNROLLED_WIDTHS
from ._numba_internals import njit, smaller
from ._specialise import register_binder

# Sums one pass of ``add_moments`` keeps in registers: the moments' rows are
# split into passes over the samples of at most this many sums each (more
# spill to memory, and at 8 features in one pass were no faster than the
# kernel they replace).
_SUMS_PER_PASS = 16


def _padded_features(width):
    """Lines that read the features of a width: ``d``, and row ``r<i>`` of xt
    (the last one for the padding, so that every load is in bounds)."""
    lines = ["    d = xt.shape[0]"]
    lines += [f"    r{i} = smaller({i}, d - 1)" for i in range(width)]
    return lines


def _norms_source(width):
    """Source of ``_sq_norms_<width>``.

    Differences, products and sums are formed in the same precisions as in
    ``_triangular_sq_norms``: the data's for the differences and products,
    ``sq``'s for the sum.  A padded feature's column of the factor is zero:
    its product adds exactly 0.
    """
    lines = [f"def _sq_norms_{width}(xt, means, prec_chol, k, sq):"]
    lines += _padded_features(width)
    lines += [f"    m{i} = means[k, r{i}]" for i in range(width)]
    lines += [
        f"    u{i}_{j} = prec_chol[k, {i}, {j}] if {j} < d else prec_chol.dtype.type(0)"
        for j in range(width)
        for i in range(j + 1)
    ]
    lines.append("    for b in range(xt.shape[1]):")
    lines += [f"        d{i} = xt.dtype.type(xt[r{i}, b] - m{i})" for i in range(width)]
    for j in range(width):
        column = " + ".join(f"d{i} * u{i}_{j}" for i in range(j + 1))
        lines.append(f"        y{j} = xt.dtype.type({column})")
    lines.append("        s = sq.dtype.type(0)")
    lines += [f"        s += y{j} * y{j}" for j in range(width)]
    lines.append("        sq[b] = s")
    return "\n".join(lines)


def _moments_passes(width):
    """Rows of the upper triangle per pass, in order: at most _SUMS_PER_PASS
    sums each (row i has the first moment and width - i second ones)."""
    passes, rows, n_sums = [], [], 0
    for i in range(width):
        if rows and n_sums + width - i + 1 > _SUMS_PER_PASS:
            passes.append(rows)
            rows, n_sums = [], 0
        rows.append(i)
        n_sums += width - i + 1
    passes.append(rows)
    return passes


def _moments_source(width):
    """Source of ``_add_moments_<width>``.

    The sums are those of ``_estep._accumulate_moments`` for a full
    covariance: in the data's precision over a tile, then added to ``s1`` and
    ``s2`` (upper triangle).  The sums of padded features are not stored.
    """
    lines = [f"def _add_moments_{width}(xt, r, ref, k, s1, s2):"]
    lines += _padded_features(width)
    lines += [f"    c{i} = xt.dtype.type(ref[k, r{i}])" for i in range(width)]
    for rows in _moments_passes(width):
        pairs = [(i, j) for i in rows for j in range(i, width)]
        lines += [f"    a{i} = xt.dtype.type(0)" for i in rows]
        lines += [f"    q{i}_{j} = xt.dtype.type(0)" for i, j in pairs]
        lines.append("    for b in range(xt.shape[1]):")
        lines += [f"        d{i} = xt[r{i}, b] - c{i}" for i in range(rows[0], width)]
        lines += [f"        w{i} = r[b] * d{i}" for i in rows]
        lines += [f"        a{i} += w{i}" for i in rows]
        lines += [f"        q{i}_{j} += w{i} * d{j}" for i, j in pairs]
        for i in rows:
            lines.append(f"    if {i} < d:")
            lines.append(f"        s1[k, {i}] += a{i}")
        for i, j in pairs:
            lines.append(f"    if {j} < d:")
            lines.append(f"        s2[k, {i}, {j}] += q{i}_{j}")
    return "\n".join(lines)


def _compiled(source):
    namespace = {"smaller": smaller}
    exec(compile(source, f"<{__name__}>", "exec"), namespace)
    name = source.split("(", 1)[0].removeprefix("def ")
    return njit(**{**NJIT_OPTIONS, "cache": False}, helper=True)(namespace[name])


class ByWidth:
    """Generated functions of each unrolled width, compiled on first use.

    Named in a kernel, it is bound to the function of the kernel copy's
    width.  Called from Python (the tests), it runs the narrowest width that
    holds ``xt.shape[0]`` features, and does nothing for more.
    """

    per_variant = True

    def __init__(self, source, doc):
        self._source = source
        self.__doc__ = doc
        register_binder(self, lambda variant: self.of_width(variant.width))

    @functools.cache
    def of_width(self, width):
        """The compiled function of ``width``; None for width 0."""
        return _compiled(self._source(width)) if width else None

    def __call__(self, xt, *args):
        if xt.shape[0] <= MAX_UNROLLED_FEATURES:
            width = min(w for w in UNROLLED_WIDTHS if w >= xt.shape[0])
            self.of_width(width)(xt, *args)


sq_norms = ByWidth(
    _norms_source,
    """sq[b] = |(xt[:, b] - means[k]) @ prec_chol[k]|^2, for every row b.

For 1 to ``MAX_UNROLLED_FEATURES`` features (``xt.shape[0]``); ``prec_chol[k]``
is upper triangular.
""",
)

add_moments = ByWidth(
    _moments_source,
    """Add sum_b r[b] d_b to s1[k] and sum_b r[b] d_b d_b^T to s2[k].

d_b = xt[:, b] - ref[k]; only the upper triangle of s2[k] is written.  For 1
to ``MAX_UNROLLED_FEATURES`` features.
""",
)
