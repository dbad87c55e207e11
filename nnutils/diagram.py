"""Diagrams for the book in one visual style: boxes, circles, arrows, labels.

Every architecture drawing in the chapters (a neuron, a network, a residual unit, an
LSTM cell, ...) is made with :class:`Diagram` (matplotlib), so they share fonts,
colours, line widths and arrow heads, and stay readable in the book's light and dark
modes (transparent background, dark text on light fills).

Coordinates are in "diagram units": a Diagram of width 10 is drawn 10 units wide, and
one unit is ``scale`` inches on the page (default 0.68 in: width 10 fills the 6.8 in
column).

    d = Diagram(10, 3)
    x = d.box((1, 1.5), "x", kind="data")
    f = d.box((5, 1.5), "affine\\nW x + b", kind="op")
    d.arrow(x, f, "(N, D)")
    fig = d.figure
"""
import matplotlib.pyplot as plt
from matplotlib.colors import to_rgb
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch, Polygon

#: fill colour of each kind of node; text is always dark so it reads on every fill
KINDS = {
    "data": "#dbe9f6",    # inputs, activations, outputs
    "op": "#fde9c9",      # operations and layers
    "param": "#e3f1dc",   # learned parameters
    "loss": "#f7d9d9",    # losses and scores
    "gate": "#e9def2",    # gates and switches (LSTM, GAN roles)
    "plain": "#f4f4f4",   # anything else
}
INK = "#222222"
FONT = 11          # points at the displayed size: the same as the body text of the book
LINE = 1.4


class Node:
    """A drawn box or circle: its centre and half sizes, so arrows meet its border."""

    def __init__(self, x, y, half_w, half_h, round_=False):
        self.x, self.y, self.half_w, self.half_h = x, y, half_w, half_h
        self.round = round_

    def border_towards(self, x, y):
        """The point where a line from the centre towards (x, y) leaves the border."""
        dx, dy = x - self.x, y - self.y
        if dx == 0 and dy == 0:
            return self.x, self.y
        if self.round:
            r = self.half_w / (dx * dx + dy * dy) ** 0.5
            return self.x + dx * r, self.y + dy * r
        t = min(self.half_w / abs(dx) if dx else float("inf"),
                self.half_h / abs(dy) if dy else float("inf"))
        return self.x + dx * t, self.y + dy * t


