"""Chapter 7: receptive fields of convolution stacks.

A layer is described by its kernel size k, stride s, dilation d and padding p (square
kernels: the same along both image axes, so every computation here is one-dimensional).
A dilated kernel spreads its k taps d pixels apart and spans d*(k-1) + 1 input pixels.

Recurrence (Araujo et al., "Computing receptive fields of convolutional neural
networks", Distill 2019; also the CS231n notes). With r the receptive field and j the
*jump*, the distance in input pixels between two neighbouring units of the current layer
(r0 = j0 = 1):

    r_l = r_{l-1} + (k_eff_l - 1) * j_{l-1}
    j_l = j_{l-1} * s_l

``footprint`` computes *which* input pixels reach one output unit, and along how many
paths; ``input_gradient_map`` measures the same thing (and the effective receptive
field) with PyTorch.
"""
import numpy as np


def _layer(spec):
    """Accept (k,), (k, s), (k, s, d), (k, s, d, p) tuples or dicts.

    Returns (k, s, d, p)."""
    if isinstance(spec, dict):
        return (spec["kernel"], spec.get("stride", 1), spec.get("dilation", 1),
                spec.get("pad", 0))
    spec = tuple(spec) if np.iterable(spec) else (spec,)
    return tuple(spec) + (1, 1, 0)[len(spec) - 1:]


def effective_kernel(k, dilation=1):
    """Input pixels spanned by a k-tap kernel with the given dilation: d*(k-1) + 1."""
    return dilation * (k - 1) + 1


def receptive_fields(layers):
    """Receptive field, jump and centre of the first unit after each layer of a stack.

    layers: list of (kernel, stride=1, dilation=1, pad=0) tuples (or dicts with those
    keys). Returns a list of dicts, one per layer plus the input first, with
      rf:    receptive field size r_l in input pixels,
      jump:  distance j_l in input pixels between neighbouring units of layer l,
      start: input coordinate of the centre of the first unit of layer l (pixel
             centres are 0, 1, 2, ...; a negative value means the first window
             hangs over the zero padding).
    """
    rows = [dict(rf=1, jump=1, start=0.0)]
    for spec in layers:
        k, s, d, p = _layer(spec)
        prev = rows[-1]
        k_eff = effective_kernel(k, d)
        rows.append(dict(rf=prev["rf"] + (k_eff - 1) * prev["jump"],
                         jump=prev["jump"] * s,
                         start=prev["start"] + ((k_eff - 1) / 2 - p) * prev["jump"]))
    return rows


def receptive_field(layers):
    """Receptive field (input pixels, one axis) of one unit after the whole stack."""
    return receptive_fields(layers)[-1]["rf"]


def output_length(n, layers):
    """Length of the last feature map when n input pixels go through the stack."""
    for spec in layers:
        k, s, d, p = _layer(spec)
        n = (n + 2 * p - effective_kernel(k, d)) // s + 1
        if n < 1:
            raise ValueError("the stack shrinks the input to nothing")
    return n


def footprint(layers, n_in, index=None):
    """How many paths lead from each input pixel to one unit of the last layer.

    One axis.

    The count equals the gradient d(unit)/d(input) of the stack with every weight set to
    1 and no non-linearity; its non-zero entries are the pixels the unit can see, and
    their extent is the receptive field. Computed backwards, layer by layer, like the
    backward pass of a convolution (k slice-adds per layer).
    layers: as in receptive_fields; n_in: input length; index: the output unit
    (default: the centre).
    Returns counts: (n_in,) integer array. The 2-D footprint of a square stack is
    np.outer(counts, counts).
    """
    specs = [_layer(spec) for spec in layers]
    lengths = [n_in]
    for spec in specs:
        lengths.append(output_length(lengths[-1], [spec]))
    g = np.zeros(lengths[-1], dtype=np.int64)
    g[lengths[-1] // 2 if index is None else index] = 1
    for (k, s, d, p), n_prev in zip(reversed(specs), reversed(lengths[:-1])):
        n_out = len(g)
        prev = np.zeros(n_prev + 2 * p, dtype=np.int64)
        for t in range(k):                   # tap t of every unit reads pixel i*s + t*d
            prev[t * d:t * d + s * n_out:s] += g
        g = prev[p:p + n_prev]
    return g


def input_gradient_map(model, input_shape, n_samples=1, seed=0, unit=None):
    """Mean |d output / d input| of one output unit of a PyTorch model.

    This is its (effective) receptive field.

    model: torch module mapping (B, C, H, W) to (B, C', H', W'); input_shape: (C, H, W).
    The gradient of the sum over channels of output unit ``unit`` (default: the centre)
    is taken w.r.t. ``n_samples`` standard-normal inputs and its absolute value averaged
    over the samples and input channels (Luo et al., "Understanding the effective
    receptive field in deep convolutional neural networks", NeurIPS 2016).
    Returns an (H, W) numpy array.
    """
    import torch

    gen = torch.Generator().manual_seed(seed)
    x = torch.randn((n_samples, *input_shape), generator=gen, dtype=torch.float64,
                    requires_grad=True)
    out = model(x)
    H, W = out.shape[-2:]
    i, j = (H // 2, W // 2) if unit is None else unit
    (grad,) = torch.autograd.grad(out[:, :, i, j].sum(), x)
    return grad.abs().mean(dim=(0, 1)).numpy()
