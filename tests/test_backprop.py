"""nnutils.backprop against PyTorch autograd, numerical gradients and the notes' numbers.

Relative errors are measured with nnutils.gradcheck.rel_error (max |a-b| / (|a|+|b|)), float64.
"""
import math

import matplotlib
import numpy as np
import pytest
import torch

from nnutils import backprop as bp, loop
from nnutils.gradcheck import numerical_gradient, rel_error

matplotlib.use("Agg")

# the 2-2-2 network of seed 003 (PyTorch nn.Linear weights: one row per output neuron),
# as the flat list [W1, b1, W2, b2]
X_222 = np.array([[0.05, 0.10]])
T_222 = np.array([[0.01, 0.99]])
P_222 = [np.array([[0.15, 0.20], [0.25, 0.30]]), np.array([0.35, 0.35]),
         np.array([[0.40, 0.45], [0.50, 0.55]]), np.array([0.60, 0.60])]


# --- the scalar engine -------------------------------------------------------------------------
def sigmoid_circuit():
    w0, x0, w1, x1, w2 = (bp.Value(v, label=n) for v, n in
                          [(2, "w0"), (-1, "x0"), (-3, "w1"), (-2, "x1"), (-3, "w2")])
    f = 1 / (1 + (-(w0 * x0 + w1 * x1 + w2)).exp())
    return f, (w0, x0, w1, x1, w2)


def test_sigmoid_circuit_notes_numbers():
    f, leaves = sigmoid_circuit()
    f.backward()
    assert f.data == pytest.approx(0.73, abs=5e-3)
    assert [round(v.grad, 2) for v in leaves] == [-0.20, 0.39, -0.39, -0.59, 0.20]
    inv = f                                   # the last gate is 1/x, its input is 1 + exp(...)
    assert inv._op == "1/x"
    (d,) = inv._prev
    assert round(d.data, 2) == 1.37
    assert round(d.grad, 2) == -0.53          # local gradient -1/x^2 times upstream 1.00
    assert d.grad == pytest.approx(-1 / d.data ** 2)


def test_sigmoid_gate_equals_circuit():
    f, (w0, x0, w1, x1, w2) = sigmoid_circuit()
    f.backward()
    circuit = [v.grad for v in (w0, x0, w1, x1, w2)]
    g = (w0 * x0 + w1 * x1 + w2).sigmoid()
    g.backward()
    assert g.data == pytest.approx(f.data)
    assert np.allclose([v.grad for v in (w0, x0, w1, x1, w2)], circuit)


def test_engine_vs_torch_on_random_expressions():
    rng = np.random.default_rng(0)
    for _ in range(20):
        a, b, c = rng.uniform(0.2, 2.0, size=3) * rng.choice([-1, 1], size=3)
        va, vb, vc = bp.Value(a), bp.Value(b), bp.Value(c)
        ta, tb, tc = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (a, b, c))

        def expr(x, y, z, mx, ex, th, rl, sg, lg):
            u = x * y + z / (x * x + 1.0) - 2.0 * y
            w = mx(u, z * 0.5) + ex(-u * u) - th(y - z) * rl(x - 0.3 * z)
            return sg(w) * (3.0 - z) / y + lg(x * x + 0.1) + w ** 3

        out = expr(va, vb, vc, lambda p, q: p.max(q), lambda p: p.exp(), lambda p: p.tanh(),
                   lambda p: p.relu(), lambda p: p.sigmoid(), lambda p: p.log())
        ref = expr(ta, tb, tc, torch.maximum, torch.exp, torch.tanh, torch.relu, torch.sigmoid,
                   torch.log)
        out.backward()
        ref.backward()
        assert out.data == pytest.approx(ref.item(), rel=1e-12)
        got = [va.grad, vb.grad, vc.grad]
        want = [ta.grad.item(), tb.grad.item(), tc.grad.item()]
        assert rel_error(got, want) < 1e-10


def test_shared_node_gradients_accumulate():
    x = bp.Value(3.0)
    y = x * x + x          # x used three times
    y.backward()
    assert x.grad == 7.0
    y.backward()           # backward again: gradients are reset first, not doubled
    assert x.grad == 7.0


