"""Chapter 9: a vanilla RNN and an LSTM, forward and backward through time, in numpy.

Follows the house convention (nnutils/README.md): inputs ``x`` (N, T, D), hidden
states (N, T, H), and the weights are PyTorch's arrays unchanged,
``Wx`` (G, D) = ``weight_ih_l0``, ``Wh`` (G, H) = ``weight_hh_l0``,
``b`` (G,) = ``bias_ih_l0 + bias_hh_l0``, with G = H for the RNN and G = 4H for the LSTM
(gates stacked i, f, g, o):

    a_t = x_t @ Wx.T + h_{t-1} @ Wh.T + b

The row form ``x_t @ Wx_row`` of other texts (CS231n's Wx of shape (D, G)) is
``Wx_row = Wx.T``.

Each step is a CS231n-style ``*_forward -> (out, cache)`` / ``*_backward(dout, cache)``
pair. The sequence versions do the input projection of all steps in one matrix product
before the loop, one (N, H) @ (H, G) product per step (with ``Wh.T`` copied once to
contiguous memory), and the weight gradients in one product after it.
"""
import numpy as np

from nnutils.functions import sigmoid


# --------------------------------------------------------------------------------------
# Vanilla RNN: h_t = tanh(x_t @ Wx.T + h_{t-1} @ Wh.T + b)
# --------------------------------------------------------------------------------------

def rnn_step_forward(x, h_prev, Wx, Wh, b):
    """One RNN step. x: (N, D), h_prev: (N, H), Wx: (H, D), Wh: (H, H), b: (H,).

    Returns (h, cache) with h: (N, H) = tanh(x @ Wx.T + h_prev @ Wh.T + b).
    """
    h = np.tanh(x @ Wx.T + h_prev @ Wh.T + b)
    return h, (x, h_prev, Wx, Wh, h)


def rnn_step_backward(dh, cache):
    """Backward of one RNN step. dh: (N, H) gradient of the loss w.r.t. h.

    Returns (dx (N, D), dh_prev (N, H), dWx (H, D), dWh (H, H), db (H,)).
    """
    x, h_prev, Wx, Wh, h = cache
    da = dh * (1.0 - h * h)              # tanh'(a) = 1 - tanh(a)^2
    return da @ Wx, da @ Wh, da.T @ x, da.T @ h_prev, da.sum(axis=0)


def rnn_forward(x, h0, Wx, Wh, b):
    """Run the RNN over a whole sequence.

    x: (N, T, D), h0: (N, H), Wx: (H, D), Wh: (H, H), b: (H,).

    Returns (h, cache) with h: (N, T, H), the hidden state after every step.
    """
    N, T, D = x.shape
    H = Wh.shape[0]
    # time-major (T, N, D): contiguous steps
    xs = np.ascontiguousarray(x.transpose(1, 0, 2))
    A = (xs.reshape(T * N, D) @ Wx.T + b).reshape(T, N, H)   # input part of all steps
    # (H, H), copied once for the loop
    WhT = np.ascontiguousarray(Wh.T)
    hs = np.empty((T + 1,) + h0.shape, dtype=A.dtype)     # hs[0] = h0, hs[t+1] = h_t
    hs[0] = h0
    for t in range(T):
        hs[t + 1] = np.tanh(A[t] + hs[t] @ WhT)
    return hs[1:].transpose(1, 0, 2), (xs, hs, Wx, Wh)


def rnn_backward(dh, cache):
    """Backpropagation through time for :func:`rnn_forward`.

    dh: (N, T, H) gradient of the loss w.r.t. every hidden state (zeros where a step
    is unused).
    Returns (dx (N, T, D), dh0 (N, H), dWx (H, D), dWh (H, H), db (H,)).
    """
    xs, hs, Wx, Wh = cache
    T, N, D = xs.shape
    H = Wh.shape[0]
    dhs = dh.transpose(1, 0, 2)
    dA = np.empty_like(hs[1:])
    # da @ Wh: Wh (H, H) is the right layout
    Wh = np.ascontiguousarray(Wh)
    dh_next = np.zeros_like(hs[0])                     # gradient arriving from step t+1
    for t in reversed(range(T)):
        dA[t] = (dhs[t] + dh_next) * (1.0 - hs[t + 1] ** 2)
        dh_next = dA[t] @ Wh
    dA2 = dA.reshape(T * N, H)
    dx = (dA2 @ Wx).reshape(T, N, D).transpose(1, 0, 2)
    dWx = dA2.T @ xs.reshape(T * N, D)
    dWh = dA2.T @ hs[:-1].reshape(T * N, H)
    return dx, dh_next, dWx, dWh, dA2.sum(axis=0)


