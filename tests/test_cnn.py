"""nnutils.cnn against independent references: torch.nn.functional (float64 and float32),
scipy.signal.correlate2d for the padding modes, numerical gradients, and the notes' numbers."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.signal import correlate2d

from nnutils import cnn
from nnutils.gradcheck import numerical_gradient, rel_error

# (N, C, H, W, F, HH, WW, stride, pad): odd/even/rectangular kernels, strides that do and do not
# tile the input exactly (PyTorch floors), padding larger than needed, 1x1 kernels.
CONV_SHAPES = [
    (2, 3, 7, 9, 4, 3, 3, 1, 1),
    (3, 2, 8, 8, 5, 3, 3, 2, 0),
    (1, 1, 5, 5, 2, 5, 5, 1, 2),
    (2, 3, 10, 7, 3, 2, 2, 3, 1),
    (4, 5, 6, 6, 3, 1, 1, 1, 0),
    (2, 2, 9, 11, 3, 3, 2, 2, 2),
    (1, 4, 4, 4, 6, 4, 4, 1, 0),
]


def torch_conv(x, w, b, stride, pad, dout):
    xt, wt, bt = (torch.tensor(v, requires_grad=True) for v in (x, w, b))
    out = F.conv2d(xt, wt, bt, stride=stride, padding=pad)
    out.backward(torch.tensor(dout))
    return out.detach().numpy(), xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()


def random_conv(shape, seed, dtype=np.float64):
    N, C, H, W, Fn, HH, WW, stride, pad = shape
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((Fn, C, HH, WW)).astype(dtype)
    b = rng.standard_normal(Fn).astype(dtype)
    return x, w, b, stride, pad


@pytest.mark.parametrize("n, f, s, p, want", [
    (32, 5, 1, 0, 28), (7, 3, 1, 0, 5), (7, 3, 2, 0, 3), (32, 3, 1, 1, 32), (5, 3, 2, 1, 3),
    (227, 11, 4, 0, 55), (224, 7, 2, 3, 112), (1, 1, 1, 0, 1)])
def test_output_size_formula(n, f, s, p, want):
    assert cnn.conv_output_size(n, f, s, p) == want
    assert F.conv2d(torch.zeros(1, 1, n, n), torch.zeros(1, 1, f, f), stride=s, padding=p).shape[-1] == want


def test_output_size_rounds_down_like_torch_and_refuses_empty():
    assert cnn.conv_output_size(7, 3, 3) == 2            # (7-3)/3+1 = 2.33: the last column is dropped
    assert F.max_pool2d(torch.zeros(1, 1, 7, 7), 3, 3).shape[-1] == 2
    with pytest.raises(ValueError, match="not an integer"):
        cnn.conv_output_size(7, 3, 3, exact=True)
    with pytest.raises(ValueError, match="does not fit"):
        cnn.conv_output_size(1, 2, 1)                    # seed 000: a 2-wide window on a 1-high map


@pytest.mark.parametrize("mode", cnn.PAD_MODES)
@pytest.mark.parametrize("f", [1, 3, 5])
def test_padding_modes_match_scipy(mode, f):
    rng = np.random.default_rng(f)
    img, k = rng.standard_normal((9, 11)), rng.standard_normal((f, f))
    out, _ = cnn.conv_forward(img[None, None], k[None, None], np.zeros(1), pad=mode)
    want = correlate2d(img, k, mode=mode)
    assert out.shape[2:] == want.shape
    np.testing.assert_allclose(out[0, 0], want, atol=1e-12)


def test_same_padding_needs_odd_kernel():
    with pytest.raises(ValueError, match="odd"):
        cnn.pad_for_mode(4, "same")
    with pytest.raises(ValueError, match="mode"):
        cnn.pad_for_mode(3, "half")
    with pytest.raises(ValueError, match="odd"):             # each axis is checked: 3 x 4
        cnn.conv_forward(np.ones((1, 1, 6, 6)), np.ones((1, 1, 3, 4)), np.zeros(1), pad="same")


@pytest.mark.parametrize("mode, torch_pad", [("same", "same"), ("valid", "valid"), ("full", (2, 4)),
                                             ((1, 2), (1, 2))])
def test_non_square_kernel_padding_per_axis_matches_torch(mode, torch_pad):
    """A 3 x 5 kernel: 'same' pads (1, 2), 'full' (2, 4), as PyTorch's padding per axis."""
    x, w, b, _, _ = random_conv((2, 3, 7, 9, 4, 3, 5, 1, 0), seed=11)
    t_out = F.conv2d(torch.tensor(x), torch.tensor(w), torch.tensor(b), padding=torch_pad).numpy()
    dout = np.random.default_rng(12).standard_normal(t_out.shape)
    _, t_dx, t_dw, t_db = torch_conv(x, w, b, 1, torch_pad, dout)
    out, cache = cnn.conv_forward(x, w, b, pad=mode)
    assert out.shape == t_out.shape
    if mode == "same":
        assert out.shape[2:] == x.shape[2:]
    np.testing.assert_allclose(out, t_out, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(cnn.conv_forward_naive(x, w, b, pad=mode), t_out, rtol=1e-10, atol=1e-10)
    for got, want in zip(cnn.conv_backward(dout, cache), (t_dx, t_dw, t_db)):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


def test_notes_shapes_and_channel_sum():
    """32x32x3 image, 5x5x3 kernel -> 28x28x1; 6 kernels -> 6 maps; channels summed plus bias."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 3, 32, 32))
    w = rng.standard_normal((6, 3, 5, 5))
    b = rng.standard_normal(6)
    out, _ = cnn.conv_forward(x, w[:1], b[:1])
    assert out.shape == (1, 1, 28, 28)
    per_channel = sum(correlate2d(x[0, c], w[0, c], mode="valid") for c in range(3))
    np.testing.assert_allclose(out[0, 0], per_channel + b[0], atol=1e-12)
    assert cnn.conv_forward(x, w, b)[0].shape == (1, 6, 28, 28)


@pytest.mark.parametrize("shape", CONV_SHAPES)
def test_conv_naive_and_fast_match_torch_float64(shape):
    x, w, b, stride, pad = random_conv(shape, seed=1)
    out, cache = cnn.conv_forward(x, w, b, stride, pad)
    dout = np.random.default_rng(2).standard_normal(out.shape)
    t_out, t_dx, t_dw, t_db = torch_conv(x, w, b, stride, pad, dout)
    np.testing.assert_allclose(out, t_out, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(cnn.conv_forward_naive(x, w, b, stride, pad), t_out, rtol=1e-10, atol=1e-10)
    dx, dw, db = cnn.conv_backward(dout, cache)
    for got, want in [(dx, t_dx), (dw, t_dw), (db, t_db)]:
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("shape", CONV_SHAPES[:4])
def test_conv_float32_within_float32_tolerance(shape):
    x, w, b, stride, pad = random_conv(shape, seed=3, dtype=np.float32)
    out, cache = cnn.conv_forward(x, w, b, stride, pad)
    assert out.dtype == np.float32
    dout = np.random.default_rng(4).standard_normal(out.shape).astype(np.float32)
    t_out, t_dx, t_dw, t_db = torch_conv(x, w, b, stride, pad, dout)
    dx, dw, db = cnn.conv_backward(dout, cache)
    assert dx.dtype == dw.dtype == np.float32
    for got, want in [(out, t_out), (dx, t_dx), (dw, t_dw), (db, t_db)]:
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_conv_backward_numerical_gradient():
    x, w, b, stride, pad = random_conv((2, 2, 5, 6, 3, 3, 3, 2, 1), seed=5)
    out, cache = cnn.conv_forward(x, w, b, stride, pad)
    dout = np.random.default_rng(6).standard_normal(out.shape)
    dx, dw, db = cnn.conv_backward(dout, cache)
    loss = lambda: float(np.sum(cnn.conv_forward_naive(x, w, b, stride, pad) * dout))
    assert rel_error(dx, numerical_gradient(loss, x)) < 1e-7
    assert rel_error(dw, numerical_gradient(loss, w)) < 1e-7
    assert rel_error(db, numerical_gradient(loss, b)) < 1e-7


def test_im2col_and_col2im_are_adjoint():
    """<im2col(x), c> = <x, col2im(c)>: col2im is exactly the transpose the backward pass needs."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 3, 7, 8))
    cols = cnn.im2col(x, 3, 2, stride=2, pad=1)
    assert cols.shape == (2, 3 * 3 * 2, cnn.conv_output_size(7, 3, 2, 1) * cnn.conv_output_size(8, 2, 2, 1))
    c = rng.standard_normal(cols.shape)
    assert np.isclose(np.sum(cols * c), np.sum(x * cnn.col2im(c, x.shape, 3, 2, stride=2, pad=1)))


# (N, C, H, W, size, stride): non-overlapping, overlapping (3/2, 2/1), sizes that do not tile.
POOL_SHAPES = [(2, 3, 8, 8, 2, 2), (2, 3, 7, 9, 2, 2), (2, 2, 9, 9, 3, 2), (1, 2, 6, 5, 2, 1),
               (3, 1, 10, 10, 3, 3), (2, 2, 5, 5, 1, 1)]


@pytest.mark.parametrize("shape", POOL_SHAPES)
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pooling_matches_torch(shape, kind):
    N, C, H, W, size, stride = shape
    rng = np.random.default_rng(8)
    x = rng.standard_normal((N, C, H, W))
    fwd, bwd = (cnn.max_pool_forward, cnn.max_pool_backward) if kind == "max" else (
        cnn.avg_pool_forward, cnn.avg_pool_backward)
    t_fn = F.max_pool2d if kind == "max" else F.avg_pool2d
    out, cache = fwd(x, size, stride)
    xt = torch.tensor(x, requires_grad=True)
    t_out = t_fn(xt, size, stride)
    dout = rng.standard_normal(out.shape)
    t_out.backward(torch.tensor(dout))
    np.testing.assert_allclose(out, t_out.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(bwd(dout, cache), xt.grad.numpy(), atol=1e-12)


def test_max_pool_ties_route_to_first_like_torch():
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 2:, 2:] = 1.0                       # one window all ones, three all zeros
    out, cache = cnn.max_pool_forward(x, 2, 2)
    dx = cnn.max_pool_backward(np.ones(out.shape), cache)
    xt = torch.tensor(x, requires_grad=True)
    F.max_pool2d(xt, 2, 2).sum().backward()
    np.testing.assert_array_equal(dx, xt.grad.numpy())
    assert dx.sum() == 4 and dx[0, 0, 0, 0] == 1 and dx[0, 0, 2, 2] == 1


@pytest.mark.parametrize("size, stride", [(2, 2), (3, 1), (2, 1)])
def test_max_pool_nan_windows_route_like_torch(size, stride):
    """NaN is the maximum of its window; PyTorch sends the window's gradient to its last NaN."""
    rng = np.random.default_rng(13)
    x = rng.standard_normal((2, 2, 6, 6))
    x[rng.random(x.shape) < 0.15] = np.nan                  # some windows with one NaN, some with several
    out, cache = cnn.max_pool_forward(x, size, stride)
    dout = rng.standard_normal(out.shape)
    xt = torch.tensor(x, requires_grad=True)
    t_out = F.max_pool2d(xt, size, stride)
    t_out.backward(torch.tensor(dout))
    np.testing.assert_array_equal(out, t_out.detach().numpy())   # NaN where torch has NaN
    assert np.isnan(out).any() and not np.isnan(out).all()
    np.testing.assert_allclose(cnn.max_pool_backward(dout, cache), xt.grad.numpy(), atol=1e-12)


def test_avg_pool_integer_input_computed_in_float():
    x = np.arange(2 * 3 * 6 * 6).reshape(2, 3, 6, 6) % 7       # int64
    out, cache = cnn.avg_pool_forward(x, 2, 2)
    want = F.avg_pool2d(torch.tensor(x, dtype=torch.float64), 2, 2).numpy()
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, want, atol=1e-12)
    np.testing.assert_allclose(out, x.reshape(2, 3, 3, 2, 3, 2).mean(axis=(3, 5)), atol=1e-12)
    assert cnn.avg_pool_backward(np.ones(out.shape), cache).shape == x.shape


