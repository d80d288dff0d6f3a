"""DCGAN's networks, sized from the image shape, on :mod:`gankit.blocks`.

G: z as a 1x1 map -> transposed conv to (F * 2**(k-1), s, s) -> k-1 strided transposed convs, each
halving the channels and doubling the side -> a last one to the image channels, tanh. BatchNorm and
ReLU after every layer but the last. D mirrors it with strided convs, LeakyReLU, BatchNorm on all
but the first layer, and a last conv over the whole s x s map giving one logit per image.
``(s, k)`` is ``DataInfo.upsampling_plan()``.

On MNIST (1x28x28, s = 7, k = 2, F = 64): G 759,681 and D 138,689 parameters. On 3x64x64 (s = 4,
k = 4) these are the paper's (and the PyTorch example's) 64-512-256-128-64 stacks.
"""

from __future__ import annotations

import torch

from gankit import DataInfo, Discriminator, Generator, LossSpec, Networks
from gankit.blocks import Norm, critic_norm_for_loss, dcgan_init_, down_stack, spectral_norm_, up_stack


class DCGANGenerator(Generator):
    def __init__(self, *, latent_dim: int, image_shape: tuple[int, int, int], plan: tuple[int, int],
                 features: int) -> None:
        super().__init__(latent_dim=latent_dim, image_shape=image_shape)
        self.net = up_stack(plan=plan, latent_dim=latent_dim, image_channels=image_shape[0],
                            features=features)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(z.view(z.shape[0], -1, 1, 1))


class DCGANDiscriminator(Discriminator):
    """``norm`` is D's norm (``gankit.blocks.critic_norm``): BatchNorm2d, or a per-sample one."""

    def __init__(self, *, image_shape: tuple[int, int, int], plan: tuple[int, int], features: int,
                 leaky_slope: float, norm: Norm) -> None:
        super().__init__(image_shape=image_shape)
        self.net = down_stack(plan=plan, image_channels=image_shape[0], features=features,
                              leaky_slope=leaky_slope, norm=norm)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x).view(x.shape[0])


def build_networks(config, data: DataInfo, *, loss: LossSpec | None = None) -> Networks:
    plan = data.upsampling_plan()
    if plan is None:  # supports() rejects these before any network is built
        raise ValueError(f"DCGAN cannot size its networks for {data.image_shape} images")
    # dcgan's defaults use R1 (docs/variants.md), so its default D has the per-sample norm
    norm = critic_norm_for_loss(loss, variant="dcgan", n_critic=config.n_critic,
                                r1=config.r1, r1_by_default=True)
    generator = DCGANGenerator(latent_dim=config.latent_dim, image_shape=data.image_shape, plan=plan,
                               features=config.g_features)
    discriminator = DCGANDiscriminator(image_shape=data.image_shape, plan=plan,
                                       features=config.d_features, leaky_slope=config.leaky_slope,
                                       norm=norm)
    dcgan_init_(generator, std=config.init_std)
    dcgan_init_(discriminator, std=config.init_std)
    if config.spectral_norm:
        spectral_norm_(discriminator)
    return Networks(generator, discriminator)
