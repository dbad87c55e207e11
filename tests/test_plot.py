"""nnutils.plot: the helpers draw."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from nnutils import data, plot  # noqa: E402


# ---- plot --------------------------------------------------------------------------------------

def test_plot_helpers_draw():
    X, y = data.blobs(n_per_class=10)
    fig, ax = plt.subplots()
    plot.decision_boundary(ax, lambda P: (P[:, 0] > 0).astype(int), X, y, resolution=20)
    assert len(ax.collections) >= 2
    plt.close(fig)
    images = np.random.default_rng(0).normal(size=(3, 4, 4))
    fig = plot.image_grid(images, titles="abc", ncols=2, symmetric=True)
    assert len(fig.axes) == 4 and [a.get_title() for a in fig.axes[:3]] == ["a", "b", "c"]
    plt.close(fig)


def test_decision_boundary_labels_axes_and_legends_each_class():
    X, y = data.blobs(n_per_class=10)
    fig, ax = plt.subplots()
    leg = plot.decision_boundary(ax, lambda P: (P[:, 0] > 0).astype(int) * 2, X, y,
                                 resolution=20, class_names=["a", "b", "c"])
    assert ax.get_xlabel() == "$x_1$" and ax.get_ylabel() == "$x_2$"
    assert [t.get_text() for t in leg.get_texts()] == ["a", "b", "c"]
    # the point colours are the shading's colours: class k's dots match region k
    dots = [c for c in ax.collections if c.get_label() in ("a", "b", "c")]
    cmap = plt.get_cmap("viridis")
    for k, c in enumerate(dots):
        assert np.allclose(c.get_facecolor()[0], cmap(k / 2))
    plt.close(fig)
    fig, ax = plt.subplots()
    assert plot.decision_boundary(ax, lambda P: np.zeros(len(P), int), X, y,
                                  resolution=10, legend=False, xlabel="u",
                                  ylabel=None) is None
    assert ax.get_xlabel() == "u" and ax.get_ylabel() == "" and ax.get_legend() is None
    with pytest.raises(ValueError, match="class_names"):
        plot.decision_boundary(ax, lambda P: np.zeros(len(P), int), X, y,
                               resolution=10, class_names=["a"])
    plt.close(fig)
