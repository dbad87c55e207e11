"""Chapter 6: convolution and pooling layers in NumPy, forward and backward.

Images are NCHW and kernels (F, C, HH, WW), as nn.Conv2d (the house convention,
nnutils/README.md). Like PyTorch (and every deep-learning library) the layers compute a
*cross-correlation*: the kernel is slid over the image without being flipped.

Each layer is a CS231n-style pair ``*_forward(x, ...) -> (out, cache)`` and
``*_backward(dout, cache) -> gradients``. ``conv_forward_naive`` spells the convolution
out with loops; ``conv_forward`` / ``conv_backward`` compute the same thing with im2col
and one batched matrix product (see benchmarks/bench_conv.py for the speed against
PyTorch).
"""
import numpy as np

PAD_MODES = ("valid", "same", "full")


def conv_output_size(n, f, stride=1, pad=0, exact=False):
    """Output length (n + 2*pad - f) / stride + 1 of a convolution or a pooling layer.

    n: input length; f: kernel (window) length; stride, pad: non-negative ints.
    When (n + 2*pad - f) is not a multiple of the stride the last window would stick
    out; like PyTorch we round down (the leftover pixels are never seen), or raise
    ValueError if ``exact``. Raises ValueError when not even one window fits (the output
    would be empty).
    """
    span = n + 2 * pad - f
    if span < 0:
        raise ValueError(f"a window of {f} does not fit into {n} (+2*{pad} padding): "
                         f"output size ({n} + 2*{pad} - {f})/{stride} + 1 < 1")
    if exact and span % stride:
        raise ValueError(f"(n + 2p - f)/s = ({n} + 2*{pad} - {f})/{stride} "
                         "is not an integer")
    return span // stride + 1


def pad_for_mode(f, mode):
    """Zero padding that gives a 'valid', 'same' or 'full' convolution at stride 1.

    valid: no padding, output n - f + 1 (every window lies inside the image).
    same:  pad (f - 1) / 2, output n (needs an odd f).
    full:  pad f - 1, output n + f - 1 (every window overlapping the image by at least
    one pixel).
    """
    if mode == "valid":
        return 0
    if mode == "same":
        if f % 2 == 0:
            raise ValueError(f"'same' padding needs an odd kernel size, got {f}")
        return (f - 1) // 2
    if mode == "full":
        return f - 1
    raise ValueError(f"mode must be one of {PAD_MODES}, got {mode!r}")


def pad_hw(pad, HH, WW):
    """The padding (pad_h, pad_w) of an HH x WW kernel from pad = an int (both axes), a
    pair, or a mode in PAD_MODES, resolved per axis: 'same' pads a 3 x 5 kernel by
    (1, 2), like PyTorch."""
    if isinstance(pad, str):
        return pad_for_mode(HH, pad), pad_for_mode(WW, pad)
    return (pad, pad) if np.ndim(pad) == 0 else tuple(pad)


def _pad(x, pad):
    """Zero-pad the spatial axes of an (N, C, H, W) array by pad = (pad_h, pad_w) on
    each side."""
    ph, pw = pad
    if ph == pw == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))


def conv_forward_naive(x, w, b, stride=1, pad=0):
    """Convolution with explicit loops: the definition, for teaching and for checking.

    x: (N, C, H, W) images; w: (F, C, HH, WW) kernels; b: (F,) biases.
    stride: step between windows; pad: zeros added on every side (an int, a pair
    (pad_h, pad_w), or a mode in PAD_MODES, resolved per axis by pad_hw).
    Returns out: (N, F, H', W') with H' = (H + 2*pad_h - HH) / stride + 1 (same for W'),
    where out[n, f, i, j] = sum over c, di, dj of
    w[f, c, di, dj] * x_padded[n, c, i*s + di, j*s + dj] + b[f].
    """
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    ph, pw = pad_hw(pad, HH, WW)
    Ho, Wo = conv_output_size(H, HH, stride, ph), conv_output_size(W, WW, stride, pw)
    xp = _pad(x, (ph, pw))
    out = np.zeros((N, F, Ho, Wo), dtype=np.result_type(x, w))
    for n in range(N):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    window = xp[n, :, i * stride:i * stride + HH,
                                j * stride:j * stride + WW]
                    out[n, f, i, j] = np.sum(window * w[f]) + b[f]
    return out


