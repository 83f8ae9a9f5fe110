"""Start-up cost: a fresh Python process that imports fastgmm and fits iris.

``setup`` runs the same fit in the benchmark process first, so Numba's
on-disk cache holds the compiled kernels: the timed process measures import
plus loading cached machine code plus the fit, as a user's second and later
runs see it.
"""

_CODE = """
from sklearn.datasets import load_iris
from fastgmm import GaussianMixture

X = load_iris().data
GaussianMixture(n_components=3, random_state=0).fit(X)
"""


class ColdStart:
    number = 1
    repeat = (1, 5, 60.0)
    timeout = 600

    def setup(self):
        from sklearn.datasets import load_iris

        from fastgmm import GaussianMixture

        GaussianMixture(n_components=3, random_state=0).fit(load_iris().data)

    def timeraw_import_and_fit_iris(self):
        return _CODE


_EMPTY_CACHE_CODE = """
import os
import tempfile

# An empty cache of its own: every kernel the fit needs is compiled.
os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="fastgmm-cold-")

from sklearn.datasets import load_iris
from fastgmm import GaussianMixture

X = load_iris().data
GaussianMixture(n_components=3, random_state=0).fit(X)
"""


class FirstFitEmptyCache:
    """A new environment's first fit: import, compile the kernels, fit iris.

    The timed process compiles into a temporary cache of its own, so the
    number tracks compile time (tens of seconds) as the other benchmarks
    track run time.  (The temporary directories are left for the system to
    clean: the process cannot remove what Numba still has open.)
    """

    number = 1
    repeat = (1, 3, 300.0)
    timeout = 900

    def timeraw_import_compile_and_fit_iris(self):
        return _EMPTY_CACHE_CODE
