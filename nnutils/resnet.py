"""Chapter 8: residual networks (He et al. 2015, 2016), Highway layers and ResNeXt.

Tensors are NCHW: (batch, channels, height, width). Blocks map (N, C_in, H, W) to
(N, C_out, H/stride, W/stride). A numpy fully connected residual block with its backward
pass shows where the "+1" in the gradient of a residual unit comes from; its weights are
in the house layout of nn.Linear (W of shape (n_out, n_in), x @ W.T + b;
nnutils/README.md). Parameter counts by hand are ``nnutils.functions.conv_params``.
"""
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nnutils.functions import relu


# -------------------------------------------------------- shortcuts (options A, B, C)

class ShortcutA(nn.Module):
    """Option A: a parameter-free identity that subsamples and zero-pads new channels.

    (N, C_in, H, W) -> (N, C_out, ceil(H/stride), ceil(W/stride)), C_out >= C_in. Keeps
    every stride-th pixel, copies the C_in channels and appends C_out - C_in channels of
    zeros.
    """

    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__()
        if out_channels < in_channels:
            raise ValueError("option A can only add channels")
        self.extra, self.stride = out_channels - in_channels, stride

    def forward(self, x):
        x = x[:, :, ::self.stride, ::self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.extra))   # pad (W, H, C): zeros after C_in


def projection(in_channels, out_channels, stride=1, bn=True):
    """Options B/C: a 1x1 convolution with the block's stride (and BN): W_s x."""
    layers = [nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=not bn)]
    if bn:
        layers.append(nn.BatchNorm2d(out_channels))
    return nn.Sequential(*layers)


def shortcut(in_channels, out_channels, stride=1, option="A", bn=True):
    """The shortcut of a block, by the paper's options.

    A: identity, zero-padding (ShortcutA) when the shape changes; no parameters ever.
    B: identity, a projection only when the shape changes.
    C: a projection on every block.
    """
    same = in_channels == out_channels and stride == 1
    if option == "C" or (option == "B" and not same):
        return projection(in_channels, out_channels, stride, bn)
    if option in ("A", "B"):
        return nn.Identity() if same else ShortcutA(in_channels, out_channels, stride)
    raise ValueError(f"unknown shortcut option {option!r}")


def conv3x3(in_channels, out_channels, stride=1, groups=1, bias=False):
    """3x3 convolution, padding 1: (N, C_in, H, W) -> (N, C_out, H/stride, W/stride)."""
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1,
                     groups=groups, bias=bias)


def norm(channels, bn=True):
    """BatchNorm2d, or nothing (identity) when ``bn`` is false."""
    return nn.BatchNorm2d(channels) if bn else nn.Identity()


# ---------------------------------------------------------------- blocks

class PlainBlock(nn.Module):
    """Two 3x3 conv layers, no shortcut: relu(bn(conv(relu(bn(conv(x))))))."""

    def __init__(self, in_channels, out_channels, stride=1, bn=True):
        super().__init__()
        self.conv1, self.bn1 = (conv3x3(in_channels, out_channels, stride, bias=not bn),
                                norm(out_channels, bn))
        self.conv2, self.bn2 = (conv3x3(out_channels, out_channels, bias=not bn),
                                norm(out_channels, bn))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)))


class BasicBlock(nn.Module):
    """The residual unit of ResNet v1: y = relu(F(x) + shortcut(x)).

    F = conv-bn-relu-conv-bn."""

    def __init__(self, in_channels, out_channels, stride=1, option="A", bn=True):
        super().__init__()
        self.conv1, self.bn1 = (conv3x3(in_channels, out_channels, stride, bias=not bn),
                                norm(out_channels, bn))
        self.conv2, self.bn2 = (conv3x3(out_channels, out_channels, bias=not bn),
                                norm(out_channels, bn))
        self.shortcut = shortcut(in_channels, out_channels, stride, option, bn)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class PreActBlock(nn.Module):
    """The full pre-activation unit of ResNet v2.

    y = x + conv(relu(bn(conv(relu(bn(x)))))).

    Nothing acts on the sum, so x travels from unit to unit untouched.
    """

    def __init__(self, in_channels, out_channels, stride=1, option="A", bn=True):
        super().__init__()
        self.bn1, self.conv1 = (norm(in_channels, bn),
                                conv3x3(in_channels, out_channels, stride, bias=not bn))
        self.bn2, self.conv2 = (norm(out_channels, bn),
                                conv3x3(out_channels, out_channels, bias=not bn))
        self.shortcut = shortcut(in_channels, out_channels, stride, option, bn)

    def forward(self, x):
        out = self.conv1(F.relu(self.bn1(x)))
        out = self.conv2(F.relu(self.bn2(out)))
        return out + self.shortcut(x)