def im2col(x, HH, WW, stride=1, pad=0):
    """Copy every HH x WW window of a batch of images into a column.

    x: (N, C, H, W). Returns cols: (N, C*HH*WW, H'*W'), column k of image n holding the
    k-th window (row-major over the H' x W' output positions), its rows ordered (c, di,
    dj) like w.reshape(F, -1). The copy is done as HH*WW strided slices, one per kernel
    offset.
    pad: as in conv_forward_naive.
    """
    N, C, H, W = x.shape
    ph, pw = pad_hw(pad, HH, WW)
    Ho, Wo = conv_output_size(H, HH, stride, ph), conv_output_size(W, WW, stride, pw)
    xp = _pad(x, (ph, pw))
    cols = np.empty((N, C, HH, WW, Ho, Wo), dtype=x.dtype)
    for di in range(HH):
        for dj in range(WW):
            cols[:, :, di, dj] = xp[:, :, di:di + stride * Ho:stride,
                                    dj:dj + stride * Wo:stride]
    return cols.reshape(N, C * HH * WW, Ho * Wo)


def col2im(cols, x_shape, HH, WW, stride=1, pad=0):
    """Adjoint of im2col: add every column back onto the window it was copied from.

    cols: (N, C*HH*WW, H'*W'); x_shape: (N, C, H, W). Returns dx: (N, C, H, W).
    Overlapping windows add up, which is exactly the sum the convolution's backward pass
    needs.
    """
    N, C, H, W = x_shape
    ph, pw = pad_hw(pad, HH, WW)
    Ho, Wo = conv_output_size(H, HH, stride, ph), conv_output_size(W, WW, stride, pw)
    cols = cols.reshape(N, C, HH, WW, Ho, Wo)
    dxp = np.zeros((N, C, H + 2 * ph, W + 2 * pw), dtype=cols.dtype)
    for di in range(HH):
        for dj in range(WW):
            dxp[:, :, di:di + stride * Ho:stride,
                dj:dj + stride * Wo:stride] += cols[:, :, di, dj]
    return dxp[:, :, ph:ph + H, pw:pw + W]


def conv_forward(x, w, b, stride=1, pad=0):
    """Fast convolution: im2col, then one batched matrix product, straight into NCHW.

    x: (N, C, H, W); w: (F, C, HH, WW); b: (F,); stride: int; pad: int, (pad_h, pad_w)
    or a
    mode in PAD_MODES (per axis: a 3 x 5 kernel with 'same' pads (1, 2)).
    Returns out: (N, F, H', W') (equal to conv_forward_naive) and cache for
    conv_backward.
    """
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    pad = pad_hw(pad, HH, WW)
    Ho, Wo = (conv_output_size(H, HH, stride, pad[0]),
              conv_output_size(W, WW, stride, pad[1]))
    cols = im2col(x, HH, WW, stride, pad)                       # (N, C*HH*WW, Ho*Wo)
    out = np.matmul(w.reshape(F, -1), cols)                     # (N, F, Ho*Wo)
    out += b.reshape(1, F, 1)
    return out.reshape(N, F, Ho, Wo), (x.shape, w, stride, pad, cols)


def conv_backward(dout, cache):
    """Backward pass of conv_forward.

    dout: (N, F, H', W') upstream gradient; cache from conv_forward.
    Returns dx: (N, C, H, W), dw: (F, C, HH, WW), db: (F,).
    """
    x_shape, w, stride, pad, cols = cache
    N, F = dout.shape[:2]
    HH, WW = w.shape[2:]
    dout = dout.reshape(N, F, -1)                               # (N, F, Ho*Wo)
    db = dout.sum(axis=(0, 2))
    dw = np.matmul(dout, cols.transpose(0, 2, 1)).sum(axis=0).reshape(w.shape)
    dcols = np.matmul(w.reshape(F, -1).T, dout)                 # (N, C*HH*WW, Ho*Wo)
    dx = col2im(dcols, x_shape, HH, WW, stride, pad)
    return dx, dw, db


