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
- ``_kmeans``: scikit-learn's k-means, for the default start;
- ``_groups``: many small mixtures in one compiled call;
- ``_warmup``: whether the kernels are in Numba's cache, and compiling them
  ahead in a second process.

Nothing here imports from the layers above (``fastgmm.engine``,
``fastgmm.estimators``).
"""
