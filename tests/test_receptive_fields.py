"""nnutils.receptive_fields against brute force: gradients of real PyTorch conv stacks show which input
pixels one output unit depends on; the recurrence must predict that region exactly."""
import numpy as np
import pytest
import torch
import torch.nn as nn

from nnutils import functions as fn, receptive_fields as rf


def torch_stack(layers, weight=None, relu=False, seed=0):
    """A 1-channel Conv2d stack (float64); random weights unless `weight` is given."""
    torch.manual_seed(seed)
    mods = []
    for k, s, d, p in layers:
        conv = nn.Conv2d(1, 1, k, stride=s, dilation=d, padding=p, bias=False).double()
        if weight is not None:
            nn.init.constant_(conv.weight, weight)
        mods += [conv] + ([nn.ReLU()] if relu else [])
    return nn.Sequential(*mods)


def probe(model, n, unit=None):
    """Brute force: gradient of one output unit w.r.t. an n x n input."""
    x = torch.randn(1, 1, n, n, dtype=torch.float64, requires_grad=True)
    out = model(x)
    H, W = out.shape[-2:]
    i, j = (H // 2, W // 2) if unit is None else unit
    out[0, 0, i, j].backward()
    return x.grad[0, 0].numpy(), (H, W)


def extent(mask_1d):
    idx = np.flatnonzero(mask_1d)
    return idx[0], idx[-1]


def random_stacks(count, seed):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        depth = int(rng.integers(1, 5))
        yield [(int(rng.choice([1, 2, 3, 5])), int(rng.choice([1, 1, 2, 3])), int(rng.choice([1, 1, 2, 3])),
                int(rng.integers(0, 3))) for _ in range(depth)]


def test_three_3x3_layers_see_7x7():
    assert [r["rf"] for r in rf.receptive_fields([3, 3, 3])] == [1, 3, 5, 7]
    g, _ = probe(torch_stack([(3, 1, 1, 0)] * 3), 15)
    lo, hi = extent(np.abs(g).sum(axis=0))
    assert hi - lo + 1 == 7
    assert rf.receptive_field([7]) == 7


def test_parameter_count_27_vs_49():
    C = 64
    three = nn.Sequential(*[nn.Conv2d(C, C, 3, bias=False) for _ in range(3)])
    one = nn.Conv2d(C, C, 7, bias=False)
    assert sum(p.numel() for p in three.parameters()) == 3 * fn.conv_params(C, C, 3) == 27 * C * C
    assert sum(p.numel() for p in one.parameters()) == fn.conv_params(C, C, 7) == 49 * C * C
    assert fn.conv_params(3, 16, 3, bias=True) == sum(p.numel() for p in nn.Conv2d(3, 16, 3).parameters())


@pytest.mark.parametrize("layers", list(random_stacks(25, seed=1)) + [
    [(3, 1, 1, 1)] * 4, [(3, 2, 1, 1), (3, 2, 1, 1), (3, 2, 1, 1)], [(3, 1, 1, 0), (3, 1, 2, 0), (3, 1, 4, 0)],
    [(7, 2, 1, 3), (3, 2, 1, 1), (3, 1, 1, 1), (3, 1, 1, 1)], [(2, 2, 1, 0)] * 3])
def test_recurrence_matches_gradient_probe(layers):
    rows = rf.receptive_fields(layers)
    r, j, start = rows[-1]["rf"], rows[-1]["jump"], rows[-1]["start"]
    n = 4 * r + 2 * j + 8                              # big enough that the centre unit's field is inside
    g, (H, W) = probe(torch_stack(layers, seed=len(layers)), n)
    assert (H, W) == (rf.output_length(n, layers),) * 2
    i = H // 2
    lo, hi = extent(np.abs(g).sum(axis=1))
    assert hi - lo + 1 == r, f"{layers}: probe sees {hi - lo + 1}, recurrence says {r}"
    centre = start + i * j                             # centre of unit i in input coordinates
    assert (lo + hi) / 2 == centre
    # and the exact pattern of pixels (holes from dilation and stride included) with unit weights
    fp = rf.footprint(layers, n)
    g1, _ = probe(torch_stack(layers, weight=1.0), n)
    np.testing.assert_allclose(g1, np.outer(fp, fp), atol=1e-9)
    assert extent(fp) == (lo, hi)


def test_relu_does_not_change_the_field_when_units_are_active():
    layers = [(3, 1, 1, 1), (3, 2, 1, 1), (3, 1, 2, 2)]
    torch.manual_seed(0)
    model = torch_stack(layers, weight=0.5, relu=True)
    x = torch.rand(1, 1, 31, 31, dtype=torch.float64, requires_grad=True)   # positive: every ReLU open
    out = model(x)
    out[0, 0, out.shape[-2] // 2, out.shape[-1] // 2].backward()
    lo, hi = extent(x.grad[0, 0].abs().sum(axis=0).numpy())
    assert hi - lo + 1 == rf.receptive_field(layers)


def test_input_gradient_map_equals_footprint_for_unit_weights():
    layers = [(3, 1, 1, 0), (3, 2, 1, 0), (3, 1, 2, 0)]
    model = torch_stack(layers, weight=1.0)
    m = rf.input_gradient_map(model, (1, 25, 25), n_samples=3)
    fp = rf.footprint(layers, 25)
    np.testing.assert_allclose(m, np.outer(fp, fp), atol=1e-9)


def test_footprint_small_cases_by_hand():
    np.testing.assert_array_equal(rf.footprint([3, 3], 7), [0, 1, 2, 3, 2, 1, 0])
    np.testing.assert_array_equal(rf.footprint([(3, 1, 2)], 7), [0, 1, 0, 1, 0, 1, 0])
    np.testing.assert_array_equal(rf.footprint([(2, 2)], 8, index=1), [0, 0, 1, 1, 0, 0, 0, 0])
    assert rf.effective_kernel(3, 4) == 9


def test_layer_specs_and_errors():
    assert rf.receptive_field([dict(kernel=3, dilation=2), (3, 2)]) == rf.receptive_field([(3, 1, 2), (3, 2)]) == 7
    with pytest.raises(ValueError):
        rf.output_length(4, [5])
