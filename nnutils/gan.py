"""Chapter 11: generative adversarial networks (PyTorch).

A generator G maps noise z ~ N(0, I) to samples; a discriminator D maps a sample to
one logit, the log-odds that it is real. Both are small MLPs. Targets with known modes
(a ring of Gaussians, a grid of Gaussians) let us *measure* a GAN: how many modes it
covers and how many of its samples land near a mode. Losses take logits, so
log D = -softplus(-logit) and log(1 - D) = -softplus(logit) never evaluate log(0).
"""
import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm


# ---------------------------------------------------------------- target distributions

def ring_centers(n_modes=8, radius=2.0):
    """Centres of a ring of Gaussians: (n_modes, 2) points evenly spaced on a circle."""
    angles = 2 * np.pi * np.arange(n_modes) / n_modes
    return radius * np.c_[np.cos(angles), np.sin(angles)]


def grid_centers(k=5, spacing=2.0):
    """Centres of a k-by-k grid of Gaussians centred on the origin: (k*k, 2)."""
    ticks = spacing * (np.arange(k) - (k - 1) / 2)
    gx, gy = np.meshgrid(ticks, ticks)
    return np.c_[gx.ravel(), gy.ravel()]


def sample_mixture(centers, n, std, generator=None):
    """n samples of an equal-weight mixture of isotropic Gaussians.

    centers: (K, 2) array; std: standard deviation of every component.
    generator: optional torch.Generator for reproducible draws.
    Returns a float32 tensor of shape (n, 2).
    """
    c = torch.as_tensor(centers, dtype=torch.float32)
    k = torch.randint(len(c), (n,), generator=generator)
    return c[k] + std * torch.randn(n, c.shape[1], generator=generator)


# ---------------------------------------------------------------- the two networks

def mlp(sizes, out_activation=None, spectral_norm=False):
    """Fully connected network: Linear layers of the given sizes with ReLU between them.

    sizes: [in, hidden..., out]; out_activation: optional module after the last layer
    (e.g. nn.Sigmoid() for pixel values in [0, 1]); spectral_norm: wrap every Linear
    layer in torch.nn.utils.parametrizations.spectral_norm (each layer then has
    Lipschitz constant <= 1).
    Returns an nn.Sequential mapping (N, sizes[0]) to (N, sizes[-1]).
    """
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        lin = nn.Linear(a, b)
        if spectral_norm:
            lin = nn.utils.parametrizations.spectral_norm(lin)
        layers.append(lin)
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    if out_activation is not None:
        layers.append(out_activation)
    return nn.Sequential(*layers)


def generator(z_dim=2, hidden=128, n_hidden=2, out_dim=2, out_activation=None):
    """G: noise (N, z_dim) -> samples (N, out_dim), an MLP with n_hidden ReLU layers."""
    return mlp([z_dim] + [hidden] * n_hidden + [out_dim], out_activation)


def discriminator(in_dim=2, hidden=128, n_hidden=2, spectral_norm=False):
    """D: samples (N, in_dim) -> logits (N, 1); sigmoid(logit) is P('real')."""
    return mlp([in_dim] + [hidden] * n_hidden + [1], spectral_norm=spectral_norm)


# ---------------------------------------------------------------- losses (on logits)

def discriminator_loss(real_logits, fake_logits):
    """Binary cross-entropy of D: real labelled 1, fake labelled 0.

    L_D = -mean log D(x) - mean log(1 - D(G(z)))
        = mean softplus(-real_logits) + mean softplus(fake_logits).
    real_logits: (N, 1) or (N,); fake_logits: (M, 1) or (M,). Returns a scalar tensor.
    """
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def generator_loss_minimax(fake_logits):
    """The original minimax loss for G: minimise mean log(1 - D(G(z))).

    Equal to -mean softplus(logit). Its gradient vanishes where D confidently rejects
    the fakes (D(G(z)) ~ 0), i.e. early on.
    """
    return -F.softplus(fake_logits).mean()


