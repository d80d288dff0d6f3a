"""Image grids: the per-epoch sample grid, ``gankit sample``'s PNGs and the comparison figures."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from gankit._io import atomic_path

UNCONDITIONAL_GRID = 16  # the tutorial's 4x4 grid
CONDITIONAL_COLUMNS = 10  # one row per class, this many samples each


def grid_columns(count: int, conditional: bool) -> int:
    return CONDITIONAL_COLUMNS if conditional else max(1, round(math.sqrt(count)))


def save_grid(images: torch.Tensor, path: Path, columns: int) -> None:
    """Images in [-1, 1] as one PNG grid, written atomically."""
    from torchvision.utils import save_image

    with atomic_path(Path(path)) as temp:
        save_image(images.float().cpu(), temp, nrow=columns, normalize=True, value_range=(-1, 1),
                   padding=2, format="png")