def test_pooling_cs231n_example_and_numerical_gradient():
    x = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], float)[None, None]
    np.testing.assert_array_equal(cnn.max_pool_forward(x)[0][0, 0], [[6, 8], [3, 4]])
    np.testing.assert_array_equal(cnn.avg_pool_forward(x)[0][0, 0], [[3.25, 5.25], [2, 2]])
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 2, 5, 5))
    for fwd, bwd in [(cnn.max_pool_forward, cnn.max_pool_backward),
                     (cnn.avg_pool_forward, cnn.avg_pool_backward)]:
        out, cache = fwd(x, 3, 2)
        dout = rng.standard_normal(out.shape)
        num = numerical_gradient(lambda: float(np.sum(fwd(x, 3, 2)[0] * dout)), x)
        assert rel_error(bwd(dout, cache), num) < 1e-7


def test_pool_float32_stays_float32():
    x = np.random.default_rng(10).standard_normal((2, 3, 8, 8)).astype(np.float32)
    for fwd, bwd in [(cnn.max_pool_forward, cnn.max_pool_backward),
                     (cnn.avg_pool_forward, cnn.avg_pool_backward)]:
        out, cache = fwd(x)
        assert out.dtype == np.float32 and bwd(np.ones_like(out), cache).dtype == np.float32


def test_layouts():
    x = np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5)      # NCHW
    y = cnn.nchw_to_nhwc(x)
    assert y.shape == (2, 4, 5, 3) and y[1, 2, 3, 0] == x[1, 0, 2, 3]
    np.testing.assert_array_equal(cnn.nhwc_to_nchw(y), x)
    # torch's channels_last memory format stores NHWC while still indexing as NCHW
    t = torch.tensor(x).contiguous(memory_format=torch.channels_last)
    np.testing.assert_array_equal(np.asarray(t.numpy().ravel(order="K")), y.ravel())
