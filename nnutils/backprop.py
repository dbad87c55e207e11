"""Chapter 4: backpropagation.

Two halves:

* ``Value``: a scalar that records the graph it was computed by, and ``backward`` that
  applies the chain rule to that graph in reverse topological order (after Karpathy's
  *micrograd*); ``draw_graph`` draws the graph with every node's value and gradient
  (matplotlib only).
* Vectorised layers as CS231n-style pairs ``*_forward(...) -> (out, cache)`` and
  ``*_backward(dout, cache) -> grads``, where every gradient has the shape of what it is
  the gradient of, and the notes' sigmoid network built from them, whose
  ``sigmoid_net_loss_and_grads(params, X, T)`` is what ``nnutils.loop.fit`` calls.

Conventions as in nnutils/README.md: W is (n_out, n_in) like nn.Linear.weight, a layer
computes ``X @ W.T + b`` on a batch X of shape (N, n_in), and a network's parameters are
one flat list [W1, b1, W2, b2, ...]. One exception, stated where it is used: the sigmoid
network's loss is the notes' ``sum((out - T)**2) / 2``, summed over the batch.
"""
import math

import numpy as np

from nnutils.functions import sigmoid
from nnutils.gradcheck import numerical_gradient


# --------------------------------------------------------------------------------------
# A scalar autograd engine
# --------------------------------------------------------------------------------------
class Value:
    """A scalar that remembers which operation, on which inputs, produced it.

    data: the number; grad: dL/d(this value), filled in by ``backward`` of some output
    L. Every operation creates a new Value whose ``_backward`` knows the operation's
    *local* gradient and adds (local gradient x upstream gradient) into the inputs'
    ``grad``.
    """

    def __init__(self, data, _children=(), _op="", label=""):
        self.data = float(data)
        self.grad = 0.0
        self._backward = lambda: None
        self._prev = tuple(_children)
        self._op = _op
        self.label = label

    def __repr__(self):
        name = f"{self.label}=" if self.label else ""
        return f"Value({name}{self.data:.4g}, grad={self.grad:.4g})"

    @staticmethod
    def _wrap(other):
        """Numbers become constant leaves (label 'const'), so they can appear in the
        graph."""
        return other if isinstance(other, Value) else Value(other, label="const")

    # --- binary gates -----------------------------------------------------------------
    def __add__(self, other):
        other = Value._wrap(other)
        out = Value(self.data + other.data, (self, other), "+")

        # add gate: distributes the gradient unchanged
        def _backward():
            self.grad += out.grad
            other.grad += out.grad
        out._backward = _backward
        return out

    def __mul__(self, other):
        other = Value._wrap(other)
        out = Value(self.data * other.data, (self, other), "*")

        def _backward():                      # multiply gate: swaps the inputs
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad
        out._backward = _backward
        return out

    def max(self, other):
        """max gate: the whole gradient goes to the larger input (the first on ties)."""
        other = Value._wrap(other)
        out = Value(max(self.data, other.data), (self, other), "max")

        def _backward():
            if self.data >= other.data:
                self.grad += out.grad
            else:
                other.grad += out.grad
        out._backward = _backward
        return out

    # --- unary gates ------------------------------------------------------------------
    def __pow__(self, k):
        """x**k for a constant number k (drawn as the gate '1/x' when k == -1)."""
        assert isinstance(k, (int, float)), "only constant exponents"
        out = Value(self.data ** k, (self,), "1/x" if k == -1 else f"**{k:g}")

        # k x^(k-1); for k = 0 it is 0 (0.0 ** -1 would raise)
        def _backward():
            self.grad += (k * self.data ** (k - 1) if k != 0 else 0.0) * out.grad
        out._backward = _backward
        return out

    def exp(self):
        """e^x, and inf where it overflows (x > 709.78), as torch.exp gives."""
        try:
            e = math.exp(self.data)
        except OverflowError:                 # numpy and torch give inf here
            e = math.inf
        out = Value(e, (self,), "exp")

        # d exp(x)/dx = exp(x), which is out itself
        def _backward():
            self.grad += out.data * out.grad
        out._backward = _backward
        return out

    def log(self):
        out = Value(math.log(self.data), (self,), "log")

        def _backward():
            self.grad += out.grad / self.data
        out._backward = _backward
        return out

    def sigmoid(self):
        """The whole sigmoid as one gate: local gradient s(1 - s)."""
        # exponent <= 0: never overflows (exp(710) would)
        e = math.exp(-abs(self.data))
        s = 1.0 / (1.0 + e) if self.data >= 0 else e / (1.0 + e)
        out = Value(s, (self,), "sigmoid")

        def _backward():
            self.grad += s * (1.0 - s) * out.grad
        out._backward = _backward
        return out

    def tanh(self):
        t = math.tanh(self.data)
        out = Value(t, (self,), "tanh")

        def _backward():
            self.grad += (1.0 - t * t) * out.grad
        out._backward = _backward
        return out

    def relu(self):
        out = Value(max(0.0, self.data), (self,), "relu")

        def _backward():
            self.grad += (self.data > 0) * out.grad
        out._backward = _backward
        return out

    # --- everything else is built from the gates above --------------------------------
    def __neg__(self):
        return self * -1

    def __sub__(self, other):
        return self + (-Value._wrap(other))

    def __truediv__(self, other):
        return self * Value._wrap(other) ** -1

    def __radd__(self, other):
        return Value._wrap(other) + self

    def __rmul__(self, other):
        return Value._wrap(other) * self

    def __rsub__(self, other):
        return Value._wrap(other) - self

    def __rtruediv__(self, other):
        if not isinstance(other, Value) and other == 1:
            return self ** -1                 # 1/x is a gate of its own
        return Value._wrap(other) * self ** -1

    # --- the chain rule over the whole graph ------------------------------------------
    def backward(self):
        """Set d(self)/d(self) = 1 and push gradients to every node this value
        depends on.

        Nodes are visited in reverse topological order, so a node's gradient is complete
        (all paths through it summed) before it is passed on to its inputs.
        """
        order = topological_order(self)
        for v in order:
            v.grad = 0.0
        self.grad = 1.0
        for v in reversed(order):
            v._backward()