class Diagram:
    """A blank canvas ``width`` x ``height`` units; add nodes and arrows, then show
    ``figure``."""

    def __init__(self, width, height, scale=0.68):
        self.figure, self.ax = plt.subplots(figsize=(width * scale, height * scale))
        self.figure.patch.set_alpha(0)           # transparent: dark mode shows through
        self.figure.subplots_adjust(0, 0, 1, 1)
        self.ax.set_xlim(0, width)
        self.ax.set_ylim(0, height)
        self.ax.set_aspect("equal")
        self.ax.axis("off")

    def box(self, xy, text, w=1.6, h=0.8, kind="op", fontsize=FONT):
        """A rounded box centred at xy with ``text`` inside; returns its Node."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {sorted(KINDS)}, got {kind!r}")
        x, y = xy
        self.ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h,
                                         boxstyle="round,pad=0,rounding_size=0.12",
                                         fc=KINDS[kind], ec=INK, lw=LINE))
        self.ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, color=INK)
        return Node(x, y, w / 2, h / 2)

    def circle(self, xy, text="", r=0.35, kind="op", fontsize=FONT):
        """A circle centred at xy (a neuron, or an element-wise op: "+", "×")."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {sorted(KINDS)}, got {kind!r}")
        self.ax.add_patch(Circle(xy, r, fc=KINDS[kind], ec=INK, lw=LINE))
        self.ax.text(*xy, text, ha="center", va="center", fontsize=fontsize, color=INK)
        return Node(xy[0], xy[1], r, r, round_=True)

    def arrow(self, a, b, text=None, dashed=False, bend=0.0, offset=(0, 0.18),
              fontsize=FONT - 1):
        """An arrow from node (or point) a to node (or point) b, with an optional label.

        bend: curvature (0 straight; +-0.3 a gentle arc). offset: where the label sits,
        from the arrow's midpoint, in units.
        """
        ax_, ay = (a.x, a.y) if isinstance(a, Node) else a
        bx, by = (b.x, b.y) if isinstance(b, Node) else b
        start = a.border_towards(bx, by) if isinstance(a, Node) else (ax_, ay)
        end = b.border_towards(ax_, ay) if isinstance(b, Node) else (bx, by)
        self.ax.add_patch(FancyArrowPatch(
            start, end, arrowstyle="-|>", mutation_scale=14, color=INK, lw=LINE,
            connectionstyle=f"arc3,rad={bend}", linestyle="--" if dashed else "-"))
        if text:
            mx = (start[0] + end[0]) / 2 + offset[0]
            my = (start[1] + end[1]) / 2 + offset[1]
            self.ax.text(mx, my, text, ha="center", va="bottom", fontsize=fontsize,
                         color=INK)

    def line(self, points, dashed=False):
        """A polyline without a head (a wire that an arrow then continues)."""
        xs, ys = zip(*points)
        self.ax.plot(xs, ys, color=INK, lw=LINE, linestyle="--" if dashed else "-")

    def label(self, xy, text, fontsize=FONT, ha="center", va="center", **kw):
        """Free text (a caption inside the drawing, a dimension, a group name)."""
        kw.setdefault("color", INK)
        self.ax.text(*xy, text, ha=ha, va=va, fontsize=fontsize, **kw)

    def group(self, xy, w, h, text=None):
        """A dashed frame around a group of nodes (a block, a cell), its name on top."""
        x, y = xy
        self.ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h,
                                         boxstyle="round,pad=0,rounding_size=0.2",
                                         fc="none", ec="#777777", lw=1.0,
                                         linestyle="--"))
        if text:
            self.label((x, y + h / 2 + 0.22), text, fontsize=FONT - 1, color="#555555")

    def cuboid(self, xy, w, h, depth, text=None, kind="data", fontsize=FONT,
               skew=(0.6, 0.45)):
        """A 3-D looking block (a C x H x W volume): front face w x h, ``depth`` deep.

        xy: the lower-left corner of the front face. The depth runs up and to the right
        along ``skew`` (units per unit of depth); the top and side faces are a shade
        darker than the front. Returns the front face's Node, with ``corners``: the
        eight corners, front face first, each face in the order lower-left,
        lower-right, upper-right, upper-left.
        """
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {sorted(KINDS)}, got {kind!r}")
        if min(w, h) <= 0 or depth < 0:
            raise ValueError("a cuboid needs w, h > 0 and depth >= 0, "
                             f"got {w}, {h}, {depth}")
        x, y = xy
        dx, dy = depth * skew[0], depth * skew[1]
        front = [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]
        back = [(px + dx, py + dy) for px, py in front]
        fill = to_rgb(KINDS[kind])
        faces = [(front, fill),
                 ([front[3], front[2], back[2], back[3]], _shade(fill, 0.92)),   # top
                 ([front[1], back[1], back[2], front[2]], _shade(fill, 0.82))]   # side
        for points, colour in faces:
            self.ax.add_patch(Polygon(points, closed=True, fc=colour, ec=INK, lw=LINE,
                                      joinstyle="round"))
        if text:
            self.ax.text(x + w / 2, y + h / 2, text, ha="center", va="center",
                         fontsize=fontsize, color=INK)
        node = Node(x + w / 2, y + h / 2, w / 2, h / 2)
        node.corners = front + back
        return node


def _shade(rgb, factor):
    """The colour rgb darkened by ``factor`` (1: unchanged), for the receding faces."""
    return tuple(c * factor for c in rgb)