# --------------------------------------------------------------------------------------
# LSTM: gates i, f, g, o (PyTorch's order),
#   [a_i, a_f, a_g, a_o] = x_t @ Wx.T + h_{t-1} @ Wh.T + b
#   i = σ(a_i), f = σ(a_f), g = tanh(a_g), o = σ(a_o)
#   c_t = f * c_{t-1} + i * g,   h_t = o * tanh(c_t)
# --------------------------------------------------------------------------------------

def lstm_step_forward(x, h_prev, c_prev, Wx, Wh, b):
    """One LSTM step.

    x: (N, D), h_prev, c_prev: (N, H), Wx: (4H, D), Wh: (4H, H), b: (4H,).

    Returns (h, c, cache) with h, c: (N, H).
    """
    H = h_prev.shape[1]
    # (N, 4H): all four gates in one product
    a = x @ Wx.T + h_prev @ Wh.T + b
    i, f = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H])
    g, o = np.tanh(a[:, 2 * H:3 * H]), sigmoid(a[:, 3 * H:])
    c = f * c_prev + i * g
    tc = np.tanh(c)
    h = o * tc
    return h, c, (x, h_prev, c_prev, Wx, Wh, i, f, g, o, tc)


def lstm_step_backward(dh, dc, cache):
    """Backward of one LSTM step. dh, dc: (N, H) gradients w.r.t. h and c of this step.

    Returns (dx (N, D), dh_prev (N, H), dc_prev (N, H), dWx (4H, D), dWh (4H, H),
    db (4H,)).
    """
    x, h_prev, c_prev, Wx, Wh, i, f, g, o, tc = cache
    do = dh * tc
    dc = dc + dh * o * (1.0 - tc * tc)                # c feeds h through tanh
    da = np.concatenate([dc * g * i * (1.0 - i),      # σ'(a) = σ(1 - σ)
                         dc * c_prev * f * (1.0 - f),
                         dc * i * (1.0 - g * g),      # tanh'(a) = 1 - tanh^2
                         do * o * (1.0 - o)], axis=1)
    return da @ Wx, da @ Wh, dc * f, da.T @ x, da.T @ h_prev, da.sum(axis=0)


def lstm_forward(x, h0, Wx, Wh, b, c0=None):
    """Run the LSTM over a whole sequence.

    x: (N, T, D), h0: (N, H), c0: (N, H) or None (zeros); Wx: (4H, D), Wh: (4H, H),
    b: (4H,).
    Returns (h, cache) with h: (N, T, H). ``cache["gates"]`` is a (T, N, 4H) array of
    the gate activations [i, f, g, o] and ``cache["c"]`` the (T+1, N, H) cell states
    (c[0] = c0).
    """
    N, T, D = x.shape
    H = h0.shape[1]
    xs = np.ascontiguousarray(x.transpose(1, 0, 2))   # time-major (T, N, D)
    # input part of every step at once
    A = (xs.reshape(T * N, D) @ Wx.T).reshape(T, N, 4 * H)
    gates = np.empty_like(A)
    hs = np.empty((T + 1, N, H), dtype=A.dtype)
    cs = np.empty_like(hs)
    tcs = np.empty_like(hs[1:])
    hs[0] = h0
    cs[0] = 0.0 if c0 is None else c0
    # σ(a) = (1 + tanh(a/2)) / 2, so one tanh over all 4H columns gives every gate:
    # gates = tanh(a * s) * s + (1 - s), with s = 1/2 in the σ columns (i, f, o) and 1
    # for g.
    # The factor s is folded into A and Wh.T once, before the loop.
    s = np.full(4 * H, 0.5, dtype=A.dtype)
    s[2 * H:3 * H] = 1.0
    # in place: A is large, avoid copies
    A += b
    A *= s
    # (H, 4H), contiguous for the loop
    WhsT, shift = np.ascontiguousarray(Wh.T * s), 1.0 - s
    # out=... writes in place, no copies
    for t in range(T):
        np.tanh(A[t] + hs[t] @ WhsT, out=gates[t])
        gates[t] *= s
        gates[t] += shift
        i, f, g, o = np.split(gates[t], 4, axis=1)
        np.multiply(f, cs[t], out=cs[t + 1])           # c_t = f * c_{t-1} + i * g
        cs[t + 1] += i * g
        np.tanh(cs[t + 1], out=tcs[t])
        np.multiply(o, tcs[t], out=hs[t + 1])          # h_t = o * tanh(c_t)
    cache = {"x": xs, "h": hs, "c": cs, "tanh_c": tcs, "gates": gates,
             "Wx": Wx, "Wh": Wh}
    return hs[1:].transpose(1, 0, 2), cache


