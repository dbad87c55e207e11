"""nnutils.linear against the notes' numbers, PyTorch with copied weights and numpy's lstsq."""
import numpy as np
import pytest
import torch

from nnutils import functions as fn, linear

X_NOTES = np.array([56, 231, 24, 2], dtype=float)
W_NOTES = np.array([[0.2, -0.5, 0.1, 2.0], [1.5, 1.3, 2.1, 0.0], [0.0, 0.25, 0.2, -0.3]])
B_NOTES = np.array([1.1, 3.2, -1.2])

# 鱼书 ch. 3's 3-layer example in its own row form X @ W_yu + b, W_yu of shape (n_in, n_out)
YUSHU = [
    (np.array([[0.1, 0.3, 0.5], [0.2, 0.4, 0.6]]), np.array([0.1, 0.2, 0.3])),
    (np.array([[0.1, 0.4], [0.2, 0.5], [0.3, 0.6]]), np.array([0.1, 0.2])),
    (np.array([[0.1, 0.3], [0.2, 0.4]]), np.array([0.1, 0.2])),
]
# ... and in the house layout: W = W_yu.T, (n_out, n_in), in one flat list [W1, b1, ...]
YUSHU_PARAMS = [a for W_yu, b in YUSHU for a in (W_yu.T, b)]


def test_notes_scores():
    s = linear.linear_scores(X_NOTES, W_NOTES, B_NOTES)
    assert s.shape == (3,) and np.allclose(s, [-96.8, 437.9, 60.75])
    assert not np.isclose(s[2], 61.95), "the slide's 61.95 omits the bias"
    assert np.isclose(W_NOTES[2] @ X_NOTES, 61.95)


def test_scores_batch_vs_torch_linear():
    rng = np.random.default_rng(0)
    X, W, b = rng.normal(size=(7, 5)), rng.normal(size=(3, 5)), rng.normal(size=3)
    layer = torch.nn.Linear(5, 3).double()
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(W))
        layer.bias.copy_(torch.tensor(b))
        ref = layer(torch.tensor(X)).numpy()
    S = linear.linear_scores(X, W, b)
    assert S.shape == (7, 3) and np.allclose(S, ref)


def test_bias_trick():
    x1, W1 = linear.bias_trick(X_NOTES, W_NOTES, B_NOTES)
    assert x1.shape == (5,) and W1.shape == (3, 5) and x1[-1] == 1.0
    assert np.allclose(W1 @ x1, [-96.8, 437.9, 60.75])
    rng = np.random.default_rng(1)
    X, W, b = rng.normal(size=(6, 4)), rng.normal(size=(2, 4)), rng.normal(size=2)
    X1, W1 = linear.bias_trick(X, W, b)
    assert X1.shape == (6, 5) and np.allclose(X1 @ W1.T, linear.linear_scores(X, W, b))


def test_yushu_three_layers():
    x = np.array([1.0, 0.5])
    Y, cache = linear.network_forward(x, YUSHU_PARAMS)
    (Z1, A1), _, (Z3, A3) = cache
    assert np.allclose(Z1, [0.3, 0.7, 1.1], atol=5e-9), "pre-activation of layer 1"
    assert np.allclose(A1, [0.57444252, 0.66818777, 0.75026011], atol=5e-9)
    assert np.allclose(Y, [0.31682708, 0.69627909], atol=5e-9) and Y is A3
    assert np.array_equal(Z3, A3), "identity output"
    # 鱼书's own row form gives the same numbers with its untransposed W_yu
    a = x
    for l, (W_yu, b) in enumerate(YUSHU):
        a = a @ W_yu + b
        a = a if l == 2 else 1 / (1 + np.exp(-a))
    assert np.allclose(Y, a)


