"""Pictures of fitted mixtures and of model selection, drawn with matplotlib.

matplotlib is an optional dependency (``pip install "fastgmm[plot]"``); it is
imported inside the functions, so this module imports without it. Nothing
here selects a backend: pass ``ax`` to draw into a figure of your own, or let
the functions use ``matplotlib.pyplot``'s current axes.
"""

import numpy as np

from .kernels import COVARIANCE_TYPES, covariance

INSTALL_HINT = 'pip install "fastgmm[plot]"'


def require_matplotlib():
    """Import matplotlib, or raise ImportError saying how to install it."""
    try:
        import matplotlib
    except ImportError:
        raise ImportError(
            f"plotting needs matplotlib, which is not installed: {INSTALL_HINT}"
        ) from None
    return matplotlib


def _axes(ax):
    require_matplotlib()
    if ax is None:
        import matplotlib.pyplot as plt

        ax = plt.gca()
    return ax


def _colors(n):
    import matplotlib

    cmap = matplotlib.colormaps["tab10" if n <= 10 else "tab20"]
    if n <= 20:
        return [cmap(i % cmap.N) for i in range(n)]
    cmap = matplotlib.colormaps["turbo"]
    return [cmap(i / max(n - 1, 1)) for i in range(n)]


def full_covariances(model):
    """Covariance matrices of shape (n_components, n_features, n_features)."""
    covariances = np.asarray(model.covariances_, dtype=np.float64)
    n_components, n_features = np.shape(model.means_)
    covariance_type = model.covariance_type
    if covariance_type not in COVARIANCE_TYPES:
        raise ValueError(f"unknown covariance_type {covariance_type!r}")
    return covariance(covariance_type).full_matrices(
        covariances, n_components, n_features
    )


def _best(model):
    """The GaussianMixture of a fitted selector, or the model itself."""
    return getattr(model, "best_estimator_", model)


def plot_clusters(model, X, ax=None):
    """Draw the data coloured by component, with each component's ellipses.

    Each component's mean is marked, with the ellipses of 1 and 2 standard
    deviations of its covariance (for any covariance type). Data with more
    than two features are drawn in the plane of their first two principal
    components, into which the means and covariances are projected: with
    ``mu`` the data's mean and ``V`` the two principal directions,
    ``mean' = (mean - mu) V`` and ``cov' = V^T cov V``.

    Parameters
    ----------
    model : fitted GaussianMixture or GaussianMixtureIC
        A selector draws its ``best_estimator_``.
    X : array-like of shape (n_samples, n_features)
        The data to draw, with at least 2 features.
    ax : matplotlib Axes, default=None
        Where to draw; None uses ``matplotlib.pyplot.gca()``.

    Returns
    -------
    ax : matplotlib Axes
    """
    ax = _axes(ax)
    shape = np.shape(X)
    if len(shape) != 2 or shape[1] < 2:
        raise ValueError(
            f"plot_clusters needs data with at least 2 features, got shape {shape}"
        )
    labels = model.predict(X)
    gm = _best(model)
    X = np.asarray(X, dtype=np.float64)
    means = np.asarray(gm.means_, dtype=np.float64)
    covariances = full_covariances(gm)
    n_components = means.shape[0]

    points, means, covariances, (xlabel, ylabel) = _in_the_plane(X, means, covariances)
    colors = _colors(n_components)
    ax.scatter(
        points[:, 0],
        points[:, 1],
        c=[colors[k] for k in labels],
        s=14,
        alpha=0.65,
        linewidths=0,
        zorder=1,
    )
    for k in range(n_components):
        _draw_component(ax, means[k], covariances[k], colors[k])
    ax.autoscale_view()

    ax.legend(
        handles=_legend_handles(colors, gm.weights_),
        fontsize="small",
        loc="best",
        framealpha=0.85,
    )
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(
        f"{n_components} component{'s' * (n_components != 1)}, "
        f"{gm.covariance_type} covariance"
    )
    return ax


