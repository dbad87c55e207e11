"""nnutils.lstm against independent references: numerical gradients and torch.nn.RNN / nn.LSTM
with copied weights (float64: outputs and every gradient). Weights in the house layout:
Wx (G, D) = weight_ih_l0, Wh (G, H) = weight_hh_l0, gradients shaped like them."""
import numpy as np
import pytest
import torch

from nnutils import functions, lstm
from nnutils.gradcheck import numerical_gradient, rel_error

N, T, D, H = 3, 5, 4, 6


def _rng(seed=0):
    return np.random.default_rng(seed)


def _check_step_grads(forward, backward, arrays, douts, tol=1e-7):
    """Numerical vs analytic gradients of sum_k <forward(*arrays)[k], douts[k]> w.r.t. each array."""
    def loss():
        outs = forward(*arrays)
        return sum(float(np.sum(o * d)) for o, d in zip(outs, douts))

    analytic = backward(*douts)
    for k, a in enumerate(arrays):
        num = numerical_gradient(loss, a)
        assert rel_error(num, analytic[k]) < tol, f"gradient #{k}: rel error {rel_error(num, analytic[k])}"


def test_uses_the_shared_sigmoid():
    """One sigmoid in the package (tested in test_functions.py), no local copy."""
    assert lstm.sigmoid is functions.sigmoid


def test_rnn_step_backward_numerical():
    r = _rng(1)
    x, h, Wx, Wh, b = (r.normal(size=s) for s in [(N, D), (N, H), (H, D), (H, H), (H,)])
    dh = r.normal(size=(N, H))
    cache = {}

    def fwd(x, h, Wx, Wh, b):
        out, cache["c"] = lstm.rnn_step_forward(x, h, Wx, Wh, b)
        return (out,)

    fwd(x, h, Wx, Wh, b)
    _check_step_grads(fwd, lambda d: lstm.rnn_step_backward(d, cache["c"]), [x, h, Wx, Wh, b], [dh])


def test_lstm_step_backward_numerical():
    r = _rng(2)
    x, h, c = r.normal(size=(N, D)), r.normal(size=(N, H)), r.normal(size=(N, H))
    Wx, Wh, b = r.normal(size=(4 * H, D)), r.normal(size=(4 * H, H)), r.normal(size=4 * H)
    dh, dc = r.normal(size=(N, H)), r.normal(size=(N, H))
    cache = {}

    def fwd(x, h, c, Wx, Wh, b):
        hn, cn, cache["c"] = lstm.lstm_step_forward(x, h, c, Wx, Wh, b)
        return hn, cn

    fwd(x, h, c, Wx, Wh, b)
    grads = lambda dh_, dc_: lstm.lstm_step_backward(dh_, dc_, cache["c"])
    _check_step_grads(fwd, grads, [x, h, c, Wx, Wh, b], [dh, dc])


def test_sequence_equals_chained_steps():
    r = _rng(3)
    x, h0 = r.normal(size=(N, T, D)), r.normal(size=(N, H))
    Wx, Wh, b = r.normal(size=(4 * H, D)), r.normal(size=(4 * H, H)), r.normal(size=4 * H)
    hseq, _ = lstm.lstm_forward(x, h0, Wx, Wh, b)
    h, c = h0, np.zeros_like(h0)
    for t in range(T):
        h, c, _ = lstm.lstm_step_forward(x[:, t], h, c, Wx, Wh, b)
        assert np.allclose(hseq[:, t], h)
    Wx, Wh, b = Wx[:H], Wh[:H], b[:H]
    hseq, _ = lstm.rnn_forward(x, h0, Wx, Wh, b)
    h = h0
    for t in range(T):
        h, _ = lstm.rnn_step_forward(x[:, t], h, Wx, Wh, b)
        assert np.allclose(hseq[:, t], h)


