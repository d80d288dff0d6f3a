"""R3GAN's networks, small, and the RpGAN + R1 + R2 loss (Huang, Gokaslan, Kuleshov & Tompkin 2024).

The design is brownvc/R3GAN's (R3GAN/Networks.py), at a few hundred thousand parameters:

- **Residual blocks**, no normalisation: ``x + conv1x1(act(grouped conv3x3(act(conv1x1(x)))))``,
  an inverted bottleneck (``expansion`` 2: the middle is twice as wide) whose 3x3 conv is grouped
  with 16 channels a group, as the reference's; ``act`` is a leaky ReLU (0.2) after a learnt bias
  (the convs have none).
- **Fix-up style initialisation**: weights N(0, gain^2 / fan_in), the block's first two layers with
  the leaky ReLU's gain times ``L^(-1/4)`` (L: the network's block count, 3 layers a block), its
  last layer zero, so every block starts as the identity and depth does not blow up the variance.
- **Resampling** by a [1, 3, 3, 1] low-pass filter (transposed for doubling), the channel change a
  1x1 conv at the lower resolution.
- G: z -> a learnt ``s`` x ``s`` basis times a linear map of z -> per stage, blocks, then doubling
  -> a 1x1 conv to the image channels, then tanh (the reference's G is linear; gankit's images lie
  in [-1, 1]). D mirrors it: a 1x1 conv from the image, per stage blocks then halving, and at the
  end a depthwise ``s`` x ``s`` conv and a linear map to one score.

The widths halve per doubling from ``width`` at the smallest map (``s`` = 7 on 28x28 digits; the
reference starts at 4x4, which 28 does not reach), down to the group width; on 28x28 they are 64,
32 and 16 with 2 blocks a stage, 0.12 M parameters each (the reference: 768 a stage on CIFAR-10).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from gankit import DataInfo, Discriminator, DiscriminatorLoss, Generator, Loss, Networks

SLOPE = 0.2
GAIN = math.sqrt(2 / (1 + SLOPE ** 2))  # keeps a leaky ReLU's output variance at its input's
GROUP_WIDTH = 16  # channels in each group of the 3x3 convs (the reference's 1536 / 96)
LAYERS_PER_BLOCK = 3


def msr_(layer: nn.Module, gain: float = 1.0) -> nn.Module:
    """The reference's MSRInitializer: weights N(0, (gain / sqrt(fan_in))^2), biases zero."""
    fan_in = layer.weight[0].numel()
    nn.init.normal_(layer.weight, 0.0, gain / math.sqrt(fan_in))
    if getattr(layer, "bias", None) is not None:
        nn.init.zeros_(layer.bias)
    return layer


