"""``GaussianMixtureImputer``: missing entries filled from a Gaussian mixture
fitted to the incomplete rows."""

import numpy as np
from sklearn.base import (
    BaseEstimator,
    OneToOneFeatureMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils.validation import check_is_fitted

from ..engine._missing import conditional_draws, conditional_means
from ..engine._validation import check_random_state, validate_rows
from ._gaussian_mixture import GaussianMixture


class GaussianMixtureImputer(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Impute missing values (NaN) from a Gaussian mixture of the data.

    :meth:`fit` fits ``GaussianMixture(..., missing_values=np.nan)`` to the
    incomplete rows (EM of incomplete data: every observed entry counts).
    :meth:`transform` replaces each missing entry of a row by its
    conditional expectation given the row's observed entries under the
    mixture, E[x_m | x_o]: the components' conditional means weighted by
    the row's responsibilities. With ``sample_posterior=True`` it draws the
    missing entries from p(x_m | x_o) instead, as ``IterativeImputer``
    offers. The result is right in expectation when the entries are missing
    at random (whether an entry is missing may depend on the row's observed
    entries, not on the missing value itself).

    Parameters
    ----------
    n_components : int, default=1
        The number of mixture components.

    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        The covariance of each component, as in ``GaussianMixture``. Only
        'full' and 'tied' carry correlations between features, which is
        what lets observed features inform the missing ones beyond the
        choice of component.

    tol, reg_covar, max_iter, n_init, init_params, weights_init, \
means_init, precisions_init, warm_start, verbose, verbose_interval, n_jobs
        As for :class:`fastgmm.GaussianMixture`.

    random_state : int, RandomState instance or None, default=None
        Seeds the mixture's initialisation and, with ``sample_posterior``,
        the draws.

    sample_posterior : bool, default=False
        Draw each row's missing entries from their conditional distribution
        (a component drawn by the row's responsibilities, then a Gaussian
        draw) instead of using their conditional expectation. Each
        :meth:`transform` call draws anew.

    Attributes
    ----------
    mixture_ : GaussianMixture
        The fitted mixture (``missing_values=np.nan``).

    n_iter_ : int
        The mixture's number of EM iterations.

    n_features_in_ : int
        Number of features seen during :term:`fit`.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during :term:`fit`, when ``X`` has string
        feature names.

    See Also
    --------
    sklearn.impute.IterativeImputer : Imputes each feature from the others
        by rounds of regression.
    sklearn.impute.SimpleImputer : Imputes with a per-feature statistic.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgmm import GaussianMixtureImputer
    >>> X = np.array([[1.0, 2.0], [2.0, 4.1], [3.0, np.nan], [4.0, 8.2], [5.0, 9.9]])
    >>> imputer = GaussianMixtureImputer(random_state=0).fit(X)
    >>> imputer.transform(X)[2].round(2)
    array([3.  , 6.05])
    """

    # GaussianMixture's, but missing_values (always NaN here).
    _parameter_constraints: dict = {
        **{
            name: constraint
            for name, constraint in GaussianMixture._parameter_constraints.items()
            if name != "missing_values"
        },
        "sample_posterior": ["boolean"],
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
        sample_posterior=False,
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
        self.sample_posterior = sample_posterior

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Fit the mixture to the rows of X, using every observed entry.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The rows, with NaN where an entry is missing. A row or a feature
            with no observed entry is an error.

        y : Ignored
            Not used, present for API consistency by convention.

        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each row.

        Returns
        -------
        self : object
            The fitted imputer.
        """
        params = self.get_params()
        del params["sample_posterior"]
        # A warm start continues from the fitted mixture.
        warm = self.warm_start and hasattr(self, "mixture_")
        mixture = self.mixture_ if warm else GaussianMixture(missing_values=np.nan)
        mixture.set_params(**params)
        X = validate_rows(self, X, reset=True, ensure_min_samples=2, allow_nan=True)
        self.mixture_ = mixture.fit(X, sample_weight=sample_weight)
        self.n_iter_ = self.mixture_.n_iter_
        self._draws = check_random_state(self.random_state)
        return self

    def transform(self, X):
        """Fill the missing entries of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows with NaN where an entry is missing. A row with no observed
            entry gets the mixture's mean (or a draw from the mixture).

        Returns
        -------
        X_imputed : ndarray of shape (n_samples, n_features)
            X with each NaN replaced by its conditional expectation (or,
            with ``sample_posterior``, a draw), in X's dtype.
        """
        check_is_fitted(self)
        X = validate_rows(self, X, reset=False, allow_nan=True)
        if not np.isnan(X).any():
            return X.copy()
        params = self.mixture_._kernel_parameters(X.dtype)
        if self.sample_posterior:
            filled = conditional_draws(X, params, self._draws)
        else:
            filled = conditional_means(X, params)
        return filled.astype(X.dtype, copy=False)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags
