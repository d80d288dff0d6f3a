"""SN-GAN's standard CNN (Miyato et al. 2018, Table 3), sized from the image shape.

With ``(s, k) = DataInfo.upsampling_plan()`` and F the features next to the image (64):

- G: z -> dense -> (F * 2**k, s, s), BatchNorm, ReLU -> k transposed convs (4x4, stride 2), each
  halving the channels and doubling the side, with BatchNorm and ReLU -> a 3x3 conv to the image
  channels, tanh.
- D: a 3x3 conv to F, then k pairs of a 4x4 stride-2 conv (same width) and a 3x3 conv (doubling
  it), LeakyReLU after each -> dense from (F * 2**k, s, s) to one logit. Spectral normalisation on
  every layer; no BatchNorm, so every loss (WGAN-GP's per-sample penalty included) takes D as is.

On 3x32x32 (s = 4, k = 3) these are Table 3's networks exactly: G 4x4x512 -> 256 -> 128 -> 64 -> 3;
D 64, 64, 128, 128, 256, 256, 512, dense. On 1x28x28 (s = 7, k = 2) the start map is 7x7 and both
have one doubling fewer: G 7x7x256 -> 128 -> 64 -> 1; D 64, 64, 128, 128, 256, dense from 7x7x256.
Parameters on MNIST: G 2,262,465 and D 710,081 (on 3x32x32: 3,804,739 and 2,935,873).
"""

from __future__ import annotations

import torch
from torch import nn

from gankit import DataInfo, Discriminator, Generator, Networks
from gankit.blocks import dcgan_init_, spectral_norm_


class SNGANGenerator(Generator):
    def __init__(self, *, latent_dim: int, image_shape: tuple[int, int, int], plan: tuple[int, int],
                 features: int) -> None:
        super().__init__(latent_dim=latent_dim, image_shape=image_shape)
        start, doublings = plan
        self.start, self.top = start, features * 2 ** doublings
        # No bias before a BatchNorm: its mean subtraction would cancel it.
        self.dense = nn.Linear(latent_dim, self.top * start * start, bias=False)
        layers: list[nn.Module] = [nn.BatchNorm2d(self.top), nn.ReLU(inplace=True)]
        for i in reversed(range(doublings)):
            wide, narrow = features * 2 ** (i + 1), features * 2 ** i
            layers += [nn.ConvTranspose2d(wide, narrow, 4, 2, 1, bias=False), nn.BatchNorm2d(narrow),
                       nn.ReLU(inplace=True)]
        layers += [nn.Conv2d(features, image_shape[0], 3, 1, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(self.dense(z).view(z.shape[0], self.top, self.start, self.start))


class SNGANDiscriminator(Discriminator):
    def __init__(self, *, image_shape: tuple[int, int, int], plan: tuple[int, int], features: int,
                 leaky_slope: float) -> None:
        super().__init__(image_shape=image_shape)
        start, doublings = plan
        layers: list[nn.Module] = [nn.Conv2d(image_shape[0], features, 3, 1, 1),
                                   nn.LeakyReLU(leaky_slope, inplace=True)]
        for i in range(doublings):
            width = features * 2 ** i
            layers += [nn.Conv2d(width, width, 4, 2, 1), nn.LeakyReLU(leaky_slope, inplace=True),
                       nn.Conv2d(width, 2 * width, 3, 1, 1), nn.LeakyReLU(leaky_slope, inplace=True)]
        self.net = nn.Sequential(*layers, nn.Flatten(),
                                 nn.Linear(features * 2 ** doublings * start * start, 1))

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x).view(x.shape[0])


def build_networks(config, data: DataInfo) -> Networks:
    plan = data.upsampling_plan()  # supports() has refused shapes without one
    generator = SNGANGenerator(latent_dim=config.latent_dim, image_shape=data.image_shape, plan=plan,
                               features=config.g_features)
    discriminator = SNGANDiscriminator(image_shape=data.image_shape, plan=plan,
                                       features=config.d_features, leaky_slope=config.leaky_slope)
    dcgan_init_(generator, std=config.init_std)
    dcgan_init_(discriminator, std=config.init_std)
    spectral_norm_(discriminator)  # after the init: the parametrisation keeps the initialised weight
    return Networks(generator, discriminator)