def test_topological_order_inputs_first():
    f, leaves = sigmoid_circuit()
    order = bp.topological_order(f)
    pos = {id(v): i for i, v in enumerate(order)}
    assert order[-1] is f and all(id(v) in pos for v in leaves)
    for v in order:
        for c in v._prev:
            assert pos[id(c)] < pos[id(v)]


def _recursive_topological_order(root):
    """The recursive depth-first search topological_order used to be (the reference order)."""
    order, seen = [], set()

    def visit(v):
        if id(v) not in seen:
            seen.add(id(v))
            for child in v._prev:
                visit(child)
            order.append(v)
    visit(root)
    return order


def test_topological_order_same_order_as_recursive_search():
    f, _ = sigmoid_circuit()
    x = bp.Value(0.7)
    g = (x * x + x).tanh() * (x - 2.0).relu() + (x * 3.0).sigmoid() / x + f
    for root in (f, g):
        ids = [id(v) for v in bp.topological_order(root)]
        assert ids == [id(v) for v in _recursive_topological_order(root)]


def test_backward_deep_graph_vs_torch():
    """5000 nested gates: deeper than Python's recursion limit (about 1000)."""
    x, tx = bp.Value(0.3), torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    y, ty = x, tx
    for k in range(2500):
        c = 0.5 + 1e-4 * k
        y, ty = (y * c).tanh(), torch.tanh(ty * c)
    y.backward()
    ty.backward()
    assert len(bp.topological_order(y)) > 5000
    assert y.data == pytest.approx(ty.item(), rel=1e-12)
    assert x.grad == pytest.approx(tx.grad.item(), rel=1e-9)


@pytest.mark.parametrize("a", [-1000.0, -710.0, -40.0, -1.5, 0.0, 2.0, 40.0, 710.0, 1000.0])
def test_sigmoid_gate_extreme_inputs_vs_torch(a):
    x, tx = bp.Value(a), torch.tensor(a, dtype=torch.float64, requires_grad=True)
    s, ts = x.sigmoid(), torch.sigmoid(tx)
    s.backward()
    ts.backward()
    assert s.data == pytest.approx(ts.item(), rel=1e-15, abs=1e-300)   # torch: 0 below about -709
    assert x.grad == pytest.approx(tx.grad.item(), rel=1e-12, abs=1e-300)


@pytest.mark.parametrize("a", [-1000.0, -746.0, -1.0, 0.0, 3.0, 709.0, 709.78, 709.79, 710.0,
                               1000.0])
def test_exp_gate_overflows_to_inf_like_torch(a):
    """math.exp raises OverflowError above about 709.78; torch.exp (and numpy) give inf."""
    x, tx = bp.Value(a), torch.tensor(a, dtype=torch.float64, requires_grad=True)
    e, te = x.exp(), torch.exp(tx)
    e.backward()
    te.backward()
    assert e.data == te.item()                               # inf above 709.78, 0 below -745
    assert x.grad == tx.grad.item()                          # d e^x / dx = e^x, inf too


@pytest.mark.parametrize("a, k", [(0.0, 0), (2.5, 0), (-3.0, 0), (0.0, 1), (0.0, 2), (1.5, 3)])
def test_pow_gradient_vs_torch(a, k):
    """d x^0 / dx = 0, also at x = 0, where k * x**(k-1) would divide by zero."""
    x, tx = bp.Value(a), torch.tensor(a, dtype=torch.float64, requires_grad=True)
    (x ** k).backward()
    (tx ** k).backward()
    assert x.grad == tx.grad.item()


def test_gate_patterns_scalar():
    for a, b in [(2.0, -1.0), (-4.0, 3.0), (1.0, 1.0)]:
        x, y = bp.Value(a), bp.Value(b)
        z = (x + y) * 1.0
        z.backward()
        assert (x.grad, y.grad) == (1.0, 1.0)                        # add distributes
        x, y = bp.Value(a), bp.Value(b)
        (x * y).backward()
        assert (x.grad, y.grad) == (b, a)                            # multiply swaps
        x, y = bp.Value(a), bp.Value(b)
        x.max(y).backward()
        assert (x.grad, y.grad) == ((1.0, 0.0) if a >= b else (0.0, 1.0))   # max routes


def test_draw_graph_one_box_per_node():
    import matplotlib.pyplot as plt
    f, _ = sigmoid_circuit()
    f.backward()
    ax = bp.draw_graph(f)
    texts = [t.get_text() for t in ax.texts if t.get_text()]   # arrows are empty annotations
    non_const = [v for v in bp.topological_order(f) if v.label != "const"]
    assert len(texts) == 3 * len(non_const)         # name, value, gradient per drawn node
    assert "1/x" in texts and "*-1" in texts and "+1" in texts and "-0.53" in texts
    plt.close("all")


# --- array gates and layers --------------------------------------------------------------------
def test_array_gates_vs_torch():
    rng = np.random.default_rng(1)
    x, y, dout = rng.normal(size=(3, 4, 5))
    for fn, op in [(bp.add_backward, torch.add), (bp.mul_backward, torch.mul),
                   (bp.max_backward, torch.maximum)]:
        tx, ty = (torch.tensor(a, requires_grad=True) for a in (x, y))
        op(tx, ty).backward(torch.tensor(dout))
        dx, dy = fn(dout, x, y)
        assert dx.shape == x.shape and dy.shape == y.shape
        assert rel_error(dx, tx.grad.numpy()) < 1e-12 and rel_error(dy, ty.grad.numpy()) < 1e-12


@pytest.mark.parametrize("N,D,M", [(1, 2, 2), (5, 4, 3), (16, 10, 7)])
def test_affine_vs_torch_and_numerical(N, D, M):
    rng = np.random.default_rng(N)
    X, W, b, dZ = rng.normal(size=(N, D)), rng.normal(size=(M, D)), rng.normal(size=M), rng.normal(size=(N, M))
    Z, cache = bp.affine_forward(X, W, b)
    dX, dW, db = bp.affine_backward(dZ, cache)
    assert (Z.shape, dX.shape, dW.shape, db.shape) == ((N, M), X.shape, W.shape, b.shape)
    layer = torch.nn.Linear(D, M).double()
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(W))
        layer.bias.copy_(torch.tensor(b))
    tX = torch.tensor(X, requires_grad=True)
    out = layer(tX)
    out.backward(torch.tensor(dZ))
    assert rel_error(Z, out.detach().numpy()) < 1e-12
    assert rel_error(dX, tX.grad.numpy()) < 1e-10
    assert rel_error(dW, layer.weight.grad.numpy()) < 1e-10
    assert rel_error(db, layer.bias.grad.numpy()) < 1e-10
    num_dW = bp.numerical_gradient_layer(lambda W_: bp.affine_forward(X, W_, b)[0], W, dZ)
    num_dX = bp.numerical_gradient_layer(lambda X_: bp.affine_forward(X_, W, b)[0], X, dZ)
    num_db = bp.numerical_gradient_layer(lambda b_: bp.affine_forward(X, W, b_)[0], b, dZ)
    assert rel_error(dW, num_dW) < 1e-8 and rel_error(dX, num_dX) < 1e-8 and rel_error(db, num_db) < 1e-8


@pytest.mark.parametrize("name,torch_fn", [("relu", torch.relu), ("sigmoid", torch.sigmoid)])
def test_activation_layers_vs_torch_and_numerical(name, torch_fn):
    fwd, bwd = getattr(bp, f"{name}_forward"), getattr(bp, f"{name}_backward")
    rng = np.random.default_rng(3)
    X = rng.normal(size=(6, 5)) * 3
    X[np.abs(X) < 1e-3] = 0.5                 # keep the numerical check away from ReLU's kink
    dout = rng.normal(size=X.shape)
    out, cache = fwd(X)
    dX = bwd(dout, cache)
    tX = torch.tensor(X, requires_grad=True)
    ref = torch_fn(tX)
    ref.backward(torch.tensor(dout))
    assert out.shape == X.shape and dX.shape == X.shape
    assert rel_error(out, ref.detach().numpy()) < 1e-12
    assert rel_error(dX, tX.grad.numpy()) < 1e-10
    assert rel_error(dX, bp.numerical_gradient_layer(lambda X_: fwd(X_)[0], X, dout)) < 1e-7


# --- the notes' 2-2-2 network ------------------------------------------------------------------
def test_222_network_seed003_numbers():
    loss, grads = bp.sigmoid_net_loss_and_grads(P_222, X_222, T_222)
    out, _ = bp.sigmoid_net_forward(X_222, P_222)
    assert np.allclose(out, [[0.75136507, 0.77292847]], atol=5e-9)
    assert loss == pytest.approx(0.29837111, abs=5e-9)
    dW1, db1, dW2, db2 = grads
    # the numbers seed 003 prints (4 decimals)
    assert np.array_equal(np.round(dW1, 4), [[0.0004, 0.0009], [0.0005, 0.0010]])
    assert np.array_equal(np.round(dW2, 4), [[0.0822, 0.0827], [-0.0226, -0.0227]])
    W1, b1, W2, b2 = [loop.sgd_update(p, g, {"lr": 0.5}) for p, g in zip(P_222, grads)]
    assert np.array_equal(np.round(W1, 4), [[0.1498, 0.1996], [0.2498, 0.2995]])
    assert np.array_equal(np.round(b1, 4), [0.3456, 0.3450])
    assert np.array_equal(np.round(W2, 4), [[0.3589, 0.4087], [0.5113, 0.5614]])
    assert np.array_equal(np.round(b2, 4), [0.5308, 0.6190])
    # Matt Mazur's well-known hand computation of the same network (8 decimals)
    assert W2[0, 0] == pytest.approx(0.35891648, abs=5e-9)
    assert W1[0, 0] == pytest.approx(0.149780716, abs=5e-9)


def test_222_network_vs_torch_seed003_code():
    """Seed 003's own PyTorch model (in float64), gradients and one SGD(lr=0.5) step."""
    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Sigmoid(),
                              torch.nn.Linear(2, 2), torch.nn.Sigmoid()).double()
    with torch.no_grad():
        for layer, W, b in zip([net[0], net[2]], P_222[0::2], P_222[1::2]):
            layer.weight.copy_(torch.tensor(W))
            layer.bias.copy_(torch.tensor(b))
    out = net(torch.tensor(X_222))
    loss = torch.sum((out - torch.tensor(T_222)) ** 2) / 2
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    opt.zero_grad()
    loss.backward()
    torch_grads = [p.grad.numpy().copy() for p in net.parameters()]   # W1, b1, W2, b2
    opt.step()
    ours_loss, grads = bp.sigmoid_net_loss_and_grads(P_222, X_222, T_222)
    assert ours_loss == pytest.approx(loss.item(), rel=1e-14)
    assert [g.shape for g in grads] == [p.shape for p in P_222]
    for g, tg in zip(grads, torch_grads):
        assert rel_error(g, tg) < 1e-12
    # one step of loop.fit on the one example is torch's SGD(lr=0.5) step
    params = [p.copy() for p in P_222]
    hist = loop.fit(bp.sigmoid_net_loss_and_grads, params, X_222, T_222, loop.sgd_update,
                    {"lr": 0.5}, epochs=1, batch_size=1, progress=False)
    assert hist["loss"] == [pytest.approx(loss.item(), rel=1e-14)]
    for p, tp in zip(params, net.parameters()):
        assert np.allclose(p, tp.detach().numpy(), atol=1e-15)


