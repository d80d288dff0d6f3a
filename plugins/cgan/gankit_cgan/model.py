"""The conditional GAN's networks: the label, one-hot, joins the input of G and of D.

``mlp``: the tutorial's layer sizes. G: [z, y] (100 + 10) -> 256 -> 512 -> 1024 -> C*H*W, LeakyReLU,
BatchNorm on the 512 and 1024 layers, tanh out. D: [x, y] (784 + 10) -> 1024 -> 512 -> 256 -> 1,
LeakyReLU and dropout after each hidden layer. (The tutorial's own ReLU nets, without BatchNorm,
collapsed to a single digit in this role; docs/variants.md has the runs.)
``conv``: a conditional DCGAN. G: [z, y] as a 1x1 map -> transposed convs (BatchNorm, ReLU), tanh
out. D: the image with one constant map per class (1 on the label's map, 0 elsewhere) -> strided
convs (LeakyReLU, BatchNorm on all but the first layer) -> one logit. On MNIST: mlp G 1,490,448 and
D 1,470,465 parameters; conv G 822,401 and D 148,929.
"""

from __future__ import annotations

import math
import warnings

import torch
import torch.nn.functional as F
from torch import nn

from gankit import DataInfo, Discriminator, GankitWarning, Generator, Networks
from gankit_cgan import conv_side_plan

# Losses whose gradient penalty is taken per sample: BatchNorm mixes the samples of a batch, so the
# critic's per-sample gradients are not what the penalty assumes (Gulrajani et al. 2017, sec. 4).
PER_SAMPLE_PENALTY_LOSSES = {"wgan-gp"}


def one_hot(labels: torch.Tensor, num_classes: int, like: torch.Tensor) -> torch.Tensor:
    return F.one_hot(labels.long(), num_classes).to(like.dtype)


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
        y = one_hot(_require(labels), self.num_classes, z)
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
        y = one_hot(_require(labels), self.num_classes, x)
        return self.net(torch.cat([x.flatten(1), y], dim=1)).squeeze(1)


class ConvGenerator(Generator):
    def __init__(self, *, latent_dim: int, image_shape: tuple[int, int, int], num_classes: int,
                 features: int) -> None:
        super().__init__(latent_dim=latent_dim, image_shape=image_shape, num_classes=num_classes)
        channels, side, _ = image_shape
        start, doublings = conv_side_plan(side)
        widths = [features * 2 ** i for i in reversed(range(doublings))]
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim + num_classes, widths[0], start, 1, 0, bias=False),
            nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True),
        ]
        for wide, narrow in zip(widths, widths[1:]):
            layers += [nn.ConvTranspose2d(wide, narrow, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(narrow), nn.ReLU(inplace=True)]
        layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        y = one_hot(_require(labels), self.num_classes, z)
        return self.net(torch.cat([z, y], dim=1)[:, :, None, None])


class ConvDiscriminator(Discriminator):
    """``layer_norm=True`` swaps BatchNorm for a per-sample LayerNorm (GroupNorm with one group)."""

    def __init__(self, *, image_shape: tuple[int, int, int], num_classes: int, features: int,
                 leaky_slope: float, layer_norm: bool = False) -> None:
        super().__init__(image_shape=image_shape, num_classes=num_classes)
        channels, side, _ = image_shape
        start, doublings = conv_side_plan(side)
        widths = [features * 2 ** i for i in range(doublings)]
        norm = (lambda width: nn.GroupNorm(1, width)) if layer_norm else nn.BatchNorm2d
        layers: list[nn.Module] = [nn.Conv2d(channels + num_classes, widths[0], 4, 2, 1),
                                   nn.LeakyReLU(leaky_slope, inplace=True)]
        for narrow, wide in zip(widths, widths[1:]):
            layers += [nn.Conv2d(narrow, wide, 4, 2, 1, bias=False), norm(wide),
                       nn.LeakyReLU(leaky_slope, inplace=True)]
        layers += [nn.Conv2d(widths[-1], 1, start, 1, 0)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        y = one_hot(_require(labels), self.num_classes, x)
        maps = y[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])
        return self.net(torch.cat([x, maps], dim=1)).view(x.shape[0])


def init_weights(module: nn.Module, std: float) -> None:
    """Weights N(0, std), norm scales N(1, std), biases 0 (DCGAN's initialisation)."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(layer.weight, 0.0, std)
        elif isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.normal_(layer.weight, 1.0, std)
        else:
            continue
        if layer.bias is not None:
            nn.init.zeros_(layer.bias)


def build_networks(config, data: DataInfo) -> Networks:
    classes = data.num_classes
    if config.arch == "mlp":
        generator: Generator = MLPGenerator(latent_dim=config.latent_dim, image_shape=data.image_shape,
                                            num_classes=classes, leaky_slope=config.leaky_slope)
        discriminator: Discriminator = MLPDiscriminator(image_shape=data.image_shape, num_classes=classes,
                                                        dropout=config.dropout,
                                                        leaky_slope=config.leaky_slope)
    else:
        layer_norm = config.loss in PER_SAMPLE_PENALTY_LOSSES
        if layer_norm:
            warnings.warn(
                f"cgan arch=conv with --loss {config.loss}: the critic uses LayerNorm instead of "
                "BatchNorm, because the gradient penalty is per sample (Gulrajani et al. 2017)"
                + ("; they also take 5 critic steps per G step: add --set n_critic=5"
                   if config.n_critic == 1 else ""),
                GankitWarning, stacklevel=2,
            )
        generator = ConvGenerator(latent_dim=config.latent_dim, image_shape=data.image_shape,
                                  num_classes=classes, features=config.g_features)
        discriminator = ConvDiscriminator(image_shape=data.image_shape, num_classes=classes,
                                          features=config.d_features, leaky_slope=config.leaky_slope,
                                          layer_norm=layer_norm)
    init_weights(generator, config.init_std)
    init_weights(discriminator, config.init_std)
    return Networks(generator, discriminator)