def _in_the_plane(X, means, covariances):
    """The points, means and covariances in the plane drawn, and its axes'
    labels: the features themselves for 2 features, else the first two
    principal components of X."""
    if X.shape[1] == 2:
        return X, means, covariances, ("feature 0", "feature 1")
    centre = X.mean(axis=0)
    _, singular, vt = np.linalg.svd(X - centre, full_matrices=False)
    basis = vt[:2].T
    explained = singular**2 / np.sum(singular**2)
    labels = (
        f"principal component 1 ({explained[0]:.0%} of variance)",
        f"principal component 2 ({explained[1]:.0%} of variance)",
    )
    return (
        (X - centre) @ basis,
        (means - centre) @ basis,
        np.einsum("di,kde,ej->kij", basis, covariances, basis),
        labels,
    )


def _draw_component(ax, mean, covariance, color):
    """A component's ellipses of 1 and 2 standard deviations, and its mean."""
    from matplotlib.patches import Ellipse

    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    eigenvalues = np.clip(eigenvalues, 0.0, None)
    angle = np.degrees(np.arctan2(eigenvectors[1, 1], eigenvectors[0, 1]))
    for n_sigma, style in ((1, "-"), (2, "--")):
        ax.add_patch(
            Ellipse(
                mean,
                width=2 * n_sigma * np.sqrt(eigenvalues[1]),
                height=2 * n_sigma * np.sqrt(eigenvalues[0]),
                angle=angle,
                facecolor="none",
                edgecolor=color,
                linestyle=style,
                linewidth=1.8,
                zorder=2,
            )
        )
    ax.scatter(
        mean[0],
        mean[1],
        marker="X",
        s=110,
        color=color,
        edgecolors="black",
        linewidths=1.0,
        zorder=3,
    )


def _legend_handles(colors, weights):
    """Legend entries: the first 12 components with their weights, and the
    two ellipses' styles."""
    from matplotlib.lines import Line2D

    handles = [
        Line2D(
            [],
            [],
            marker="o",
            linestyle="none",
            color=colors[k],
            label=f"component {k} (weight {weights[k]:.2f})",
        )
        for k in range(min(len(weights), 12))
    ]
    return handles + [
        Line2D([], [], color="0.3", linestyle="-", label="1 standard deviation"),
        Line2D([], [], color="0.3", linestyle="--", label="2 standard deviations"),
    ]


def plot_criterion(selector, ax=None):
    """Draw the criterion of every candidate against n_components.

    One curve per covariance type; the chosen model is marked with a star.

    Parameters
    ----------
    selector : fitted GaussianMixtureIC
    ax : matplotlib Axes, default=None
        Where to draw; None uses ``matplotlib.pyplot.gca()``.

    Returns
    -------
    ax : matplotlib Axes
    """
    ax = _axes(ax)
    results = selector.results_
    criterion = selector.criterion
    n_components = np.asarray(results["n_components"])
    covariance_types = np.asarray(results["covariance_type"])
    values = np.asarray(results[criterion], dtype=np.float64)
    kinds = list(dict.fromkeys(covariance_types.tolist()))
    colors = _colors(len(kinds))
    markers = "osD^v<>p"
    for i, kind in enumerate(kinds):
        rows = covariance_types == kind
        ax.plot(
            n_components[rows],
            values[rows],
            marker=markers[i % len(markers)],
            markersize=5,
            color=colors[i],
            label=kind,
        )
    ax.scatter(
        [selector.n_components_],
        [selector.criterion_],
        marker="*",
        s=380,
        color="gold",
        edgecolors="black",
        linewidths=1.0,
        zorder=5,
        label=(
            f"chosen: {selector.n_components_}, {selector.covariance_type_} "
            f"({criterion.upper()} {selector.criterion_:.1f})"
        ),
    )
    ks = np.unique(n_components)
    if len(ks) <= 20:
        ax.set_xticks(ks)
    ax.set_xlabel("n_components")
    ax.set_ylabel(f"{criterion.upper()} (lower is better)")
    ax.set_title(f"{criterion.upper()} by number of components and covariance type")
    ax.legend(title="covariance type", fontsize="small", framealpha=0.85)
    ax.grid(True, alpha=0.3)
    return ax
