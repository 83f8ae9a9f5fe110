"""Missing values: what EM of incomplete data buys, and what it costs.

Run from the repository root::

    python benchmarks/missing_values.py            # the three tables
    python benchmarks/missing_values.py --seeds 3  # fewer repetitions

1. **Estimates.** Rows drawn from a known 3-component, 5-D mixture with full
   covariances; 20% of the entries removed completely at random.  The
   largest error of the fitted means and of the fitted covariances against
   the truth (components matched by their means), for
   ``GaussianMixture(missing_values=np.nan)`` on every row, for a fit of the
   complete rows only, and for a fit after filling each hole with its
   feature's mean.  The median over the seeds.

2. **Imputation.** Each of scikit-learn's bundled real data sets,
   standardised, with 20% of its entries removed at random: the RMSE of the
   filled entries (in standard deviations) and the seconds of
   ``fit_transform`` for ``SimpleImputer(strategy="mean")``,
   ``IterativeImputer()`` (default settings) and ``GaussianMixtureImputer``
   with the same settings on every data set.  Means over the seeds.

3. **Cost.** Seconds per EM iteration of ``GaussianMixture(4)`` on 100,000
   x 8 rows, complete and with 20% of the entries missing, for 'full' and
   'diag' (20 iterations from the same start, best of 3, compiled first).
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
from compare_sklearn import cpu_model
from sklearn import datasets
from sklearn.exceptions import ConvergenceWarning
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer, SimpleImputer

from fastgmm import GaussianMixture, GaussianMixtureImputer

# One setting for every data set, chosen before seeing the results of any.
IMPUTER = dict(n_components=2, covariance_type="full", reg_covar=1e-3)


def remove_at_random(X, fraction, rng):
    """X with ``fraction`` of its entries set to NaN (no row loses all)."""
    missing = rng.random(X.shape) < fraction
    full_rows = missing.all(axis=1)
    missing[full_rows, rng.integers(0, X.shape[1], full_rows.sum())] = False
    return np.where(missing, np.nan, X)


def known_mixture(rng, n_samples=3000):
    weights = np.array([0.3, 0.3, 0.4])
    means = np.array(
        [[0, 0, 0, 0, 0], [3, 3, 0, -2, 1], [-2, 3, 3, 1, -1]], dtype=float
    )
    covariances = []
    for _ in range(3):
        A = rng.normal(size=(5, 5))
        covariances.append(A @ A.T / 5 + 0.3 * np.eye(5))
    labels = rng.choice(3, size=n_samples, p=weights)
    X = np.stack([rng.multivariate_normal(means[k], covariances[k]) for k in labels])
    return X, means, np.stack(covariances)


def errors(model, means, covariances):
    """Largest absolute error of the means and of the covariances, the
    fitted components matched to the true ones by nearest mean."""
    order = [int(np.argmin(((model.means_ - m) ** 2).sum(axis=1))) for m in means]
    mean_error = np.abs(model.means_[order] - means).max()
    covariance_error = np.abs(model.covariances_[order] - covariances).max()
    return mean_error, covariance_error


def estimates_table(seeds):
    rows = {"EM of incomplete data": [], "complete rows only": [], "mean-filled": []}
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        X, means, covariances = known_mixture(rng)
        Xm = remove_at_random(X, 0.2, rng)
        complete = Xm[~np.isnan(Xm).any(axis=1)]
        filled = np.where(np.isnan(Xm), np.nanmean(Xm, axis=0), Xm)
        fits = {
            "EM of incomplete data": GaussianMixture(
                3, missing_values=np.nan, n_init=3, random_state=seed
            ).fit(Xm),
            "complete rows only": GaussianMixture(3, n_init=3, random_state=seed).fit(
                complete
            ),
            "mean-filled": GaussianMixture(3, n_init=3, random_state=seed).fit(filled),
        }
        for name, model in fits.items():
            rows[name].append(errors(model, means, covariances))
    print(
        "\n## 1. Estimates: 3 components, 5 features, full covariances, "
        f"3,000 rows, 20% of entries missing at random; median of {seeds} seeds\n"
    )
    print("| fit | rows used | max error of means | max error of covariances |")
    print("|---|---|---|---|")
    used = {
        "EM of incomplete data": "all",
        "complete rows only": "~33%",
        "mean-filled": "all",
    }
    for name, values in rows.items():
        mean_error, covariance_error = np.median(np.array(values), axis=0)
        print(f"| {name} | {used[name]} | {mean_error:.4f} | {covariance_error:.4f} |")


DATA_SETS = {
    "iris (150 x 4)": lambda: datasets.load_iris().data,
    "wine (178 x 13)": lambda: datasets.load_wine().data,
    "breast_cancer (569 x 30)": lambda: datasets.load_breast_cancer().data,
    "diabetes (442 x 10)": lambda: datasets.load_diabetes().data,
    "digits (1797 x 64, constant pixels dropped)": lambda: datasets.load_digits().data,
}


def imputers(seed):
    return {
        "SimpleImputer(mean)": SimpleImputer(strategy="mean"),
        "IterativeImputer()": IterativeImputer(random_state=seed),
        "GaussianMixtureImputer": GaussianMixtureImputer(**IMPUTER, random_state=seed),
    }


def imputation_table(seeds):
    print(
        "\n## 2. Imputation: standardised data, 20% of entries removed at "
        f"random; RMSE of the filled entries and seconds of fit_transform, "
        f"mean of {seeds} seeds\n"
    )
    names = list(imputers(0))
    print("| data set | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    GaussianMixtureImputer(**IMPUTER).fit(  # compile outside the timings
        remove_at_random(
            np.random.default_rng(0).normal(size=(50, 3)), 0.2, np.random.default_rng(1)
        )
    )
    for label, load in DATA_SETS.items():
        X = load().astype(np.float64)
        X = X[:, X.std(axis=0) > 0]
        X = (X - X.mean(axis=0)) / X.std(axis=0)
        rmse = {name: [] for name in names}
        seconds = {name: [] for name in names}
        for seed in range(seeds):
            rng = np.random.default_rng(100 + seed)
            Xm = remove_at_random(X, 0.2, rng)
            missing = np.isnan(Xm)
            for name, imputer in imputers(seed).items():
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    start = time.perf_counter()
                    filled = imputer.fit_transform(Xm)
                    seconds[name].append(time.perf_counter() - start)
                error = filled[missing] - X[missing]
                rmse[name].append(np.sqrt(np.mean(error**2)))
        best = min(names, key=lambda n: np.mean(rmse[n]))
        cells = []
        for name in names:
            cell = f"{np.mean(rmse[name]):.3f} ({np.mean(seconds[name]):.3f} s)"
            cells.append(f"**{cell}**" if name == best else cell)
        print(f"| {label} | " + " | ".join(cells) + " |")
    print(f"\nGaussianMixtureImputer settings: {IMPUTER}")


def cost_table():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((100_000, 8)) + 3 * rng.integers(0, 4, (100_000, 1))
    incomplete = remove_at_random(X, 0.2, rng)
    share = np.isnan(incomplete).any(axis=1).mean()
    print(
        "\n## 3. Cost: seconds per EM iteration, 100,000 x 8, K=4 "
        f"(20% of entries missing: {share:.0%} of the rows incomplete)\n"
    )
    print("| covariance | complete | 20% missing | ratio |")
    print("|---|---|---|---|")
    for covariance_type in ("full", "diag"):
        start = GaussianMixture(4, covariance_type=covariance_type, random_state=0)
        start.fit(X[:5000])
        params = dict(
            weights_init=start.weights_, means_init=start.means_,
            precisions_init=start.precisions_, covariance_type=covariance_type,
            max_iter=20, tol=0.0,
        )  # fmt: skip
        per_iteration = []
        for data, missing in ((X, None), (incomplete, np.nan)):
            model = GaussianMixture(4, missing_values=missing, **params)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(data[:2000])  # compiled outside the timing
                times = []
                for _ in range(3):
                    began = time.perf_counter()
                    model.fit(data)
                    times.append(time.perf_counter() - began)
            per_iteration.append(min(times) / model.n_iter_)
        complete, missing = per_iteration
        print(
            f"| {covariance_type} | {complete:.4f} | {missing:.4f} "
            f"| {missing / complete:.1f}x |"
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    print(f"# Missing values ({cpu_model()}, {os.cpu_count()} CPUs)")
    estimates_table(args.seeds)
    imputation_table(args.seeds)
    cost_table()


if __name__ == "__main__":
    main()