def _torch_reference(module, x, h0, c0, G):
    """Outputs and gradients of loss = sum(out * G) from a torch module, as float64 numpy arrays."""
    xt = torch.tensor(x, requires_grad=True)
    h0t = torch.tensor(h0[None], requires_grad=True)
    if c0 is None:
        out, hn = module(xt, h0t)
        cn = None
    else:
        c0t = torch.tensor(c0[None], requires_grad=True)
        out, (hn, cn) = module(xt, (h0t, c0t))
    (out * torch.tensor(G)).sum().backward()
    ref = {
        "out": out.detach().numpy(), "dx": xt.grad.numpy(), "dh0": h0t.grad[0].numpy(),
        "dWx": module.weight_ih_l0.grad.numpy(), "dWh": module.weight_hh_l0.grad.numpy(),
        "db_ih": module.bias_ih_l0.grad.numpy(), "db_hh": module.bias_hh_l0.grad.numpy(),
    }
    if c0 is not None:
        ref["dc0"], ref["cn"] = c0t.grad[0].numpy(), cn.detach()[0].numpy()
    return ref


@pytest.mark.parametrize("seed", [0, 1])
def test_rnn_matches_torch(seed):
    torch.manual_seed(seed)
    r = _rng(seed)
    module = torch.nn.RNN(D, H, batch_first=True).double()
    x, h0, G = r.normal(size=(N, T, D)), r.normal(size=(N, H)), r.normal(size=(N, T, H))
    ref = _torch_reference(module, x, h0, None, G)
    Wx, Wh, b = lstm.from_torch(module)
    out, cache = lstm.rnn_forward(x, h0, Wx, Wh, b)
    dx, dh0, dWx, dWh, db = lstm.rnn_backward(G, cache)
    assert rel_error(out, ref["out"]) < 1e-10
    for name, got in [("dx", dx), ("dh0", dh0), ("dWx", dWx), ("dWh", dWh), ("db_ih", db), ("db_hh", db)]:
        assert rel_error(got, ref[name]) < 1e-9, name


@pytest.mark.parametrize("seed", [0, 1])
def test_lstm_matches_torch(seed):
    torch.manual_seed(seed)
    r = _rng(seed)
    module = torch.nn.LSTM(D, H, batch_first=True).double()
    x, h0, c0 = r.normal(size=(N, T, D)), r.normal(size=(N, H)), r.normal(size=(N, H))
    G = r.normal(size=(N, T, H))
    ref = _torch_reference(module, x, h0, c0, G)
    Wx, Wh, b = lstm.from_torch(module)
    out, cache = lstm.lstm_forward(x, h0, Wx, Wh, b, c0)
    dx, dh0, dc0, dWx, dWh, db = lstm.lstm_backward(G, cache)
    assert rel_error(out, ref["out"]) < 1e-10
    assert rel_error(cache["c"][-1], ref["cn"]) < 1e-10
    for name, got in [("dx", dx), ("dh0", dh0), ("dc0", dc0), ("dWx", dWx), ("dWh", dWh),
                      ("db_ih", db), ("db_hh", db)]:
        assert rel_error(got, ref[name]) < 1e-9, name


def test_lstm_sequence_backward_numerical():
    """The BPTT loop itself, against centred differences (independent of torch)."""
    r = _rng(4)
    x, h0, c0 = r.normal(size=(2, 4, 3)), r.normal(size=(2, 5)), r.normal(size=(2, 5))
    Wx, Wh, b = r.normal(size=(20, 3)) * 0.5, r.normal(size=(20, 5)) * 0.5, r.normal(size=20)
    G = r.normal(size=(2, 4, 5))
    loss = lambda: float(np.sum(lstm.lstm_forward(x, h0, Wx, Wh, b, c0)[0] * G))
    _, cache = lstm.lstm_forward(x, h0, Wx, Wh, b, c0)
    grads = lstm.lstm_backward(G, cache)
    for k, a in enumerate([x, h0, c0, Wx, Wh, b]):
        assert rel_error(numerical_gradient(loss, a), grads[k]) < 1e-7, k


