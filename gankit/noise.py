"""The seeded noise every part of gankit shares (the epoch grid, ``sample``, ``evaluate``,
``compare``), and images drawn from a generator with it."""

from __future__ import annotations

from typing import Any

import torch

from gankit.errors import GankitError
from gankit.images import CONDITIONAL_COLUMNS, UNCONDITIONAL_GRID

GENERATE_BATCH = 500  # images per forward pass when generating many: bounded memory
BATCH = 1000  # images through the generator at once in draw_samples


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
        raise GankitError(f"Variant '{loaded.variant}' is unconditional; --labels needs a conditional "
                          "variant.")
    z, label_tensor = fixed_noise(generator, n, seed=seed, labels=labels)
    if codes:
        z = generator.set_latent_codes(z, code_grid(codes, n))
    label_tensor = label_tensor.to(device) if label_tensor is not None else None
    images = [generator(z[i:i + BATCH].to(device), None if label_tensor is None else
                        label_tensor[i:i + BATCH]).clamp(-1, 1).cpu() for i in range(0, n, BATCH)]
    return torch.cat(images), label_tensor
