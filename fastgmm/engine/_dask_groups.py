"""Dask arrays for ``BatchGaussianMixture``: each group's rows moved to one
partition, each partition fitted in memory where it lives, and lazy per-row
scoring.

The fit moves rows, never parameters: every row block splits its rows by
destination partition (a hash of the group label, modulo the number of
partitions: X's number of row blocks, fewer for small blocks), and each
partition's task
concatenates its pieces of every block, in block order.  That is an
all-to-all of small tasks (a split per block, a piece per block and
partition, a fit per partition); a group's rows keep their relative order.
Each partition is then fitted by the in-memory ``BatchGaussianMixture``, on
the worker that holds it, and its fitted attributes come back to the client,
where they are put in the order of the sorted labels.  Since an integer
``random_state`` seeds each group as its separate fit, the models are those
of one in-memory fit of all the rows, bit for bit, whatever the chunking.

Scoring maps the in-memory methods over X's row blocks with their groups;
the fitted estimator is put into the graph once, as one task every block's
task depends on.

This module imports dask; ``fastgmm`` imports it only when given a Dask
array.
"""

import math
import operator
import uuid
import zlib

import dask
import dask.array as da
import numpy as np
from dask import delayed
from dask.delayed import Delayed
from dask.highlevelgraph import HighLevelGraph, MaterializedLayer
from sklearn.base import clone

from ..kernels import covariance, split_rows
from ._dask import check_array, check_sample_weight
from ._data import output_dtype
from ._validation import check_random_state, is_seed

# Rows per partition of groups, at least (``n_partitions``): 2,000,000 rows
# of 4 features in 16 blocks fitted in 0.72 s in 16 partitions, 0.61 s in 8
# (2 worker processes, ``benchmarks/compare_batch.py --dask``).
PARTITION_ROWS = 250_000

# The single-fit ndim of each ``*_init`` parameter (precisions: the
# covariance type's).
_INIT_NDIM = {"weights_init": 1, "means_init": 2}

# ---------------------------------------------------------------------------
# Validation


def check_groups(groups, X):
    """The labels as a 1-D Dask array chunked like the rows of ``X``.

    ``groups`` may be a Dask array or array-like; the messages are the
    in-memory fit's.
    """
    if groups is None:
        raise ValueError(
            "groups is required for a 2-D X (or pass X of shape "
            "(n_groups, n_samples_per_group, n_features))."
        )
    if not isinstance(groups, da.Array):
        groups = np.asarray(groups)
    elif any(math.isnan(size) for size in groups.shape):
        raise ValueError(
            "The Dask array groups has unknown chunk sizes; call "
            "groups.compute_chunk_sizes() first."
        )
    if groups.ndim != 1 or groups.shape[0] != X.shape[0]:
        raise ValueError(
            f"groups must have shape ({X.shape[0]},), one label per row; "
            f"got shape {groups.shape}."
        )
    if not isinstance(groups, da.Array):
        return da.from_array(groups, chunks=(X.chunks[0],))
    if groups.chunks[0] != X.chunks[0]:
        groups = groups.rechunk((X.chunks[0],))
    return groups


def check_fit_parameters(estimator):
    """Refuse what a fit by partitions cannot honour: a warm start, and
    initial parameters given per group (their order is that of all groups,
    which no partition knows)."""
    if estimator.warm_start and hasattr(estimator, "converged_"):
        raise ValueError(
            "warm_start=True is not supported with Dask arrays; fit the rows "
            "in memory, or pass warm_start=False."
        )
    ndim = {
        **_INIT_NDIM,
        "precisions_init": covariance(estimator.covariance_type).ndim,
    }
    for name, single in ndim.items():
        value = getattr(estimator, name)
        if value is not None and np.ndim(value) == single + 1:
            raise ValueError(
                f"With Dask arrays, {name} must be shared by every group (the "
                "shape of a single mixture's); one per group is for in-memory "
                "rows only."
            )


def partition_seed(random_state):
    """The integer every partition's fit is seeded with.

    An integer is kept: each group is then fitted as its separate fit.  A
    ``RandomState`` (or None, NumPy's global one) gives one integer, drawn
    here, so that the result depends neither on the chunking nor on the
    order in which partitions run.
    """
    if is_seed(random_state):
        return int(random_state)
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


# ---------------------------------------------------------------------------
# Fitting