def test_gates_cache_matches_step():
    r = _rng(5)
    x, h0 = r.normal(size=(N, T, D)), np.zeros((N, H))
    Wx, Wh, b = r.normal(size=(4 * H, D)), r.normal(size=(4 * H, H)), r.normal(size=4 * H)
    _, cache = lstm.lstm_forward(x, h0, Wx, Wh, b)
    _, _, step = lstm.lstm_step_forward(x[:, 0], h0, h0, Wx, Wh, b)
    i, f, g, o = step[5:9]
    assert np.allclose(cache["gates"][0], np.concatenate([i, f, g, o], axis=1))
    assert cache["gates"].shape == (T, N, 4 * H) and cache["c"].shape == (T + 1, N, H)


def test_float32_stays_float32():
    """The benchmark runs in float32: no silent upcast to float64 inside the loops."""
    r = _rng(6)
    f32 = lambda *s: r.normal(size=s).astype(np.float32)
    x, h0 = f32(N, T, D), f32(N, H)
    out, cache = lstm.lstm_forward(x, h0, f32(4 * H, D), f32(4 * H, H), f32(4 * H))
    grads = lstm.lstm_backward(f32(N, T, H), cache)
    assert out.dtype == np.float32 and all(g.dtype == np.float32 for g in grads)


@pytest.mark.parametrize("make", [
    lambda: torch.nn.RNN(D, H, num_layers=2, batch_first=True),
    lambda: torch.nn.LSTM(D, H, bidirectional=True, batch_first=True),
    lambda: torch.nn.LSTM(D, H, proj_size=2, batch_first=True),
    lambda: torch.nn.RNN(D, H, nonlinearity="relu", batch_first=True),
    lambda: torch.nn.GRU(D, H, batch_first=True),
    lambda: torch.nn.Linear(D, H),
])
def test_from_torch_refuses_modules_it_cannot_copy(make):
    """Copying layer 0 of a 2-layer or bidirectional module would silently compute something else."""
    with pytest.raises(ValueError, match="only"):
        lstm.from_torch(make())


@pytest.mark.parametrize("kind", ["rnn", "lstm"])
def test_from_torch_without_bias_matches_torch(kind):
    torch.manual_seed(7)
    module = (torch.nn.RNN if kind == "rnn" else torch.nn.LSTM)(D, H, bias=False, batch_first=True).double()
    r = _rng(7)
    x, h0 = r.normal(size=(N, T, D)), r.normal(size=(N, H))
    Wx, Wh, b = lstm.from_torch(module)
    assert np.array_equal(b, np.zeros(Wx.shape[0]))
    if kind == "rnn":
        out = lstm.rnn_forward(x, h0, Wx, Wh, b)[0]
        ref = module(torch.tensor(x), torch.tensor(h0[None]))[0]
    else:
        out = lstm.lstm_forward(x, h0, Wx, Wh, b)[0]
        ref = module(torch.tensor(x), (torch.tensor(h0[None]), torch.zeros(1, N, H, dtype=torch.float64)))[0]
    assert rel_error(out, ref.detach().numpy()) < 1e-10


def test_rnn_empty_sequence_like_lstm():
    """T = 0: no steps, an empty (N, 0, H) output (as lstm_forward gives) and zero gradients."""
    r = _rng(8)
    x, h0 = np.zeros((N, 0, D)), r.normal(size=(N, H))
    Wx, Wh, b = r.normal(size=(H, D)), r.normal(size=(H, H)), r.normal(size=H)
    out, cache = lstm.rnn_forward(x, h0, Wx, Wh, b)
    lstm_out = lstm.lstm_forward(x, h0, r.normal(size=(4 * H, D)), r.normal(size=(4 * H, H)),
                                r.normal(size=4 * H))[0]
    assert out.shape == lstm_out.shape == (N, 0, H)
    dx, dh0, dWx, dWh, db = lstm.rnn_backward(np.zeros((N, 0, H)), cache)
    assert dx.shape == (N, 0, D) and np.array_equal(dh0, np.zeros((N, H)))
    assert not dWx.any() and not dWh.any() and not db.any()
    assert dWx.shape == (H, D) and dWh.shape == (H, H)


