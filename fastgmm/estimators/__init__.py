"""The estimators: scikit-learn's API over the engine.

- ``_mixture``: the base class every mixture estimator shares;
- ``_gaussian_mixture``, ``_bayesian_mixture``: ``GaussianMixture`` and
  ``BayesianGaussianMixture``;
- ``_selection``: ``GaussianMixtureIC``, the number of components chosen by
  an information criterion;
- ``_batch``: ``BatchGaussianMixture``, many small mixtures in one call.

``fastgmm`` imports each on first use; this package imports none of them.
"""
