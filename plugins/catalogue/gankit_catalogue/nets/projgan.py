"""The projection cGAN's networks: the authors' CIFAR-10 ResNets (pfnet-research/sngan_projection,
gen_models/resnet_32.py and dis_models/snresnet_32.py), narrower.

With ``(s, k) = DataInfo.upsampling_plan()``:

- G: z -> dense -> (C_G, s, s) -> k up blocks at C_G channels whose BatchNorms are conditional (a
  gain and a bias per class) -> BatchNorm, ReLU, 3x3 conv, tanh. No spectral norm in G (the paper
  has it in D only).
- D: phi(x) = the sum over the map of ReLU(4 residual blocks at C_D channels, the first two halving
  the side); the logit is ``linear(phi) + <embed(y), phi>``: the projection. Spectral norm on every
  conv, the linear layer and the class embedding; no BatchNorm.

On 1x28x28 (s = 7, k = 2) with C_G = C_D = 32: G 7x7 -> 14 -> 28; D 28 -> 14 -> 7 -> 7 -> 7.
Parameters on MNIST (10 classes): G 244,289 and D 66,528.
"""

from __future__ import annotations

import torch
from torch import nn

from gankit import DataInfo, Discriminator, Generator, Networks
from gankit_catalogue.nets.sn_blocks import ConditionalBatchNorm2d, DownBlock, UpBlock, conv, linear, sn


def _require(labels: torch.Tensor | None) -> torch.Tensor:
    if labels is None:
        raise ValueError("projgan's generator is conditional: pass the class labels")
    return labels


class ProjectionGenerator(Generator):
    def __init__(self, *, latent_dim: int, image_shape: tuple[int, int, int], num_classes: int,
                 plan: tuple[int, int], channels: int) -> None:
        super().__init__(latent_dim=latent_dim, image_shape=image_shape, num_classes=num_classes)
        start, doublings = plan
        self.start, self.channels = start, channels
        self.dense = linear(latent_dim, channels * start * start, use_sn=False)

        def norm(width: int) -> nn.Module:
            return ConditionalBatchNorm2d(width, num_classes)

        self.blocks = nn.ModuleList(UpBlock(channels, channels, norm=norm, use_sn=False)
                                    for _ in range(doublings))
        self.out = nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU(),
                                 conv(channels, image_shape[0], 3, use_sn=False), nn.Tanh())

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        labels = _require(labels)
        h = self.dense(z).view(z.shape[0], self.channels, self.start, self.start)
        for block in self.blocks:
            h = block(h, labels)
        return self.out(h)


class ProjectionDiscriminator(Discriminator):
    def __init__(self, *, image_shape: tuple[int, int, int], num_classes: int, channels: int) -> None:
        super().__init__(image_shape=image_shape, num_classes=num_classes)
        self.blocks = nn.Sequential(DownBlock(image_shape[0], channels, down=True, first=True),
                                    DownBlock(channels, channels, down=True),
                                    DownBlock(channels, channels, down=False),
                                    DownBlock(channels, channels, down=False))
        self.linear = linear(channels, 1, use_sn=True, bias=False)  # the authors' l5: no bias
        embed = nn.Embedding(num_classes, channels)
        nn.init.xavier_uniform_(embed.weight)
        self.embed = sn(embed)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """phi(x), shape (N, channels): the blocks' map, ReLU, summed over its positions."""
        return torch.relu(self.blocks(x)).sum(dim=(2, 3))

    def projection(self, phi: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """``<embed(y), phi(x)>`` per image: how much phi points the way of the label's embedding."""
        return (self.embed(labels).to(phi.dtype) * phi).sum(dim=1)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        phi = self.features(x)
        logits = self.linear(phi).view(x.shape[0])
        # Without labels, D scores the unconditional part only (the authors' code does the same).
        return logits if labels is None else logits + self.projection(phi, labels)


def build_networks(config, data: DataInfo) -> Networks:
    plan = data.upsampling_plan()  # supports() has refused shapes without one
    generator = ProjectionGenerator(latent_dim=config.latent_dim, image_shape=data.image_shape,
                                    num_classes=data.num_classes, plan=plan, channels=config.g_channels)
    discriminator = ProjectionDiscriminator(image_shape=data.image_shape, num_classes=data.num_classes,
                                            channels=config.d_channels)
    return Networks(generator, discriminator)