def fit_partitions(estimator, X, groups, sample_weight):
    """Fit every group of the Dask rows ``X``, each partition in memory.

    Parameters
    ----------
    estimator : BatchGaussianMixture
        Its parameters are those of every partition's fit, except an
        integer ``random_state`` (``partition_seed``), ``errors='warn'``
        (the caller reports) and ``n_jobs=1`` unless set.
    X : dask array of shape (n_samples, n_features)
    groups : dask array or array-like of shape (n_samples,)
    sample_weight : dask array or array-like of shape (n_samples,), or None

    Returns
    -------
    attributes : dict
        The fitted attributes, each group's in the order of ``groups_``.
    few_distinct : int
        Groups whose k-means start found fewer distinct clusters than
        components.
    """
    if not isinstance(X, da.Array):
        raise TypeError(
            "groups or sample_weight is a Dask array but X is not; pass X as "
            "a Dask array too (dask.array.from_array(X))."
        )
    if X.ndim == 3:
        raise ValueError(
            "A Dask X must be 2-D, with groups (one group per leading index "
            "is for in-memory arrays)."
        )
    check_fit_parameters(estimator)
    estimator._candidates()  # a bad n_components fails here
    template = clone(estimator).set_params(
        random_state=partition_seed(estimator.random_state),
        errors="warn", verbose=0, warm_start=False,
        n_jobs=1 if estimator.n_jobs is None else estimator.n_jobs,
    )  # fmt: skip
    X = check_array(X)
    groups = check_groups(groups, X)
    arrays = [X, groups]
    if sample_weight is not None:
        arrays.append(check_sample_weight(sample_weight, X)[0])
    n_parts = n_partitions(X)
    if estimator.verbose:
        print(
            f"Fitting the groups of {X.shape[0]} rows in {n_parts} partitions "
            "(rows moved to their group's partition)"
        )
    results = dask.compute(*_partition_tasks(_fit_partition, template, arrays, n_parts))
    return _assemble(
        [r for r in results if r is not None], groups.dtype, template.max_iter
    )


