"""The BayesianGaussianMixture estimator: a scikit-learn facade over the EM
engine, with ``fastgmm.engine._bayesian_model``'s hooks."""

from numbers import Real

import numpy as np
from sklearn.utils import check_array
from sklearn.utils._param_validation import Interval, StrOptions

from ..engine._bayesian_model import BayesianModel, Priors, VariationalParameters
from ..engine._validation import (
    check_positive,
    check_shape,
    check_symmetric_positive_definite,
)
from ..kernels import covariance, precisions_from_cholesky, symmetric_from_upper
from ._mixture import BaseMixture


class BayesianGaussianMixture(BaseMixture):
    """Variational Bayesian estimation of a Gaussian mixture, compiled.

    A drop-in replacement for :class:`sklearn.mixture.BayesianGaussianMixture`:
    the same parameters, attributes and methods, the same answers for the
    same ``random_state``, plus ``sample_weight`` in :meth:`fit` and
    ``n_jobs``.  Its E-step is :class:`GaussianMixture`'s compiled one, with
    the expected precisions and log-weights of the posterior.

    With a Dirichlet process prior (the default) on the weights, components
    the data does not need get weights close to zero, so ``n_components`` is
    an upper bound rather than a choice.  ``X`` may be a Dask array, as for
    :class:`GaussianMixture`.

    Parameters
    ----------
    n_components : int, default=1
        The number of mixture components (an upper bound: the posterior may
        leave some of them with almost no weight).

    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        The type of covariance parameters (see :class:`GaussianMixture`).

    tol : float, default=1e-3
        The convergence threshold. EM iterations stop when the lower bound
        average gain on the likelihood is below this threshold.

    reg_covar : float, default=1e-6
        Non-negative regularization added to the diagonal of covariance.

    max_iter : int, default=100
        The number of EM iterations to perform.

    n_init : int, default=1
        The number of initializations to perform. The result with the highest
        lower bound value on the likelihood is kept.

    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}, \
            default='kmeans'
        The method used to initialize the responsibilities.

    weight_concentration_prior_type : {'dirichlet_process', \
            'dirichlet_distribution'}, default='dirichlet_process'
        The type of the weight concentration prior: an infinite mixture model
        with the stick-breaking representation, or a finite mixture with a
        Dirichlet distribution.

    weight_concentration_prior : float or None, default=None
        The Dirichlet concentration of each component on the weight
        distribution; None means ``1. / n_components``.

    mean_precision_prior : float or None, default=None
        The precision prior on the mean distribution (Gaussian); None means
        1.

    mean_prior : array-like of shape (n_features,), default=None
        The prior on the mean distribution (Gaussian); None means the mean
        of X.

    degrees_of_freedom_prior : float or None, default=None
        The prior of the number of degrees of freedom on the covariance
        distributions (Wishart); None means ``n_features``.

    covariance_prior : float or array-like, default=None
        The prior on the covariance distribution (Wishart); None means the
        empirical covariance of X. The shape depends on ``covariance_type``::

                (n_features, n_features) if 'full',
                (n_features, n_features) if 'tied',
                (n_features)             if 'diag',
                float                    if 'spherical'

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
        an error, as in scikit-learn. ``np.nan``: NaN entries are missing,
        and the variational posterior treats them as latent, as
        :class:`fastgmm.GaussianMixture` does (see its ``missing_values``):
        a row's responsibilities come from its observed features, and the
        statistics use the missing entries' conditional means and
        covariances. ``lower_bound_`` then includes the entropy of the
        missing entries' distribution. The start, and the priors left to
        their defaults (``mean_prior``, ``covariance_prior``), come from the
        rows with each missing entry replaced by its feature's mean. NumPy
        and Dask arrays; a row or a feature with no observed entry is an
        error.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
        The expected weights of the mixture components.

    means_ : ndarray of shape (n_components, n_features)
        The mean of each mixture component.  float64 for float32 data too,
        as scikit-learn's, like the covariances and precisions.

    covariances_ : ndarray
        The covariance of each mixture component; the shape depends on
        ``covariance_type`` as for ``covariance_prior`` (with a leading
        ``n_components`` axis except for 'tied').

    precisions_ : ndarray
        The precision matrices for each component in the mixture.

    precisions_cholesky_ : ndarray
        The Cholesky factors of the precision matrices.

    converged_ : bool
        True when convergence of the best fit of inference was reached.

    n_iter_ : int
        Number of steps used by the best fit of inference to reach
        convergence.

    lower_bound_ : float or ndarray of shape (1,)
        Lower bound value on the model evidence (of the training data) of the
        best fit of inference; a one-element array for 'tied', as in
        scikit-learn.

    lower_bounds_ : list of float or of ndarray of shape (1,)
        The lower bound of each iteration of the best fit of inference.

    weight_concentration_prior_ : float
        The prior on the weight concentration.

    weight_concentration_ : tuple of ndarray or ndarray of shape (n_components,)
        The Dirichlet concentration of each component on the weight
        distribution: the two Beta parameters of each stick for
        'dirichlet_process'.

    mean_precision_prior_ : float
        The precision prior on the mean distribution (Gaussian).

    mean_precision_ : ndarray of shape (n_components,)
        The precision of each component on the mean distribution.

    mean_prior_ : ndarray of shape (n_features,)
        The prior on the mean distribution (Gaussian).

    degrees_of_freedom_prior_ : float
        The prior of the number of degrees of freedom on the covariance
        distributions (Wishart).

    degrees_of_freedom_ : ndarray of shape (n_components,)
        The number of degrees of freedom of each component in the model.

    covariance_prior_ : float or array-like
        The prior on the covariance distribution (Wishart).

    n_features_in_ : int
        Number of features seen during :term:`fit`.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during :term:`fit`, when ``X`` has string
        feature names.

    See Also
    --------
    sklearn.mixture.BayesianGaussianMixture : The reference implementation.
    GaussianMixture : Finite Gaussian mixture fitted by maximum likelihood.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgmm import BayesianGaussianMixture
    >>> X = np.array([[1, 2], [1, 4], [1, 0], [4, 2], [12, 4], [10, 7]])
    >>> bgm = BayesianGaussianMixture(n_components=2, random_state=42).fit(X)
    >>> bgm.means_
    array([[2.49... , 2.29...],
           [8.45..., 4.52... ]])
    >>> bgm.predict([[0, 0], [9, 3]])
    array([0, 1])
    """

    _compile_kind = "bayesian"

    _parameter_constraints: dict = {
        **BaseMixture._parameter_constraints,
        "weight_concentration_prior_type": [
            StrOptions({"dirichlet_process", "dirichlet_distribution"})
        ],
        "weight_concentration_prior": [
            None,
            Interval(Real, 0.0, None, closed="neither"),
        ],
        "mean_precision_prior": [None, Interval(Real, 0.0, None, closed="neither")],
        "mean_prior": [None, "array-like"],
        "degrees_of_freedom_prior": [None, Interval(Real, 0.0, None, closed="neither")],
        "covariance_prior": [
            None,
            "array-like",
            Interval(Real, 0.0, None, closed="neither"),
        ],
    }

    def __init__(
        self,
        *,
        n_components=1,
        covariance_type="full",
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        weight_concentration_prior_type="dirichlet_process",
        weight_concentration_prior=None,
        mean_precision_prior=None,
        mean_prior=None,
        degrees_of_freedom_prior=None,
        covariance_prior=None,
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
        self.weight_concentration_prior_type = weight_concentration_prior_type
        self.weight_concentration_prior = weight_concentration_prior
        self.mean_precision_prior = mean_precision_prior
        self.mean_prior = mean_prior
        self.degrees_of_freedom_prior = degrees_of_freedom_prior
        self.covariance_prior = covariance_prior
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.n_jobs = n_jobs
        self.missing_values = missing_values

    # ------------------------------------------------------------------
    # Fitting

    def _model(self, data):
        """The EM engine's hooks, with the priors checked (or taken from X).

        Sets the ``*_prior_`` attributes, as scikit-learn's
        ``_check_parameters`` does.
        """
        priors = self._priors(data)
        self.weight_concentration_prior_ = priors.weight_concentration
        self.mean_precision_prior_ = priors.mean_precision
        self.mean_prior_ = priors.mean
        self.degrees_of_freedom_prior_ = priors.degrees_of_freedom
        self.covariance_prior_ = priors.covariance
        return BayesianModel(
            self.n_components, self.covariance_type, self.reg_covar, priors
        )

    def _priors(self, data):
        """scikit-learn's ``_check_parameters``: given priors checked, and the
        defaults, with X's mean and covariance from one pass over the data."""
        n_features = data.X.shape[1]
        moments = None
        if self.mean_prior is None or self.covariance_prior is None:
            moments = _default_moments(data)
        if self.mean_prior is None:
            mean_prior = moments[0]
        else:
            mean_prior = check_array(
                self.mean_prior, dtype=[np.float64, np.float32], ensure_2d=False
            )
            check_shape(mean_prior, (n_features,), "means")
        if self.degrees_of_freedom_prior is None:
            degrees_of_freedom_prior = n_features
        elif self.degrees_of_freedom_prior > n_features - 1.0:
            degrees_of_freedom_prior = self.degrees_of_freedom_prior
        else:
            raise ValueError(
                "The parameter 'degrees_of_freedom_prior' "
                "should be greater than %d, but got %.3f."
                % (n_features - 1, self.degrees_of_freedom_prior)
            )
        return Priors(
            self.weight_concentration_prior_type,
            (
                1.0 / self.n_components
                if self.weight_concentration_prior is None
                else self.weight_concentration_prior
            ),
            1.0 if self.mean_precision_prior is None else self.mean_precision_prior,
            mean_prior,
            degrees_of_freedom_prior,
            self._covariance_prior(moments, n_features, data.dtype),
        )

    def _covariance_prior(self, moments, n_features, dtype):
        """``covariance_prior`` checked for the covariance type, or, if None,
        scikit-learn's default from the data's moments (the covariance for
        'full' and 'tied', the variances or their mean in the data's dtype
        for 'diag' and 'spherical')."""
        covariance_type = self.covariance_type
        kind = covariance(covariance_type)
        if self.covariance_prior is None:
            # scikit-learn's np.cov is float64 for any data, its np.var of
            # 'diag' and 'spherical' has the data's dtype.
            if kind.matrices:
                return np.atleast_2d(moments[1])
            return kind.from_feature_variances(np.diag(moments[1]).astype(dtype))
        if kind.ndim == 1:  # one variance per component: the prior is a number
            return self.covariance_prior
        prior = check_array(
            self.covariance_prior, dtype=[np.float64, np.float32], ensure_2d=False
        )
        if kind.matrices:
            check_shape(
                prior, (n_features, n_features), "%s covariance_prior" % covariance_type
            )
            check_symmetric_positive_definite(prior, covariance_type)
        else:
            check_shape(prior, (n_features,), "%s covariance_prior" % covariance_type)
            check_positive(prior, covariance_type)
        return prior

    def _get_parameters(self, dtype):
        return VariationalParameters(
            self.covariance_type, self.weight_concentration_, self.mean_precision_,
            self.means_, self.degrees_of_freedom_, self.covariances_,
            self.precisions_cholesky_, dtype,
        )  # fmt: skip

    def _set_parameters(self, params):
        # float64 for any data, as scikit-learn's posterior is.
        self.weight_concentration_ = params.weight_concentration
        self.mean_precision_ = params.mean_precision
        self.degrees_of_freedom_ = params.degrees_of_freedom
        self.weights_ = params.weights
        self.means_ = params.fitted_means
        self.covariances_ = np.ascontiguousarray(params.fitted_covariances)
        self.precisions_cholesky_ = np.ascontiguousarray(
            params.fitted_precisions_cholesky
        )
        self.precisions_ = precisions_from_cholesky(
            self.precisions_cholesky_, self.covariance_type
        )

    def _set_lower_bounds(self, lower_bound, lower_bounds):
        # scikit-learn's types: NumPy floats, and for 'tied' one-element
        # arrays (its single Wishart term is an array of one).
        if covariance(self.covariance_type).shared:
            self.lower_bound_ = np.array([lower_bound])
            self.lower_bounds_ = [np.array([bound]) for bound in lower_bounds]
        else:
            self.lower_bound_ = np.float64(lower_bound)
            self.lower_bounds_ = [np.float64(bound) for bound in lower_bounds]

    def _lower_bound_value(self):
        return float(np.reshape(self.lower_bound_, -1)[0])

    # ------------------------------------------------------------------
    # Using the fitted model

    def _kernel_parameters(self, dtype):
        # float32 rows are scored by the float32 kernels, with the
        # parameters rounded to float32, as the fit's E-steps read them.
        return self._get_parameters(dtype)


def _default_moments(data):
    """X's mean and covariance (``np.cov``'s, or ``np.var``'s diagonal, with
    ddof=1; row weights count as repeated rows)."""
    mean, scatter = data.moments()
    scatter = symmetric_from_upper(scatter)
    degrees = data.total_weight - 1.0
    if degrees <= 0:
        raise ValueError(
            "The default mean and covariance priors need more than one row "
            "(rows of total weight above 1); got a total weight of %r. Pass "
            "mean_prior and covariance_prior." % data.total_weight
        )
    return mean.astype(data.dtype), scatter * (1.0 / degrees)
