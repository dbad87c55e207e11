"""Plotting helpers shared by the chapters (matplotlib only)."""
import matplotlib.pyplot as plt
import numpy as np


def decision_boundary(ax, predict, X, y, resolution=200, margin=0.5, cmap="viridis",
                      xlabel="$x_1$", ylabel="$x_2$", class_names=None, legend=True,
                      ticks=False):
    """Shade the class that ``predict`` gives over the plane and scatter the points.

    predict: callable mapping (M, 2) points to (M,) integer labels.
    X: (N, 2) points; y: (N,) labels.
    xlabel, ylabel: the axis labels (None leaves an axis unlabelled).
    class_names: one legend entry per class (default "class 0", "class 1", ...);
    legend: whether to draw the legend of the points. ticks: keep the tick marks.
    Returns the legend (or None).
    """
    x0 = np.linspace(X[:, 0].min() - margin, X[:, 0].max() + margin, resolution)
    x1 = np.linspace(X[:, 1].min() - margin, X[:, 1].max() + margin, resolution)
    g0, g1 = np.meshgrid(x0, x1)
    Z = predict(np.c_[g0.ravel(), g1.ravel()]).reshape(g0.shape)
    n_classes = int(max(y.max(), Z.max())) + 1
    if class_names is not None and len(class_names) < n_classes:
        raise ValueError(f"class_names has {len(class_names)} names for "
                         f"{n_classes} classes")
    levels = np.arange(n_classes + 1) - 0.5
    ax.contourf(g0, g1, Z, levels=levels, alpha=0.3, cmap=cmap)
    colours = plt.get_cmap(cmap)(np.linspace(0, 1, max(n_classes, 2)))
    for k in range(n_classes):
        if not np.any(y == k):
            continue
        name = class_names[k] if class_names is not None else f"class {k}"
        ax.scatter(X[y == k, 0], X[y == k, 1], color=colours[k], s=12, label=name,
                   edgecolors="k", linewidths=0.3)
    if not ticks:
        ax.set_xticks([])
        ax.set_yticks([])
    if xlabel is not None:
        ax.set_xlabel(xlabel)
    if ylabel is not None:
        ax.set_ylabel(ylabel)
    return ax.legend(fontsize=8, loc="best", framealpha=0.8) if legend else None


def image_grid(images, titles=None, ncols=10, cmap="gray", size=1.2, symmetric=False):
    """Show a list/array of 2-D images in a grid; returns the figure.

    images: (K, H, W) array. symmetric: colour scale centred on zero (for weights).
    """
    images = np.asarray(images)
    nrows = int(np.ceil(len(images) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows * 1.15),
                             squeeze=False)
    for k, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if k >= len(images):
            continue
        img = images[k]
        if symmetric:
            m = np.abs(img).max() or 1.0
            ax.imshow(img, cmap="RdBu_r", vmin=-m, vmax=m)
        else:
            ax.imshow(img, cmap=cmap)
        if titles is not None:
            ax.set_title(str(titles[k]), fontsize=9)
    fig.tight_layout()
    return fig
