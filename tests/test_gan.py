"""Tests for nnutils.gan: losses against hand-written BCE, metrics on constructed samples,
shapes, one training step against a hand-written step, and a short run that learns."""
import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nnutils import gan


def np_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


# ------------------------------------------------------------------ losses

LOGITS_REAL = np.array([2.0, -1.0, 0.5, 3.0])
LOGITS_FAKE = np.array([-2.0, 0.3, 1.5])


def test_discriminator_loss_is_bce_by_hand():
    # -mean log D(x) - mean log(1 - D(G(z))), written out with the sigmoid in numpy
    want = -np.mean(np.log(np_sigmoid(LOGITS_REAL))) - np.mean(np.log(1 - np_sigmoid(LOGITS_FAKE)))
    got = gan.discriminator_loss(torch.tensor(LOGITS_REAL), torch.tensor(LOGITS_FAKE))
    assert got.item() == pytest.approx(want, rel=1e-12)


def test_discriminator_loss_matches_torch_bce_with_labels():
    r = torch.tensor(LOGITS_REAL).reshape(-1, 1)
    f = torch.tensor(LOGITS_FAKE).reshape(-1, 1)
    want = (F.binary_cross_entropy(torch.sigmoid(r), torch.ones_like(r))
            + F.binary_cross_entropy(torch.sigmoid(f), torch.zeros_like(f)))
    assert gan.discriminator_loss(r, f).item() == pytest.approx(want.item(), rel=1e-10)


def test_discriminator_loss_at_chance_is_2_ln_2():
    zeros = torch.zeros(5)
    assert gan.discriminator_loss(zeros, zeros).item() == pytest.approx(2 * np.log(2))


def test_generator_losses_by_hand():
    f = torch.tensor(LOGITS_FAKE)
    d = np_sigmoid(LOGITS_FAKE)
    assert gan.generator_loss_minimax(f).item() == pytest.approx(np.mean(np.log(1 - d)), rel=1e-12)
    assert gan.generator_loss_nonsaturating(f).item() == pytest.approx(-np.mean(np.log(d)), rel=1e-12)


def test_losses_finite_for_extreme_logits():
    big = torch.tensor([-200.0, 200.0], dtype=torch.float64)
    for value in [gan.discriminator_loss(big, big), gan.generator_loss_minimax(big),
                  gan.generator_loss_nonsaturating(big)]:
        assert torch.isfinite(value)
    # log(1 - sigmoid(200)) = -200 (not -inf); -log sigmoid(-200) = 200
    assert gan.generator_loss_nonsaturating(torch.tensor([-200.0], dtype=torch.float64)).item() == pytest.approx(200)


def test_minimax_saturates_and_nonsaturating_does_not():
    """Where D rejects the fakes (logit -6, D = 0.0025) the minimax gradient nearly vanishes."""
    x = torch.full((4,), -6.0, dtype=torch.float64, requires_grad=True)
    gan.generator_loss_minimax(x).backward()
    g_mm = x.grad.clone()
    x.grad = None
    gan.generator_loss_nonsaturating(x).backward()
    g_ns = x.grad.clone()
    # d/dl of -mean softplus(l) = -sigmoid(l)/N ; of mean softplus(-l) = -(1 - sigmoid(l))/N
    assert np.allclose(g_mm.numpy(), -np_sigmoid(-6.0) / 4)
    assert np.allclose(g_ns.numpy(), -(1 - np_sigmoid(-6.0)) / 4)
    assert abs(g_ns[0]) > 100 * abs(g_mm[0])


# ------------------------------------------------------------------ targets and shapes

def test_ring_and_grid_centers():
    c = gan.ring_centers(8, radius=2.0)
    assert c.shape == (8, 2)
    assert np.allclose(np.linalg.norm(c, axis=1), 2.0)
    assert np.allclose(c[0], [2, 0]) and np.allclose(c[2], [0, 2], atol=1e-12)
    g = gan.grid_centers(5, spacing=2.0)
    assert g.shape == (25, 2)
    assert np.allclose(g.mean(axis=0), 0) and g.min() == -4 and g.max() == 4
    assert len({tuple(p) for p in g}) == 25