def topological_order(root):
    """Every node that ``root`` depends on, inputs before the nodes computed from them.

    A depth-first search that appends a node once all its inputs are in; it keeps its
    own stack of (node, inputs not yet visited) instead of recursing, so graphs deeper
    than Python's recursion limit (about 1000 calls) work too.
    """
    order, seen, stack = [], {id(root)}, [(root, iter(root._prev))]
    while stack:
        v, children = stack[-1]
        child = next(children, None)
        # every input of v is in order: v can follow
        if child is None:
            stack.pop()
            order.append(v)
        elif id(child) not in seen:
            seen.add(id(child))
            stack.append((child, iter(child._prev)))
    return order


def draw_graph(root, ax=None, hide_constants=True, fmt="{:.2f}"):
    """Draw the computational graph of ``root`` left to right with matplotlib.

    Each box is a node: its gate (or label, for inputs) on top, its value in green and
    its gradient in red, as in the CS231n circuit diagrams. With ``hide_constants`` the
    constant leaves are folded into their gate's name ('*' with constant -1 is drawn as
    '*-1'). Returns the matplotlib Axes.
    """
    import matplotlib.pyplot as plt

    order = topological_order(root)
    is_const = {id(v): (v.label == "const" and not v._prev) for v in order}
    nodes = [v for v in order if not (hide_constants and is_const[id(v)])]

    def inputs(v):
        return [c for c in v._prev if not (hide_constants and is_const[id(c)])]

    def name(v):
        if not v._op:
            return v.label or "input"
        consts = [c for c in v._prev if hide_constants and is_const[id(c)]]
        gate = v._op + "".join(f"{c.data:g}" for c in consts)
        return f"{gate}  {v.label}" if v.label else gate

    # columns: longest path from an input; rows: inputs in visiting order, gates at
    # their mean
    col, row, next_row = {}, {}, [0.0]
    for v in nodes:                                   # topological: inputs come first
        ins = inputs(v)
        col[id(v)] = 1 + max((col[id(c)] for c in ins), default=-1)
        if ins:
            row[id(v)] = float(np.mean([row[id(c)] for c in ins]))
        else:
            row[id(v)] = next_row[0]
            next_row[0] += 1.0
    if ax is None:
        width = 1.6 * (max(col.values()) + 1)
        _, ax = plt.subplots(figsize=(max(width, 4), 0.75 * next_row[0] + 0.8))
    for v in nodes:
        x, y = col[id(v)], -row[id(v)]
        for c in inputs(v):
            ax.annotate("", xy=(x - 0.42, y), xytext=(col[id(c)] + 0.42, -row[id(c)]),
                        arrowprops=dict(arrowstyle="->", color="0.5", lw=0.8))
        box = dict(boxstyle="round,pad=0.3", fc="white" if v._op else "0.92", ec="0.4")
        ax.text(x, y + 0.16, name(v), ha="center", va="center", fontsize=8,
                fontweight="bold", bbox=box)
        ax.text(x, y - 0.12, fmt.format(v.data), ha="center", va="center", fontsize=8,
                color="tab:green")
        ax.text(x, y - 0.30, fmt.format(v.grad), ha="center", va="center", fontsize=8,
                color="tab:red")
    ax.set_xlim(-0.6, max(col.values()) + 0.6)
    ax.set_ylim(-next_row[0] + 0.4, 0.6)
    ax.axis("off")
    return ax