def generator_loss_nonsaturating(fake_logits):
    """The non-saturating loss for G: minimise -mean log D(G(z)).

    Equal to mean softplus(-logit). Same fixed point as the minimax loss, but a strong
    gradient exactly where D rejects the fakes.
    """
    return F.softplus(-fake_logits).mean()


GENERATOR_LOSSES = {"minimax": generator_loss_minimax,
                    "nonsaturating": generator_loss_nonsaturating}


# ---------------------------------------------------------------- training

def r1_penalty(real_logits, real):
    """R1 regulariser (Mescheder et al., 2018): mean over real x of ||d logit / dx||^2.

    real: (N, dim) tensor with requires_grad set *before* computing
    real_logits = D(real), (N, 1).
    The graph is kept (create_graph) so the penalty itself can be backpropagated into D.
    Returns a scalar tensor.
    """
    grad, = torch.autograd.grad(real_logits.sum(), real, create_graph=True)
    return grad.pow(2).sum(dim=1).mean()


def train_step(G, D, opt_G, opt_D, real, z_dim, g_loss=generator_loss_nonsaturating,
               r1=0.0, noise_std=0.0):
    """One GAN iteration: one discriminator step, then one generator step.

    real: (N, dim) batch of real samples; a batch of N fakes is drawn from G.
    r1: weight gamma of the R1 penalty gamma/2 * r1_penalty, added to D's loss (0: off).
    noise_std: 'instance noise', Gaussian noise added to real and fake inputs of D.
    Returns (d_loss, g_loss) as floats (d_loss without the penalty).
    """
    z = torch.randn(len(real), z_dim)
    fake = G(z)

    def noisy(x):
        return x + noise_std * torch.randn_like(x) if noise_std > 0 else x

    # D step: push D(real) up and D(fake) down; fake.detach() keeps G out of it.
    opt_D.zero_grad()
    real = real.detach().requires_grad_(r1 > 0)
    real_logits = D(noisy(real))
    loss_D = discriminator_loss(real_logits, D(noisy(fake.detach())))
    penalty = r1 / 2 * r1_penalty(real_logits, real) if r1 > 0 else 0.0
    (loss_D + penalty).backward()
    opt_D.step()

    # G step: make the *updated* D call the fakes real. Only G's optimiser steps.
    opt_G.zero_grad()
    loss_G = g_loss(D(noisy(fake)))
    loss_G.backward()
    opt_G.step()
    return loss_D.item(), loss_G.item()


def ema_update(G_avg, G, decay):
    """Exponential moving average of weights, in place.

    p_avg <- decay * p_avg + (1 - decay) * p for every parameter of G_avg and G.
    """
    with torch.no_grad():
        for p_avg, p in zip(G_avg.parameters(), G.parameters()):
            p_avg.mul_(decay).add_(p, alpha=1 - decay)