def n_partitions(X):
    """The partitions of groups for the rows of ``X``: one per row block, at
    most one per ``PARTITION_ROWS`` rows, at least one.

    Every block sends a piece to every partition, a task each: with small
    partitions the pieces' tasks and transfers, not the fits, would take
    the time.
    """
    return max(1, min(X.numblocks[0], X.shape[0] // PARTITION_ROWS))


def _partition_tasks(function, shared_value, arrays, n_parts):
    """One ``Delayed`` per partition of groups: ``function(shared_value,
    pieces)`` on the partition's pieces of every row block (X, labels,
    weights), rows moved to their group's partition.  ``shared_value``
    enters the graph once."""
    token = uuid.uuid4().hex
    split, piece, task = (f"fastgmm-{s}-{token}" for s in ("split", "piece", "part"))
    shared = f"fastgmm-shared-{token}"
    moves = {}
    keys = [[(a.name, *index) for index in np.ndindex(a.numblocks)] for a in arrays]
    n_blocks = len(keys[0])
    for i in range(n_blocks):
        blocks = [k[i] for k in keys] + [None] * (3 - len(keys))
        moves[(split, i)] = (_split_rows, *blocks, n_parts)
        for p in range(n_parts):
            moves[(piece, i, p)] = (operator.getitem, (split, i), p)
    tasks = {shared: shared_value}
    for p in range(n_parts):
        tasks[(task, p)] = (
            function,
            shared,
            [(piece, i, p) for i in range(n_blocks)],
        )
    # The splits and their pieces go first on a worker: a worker busy with
    # a partition's task would otherwise hold back the pieces that the other
    # workers' next tasks wait for.
    graph = HighLevelGraph.from_collections(
        split, MaterializedLayer(moves, annotations={"priority": 1}), arrays
    )
    graph = HighLevelGraph(
        {**graph.layers, task: MaterializedLayer(tasks)},
        {**graph.dependencies, task: {split}},
    )
    return [Delayed((task, p), graph, layer=task) for p in range(n_parts)]


def _joined(pieces):
    """A partition's rows, labels and weights (None), its pieces joined in
    block order."""
    X = np.concatenate([p[0] for p in pieces])
    labels = np.concatenate([p[1] for p in pieces])
    weights = None
    if pieces[0][2] is not None:
        weights = np.concatenate([p[2] for p in pieces])
    return X, labels, weights


def _split_rows(X, labels, weights, n_parts):
    """A block's rows cut into ``n_parts`` pieces, (X, labels, weights) each,
    by their label's partition; rows keep their order within a piece."""
    labels = np.asarray(labels)
    if n_parts == 1:
        return [(X, labels, weights)]
    if labels.dtype.kind in "biu":
        # ``partition_of``'s rule, taken in the kernel's pass.
        keys = np.ascontiguousarray(labels, dtype=np.int64)
    else:
        keys = partition_of(labels, n_parts)
    # One compiled counting sort: half the time of a stable argsort and
    # ``np.take``.
    X = np.ascontiguousarray(X)
    out, order = np.empty_like(X), np.empty(len(X), dtype=np.int64)
    bounds = split_rows(X, keys, n_parts, out, order)
    X = out
    labels = labels[order]
    weights = None if weights is None else weights[order]
    return [
        (
            X[bounds[p] : bounds[p + 1]],
            labels[bounds[p] : bounds[p + 1]],
            None if weights is None else weights[bounds[p] : bounds[p + 1]],
        )
        for p in range(n_parts)
    ]


def partition_of(labels, n_parts):
    """Each label's partition in ``range(n_parts)``: the same in every process
    (no salted ``hash``) and for every equal label, whatever the array's width
    of strings or integer type."""
    kind = labels.dtype.kind
    if kind in "biu":
        return np.mod(labels.astype(np.int64), n_parts)
    distinct, inverse = np.unique(labels, return_inverse=True)
    if kind in "US":
        codes = distinct.view(np.uint32 if kind == "U" else np.uint8)
        codes = codes.reshape(len(distinct), -1).astype(np.uint64)
        hashed = np.full(len(distinct), 14695981039346656037, dtype=np.uint64)
        for column in codes.T:
            # FNV-1a over the characters; the padding (zeros) is skipped.
            mixed = (hashed ^ column) * np.uint64(1099511628211)
            hashed = np.where(column != 0, mixed, hashed)
    elif kind in "fmM":
        # (+ 0.0 makes -0.0 the 0.0 it equals.)
        values = distinct.astype(np.float64) + 0.0 if kind == "f" else distinct
        hashed = values.view(np.uint64) * np.uint64(11400714819323198485)
    else:
        hashed = np.array(
            [zlib.crc32(repr(label).encode()) for label in distinct], dtype=np.uint64
        )
    hashed ^= hashed >> np.uint64(29)
    return (hashed % np.uint64(n_parts)).astype(np.int64)[inverse.reshape(-1)]


def _fit_partition(template, pieces):
    """The in-memory fit of a partition's rows: its per-group attributes (in
    the order of its sorted labels), its others, and its count of groups
    with few distinct k-means clusters; None for a partition without rows."""
    X, labels, weights = _joined(pieces)
    if len(X) == 0:
        return None
    estimator = clone(template)
    # ``_fit_rows`` warns of nothing: the client reports every group's
    # trouble once, for all partitions.  (No ``catch_warnings`` here: it
    # swaps process-wide state, which the threads of a scheduler running
    # partitions side by side would leave wrong.)
    few_distinct = estimator._fit_rows(X, labels, weights)
    fitted = {
        name: value
        for name, value in vars(estimator).items()
        if name.endswith("_") and not name.startswith("_")
    }
    n_groups = len(estimator.groups_)
    per_group = {
        name: value
        for name, value in fitted.items()
        if isinstance(value, np.ndarray) and value.ndim and len(value) == n_groups
    }
    others = {name: value for name, value in fitted.items() if name not in per_group}
    # The lower bounds are NaN after each group's last iteration: the columns
    # no group of the partition reached stay here (most of the results' bytes).
    per_group["lower_bounds_"] = per_group["lower_bounds_"][
        :, : int(estimator.n_iter_.max(initial=0))
    ]
    return per_group, others, few_distinct


def _assemble(results, label_dtype, max_iter):
    """The partitions' attributes as one fit's: each group's in the order of
    the sorted labels, the lower bounds NaN to ``max_iter`` columns.

    Each partition's arrays are written once, straight to their groups'
    rows of the result (no concatenated copy to reorder).
    """
    per_group = [r[0] for r in results]
    labels = np.concatenate([r["groups_"] for r in per_group]).astype(label_dtype)
    order = np.argsort(labels, kind="stable")
    labels = labels[order]
    if len(labels) > 1 and np.any(labels[1:] == labels[:-1]):
        raise ValueError(
            "Equal group labels of different types (such as 1 and 1.0) were "
            "sent to different partitions; give the groups one type."
        )
    # Where each partition's groups go: the inverse of the sorting order.
    position = np.empty(len(order), dtype=np.intp)
    position[order] = np.arange(len(order))
    ends = np.cumsum([len(r["groups_"]) for r in per_group])
    rows = np.split(position, ends[:-1])
    attributes = dict(results[0][1])
    for name, first in per_group[0].items():
        bounds = name == "lower_bounds_"
        if bounds:  # each partition's columns, up to its last iteration
            out = np.full((len(labels), max_iter), np.nan, first.dtype)
        else:
            out = np.empty((len(labels), *first.shape[1:]), first.dtype)
        for part, at in zip(per_group, rows, strict=True):
            value = part[name]
            if bounds:
                out[at, : value.shape[1]] = value
            else:
                out[at] = value
        attributes[name] = out
    attributes["groups_"] = labels
    return attributes, sum(r[2] for r in results)


# ---------------------------------------------------------------------------
# Scoring

# Each output's position in the estimator's ``_score`` tuple.
OUTPUTS = ("log_norm", "resp", "labels")


def score_lazily(estimator, X, groups, wanted):
    """Lazy per-row outputs of a Dask ``X``, each row scored by its group's
    mixture (the in-memory ``_score`` on every row block).

    Parameters
    ----------
    estimator : BatchGaussianMixture
        Fitted.  A copy with what scoring reads (``scorer``) enters the
        graph once.
    X : dask array of shape (n_samples, n_features)
    groups : dask array or array-like of shape (n_samples,)
    wanted : tuple of three bool
        Which of log p(x), the responsibilities and the labels to return,
        in scikit-learn's dtype (``output_dtype``).

    Returns
    -------
    outputs : tuple of three
        A Dask array chunked like the rows of ``X`` for each output wanted,
        None for the others.
    """
    X, groups, scorer = _rows_to_score(estimator, X, groups)
    dtype = output_dtype(
        X.dtype, scorer.weights_, scorer.means_, scorer.precisions_cholesky_
    )
    shared = delayed(scorer, pure=True, traverse=False)
    k_max = scorer.weights_.shape[1]
    outputs = []
    for output, asked in zip(OUTPUTS, wanted):
        if not asked:
            outputs.append(None)
            continue
        per_row = output == "resp"
        # (argument, index) pairs: the blocks of X and groups, the others whole.
        pairs = (X, "ij", groups, "i", shared, None, output, None, dtype, None)
        outputs.append(
            da.blockwise(
                _score_block,
                "ik" if per_row else "i",
                *pairs,
                new_axes={"k": k_max} if per_row else None,
                concatenate=True,
                dtype=np.intp if output == "labels" else dtype,
                name=f"fastgmm-batch-{output}-{uuid.uuid4().hex}",
            )
        )
    return tuple(outputs)


def group_criteria(estimator, X, groups, kind):
    """``score``, ``bic`` or ``aic`` of each group on Dask rows.

    The rows are moved to their group's partition as ``fit`` moves them, and
    each partition is scored in memory where it lives: each group's value is
    the in-memory method's on the same rows, in the same order.

    Returns
    -------
    values : ndarray of shape (n_groups,)
        In the order of ``groups_``; NaN for groups without rows in ``X``
        or not fitted.
    """
    X, groups, scorer = _rows_to_score(estimator, X, groups)
    tasks = _partition_tasks(
        _score_partition, (scorer, kind), [X, groups], n_partitions(X)
    )
    values = np.full(len(scorer.groups_), np.nan)
    for index, part_values in dask.compute(*tasks):
        values[index] = part_values
    return values


def _score_partition(shared, pieces):
    """A partition's groups (their indices in ``groups_``) and their values
    of the method ``kind`` (``shared`` is (scorer, kind))."""
    scorer, kind = shared
    X, labels, _ = _joined(pieces)
    if len(X) == 0:
        return np.empty(0, dtype=np.intp), np.empty(0)
    values = getattr(scorer, kind)(X, labels)
    index = np.searchsorted(scorer.groups_, np.unique(labels))
    return index, values[index]


def _rows_to_score(estimator, X, groups):
    """Checked Dask rows and labels, and the estimator's ``_scorer`` copy;
    the in-memory methods' errors."""
    if not isinstance(X, da.Array):
        raise TypeError(
            "groups is a Dask array but X is not; pass X as a Dask array too "
            "(dask.array.from_array(X))."
        )
    X = check_array(X)
    scorer = _scorer(estimator)
    if X.shape[1] != scorer.n_features_in_:
        raise ValueError(
            f"X has {X.shape[1]} features, but {type(scorer).__name__} is "
            f"expecting {scorer.n_features_in_} features as input."
        )
    return X, check_groups(groups, X), scorer


def _scorer(estimator):
    """A copy of a fitted estimator with what scoring reads, and no more
    (``n_jobs=1`` unless set: the scheduler's threads score blocks side by
    side)."""
    scorer = clone(estimator).set_params(
        weights_init=None, means_init=None, precisions_init=None,
        n_jobs=1 if estimator.n_jobs is None else estimator.n_jobs,
    )  # fmt: skip
    for name in (
        "groups_", "weights_", "means_", "precisions_cholesky_",
        "n_components_", "fit_status_", "converged_", "n_features_in_",
    ):  # fmt: skip
        setattr(scorer, name, getattr(estimator, name))
    return scorer


def _score_block(X, labels, scorer, output, dtype):
    """One output of a row block, by the in-memory scoring."""
    if len(X) == 0:
        shape = (0, scorer.weights_.shape[1]) if output == "resp" else (0,)
        return np.empty(shape, dtype=np.intp if output == "labels" else dtype)
    outputs = scorer._score(X, labels, **{output: True})
    return outputs[OUTPUTS.index(output)]