class Bottleneck(nn.Module):
    """1x1 (reduce to ``mid``) -> 3x3 -> 1x1 (expand to ``out``), + shortcut, then relu.

    groups > 1 makes the 3x3 a grouped convolution: the ResNeXt block with cardinality
    ``groups``. (N, C_in, H, W) -> (N, out_channels, H/stride, W/stride).
    """

    def __init__(self, in_channels, mid_channels, out_channels, stride=1, option="B",
                 groups=1, bn=True):
        super().__init__()
        self.conv1, self.bn1 = (nn.Conv2d(in_channels, mid_channels, 1, bias=not bn),
                                norm(mid_channels, bn))
        self.conv2 = conv3x3(mid_channels, mid_channels, stride, groups=groups,
                             bias=not bn)
        self.bn2 = norm(mid_channels, bn)
        self.conv3, self.bn3 = (nn.Conv2d(mid_channels, out_channels, 1, bias=not bn),
                                norm(out_channels, bn))
        self.shortcut = shortcut(in_channels, out_channels, stride, option, bn)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + self.shortcut(x))


VARIANTS = ("original", "bn_after_add", "relu_before_add", "relu_only_preact",
            "full_preact")


class VariantBlock(nn.Module):
    """The five residual units of "Identity Mappings in Deep Residual Networks", Fig. 4.

    original:          relu(bn(conv(relu(bn(conv(x))))) + x)
    bn_after_add:      relu(bn(conv(relu(bn(conv(x)))) + x))
    relu_before_add:   relu(bn(conv(relu(bn(conv(x)))))) + x
    relu_only_preact:  bn(conv(relu(bn(conv(relu(x)))))) + x
    full_preact:       conv(relu(bn(conv(relu(bn(x)))))) + x
    Shortcut as in ``shortcut`` (option A by default). Two BNs and two convs in every
    variant.
    """

    def __init__(self, in_channels, out_channels, stride=1, variant="original",
                 option="A"):
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}")
        self.variant = variant
        self.conv1 = conv3x3(in_channels, out_channels, stride)
        self.conv2 = conv3x3(out_channels, out_channels)
        bn1_channels = in_channels if variant == "full_preact" else out_channels
        self.bn1, self.bn2 = nn.BatchNorm2d(bn1_channels), nn.BatchNorm2d(out_channels)
        self.shortcut = shortcut(in_channels, out_channels, stride, option)

    def forward(self, x):
        v, s = self.variant, self.shortcut(x)
        if v == "original":
            return F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))) + s)
        if v == "bn_after_add":
            return F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))) + s))
        if v == "relu_before_add":
            return F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))) + s
        if v == "relu_only_preact":
            return self.bn2(self.conv2(F.relu(self.bn1(self.conv1(F.relu(x)))))) + s
        return self.conv2(F.relu(self.bn2(self.conv1(F.relu(self.bn1(x)))))) + s


class Highway(nn.Module):
    """A fully connected Highway layer (Srivastava, Greff & Schmidhuber 2015).

    y = H(x) * T(x) + x * (1 - T(x)), with H(x) = relu(x @ W_H.T + b_H) and
    T(x) = sigmoid(x @ W_T.T + b_T) (W_H, W_T: (D, D), the nn.Linear weights).
    x: (N, D) -> y: (N, D). A negative gate bias starts the layer close to the identity
    (carry).
    """

    def __init__(self, dim, gate_bias=-2.0):
        super().__init__()
        self.H, self.T = nn.Linear(dim, dim), nn.Linear(dim, dim)
        nn.init.constant_(self.T.bias, gate_bias)

    def forward(self, x):
        t = torch.sigmoid(self.T(x))
        return F.relu(self.H(x)) * t + x * (1 - t)


# ---------------------------------------------------------------- networks

BLOCKS = {"plain": PlainBlock, "basic": BasicBlock, "preact": PreActBlock}
BLOCK_TYPES = (PlainBlock, BasicBlock, PreActBlock, Bottleneck, VariantBlock)


