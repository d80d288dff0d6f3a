"""Base classes for a variant's networks.

A :class:`Generator` maps noise ``z`` (and labels, if conditional) to images in [-1, 1] of shape
(N, C, H, W). A :class:`Discriminator` maps images (and labels) to **logits** of shape (N,), never
probabilities: every loss works from logits, which keeps it finite where a sigmoid would saturate.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn


class Generator(nn.Module):
    """Noise (and optional labels) -> images in [-1, 1].

    Subclasses call ``super().__init__(latent_dim=..., image_shape=..., num_classes=...)`` and
    implement ``forward(z, labels=None)``.
    """

    def __init__(self, *, latent_dim: int, image_shape: tuple[int, int, int],
                 num_classes: int | None = None) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.image_shape = tuple(image_shape)
        self.num_classes = num_classes

    @property
    def conditional(self) -> bool:
        return self.num_classes is not None

    def sample_latent(self, n: int, *, device: torch.device | str | None = None,
                      generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` noise vectors z ~ N(0, I); override for another prior."""
        return torch.randn(n, self.latent_dim, device=device, generator=generator)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError


class Discriminator(nn.Module):
    """Images (and optional labels) -> logits of shape (N,)."""

    def __init__(self, *, image_shape: tuple[int, int, int], num_classes: int | None = None) -> None:
        super().__init__()
        self.image_shape = tuple(image_shape)
        self.num_classes = num_classes

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError


class Networks(NamedTuple):
    """What a variant's ``build(config, data_info)`` returns."""

    generator: Generator
    discriminator: Discriminator


def truncated_normal_(module: nn.Module, std: float = 0.02) -> None:
    """Weights ~ N(0, std) truncated at two std, biases 0 (the tutorial's initialisation)."""
    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d, nn.Embedding)):
            nn.init.trunc_normal_(layer.weight, std=std, a=-2 * std, b=2 * std)
            if getattr(layer, "bias", None) is not None:
                nn.init.zeros_(layer.bias)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
