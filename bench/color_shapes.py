"""Make a folder of coloured shapes to train on: circles, squares and triangles of random size,
position and colour on a plain background of another colour, one sub-folder per shape.

    python bench/color_shapes.py OUT_DIR [--count 6000] [--size 32] [--seed 0]

The images are drawn at 4x and downsampled (antialiased edges), written as PNG. The sub-folders
make it a labelled set for ``gankit.data.folder_dataset`` as well as a plain ``imagefolder``.
docs/datasets.md trains dcgan on 6,000 of them.
"""

from __future__ import annotations

import argparse
import colorsys
import random
from pathlib import Path

from PIL import Image, ImageDraw

SHAPES = ("circles", "squares", "triangles")


def colour(rng: random.Random, lightness: tuple[float, float]) -> tuple[int, int, int]:
    r, g, b = colorsys.hls_to_rgb(rng.random(), rng.uniform(*lightness), rng.uniform(0.5, 1.0))
    return int(r * 255), int(g * 255), int(b * 255)


def draw(shape: str, size: int, rng: random.Random) -> Image.Image:
    scale = 4
    side = size * scale
    image = Image.new("RGB", (side, side), colour(rng, (0.1, 0.35)))  # dark background
    pen = ImageDraw.Draw(image)
    radius = rng.uniform(0.22, 0.4) * side
    cx, cy = (rng.uniform(radius, side - radius) for _ in range(2))
    fill = colour(rng, (0.5, 0.8))  # a light shape on it
    if shape == "circles":
        pen.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=fill)
    elif shape == "squares":
        half = radius * 0.85
        pen.rectangle((cx - half, cy - half, cx + half, cy + half), fill=fill)
    else:
        pen.polygon([(cx, cy - radius), (cx - radius * 0.95, cy + radius * 0.75),
                     (cx + radius * 0.95, cy + radius * 0.75)], fill=fill)
    return image.resize((size, size), Image.Resampling.LANCZOS)


def make(out: Path, count: int, size: int, seed: int) -> None:
    rng = random.Random(seed)
    for index in range(count):
        shape = SHAPES[index % len(SHAPES)]
        folder = out / shape
        folder.mkdir(parents=True, exist_ok=True)
        draw(shape, size, rng).save(folder / f"{index:05d}.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--count", type=int, default=6000)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    make(args.out, args.count, args.size, args.seed)
    print(f"wrote {args.count} {args.size}x{args.size} images to {args.out}")


if __name__ == "__main__":
    main()
