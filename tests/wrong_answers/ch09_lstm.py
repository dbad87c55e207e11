"""A ch09 submission that passes every visible test but forgets the forget gate on the way back.

Its lstm_step_backward returns the total gradient at c as dc_prev, without multiplying by f
(c = f * c_prev + i * g, so dc_prev = dc_total * f). The visible tests check shapes and db only,
which do not depend on that line; the hidden comparison with autograd catches it. The other
tasks are correct.
"""
WRONG = {
    "lstm_step_backward": '''def lstm_step_backward(dh, dc, x, h_prev, c_prev, Wx, Wh, b):
    H = h_prev.shape[1]
    a = x @ Wx + h_prev @ Wh + b
    i, f = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H])
    g, o = np.tanh(a[:, 2 * H:3 * H]), sigmoid(a[:, 3 * H:])
    c = f * c_prev + i * g
    tc = np.tanh(c)
    dc_total = dc + dh * o * (1 - tc ** 2)
    da = np.concatenate([dc_total * g * i * (1 - i),
                         dc_total * c_prev * f * (1 - f),
                         dc_total * i * (1 - g ** 2),
                         dh * tc * o * (1 - o)], axis=1)
    return da @ Wx.T, da @ Wh.T, dc_total, x.T @ da, h_prev.T @ da, da.sum(axis=0)
''',
}