def _windows(x, size, stride):
    """The size*size window offsets of a pooling layer as strided views of x.

    x: (N, C, H, W). Returns (views, (H', W')): views[k] is (N, C, H', W') and holds
    element (di, dj) = divmod(k, size) of every window, so window (i, j) is {views[k][:,
    :, i, j]}. No copy is made; the loops over offsets run size*size times, never over
    pixels.
    """
    N, C, H, W = x.shape
    Ho, Wo = conv_output_size(H, size, stride), conv_output_size(W, size, stride)
    views = [x[:, :, di:di + stride * Ho:stride, dj:dj + stride * Wo:stride]
             for di in range(size) for dj in range(size)]
    return views, (Ho, Wo)


def max_pool_forward(x, size=2, stride=None):
    """Max pooling over size x size windows (stride defaults to size: non-overlapping
    windows).

    x: (N, C, H, W). Returns out: (N, C, H', W') with H' = floor((H - size) / stride) +
    1 (same for W'), and a cache for max_pool_backward.
    """
    stride = size if stride is None else stride
    views, _ = _windows(x, size, stride)
    out = views[0].copy()
    for v in views[1:]:
        np.maximum(out, v, out=out)
    return out, (x, out, size, stride)


def max_pool_backward(dout, cache):
    """Backward pass of max pooling: each window's gradient goes to its largest input.

    dout: (N, C, H', W'). Returns dx: (N, C, H, W). As in PyTorch, on ties the first
    maximum in row-major window order gets the gradient, and in a window holding NaN
    (its maximum: the forward pass propagates NaN) the last NaN does.
    """
    x, out, size, stride = cache
    views, _ = _windows(x, size, stride)
    winner = np.full(out.shape, -1)        # per window: offset k getting the gradient
    for k, v in enumerate(views):
        winner[(winner < 0) & (v == out)] = k  # first maximum (NaN == NaN is False)
        winner[np.isnan(v)] = k                # a NaN overrides it, a later NaN again
    dx = np.zeros(x.shape, dtype=dout.dtype)
    for k, dv in enumerate(_windows(dx, size, stride)[0]):
        dv += dout * (winner == k)             # += : overlapping windows share pixels
    return dx


def avg_pool_forward(x, size=2, stride=None):
    """Average pooling over size x size windows (stride defaults to size).

    x: (N, C, H, W). Returns out: (N, C, H', W') (float: integers are averaged in
    float64) and a cache for avg_pool_backward.
    """
    stride = size if stride is None else stride
    views, _ = _windows(x, size, stride)
    out = views[0].astype(np.result_type(x, 1.0))  # a float copy: means of ints
    for v in views[1:]:
        out += v
    out /= size * size
    return out, (x.shape, size, stride)


def avg_pool_backward(dout, cache):
    """Backward pass of average pooling: an input gets 1/size^2 of each window it is in.

    dout: (N, C, H', W'). Returns dx: (N, C, H, W).
    """
    x_shape, size, stride = cache
    dx = np.zeros(x_shape, dtype=dout.dtype)
    share = dout / (size * size)
    for dv in _windows(dx, size, stride)[0]:
        dv += share
    return dx


def nhwc_to_nchw(x):
    """TensorFlow's layout (N, H, W, C) -> PyTorch's (N, C, H, W), a transposed view."""
    return x.transpose(0, 3, 1, 2)


def nchw_to_nhwc(x):
    """PyTorch's layout (N, C, H, W) -> TensorFlow's (N, H, W, C), a transposed view."""
    return x.transpose(0, 2, 3, 1)
