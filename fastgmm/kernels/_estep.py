"""Compiled kernels: per-component log-densities and the fused E-step.

Pure ``@njit`` functions, arrays in and arrays out.  Products run in the
data's dtype (float32 data gets twice the SIMD width); per-tile sums are
added into float64 statistics.  Rows are processed in
fixed-size tiles; each tile is copied transposed, shape (n_features,
tile_rows), so that the innermost loops run over contiguous samples and
vectorise.

Parameters arrive in one layout for every covariance type, ``prec_chol`` of
shape (n, m, n_features) (see ``fastgmm.kernels._covariance``):

- full: (n_components, n_features, n_features), upper-triangular factors;
- tied: (1, n_features, n_features), one factor shared by all components;
- diag and spherical: (n_components, 1, n_features), the diagonal.

Second moments are returned in the same layout, centred on ``ref`` (one
reference point per component), so data far from the origin keeps its digits.
"""

import functools
import math
from typing import NamedTuple

import numba
import numpy as np

from ._config import NJIT_OPTIONS, TILE_ROWS, runs_in_parallel
from ._copy import copy_into
from ._covariance import DIAG, FULL, SPHERICAL, TIED, kernel_shape
from ._exp import exp_nonpositive_of, log_of_total
from ._numba_internals import c_view, empty, larger, next_index, njit, smaller, zeros
from ._reduction import block_sums, blocks_into, register_block_sums
from ._specialise import CODE, WIDTH, kernel
from ._threads import in_threads
from ._unrolled import add_moments, sq_norms

_LOG_2PI = math.log(2.0 * math.pi)


# ---------------------------------------------------------------------------
# Leaf kernels: one tile of rows, serial


@njit(**NJIT_OPTIONS, helper=True)
def _rows_transposed(X, start, stop):
    """Copy rows ``start:stop`` of X as an (n_features, rows) block."""
    n_rows = stop - start
    n_features = X.shape[1]
    xt = empty((n_features, n_rows), X.dtype)
    for b in range(n_rows):
        for i in range(n_features):
            xt[i, b] = X[start + b, i]
    return xt


@njit(**NJIT_OPTIONS, helper=True)
def _tile_weights(sample_weight, start, stop):
    """Row weights of a tile; ones when ``sample_weight`` is empty."""
    wc = empty(stop - start, np.float64)
    if sample_weight.shape[0] == 0:
        wc[:] = 1.0
        return wc
    for b in range(stop - start):
        wc[b] = sample_weight[start + b]
    return wc


@njit(**NJIT_OPTIONS, helper=True)
def _triangular_column(diff, prec_chol, kp, j, out):
    """out[b] = (diff[:, b] @ U)[j] with U = prec_chol[kp] upper triangular.

    Column j sums the rows i <= j of diff; four rows are added per pass over
    ``out``, which quarters its loads and stores.
    """
    n_rows = diff.shape[1]
    u = prec_chol[kp, 0, j]
    for b in range(n_rows):
        out[b] = diff[0, b] * u
    i = 1
    while i + 4 <= j + 1:
        u0 = prec_chol[kp, i, j]
        u1 = prec_chol[kp, i + 1, j]
        u2 = prec_chol[kp, i + 2, j]
        u3 = prec_chol[kp, i + 3, j]
        for b in range(n_rows):
            out[b] += (
                diff[i, b] * u0
                + diff[i + 1, b] * u1
                + diff[i + 2, b] * u2
                + diff[i + 3, b] * u3
            )
        i += 4
    while i <= j:
        u = prec_chol[kp, i, j]
        for b in range(n_rows):
            out[b] += diff[i, b] * u
        i += 1


@njit(**NJIT_OPTIONS, helper=True)
def _triangular_sq_norms(diff, prec_chol, kp, sq, y):
    """sq[b] += |diff[:, b] @ U|^2 with U = prec_chol[kp] upper triangular.

    ``y`` is scratch space of at least n_rows entries.
    """
    n_features, n_rows = diff.shape
    for j in range(n_features):
        _triangular_column(diff, prec_chol, kp, j, y)
        for b in range(n_rows):
            sq[b] += y[b] * y[b]


