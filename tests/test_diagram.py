"""nnutils.diagram: one style for every drawing; arrows meet node borders; bad kinds refused."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from nnutils.diagram import KINDS, Diagram  # noqa: E402


def test_nodes_arrows_and_labels_are_drawn_in_the_house_style():
    d = Diagram(6, 2)
    a = d.box((1, 1), "x", kind="data")
    b = d.circle((5, 1), "+")
    d.arrow(a, b, "(N, D)")
    d.group((3, 1), 5.8, 1.8, "block")
    assert d.figure.get_size_inches() == pytest.approx((6 * 0.68, 2 * 0.68))
    assert d.figure.patch.get_alpha() == 0                          # transparent for dark mode
    texts = [t.get_text() for t in d.ax.texts]
    assert texts == ["x", "+", "(N, D)", "block"]
    assert a.half_w == 0.8 and b.round
    plt.close(d.figure)


def test_arrows_start_and_end_on_the_borders():
    d = Diagram(6, 2)
    a = d.box((1, 1), "a", w=1.0, h=0.5)
    b = d.circle((5, 1), r=0.5)
    assert a.border_towards(5, 1) == pytest.approx((1.5, 1))
    assert b.border_towards(1, 1) == pytest.approx((4.5, 1))
    assert a.border_towards(1, 3) == pytest.approx((1, 1.25))
    plt.close(d.figure)


def test_unknown_kind_is_refused_with_the_known_ones():
    d = Diagram(2, 2)
    with pytest.raises(ValueError, match="kind must be one of"):
        d.box((1, 1), "x", kind="weights")
    assert "param" in KINDS
    plt.close(d.figure)


def test_a_cuboid_has_three_faces_and_its_corners():
    d = Diagram(6, 4)
    n_patches = len(d.ax.patches)
    front = d.cuboid((1, 1), 2, 1.5, 2, "C x H x W", kind="data")
    assert len(d.ax.patches) == n_patches + 3                        # front, top, side
    assert (front.x, front.y, front.half_w, front.half_h) == (2, 1.75, 1, 0.75)
    assert front.corners[:4] == [(1, 1), (3, 1), (3, 2.5), (1, 2.5)]
    assert front.corners[6] == pytest.approx((3 + 2 * 0.6, 2.5 + 2 * 0.45))
    fills = [p.get_facecolor()[:3] for p in d.ax.patches[-3:]]
    assert fills[0] > fills[1] > fills[2]                 # receding faces darker
    assert [t.get_text() for t in d.ax.texts] == ["C x H x W"]
    with pytest.raises(ValueError, match="w, h > 0"):
        d.cuboid((0, 0), 0, 1, 1)
    with pytest.raises(ValueError, match="kind must be one of"):
        d.cuboid((0, 0), 1, 1, 1, kind="volume")
    plt.close(d.figure)
