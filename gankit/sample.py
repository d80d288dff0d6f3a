"""Sampling from a trained run: rebuild the generator from a checkpoint, draw images, save them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from gankit import runs
from gankit.checkpoint import load_checkpoint
from gankit.config import build_config
from gankit.errors import CheckpointError, GankitError
from gankit.host import PluginHost, get_host


@dataclass
class LoadedGenerator:
    generator: Any
    variant: str
    dataset: str
    config: Any
    checkpoint: dict[str, Any]


def load_generator(path: Path, *, host: PluginHost | None = None,
                   device: str | torch.device = "cpu") -> LoadedGenerator:
    """Rebuild a run's generator from a run folder or checkpoint, in eval mode."""
    host = host or get_host()
    checkpoint_file = runs.resolve_checkpoint(Path(path))
    state = load_checkpoint(checkpoint_file, map_location=device)
    variant = host.variants.get(state["variant"])
    dataset = host.datasets.get(state.get("dataset", "mnist"))
    config = build_config(variant.config_class, base=state["config"])
    networks = variant.build(config, dataset.info)
    try:
        networks.generator.load_state_dict(state["generator"])
    except RuntimeError as error:
        raise CheckpointError(f"'{checkpoint_file}' does not fit variant '{variant.name}' "
                              f"({str(error).splitlines()[0]}).") from None
    generator = networks.generator.to(device).eval()
    return LoadedGenerator(generator, variant.name, dataset.name, config, state)


def parse_labels(text: str, num_classes: int) -> list[int]:
    """``"7"``, ``"0-9"`` or ``"1,4,4"`` -> a list of class indices."""
    labels: list[int] = []
    try:
        for part in text.split(","):
            part = part.strip()
            if "-" in part:
                low, high = (int(p) for p in part.split("-", 1))
                labels.extend(range(low, high + 1))
            else:
                labels.append(int(part))
    except ValueError:
        raise GankitError(f"--labels must look like 7, 0-9 or 1,4,4; got '{text}'.") from None
    bad = [label for label in labels if not 0 <= label < num_classes]
    if not labels or bad:
        raise GankitError(f"--labels '{text}': labels must be in 0-{num_classes - 1}.")
    return labels


@torch.no_grad()
def draw_samples(loaded: LoadedGenerator, n: int, seed: int,
                 labels: list[int] | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``n`` images in [-1, 1], shape (n, C, H, W); labels cycle over ``labels`` if conditional."""
    generator = loaded.generator
    device = next(generator.parameters()).device
    rng = torch.Generator().manual_seed(seed)
    z = generator.sample_latent(n, generator=rng).to(device)
    label_tensor = None
    if generator.num_classes:
        chosen = labels if labels is not None else list(range(generator.num_classes))
        label_tensor = torch.tensor([chosen[i % len(chosen)] for i in range(n)], device=device)
    elif labels is not None:
        raise GankitError(f"Variant '{loaded.variant}' is unconditional; --labels needs a conditional variant.")
    return generator(z, label_tensor).clamp(-1, 1).cpu(), label_tensor


def save_samples(images: torch.Tensor, out: Path, columns: int | None = None) -> None:
    """``.png``: a grid; ``.npy`` / ``.pt``: the tensor (n, C, H, W) in [-1, 1]."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    suffix = out.suffix.lower()
    if suffix == ".png":
        from gankit.train import save_grid

        save_grid(images, out, columns or max(1, round(images.shape[0] ** 0.5)))
    elif suffix == ".npy":
        import numpy as np

        np.save(out, images.numpy())
    elif suffix == ".pt":
        torch.save(images, out)
    else:
        raise GankitError(f"--out '{out}': unknown format '{suffix}'. Use .png, .npy or .pt.")
