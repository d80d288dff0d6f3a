"""The fidelity suite: does an evaluator's metrics rank image sets the way the eye does?

Two kinds of ladders are scored against a reference set of held-out real images:

- **disturbance ladders** (Heusel et al. 2017, Fig. 1): n other real images, clean and then with
  each of :data:`gankit.evaluate.disturb.LADDERS` at its four rising levels. FID and KID must rise
  strictly with the level, starting from the clean images.
- a **mode-dropping ladder**: m distinct real images drawn from 10, 5, 2 and 1 classes, then one
  real image repeated m times (m: n, or fewer if the pool has fewer images of the last class).
  FID must rise, recall, coverage and the classes hit must fall, and the repeated image must score
  worse (FID, recall, coverage) than every set that spans two or more classes. KID is shown but
  not checked here: its cubic kernel can score one image near the real mean better than a whole
  class (docs/metrics.md has the measured cases).

``bench/metric_fidelity.py`` runs it at full n and prints the table; tests run it at small n.
Both need only the images: :func:`held_out_pool` finds them without the network.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from gankit.data.base import to_signed
from gankit.evaluate import metrics
from gankit.evaluate.disturb import LADDERS
from gankit.evaluate.evaluator import Evaluator

MODE_LADDER = (10, 5, 2, 1)  # classes kept; then a single image repeated
SINGLE = "one image"
RISING_WITH_DISTURBANCE = ("fid", "kid")
RISING_AS_MODES_DROP = ("fid",)  # KID's cubic kernel can prefer one image near the mean (docs)
FALLING_AS_MODES_DROP = ("recall", "coverage", "modes_covered")


@dataclass
class RealPool:
    """Held-out real images (uint8, (N, C, H, W)), their labels, and where they came from."""

    images: torch.Tensor
    labels: torch.Tensor
    source: str


@dataclass
class SuiteResult:
    dataset: str
    n: int
    reference_source: str
    rows: list[dict[str, Any]] = field(default_factory=list)  # ladder, level, level_name, scores

    def ladder(self, name: str) -> list[dict[str, Any]]:
        return [row for row in self.rows if row["ladder"] == name]


def held_out_pool(dataset: str, *, mnist_test_dir: Path | None = None,
                  data_root: Path | None = None) -> RealPool:
    """Real images the evaluators never trained on, found offline.

    mnist: the official test split's IDX files in ``mnist_test_dir`` when given and present,
    else the bundled 5,000 digits (which the MNIST evaluator trained on: the source says so).
    fashion-mnist: its test split from the data root or Debian's package (DataError if absent).
    """
    if dataset == "mnist":
        if mnist_test_dir is not None and (Path(mnist_test_dir) / "t10k-images-idx3-ubyte.gz").is_file():
            from gankit.data import read_idx_images, read_idx_labels

            images = read_idx_images(Path(mnist_test_dir) / "t10k-images-idx3-ubyte.gz")
            labels = read_idx_labels(Path(mnist_test_dir) / "t10k-labels-idx1-ubyte.gz")
            return RealPool(images.reshape(-1, 1, 28, 28), labels,
                            "official MNIST test split (10,000 digits)")
        from gankit.data import load_bundled_mnist

        images, labels = load_bundled_mnist()
        return RealPool(images, labels, "bundled 5,000 MNIST digits (the MNIST evaluator's "
                                        "training data: not held out)")
    from gankit.host import get_host
    from gankit.registry import DataRequest

    spec = get_host().datasets.get(dataset)
    data = spec.load(DataRequest(root=data_root, split="test",
                                 download=False))
    return RealPool(data.images, data.labels, f"{dataset} test split ({len(data.images):,} images)")


def _scaled(images: torch.Tensor) -> torch.Tensor:
    return to_signed(images)


def _from_classes(pool: RealPool, index: torch.Tensor, classes: torch.Tensor, m: int,
                  rng: torch.Generator) -> torch.Tensor:
    """m distinct images of ``pool[index]`` whose label is in ``classes``."""
    keep = index[torch.isin(pool.labels[index], classes)]
    return pool.images[keep[torch.randperm(len(keep), generator=rng)[:m]]]


def run_suite(evaluator: Evaluator, pool: RealPool, other: torch.Tensor, n: int, *,
              seed: int = 0) -> SuiteResult:
    """Score every ladder set against n reference images of ``pool``.

    The reference set and the disturbed sets are disjoint halves of a seeded shuffle of the pool
    (n is lowered to half the pool if needed); the mode-dropping sets come from the second half.
    ``other`` are the contaminating images (uint8). Each row records its ``n_fake``.
    """
    rng = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(pool.images), generator=rng)
    n = min(n, len(order) // 2)
    reference_index, source_index = order[:n], order[n:]
    reference = evaluator.features(pool.images[reference_index])
    base = _scaled(pool.images[source_index[:n]])
    other_scaled = _scaled(other)
    result = SuiteResult(evaluator.dataset, n, pool.source)

    def add(ladder: str, level: Any, images: torch.Tensor) -> None:
        fake = evaluator.features(images)
        result.rows.append({"ladder": ladder, "level": level, "n_fake": len(images),
                            **metrics.score(reference, fake, seed=seed)})

    clean = metrics.score(reference, evaluator.features(base), seed=seed)
    for step, (name, (disturb, levels, _)) in enumerate(LADDERS.items()):
        result.rows.append({"ladder": name, "level": 0, "n_fake": n, **clean})
        extra = {"other": other_scaled} if name == "contamination" else {}
        for level in levels:
            add(name, level, disturb(base, level, seed + step, **extra))

    # Every rung holds m distinct images, m what the pool has of the one class kept last (a set
    # that repeats images has k-NN radii of 0, which says "duplicates", not "fewer modes").
    class_order = torch.randperm(int(pool.labels.max()) + 1, generator=rng)
    m = min(n, int((pool.labels[source_index] == class_order[0]).sum()))
    for kept in MODE_LADDER:
        add("mode dropping", kept, _scaled(_from_classes(pool, source_index, class_order[:kept], m, rng)))
    add("mode dropping", SINGLE, base[:1].repeat(m, 1, 1, 1))
    return result


def failures(result: SuiteResult) -> list[str]:
    """What the suite asks of the metrics and did not get, as readable lines (empty: passed)."""
    problems = []
    for name in [*LADDERS, "mode dropping"]:
        rows = result.ladder(name)
        for key in RISING_AS_MODES_DROP if name == "mode dropping" else RISING_WITH_DISTURBANCE:
            for lower, higher in zip(rows, rows[1:]):
                if not higher[key] > lower[key]:
                    problems.append(f"{result.dataset} {name}: {key} does not rise from level "
                                    f"{lower['level']} ({lower[key]:.4g}) to {higher['level']} "
                                    f"({higher[key]:.4g})")
    modes = result.ladder("mode dropping")
    for key in FALLING_AS_MODES_DROP:
        if key not in modes[0]:  # e.g. modes in features without classes (TF-FID's Inception)
            continue
        for more, fewer in zip(modes, modes[1:]):
            # Recall and coverage must fall strictly (unless already 0); the classes hit cannot
            # (one class and one image are both one class).
            falls = fewer[key] <= more[key] if key == "modes_covered" or more[key] == 0 \
                else fewer[key] < more[key]
            if not falls:
                problems.append(f"{result.dataset} mode dropping: {key} does not fall from "
                                f"{more['level']} ({more[key]:.4g}) to {fewer['level']} ({fewer[key]:.4g})")
    single = modes[-1]
    for row in modes:
        if row["level"] in (SINGLE, 1):
            continue
        for key in RISING_AS_MODES_DROP:
            if not single[key] > row[key]:
                problems.append(f"{result.dataset}: one repeated image has a better {key} "
                                f"({single[key]:.4g}) than {row['level']} classes ({row[key]:.4g})")
        for key in ("recall", "coverage"):
            if not single[key] < row[key]:
                problems.append(f"{result.dataset}: one repeated image has a better {key} "
                                f"({single[key]:.4g}) than {row['level']} classes ({row[key]:.4g})")
    return problems
