"""Tests for nnutils.resnet: shapes, hand-counted parameters, shortcuts, identities, gradients."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nnutils import functions, resnet
from nnutils.gradcheck import numerical_gradient, rel_error


def n_params(m):
    return sum(p.numel() for p in m.parameters())


# ---------------------------------------------------------------- shapes

@pytest.mark.parametrize("cls", [resnet.BasicBlock, resnet.PreActBlock])
@pytest.mark.parametrize("size", [8, 7, 4, 2])
@pytest.mark.parametrize("option", ["A", "B", "C"])
def test_block_shapes(cls, size, option):
    x = torch.randn(3, 4, size, size)
    assert cls(4, 4, 1, option)(x).shape == (3, 4, size, size)
    out = (size + 2 - 3) // 2 + 1                       # a 3x3 conv, padding 1, stride 2
    assert cls(4, 8, 2, option)(x).shape == (3, 8, out, out)


def test_plain_bottleneck_variant_shapes():
    x = torch.randn(2, 8, 8, 8)
    assert resnet.PlainBlock(8, 16, 2)(x).shape == (2, 16, 4, 4)
    assert resnet.Bottleneck(8, 4, 16, 2)(x).shape == (2, 16, 4, 4)
    assert resnet.Bottleneck(8, 8, 16, 1, groups=4)(x).shape == (2, 16, 8, 8)
    for v in resnet.VARIANTS:
        assert resnet.VariantBlock(8, 8, 1, v)(x).shape == (2, 8, 8, 8)
        assert resnet.VariantBlock(8, 16, 2, v)(x).shape == (2, 16, 4, 4)


@pytest.mark.parametrize("block", ["plain", "basic", "preact", *resnet.VARIANTS])
def test_build_net_shapes_and_depth(block):
    net = resnet.build_net(14, block, widths=(2, 4, 8), bn=True)
    assert net(torch.randn(5, 1, 8, 8)).shape == (5, 10)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    assert len(convs) + len(linears) == 14             # depth counts weight layers (shortcut A has none)
    with pytest.raises(ValueError):
        resnet.build_net(12)


# ---------------------------------------------------------------- parameter counts by hand

def test_basic_block_params_by_option():
    c_in, c = 16, 32
    branch = 9 * c_in * c + 9 * c * c + 2 * (2 * c)   # two 3x3 convs (no bias) + two BNs (gamma, beta)
    assert n_params(resnet.BasicBlock(c_in, c, 2, "A")) == branch
    assert n_params(resnet.BasicBlock(c_in, c, 2, "B")) == branch + c_in * c + 2 * c
    assert n_params(resnet.BasicBlock(c, c, 1, "B")) == 9 * c * c * 2 + 4 * c        # identity: 0
    assert n_params(resnet.BasicBlock(c, c, 1, "C")) == 9 * c * c * 2 + 4 * c + c * c + 2 * c
    assert n_params(resnet.BasicBlock(c_in, c, 2, "A", bn=False)) == 9 * c_in * c + c + 9 * c * c + c


def test_paper_cifar_resnet_sizes():
    """He et al. 2015, Table 6: ResNet-20/32/44/56/110 have 0.27M/0.46M/0.66M/0.85M/1.7M params."""
    def by_hand(n, w=(16, 32, 64)):
        total = 9 * 3 * w[0] + 2 * w[0]                 # stem conv + BN
        c_in = w[0]
        for c in w:
            for _ in range(n):
                total += 9 * c_in * c + 9 * c * c + 4 * c
                c_in = c
        return total + w[-1] * 10 + 10                  # fc
    for depth, paper in [(20, 0.27e6), (32, 0.46e6), (44, 0.66e6), (56, 0.85e6), (110, 1.7e6)]:
        net = resnet.build_net(depth, "basic", widths=(16, 32, 64), option="A", in_channels=3)
        got = resnet.count_params(net)
        assert got == by_hand((depth - 2) // 6)
        assert abs(got - paper) / paper < 0.02, (depth, got)


def test_bottleneck_and_resnext_params():
    # the ResNeXt paper's Fig. 1: a 256-d ResNet bottleneck vs a 32x4d ResNeXt block, both ~70k
    resnet_weights = 256 * 64 + 9 * 64 * 64 + 64 * 256
    resnext_weights = 32 * (256 * 4 + 9 * 4 * 4 + 4 * 256)
    assert (resnet_weights, resnext_weights) == (69632, 70144)
    bn = 2 * (64 + 64 + 256)
    assert n_params(resnet.Bottleneck(256, 64, 256)) == resnet_weights + bn
    bn_x = 2 * (128 + 128 + 256)
    assert n_params(resnet.Bottleneck(256, 128, 256, groups=32)) == resnext_weights + bn_x
    # a projection shortcut on the 256-d ends nearly doubles the bottleneck
    assert n_params(resnet.Bottleneck(256, 64, 256, option="C")) == resnet_weights + bn + 256 * 256 + 512


@pytest.mark.parametrize("c_in,mid,c_out,groups",
                         [(256, 64, 256, 1), (256, 128, 256, 32), (8, 6, 12, 3)])
def test_shared_conv_params_counts_the_bottleneck_convs(c_in, mid, c_out, groups):
    """The chapter counts by hand with functions.conv_params (one definition, nn.Conv2d's order)."""
    assert not hasattr(resnet, "conv_params")
    blk = resnet.Bottleneck(c_in, mid, c_out, groups=groups)
    convs = sum(m.weight.numel() for m in (blk.conv1, blk.conv2, blk.conv3))
    by_hand = (functions.conv_params(c_in, mid, 1) + functions.conv_params(mid, mid, 3, groups)
               + functions.conv_params(mid, c_out, 1))
    assert convs == by_hand


# ---------------------------------------------------------------- shortcuts

@pytest.mark.parametrize("size,stride", [(8, 2), (7, 2), (6, 1), (9, 3)])
def test_option_a_is_exact_zero_padding(size, stride):
    x = torch.randn(2, 3, size, size)
    sc = resnet.shortcut(3, 7, stride, "A")
    y = sc(x)
    assert n_params(sc) == 0
    assert y.shape == (2, 7, -(-size // stride), -(-size // stride))
    for i in range(y.shape[2]):
        for j in range(y.shape[3]):
            assert torch.equal(y[:, :3, i, j], x[:, :, i * stride, j * stride])
    assert torch.count_nonzero(y[:, 3:]) == 0


def test_shortcut_options():
    assert isinstance(resnet.shortcut(8, 8, 1, "A"), nn.Identity)
    assert isinstance(resnet.shortcut(8, 8, 1, "B"), nn.Identity)
    assert n_params(resnet.shortcut(8, 16, 2, "B")) == 8 * 16 + 2 * 16
    assert n_params(resnet.shortcut(8, 8, 1, "C")) == 8 * 8 + 2 * 8
    with pytest.raises(ValueError):
        resnet.shortcut(8, 4, 1, "A")
    with pytest.raises(ValueError):
        resnet.shortcut(8, 8, 1, "D")


# ---------------------------------------------------------------- zeroed residual branch = identity

def test_basic_block_with_zero_branch_is_relu():
    blk = resnet.BasicBlock(6, 6).eval()
    nn.init.zeros_(blk.bn2.weight)
    nn.init.zeros_(blk.bn2.bias)
    x = torch.randn(4, 6, 5, 5)
    assert torch.equal(blk(x), F.relu(x))
    blk = resnet.BasicBlock(3, 6, 2, "A").eval()       # shape change: relu of the padded, subsampled x
    nn.init.zeros_(blk.bn2.weight)
    nn.init.zeros_(blk.bn2.bias)
    x = torch.randn(4, 3, 8, 8)
    want = torch.cat([F.relu(x[:, :, ::2, ::2]), torch.zeros(4, 3, 4, 4)], dim=1)
    assert torch.equal(blk(x), want)


def test_preact_block_with_zero_branch_is_exact_identity():
    blk = resnet.PreActBlock(6, 6)
    nn.init.zeros_(blk.conv2.weight)
    x = torch.randn(4, 6, 5, 5, requires_grad=True)
    y = blk(x)
    assert torch.equal(y, x)
    g = torch.randn_like(y)
    y.backward(g)
    assert torch.equal(x.grad, g)                       # the gradient passes through unchanged


def test_variants_with_zero_branch():
    x = torch.randn(4, 6, 5, 5)
    want = {"original": F.relu(x), "bn_after_add": F.relu(x / np.sqrt(1 + 1e-5)),
            "relu_before_add": x, "relu_only_preact": x, "full_preact": x}
    for v in resnet.VARIANTS:
        blk = resnet.VariantBlock(6, 6, 1, v).eval()   # eval: BN uses running mean 0, var 1
        nn.init.zeros_(blk.conv2.weight)
        if v != "bn_after_add":
            nn.init.zeros_(blk.bn2.bias)
        assert torch.allclose(blk(x), want[v], atol=1e-6), v


# ---------------------------------------------------------------- forward against references

def functional_basic(x, blk, stride):
    """An independent, functional BasicBlock (train-mode BN, option A shortcut)."""
    def bn(t, m):
        return F.batch_norm(t, None, None, m.weight, m.bias, training=True)
    out = F.relu(bn(F.conv2d(x, blk.conv1.weight, stride=stride, padding=1), blk.bn1))
    out = bn(F.conv2d(out, blk.conv2.weight, padding=1), blk.bn2)
    s = x[:, :, ::stride, ::stride]
    s = torch.cat([s, s.new_zeros(s.shape[0], out.shape[1] - s.shape[1], *s.shape[2:])], dim=1)
    return F.relu(out + s)


def test_basic_block_matches_functional_reference():
    torch.manual_seed(0)
    for c_in, c_out, stride in [(4, 4, 1), (4, 8, 2)]:
        blk = resnet.BasicBlock(c_in, c_out, stride, "A")
        with torch.no_grad():
            for p in blk.parameters():
                p.normal_()
        x = torch.randn(5, c_in, 8, 8)
        assert torch.allclose(blk(x), functional_basic(x, blk, stride), atol=1e-5)


def test_variant_blocks_match_v1_and_v2_blocks():
    torch.manual_seed(1)
    x = torch.randn(6, 4, 8, 8)
    for v, cls in [("original", resnet.BasicBlock), ("full_preact", resnet.PreActBlock)]:
        for c_out, stride in [(4, 1), (8, 2)]:
            ref, blk = cls(4, c_out, stride, "A"), resnet.VariantBlock(4, c_out, stride, v, "A")
            with torch.no_grad():
                for p in ref.parameters():
                    p.normal_()
            blk.load_state_dict(ref.state_dict(), strict=True)
            assert torch.allclose(blk(x), ref(x), atol=1e-5), v


def test_variant_original_net_is_the_basic_net():
    """Same seed, same initial weights: the chapter reuses the basic-block run as the 'original' unit."""
    torch.manual_seed(3)
    a = resnet.build_net(20, "basic")
    torch.manual_seed(3)
    b = resnet.build_net(20, "original")
    x = torch.randn(7, 1, 8, 8)
    assert torch.equal(a(x), b(x))


def test_variants_differ():
    torch.manual_seed(2)
    x = torch.randn(6, 4, 8, 8)
    outs = []
    for v in resnet.VARIANTS:
        torch.manual_seed(5)
        outs.append(resnet.VariantBlock(4, 4, 1, v)(x))
    for i in range(len(outs)):
        for j in range(i):
            assert not torch.allclose(outs[i], outs[j])
    assert (outs[resnet.VARIANTS.index("relu_before_add")] - x).min() >= 0    # only adds to x


# ---------------------------------------------------------------- init and gradients

def test_he_init_variance():
    torch.manual_seed(0)
    conv = resnet.he_init(nn.Sequential(nn.Conv2d(32, 64, 3)))[0]
    assert abs(conv.weight.var().item() / (2 / (9 * 32)) - 1) < 0.05


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    x, y = torch.randn(16, 1, 8, 8), torch.randint(0, 10, (16,))
    for block in ["basic", "preact", "plain"]:
        net = resnet.build_net(20, block)
        F.cross_entropy(net(x), y).backward()
        for name, p in net.named_parameters():
            assert p.grad is not None and torch.isfinite(p.grad).all(), (block, name)
            assert p.grad.abs().sum() > 0, (block, name)


def test_signal_profile_of_identity_blocks():
    """Pre-activation blocks with zeroed branches pass x and dL/dx through unchanged."""
    torch.manual_seed(0)
    net = resnet.build_net(14, "preact", widths=(4, 4, 4), option="A")
    for m in net:
        if isinstance(m, resnet.PreActBlock):
            nn.init.zeros_(m.conv2.weight)
    x, y = torch.randn(6, 1, 8, 8), torch.arange(6)
    std, grad = resnet.signal_profile(net, x, y)
    assert len(std) == len(grad) == 1 + 6
    with torch.no_grad():
        stem = net[0](x)
    want = [stem] * 3 + [stem[:, :, ::2, ::2]] * 2 + [stem[:, :, ::4, ::4]] * 2    # option A subsamples
    assert np.allclose(std, [w.std().item() for w in want], rtol=1e-5)
    assert np.allclose(grad, grad[0], rtol=1e-5)       # subsampling and identities keep |dL/dx|


def test_shortcuts_keep_the_gradient_alive_without_bn():
    """Without BN a 20-layer plain net's gradient fades towards the input; a residual net's does not."""
    rng = np.random.default_rng(0)
    x, y = torch.tensor(rng.random((64, 1, 8, 8)), dtype=torch.float32), torch.arange(64) % 10
    ratio, last_std = {}, {}
    for block in ["plain", "basic"]:
        r, s = [], []
        for seed in range(3):
            torch.manual_seed(seed)
            std, grad = resnet.signal_profile(resnet.build_net(20, block, bn=False), x, y)
            r.append(grad[0] / grad[-1])
            s.append(std[-1] / std[0])
        ratio[block], last_std[block] = np.median(r), np.median(s)
    assert ratio["plain"] < 0.1 < 1 < ratio["basic"], ratio
    assert last_std["plain"] < 0.1 < 0.5 < last_std["basic"], last_std


def test_bn_plain_net_has_no_vanishing_gradient():
    """He et al.'s point: with BN the plain net's signals are healthy in both directions."""
    rng = np.random.default_rng(1)
    x, y = torch.tensor(rng.random((64, 1, 8, 8)), dtype=torch.float32), torch.arange(64) % 10
    torch.manual_seed(0)
    std, grad = resnet.signal_profile(resnet.build_net(20, "plain", bn=True), x, y)
    assert std.min() > 0.3 and grad[0] > grad[-1]


# ---------------------------------------------------------------- highway

def test_highway_gate_extremes():
    torch.manual_seed(0)
    hw = resnet.Highway(5)
    assert n_params(hw) == 2 * (5 * 5 + 5)
    x = torch.randn(8, 5)
    with torch.no_grad():
        hw.T.weight.zero_()
        hw.T.bias.fill_(-50.0)                          # gate closed: carry x
        assert torch.allclose(hw(x), x)
        hw.T.bias.fill_(50.0)                           # gate open: transform only
        assert torch.allclose(hw(x), F.relu(x @ hw.H.weight.T + hw.H.bias))
        hw.T.bias.fill_(0.0)                            # T = 1/2: the average
        assert torch.allclose(hw(x), 0.5 * (F.relu(hw.H(x)) + x))
    assert torch.allclose(resnet.Highway(5, gate_bias=-2.0).T.bias, torch.full((5,), -2.0))


# ---------------------------------------------------------------- numpy residual block

def _torch_residual_fc(x, W1, b1, W2, b2):
    """The same unit from torch's linear layers: F.linear(x, W, b) = x @ W.T + b (house layout)."""
    return F.relu(x + F.linear(F.relu(F.linear(x, W1, b1)), W2, b2))


def test_residual_fc_forward_matches_torch():
    rng = np.random.default_rng(0)
    x, W1, b1, W2, b2 = rng.normal(size=(6, 5)), rng.normal(size=(3, 5)), rng.normal(size=3), \
        rng.normal(size=(5, 3)), rng.normal(size=5)
    y, _ = resnet.residual_fc_forward(x, W1, b1, W2, b2)
    want = _torch_residual_fc(*(torch.tensor(a) for a in (x, W1, b1, W2, b2)))
    assert np.allclose(y, want.numpy())
    # the weights are those of nn.Linear(5, 3) and nn.Linear(3, 5), copied unchanged
    fc1, fc2 = nn.Linear(5, 3).double(), nn.Linear(3, 5).double()
    xt = torch.tensor(x)
    y, _ = resnet.residual_fc_forward(x, *(p.detach().numpy() for p in [fc1.weight, fc1.bias,
                                                                         fc2.weight, fc2.bias]))
    assert np.allclose(y, F.relu(xt + fc2(F.relu(fc1(xt)))).detach().numpy())


def test_residual_fc_backward_numerically_and_against_autograd():
    rng = np.random.default_rng(1)
    arrays = [rng.normal(size=(4, 6)), rng.normal(size=(3, 6)), rng.normal(size=3),
              rng.normal(size=(6, 3)), rng.normal(size=6)]
    dy = rng.normal(size=(4, 6))
    y, cache = resnet.residual_fc_forward(*arrays)
    grads = resnet.residual_fc_backward(dy, cache)

    def f():
        return float(np.sum(resnet.residual_fc_forward(*arrays)[0] * dy))
    for a, g in zip(arrays, grads):
        assert g.shape == a.shape
        assert rel_error(g, numerical_gradient(f, a)) < 1e-7

    t = [torch.tensor(a, requires_grad=True) for a in arrays]
    (_torch_residual_fc(*t) * torch.tensor(dy)).sum().backward()
    for g, ti in zip(grads, t):
        assert np.allclose(g, ti.grad.numpy())


def test_residual_fc_dx_contains_the_shortcut():
    """With the branch's output weights at zero, the block is relu(x + b2) and dx = dy * (z > 0)."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(5, 4))
    W1, b1, W2, b2 = rng.normal(size=(3, 4)), np.zeros(3), np.zeros((4, 3)), np.zeros(4)
    y, cache = resnet.residual_fc_forward(x, W1, b1, W2, b2)
    assert np.allclose(y, np.maximum(x, 0))
    dy = rng.normal(size=(5, 4))
    assert np.allclose(resnet.residual_fc_backward(dy, cache)[0], dy * (x > 0))


# ---------------------------------------------------------------- training loop

def test_train_classifier_learns_digits():
    from nnutils import data
    (Xtr, ytr), _, (Xte, yte) = data.load_digits(seed=0)
    T = lambda X: torch.tensor(X, dtype=torch.float32).reshape(-1, 1, 8, 8)
    torch.manual_seed(0)
    net = resnet.build_net(8, "basic")
    h = resnet.train_classifier(net, T(Xtr), torch.tensor(ytr), T(Xte), torch.tensor(yte), epochs=3, seed=0)
    assert len(h["train_loss"]) == len(h["test_acc"]) == 3
    assert h["train_loss"][-1] < 0.5 * h["train_loss"][0]
    assert h["test_acc"][-1] > 0.7
