"""The EM engine, in Python: one driver for every model and data source.

- ``_em``: the driver (``fit_em``) and the protocols it runs on
  (``MixtureModel``, ``DataSource``);
- ``_parameters``: the fitted parameters of a mixture;
- ``_gaussian_model``, ``_bayesian_model``: the models' hooks over the same
  sufficient statistics;
- ``_data``, ``_dask``: the data sources, rows in this process and a Dask
  array's row blocks;
- ``_init``: the starts (k-means, random, given);
- ``_validation``: parameter and input checks, with scikit-learn's messages.

It calls the compiled layer (``fastgmm.kernels``) and nothing above it.
"""
