"""Latent walks and code traversals (``gankit sample RUN --walk N`` / ``--traverse CODE``).

A *walk* moves through z between seeded endpoints: each row is one walk, through ``legs + 1``
endpoints with ``steps`` images per leg (the endpoints included, shared between legs). It moves the
noise only: spherically (slerp) where z is Gaussian, whose mass lies on a shell that a straight
line would leave, and linearly where it is uniform, whose box a straight line never leaves. A
row's class (``labels``) and declared codes (:class:`gankit.LatentCode`) stay its first
endpoint's, so a walk shows one class's styles; ``--traverse`` is the tool that varies a code.

A *traversal* varies one code (a conditional variant's ``label``, or a declared code) along each
row, every other part of z fixed at the row's seeded draw. Both draw their noise from the seed
only, so the same seed gives the same images.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from gankit._io import atomic_path
from gankit.animation import write_gif
from gankit.errors import GankitError
from gankit.images import grid_image
from gankit.noise import code_grid, fixed_noise, generate

FRAME_MS = 120  # one animation frame's duration
NOISE_KINDS = ("normal", "uniform")
PROBE = 256  # z vectors drawn to tell a prior that declares nothing: N(0, 1) or U(-1, 1)
CONTINUOUS_RANGE = "-2:2:9"  # a continuous code's traversal by default (InfoGAN's figures: -2 to 2)


@dataclass
class Walk:
    """Images (rows, columns, C, H, W) in [-1, 1] on the CPU; ``labels`` each row's class (or
    ``None``); ``values`` the traversed code's value per column (``None`` for a walk)."""

    images: torch.Tensor
    labels: list[int] | None
    values: list[float] | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return self.images.shape[0], self.images.shape[1]


def check_size(rows: int, columns: int) -> None:
    """A walk's or traversal's images fit one grid (``gankit.sample.MAX_GRID``)."""
    from gankit.sample import MAX_GRID

    if rows * columns > MAX_GRID:
        raise GankitError(f"{rows} rows x {columns} columns is {rows * columns} images; one grid holds at "
                          f"most {MAX_GRID}: lower --n, the steps or the values.")


def noise_kind(generator: Any, config: Any = None) -> str:
    """``"normal"`` or ``"uniform"``: what the generator's noise columns are drawn from. Declared
    by the generator's ``noise`` attribute or the config's ``noise`` field; else told from the prior
    itself: ``PROBE`` seeded draws all within [-1, 1] are U(-1, 1) (N(0, 1) draws of that many
    values leave it with probability 1 - 0.68**(256 * latent_dim))."""
    for declared in (getattr(generator, "noise", None), getattr(config, "noise", None)):
        if declared in NOISE_KINDS:
            return declared
    z = generator.sample_latent(PROBE, generator=torch.Generator().manual_seed(0))
    noise = z[:, noise_columns(generator)]
    return "uniform" if bool(noise.abs().le(1).all()) else "normal"


def noise_columns(generator: Any) -> torch.Tensor:
    """A bool mask over z's columns: ``True`` where z is noise, ``False`` in a declared code."""
    mask = torch.ones(generator.latent_dim, dtype=torch.bool)
    for code in getattr(generator, "latent_codes", ()):
        mask[code.index:code.index + code.width] = False
    return mask


def interpolate(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor, kind: str) -> torch.Tensor:
    """Points between rows ``a`` and ``b`` (R, D) at fractions ``t`` (S,): (R, S, D). ``kind``
    "normal": along the great circle, the norm interpolated too (slerp); "uniform": a straight line.
    Computed in float64, so the ends are ``a`` and ``b`` to float32's last bit."""
    a64, b64, t64 = a.double(), b.double(), t.double()[None, :, None]
    line = a64[:, None] + (b64 - a64)[:, None] * t64
    if kind == "uniform":
        return line.to(a.dtype)
    cos = torch.nn.functional.cosine_similarity(a64, b64, dim=1).clamp(-1, 1)
    omega = torch.acos(cos)[:, None, None]
    sin = torch.sin(omega)
    arc = (torch.sin((1 - t64) * omega) * a64[:, None] + torch.sin(t64 * omega) * b64[:, None]) / sin
    # (nearly) parallel ends: the arc is the line (and its formula divides by ~0)
    return torch.where(sin.abs() < 1e-6, line, arc).to(a.dtype)


def walk_latents(endpoints: torch.Tensor, steps: int, kind: str, noise: torch.Tensor) -> torch.Tensor:
    """Rows of z through ``endpoints`` (R, legs + 1, D): (R, legs * (steps - 1) + 1, D). Only the
    ``noise`` columns move; the others keep the first endpoint's values."""
    fractions = torch.linspace(0, 1, steps)
    legs = [endpoints[:, :1]]
    for leg in range(endpoints.shape[1] - 1):
        a, b = endpoints[:, leg, noise], endpoints[:, leg + 1, noise]
        path = endpoints[:, :1].expand(-1, steps - 1, -1).clone()
        path[:, :, noise] = interpolate(a, b, fractions[1:], kind)
        legs.append(path)
    return torch.cat(legs, dim=1)