@pytest.mark.parametrize("seed", [0, 1])
def test_lstm_backward_final_cell_gradient_vs_torch(seed):
    """loss = sum(h * G) + sum(c_T * Gc): the gradient on c_T enters through dcT."""
    torch.manual_seed(seed)
    r = _rng(seed + 20)
    module = torch.nn.LSTM(D, H, batch_first=True).double()
    x, h0, c0 = r.normal(size=(N, T, D)), r.normal(size=(N, H)), r.normal(size=(N, H))
    G, Gc = r.normal(size=(N, T, H)), r.normal(size=(N, H))
    xt, h0t, c0t = (torch.tensor(a, requires_grad=True) for a in (x, h0[None], c0[None]))
    out, (_, cn) = module(xt, (h0t, c0t))
    ((out * torch.tensor(G)).sum() + (cn[0] * torch.tensor(Gc)).sum()).backward()
    want = [xt.grad.numpy(), h0t.grad[0].numpy(), c0t.grad[0].numpy(),
            module.weight_ih_l0.grad.numpy(), module.weight_hh_l0.grad.numpy(),
            module.bias_ih_l0.grad.numpy()]
    _, cache = lstm.lstm_forward(x, h0, *lstm.from_torch(module), c0)
    got = lstm.lstm_backward(G, cache, dcT=Gc)
    for name, got, ref in zip(["dx", "dh0", "dc0", "dWx", "dWh", "db"], got, want):
        assert rel_error(got, ref) < 1e-9, name
    # the default (None) is a loss that does not use c_T: the same as zeros
    zeros = lstm.lstm_backward(G, cache, dcT=np.zeros((N, H)))
    for a, z in zip(lstm.lstm_backward(G, cache), zeros):
        assert np.array_equal(a, z)


@pytest.mark.parametrize("kind", ["rnn", "lstm"])
def test_from_torch_copies_pytorch_arrays_unchanged(kind):
    """House layout: Wx, Wh are weight_ih_l0, weight_hh_l0 themselves (no transpose), copied."""
    module = (torch.nn.RNN if kind == "rnn" else torch.nn.LSTM)(D, H, batch_first=True)
    Wx, Wh, b = lstm.from_torch(module)
    G = H if kind == "rnn" else 4 * H
    assert Wx.shape == (G, D) and Wh.shape == (G, H) and b.shape == (G,)
    assert np.array_equal(Wx, module.weight_ih_l0.detach().double().numpy())
    assert np.array_equal(Wh, module.weight_hh_l0.detach().double().numpy())
    Wx32 = lstm.from_torch(module, np.float32)[0]
    Wx32[:] = 0.0                                      # a copy: the module keeps its weights
    assert module.weight_ih_l0.abs().sum() > 0


def test_steps_match_torch_cells():
    """rnn_step_forward / lstm_step_forward against nn.RNNCell / nn.LSTMCell with their weights."""
    torch.manual_seed(9)
    r = _rng(9)
    x, h, c = r.normal(size=(N, D)), r.normal(size=(N, H)), r.normal(size=(N, H))
    xt, ht, ct = torch.tensor(x), torch.tensor(h), torch.tensor(c)
    for cls in [torch.nn.RNNCell, torch.nn.LSTMCell]:
        cell = cls(D, H).double()
        Wx, Wh = cell.weight_ih.detach().numpy(), cell.weight_hh.detach().numpy()
        b = (cell.bias_ih + cell.bias_hh).detach().numpy()
        if cls is torch.nn.RNNCell:
            assert rel_error(lstm.rnn_step_forward(x, h, Wx, Wh, b)[0],
                             cell(xt, ht).detach().numpy()) < 1e-10
        else:
            h1, c1, _ = lstm.lstm_step_forward(x, h, c, Wx, Wh, b)
            h1t, c1t = cell(xt, (ht, ct))
            assert rel_error(h1, h1t.detach().numpy()) < 1e-10
            assert rel_error(c1, c1t.detach().numpy()) < 1e-10
