"""DCGAN's networks, sized from the image shape.

G: z as a 1x1 map -> transposed conv to (F * 2**(k-1), s, s) -> k-1 strided transposed convs, each
halving the channels and doubling the side -> a last one to the image channels, tanh. BatchNorm and
ReLU after every layer but the last. D mirrors it with strided convs, LeakyReLU, BatchNorm on all
but the first layer, and a last conv over the whole s x s map giving one logit per image.

On MNIST (1x28x28, s = 7, k = 2, F = 64): G 759,681 and D 138,689 parameters. On 3x64x64 (s = 4,
k = 4) these are the paper's (and the PyTorch example's) 64-512-256-128-64 stacks.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from gankit import DataInfo, Discriminator, GankitWarning, Generator, Networks
from gankit_dcgan import image_side_plan

# Losses whose gradient penalty is taken per sample: BatchNorm mixes the samples of a batch, so the
# critic's per-sample gradients are not what the penalty assumes (Gulrajani et al. 2017, sec. 4).
PER_SAMPLE_PENALTY_LOSSES = {"wgan-gp"}


class DCGANGenerator(Generator):
    def __init__(self, *, latent_dim: int, image_shape: tuple[int, int, int], features: int) -> None:
        super().__init__(latent_dim=latent_dim, image_shape=image_shape)
        channels, side, _ = image_shape
        start, doublings = _plan(side)
        widths = [features * 2 ** i for i in reversed(range(doublings))]
        layers: list[nn.Module] = [  # "project and reshape": a full-size kernel on a 1x1 map
            nn.ConvTranspose2d(latent_dim, widths[0], start, 1, 0, bias=False),
            nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True),
        ]
        for wide, narrow in zip(widths, widths[1:]):
            layers += [nn.ConvTranspose2d(wide, narrow, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(narrow), nn.ReLU(inplace=True)]
        layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(z.view(z.shape[0], -1, 1, 1))


class DCGANDiscriminator(Discriminator):
    """``layer_norm=True`` swaps BatchNorm for a per-sample LayerNorm (GroupNorm with one group)."""

    def __init__(self, *, image_shape: tuple[int, int, int], features: int, leaky_slope: float,
                 layer_norm: bool = False) -> None:
        super().__init__(image_shape=image_shape)
        channels, side, _ = image_shape
        start, doublings = _plan(side)
        widths = [features * 2 ** i for i in range(doublings)]
        norm = (lambda width: nn.GroupNorm(1, width)) if layer_norm else nn.BatchNorm2d
        layers: list[nn.Module] = [nn.Conv2d(channels, widths[0], 4, 2, 1),
                                   nn.LeakyReLU(leaky_slope, inplace=True)]
        for narrow, wide in zip(widths, widths[1:]):
            layers += [nn.Conv2d(narrow, wide, 4, 2, 1, bias=False), norm(wide),
                       nn.LeakyReLU(leaky_slope, inplace=True)]
        layers += [nn.Conv2d(widths[-1], 1, start, 1, 0)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x).view(x.shape[0])


def _plan(side: int) -> tuple[int, int]:
    plan = image_side_plan(side)
    if plan is None:  # supports() rejects these before any network is built
        raise ValueError(f"DCGAN cannot size its networks for {side}x{side} images")
    return plan


def init_weights(module: nn.Module, std: float) -> None:
    """The paper's initialisation: weights N(0, std), norm scales N(1, std), biases 0."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.Embedding)):
            nn.init.normal_(layer.weight, 0.0, std)
        elif isinstance(layer, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.normal_(layer.weight, 1.0, std)
        else:
            continue
        if getattr(layer, "bias", None) is not None:
            nn.init.zeros_(layer.bias)


def build_networks(config, data: DataInfo) -> Networks:
    layer_norm = config.loss in PER_SAMPLE_PENALTY_LOSSES
    if layer_norm:
        warnings.warn(
            f"dcgan with --loss {config.loss}: the critic uses LayerNorm instead of BatchNorm, "
            "because the gradient penalty is per sample (Gulrajani et al. 2017)"
            + ("; they also take 5 critic steps per G step: add --set n_critic=5"
               if config.n_critic == 1 else ""),
            GankitWarning, stacklevel=2,
        )
    generator = DCGANGenerator(latent_dim=config.latent_dim, image_shape=data.image_shape,
                               features=config.g_features)
    discriminator = DCGANDiscriminator(image_shape=data.image_shape, features=config.d_features,
                                       leaky_slope=config.leaky_slope, layer_norm=layer_norm)
    init_weights(generator, config.init_std)
    init_weights(discriminator, config.init_std)
    return Networks(generator, discriminator)