def train_gan(G, D, sample_real, steps=2000, batch_size=256, z_dim=2, lr=1e-3,
              betas=(0.5, 0.999), loss="nonsaturating", r1=0.0, ema=None, noise_std=0.0,
              lr_decay=False, snapshot_every=None, n_snapshot=1000, seed=0,
              progress=True):
    """Train G and D with Adam for `steps` iterations (one D step and one G step each).

    sample_real: callable n -> (n, dim) tensor of real samples.
    lr: one learning rate or a pair (lr_G, lr_D); betas: Adam's (beta1, beta2).
    loss: "nonsaturating" or "minimax" (the generator's loss).
    r1: weight of the R1 gradient penalty on D at real samples (see train_step).
    ema: if set (e.g. 0.99), also keep G_avg, an exponential moving average of G's
    weights with this decay; it is returned as history["G_avg"] and is what the
    snapshots show.
    noise_std: instance noise on D's inputs, annealed linearly to 0 over training.
    lr_decay: if true, both learning rates also decay linearly to 0 over training.
    snapshot_every: if set, keep G's samples from a fixed noise batch of n_snapshot
    every so many steps (and at step 0).
    Returns a dict with per-step lists "d_loss", "g_loss",
    "snapshots": [(step, (n_snapshot, dim) array)] and "G_avg" (None without ema).
    """
    torch.manual_seed(seed)
    lr_G, lr_D = (lr, lr) if np.isscalar(lr) else lr
    opt_G = torch.optim.Adam(G.parameters(), lr=lr_G, betas=betas)
    opt_D = torch.optim.Adam(D.parameters(), lr=lr_D, betas=betas)
    g_loss = GENERATOR_LOSSES[loss]
    scheds = []
    if lr_decay:
        scheds = [torch.optim.lr_scheduler.LambdaLR(o, lambda i: 1 - i / steps)
                  for o in (opt_G, opt_D)]
    z_fixed = torch.randn(n_snapshot, z_dim)
    G_avg = copy.deepcopy(G) if ema else None
    history = {"d_loss": [], "g_loss": [], "snapshots": [], "G_avg": G_avg}

    def snapshot(step):
        with torch.no_grad():
            shown = G if G_avg is None else G_avg
            history["snapshots"].append((step, shown(z_fixed).numpy()))

    if snapshot_every:
        snapshot(0)
    bar = tqdm(range(1, steps + 1), desc="GAN steps", disable=not progress, leave=False)
    for step in bar:
        noise = noise_std * (1 - step / steps)
        real = sample_real(batch_size)
        ld, lg = train_step(G, D, opt_G, opt_D, real, z_dim, g_loss, r1, noise)
        for sch in scheds:
            sch.step()
        if ema:
            ema_update(G_avg, G, ema)
        history["d_loss"].append(ld)
        history["g_loss"].append(lg)
        if snapshot_every and step % snapshot_every == 0:
            snapshot(step)
        if step % 100 == 0:
            bar.set_postfix(d_loss=f"{ld:.3f}", g_loss=f"{lg:.3f}")
    return history


def train_on_mixture(centers, std, hidden=64, n_hidden=2, z_dim=2, spectral_norm=False,
                     seed=0, **train_kwargs):
    """Build G and D from `seed` and train them on a Gaussian mixture.

    centers: (K, 2) mode centres; std: each mode's standard deviation; train_kwargs:
    those of train_gan. Returns (G, D, history); with ema the returned G is the averaged
    generator history["G_avg"].
    """
    torch.manual_seed(seed)
    G = generator(z_dim, hidden, n_hidden)
    D = discriminator(2, hidden, n_hidden, spectral_norm)
    data_rng = torch.Generator().manual_seed(seed)
    history = train_gan(G, D, lambda n: sample_mixture(centers, n, std, data_rng),
                        z_dim=z_dim, seed=seed, **train_kwargs)
    return (G if history["G_avg"] is None else history["G_avg"]), D, history


def sample(G, n, z_dim=2, seed=None):
    """n samples from G as a numpy array (n, out_dim), without tracking gradients."""
    gen = torch.Generator().manual_seed(seed) if seed is not None else None
    with torch.no_grad():
        return G(torch.randn(n, z_dim, generator=gen)).numpy()


# ---------------------------------------------------------------- quality metrics

def mode_counts(samples, centers, radius):
    """How many samples lie within `radius` of each mode.

    samples: (N, 2); centers: (K, 2). A sample counts for its nearest centre only, and
    only if it is closer than `radius` (modes are assumed further apart than
    2 * radius).
    Returns an int array (K,).
    """
    samples, centers = np.asarray(samples, float), np.asarray(centers, float)
    dist = np.linalg.norm(samples[:, None, :] - centers[None, :, :], axis=2)   # (N, K)
    nearest = dist.argmin(axis=1)
    close = dist[np.arange(len(samples)), nearest] < radius
    return np.bincount(nearest[close], minlength=len(centers))


def modes_covered(samples, centers, radius, min_fraction=0.01):
    """Number of modes that get at least min_fraction of all samples within `radius`."""
    counts = mode_counts(samples, centers, radius)
    return int(np.sum(counts >= min_fraction * len(samples)))


def high_quality_fraction(samples, centers, radius):
    """Fraction of samples within `radius` of some mode (the 'high-quality' samples)."""
    return float(mode_counts(samples, centers, radius).sum() / len(samples))
