"""Plotting helpers shared by the chapters (matplotlib only)."""
import matplotlib.pyplot as plt
import numpy as np


def decision_boundary(ax, predict, X, y, resolution=200, margin=0.5, cmap="viridis"):
    """Shade the class that ``predict`` gives over the plane and scatter the points.

    predict: callable mapping (M, 2) points to (M,) integer labels.
    X: (N, 2) points; y: (N,) labels.
    """
    x0 = np.linspace(X[:, 0].min() - margin, X[:, 0].max() + margin, resolution)
    x1 = np.linspace(X[:, 1].min() - margin, X[:, 1].max() + margin, resolution)
    g0, g1 = np.meshgrid(x0, x1)
    Z = predict(np.c_[g0.ravel(), g1.ravel()]).reshape(g0.shape)
    n_classes = int(max(y.max(), Z.max())) + 1
    ax.contourf(g0, g1, Z, levels=np.arange(n_classes + 1) - 0.5, alpha=0.3, cmap=cmap)
    ax.scatter(X[:, 0], X[:, 1], c=y, s=12, cmap=cmap, vmin=0, vmax=n_classes - 1, edgecolors="k", linewidths=0.3)
    ax.set_xticks([])
    ax.set_yticks([])


def image_grid(images, titles=None, ncols=10, cmap="gray", size=1.2, symmetric=False):
    """Show a list/array of 2-D images in a grid; returns the figure.

    images: (K, H, W) array. symmetric: colour scale centred on zero (for weights).
    """
    images = np.asarray(images)
    nrows = int(np.ceil(len(images) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows * 1.15), squeeze=False)
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
