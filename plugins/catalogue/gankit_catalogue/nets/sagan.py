"""SAGAN's networks, small: residual blocks (:mod:`gankit_catalogue.nets.sn_blocks`) with one
self-attention block at the middle resolution, spectral normalisation on every layer of G and D.

With ``(s, k) = DataInfo.upsampling_plan()`` and C the channels next to the image:

- G: z -> dense -> (C * 2**k, s, s) -> k up blocks halving the channels, self-attention after the
  one that reaches half the image side -> BatchNorm, ReLU, 3x3 conv, tanh.
- D: k down blocks doubling the channels (the first is the authors' "optimized" block),
  self-attention after the first (half the image side) -> a block at C * 2**k -> ReLU, sum over
  the map, dense to one logit. No BatchNorm in D.

On 1x28x28 (s = 7, k = 2) with sagan's defaults (16 channels next to the image in G, 32 in D):
G 7x7x64 -> 32 (14x14, attention) -> 16 (28x28) -> 1; D 32 (14x14, attention) -> 64 (7x7) -> 128.
Parameters on MNIST: G 442,786 and D 159,234.
"""

from __future__ import annotations

import torch
from torch import nn

from gankit import DataInfo, Discriminator, Generator, Networks
from gankit_catalogue.nets.sn_blocks import DownBlock, LabelFreeNorm, SelfAttention, UpBlock, conv, linear


class SAGANGenerator(Generator):
    def __init__(self, *, latent_dim: int, image_shape: tuple[int, int, int], plan: tuple[int, int],
                 channels: int, attention: bool) -> None:
        super().__init__(latent_dim=latent_dim, image_shape=image_shape)
        start, doublings = plan
        self.start, self.top = start, channels * 2 ** doublings
        self.dense = linear(latent_dim, self.top * start * start, use_sn=True)
        widths = [channels * 2 ** i for i in reversed(range(doublings + 1))]
        self.blocks = nn.ModuleList(UpBlock(wide, narrow, norm=LabelFreeNorm, use_sn=True)
                                    for wide, narrow in zip(widths, widths[1:]))
        # After the block that reaches half the image side (the only one if there is one).
        self.attend_after = max(len(self.blocks) - 2, 0)
        self.attention = SelfAttention(widths[self.attend_after + 1]) if attention else None
        self.out = nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU(),
                                 conv(channels, image_shape[0], 3, use_sn=True), nn.Tanh())

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = self.dense(z).view(z.shape[0], self.top, self.start, self.start)
        for i, block in enumerate(self.blocks):
            h = block(h)
            if self.attention is not None and i == self.attend_after:
                h = self.attention(h)
        return self.out(h)


class SAGANDiscriminator(Discriminator):
    def __init__(self, *, image_shape: tuple[int, int, int], plan: tuple[int, int], channels: int,
                 attention: bool) -> None:
        super().__init__(image_shape=image_shape)
        _, doublings = plan
        widths = [image_shape[0]] + [channels * 2 ** i for i in range(doublings)]
        self.blocks = nn.ModuleList(DownBlock(narrow, wide, down=True, first=i == 0)
                                    for i, (narrow, wide) in enumerate(zip(widths, widths[1:])))
        self.attention = SelfAttention(channels) if attention else None  # after the first block
        self.last = DownBlock(widths[-1], 2 * widths[-1], down=False)
        self.dense = linear(2 * widths[-1], 1, use_sn=True)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = x
        for i, block in enumerate(self.blocks):
            h = block(h)
            if self.attention is not None and i == 0:
                h = self.attention(h)
        h = torch.relu(self.last(h)).sum(dim=(2, 3))  # the authors' global sum pooling
        return self.dense(h).view(x.shape[0])


def build_networks(config, data: DataInfo) -> Networks:
    plan = data.upsampling_plan()  # supports() has refused shapes without one
    generator = SAGANGenerator(latent_dim=config.latent_dim, image_shape=data.image_shape, plan=plan,
                               channels=config.g_channels, attention=config.attention)
    discriminator = SAGANDiscriminator(image_shape=data.image_shape, plan=plan,
                                       channels=config.d_channels, attention=config.attention)
    return Networks(generator, discriminator)
