"""DCGAN's networks, sized from the image shape, on :mod:`gankit.blocks`.

G: z as a 1x1 map -> transposed conv to (F * 2**(k-1), s, s) -> k-1 strided transposed convs, each
halving the channels and doubling the side -> a last one to the image channels, tanh. BatchNorm and
ReLU after every layer but the last. D mirrors it with strided convs, LeakyReLU, BatchNorm on all
but the first layer, and a last conv over the whole s x s map giving one logit per image.
``(s, k)`` is ``DataInfo.upsampling_plan()``.

On MNIST (1x28x28, s = 7, k = 2, F = 64), without clusters: G 759,681 and D 138,689 parameters.
On 3x64x64 (s = 4, k = 4) these are the paper's (and the PyTorch example's) 64-512-256-128-64
stacks.

With ``clusters`` K > 0 (``selfcond``'s default, 200) both are conditioned on the k-means cluster of the
image (gankit/data/clusters.py), which the engine hands them as labels in training. The last K of
z's ``latent_dim`` columns (300 in ``selfcond``) are a one-hot latent code ``cluster``, which
:meth:`DCGANGenerator.sample_latent` draws with each cluster's share of the training images (so
sampling needs no labels); D adds a learnt per-cluster bias to its first layer's channels. That
bias is what the cgan's constant label maps at D's input amount to (a conv of a constant map is a
constant per channel, but at the borders), without their cost: the first conv stays one-channel.
On MNIST with ``selfcond``'s defaults G has 2,014,081 parameters (z's 200 more columns: 1,254,400 more in
its first layer) and D 151,489 (K x F = 12,800 more).
"""

from __future__ import annotations

import torch
from torch import nn

from gankit import DataInfo, Discriminator, Generator, LossSpec, Networks
from gankit.blocks import Norm, critic_norm_for_loss, dcgan_init_, down_stack, spectral_norm_, up_stack
from gankit import LatentCode


class DCGANGenerator(Generator):
    """z has ``latent_dim`` columns. With ``clusters`` K > 0 its last K are a one-hot code, drawn
    with ``cluster_shares`` (each cluster's share of the training images; a buffer, so checkpoints
    keep it), and the rest are noise."""

    def __init__(self, *, latent_dim: int, image_shape: tuple[int, int, int], plan: tuple[int, int],
                 features: int, clusters: int = 0, cluster_shares: tuple[float, ...] | None = None,
                 noise: str = "normal") -> None:
        super().__init__(latent_dim=latent_dim, image_shape=image_shape)
        self.clusters, self.noise = clusters, noise
        if clusters:
            self.latent_codes = (LatentCode("cluster", latent_dim - clusters, clusters, "the k-means "
                                            "cluster of the training images to draw from (by its share)"),)
            shares = torch.tensor(cluster_shares) if cluster_shares else torch.full((clusters,), 1 / clusters)
            self.register_buffer("cluster_shares", shares.float())
        self.net = up_stack(plan=plan, latent_dim=latent_dim, image_channels=image_shape[0], features=features)

    def sample_latent(self, n: int, *, device: torch.device | str | None = None,
                      generator: torch.Generator | None = None) -> torch.Tensor:
        if self.noise == "uniform":  # the paper's U(-1, 1)
            z = torch.rand(n, self.latent_dim, device=device, generator=generator).mul_(2).sub_(1)
        else:
            z = torch.randn(n, self.latent_dim, device=device, generator=generator)
        if not self.clusters:
            return z
        # Inverse-CDF draw from the same generator as the noise: seeded draws stay reproducible.
        edges = self.cluster_shares.cumsum(0).to(z.device)
        uniform = torch.rand(n, device=device, generator=generator) * edges[-1]
        cluster = torch.searchsorted(edges, uniform, right=True).clamp_(max=self.clusters - 1)
        return self.set_latent_codes(z, {"cluster": cluster})

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.clusters and labels is not None:  # training: the real batch's clusters
            z = self.set_latent_codes(z, {"cluster": labels})
        return self.net(z.view(z.shape[0], -1, 1, 1))


class DCGANDiscriminator(Discriminator):
    """``norm`` is D's norm (``gankit.blocks.critic_norm``): BatchNorm2d, or a per-sample one."""

    def __init__(self, *, image_shape: tuple[int, int, int], plan: tuple[int, int], features: int,
                 leaky_slope: float, norm: Norm, clusters: int = 0) -> None:
        super().__init__(image_shape=image_shape)
        self.net = down_stack(plan=plan, image_channels=image_shape[0], features=features,
                              leaky_slope=leaky_slope, norm=norm)
        self.cluster_bias = nn.Embedding(clusters, features) if clusters else None

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.cluster_bias is None or labels is None:  # no clusters, or scored without them
            return self.net(x).view(x.shape[0])
        h = self.net[0](x) + self.cluster_bias(labels)[:, :, None, None].to(x.dtype)
        return self.net[1:](h).view(x.shape[0])


def build_networks(config, data: DataInfo, *, loss: LossSpec | None = None) -> Networks:
    plan = data.upsampling_plan()
    if plan is None:  # supports() rejects these before any network is built
        raise ValueError(f"DCGAN cannot size its networks for {data.image_shape} images")
    # dcgan's default D is the paper's BatchNorm one; --r1 or a per-sample loss swaps it, saying so
    norm = critic_norm_for_loss(loss, variant="dcgan", n_critic=config.n_critic,
                                r1=config.r1)
    generator = DCGANGenerator(latent_dim=config.latent_dim, image_shape=data.image_shape, plan=plan,
                               features=config.g_features, clusters=config.clusters,
                               cluster_shares=data.label_shares if config.clusters else None,
                               noise=config.noise)
    discriminator = DCGANDiscriminator(image_shape=data.image_shape, plan=plan,
                                       features=config.d_features, leaky_slope=config.leaky_slope,
                                       norm=norm, clusters=config.clusters)
    dcgan_init_(generator, std=config.init_std)
    dcgan_init_(discriminator, std=config.init_std)
    if config.spectral_norm:
        spectral_norm_(discriminator)
    return Networks(generator, discriminator)