def test_sample_mixture_shape_spread_and_balance():
    c = gan.ring_centers(8)
    x = gan.sample_mixture(c, 4000, std=0.02, generator=torch.Generator().manual_seed(0))
    assert x.shape == (4000, 2) and x.dtype == torch.float32
    counts = gan.mode_counts(x.numpy(), c, radius=0.1)   # 5 std: essentially every sample
    assert counts.sum() == 4000
    assert counts.min() > 400 and counts.max() < 600          # about 500 each
    d = np.linalg.norm(x.numpy()[:, None] - c[None], axis=2).min(axis=1)
    assert np.mean(d ** 2) / 2 == pytest.approx(0.02 ** 2, rel=0.1)   # per-axis variance std^2
    same = gan.sample_mixture(c, 10, 0.02, torch.Generator().manual_seed(3))
    again = gan.sample_mixture(c, 10, 0.02, torch.Generator().manual_seed(3))
    assert torch.equal(same, again)


def test_network_shapes():
    torch.manual_seed(0)
    G = gan.generator(z_dim=5, hidden=16, n_hidden=3, out_dim=64, out_activation=torch.nn.Sigmoid())
    D = gan.discriminator(in_dim=64, hidden=16, n_hidden=1)
    x = G(torch.randn(7, 5))
    assert x.shape == (7, 64) and x.min() >= 0 and x.max() <= 1
    assert D(x).shape == (7, 1)
    assert sum(isinstance(m, torch.nn.Linear) for m in G) == 4
    assert gan.sample(G, 11, z_dim=5, seed=1).shape == (11, 64)
    assert np.array_equal(gan.sample(G, 3, 5, seed=1), gan.sample(G, 3, 5, seed=1))


def test_spectral_norm_discriminator_is_1_lipschitz_per_layer():
    torch.manual_seed(0)
    D = gan.discriminator(2, 32, 2, spectral_norm=True)
    for _ in range(20):                         # power iteration runs once per training forward
        D(torch.randn(8, 2))
    for m in D:
        if isinstance(m, torch.nn.Linear):
            assert torch.linalg.matrix_norm(m.weight.detach(), ord=2).item() == pytest.approx(1.0, abs=0.02)


# ------------------------------------------------------------------ metrics on constructed samples

C8 = gan.ring_centers(8)


def test_metrics_all_modes_exactly():
    s = np.repeat(C8, 10, axis=0) + 0.001
    assert gan.modes_covered(s, C8, radius=0.06) == 8
    assert gan.high_quality_fraction(s, C8, radius=0.06) == 1.0
    assert gan.mode_counts(s, C8, 0.06).tolist() == [10] * 8


def test_metrics_one_mode_collapse():
    s = np.tile(C8[3], (100, 1)) + 0.01 * np.random.default_rng(0).standard_normal((100, 2))
    assert gan.modes_covered(s, C8, radius=0.06) == 1
    assert gan.high_quality_fraction(s, C8, radius=0.06) == pytest.approx(1.0)
    assert gan.mode_counts(s, C8, 0.06)[3] == 100


def test_metrics_far_away_points():
    s = np.zeros((50, 2))                       # the ring's centre: 2 away from every mode
    assert gan.modes_covered(s, C8, radius=0.06) == 0
    assert gan.high_quality_fraction(s, C8, radius=0.06) == 0.0
    s = np.r_[np.repeat(C8, 5, axis=0), np.full((40, 2), 10.0)]
    assert gan.high_quality_fraction(s, C8, radius=0.06) == pytest.approx(0.5)
    assert gan.modes_covered(s, C8, radius=0.06) == 8


def test_modes_covered_needs_min_fraction():
    # 996 samples on mode 0 and one stray sample on each of modes 1..4: only mode 0 is covered at 1 %
    s = np.r_[np.tile(C8[0], (996, 1)), C8[1:5]]
    assert gan.modes_covered(s, C8, 0.06, min_fraction=0.01) == 1
    assert gan.modes_covered(s, C8, 0.06, min_fraction=0.0005) == 5


def test_mode_counts_radius_boundary_and_nearest():
    s = np.array([[2.05, 0.0], [2.07, 0.0], [0.0, 1.95]])
    assert gan.mode_counts(s, C8, 0.06).tolist() == [1, 0, 1, 0, 0, 0, 0, 0]


# ------------------------------------------------------------------ training

