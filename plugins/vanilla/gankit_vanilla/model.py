"""The tutorial's networks: two fully connected nets of four layers each.

G: z (100) -> 256 -> 512 -> 1024 -> C*H*W, ReLU, tanh out (1,486,352 parameters on MNIST).
D: C*H*W -> 1024 -> 512 -> 256 -> 1, ReLU and dropout after each hidden layer, logits out
(1,460,225 parameters on MNIST).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from gankit import DataInfo, Discriminator, Generator, Networks
from gankit.blocks import Dropout, truncated_normal_


class MLPGenerator(Generator):
    def __init__(self, *, latent_dim: int, image_shape: tuple[int, int, int]) -> None:
        super().__init__(latent_dim=latent_dim, image_shape=image_shape)
        self.net = nn.Sequential(
            nn.Linear(latent_dim, 256), nn.ReLU(),
            nn.Linear(256, 512), nn.ReLU(),
            nn.Linear(512, 1024), nn.ReLU(),
            nn.Linear(1024, math.prod(image_shape)), nn.Tanh(),
        )

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(z).view(z.shape[0], *self.image_shape)


class MLPDiscriminator(Discriminator):
    def __init__(self, *, image_shape: tuple[int, int, int], dropout: float) -> None:
        super().__init__(image_shape=image_shape)
        self.net = nn.Sequential(
            nn.Linear(math.prod(image_shape), 1024), nn.ReLU(), Dropout(dropout),
            nn.Linear(1024, 512), nn.ReLU(), Dropout(dropout),
            nn.Linear(512, 256), nn.ReLU(), Dropout(dropout),
            nn.Linear(256, 1),
        )

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x.flatten(1)).squeeze(1)


def build_networks(config, data: DataInfo) -> Networks:
    generator = MLPGenerator(latent_dim=config.latent_dim, image_shape=data.image_shape)
    discriminator = MLPDiscriminator(image_shape=data.image_shape, dropout=config.dropout)
    truncated_normal_(generator, std=config.init_std)
    truncated_normal_(discriminator, std=config.init_std)
    return Networks(generator, discriminator)
