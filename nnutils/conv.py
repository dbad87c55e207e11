"""Chapter 6: convolution and pooling layers in NumPy, forward and backward.

Layout is NCHW, as in PyTorch: x is (N, C, H, W), a batch of N images with C channels.
Like PyTorch (and every deep-learning library) the layers compute a *cross-correlation*:
the kernel is slid over the image without being flipped.

Each layer is a CS231n-style pair ``*_forward(x, ...) -> (out, cache)`` and
``*_backward(dout, cache) -> gradients``. ``conv_forward_naive`` spells the convolution out with
loops; ``conv_forward`` / ``conv_backward`` compute the same thing with im2col and one batched
matrix product (see benchmarks/bench_conv.py for the speed against PyTorch).
"""
import numpy as np

PAD_MODES = ("valid", "same", "full")


def conv_output_size(n, f, stride=1, pad=0, exact=False):
    """Output length (n + 2*pad - f) / stride + 1 of a convolution or pooling along one axis.

    n: input length; f: kernel (window) length; stride, pad: non-negative ints.
    When (n + 2*pad - f) is not a multiple of the stride the last window would stick out; like
    PyTorch we round down (the leftover pixels are never seen), or raise ValueError if ``exact``.
    Raises ValueError when not even one window fits (the output would be empty).
    """
    span = n + 2 * pad - f
    if span < 0:
        raise ValueError(f"a window of {f} does not fit into {n} (+2*{pad} padding): "
                         f"output size ({n} + 2*{pad} - {f})/{stride} + 1 < 1")
    if exact and span % stride:
        raise ValueError(f"(n + 2p - f)/s = ({n} + 2*{pad} - {f})/{stride} is not an integer")
    return span // stride + 1


def pad_for_mode(f, mode):
    """Zero padding that gives a 'valid', 'same' or 'full' convolution at stride 1.

    valid: no padding, output n - f + 1 (every window lies inside the image).
    same:  pad (f - 1) / 2, output n (needs an odd f).
    full:  pad f - 1, output n + f - 1 (every window overlapping the image by at least one pixel).
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


def _pad(x, pad):
    """Zero-pad the two spatial axes of an (N, C, H, W) array by ``pad`` on every side."""
    if pad == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))


def conv_forward_naive(x, w, b, stride=1, pad=0):
    """Convolution with explicit loops: the definition, for teaching and for checking.

    x: (N, C, H, W) images; w: (F, C, HH, WW) kernels; b: (F,) biases.
    stride: step between windows; pad: zeros added on every side (an int, or a mode in
    PAD_MODES for a square kernel).
    Returns out: (N, F, H', W') with H' = (H + 2*pad - HH) / stride + 1 (same for W'), where
    out[n, f, i, j] = sum over c, di, dj of w[f, c, di, dj] * x_padded[n, c, i*s + di, j*s + dj] + b[f].
    """
    if isinstance(pad, str):
        pad = pad_for_mode(w.shape[2], pad)
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    Ho, Wo = conv_output_size(H, HH, stride, pad), conv_output_size(W, WW, stride, pad)
    xp = _pad(x, pad)
    out = np.zeros((N, F, Ho, Wo), dtype=np.result_type(x, w))
    for n in range(N):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    window = xp[n, :, i * stride:i * stride + HH, j * stride:j * stride + WW]
                    out[n, f, i, j] = np.sum(window * w[f]) + b[f]
    return out


def im2col(x, HH, WW, stride=1, pad=0):
    """Copy every HH x WW window of a batch of images into a column.

    x: (N, C, H, W). Returns cols: (N, C*HH*WW, H'*W'), column k of image n holding the
    k-th window (row-major over the H' x W' output positions), its rows ordered (c, di, dj)
    like w.reshape(F, -1). The copy is done as HH*WW strided slices, one per kernel offset.
    """
    N, C, H, W = x.shape
    Ho, Wo = conv_output_size(H, HH, stride, pad), conv_output_size(W, WW, stride, pad)
    xp = _pad(x, pad)
    cols = np.empty((N, C, HH, WW, Ho, Wo), dtype=x.dtype)
    for di in range(HH):
        for dj in range(WW):
            cols[:, :, di, dj] = xp[:, :, di:di + stride * Ho:stride, dj:dj + stride * Wo:stride]
    return cols.reshape(N, C * HH * WW, Ho * Wo)


def col2im(cols, x_shape, HH, WW, stride=1, pad=0):
    """Adjoint of im2col: add every column back onto the window it was copied from.

    cols: (N, C*HH*WW, H'*W'); x_shape: (N, C, H, W). Returns dx: (N, C, H, W).
    Overlapping windows add up, which is exactly the sum the convolution's backward pass needs.
    """
    N, C, H, W = x_shape
    Ho, Wo = conv_output_size(H, HH, stride, pad), conv_output_size(W, WW, stride, pad)
    cols = cols.reshape(N, C, HH, WW, Ho, Wo)
    dxp = np.zeros((N, C, H + 2 * pad, W + 2 * pad), dtype=cols.dtype)
    for di in range(HH):
        for dj in range(WW):
            dxp[:, :, di:di + stride * Ho:stride, dj:dj + stride * Wo:stride] += cols[:, :, di, dj]
    return dxp[:, :, pad:pad + H, pad:pad + W]


def conv_forward(x, w, b, stride=1, pad=0):
    """Fast convolution: im2col, then one batched matrix product that lands directly in NCHW.

    x: (N, C, H, W); w: (F, C, HH, WW); b: (F,); stride: int; pad: int or a mode in PAD_MODES.
    Returns out: (N, F, H', W') (equal to conv_forward_naive) and cache for conv_backward.
    """
    if isinstance(pad, str):
        pad = pad_for_mode(w.shape[2], pad)
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    Ho, Wo = conv_output_size(H, HH, stride, pad), conv_output_size(W, WW, stride, pad)
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

    x: (N, C, H, W). Returns (views, (H', W')): views[k] is (N, C, H', W') and holds element
    (di, dj) = divmod(k, size) of every window, so window (i, j) is {views[k][:, :, i, j]}.
    No copy is made; the loops over offsets run size*size times, never over pixels.
    """
    N, C, H, W = x.shape
    Ho, Wo = conv_output_size(H, size, stride), conv_output_size(W, size, stride)
    views = [x[:, :, di:di + stride * Ho:stride, dj:dj + stride * Wo:stride]
             for di in range(size) for dj in range(size)]
    return views, (Ho, Wo)