@kernel(**NJIT_OPTIONS, helper=True)
def _weighted_log_prob(xt, log_weights, means, prec_chol, log_det, out):
    """log(weight_k) + log N(x | mean_k, cov_k) into ``out`` (n_components, rows)."""
    n_features, n_rows = xt.shape
    n_components = means.shape[0]
    diff = empty((n_features, n_rows), xt.dtype)
    y = empty(n_rows, xt.dtype)
    if CODE == TIED:
        # (x - mean_k) U = (x - mean_0) U - (mean_k - mean_0) U: one product
        # of the rows with the shared factor, then a shift per component.
        base = empty((n_features, n_rows), xt.dtype)
        for i in range(n_features):
            for b in range(n_rows):
                diff[i, b] = xt[i, b] - means[0, i]
        for j in range(n_features):
            _triangular_column(diff, prec_chol, 0, j, base[j])
    for k in range(n_components):
        sq = out[k]
        sq[:] = 0.0
        if CODE == DIAG or CODE == SPHERICAL:
            for i in range(n_features):
                mu = means[k, i]
                p = prec_chol[k, 0, i]
                for b in range(n_rows):
                    t = (xt[i, b] - mu) * p
                    sq[b] += t * t
        elif CODE == TIED:
            for j in range(n_features):
                shift = 0.0
                for i in range(j + 1):
                    shift += (means[k, i] - means[0, i]) * prec_chol[0, i, j]
                for b in range(n_rows):
                    t = base[j, b] - shift
                    sq[b] += t * t
        elif WIDTH:
            sq_norms(xt, means, prec_chol, k, sq)
        else:
            for i in range(n_features):
                mu = means[k, i]
                for b in range(n_rows):
                    diff[i, b] = xt[i, b] - mu
            _triangular_sq_norms(diff, prec_chol, k, sq, y)
        # In out's precision: float32 log-probabilities for float32 data.
        offset = out.dtype.type(
            log_weights[k] + log_det[k] - 0.5 * n_features * _LOG_2PI
        )
        half = out.dtype.type(0.5)
        for b in range(n_rows):
            sq[b] = offset - half * sq[b]


@njit(**NJIT_OPTIONS, helper=True)
def _normalise_rows(wlp, log_norm):
    """Turn weighted log-probabilities into responsibilities, in place.

    Writes log sum_k exp(wlp[k]) per row into ``log_norm``; one exp per entry,
    in wlp's precision (float32 for float32 data in the E-step).
    """
    n_components, n_rows = wlp.shape
    top = empty(n_rows, wlp.dtype)
    top[:] = -np.inf
    for k in range(n_components):
        for b in range(n_rows):
            top[b] = larger(top[b], wlp[k, b])
    total = zeros(n_rows, wlp.dtype)
    for k in range(n_components):
        for b in range(n_rows):
            e = exp_nonpositive_of(wlp[k, b] - top[b])
            wlp[k, b] = e
            total[b] += e
    for b in range(n_rows):
        log_norm[b] = np.float64(top[b]) + np.float64(log_of_total(total[b]))
    one = wlp.dtype.type(1)
    for b in range(n_rows):
        total[b] = one / total[b]
    for k in range(n_components):
        for b in range(n_rows):
            wlp[k, b] *= total[b]


@njit(**NJIT_OPTIONS, helper=True)
def _add_weighted_scatter(diff, weights, out, z):
    """out[i, j] += sum_b weights[b] diff[i, b] diff[j, b], upper triangle only.

    Rows i and columns j go in pairs: each value loaded feeds two products,
    which halves the loads per multiply-add of the innermost loop.  ``z`` is
    scratch space of shape (2, n_rows) at least.
    """
    n_features, n_rows = diff.shape
    zero = diff.dtype.type(0)
    z0 = z[0]
    z1 = z[1]
    last = n_features - 1
    for i in range(0, n_features, 2):
        i1 = smaller(i + 1, last)
        for b in range(n_rows):
            z0[b] = weights[b] * diff[i, b]
            z1[b] = weights[b] * diff[i1, b]
        for j in range(i, n_features, 2):
            j1 = smaller(j + 1, last)
            a00 = zero
            a01 = zero
            a10 = zero
            a11 = zero
            for b in range(n_rows):
                x0 = diff[j, b]
                x1 = diff[j1, b]
                a00 += z0[b] * x0
                a01 += z0[b] * x1
                a10 += z1[b] * x0
                a11 += z1[b] * x1
            # A pair at the last row or column repeats it: add each entry once,
            # and only those in the upper triangle.
            out[i, j] += a00
            if j1 != j:
                out[i, j1] += a01
            if i1 != i:
                if j >= i1:
                    out[i1, j] += a10
                if j1 != j:
                    out[i1, j1] += a11


