"""The compiled layer: fastgmm's Numba code and what it is built on.

From the bottom up:

- ``_config``: tile and block sizes, compiler options, when to use threads;
- ``_numba_internals``: Numba's internals that fastgmm relies on (allocations
  and selections lowered into their callers, blocks on Numba's threads,
  the locked cache, link-only helpers), each with a fallback;
- ``_copy``, ``_exp``: small compiled helpers (copies, ``exp`` of a tile);
- ``_threads``: Numba's thread count, and lists of groups over threads;
- ``_covariance``: the covariance types, their names and kernel codes;
- ``_specialise``: kernels compiled per covariance type and unrolled width,
  and their copies for data of one block;
- ``_reduction``: passes over the rows whose sums do not depend on the
  number of threads;
- ``_unrolled``, ``_estep``: the E-step (log-densities, responsibilities and
  sufficient statistics), and scoring;
- ``_mstep``: the M-step's small matrices;
- ``_em_rules``: the EM loop and its rules (moment centres, convergence,
  the run kept), for the compiled loop and the Python engine alike;
- ``_start``: where an EM run starts (the moments of k-means labels, the
  parameters of moments), for the Python engine and the batch alike;
- ``_kmeans``: scikit-learn's k-means, for the default start;
- ``_groups``: many small mixtures in one compiled call;
- ``_warmup``: whether the kernels are in Numba's cache, and compiling them
  ahead in a second process.

Nothing here imports from the layers above (``fastgmm.engine``,
``fastgmm.estimators``).  The layers above take from here only the names
``__all__`` declares, as ``from fastgmm.kernels import name`` (a test checks
it); each is imported from its module on first use, so that a command that
needs one constant does not load every kernel.
"""

import importlib

# The compiled layer's API: name -> the module that defines it.
_API = {
    **dict.fromkeys(
        ["BLOCK_ROWS", "MAX_UNROLLED_FEATURES", "runs_in_parallel"], "_config"
    ),
    **dict.fromkeys(
        ["COVARIANCE_TYPES", "covariance", "symmetric_from_upper"], "_covariance"
    ),
    **dict.fromkeys(["Variant"], "_specialise"),
    **dict.fromkeys(
        ["check_n_jobs", "kernel_threads", "over_groups", "thread_count"], "_threads"
    ),
    # The E-step: statistics of a pass over the rows, and scoring.
    **dict.fromkeys(
        ["em_statistics", "label_statistics", "score_groups", "score_rows_into"],
        "_estep",
    ),
    # The M-step and the conversions between covariances and precisions.
    **dict.fromkeys(
        [
            "component_moments",
            "covariances_from_precisions",
            "empty_component_guard",
            "iteration_m_step",
            "kernel_precisions",
            "m_step",
            "moment_inputs",
            "precision_cholesky",
            "precision_cholesky_from_precisions",
            "precisions_from_cholesky",
            "uncentred_covariances",
        ],
        "_mstep",
    ),  # fmt: skip
    # The EM loop's rules, shared by the Python engine and the batch's loop.
    **dict.fromkeys(
        ["em_iterations", "is_better_run", "moment_centres"],
        "_em_rules",
    ),
    # Where a run starts: for the Python engine and the batch's loop alike.
    **dict.fromkeys(
        ["moments_of_labels", "parameter_arrays", "parameters_from_moments"], "_start"
    ),
    **dict.fromkeys(["KMEANS_TOL", "kmeans_labels", "n_distinct_labels"], "_kmeans"),
    # Many small mixtures in one call, and the status of each group.
    **dict.fromkeys(
        [
            "FITTED",
            "ILL_DEFINED",
            "NOT_FITTED",
            "SINGLE_FIT",
            "EMSettings",
            "GroupResults",
            "GroupRows",
            "GroupStarts",
            "KMeansDraws",
            "fit_groups",
            "group_log_determinants",
            "kmeans_groups",
            "move_rows",
            "split_rows",
        ],
        "_groups",
    ),
    **dict.fromkeys(
        ["announce_compiling", "cache_directory", "compile_ahead", "no_compile_ahead"],
        "_warmup",
    ),
}

__all__ = sorted(_API)


def __getattr__(name):
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted({*globals(), *__all__})