def conv(inputs: int, outputs: int, kernel: int = 1, groups: int = 1, gain: float = 1.0) -> nn.Conv2d:
    layer = nn.Conv2d(inputs, outputs, kernel, padding=(kernel - 1) // 2, groups=groups, bias=False)
    return msr_(layer, gain)


class BiasedActivation(nn.Module):
    """A learnt per-channel bias, then a leaky ReLU (the reference puts the convs' biases here)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(x + self.bias.view(1, -1, 1, 1), SLOPE)


class ResidualBlock(nn.Module):
    """``x + f(x)``: a 1x1 expansion, a grouped 3x3 conv and a 1x1 projection (zero at init)."""

    def __init__(self, channels: int, *, expansion: int, total_blocks: int) -> None:
        super().__init__()
        wide = channels * expansion
        gain = GAIN * total_blocks ** (-1 / (2 * LAYERS_PER_BLOCK - 2))
        self.branch = nn.Sequential(
            conv(channels, wide, gain=gain), BiasedActivation(wide),
            conv(wide, wide, 3, groups=max(1, wide // GROUP_WIDTH), gain=gain), BiasedActivation(wide),
            conv(wide, channels, gain=0.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.branch(x)


class Resample(nn.Module):
    """Doubles (``up``) or halves the side with the [1, 3, 3, 1] low-pass filter, per channel."""

    def __init__(self, *, up: bool) -> None:
        super().__init__()
        taps = torch.tensor([1.0, 3.0, 3.0, 1.0])
        kernel = torch.outer(taps, taps) / taps.sum() ** 2
        # A constant of the design, not state: left out of state dicts.
        self.register_buffer("kernel", (kernel * 4 if up else kernel)[None, None], persistent=False)
        self.up = up

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kernel = self.kernel.to(x.dtype).expand(x.shape[1], 1, 4, 4)
        if self.up:
            return F.conv_transpose2d(x, kernel, stride=2, padding=1, groups=x.shape[1])
        return F.conv2d(x, kernel, stride=2, padding=1, groups=x.shape[1])


def stage_widths(width: int, stages: int) -> list[int]:
    """From the smallest map up: ``width``, halved per doubling, never below the group width."""
    return [max(GROUP_WIDTH, width // 2 ** i) for i in range(stages)]


class R3Generator(Generator):
    def __init__(self, *, latent_dim: int, image_shape: tuple[int, int, int], plan: tuple[int, int],
                 width: int, blocks: int, expansion: int) -> None:
        super().__init__(latent_dim=latent_dim, image_shape=image_shape)
        start, doublings = plan
        widths = stage_widths(width, doublings + 1)
        total = blocks * len(widths)
        self.start = start
        self.basis = nn.Parameter(torch.randn(widths[0], start, start))  # the learnt constant map
        self.project = msr_(nn.Linear(latent_dim, widths[0], bias=False))
        layers: list[nn.Module] = []
        for i, channels in enumerate(widths):
            if i:  # the channel change at the lower resolution, then the doubling
                layers += [conv(widths[i - 1], channels) if widths[i - 1] != channels else nn.Identity(),
                           Resample(up=True)]
            layers += [ResidualBlock(channels, expansion=expansion, total_blocks=total)
                       for _ in range(blocks)]
        self.body = nn.Sequential(*layers, conv(widths[-1], image_shape[0]))

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        x = self.basis[None] * self.project(z)[:, :, None, None]
        return torch.tanh(self.body(x))


class R3Discriminator(Discriminator):
    batch_statistics = False  # no normalisation at all: each image is scored on its own

    def __init__(self, *, image_shape: tuple[int, int, int], plan: tuple[int, int], width: int,
                 blocks: int, expansion: int) -> None:
        super().__init__(image_shape=image_shape)
        start, doublings = plan
        widths = stage_widths(width, doublings + 1)[::-1]  # from the image down
        total = blocks * len(widths)
        layers: list[nn.Module] = [conv(image_shape[0], widths[0])]
        for i, channels in enumerate(widths):
            layers += [ResidualBlock(channels, expansion=expansion, total_blocks=total)
                       for _ in range(blocks)]
            if i < len(widths) - 1:  # the halving, then the channel change at the lower resolution
                following = widths[i + 1]
                layers += [Resample(up=False), conv(channels, following) if following != channels
                           else nn.Identity()]
        # The basis: a depthwise conv over the whole s x s map, then a linear map to the score.
        layers += [msr_(nn.Conv2d(widths[-1], widths[-1], start, groups=widths[-1], bias=False)),
                   nn.Flatten(), msr_(nn.Linear(widths[-1], 1, bias=False))]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x).view(x.shape[0])


def build_networks(config: Any, data: DataInfo) -> Networks:
    plan = data.upsampling_plan()
    if plan is None:  # supports() rejects these before any network is built
        raise ValueError(f"R3GAN cannot size its networks for {data.image_shape} images")
    sizes = {"plan": plan, "width": config.width, "blocks": config.blocks, "expansion": config.expansion}
    return Networks(R3Generator(latent_dim=config.latent_dim, image_shape=data.image_shape, **sizes),
                    R3Discriminator(image_shape=data.image_shape, **sizes))


def zero_centred_penalty(scores: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """Per image, ``||grad_v D(v)||^2`` at ``images`` (which require grad), as a graph into D."""
    (gradients,) = torch.autograd.grad(scores.sum(), images, create_graph=True)
    return gradients.flatten(1).pow(2).sum(1)


class RpGANLoss(Loss):
    """RpGAN (relativistic pairing) with R1 on real and R2 on fake images, the paper's objective:
    per pair i, ``L_D = softplus(D(fake_i) - D(real_i)) + r1_gamma / 2 ||grad D(real_i)||^2 +
    r2_gamma / 2 ||grad D(fake_i)||^2`` and ``L_G = softplus(D(real_i) - D(fake_i))``, meaned."""

    critic = True

    def __init__(self, r1_gamma: float = 0.05, r2_gamma: float = 0.05) -> None:
        self.r1_gamma, self.r2_gamma = r1_gamma, r2_gamma

    @classmethod
    def from_config(cls, config: Any) -> "RpGANLoss":
        return cls(getattr(config, "r1_gamma", 0.05), getattr(config, "r2_gamma", 0.05))

    @staticmethod
    def check_pairs(real: torch.Tensor, fake: torch.Tensor) -> None:
        if real.shape[0] != fake.shape[0]:
            raise ValueError(f"RpGAN pairs each real image with a fake: got {real.shape[0]} real and "
                             f"{fake.shape[0]} fake images")

    def discriminator_loss(self, discriminator, real, fake, labels=None):
        self.check_pairs(real, fake)
        real = real.detach().requires_grad_(self.r1_gamma > 0)
        fake = fake.detach().requires_grad_(self.r2_gamma > 0)
        real_logits, fake_logits = discriminator(real, labels), discriminator(fake, labels)
        loss = F.softplus(fake_logits - real_logits)
        if self.r1_gamma:
            loss = loss + self.r1_gamma / 2 * zero_centred_penalty(real_logits, real)
        if self.r2_gamma:
            loss = loss + self.r2_gamma / 2 * zero_centred_penalty(fake_logits, fake)
        return DiscriminatorLoss(loss.mean(), real_logits, fake_logits)

    def generator_loss(self, discriminator, fake, labels=None, *, real=None):
        if real is None:
            raise ValueError("RpGAN pairs fakes with real images: call generator_loss(..., real=...)")
        self.check_pairs(real, fake)
        return F.softplus(discriminator(real.detach(), labels) - discriminator(fake, labels)).mean()