@kernel(**NJIT_OPTIONS, helper=True)
def _accumulate_moments(xt, resp, wc, ref, nk, s1, s2):
    """Add a tile's sufficient statistics to ``nk``, ``s1`` and ``s2``.

    ``resp`` already includes the row weights; ``s1`` and ``s2`` are first and
    second moments of ``x - ref[k]``.  For 'tied' every ``ref[k]`` is the same
    point and the responsibilities of a row add up to its weight, so one
    weighted scatter of the rows serves all components.
    """
    n_features, n_rows = xt.shape
    n_components = resp.shape[0]
    zero = xt.dtype.type(0)
    diff = empty((n_features, n_rows), xt.dtype)
    z = empty((2, n_rows), xt.dtype)
    for k in range(n_components):
        r = resp[k]
        total = zero  # np.sum(r), as Numba adds it
        for b in range(n_rows):
            total += r[b]
        nk[k] += total
        if WIDTH:
            add_moments(xt, r, ref, k, s1, s2)
            continue
        for i in range(n_features):
            # In the data's precision: a float64 centre would turn every
            # product of the loop below into a conversion and a float64 one.
            # Exact: the models' centres are means of the data's dtype.
            c = xt.dtype.type(ref[k, i])
            acc = zero
            for b in range(n_rows):
                t = xt[i, b] - c
                diff[i, b] = t
                acc += r[b] * t
            s1[k, i] += acc
        if CODE == FULL:
            _add_weighted_scatter(diff, r, s2[k], z)
        elif CODE == DIAG or CODE == SPHERICAL:
            for i in range(n_features):
                acc = zero
                for b in range(n_rows):
                    acc += r[b] * diff[i, b] * diff[i, b]
                s2[k, 0, i] += acc
    if CODE == TIED:
        # ``diff`` holds x - ref[last k], the shared reference point.
        _add_weighted_scatter(diff, wc, s2[0], z)


@kernel(**NJIT_OPTIONS, helper=True)
def _tile_statistics(
    X, sample_weight, start, stop, log_weights, means, prec_chol, log_det, ref,
    nk, s1, s2,
):  # fmt: skip
    """The E-step of rows ``start:stop`` (one tile): adds their statistics
    about ``ref`` to nk, s1, s2 and returns sum_i w_i log p(x_i)."""
    xt = _rows_transposed(X, start, stop)
    wc = _tile_weights(sample_weight, start, stop)
    n_rows = stop - start
    # Responsibilities in the data's precision: float32 data keeps float32's
    # vector width through the E-step (the statistics still add up in float64).
    resp = empty((means.shape[0], n_rows), X.dtype)
    log_norm = empty(n_rows, np.float64)
    _weighted_log_prob(xt, log_weights, means, prec_chol, log_det, resp)
    _normalise_rows(resp, log_norm)
    log_likelihood = 0.0
    for b in range(n_rows):
        log_likelihood += wc[b] * log_norm[b]
    if sample_weight.shape[0] != 0:
        for k in range(resp.shape[0]):
            for b in range(n_rows):
                resp[k, b] *= wc[b]
    _accumulate_moments(xt, resp, wc, ref, nk, s1, s2)
    return log_likelihood


@kernel(**NJIT_OPTIONS, helper=True)
def _score_tile(
    X, start, stop, log_weights, means, prec_chol, log_det,
    log_norm_out, resp_out, labels_out,
):  # fmt: skip
    """Scores of rows ``start:stop`` (one tile) into the outputs asked for
    (an empty output is not computed): log p(x), log-responsibilities, the
    most probable component."""
    n_rows = stop - start
    n_components = means.shape[0]
    xt = _rows_transposed(X, start, stop)
    wlp = empty((n_components, n_rows), np.float64)
    _weighted_log_prob(xt, log_weights, means, prec_chol, log_det, wlp)
    if labels_out.shape[0] != 0:
        for b in range(n_rows):
            best = 0
            for k in range(1, n_components):
                if wlp[k, b] > wlp[best, b]:
                    best = k
            labels_out[start + b] = best
    if log_norm_out.shape[0] != 0 or resp_out.shape[0] != 0:
        log_norm = empty(n_rows, np.float64)
        _normalise_rows(wlp, log_norm)
        if log_norm_out.shape[0] != 0:
            copy_into(log_norm_out[start:stop], log_norm)
        if resp_out.shape[0] != 0:
            for k in range(n_components):
                for b in range(n_rows):
                    resp_out[start + b, k] = wlp[k, b]


# ---------------------------------------------------------------------------
# Statistics of hard assignments: the initialisations