def test_network_forward_vs_torch():
    rng = np.random.default_rng(2)
    sizes = [5, 8, 6, 3]
    params = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        params += [rng.normal(size=(n_out, n_in)), rng.normal(size=n_out)]
    X = rng.normal(size=(10, 5))
    linears = []
    for W, b in zip(params[::2], params[1::2]):
        layer = torch.nn.Linear(W.shape[1], W.shape[0]).double()
        with torch.no_grad():
            layer.weight.copy_(torch.tensor(W))     # the same (out, in) array, unchanged
            layer.bias.copy_(torch.tensor(b))
        linears.append(layer)
    l1, l2, l3 = linears
    net = torch.nn.Sequential(l1, torch.nn.Sigmoid(), l2, torch.nn.Sigmoid(), l3)
    with torch.no_grad():
        ref = net(torch.tensor(X)).numpy()
        Z1 = l1(torch.tensor(X)).numpy()
    Y, cache = linear.network_forward(X, params)
    assert Y.shape == (10, 3) and np.allclose(Y, ref) and len(cache) == 3
    assert np.allclose(cache[0][0], Z1) and np.allclose(cache[0][1], 1 / (1 + np.exp(-Z1)))
    Y2, _ = linear.network_forward(X, params, hidden=np.tanh, output=fn.sigmoid)
    net2 = torch.nn.Sequential(l1, torch.nn.Tanh(), l2, torch.nn.Tanh(), l3, torch.nn.Sigmoid())
    with torch.no_grad():
        assert np.allclose(Y2, net2(torch.tensor(X)).numpy())


def test_network_forward_refuses_pairs_and_odd_lists():
    with pytest.raises(ValueError, match="flat list"):
        linear.network_forward(np.ones(2), YUSHU)           # (W, b) pairs, the old layout
    with pytest.raises(ValueError, match="flat list"):
        linear.network_forward(np.ones(2), [])


def test_identity():
    z = np.linspace(-3, 3, 7)
    assert linear.identity(z) is z


@pytest.mark.parametrize("reg", [0.0, 1e-2, 1.0])
def test_fit_least_squares_vs_lstsq(reg):
    rng = np.random.default_rng(3)
    N, D, C = 40, 5, 3
    X, y = rng.normal(size=(N, D)), rng.integers(0, C, N)
    W, b = linear.fit_least_squares(X, y, C, reg=reg)
    assert W.shape == (C, D) and b.shape == (C,)
    # ridge as an ordinary least-squares problem: stack sqrt(reg) * I below X (bias unpenalised)
    X1 = np.c_[X, np.ones(N)]
    T = np.eye(C)[y]
    A = np.r_[X1, np.c_[np.sqrt(reg) * np.eye(D), np.zeros(D)]]
    B = np.r_[T, np.zeros((D, C))]
    ref = np.linalg.lstsq(A, B, rcond=None)[0].T
    assert np.allclose(W, ref[:, :-1]) and np.allclose(b, ref[:, -1])


def test_fit_least_squares_refuses_labels_outside_the_classes():
    with pytest.raises(ValueError, match="labels"):
        linear.fit_least_squares(np.ones((3, 2)), np.array([0, 1, -1]), 3)


def test_accuracy():
    S = np.array([[0.1, 0.9], [2.0, 1.0], [0.0, 3.0]])
    assert linear.accuracy(S, np.array([1, 0, 0])) == pytest.approx(2 / 3)


def test_fit_least_squares_centred_form_and_large_reg_limit():
    """Chapter 1's account of the templates: W.T = (Xc.T Xc + reg I)^-1 Xc.T T with Xc
    centred, and for large reg each row tends to n_c (class mean - mean) / reg."""
    rng = np.random.default_rng(4)
    N, D, C = 60, 6, 3
    X, y = rng.normal(size=(N, D)) + 2.0, rng.integers(0, C, N)
    Xc, T = X - X.mean(axis=0), np.eye(C)[y]
    for reg in [0.1, 10.0]:
        W, b = linear.fit_least_squares(X, y, C, reg=reg)
        assert np.allclose(W.T, np.linalg.solve(Xc.T @ Xc + reg * np.eye(D), Xc.T @ T))
    reg = 1e7
    W, _ = linear.fit_least_squares(X, y, C, reg=reg)
    limit = np.stack([(y == c).sum() * (X[y == c].mean(axis=0) - X.mean(axis=0)) / reg
                      for c in range(C)])
    assert np.allclose(W, limit, rtol=1e-4, atol=0)
