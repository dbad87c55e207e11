"""A ch09 submission that passes every visible test but forgets the forget gate on the way back.

Its cifg_step_backward returns the total gradient at c as dc_prev, without multiplying by f
(c = f * c_prev + (1 - f) * g, so dc_prev = dc_total * f). The visible tests check shapes and db
only, which do not depend on that line; the hidden comparison with autograd catches it. The other
tasks are correct. Weights in the course's layout: Wx (3H, D), Wh (3H, H), a = x @ Wx.T + ...
"""
WRONG = {
    "cifg_step_backward": '''def cifg_step_backward(dh, dc, x, h_prev, c_prev, Wx, Wh, b):
    H = h_prev.shape[1]
    a = x @ Wx.T + h_prev @ Wh.T + b
    f, g, o = sigmoid(a[:, :H]), np.tanh(a[:, H:2 * H]), sigmoid(a[:, 2 * H:])
    c = f * c_prev + (1 - f) * g
    tc = np.tanh(c)
    dc_total = dc + dh * o * (1 - tc ** 2)
    da = np.concatenate([dc_total * (c_prev - g) * f * (1 - f),
                         dc_total * (1 - f) * (1 - g ** 2),
                         dh * tc * o * (1 - o)], axis=1)
    return da @ Wx, da @ Wh, dc_total, da.T @ x, da.T @ h_prev, da.sum(axis=0)
''',
}
