"""The GaussianMixture estimator: a scikit-learn facade over the EM engine."""

import math

import numpy as np

from ..engine._gaussian_model import GaussianModel
from ..engine._parameters import MixtureParameters
from ..engine._validation import check_means, check_precisions, check_weights
from ..kernels import precisions_from_cholesky
from ._mixture import BaseMixture


class GaussianMixture(BaseMixture):
    """Gaussian Mixture fitted by EM with compiled, parallel kernels.

    A drop-in replacement for :class:`sklearn.mixture.GaussianMixture`: the
    same parameters, attributes and methods, the same answers for the same
    ``random_state``, plus ``sample_weight`` in :meth:`fit` and ``n_jobs``.

    ``X`` may also be a Dask array chunked along its rows: each EM iteration
    is then one pass of the kernels over its blocks where they live (on a
    ``distributed`` cluster, or in Dask's local threads), and
    :meth:`fit_predict`, :meth:`predict`, :meth:`predict_proba` and
    :meth:`score_samples` return lazy Dask arrays.  From the same initial
    parameters the model is the same as in memory; the initialisations are
    computed on the cluster and do not reproduce scikit-learn's random draws
    (see ``fastgmm.engine._dask``).

    Parameters
    ----------
    n_components : int, default=1
        The number of mixture components.

    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        The type of covariance parameters:

        - 'full': each component has its own general covariance matrix.
        - 'tied': all components share the same general covariance matrix.
        - 'diag': each component has its own diagonal covariance matrix.
        - 'spherical': each component has its own single variance.

    tol : float, default=1e-3
        The convergence threshold. EM iterations stop when the lower bound
        average gain is below this threshold.

    reg_covar : float, default=1e-6
        Non-negative regularization added to the diagonal of covariance.

    max_iter : int, default=100
        The number of EM iterations to perform.

    n_init : int, default=1
        The number of initializations to perform. The best results are kept.

    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}, \
            default='kmeans'
        The method used to initialize the weights, the means and the
        precisions.

    weights_init : array-like of shape (n_components,), default=None
        The user-provided initial weights.

    means_init : array-like of shape (n_components, n_features), default=None
        The user-provided initial means.

    precisions_init : array-like, default=None
        The user-provided initial precisions (inverse of the covariance
        matrices). The shape depends on ``covariance_type``::

            (n_components,)                        if 'spherical',
            (n_features, n_features)               if 'tied',
            (n_components, n_features)             if 'diag',
            (n_components, n_features, n_features) if 'full'

    random_state : int, RandomState instance or None, default=None
        Controls the random seed of the initialization and of :meth:`sample`.

    warm_start : bool, default=False
        If True, the solution of the last fit is used as initialization for
        the next call of fit(), and ``n_init`` is ignored.

    verbose : int, default=0
        Enable verbose output: 1 prints each initialization and iteration
        step, more also prints the lower bound change and the time taken.

    verbose_interval : int, default=10
        Number of iterations done before the next print.

    n_jobs : int, default=None
        Number of threads for the compiled kernels. None uses Numba's current
        thread count (all threads unless changed); -1 means all threads.
        The fitted model is the same for any value.

    missing_values : None or np.nan, default=None
        What marks a missing entry of ``X``. None: nothing does, and NaN is
        an error, as in scikit-learn. ``np.nan``: NaN entries are missing
        and the fit uses every observed entry (EM of incomplete data: a
        row's responsibilities come from the density of its observed
        features, and the M-step uses the conditional means and covariances
        of its missing ones under each component). The start
        (``init_params``) is drawn from the data with each missing entry
        replaced by its feature's mean. :meth:`predict`,
        :meth:`predict_proba`, :meth:`score_samples` and :meth:`score` then
        accept NaN too, scoring a row by its observed features. A row or a
        feature with no observed entry is an error; infinity always is.
        Dask arrays too. Assumes the entries are missing at random (see the
        README).

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
        The weights of each mixture component.

    means_ : ndarray of shape (n_components, n_features)
        The mean of each mixture component.

    covariances_ : ndarray
        The covariance of each mixture component; the shape depends on
        ``covariance_type`` as for ``precisions_init``.

    precisions_ : ndarray
        The precision matrices (inverse covariances) of each component.

    precisions_cholesky_ : ndarray
        The Cholesky factors of the precision matrices.

    converged_ : bool
        True when convergence of the best fit of EM was reached.

    n_iter_ : int
        Number of EM steps used by the best fit to reach convergence.

    lower_bound_ : float
        Log-likelihood per sample of the best fit of EM.

    lower_bounds_ : list of float
        The lower bound of each iteration of the best fit of EM.

    n_features_in_ : int
        Number of features seen during :term:`fit`.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during :term:`fit`, when ``X`` has string
        feature names.

    See Also
    --------
    sklearn.mixture.GaussianMixture : The reference implementation.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgmm import GaussianMixture
    >>> X = np.array([[1, 2], [1, 4], [1, 0], [10, 2], [10, 4], [10, 0]])
    >>> gm = GaussianMixture(n_components=2, random_state=0).fit(X)
    >>> gm.means_
    array([[10.,  2.],
           [ 1.,  2.]])
    >>> gm.predict([[0, 0], [12, 3]])
    array([1, 0])
    """

    _compile_kind = "gaussian"

    _parameter_constraints: dict = {
        **BaseMixture._parameter_constraints,
        "weights_init": ["array-like", None],
        "means_init": ["array-like", None],
        "precisions_init": ["array-like", None],
    }

    def __init__(
        self,
        n_components=1,
        *,
        covariance_type="full",
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        weights_init=None,
        means_init=None,
        precisions_init=None,
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
        n_jobs=None,
        missing_values=None,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.n_jobs = n_jobs
        self.missing_values = missing_values

    # ------------------------------------------------------------------
    # Fitting

    def _model(self, data):
        """The EM engine's hooks, with validated user-given initial parameters."""
        n_features = data.X.shape[1]
        weights = means = precisions = None
        if self.weights_init is not None:
            weights = check_weights(self.weights_init, self.n_components)
        if self.means_init is not None:
            means = check_means(self.means_init, self.n_components, n_features)
        if self.precisions_init is not None:
            precisions = check_precisions(
                self.precisions_init,
                self.covariance_type,
                self.n_components,
                n_features,
            )
        return GaussianModel(
            self.n_components, self.covariance_type, self.reg_covar, weights, means,
            precisions,
        )  # fmt: skip

    def _get_parameters(self, dtype):
        # The attributes keep the dtype of the fit, as scikit-learn's.
        return MixtureParameters.from_arrays(
            self.weights_,
            self.means_,
            self.precisions_cholesky_,
            self.covariance_type,
            self.covariances_,
        )

    def _set_parameters(self, params):
        self.weights_ = params.weights
        self.means_ = params.means
        self.covariances_ = np.ascontiguousarray(params.covariances)
        self.precisions_cholesky_ = np.ascontiguousarray(params.precisions_cholesky)
        self.precisions_ = precisions_from_cholesky(
            self.precisions_cholesky_, self.covariance_type
        )

    # ------------------------------------------------------------------
    # Using the fitted model

    def _kernel_parameters(self, dtype):
        # The attributes as they are: scikit-learn scores with them too.
        return MixtureParameters.from_arrays(
            self.weights_,
            self.means_,
            self.precisions_cholesky_,
            self.covariance_type,
        )

    # ------------------------------------------------------------------
    # Model selection criteria

    def _n_parameters(self):
        """Return the number of free parameters in the model."""
        model = GaussianModel(self.n_components, self.covariance_type, self.reg_covar)
        return model.n_parameters(self.means_.shape[1])

    def bic(self, X):
        """Bayesian information criterion for the current model on the input X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input samples.

        Returns
        -------
        bic : float
            The lower the better: ``-2 * score(X) * n_samples +
            n_parameters * log(n_samples)``, as scikit-learn computes it.
        """
        return bic_from_score(self.score(X), _num_rows(X), self._n_parameters())

    def aic(self, X):
        """Akaike information criterion for the current model on the input X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input samples.

        Returns
        -------
        aic : float
            The lower the better: ``-2 * score(X) * n_samples +
            2 * n_parameters``, as scikit-learn computes it.
        """
        return aic_from_score(self.score(X), _num_rows(X), self._n_parameters())


def bic_from_score(score, n_samples, n_parameters):
    """scikit-learn's BIC of a mean log-likelihood ``score`` over ``n_samples``.

    Written as scikit-learn's ``GaussianMixture.bic`` writes it, so that the
    same ``score`` gives the same float.
    """
    return -2 * score * n_samples + n_parameters * math.log(n_samples)


def aic_from_score(score, n_samples, n_parameters):
    """scikit-learn's AIC of a mean log-likelihood ``score`` over ``n_samples``."""
    return -2 * score * n_samples + 2 * n_parameters


def _num_rows(X):
    return X.shape[0] if hasattr(X, "shape") else len(X)