def build_net(depth, block="basic", widths=(4, 8, 16), option="A", bn=True,
              in_channels=1, n_classes=10):
    """The CIFAR-style network of the ResNet paper (section 4.2), scaled to small
    inputs.

    A 3x3 stem conv, three stages of n blocks with ``widths`` channels (the 2nd and 3rd
    stage start with stride 2), global average pooling and a linear layer: 6n + 2 weight
    layers, so depth in {8, 14, 20, 26, ...}. block: "plain", "basic", "preact" or one
    of VARIANTS. Conv weights are He-initialised (he_init). (N, in_channels, H, W) ->
    (N, n_classes) scores.
    """
    if (depth - 2) % 6 or depth < 8:
        raise ValueError("depth must be 6n + 2 with n >= 1")
    n = (depth - 2) // 6
    layers = [conv3x3(in_channels, widths[0], bias=not bn)]
    if block not in ("preact", "full_preact", "relu_only_preact"):
        layers += [norm(widths[0], bn), nn.ReLU()]
    c_in = widths[0]
    for stage, c_out in enumerate(widths):
        for i in range(n):
            stride = 2 if stage > 0 and i == 0 else 1
            if block == "plain":
                layers.append(PlainBlock(c_in, c_out, stride, bn))
            elif block in BLOCKS:
                layers.append(BLOCKS[block](c_in, c_out, stride, option, bn))
            else:
                layers.append(VariantBlock(c_in, c_out, stride, block, option))
            c_in = c_out
    if block in ("preact", "full_preact", "relu_only_preact"):
        layers += [norm(c_in, bn), nn.ReLU()]  # v2 nets end with BN-ReLU before pooling
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, n_classes)]
    return he_init(nn.Sequential(*layers))


def he_init(model):
    """He et al. (2015) initialisation of every conv: weights ~ N(0, 2 / (k*k*C_in)),
    biases 0.

    Keeps the variance of a ReLU network's activations constant from layer to layer, as
    long as every output really sees k*k*C_in inputs (zero padding on tiny maps breaks
    that). Returns model.
    """
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return model


def signal_profile(net, x, y):
    """Forward and backward signal size, block by block, for one minibatch (a Sequential
    net).

    x: (N, C, H, W) inputs; y: (N,) labels. Runs the net in its current mode,
    backpropagates the cross-entropy loss, and returns two arrays over the first block's
    input and every block's
    output: ``std`` of the activations and ``grad``, the norm of dLoss/d(activations).
    """
    outs, h = [], x
    for layer in net:
        if isinstance(layer, BLOCK_TYPES) and not outs:
            h.retain_grad()
            outs.append(h)
        h = layer(h)
        if isinstance(layer, BLOCK_TYPES):
            h.retain_grad()
            outs.append(h)
    F.cross_entropy(h, y).backward()
    return (np.array([o.std().item() for o in outs]),
            np.array([o.grad.norm().item() for o in outs]))


def count_params(model):
    """Number of trainable numbers in a module."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def train_classifier(model, X_train, y_train, X_test, y_test, epochs=10, lr=0.05,
                     batch_size=32, momentum=0.9, weight_decay=0.0, seed=0):
    """Minibatch SGD with momentum on cross-entropy; every model gets the same budget.

    X_*: (N, C, H, W) float tensors; y_*: (N,) int64 tensors.
    Returns a dict of per-epoch lists: "train_loss" (mean over the epoch's minibatches),
    "test_acc" (accuracy on X_test in eval mode).
    """
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum,
                          weight_decay=weight_decay)
    history = {"train_loss": [], "test_acc": []}
    for _ in range(epochs):
        model.train()
        order, losses = torch.randperm(len(X_train), generator=g), []
        for start in range(0, len(X_train), batch_size):
            idx = order[start:start + batch_size]
            loss = F.cross_entropy(model(X_train[idx]), y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        model.eval()
        with torch.no_grad():
            acc = (model(X_test).argmax(1) == y_test).float().mean().item()
        history["train_loss"].append(float(np.mean(losses)))
        history["test_acc"].append(acc)
    return history


# -------------------------------------------------- numpy: a residual block's gradient

def residual_fc_forward(x, W1, b1, W2, b2):
    """A fully connected residual unit: y = relu(x + relu(x @ W1.T + b1) @ W2.T + b2).

    x: (N, D); W1: (M, D); b1: (M,); W2: (D, M); b2: (D,), the weights of two nn.Linear
    layers D -> M -> D. Returns (y (N, D), cache).
    """
    a = x @ W1.T + b1
    h = relu(a)
    z = x + h @ W2.T + b2
    y = relu(z)
    return y, (x, W1, W2, a, h, z)


def residual_fc_backward(dy, cache):
    """Backward pass of residual_fc_forward.

    dy: (N, D) upstream gradient. Returns (dx, dW1, db1, dW2, db2), each shaped like its
    input. The shortcut adds dz straight into dx: dx = dz + (branch gradient), the "+1"
    of the paper.
    """
    x, W1, W2, a, h, z = cache
    dz = dy * (z > 0)
    dW2, db2 = dz.T @ h, dz.sum(axis=0)
    da = (dz @ W2) * (a > 0)
    dW1, db1 = da.T @ x, da.sum(axis=0)
    dx = dz + da @ W1
    return dx, dW1, db1, dW2, db2
