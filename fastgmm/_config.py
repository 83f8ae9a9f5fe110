"""Numba options and kernel tunables, defined once for every kernel."""

# Only the fast-math flags that keep IEEE infinities and NaNs: ``nnan`` and
# ``ninf`` (part of ``fastmath=True``) would break -inf log-probabilities, the
# max-shifted logsumexp and NaN checks.  ``reassoc`` lets LLVM vectorise the
# reductions over the samples of a chunk.
FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}

# Options shared by every compiled kernel.  ``cache=True`` stores the machine
# code next to the sources (or under NUMBA_CACHE_DIR) so later processes load
# it instead of compiling.
NJIT_OPTIONS = {"cache": True, "nogil": True, "fastmath": FASTMATH}

# Rows per chunk.  Chunks are defined by size, never by thread count, so the
# per-chunk partial sums, added in chunk order, are bitwise identical for any
# number of threads.
CHUNK_SIZE = 256

# Chunks whose partial statistics are held at once before being reduced;
# bounds the memory of the partial buffers independently of n_samples.
CHUNKS_PER_BATCH = 32