def _row_inputs(loaded: Any, count: int, seed: int, labels: list[int] | None,
                codes: dict[str, list[float]] | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``count`` seeded z (as ``gankit sample --n count --seed seed`` draws them), ``codes`` set."""
    z, label_tensor = fixed_noise(loaded.generator, count, seed=seed, labels=labels)
    if codes:
        z = loaded.generator.set_latent_codes(z, code_grid(codes, count))
    return z, label_tensor


def _images(generator: Any, z: torch.Tensor, labels: torch.Tensor | None, rows: int) -> torch.Tensor:
    """z (rows, columns, D) and per-row labels -> images (rows, columns, C, H, W)."""
    columns = z.shape[1]
    flat_labels = None if labels is None else labels.repeat_interleave(columns)
    images = generate(generator, z.reshape(rows * columns, -1), flat_labels)
    return images.view(rows, columns, *images.shape[1:])


@torch.no_grad()
def latent_walk(loaded: Any, walks: int, steps: int, *, seed: int = 0, legs: int = 1,
                labels: list[int] | None = None, codes: dict[str, list[float]] | None = None) -> Walk:
    """``walks`` rows, each through ``legs + 1`` seeded endpoints with ``steps`` images a leg.
    Endpoint k of row r is z number ``k * walks + r`` of ``fixed_noise(G, walks * (legs + 1), seed)``:
    image ``k * walks + r`` of ``gankit sample --n walks*(legs+1) --seed seed``, where G has no
    labels or codes (which a row keeps from its first endpoint)."""
    if steps < 2 or legs < 1:
        raise GankitError(f"--walk needs at least 2 steps and --legs at least 1; got {steps} and {legs}.")
    generator = loaded.generator
    z, label_tensor = _row_inputs(loaded, walks * (legs + 1), seed, labels, codes)
    endpoints = z.view(legs + 1, walks, -1).transpose(0, 1)
    row_labels = None if label_tensor is None else label_tensor[:walks].cpu()
    path = walk_latents(endpoints, steps, noise_kind(generator, loaded.config), noise_columns(generator))
    images = _images(generator, path, row_labels, walks)
    return Walk(images, None if row_labels is None else row_labels.tolist())


def traversal_values(loaded: Any, spec: str) -> tuple[str, list[float]]:
    """``--traverse CODE[=VALUES]`` -> the code's name and its values: ``label`` (a conditional
    variant's classes) or a declared code; without VALUES every class or category, or
    ``CONTINUOUS_RANGE`` for a continuous code."""
    from gankit.sample import parse_codes, parse_labels

    generator = loaded.generator
    name, _, text = spec.partition("=")
    declared = {code.name: code for code in getattr(generator, "latent_codes", ())}
    if name in declared:
        code = declared[name]
        default = f"0-{code.categories - 1}" if code.categories else CONTINUOUS_RANGE
        return name, parse_codes([f"{name}={text or default}"], generator)[name]
    if name == "label" and generator.num_classes:
        values = parse_labels(text or f"0-{generator.num_classes - 1}", generator.num_classes,
                              "--traverse label")
        return name, [float(value) for value in values]
    choices = [*(["label"] if generator.num_classes else []), *declared]
    if not choices:
        raise GankitError(f"Variant '{loaded.variant}' has no labels and declares no latent codes: "
                          "nothing to traverse; use --walk.")
    raise GankitError(f"--traverse '{spec}': the variant's codes are {', '.join(choices)}; "
                      "pass one, e.g. --traverse " + choices[0] + ".")


@torch.no_grad()
def traverse(loaded: Any, spec: str, rows: int, *, seed: int = 0, labels: list[int] | None = None,
             codes: dict[str, list[float]] | None = None) -> Walk:
    """``rows`` seeded z (``_row_inputs``), each repeated along a row with the code ``spec`` names
    (``traversal_values``) set to one value a column."""
    name, values = traversal_values(loaded, spec)
    if name in (codes or {}) or (name == "label" and labels is not None):
        raise GankitError(f"--traverse {name} varies {name}; drop the --code or --labels that fixes it.")
    generator = loaded.generator
    z, label_tensor = _row_inputs(loaded, rows, seed, labels, codes)
    columns = len(values)
    check_size(rows, columns)
    grid = z[:, None].expand(-1, columns, -1).reshape(rows * columns, -1)
    if name == "label":
        flat_labels = torch.tensor([int(v) for v in values]).repeat(rows)
    else:
        grid = generator.set_latent_codes(grid, {name: torch.tensor(values).repeat(rows)})
        flat_labels = None if label_tensor is None else label_tensor.cpu().repeat_interleave(columns)
    images = generate(generator, grid, flat_labels)
    row_labels = None if label_tensor is None or name == "label" else label_tensor.cpu().tolist()
    return Walk(images.view(rows, columns, *images.shape[1:]), row_labels, values)


def animation_frames(walk: Walk) -> list[Any]:
    """One picture per column, each a grid of every row's image at that column, there and back
    again (``2 * (columns - 1)`` frames, so the loop has no jump; one frame for one column)."""
    rows, columns = walk.shape
    across = max(1, round(rows ** 0.5))
    order = list(range(columns)) + list(range(columns - 2, 0, -1))
    return [grid_image(walk.images[:, column], across) for column in order]


def save_walk(walk: Walk, out: Path) -> int:
    """``.png``: the grid, a row per walk; ``.gif``: the animation (:func:`animation_frames`).
    Written atomically; returns the frames written (1 for a grid)."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".png", ".gif"):
        raise GankitError(f"--out '{out}': a walk or traversal is written as .png (a grid) or .gif "
                          f"(an animation), not '{suffix}'.")
    rows, columns = walk.shape
    frames = animation_frames(walk) if suffix == ".gif" else \
        [grid_image(walk.images.reshape(rows * columns, *walk.images.shape[2:]), columns)]
    if suffix == ".gif":  # the timelapse's writer: looping, grey frames in grey, no last-frame hold
        write_gif(frames, out, fps=1000 / FRAME_MS, hold=0)
        return len(frames)
    with atomic_path(out) as temp:
        frames[0].save(temp, format="PNG")
    return len(frames)
