"""Memorisation: are generated images copies of training images?

A generator that returns its training images scores a perfect FID against them, so the
distribution metrics cannot catch it. This check measures, for every generated image, the
distance to its nearest training image, in pixel space (images in [-1, 1], Euclidean) and in the
evaluator's feature space, and compares it with what genuinely new real images get:

- ``near_copies``: the share of generated images closer (in pixels) to a training image than
  ``NEAR_COPY_QUANTILE`` (1%) of real images are. The threshold is the 1st percentile of the
  nearest-other-training-image distances of the training images themselves (leave one out), so it
  needs no held-out data; a generator as novel as real data scores about 1%, a copier 100%.
  ``memorised`` flags a share of ``FLAG_SHARE`` (10%) or more.
- ``copy_ratio_pixel`` and ``copy_ratio_feature``: the median distance from generated images to
  their nearest training image, over the same median for held-out real images (real images the
  generator never trained on, measured against the same training pool). About 1 when generated
  images are as new as unseen real ones, well below 1 when they copy the training set, above 1
  when they are further from any real image than real images are. Needs held-out real images.
- ``closest``: the generated images nearest to a training image, with that image, for a report.

Pixel distances are exact (:func:`nearest_pixels`, gankit/evaluate/search.py, with the training
images prepared once: :meth:`TrainingSet.pixels`): the images' 8-bit levels give integer
distances from a matrix product of the levels, and a generated image between levels is settled by
a bound on its rounding and an exact float64 distance to the few training images the bound leaves.
The product is int8 where the CPU has VNNI (5x a float32 product's speed on a 2-core AVX-512 VNNI
CPU: 10,000 generated images against 60,000 training images in about 2.5 s, 2.7x less than the
float32 search gankit used before), and a float32 one of the integer levels elsewhere, exact too
(gankit/evaluate/level_products.py): on AVX2 alone torch's int8 kernel ran 15-23x slower than
float32's (docs/benchmarks.md); the faster of the two is timed once per process. Where it is float32, a
lower bound from the pool's principal directions (gankit/evaluate/pixel_bound.py) first leaves
each generated image a few dozen candidates: 1.7x faster there, the same answer.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import torch
from gankit.evaluate.pixel_bound import PixelBound
# The searches live in search.py; their public names are kept here for code written against 0.x.
from gankit.evaluate.search import BLOCK, PixelPool, nearest, nearest_pixels  # noqa: F401

NEAR_COPY_QUANTILE = 0.01
FLAG_SHARE = 0.10
CLOSEST = 10  # one row of a compare report panel
YARDSTICK = 2000  # held-out images whose nearest-training distances are the yardstick


@dataclass
class TrainingSet:
    """The training images, their features, and the near-copy threshold derived from them."""

    images: torch.Tensor  # (M, C, H, W), uint8 or float in [-1, 1]
    embeddings: torch.Tensor | None = None  # (M, D) evaluator features
    _threshold: float | None = None
    # The held-out yardsticks, by "kind/sha256 of the held-out rows": the same for every run scored
    # against one reference set, so computed once (2,000 x M pixel distances) and kept in the
    # evaluation cache beside the features.
    yardsticks: dict[str, torch.Tensor] = field(default_factory=dict)
    pixel_bound: PixelBound | None = None  # the pixel search's bound of these images, found before
    _pixels: PixelPool | None = field(default=None, repr=False)

    def pixels(self) -> PixelPool | torch.Tensor:
        """The images as the exact pixel search takes them: prepared once (search.py's
        :class:`PixelPool`, with :attr:`pixel_bound` when given) for the threshold, the yardsticks and
        every run scored; float images as they are."""
        if self.images.dtype != torch.uint8:
            return self.images
        if self._pixels is None:
            self._pixels = PixelPool.of(self.images, bound=self.pixel_bound)
        return self._pixels

    def found_bound(self) -> PixelBound | None:
        """The bound the pixel search found or was given (None before a search, or where it takes none)."""
        return None if self._pixels is None else self._pixels.bound

    def yardstick(self, kind: str, heldout: torch.Tensor, pool: torch.Tensor | PixelPool,
                  search: Any = None) -> torch.Tensor:
        """The median nearest-``pool`` distance of (at most ``YARDSTICK``) ``heldout`` rows, by
        ``search`` (:func:`nearest` unless given)."""
        from gankit.evaluate.cache import fingerprint

        key = f"{kind}/{fingerprint(heldout)}"
        if key not in self.yardsticks:
            chosen = torch.randperm(heldout.shape[0], generator=torch.Generator().manual_seed(0))[:YARDSTICK]
            search = search or functools.partial(nearest, with_index=False)
            self.yardsticks[key] = search(heldout[chosen], pool)[0].median()
        return self.yardsticks[key]

    def threshold(self) -> float:
        """The pixel distance below which a generated image counts as a near-copy."""
        if self._threshold is None:
            # A seeded sample of 5,000 training images is plenty for a 1st percentile.
            sample = torch.randperm(len(self.images), generator=torch.Generator().manual_seed(0))[:5000]
            distances = nearest_pixels(self.images[sample], self.pixels(), own=sample)[0]
            self._threshold = float(torch.quantile(distances, NEAR_COPY_QUANTILE))
        return self._threshold


def _ratio(to_train: torch.Tensor, yardstick: torch.Tensor) -> float:
    """Median nearest-training distance of the generated images (``to_train``) over that of
    held-out real images (:meth:`TrainingSet.yardstick`), against the same training pool."""
    return float(to_train.median() / yardstick) if yardstick > 0 else float("nan")


def memorisation(fake_images: torch.Tensor, train: TrainingSet, *,
                 fake_embeddings: torch.Tensor | None = None,
                 heldout_images: torch.Tensor | None = None,
                 heldout_embeddings: torch.Tensor | None = None) -> dict[str, Any]:
    """The memorisation scores of ``fake_images`` against ``train`` (see the module docstring)."""
    distance, index = nearest_pixels(fake_images, train.pixels())
    threshold = train.threshold()
    share = float((distance <= threshold).double().mean())
    order = distance.argsort()[:CLOSEST]
    result: dict[str, Any] = {
        "near_copies": share,
        "memorised": share >= FLAG_SHARE,
        "near_copy_threshold": threshold,
        "nearest_train_pixel_median": float(distance.median()),
        "closest": {"fake_index": order.tolist(), "train_index": index[order].tolist(),
                    "pixel_distance": distance[order].tolist()},
    }
    if heldout_images is not None:
        result["copy_ratio_pixel"] = _ratio(distance, train.yardstick("pixel", heldout_images, train.pixels(),
                                                                      nearest_pixels))
    if heldout_embeddings is not None and fake_embeddings is not None and train.embeddings is not None:
        features = train.embeddings.float()
        result["copy_ratio_feature"] = _ratio(
            nearest(fake_embeddings.float(), features, with_index=False)[0],
            train.yardstick("feature", heldout_embeddings.float(), features))
    return result
