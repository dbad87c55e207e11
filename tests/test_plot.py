"""nnutils.plot: the helpers draw."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from nnutils import data, plot  # noqa: E402


# ---- plot --------------------------------------------------------------------------------------

def test_plot_helpers_draw():
    X, y = data.blobs(n_per_class=10)
    fig, ax = plt.subplots()
    plot.decision_boundary(ax, lambda P: (P[:, 0] > 0).astype(int), X, y, resolution=20)
    assert len(ax.collections) >= 2
    plt.close(fig)
    fig = plot.image_grid(np.random.default_rng(0).normal(size=(3, 4, 4)), titles="abc", ncols=2, symmetric=True)
    assert len(fig.axes) == 4 and [a.get_title() for a in fig.axes[:3]] == ["a", "b", "c"]
    plt.close(fig)