def max_pool_forward(x, size=2, stride=None):
    """Max pooling over size x size windows (stride defaults to size: non-overlapping windows).

    x: (N, C, H, W). Returns out: (N, C, H', W') with H' = floor((H - size) / stride) + 1
    (same for W'), and a cache for max_pool_backward.
    """
    stride = size if stride is None else stride
    views, _ = _windows(x, size, stride)
    out = views[0].copy()
    for v in views[1:]:
        np.maximum(out, v, out=out)
    return out, (x, out, size, stride)


def max_pool_backward(dout, cache):
    """Backward pass of max pooling: each window's gradient goes to its largest input.

    dout: (N, C, H', W'). Returns dx: (N, C, H, W). On ties the first maximum in row-major
    window order gets the gradient, as in PyTorch.
    """
    x, out, size, stride = cache
    views, _ = _windows(x, size, stride)
    dx = np.zeros(x.shape, dtype=dout.dtype)
    dx_views, _ = _windows(dx, size, stride)
    routed = np.zeros(out.shape, dtype=bool)        # window has already passed its gradient on
    for v, dv in zip(views, dx_views):
        hit = (v == out) & ~routed
        routed |= hit
        dv += dout * hit                            # += : overlapping windows share pixels
    return dx


def avg_pool_forward(x, size=2, stride=None):
    """Average pooling over size x size windows (stride defaults to size).

    x: (N, C, H, W). Returns out: (N, C, H', W') and a cache for avg_pool_backward.
    """
    stride = size if stride is None else stride
    views, _ = _windows(x, size, stride)
    out = views[0].copy()
    for v in views[1:]:
        out += v
    out /= size * size
    return out, (x.shape, size, stride)


def avg_pool_backward(dout, cache):
    """Backward pass of average pooling: every input gets 1/size^2 of each window it lies in.

    dout: (N, C, H', W'). Returns dx: (N, C, H, W).
    """
    x_shape, size, stride = cache
    dx = np.zeros(x_shape, dtype=dout.dtype)
    share = dout / (size * size)
    for dv in _windows(dx, size, stride)[0]:
        dv += share
    return dx


def nhwc_to_nchw(x):
    """TensorFlow's layout (N, H, W, C) -> PyTorch's (N, C, H, W) (a transposed view)."""
    return x.transpose(0, 3, 1, 2)


def nchw_to_nhwc(x):
    """PyTorch's layout (N, C, H, W) -> TensorFlow's (N, H, W, C) (a transposed view)."""
    return x.transpose(0, 2, 3, 1)