def lstm_backward(dh, cache, dcT=None):
    """Backpropagation through time for :func:`lstm_forward`.

    dh: (N, T, H) gradient of the loss w.r.t. every hidden state; dcT: (N, H) gradient
    w.r.t. the final cell state c_T (None: the loss does not use c_T, zeros).
    Returns (dx (N, T, D), dh0 (N, H), dc0 (N, H), dWx (4H, D), dWh (4H, H), db (4H,)).

    The local derivatives of every gate (σ' = σ(1 - σ), tanh' = 1 - tanh²) do not depend
    on the gradient flowing back, so they are computed for all steps at once before the
    loop; only the chain through h_t and c_t stays inside it.
    """
    xs, hs, cs, tcs = cache["x"], cache["h"], cache["c"], cache["tanh_c"]
    gates = cache["gates"]
    Wx, Wh = cache["Wx"], cache["Wh"]
    T, N, D = xs.shape
    H = hs.shape[2]
    # each (T, N, H)
    i, f, g, o = (gates[..., k * H:(k + 1) * H] for k in range(4))
    # dc_t/dh_t through h = o * tanh(c)
    dc_from_h = o * (1.0 - tcs * tcs)
    do_from_h = tcs * o * (1.0 - o)                    # da_o/dh_t
    # da_{i,f,g} = dc_t * [g σ'(a_i), c_{t-1} σ'(a_f), i tanh'(a_g)]: stacked as
    # (T, N, 3, H)
    dgates_from_c = np.stack([g * i * (1.0 - i), cs[:-1] * f * (1.0 - f),
                              i * (1.0 - g * g)], axis=2)
    dhs = np.ascontiguousarray(dh.transpose(1, 0, 2))
    f = np.ascontiguousarray(f)
    dA = np.empty_like(gates)
    # views into dA: writes land there
    dA_ifg = dA[..., :3 * H].reshape(T, N, 3, H)
    dA_o = dA[..., 3 * H:]
    # da @ Wh: Wh (4H, H) is the right layout
    Wh = np.ascontiguousarray(Wh)
    # gradients arriving from step t+1
    dh_next = np.zeros_like(hs[0])
    dc_next = np.zeros_like(hs[0]) if dcT is None else dcT
    for t in reversed(range(T)):
        # h_t feeds the output at t and step t+1
        dht = dhs[t] + dh_next
        # c_t feeds h_t and c_{t+1} = f c_t + i g
        dc = dc_next + dht * dc_from_h[t]
        np.multiply(dc[:, None, :], dgates_from_c[t], out=dA_ifg[t])
        np.multiply(dht, do_from_h[t], out=dA_o[t])
        dh_next = dA[t] @ Wh
        dc_next = dc * f[t]
    dA2 = dA.reshape(T * N, 4 * H)
    dx = (dA2 @ Wx).reshape(T, N, D).transpose(1, 0, 2)
    dWx = dA2.T @ xs.reshape(T * N, D)
    dWh = dA2.T @ hs[:-1].reshape(T * N, H)
    return dx, dh_next, dc_next, dWx, dWh, dA2.sum(axis=0)


def from_torch(module, dtype=np.float64):
    """(Wx, Wh, b) numpy arrays copied from a one-layer ``torch.nn.RNN`` or
    ``torch.nn.LSTM``.

    Wx = weight_ih_l0 (G, D), Wh = weight_hh_l0 (G, H), unchanged, and b = bias_ih_l0 +
    bias_hh_l0 (G,) (zeros for bias=False), as ``dtype``. Raises ValueError for modules
    rnn_forward / lstm_forward do not compute.
    """
    # GRU, ReLU RNN: other maths
    if getattr(module, "mode", None) not in ("RNN_TANH", "LSTM"):
        raise ValueError(f"only nn.RNN (tanh) and nn.LSTM are supported, got {module}")
    if (module.num_layers != 1 or module.bidirectional
            or getattr(module, "proj_size", 0)):
        raise ValueError(f"only one layer, one direction, no projection (layer 0 alone "
                         f"would be copied), got {module}")
    # a copy
    get = lambda name: np.array(getattr(module, name).detach().cpu().numpy(), dtype)
    Wx, Wh = get("weight_ih_l0"), get("weight_hh_l0")
    if not module.bias:                                # bias=False: a = x Wx.T + h Wh.T
        return Wx, Wh, np.zeros(Wx.shape[0], dtype)
    return Wx, Wh, get("bias_ih_l0") + get("bias_hh_l0")
