"""The conditional GAN's networks: the label, one-hot, joins the input of G and of D.

``mlp``: the tutorial's layer sizes. G: [z, y] (100 + 10) -> 256 -> 512 -> 1024 -> C*H*W, LeakyReLU,
BatchNorm on the 512 and 1024 layers, tanh out. D: [x, y] (784 + 10) -> 1024 -> 512 -> 256 -> 1,
LeakyReLU and dropout after each hidden layer. (The tutorial's own ReLU nets, without BatchNorm,
collapsed to a single digit in this role; docs/variants.md has the runs.)
``conv``: a conditional DCGAN. G: [z, y] as a 1x1 map -> transposed convs (BatchNorm, ReLU), tanh
out. D: the image with one constant map per class (1 on the label's map, 0 elsewhere) -> strided
convs (LeakyReLU, BatchNorm on all but the first layer) -> one logit; both stacks are
:mod:`gankit.blocks`'. On MNIST: mlp G 1,490,448 and D 1,470,465 parameters; conv G 822,401 and
D 148,929.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from gankit import DataInfo, Discriminator, Generator, LossSpec, Networks
from gankit.blocks import Norm, critic_norm_for_loss, dcgan_init_, down_stack, spectral_norm_, one_hot, up_stack


def _require(labels: torch.Tensor | None) -> torch.Tensor:
    if labels is None:
        raise ValueError("cgan's networks are conditional: pass the class labels")
    return labels


class MLPGenerator(Generator):
    def __init__(self, *, latent_dim: int, image_shape: tuple[int, int, int], num_classes: int,
                 leaky_slope: float) -> None:
        super().__init__(latent_dim=latent_dim, image_shape=image_shape, num_classes=num_classes)
        self.net = nn.Sequential(
            nn.Linear(latent_dim + num_classes, 256), nn.LeakyReLU(leaky_slope),
            nn.Linear(256, 512, bias=False), nn.BatchNorm1d(512), nn.LeakyReLU(leaky_slope),
            nn.Linear(512, 1024, bias=False), nn.BatchNorm1d(1024), nn.LeakyReLU(leaky_slope),
            nn.Linear(1024, math.prod(image_shape)), nn.Tanh(),
        )

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        y = one_hot(_require(labels), self.num_classes, like=z)
        return self.net(torch.cat([z, y], dim=1)).view(z.shape[0], *self.image_shape)


class MLPDiscriminator(Discriminator):
    def __init__(self, *, image_shape: tuple[int, int, int], num_classes: int, dropout: float,
                 leaky_slope: float) -> None:
        super().__init__(image_shape=image_shape, num_classes=num_classes)
        self.net = nn.Sequential(
            nn.Linear(math.prod(image_shape) + num_classes, 1024), nn.LeakyReLU(leaky_slope), nn.Dropout(dropout),
            nn.Linear(1024, 512), nn.LeakyReLU(leaky_slope), nn.Dropout(dropout),
            nn.Linear(512, 256), nn.LeakyReLU(leaky_slope), nn.Dropout(dropout),
            nn.Linear(256, 1),
        )

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        y = one_hot(_require(labels), self.num_classes, like=x)
        return self.net(torch.cat([x.flatten(1), y], dim=1)).squeeze(1)


class ConvGenerator(Generator):
    def __init__(self, *, latent_dim: int, image_shape: tuple[int, int, int], num_classes: int,
                 plan: tuple[int, int], features: int) -> None:
        super().__init__(latent_dim=latent_dim, image_shape=image_shape, num_classes=num_classes)
        self.net = up_stack(plan=plan, latent_dim=latent_dim, image_channels=image_shape[0],
                            features=features, extra_channels=num_classes)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        y = one_hot(_require(labels), self.num_classes, like=z)
        return self.net(torch.cat([z, y], dim=1)[:, :, None, None])


class ConvDiscriminator(Discriminator):
    """``norm`` is D's norm (``gankit.blocks.critic_norm``): BatchNorm2d, or a per-sample one."""

    def __init__(self, *, image_shape: tuple[int, int, int], num_classes: int, plan: tuple[int, int],
                 features: int, leaky_slope: float, norm: Norm) -> None:
        super().__init__(image_shape=image_shape, num_classes=num_classes)
        self.net = down_stack(plan=plan, image_channels=image_shape[0], features=features,
                              extra_channels=num_classes, leaky_slope=leaky_slope, norm=norm)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        y = one_hot(_require(labels), self.num_classes, like=x)
        maps = y[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])
        return self.net(torch.cat([x, maps], dim=1)).view(x.shape[0])


def build_networks(config, data: DataInfo, *, loss: LossSpec | None = None) -> Networks:
    classes = data.num_classes
    if config.arch == "mlp":
        generator: Generator = MLPGenerator(latent_dim=config.latent_dim, image_shape=data.image_shape,
                                            num_classes=classes, leaky_slope=config.leaky_slope)
        discriminator: Discriminator = MLPDiscriminator(image_shape=data.image_shape, num_classes=classes,
                                                        dropout=config.dropout,
                                                        leaky_slope=config.leaky_slope)
    else:
        plan = data.upsampling_plan()  # build() has checked that there is one
        norm = critic_norm_for_loss(loss, variant="cgan arch=conv", n_critic=config.n_critic,
                                    r1=config.r1)
        generator = ConvGenerator(latent_dim=config.latent_dim, image_shape=data.image_shape,
                                  num_classes=classes, plan=plan, features=config.g_features)
        discriminator = ConvDiscriminator(image_shape=data.image_shape, num_classes=classes, plan=plan,
                                          features=config.d_features, leaky_slope=config.leaky_slope,
                                          norm=norm)
    dcgan_init_(generator, std=config.init_std)
    dcgan_init_(discriminator, std=config.init_std)
    if config.spectral_norm:
        spectral_norm_(discriminator)
    return Networks(generator, discriminator)
