"""The disturbances of the FID paper, to check that a metric ranks what the eye ranks.

Heusel et al. (NeurIPS 2017, Fig. 1 and appendix A1) disturbed real images at rising levels and
showed that FID rises with the level in every case. These functions reproduce their six
disturbances for grey images in [-1, 1], shape (N, C, H, W); each takes a ``level`` (0 leaves the
images unchanged) and draws its randomness from a seeded generator, so a ladder is the same every
time. :data:`LADDERS` holds the four rising levels gankit's fidelity suite uses for each.

Where the paper's images were 3-channel photographs and these are 28x28 digits or clothes:
black rectangles on a black background only erase strokes (which is what they do here), the
swirl's radius is the image's width, and "contamination with ImageNet" becomes contamination with
the other dataset (MNIST with Fashion-MNIST and the other way round).
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

BLACK, WHITE = -1.0, 1.0


def _rng(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def gaussian_noise(images: torch.Tensor, alpha: float, seed: int = 0) -> torch.Tensor:
    """(1 - alpha) X + alpha N, N Gaussian noise spanning the pixel range (the paper's recipe)."""
    noise = torch.randn(images.shape, generator=_rng(seed)).mul_(0.5).clamp_(BLACK, WHITE)
    return ((1 - alpha) * images + alpha * noise).clamp_(BLACK, WHITE)


def gaussian_blur(images: torch.Tensor, sigma: float, seed: int = 0) -> torch.Tensor:
    """Blur with a Gaussian kernel of standard deviation ``sigma`` pixels (zero-padded: black)."""
    if sigma <= 0:
        return images.clone()
    radius = min(math.ceil(3 * sigma), images.shape[-1] - 1)
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-offsets ** 2 / (2 * sigma ** 2))
    kernel /= kernel.sum()
    channels = images.shape[1]
    lifted = images.float() - BLACK  # blur the ink, so the black background stays black
    horizontal = kernel.view(1, 1, 1, -1).repeat(channels, 1, 1, 1)
    vertical = kernel.view(1, 1, -1, 1).repeat(channels, 1, 1, 1)
    lifted = F.conv2d(lifted, horizontal, padding=(0, radius), groups=channels)
    lifted = F.conv2d(lifted, vertical, padding=(radius, 0), groups=channels)
    return (lifted + BLACK).clamp_(BLACK, WHITE)


def black_rectangles(images: torch.Tensor, alpha: float, seed: int = 0, count: int = 5) -> torch.Tensor:
    """``count`` black squares of side alpha x image size at random places in each image."""
    out = images.clone()
    n, _, height, width = images.shape
    side = round(alpha * min(height, width))
    if side <= 0:
        return out
    rng = _rng(seed)
    tops = torch.randint(0, height - side + 1, (n, count), generator=rng)
    lefts = torch.randint(0, width - side + 1, (n, count), generator=rng)
    rows = torch.arange(height).view(1, 1, height, 1)
    cols = torch.arange(width).view(1, 1, 1, width)
    covered = ((rows >= tops[..., None, None]) & (rows < tops[..., None, None] + side)
               & (cols >= lefts[..., None, None]) & (cols < lefts[..., None, None] + side))
    out[covered.any(dim=1, keepdim=True).expand_as(out)] = BLACK
    return out


def swirl(images: torch.Tensor, strength: float, seed: int = 0, radius: float | None = None) -> torch.Tensor:
    """scikit-image's swirl about the image centre: a point at distance rho is turned by
    ``strength * exp(-rho / r)`` radians, r = ln 2 * radius / 5 (radius: the image's width)."""
    n, _, height, width = images.shape
    radius = radius if radius is not None else float(width)
    scale = math.log(2) * radius / 5
    ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float32),
                            torch.arange(width, dtype=torch.float32), indexing="ij")
    cy, cx = (height - 1) / 2, (width - 1) / 2
    rho = torch.sqrt((ys - cy) ** 2 + (xs - cx) ** 2)
    theta = torch.atan2(ys - cy, xs - cx) + strength * torch.exp(-rho / scale)
    source_x, source_y = cx + rho * torch.cos(theta), cy + rho * torch.sin(theta)
    grid = torch.stack([source_x / (width - 1) * 2 - 1, source_y / (height - 1) * 2 - 1], dim=-1)
    grid = grid.unsqueeze(0).expand(n, -1, -1, -1)
    moved = F.grid_sample(images.float() - BLACK, grid, mode="bilinear", padding_mode="zeros",
                          align_corners=True)
    return (moved + BLACK).clamp_(BLACK, WHITE)


def salt_and_pepper(images: torch.Tensor, fraction: float, seed: int = 0) -> torch.Tensor:
    """Set ``fraction`` of the pixels to black or white (each with probability 1/2)."""
    rng = _rng(seed)
    hit = torch.rand(images.shape, generator=rng) < fraction
    white = torch.rand(images.shape, generator=rng) < 0.5
    out = images.clone()
    out[hit & white] = WHITE
    out[hit & ~white] = BLACK
    return out


def contamination(images: torch.Tensor, fraction: float, seed: int = 0, *,
                  other: torch.Tensor) -> torch.Tensor:
    """Replace ``fraction`` of the images (chosen at random) by images of ``other``."""
    n = images.shape[0]
    count = round(fraction * n)
    if count > other.shape[0]:
        raise ValueError(f"contamination needs {count} other images, got {other.shape[0]}")
    rng = _rng(seed)
    out = images.clone()
    where = torch.randperm(n, generator=rng)[:count]
    out[where] = other[torch.randperm(other.shape[0], generator=rng)[:count]].to(out)
    return out


Disturbance = Callable[..., torch.Tensor]

# name -> (function, the four rising levels, what a level is). The paper's levels where they fit
# 28x28 images; each ladder's first level is already visible to the eye.
LADDERS: dict[str, tuple[Disturbance, tuple[float, ...], str]] = {
    "gaussian noise": (gaussian_noise, (0.1, 0.25, 0.5, 0.75), "mixing weight of the noise"),
    "gaussian blur": (gaussian_blur, (0.5, 1.0, 2.0, 4.0), "kernel sigma, pixels"),
    "black rectangles": (black_rectangles, (0.1, 0.2, 0.3, 0.45), "square side / image side, 5 squares"),
    "swirl": (swirl, (1.0, 2.0, 4.0, 8.0), "swirl strength"),
    "salt and pepper": (salt_and_pepper, (0.05, 0.1, 0.2, 0.3), "share of pixels hit"),
    "contamination": (contamination, (0.1, 0.25, 0.5, 0.75), "share replaced by the other dataset"),
}