@kernel(**NJIT_OPTIONS)
def label_statistics(X, sample_weight, labels, n_components):
    """Sufficient statistics of one-hot responsibilities, in two passes.

    Row ``b`` belongs to component ``labels[b]``, or to none where it is -1.
    Moments are centred on each component's weighted mean (found in the first
    pass); for 'tied' on the weighted mean of every row, with the scatter of
    every row, as scikit-learn's ``X.T @ X`` has whichever rows the
    components hold.

    Returns
    -------
    nk, s1, s2 : as ``em_statistics`` returns them.
    ref : ndarray of shape (n_components, n_features)
        The centre of each component's moments.
    """
    n_samples, n_features = X.shape
    weighted = sample_weight.shape[0] != 0
    nk = zeros(n_components, np.float64)
    s1 = zeros((n_components, n_features), np.float64)
    s2 = zeros(kernel_shape(CODE, n_components, n_features), np.float64)
    ref = zeros((n_components, n_features), np.float64)
    # Per component, or one row for 'tied': weights and weighted sums.
    n_refs = 1 if CODE == TIED else n_components
    ref_weight = zeros(n_refs, np.float64)
    for b in range(n_samples):
        c = 0 if CODE == TIED else labels[b]
        if c < 0:
            continue
        w = sample_weight[b] if weighted else 1.0
        ref_weight[c] += w
        for i in range(n_features):
            ref[c, i] += w * X[b, i]
    for c in range(n_refs):
        if ref_weight[c] > 0:
            for i in range(n_features):
                ref[c, i] /= ref_weight[c]
    if CODE == TIED:
        for k in range(1, n_components):
            copy_into(ref[k], ref[0])
    diff = empty(n_features, np.float64)
    for b in range(n_samples):
        k = labels[b]
        if k < 0 and CODE != TIED:
            continue
        w = sample_weight[b] if weighted else 1.0
        c = 0 if CODE == TIED else k
        for i in range(n_features):
            diff[i] = X[b, i] - ref[c, i]
        if k >= 0:
            nk[k] += w
            for i in range(n_features):
                s1[k, i] += w * diff[i]
        if CODE == FULL or CODE == TIED:
            for i in range(n_features):
                wd = w * diff[i]
                for j in range(i, n_features):
                    s2[c, i, j] += wd * diff[j]
        else:
            for i in range(n_features):
                s2[k, 0, i] += w * diff[i] * diff[i]
    return nk, s1, s2, ref


# ---------------------------------------------------------------------------
# Entry points over blocks of tiles


@njit(**NJIT_OPTIONS, helper=True)
def _statistics_layout(flat, n_components, n_features, shape):
    """nk, s1 and s2 as views of one flat array (ordered_block_sums' partials)."""
    n_first = n_components * n_features
    nk = flat[:n_components]
    s1 = c_view(flat[n_components : n_components + n_first], (n_components, n_features))
    s2 = c_view(flat[n_components + n_first :], shape)
    return nk, s1, s2


class _EStep(NamedTuple):
    """The E-step pass's inputs (see ``em_statistics``)."""

    X: np.ndarray
    sample_weight: np.ndarray
    log_weights: np.ndarray
    means: np.ndarray
    prec_chol: np.ndarray
    log_det: np.ndarray
    ref: np.ndarray


@register_block_sums(_EStep)
@kernel(**NJIT_OPTIONS, helper=True)
def _e_step_block(args, start, stop, out):
    """One block's log-likelihood, and its statistics into ``out``, tile
    after tile."""
    n_components, n_features = args.means.shape
    shape = kernel_shape(CODE, n_components, n_features)
    nk, s1, s2 = _statistics_layout(out, n_components, n_features, shape)
    log_likelihood = 0.0
    for tile_start in range(start, stop, TILE_ROWS):
        tile_stop = smaller(tile_start + TILE_ROWS, stop)
        log_likelihood += _tile_statistics(
            args.X, args.sample_weight, tile_start, tile_stop,
            args.log_weights, args.means, args.prec_chol, args.log_det, args.ref,
            nk, s1, s2,
        )  # fmt: skip
    return log_likelihood


@kernel(**NJIT_OPTIONS)
def e_step_blocks(
    X, sample_weight, log_weights, means, prec_chol, log_det, ref, first, totals, sums,
    counter,
):  # fmt: skip
    """The E-step of blocks from ``first`` on, as ``counter`` hands them out
    (see ``fastgmm.kernels._reduction.blocks_into``), which ``em_statistics`` runs."""
    e_step = _EStep(X, sample_weight, log_weights, means, prec_chol, log_det, ref)
    blocks_into(e_step, X.shape[0], first, totals, sums, counter)


