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
