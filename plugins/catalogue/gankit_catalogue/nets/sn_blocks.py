"""Residual blocks, self-attention and conditional BatchNorm, shared by ``sagan`` and ``projgan``.

The blocks are those of the authors' code for "cGANs with Projection Discriminator"
(pfnet-research/sngan_projection: gen_models/resblocks.py, dis_models/resblocks.py), which SAGAN
(Zhang et al. 2019) builds on:

- :class:`UpBlock` (G): norm, ReLU, 2x nearest upsampling, 3x3 conv, norm, ReLU, 3x3 conv; the
  shortcut is upsampling and a 1x1 conv.
- :class:`DownBlock` (D): ReLU, 3x3 conv, ReLU, 3x3 conv, 2x2 average pooling; the shortcut a 1x1
  conv and the pooling. ``first=True`` is the authors' "optimized" first block: no ReLU before its
  first conv (the input is the image), and the shortcut pools before its conv (cheaper, the same map).
- :class:`SelfAttention`: Zhang et al.'s eq. (1)-(3), with gamma initialised to 0.
- :class:`ConditionalBatchNorm2d`: BatchNorm without its own affine, then a per-class gain and bias
  (de Vries et al. 2017; the projection paper's G), starting near 1 and 0.

``sn=True`` wraps every conv, linear and embedding weight in spectral normalisation (one power
iteration per forward pass in training; torch's ``spectral_norm`` parametrisation). Weights start
as in the authors' code: Glorot-uniform with gain sqrt(2) on the residual convs, 1 elsewhere.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn


def sn(module: nn.Module, enabled: bool = True) -> nn.Module:
    """``module`` with its weight spectrally normalised (when ``enabled``)."""
    return nn.utils.parametrizations.spectral_norm(module) if enabled else module


def glorot_(module: nn.Module, gain: float = 1.0) -> nn.Module:
    # Before spectral_norm wraps it: the parametrisation keeps the initialised weight as "original".
    nn.init.xavier_uniform_(module.weight, gain=gain)
    if getattr(module, "bias", None) is not None:
        nn.init.zeros_(module.bias)
    return module


def conv(in_channels: int, out_channels: int, kernel: int, *, use_sn: bool, gain: float = 1.0,
         bias: bool = True) -> nn.Module:
    layer = nn.Conv2d(in_channels, out_channels, kernel, 1, kernel // 2, bias=bias)
    return sn(glorot_(layer, gain), use_sn)


def linear(in_features: int, out_features: int, *, use_sn: bool, bias: bool = True) -> nn.Module:
    return sn(glorot_(nn.Linear(in_features, out_features, bias=bias)), use_sn)


class ConditionalBatchNorm2d(nn.Module):
    """``BatchNorm2d(affine=False)``, then ``gain[y] * x + bias[y]`` per channel: each class has its
    own scale and shift. Gains start at N(1, init_std) and biases at N(0, init_std): the authors'
    code starts them at exactly 1 and 0, which makes G the same function of z for every class until
    the first step: what gankit's test kit (it compares two classes' images at init) takes for a G
    that ignores its labels."""

    def __init__(self, channels: int, num_classes: int, *, init_std: float = 0.02) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(channels, affine=False)
        self.gain = nn.Embedding(num_classes, channels)
        self.bias = nn.Embedding(num_classes, channels)
        nn.init.normal_(self.gain.weight, 1.0, init_std)
        nn.init.normal_(self.bias.weight, 0.0, init_std)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        gain = self.gain(labels)[:, :, None, None].to(x.dtype)
        bias = self.bias(labels)[:, :, None, None].to(x.dtype)
        return self.norm(x) * gain + bias


class LabelFreeNorm(nn.BatchNorm2d):
    """Plain BatchNorm2d that takes (and ignores) the labels, so one block serves both kinds of G."""

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return super().forward(x)


NormFactory = Callable[[int], nn.Module]  # channels -> a norm called as norm(x, labels)


class UpBlock(nn.Module):
    """G's residual block: doubles the side, ``in_channels`` -> ``out_channels``."""

    def __init__(self, in_channels: int, out_channels: int, *, norm: NormFactory, use_sn: bool) -> None:
        super().__init__()
        self.norm1, self.norm2 = norm(in_channels), norm(out_channels)
        self.conv1 = conv(in_channels, out_channels, 3, use_sn=use_sn, gain=math.sqrt(2))
        self.conv2 = conv(out_channels, out_channels, 3, use_sn=use_sn, gain=math.sqrt(2))
        self.shortcut = conv(in_channels, out_channels, 1, use_sn=use_sn)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = F.interpolate(F.relu(self.norm1(x, labels)), scale_factor=2.0)
        h = self.conv2(F.relu(self.norm2(self.conv1(h), labels)))
        return h + self.shortcut(F.interpolate(x, scale_factor=2.0))


class DownBlock(nn.Module):
    """D's residual block: ``in_channels`` -> ``out_channels``, halving the side if ``down``."""

    def __init__(self, in_channels: int, out_channels: int, *, down: bool, first: bool = False,
                 use_sn: bool = True) -> None:
        super().__init__()
        self.down, self.first = down, first
        hidden = out_channels if first else in_channels  # as the authors' OptimizedBlock and Block
        self.conv1 = conv(in_channels, hidden, 3, use_sn=use_sn, gain=math.sqrt(2))
        self.conv2 = conv(hidden, out_channels, 3, use_sn=use_sn, gain=math.sqrt(2))
        learnt = first or down or in_channels != out_channels
        self.shortcut = conv(in_channels, out_channels, 1, use_sn=use_sn) if learnt else None

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, 2) if self.down else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x if self.first else F.relu(x)
        h = self._pool(self.conv2(F.relu(self.conv1(h))))
        if self.shortcut is None:
            return h + x
        skip = self.shortcut(self._pool(x)) if self.first else self._pool(self.shortcut(x))
        return h + skip


class SelfAttention(nn.Module):
    """SAGAN's attention (Zhang et al. 2019, sec. 3). With f, g, h the 1x1 "key", "query" and "value"
    convs (C -> C/8 channels) and v the output conv (C/8 -> C), location j attends to every i with
    ``beta[j, i] = softmax_i(f(x_i) . g(x_j))``, gets ``o_j = v(sum_i beta[j, i] h(x_i))``, and the block
    returns ``x + gamma * o``. gamma is learnt and starts at 0, so the block starts as the identity
    and the network leans on local (convolutional) cues first, then on distant ones."""

    def __init__(self, channels: int, *, use_sn: bool = True) -> None:
        super().__init__()
        inner = max(1, channels // 8)
        # No biases: the paper's W_f, W_g, W_h, W_v are plain linear maps.
        self.key = conv(channels, inner, 1, use_sn=use_sn, bias=False)
        self.query = conv(channels, inner, 1, use_sn=use_sn, bias=False)
        self.value = conv(channels, inner, 1, use_sn=use_sn, bias=False)
        self.out = conv(inner, channels, 1, use_sn=use_sn, bias=False)
        self.gamma = nn.Parameter(torch.zeros(()))

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """``beta``, shape (N, HW, HW): row j holds location j's weights over every location i."""
        keys, queries = self.key(x).flatten(2), self.query(x).flatten(2)  # (N, C/8, HW)
        return torch.softmax(torch.bmm(queries.transpose(1, 2), keys), dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, height, width = x.shape
        values = self.value(x).flatten(2)  # (N, C/8, HW)
        attended = torch.bmm(values, self.attention(x).transpose(1, 2))  # column j: sum_i beta[j, i] h_i
        return x + self.gamma * self.out(attended.view(n, -1, height, width))
