"""LSGAN's networks for 28x28 characters (Mao et al. 2017, Figure 3(b); xudonmao/LSGAN ``mcgan.py``,
trained by ``train_chn.py`` on 28x28 one-channel images), without the class conditioning.

G: z (1024, U(-1, 1)) -> FC 128 x H/4 x W/4, BN, ReLU -> 5x5 deconv stride 2 to 128, BN, ReLU ->
5x5 deconv stride 2 to the image channels, tanh (their sigmoid, for gankit's [-1, 1] images).
D: 5x5 conv stride 2 to C + 256 channels, LeakyReLU 0.2 -> 5x5 conv stride 2 to 64 + 256, BN,
LeakyReLU -> FC 1024, BN, LeakyReLU -> FC 1. The widths are the code's (its "+ 256" is the width
of the label embedding it joins to each layer); the joined label maps and features, and the label
embedding joined to z, are what is left out. Every layer has a bias; weights N(0, 0.02) (conv
weights truncated at 2 std), biases 0, BatchNorm as theirs (epsilon 1e-5, decay 0.9).

On MNIST: G 6,854,529 and D 18,124,059 parameters (D's 5x5 conv to 320 channels, 2.06 M, and its
FC layer over the 7x7x320 map, 16.1 M).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from gankit import DataInfo, Discriminator, Generator, LossSpec, Networks
from gankit.blocks import Norm, critic_norm_for_loss
from gankit_catalogue.nets.lucic import Flat, compare_gan_init_, uniform_latent

def deconv5(wide: int, narrow: int) -> nn.ConvTranspose2d:
    """A 5x5 transposed conv doubling the side (TF's conv2d_transpose with SAME padding)."""
    return nn.ConvTranspose2d(wide, narrow, 5, 2, padding=2, output_padding=1)


class LSGANGenerator(Generator):
    def __init__(self, *, latent_dim: int, image_shape: tuple[int, int, int], features: int) -> None:
        super().__init__(latent_dim=latent_dim, image_shape=image_shape)
        channels, height, width = image_shape
        self.start = (features, height // 4, width // 4)
        self.fc = nn.Sequential(nn.Linear(latent_dim, math.prod(self.start)),
                                nn.BatchNorm1d(math.prod(self.start)), nn.ReLU(inplace=True))
        self.deconv = nn.Sequential(deconv5(features, features), nn.BatchNorm2d(features),
                                    nn.ReLU(inplace=True), deconv5(features, channels), nn.Tanh())

    def sample_latent(self, n, *, device=None, generator=None):
        return uniform_latent(n, self.latent_dim, device=device, generator=generator)  # their z

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.deconv(self.fc(z).view(z.shape[0], *self.start))


class LSGANDiscriminator(Discriminator):
    """``norm``: BatchNorm, or a per-sample norm under a per-sample-penalty loss; ``label_width``: the
    code's y_size, which its conv widths add to the image channels and to 64."""

    def __init__(self, *, image_shape: tuple[int, int, int], norm: Norm, label_width: int = 256) -> None:
        super().__init__(image_shape=image_shape)
        channels, height, width = image_shape
        first, second = channels + label_width, 64 + label_width
        self.net = nn.Sequential(
            nn.Conv2d(channels, first, 5, 2, 2), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(first, second, 5, 2, 2), norm(second), nn.LeakyReLU(0.2, inplace=True),
            nn.Flatten(),
            nn.Linear(second * (height // 4) * (width // 4), 1024), Flat(norm(1024)),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(1024, 1))

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x).view(x.shape[0])


def build_networks(config, data: DataInfo, *, loss: LossSpec | None = None) -> Networks:
    norm = critic_norm_for_loss(loss, variant="lsgan", n_critic=config.n_critic, r1=config.r1)
    generator = LSGANGenerator(latent_dim=config.latent_dim, image_shape=data.image_shape,
                               features=config.g_features)
    discriminator = LSGANDiscriminator(image_shape=data.image_shape, norm=norm,
                                       label_width=config.label_width)
    # Their ops.py initialises as compare_gan's does (both descend from carpedm20's DCGAN-tensorflow).
    return Networks(compare_gan_init_(generator), compare_gan_init_(discriminator))