def em_statistics(X, sample_weight, log_weights, means, prec_chol, log_det, ref, *,
                  code):  # fmt: skip
    """E-step fused with the sufficient statistics of the M-step.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float32 or float64
    sample_weight : ndarray of shape (n_samples,) or (0,)
        Row weights; an empty array means all ones.
    log_weights : ndarray of shape (n_components,)
    means : ndarray of shape (n_components, n_features)
    prec_chol : ndarray of shape (n, m, n_features)
        Precision Cholesky factors in the kernel layout.
    log_det : ndarray of shape (n_components,)
        Log-determinant of each precision Cholesky factor.
    ref : ndarray of shape (n_components, n_features)
        Centre of each component's moments.
    code : int, keyword-only
        Covariance type, one of FULL, TIED, DIAG, SPHERICAL: the kernel
        compiled for it runs (``fastgmm.kernels._specialise``).

    Returns
    -------
    log_likelihood : float
        sum_i w_i log p(x_i).
    nk : ndarray of shape (n_components,)
        sum_i w_i r_ik.
    s1 : ndarray of shape (n_components, n_features)
        sum_i w_i r_ik (x_i - ref_k).
    s2 : ndarray, layout of ``prec_chol``
        Second moments of x_i - ref_k (upper triangle for full and tied).

    Data of more than one block of rows runs its blocks in threads
    (``fastgmm.kernels._reduction.block_sums``).
    """
    n_components, n_features = means.shape
    shape = kernel_shape.py_func(code, n_components, n_features)
    n_first = n_components * n_features
    size = n_components + n_first + shape[0] * shape[1] * shape[2]
    args = (X, sample_weight, log_weights, means, prec_chol, log_det, ref)
    blocks = e_step_blocks.copy_for(X, code)
    log_likelihood, flat = block_sums(blocks, args, X.shape[0], size, ref.dtype)
    nk = flat[:n_components]
    s1 = flat[n_components : n_components + n_first].reshape(n_components, n_features)
    s2 = flat[n_components + n_first :].reshape(shape)
    return log_likelihood, nk, s1, s2


@kernel(**NJIT_OPTIONS)
def score_groups(
    X, bounds, order, n_components, log_weights, means, prec_chol, log_det,
    log_norm_out, resp_out, labels_out, counters,
):  # fmt: skip
    """Per-row outputs of each group of mixtures in ``order``, tile by tile.

    Group ``g``'s rows ``X[bounds[g]:bounds[g + 1]]`` are scored by its own
    first ``n_components[g]`` components (``log_weights[g]``, ...) into the
    same rows of the outputs that are non-empty (see ``score_rows_into``).
    The tiles of ``order[i]`` are those whose numbers this call takes from
    ``counters[i:]`` (``next_index``; zeros: all of them), so that threads
    sharing ``counters`` share a group's tiles out.  One kernel for a
    batch's groups and a single mixture (one group).
    """
    for i in range(order.shape[0]):
        g = order[i]
        start, stop = bounds[g], bounds[g + 1]
        k = n_components[g]
        Xg = X[start:stop]
        log_norm = log_norm_out[start:stop]
        resp = resp_out[start:stop]
        labels = labels_out[start:stop]
        claims = counters[i:]
        t = next_index(claims) * TILE_ROWS
        while t < stop - start:
            _score_tile(
                Xg, t, smaller(t + TILE_ROWS, stop - start), log_weights[g, :k],
                means[g, :k], prec_chol[g, :k], log_det[g, :k], log_norm, resp,
                labels,
            )  # fmt: skip
            t = next_index(claims) * TILE_ROWS


# The one group of a single mixture.
_ONE_GROUP = np.zeros(1, dtype=np.int64)


def score_rows_into(X, log_weights, means, prec_chol, log_det, log_norm_out, resp_out,
                    labels_out, *, code):  # fmt: skip
    """Per-row outputs of the mixture, written tile by tile.

    Each output is filled only when it is non-empty: ``log_norm_out`` (n_samples,)
    gets log p(x), ``resp_out`` (n_samples, n_components) the responsibilities,
    ``labels_out`` (n_samples,) the most probable component.  log p(x) and the
    responsibilities are float64 here; float32 outputs get them rounded on
    store.  ``code`` as for ``em_statistics``.  ``score_groups`` with one
    group; for more than a block of rows, in threads that take its tiles in
    turn.
    """
    kernel = score_groups.copy_for(X, code)
    n_rows = X.shape[0]
    call = functools.partial(
        kernel, X, np.array([0, n_rows], dtype=np.int64), _ONE_GROUP,
        np.array([means.shape[0]], dtype=np.int64), log_weights[None], means[None],
        prec_chol[None], log_det[None], log_norm_out, resp_out, labels_out,
        np.zeros(1, dtype=np.int64),
    )  # fmt: skip
    in_threads(call, numba.get_num_threads() if runs_in_parallel(n_rows) else 1)
