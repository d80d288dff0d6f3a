"""Drawing images from a generator: the seeded fixed noise every part of gankit shares, label and
latent-code choices from the command line, and saving the result."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from gankit.errors import GankitError
from gankit.host import PluginHost
from gankit._io import atomic_write
from gankit.images import CONDITIONAL_COLUMNS, UNCONDITIONAL_GRID, save_grid

GENERATE_BATCH = 500  # images per forward pass when generating many: bounded memory

MAX_SAMPLES = 100_000  # images per `gankit sample` call as a tensor (~300 MB at 28x28)
MAX_GRID = 10_000  # images in one .png grid (100 x 100)
BATCH = 1000  # images through the generator at once


def fixed_noise(generator: Any, n: int | None = None, *, seed: int = 0,
                device: torch.device | str | None = None,
                labels: list[int] | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Noise from a generator seeded by ``seed`` (the global RNG is untouched), and labels for a
    conditional generator: ``labels`` cycled over the n images, else ``i mod K``.

    With ``n=None`` it is the training grid's input: 16 images (the tutorial's 4x4), or for a
    conditional generator one row of 10 per class. The same seed gives the same z for every
    generator with the same latent size: that is what makes side-by-side comparisons fair.
    """
    rng = torch.Generator().manual_seed(seed)
    classes = generator.num_classes
    if n is None:
        n = classes * CONDITIONAL_COLUMNS if classes else UNCONDITIONAL_GRID
        if classes and labels is None:
            labels = [label for label in range(classes) for _ in range(CONDITIONAL_COLUMNS)]
    z = generator.sample_latent(n, generator=rng)
    chosen = None
    if classes:
        cycle = labels if labels is not None else list(range(classes))
        chosen = torch.tensor([cycle[i % len(cycle)] for i in range(n)])
    elif labels is not None:
        raise GankitError("This variant is unconditional; --labels needs a conditional variant.")
    if device is not None:
        z = z.to(device)
        chosen = chosen.to(device) if chosen is not None else None
    return z, chosen


