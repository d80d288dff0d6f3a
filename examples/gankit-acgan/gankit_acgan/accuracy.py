"""The classifier head's accuracy on real images and on a run's samples (``gankit acgan-accuracy``).

This is D's own opinion, useful to watch AC-GAN train; ``gankit evaluate`` judges samples with an
independent classifier, which is the number to report.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from gankit import DataRequest, GankitError, get_dataset, load_run

CHUNK = 500  # images per forward pass: bounded memory for any --n


@dataclass
class Accuracy:
    real_accuracy: float
    real_count: int
    fake_accuracy: float
    fake_count: int
    source: str


@torch.no_grad()
def classifier_accuracy(run: Path, *, n: int = 1000, split: str = "test",
                        data_root: Path | None = None) -> Accuracy:
    loaded = load_run(run)  # both networks, in eval mode
    if loaded.variant != "acgan":
        raise GankitError(f"'{run}' is a '{loaded.variant}' run; acgan-accuracy needs an acgan run.")
    dataset = get_dataset(loaded.dataset)
    discriminator = loaded.discriminator

    data = dataset.load(DataRequest(root=data_root, split=split, download=False))  # None: the default root
    # A seeded random subset: some sources (the bundled MNIST subset) are sorted by class.
    chosen = torch.randperm(len(data.images), generator=torch.Generator().manual_seed(0))[:n]
    images = data.images[chosen].float().div(127.5).sub(1.0)
    real_accuracy = _accuracy(discriminator, images, data.labels[chosen])
    fakes, labels = loaded.sample(n, seed=0)
    return Accuracy(real_accuracy, len(images), _accuracy(discriminator, fakes, labels), n, data.source)


def _accuracy(discriminator, images: torch.Tensor, labels: torch.Tensor) -> float:
    correct = 0
    for start in range(0, len(images), CHUNK):
        class_logits = discriminator(images[start:start + CHUNK]).auxiliary
        correct += int((class_logits.argmax(1) == labels[start:start + CHUNK]).sum())
    return correct / len(images)
