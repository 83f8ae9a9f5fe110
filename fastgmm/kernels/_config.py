"""Numba options and kernel tunables, defined once for every kernel."""

# Only the fast-math flags that keep IEEE infinities and NaNs: ``nnan`` and
# ``ninf`` (in the all-flags setting) would break -inf log-probabilities, the
# max-shifted logsumexp and NaN checks.  ``reassoc`` lets LLVM vectorise the
# reductions over the samples of a tile.
FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}

# Options shared by every compiled kernel.  ``cache=True`` stores the machine
# code next to the sources (or under NUMBA_CACHE_DIR) so later processes load
# it instead of compiling.
NJIT_OPTIONS = {"cache": True, "nogil": True, "fastmath": FASTMATH}

# Options for the M-step kernels, which work on a few small matrices: no
# fast-math, so they round as the NumPy formulas they replace do, and NumPy's
# error model, so that a zero divisor gives inf or NaN instead of raising.
EXACT_NJIT_OPTIONS = {"cache": True, "nogil": True, "error_model": "numpy"}

# Rows per tile: the rows a kernel transposes and works on at once, sized so
# that a tile's working set stays in cache.
TILE_ROWS = 256

# Tiles per block.  A block is the unit of parallel work and owns one buffer
# of partial statistics, filled tile after tile.  Blocks are defined by size,
# never by thread count, and their partials are added in block order, so the
# sums are bitwise identical for any number of threads.
TILES_PER_BLOCK = 16
BLOCK_ROWS = TILE_ROWS * TILES_PER_BLOCK


def runs_in_parallel(n_rows):
    """Whether the kernels run data of ``n_rows`` rows in threads: more than
    one block of rows."""
    return n_rows > BLOCK_ROWS


# Up to this many features a full covariance's kernels are unrolled
# (``fastgmm.kernels._unrolled``), at the narrowest of ``UNROLLED_WIDTHS`` that holds
# them: data with d features runs that width, its missing features padded
# with zeros, which add nothing to the sums that are kept.  A fit compiles
# its own width only; fewer widths keep ``fastgmm compile`` shorter.
MAX_UNROLLED_FEATURES = 8
UNROLLED_WIDTHS = (2, 4, MAX_UNROLLED_FEATURES)

# Blocks whose partial statistics are held at once before being reduced;
# bounds the memory of the partial buffers independently of n_samples.
BLOCKS_PER_BATCH = 32