@torch.no_grad()
def generate(generator: Any, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    """Images in [-1, 1] on the CPU, in eval mode (the generator's mode is restored after)."""
    device = next(generator.parameters()).device
    was_training = generator.training
    generator.eval()
    try:
        images = []
        for start in range(0, z.shape[0], GENERATE_BATCH):
            batch_labels = None if labels is None else labels[start:start + GENERATE_BATCH].to(device)
            images.append(generator(z[start:start + GENERATE_BATCH].to(device), batch_labels).float().cpu())
    finally:
        generator.train(was_training)
    return torch.cat(images).clamp_(-1, 1)


def parse_labels(text: str, num_classes: int, option: str = "--labels") -> list[int]:
    """``"7"``, ``"0-9"`` or ``"1,4,4"`` -> a list of class indices. ``option`` names what the user
    typed in the messages (``--code cluster`` for a categorical code)."""
    labels: list[int] = []
    noun = "labels" if option == "--labels" else "values"
    try:
        for part in text.split(","):
            part = part.strip()
            if "-" in part[1:]:
                low, high = (int(p) for p in part.split("-", 1))
                if low > high:
                    raise GankitError(f"{option} '{text}': the range {part} runs backwards; "
                                      f"write it low-high, e.g. {high}-{low}.")
                ends = [low, high]  # checked before the range is built: 0-99999999 stays cheap
            else:
                low = high = int(part)
                ends = [low]
            if any(not 0 <= label < num_classes for label in ends):
                raise GankitError(f"{option} '{text}': {noun} must be in 0-{num_classes - 1}.")
            labels.extend(range(low, high + 1))
    except ValueError:
        raise GankitError(f"{option} must look like 7, 0-9 or 1,4,4; got '{text}'.") from None
    if not labels:
        raise GankitError(f"{option} '{text}': {noun} must be in 0-{num_classes - 1}.")
    return labels


def parse_codes(items: list[str], generator: Any) -> dict[str, list[float]]:
    """``--code NAME=VALUES`` -> values per code. A categorical code takes ``3``, ``0-9`` or
    ``1,4``; a continuous one ``0.5``, ``-1,0,1`` or ``LOW:HIGH:COUNT`` (evenly spaced)."""
    codes = {code.name: code for code in getattr(generator, "latent_codes", ())}
    if items and not codes:
        raise GankitError("This variant declares no latent codes; --code needs one that does "
                          "(Generator.latent_codes).")
    parsed: dict[str, list[float]] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or name not in codes:
            raise GankitError(f"--code expects NAME=VALUES with NAME one of {', '.join(codes)}; got '{item}'.")
        code = codes[name]
        if code.categories:
            parsed[name] = [float(v) for v in parse_labels(text, code.categories, f"--code {name}")]
            continue
        try:
            if text.count(":") == 2:
                low, high, count = text.split(":")
                parsed[name] = torch.linspace(float(low), float(high), int(count)).tolist()
            else:
                parsed[name] = [float(v) for v in text.split(",")]
        except ValueError:
            raise GankitError(f"--code {name}: a continuous code takes 0.5, -1,0,1 or LOW:HIGH:COUNT; "
                              f"got '{text}'.") from None
    return parsed


def code_grid(codes: dict[str, list[float]], n: int) -> dict[str, torch.Tensor]:
    """Each code's value per image: every combination of the codes' values, the first code
    varying fastest (one grid row per value of the second), cycled over ``n`` images."""
    values: dict[str, torch.Tensor] = {}
    repeat = 1
    for name, choices in codes.items():
        values[name] = torch.tensor([choices[(i // repeat) % len(choices)] for i in range(n)])
        repeat *= len(choices)
    return values


@torch.no_grad()
def draw_samples(loaded: Any, n: int, seed: int, labels: list[int] | None = None,
                 codes: dict[str, list[float]] | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``n`` images in [-1, 1], shape (n, C, H, W), from a :class:`gankit.LoadedRun`'s generator."""
    generator = loaded.generator
    device = next(generator.parameters()).device
    if labels is not None and not generator.num_classes:
        raise GankitError(f"Variant '{loaded.variant}' is unconditional; --labels needs a conditional variant.")
    z, label_tensor = fixed_noise(generator, n, seed=seed, labels=labels)
    if codes:
        z = generator.set_latent_codes(z, code_grid(codes, n))
    label_tensor = label_tensor.to(device) if label_tensor is not None else None
    images = [generator(z[i:i + BATCH].to(device), None if label_tensor is None else
                        label_tensor[i:i + BATCH]).clamp(-1, 1).cpu() for i in range(0, n, BATCH)]
    return torch.cat(images), label_tensor


def default_sample_path(run: Path, seed: int) -> Path:
    """Where ``gankit sample`` writes without ``--out``: ``RUN/samples/``, also when given
    ``RUN/checkpoints/X.pt``; beside any other checkpoint file."""
    run = Path(run)
    if run.is_dir():
        base = run
    elif run.parent.name == "checkpoints" and (run.parent.parent / "config.json").is_file():
        base = run.parent.parent
    else:
        return run.parent / f"{run.stem}-sample-seed{seed}.png"
    return base / "samples" / f"sample-seed{seed}.png"


def check_out(out: Path, force: bool = False) -> Path:
    """Refuse to write ``out`` over a folder, into a run's ``checkpoints/``, or over an existing
    file unless ``force``."""
    out = Path(out)
    if out.is_dir():
        raise GankitError(f"--out '{out}' is a folder; pass a file name, e.g. {out / 'samples.png'}.")
    if out.resolve().parent.name == "checkpoints":
        raise GankitError(f"--out '{out}' is inside a run's checkpoints folder, which only training "
                          "writes; pass a file elsewhere.")
    if out.exists() and not force:
        raise GankitError(f"--out '{out}' exists; pass --force to overwrite it, or another --out.")
    return out


def save_samples(images: torch.Tensor, out: Path, columns: int | None = None) -> None:
    """``.png``: a grid; ``.npy`` / ``.pt``: the tensor (n, C, H, W) in [-1, 1]."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".png", ".npy", ".pt"):
        raise GankitError(f"--out '{out}': unknown format '{suffix}'. Use .png, .npy or .pt.")
    if suffix == ".png":  # written atomically, as the tensors below
        save_grid(images, out, columns or max(1, round(images.shape[0] ** 0.5)))
        return
    with atomic_write(out) as file:  # a full disk or Ctrl-C leaves the old file, never a torn one
        if suffix == ".npy":
            import numpy as np

            np.save(file, images.numpy())
        else:
            torch.save(images, file)


@dataclass
class LoadedGenerator:
    """What :func:`load_generator` returned in gankit 0.1; :func:`gankit.load_run` supersedes it."""

    generator: Any
    variant: str
    dataset: str
    config: Any
    checkpoint: dict[str, Any]


def load_generator(path: Path, *, host: PluginHost | None = None,
                   device: str | torch.device = "cpu") -> LoadedGenerator:
    """A run's generator in eval mode (kept for plugins written for 0.1; use ``gankit.load_run``)."""
    from gankit.loading import load_run

    run = load_run(path, host=host, device=device)
    return LoadedGenerator(run.generator, run.variant, run.dataset, run.config, run.checkpoint)