# --------------------------------------------------------------------------------------
# Gates as functions of arrays (the patterns the scalar engine uses, vectorised)
# --------------------------------------------------------------------------------------
def add_backward(dout, x, y):
    """z = x + y: the add gate distributes, dx = dy = dout. All arrays of one shape."""
    return dout.copy(), dout.copy()


def mul_backward(dout, x, y):
    """z = x * y (elementwise): the multiply gate swaps.

    dx = y * dout, dy = x * dout.
    """
    return y * dout, x * dout


def max_backward(dout, x, y):
    """z = max(x, y) (elementwise): the max gate routes dout to the larger input.

    On ties it goes to x.
    """
    x_wins = x >= y
    return np.where(x_wins, dout, 0.0), np.where(x_wins, 0.0, dout)


# --------------------------------------------------------------------------------------
# Vectorised layers
# --------------------------------------------------------------------------------------
def affine_forward(X, W, b):
    """Fully connected layer Z = X @ W.T + b (PyTorch's nn.Linear convention).

    X: (N, D) inputs; W: (M, D) weights, one row per output unit; b: (M,) biases.
    Returns Z: (N, M) and cache (X, W).
    """
    return X @ W.T + b, (X, W)


def affine_backward(dZ, cache):
    """Backward pass of ``affine_forward``.

    dZ: (N, M) upstream gradient dL/dZ. Returns dX (N, D), dW (M, D), db (M,):
    dX = dZ @ W, dW = dZ.T @ X, db = dZ summed over the batch (the bias was broadcast).
    """
    X, W = cache
    return dZ @ W, dZ.T @ X, dZ.sum(axis=0)


def relu_forward(X):
    """max(0, X) elementwise, any shape. Returns (out, cache=X)."""
    return np.maximum(0.0, X), X


def relu_backward(dout, cache):
    """ReLU passes the gradient where its input was positive, blocks it elsewhere."""
    return dout * (cache > 0)


def sigmoid_forward(X):
    """1 / (1 + exp(-X)) elementwise, any shape, without overflow (functions.sigmoid).

    Returns (out, cache=out).
    """
    out = sigmoid(X)
    return out, out


def sigmoid_backward(dout, cache):
    """The sigmoid's local gradient is s(1 - s), written with the forward output s."""
    s = cache
    return dout * s * (1.0 - s)


def half_sse_loss(out, target):
    """The notes' loss L = sum((out - target)**2) / 2 and its gradient dL/dout = out -
    target.

    out, target: arrays of one shape (summed over everything, batch included).
    """
    diff = out - target
    return 0.5 * float(np.sum(diff * diff)), diff


def sigmoid_net_forward(X, params):
    """A fully connected network with a sigmoid after every layer, the output layer too.

    X: (N, n_0); params: [W1, b1, W2, b2, ...], W_l: (n_l, n_{l-1}), b_l: (n_l,).
    Returns (out (N, n_L), caches), one (affine cache, sigmoid cache) pair per layer.
    """
    if not params or len(params) % 2:       # the loop below needs whole (W, b) pairs
        raise ValueError("params must be [W1, b1, ..., WL, bL] with L >= 1, "
                         f"got {len(params)} arrays")
    A, caches = X, []
    for W, b in zip(params[::2], params[1::2]):
        Z, affine_cache = affine_forward(A, W, b)
        A, sigmoid_cache = sigmoid_forward(Z)
        caches.append((affine_cache, sigmoid_cache))
    return A, caches


def sigmoid_net_backward(dout, caches):
    """Backward of ``sigmoid_net_forward``: dout (N, n_L) -> [dW1, db1, dW2, ...]."""
    grads = []
    for affine_cache, sigmoid_cache in reversed(caches):
        dZ = sigmoid_backward(dout, sigmoid_cache)
        dout, dW, db = affine_backward(dZ, affine_cache)
        grads = [dW, db] + grads
    return grads


def sigmoid_net_loss_and_grads(params, X, T):
    """Forward, the notes' loss sum((out - T)**2) / 2 and backward (for loop.fit).

    params: [W1, b1, ...] as in ``sigmoid_net_forward``; X: (N, n_0); T: (N, n_L).
    The loss is summed over the batch (the notes' definition), not averaged as elsewhere
    in nnutils. Returns (loss, grads), grads shaped like params; the outputs come from
    ``sigmoid_net_forward``.
    """
    out, caches = sigmoid_net_forward(X, params)
    loss, dout = half_sse_loss(out, T)
    return loss, sigmoid_net_backward(dout, caches)


def numerical_gradient_layer(f, X, dout, h=1e-5):
    """Numerical gradient of a layer with upstream gradient ``dout``: d sum(f(X) * dout)
    / dX.

    f: callable X -> output array (reads X, which is perturbed in place and restored);
    X: float64 array; dout: array shaped like f(X). Returns an array shaped like X, to
    be compared with the analytic ``*_backward`` result.
    """
    return numerical_gradient(lambda: float(np.sum(f(X) * dout)), X, h)
