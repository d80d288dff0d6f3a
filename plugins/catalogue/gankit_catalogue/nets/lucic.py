"""The networks Lucic et al. (2018) share across every loss they compare: InfoGAN's MNIST networks,
as compare_gan v1 builds them (``compare_gan/src/gans/abstract_gan.py``, ``ops.py``).

G: z -> FC 1024, BN, ReLU -> FC 128 x H/4 x W/4, BN, ReLU -> 4x4 deconv stride 2 to 64 channels,
BN, ReLU -> 4x4 deconv stride 2 to the image channels, tanh.
D: 4x4 conv stride 2 to 64 channels, LeakyReLU 0.2 -> 4x4 conv stride 2 to 128, norm, LeakyReLU ->
FC 1024, norm, LeakyReLU -> FC 1 (the logit). Every layer has a bias (as compare_gan's do).

On MNIST (1x28x28, z of 64): G 6,642,241 and D 6,559,169 parameters; nearly all of each sits in
the fully connected layer next to the 7x7x128 map (6.4 M).

Initialisation as compare_gan's ops: linear and transposed-conv weights N(0, 0.02), conv weights
N(0, 0.02) truncated at two std, biases 0, BatchNorm scales 1 and shifts 0 (epsilon 1e-3).
"""

from __future__ import annotations

import math
from functools import partial

import torch
from torch import nn

from gankit import DataInfo, Discriminator, Generator, LossSpec, Networks
from gankit.blocks import Norm, critic_norm_for_loss, spectral_norm_

BATCHNORM_EPS = 1e-3  # compare_gan's batch_norm(epsilon=0.001)


def uniform_latent(n: int, width: int, *, device=None, generator=None) -> torch.Tensor:
    """z ~ U(-1, 1)^width, drawn from ``generator`` (seeded sampling stays reproducible)."""
    return torch.rand(n, width, device=device, generator=generator).mul_(2).sub_(1)


class Flat(nn.Module):
    """A (C, H, W)-map norm applied to (N, C) features: BatchNorm2d on (N, C, 1, 1) is BatchNorm1d,
    GroupNorm(1, C) there is a LayerNorm over the C features; one ``Norm`` serves both kinds of layer."""

    def __init__(self, norm: nn.Module) -> None:
        super().__init__()
        self.norm = norm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x[:, :, None, None]).flatten(1)


class LucicGenerator(Generator):
    """z ~ U(-1, 1)^latent_dim (the study's prior) -> images in [-1, 1]."""

    def __init__(self, *, latent_dim: int, image_shape: tuple[int, int, int],
                 leaky_slope: float = 0.0) -> None:
        super().__init__(latent_dim=latent_dim, image_shape=image_shape)
        channels, height, width = image_shape
        self.start = (128, height // 4, width // 4)

        def act() -> nn.Module:  # ReLU (the paper's table) or compare_gan code's LeakyReLU
            return nn.LeakyReLU(leaky_slope, inplace=True) if leaky_slope else nn.ReLU(inplace=True)

        self.fc = nn.Sequential(
            nn.Linear(latent_dim, 1024), nn.BatchNorm1d(1024, eps=BATCHNORM_EPS), act(),
            nn.Linear(1024, math.prod(self.start)), nn.BatchNorm1d(math.prod(self.start), eps=BATCHNORM_EPS),
            act())
        self.deconv = nn.Sequential(
            nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.BatchNorm2d(64, eps=BATCHNORM_EPS), act(),
            nn.ConvTranspose2d(64, channels, 4, 2, 1), nn.Tanh())

    def sample_latent(self, n, *, device=None, generator=None):
        return uniform_latent(n, self.latent_dim, device=device, generator=generator)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.deconv(self.fc(z).view(z.shape[0], *self.start))


class LucicDiscriminator(Discriminator):
    """``norm`` is the norm after the second conv and the first FC layer (``None``: none)."""

    def __init__(self, *, image_shape: tuple[int, int, int], norm: Norm | None) -> None:
        super().__init__(image_shape=image_shape)
        channels, height, width = image_shape
        features = 128 * (height // 4) * (width // 4)

        def normed(width: int, flat: bool = False) -> list[nn.Module]:
            if norm is None:
                return []
            return [Flat(norm(width))] if flat else [norm(width)]

        self.net = nn.Sequential(
            nn.Conv2d(channels, 64, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(64, 128, 4, 2, 1), *normed(128), nn.LeakyReLU(0.2, inplace=True),
            nn.Flatten(),
            nn.Linear(features, 1024), *normed(1024, flat=True), nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(1024, 1))

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x).view(x.shape[0])


def compare_gan_init_(module: nn.Module, std: float = 0.02) -> nn.Module:
    """compare_gan v1's initialisation (ops.py), in place; returns ``module``."""
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d):  # tf.truncated_normal_initializer: redrawn beyond 2 std
            nn.init.trunc_normal_(layer.weight, std=std, a=-2 * std, b=2 * std)
        elif isinstance(layer, (nn.Linear, nn.ConvTranspose2d)):
            nn.init.normal_(layer.weight, 0.0, std)
        else:
            continue
        nn.init.zeros_(layer.bias)
    return module  # BatchNorm and GroupNorm keep torch's scale 1, shift 0: TF's defaults too


def critic_norm(config, loss: LossSpec | None) -> Norm | None:
    """D's norm from ``config.d_norm``: BatchNorm (a per-sample LayerNorm when the loss or R1
    penalises D's gradient per sample, saying so in one line), LayerNorm, or none."""
    if config.d_norm == "batch":
        chosen = critic_norm_for_loss(loss, variant="lucic", n_critic=config.n_critic, r1=config.r1)
        return partial(nn.BatchNorm2d, eps=BATCHNORM_EPS) if chosen is nn.BatchNorm2d else chosen
    if config.d_norm == "layer":
        return partial(nn.GroupNorm, 1)
    return None  # "none", and "spectral" (its normalisation is on the weights, added after init)


def build_networks(config, data: DataInfo, *, loss: LossSpec | None = None) -> Networks:
    generator = LucicGenerator(latent_dim=config.latent_dim, image_shape=data.image_shape,
                               leaky_slope=config.g_leaky_slope)
    discriminator = LucicDiscriminator(image_shape=data.image_shape, norm=critic_norm(config, loss))
    compare_gan_init_(generator)
    compare_gan_init_(discriminator)
    if config.d_norm == "spectral":
        spectral_norm_(discriminator)
    return Networks(generator, discriminator)