def test_222_network_trained_with_fit_vs_torch_sgd():
    """100 full-batch steps of loop.fit against 100 steps of torch.optim.SGD on the same net."""
    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Sigmoid(),
                              torch.nn.Linear(2, 2), torch.nn.Sigmoid()).double()
    with torch.no_grad():
        for p, ours in zip(net.parameters(), P_222):
            p.copy_(torch.tensor(ours))
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    torch_losses = []
    for _ in range(100):
        opt.zero_grad()
        loss = torch.sum((net(torch.tensor(X_222)) - torch.tensor(T_222)) ** 2) / 2
        loss.backward()
        opt.step()
        torch_losses.append(loss.item())
    params = [p.copy() for p in P_222]
    hist = loop.fit(bp.sigmoid_net_loss_and_grads, params, X_222, T_222, loop.sgd_update,
                    {"lr": 0.5}, epochs=100, batch_size=len(X_222), progress=False)
    assert rel_error(hist["loss"], torch_losses) < 1e-12
    assert hist["loss"][1] == pytest.approx(0.280471447, abs=5e-10)    # after one step
    for p, tp in zip(params, net.parameters()):
        assert rel_error(p, tp.detach().numpy()) < 1e-12


def test_222_network_row_convention_would_differ():
    """Reading W1 as (in, out) instead of PyTorch's (out, in) gives other outputs."""
    swapped = [P_222[0].T, P_222[1], P_222[2].T, P_222[3]]
    out, _ = bp.sigmoid_net_forward(X_222, swapped)
    assert not np.allclose(np.round(out, 4), [[0.7514, 0.7729]])


def test_sigmoid_net_vs_numerical_on_a_batch():
    rng = np.random.default_rng(4)
    sizes = [3, 5, 4, 2]
    params = []
    for n, m in zip(sizes[:-1], sizes[1:]):
        params += [rng.normal(size=(m, n)), rng.normal(size=m)]
    X, T = rng.normal(size=(7, 3)), rng.uniform(size=(7, 2))
    loss, grads = bp.sigmoid_net_loss_and_grads(params, X, T)
    out, _ = bp.sigmoid_net_forward(X, params)
    assert loss == pytest.approx(0.5 * np.sum((out - T) ** 2), rel=1e-14)   # summed, not mean
    assert len(grads) == len(params)
    f = lambda: bp.sigmoid_net_loss_and_grads(params, X, T)[0]  # noqa: E731
    for p, g in zip(params, grads):
        assert g.shape == p.shape
        assert rel_error(g, numerical_gradient(f, p)) < 1e-6   # entries as small as 7e-5


def test_sigmoid_net_extreme_inputs_and_bad_params():
    """The layers use functions.sigmoid: no overflow warning, torch's values at +-1000."""
    W = np.array([[1.0], [-1.0]])
    X = np.array([[-1000.0], [1000.0]])
    with np.errstate(over="raise"):
        out, _ = bp.sigmoid_net_forward(X, [W, np.zeros(2)])
    want = torch.sigmoid(torch.tensor(X) @ torch.tensor(W).T).numpy()
    assert np.array_equal(out, want)
    with pytest.raises(ValueError, match="params"):
        bp.sigmoid_net_forward(X, [W])                       # a W without its b
    with pytest.raises(ValueError, match="params"):
        bp.sigmoid_net_loss_and_grads([], X, X)


def test_scalar_engine_agrees_with_layers_on_222():
    vals = {}
    x = [bp.Value(v) for v in X_222[0]]
    layers = []
    for W, b in zip(P_222[0::2], P_222[1::2]):
        Wv = [[bp.Value(w) for w in row] for row in W]
        bv = [bp.Value(v) for v in b]
        layers.append((Wv, bv))
        x = [(sum((w * xi for w, xi in zip(row, x)), bv[j])).sigmoid() for j, row in enumerate(Wv)]
    loss = sum(((o - t) ** 2 for o, t in zip(x, T_222[0])), bp.Value(0.0)) * 0.5
    loss.backward()
    _, grads = bp.sigmoid_net_loss_and_grads(P_222, X_222, T_222)
    for (Wv, bv), dW, db in zip(layers, grads[0::2], grads[1::2]):
        assert rel_error([[w.grad for w in row] for row in Wv], dW) < 1e-12
        assert rel_error([v.grad for v in bv], db) < 1e-12
    assert math.isclose(loss.data, 0.2983711087600027, rel_tol=1e-12)
