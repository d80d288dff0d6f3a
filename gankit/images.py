"""Image grids: the per-epoch sample grid, ``gankit sample``'s PNGs and the comparison figures.

Every gankit grid is drawn by :func:`grid_pixels`: cells of ``PADDING`` px light grey
(``SEPARATOR``) between and around them. Light grey, not black, because MNIST-like digits are
drawn on black: black separators merge with the cells' own background and the grid reads as one
dark blob, while a light frame outlines each sample (and still reads on colour images).
:func:`save_grid` writes it as a PNG, upscaled by a whole nearest-neighbour factor to at least
``MIN_WIDTH`` px wide (so 28 px digits are visible and every cell's pixels stay exact), with an
optional label ("epoch 12") in a strip above the grid.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gankit._io import atomic_path

if TYPE_CHECKING:  # torch is imported where a grid is drawn: reading a grid's label (timelapse) needs none
    import torch

UNCONDITIONAL_GRID = 16  # the tutorial's 4x4 grid
CONDITIONAL_COLUMNS = 10  # one row per class, this many samples each
PADDING = 2  # px between cells and around the grid, before the upscaling
SEPARATOR = 204  # the separators' grey level (0-255), the label strip's background too
LABEL_INK = 24  # the label's grey level: near-black on the light strip
MIN_WIDTH = 360  # px: a grid narrower than this is upscaled by a whole factor to reach it


def grid_columns(count: int, conditional: bool) -> int:
    return CONDITIONAL_COLUMNS if conditional else max(1, round(math.sqrt(count)))


def grid_pixels(images: torch.Tensor, columns: int) -> torch.Tensor:
    """Images in [-1, 1] (N, C, H, W), C 1 or 3, as one uint8 grid (H', W', 3) at their own size:
    ``columns`` cells a row (fewer if there are fewer images), ``PADDING`` px of ``SEPARATOR``
    grey between and around the cells. A cell holds round((x + 1) * 127.5), x clamped to [-1, 1]."""
    import torch

    images = images.detach().float().cpu()
    while images.dim() < 4:  # (C, H, W) or (H, W): one image
        images = images.unsqueeze(0)
    count, channels, height, width = images.shape
    if count == 0:
        raise ValueError("no images to draw")
    if channels not in (1, 3):
        raise ValueError(f"images with {channels} channels; a grid takes 1 (grey) or 3 (colour)")
    levels = ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).expand(-1, 3, -1, -1)
    across = max(1, min(columns, count))
    down = math.ceil(count / across)
    step_y, step_x = height + PADDING, width + PADDING
    grid = torch.full((3, down * step_y + PADDING, across * step_x + PADDING), SEPARATOR,
                      dtype=torch.uint8)
    for index in range(count):
        y, x = PADDING + (index // across) * step_y, PADDING + (index % across) * step_x
        grid[:, y:y + height, x:x + width] = levels[index]
    return grid.permute(1, 2, 0).contiguous()


def upscale_factor(width: int) -> int:
    """The whole factor that takes a grid ``width`` px wide to at least ``MIN_WIDTH``; 1 if it is."""
    return max(1, math.ceil(MIN_WIDTH / max(1, width)))


def _font(size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)  # Pillow >= 10.1: the bundled scalable font
    except TypeError:  # an older Pillow: its one bitmap size
        return ImageFont.load_default()


def _label_strip(text: str, width: int) -> Any:
    """A strip ``width`` px wide of the separators' grey with ``text`` centred on it, its font
    sized to the width (smaller for a label that would not fit)."""
    from PIL import Image, ImageDraw

    size = min(32, max(12, width // 22))
    font = _font(size)
    while size > 8 and font.getbbox(text)[2] - font.getbbox(text)[0] > width - size:
        size -= 1
        font = _font(size)
    left, top, right, bottom = font.getbbox(text)
    ink_top, ink_bottom = font.getbbox("Ag")[1], font.getbbox("Ag")[3]  # one height, any label
    margin = max(3, size // 2)
    strip = Image.new("RGB", (width, ink_bottom - ink_top + 2 * margin), (SEPARATOR,) * 3)
    x = max(0, (width - (right - left)) // 2 - left)
    ImageDraw.Draw(strip).text((x, margin - ink_top), text, font=font, fill=(LABEL_INK,) * 3)
    return strip


def grid_image(images: torch.Tensor, columns: int, *, label: str | None = None) -> Any:
    """The PIL image :func:`save_grid` writes: the grid, upscaled, under its label if any."""
    from PIL import Image

    grid = Image.fromarray(grid_pixels(images, columns).numpy())
    scale = upscale_factor(grid.width)
    if scale > 1:
        grid = grid.resize((grid.width * scale, grid.height * scale), Image.Resampling.NEAREST)
    if not label:
        return grid
    strip = _label_strip(label, grid.width)
    picture = Image.new("RGB", (grid.width, strip.height + grid.height), (SEPARATOR,) * 3)
    picture.paste(strip, (0, 0))
    picture.paste(grid, (0, strip.height))
    return picture


def save_grid(images: torch.Tensor, path: Path, columns: int, *, label: str | None = None) -> None:
    """Images in [-1, 1] (N, C, H, W) as one PNG grid of ``columns`` columns, written atomically:
    upscaled to at least ``MIN_WIDTH`` px wide, with ``label`` (e.g. "epoch 12") above it if given."""
    picture = grid_image(images, columns, label=label)
    with atomic_path(Path(path)) as temp:
        picture.save(temp, format="PNG")