def test_train_step_matches_a_hand_written_step():
    torch.manual_seed(0)
    G, D = gan.generator(2, 8, 1), gan.discriminator(2, 8, 1)
    G2, D2 = copy.deepcopy(G), copy.deepcopy(D)
    real = torch.randn(6, 2)
    opt_G, opt_D = torch.optim.SGD(G.parameters(), lr=0.1), torch.optim.SGD(D.parameters(), lr=0.1)
    torch.manual_seed(1)
    ld, lg = gan.train_step(G, D, opt_G, opt_D, real, z_dim=2)

    # by hand: same noise, D updated on BCE first, then G on -log D(G(z)) through the new D
    torch.manual_seed(1)
    z = torch.randn(6, 2)
    fake = G2(z).detach()
    bce = torch.nn.BCEWithLogitsLoss()
    loss_d = bce(D2(real), torch.ones(6, 1)) + bce(D2(fake), torch.zeros(6, 1))
    grads = torch.autograd.grad(loss_d, list(D2.parameters()))
    with torch.no_grad():
        for p, g in zip(D2.parameters(), grads):
            p -= 0.1 * g
    loss_g = bce(D2(G2(z)), torch.ones(6, 1))
    grads = torch.autograd.grad(loss_g, list(G2.parameters()))
    with torch.no_grad():
        for p, g in zip(G2.parameters(), grads):
            p -= 0.1 * g
    assert ld == pytest.approx(loss_d.item(), rel=1e-6)
    assert lg == pytest.approx(loss_g.item(), rel=1e-6)
    for a, b in zip(list(G.parameters()) + list(D.parameters()), list(G2.parameters()) + list(D2.parameters())):
        assert torch.allclose(a, b, atol=1e-6)


def test_train_gan_history_and_snapshots():
    torch.manual_seed(0)
    G, D = gan.generator(2, 16, 1), gan.discriminator(2, 16, 1)
    h = gan.train_gan(G, D, lambda n: gan.sample_mixture(C8, n, 0.02), steps=30, batch_size=16,
                      snapshot_every=10, n_snapshot=50, progress=False)
    assert len(h["d_loss"]) == len(h["g_loss"]) == 30
    assert [s for s, _ in h["snapshots"]] == [0, 10, 20, 30]
    assert all(x.shape == (50, 2) for _, x in h["snapshots"])


def test_short_training_run_improves_coverage():
    """600 steps of the chapter's recipe (smaller batch) spread G's samples over the whole ring."""
    torch.manual_seed(0)
    G0 = gan.generator(2, 64, 2)
    before = gan.sample(G0, 1000, seed=0)
    G, _, hist = gan.train_on_mixture(C8, 0.02, seed=0, steps=600, batch_size=128, r1=0.1, ema=0.99,
                                      progress=False)
    assert hist["G_avg"] is G
    after = gan.sample(G, 1000, seed=0)
    assert gan.modes_covered(before, C8, 0.25) == 0          # an untrained G sits near the origin
    assert gan.modes_covered(after, C8, 0.25) >= 7
    assert gan.high_quality_fraction(after, C8, 0.25) > 0.15 > gan.high_quality_fraction(before, C8, 0.25)


def test_ema_update_formula_and_r1_penalty_of_a_linear_D():
    torch.manual_seed(0)
    A, B = gan.generator(2, 4, 1), gan.generator(2, 4, 1)
    want = [0.9 * a.detach() + 0.1 * b.detach() for a, b in zip(A.parameters(), B.parameters())]
    gan.ema_update(A, B, 0.9)
    assert all(torch.allclose(a, w) for a, w in zip(A.parameters(), want))
    # D(x) = w.x + b has gradient w at every x, so R1 = ||w||^2
    lin = torch.nn.Linear(3, 1).double()
    x = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    assert gan.r1_penalty(lin(x), x).item() == pytest.approx(lin.weight.pow(2).sum().item())


def test_r1_penalty_matches_numerical_gradients():
    from nnutils.gradcheck import numerical_gradient
    torch.manual_seed(0)
    D = gan.discriminator(2, 8, 2).double()
    x = np.random.default_rng(0).normal(size=(4, 2))
    grads = []
    for i in range(4):
        xi = x[i].copy()
        grads.append(numerical_gradient(lambda: D(torch.tensor(xi)[None]).item(), xi))
    want = np.mean(np.sum(np.array(grads) ** 2, axis=1))
    xt = torch.tensor(x, requires_grad=True)
    assert gan.r1_penalty(D(xt), xt).item() == pytest.approx(want, rel=1e-6)


def test_r1_train_step_penalises_steep_discriminators():
    """With a huge R1 weight a D step must shrink D's input gradients at the real samples."""
    torch.manual_seed(0)
    G, D = gan.generator(2, 16, 1), gan.discriminator(2, 16, 1)
    real = gan.sample_mixture(C8, 64, 0.02, torch.Generator().manual_seed(0))

    def steepness():
        x = real.clone().requires_grad_(True)
        return gan.r1_penalty(D(x), x).item()

    before = steepness()
    opt_G, opt_D = torch.optim.SGD(G.parameters(), lr=0.0), torch.optim.SGD(D.parameters(), lr=0.01)
    for _ in range(20):
        gan.train_step(G, D, opt_G, opt_D, real, 2, r1=100.0)
    assert steepness() < 0.5 * before
