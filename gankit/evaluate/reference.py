"""The real images every score is measured against, and the real-vs-real floor.

Two disjoint real sets of the same size n are drawn with a seed:

- the *reference* set, which generated images are scored against, from the dataset's test split
  (mnist: the full test split if the data root has it, else the bundled 5,000-digit subset;
  fashion-mnist: the test split);
- the *floor* set: n other real images, first from the rest of the test split, then from the
  train split (images identical to one in the reference split are left out).

Scoring the floor set against the reference set shows what a perfect generator would get at this
n. When the real images cannot fill two sets of n, n is lowered to fit, with a notice, and every
score says so: FID falls as n grows, so scores are comparable only at equal n.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from gankit.data.base import to_signed
from gankit.errors import DataError, GankitError
from gankit.evaluate.evaluator import Evaluator, FeatureSet
from gankit.registry import DataRequest, DatasetSpec

MIN_N = 10  # the k-NN metrics need more than k = 5 neighbours per set


@dataclass
class RealReference:
    """The reference and floor sets' features, with where they came from."""

    dataset: str
    n: int
    n_requested: int
    reference: FeatureSet
    floor_set: FeatureSet
    reference_source: str  # e.g. "test split: IDX files in ... (full MNIST test split, ...)"
    floor_source: str
    seed: int
    notice: str | None = None  # n was lowered to fit the real images found
    data_notice: str | None = None  # the loader's notice, e.g. that a bundled subset was used
    reference_images: torch.Tensor | None = field(default=None, repr=False)  # uint8
    floor_images: torch.Tensor | None = field(default=None, repr=False)
    extras: tuple[str, ...] = ()  # opt-in scores: "memorisation", "parzen"
    evaluator: Evaluator | None = field(default=None, repr=False)
    load_training: Callable[[], Any] | None = field(default=None, repr=False)  # the train split
    _floor_scores: dict[str, Any] | None = field(default=None, repr=False)
    _training: Any = field(default=None, repr=False)

    def floor(self) -> dict[str, Any]:
        """The floor set scored as if it were generated (computed once)."""
        if self._floor_scores is None:
            from gankit.evaluate.metrics import score

            self._floor_scores = score(self.reference, self.floor_set, seed=self.seed)
        return self._floor_scores

    def training_set(self) -> Any:
        """The train split as a memorisation :class:`TrainingSet` (loaded once), or None."""
        if self._training is None and self.load_training is not None and self.evaluator is not None:
            from gankit.evaluate.memorisation import TrainingSet

            images = self.load_training()
            if images is not None and len(images):
                self._training = TrainingSet(images, self.evaluator.features(images).embeddings)
        return self._training

    def extra_scores(self, images: torch.Tensor, fake: FeatureSet) -> dict[str, Any]:
        """The opt-in scores of generated ``images`` (features ``fake``) named in ``extras``.

        ``memorisation`` (gankit/evaluate/memorisation.py) against the train split, with the
        reference images that are not training images as the held-out yardstick; ``parzen``
        (gankit/evaluate/parzen.py) with sigma chosen on the floor set and the log-likelihood of
        the reference set.
        """
        scores: dict[str, Any] = {}
        if "memorisation" in self.extras and (training := self.training_set()) is not None:
            from gankit.evaluate.memorisation import memorisation

            seen = set(_keys(training.images))
            held_out = torch.tensor([key not in seen for key in _keys(self.reference_images)],
                                    dtype=torch.bool)
            scores.update(memorisation(
                images, training, fake_embeddings=fake.embeddings,
                heldout_images=self.reference_images[held_out] if held_out.any() else None,
                heldout_embeddings=self.reference.embeddings[held_out] if held_out.any() else None))
        if "parzen" in self.extras:
            from gankit.evaluate.parzen import parzen

            # Sigma is chosen on floor images the generator did not train on, when there are any.
            validation = self.floor_images
            if (training := self.training_set()) is not None:
                seen = set(_keys(training.images))
                unseen = torch.tensor([key not in seen for key in _keys(validation)], dtype=torch.bool)
                validation = validation[unseen] if unseen.any() else validation
            scores.update(parzen(images, validation, self.reference_images))
            scores["parzen_validation_images"] = int(validation.shape[0])
        return scores

    def closest_pairs(self, generator: Any, closest: dict[str, list], seed: int = 0) -> torch.Tensor:
        """Memorisation's ``closest`` generated images (redrawn from the same fixed noise), then
        the training image nearest to each, as one batch in [-1, 1] for a two-row picture."""
        from gankit.sample import fixed_noise, generate

        z, labels = fixed_noise(generator, self.n, seed=seed)
        index = torch.tensor(closest["fake_index"], dtype=torch.long)
        fake = generate(generator, z[index], None if labels is None else labels[index])
        train = self.training_set().images[torch.tensor(closest["train_index"], dtype=torch.long)]
        return torch.cat([fake, to_signed(train)])

    def record(self) -> dict[str, Any]:
        """What a score stores about the real images it used."""
        return {"n_real": self.n, "n_requested": self.n_requested,
                "real_split": self.reference_source, "floor_split": self.floor_source,
                "real_seed": self.seed, "notice": self.notice, "data_notice": self.data_notice}


def _keys(images: torch.Tensor) -> list[bytes]:
    return [image.numpy().tobytes() for image in images.cpu()]


def build_reference(dataset: DatasetSpec, evaluator: Evaluator, n: int, *, data_root: Path | None = None,
                    download: bool = False, seed: int = 0, extras: tuple[str, ...] = (),
                    options: dict[str, str] | None = None) -> RealReference:
    """Draw the reference and floor sets for ``n`` generated images and extract their features.

    ``extras`` names opt-in scores (:meth:`RealReference.extra_scores`): "memorisation" loads the
    train split when first needed, "parzen" uses the floor set as its validation split.
    """
    unknown = set(extras) - {"memorisation", "parzen"}
    if unknown:
        raise GankitError(f"Unknown extra score(s) {sorted(unknown)}; known: memorisation, parzen.")
    if n < MIN_N:
        raise GankitError(f"n must be at least {MIN_N} to compare sets of images, got {n}.")
    options = dict(options or {})  # the run's --data-option values (a folder's path=...)
    test = dataset.load(DataRequest(root=data_root, split="test", download=download, options=options))
    rng = torch.Generator().manual_seed(seed)
    test_order = torch.randperm(len(test), generator=rng)
    extra_images, extra_labels, extra_note = _train_images_beyond(dataset, test, n, data_root, download,
                                                                  options)

    usable = min(n, len(test), (len(test) + len(extra_images)) // 2)
    if usable < MIN_N:
        raise DataError(f"Only {len(test)} real '{dataset.name}' images were found; at least "
                        f"{2 * MIN_N} are needed for a reference and a floor set.")
    reference_index = test_order[:usable]
    others = test_order[usable:]
    extra_order = torch.randperm(len(extra_images), generator=rng)
    other_images = torch.cat([test.images[others], extra_images[extra_order]])
    other_labels = None
    if test.labels is not None and extra_labels is not None:
        other_labels = torch.cat([test.labels[others], extra_labels[extra_order]])
    floor_from_test = min(usable, len(others))

    notice = None
    if usable < n:
        notice = (f"Only {len(test) + len(extra_images):,} distinct real images were found, so "
                  f"n was lowered from {n:,} to {usable:,} (two disjoint real sets of n are needed)."
                  f"{extra_note}")
    labels = None if test.labels is None else test.labels[reference_index]
    reference = evaluator.features(test.images[reference_index], labels)
    floor_set = evaluator.features(other_images[:usable],
                                   None if other_labels is None else other_labels[:usable])
    floor_source = "from the same split"
    if floor_from_test == 0:
        floor_source = "from the train split"
    elif usable > floor_from_test:
        floor_source = (f"{floor_from_test:,} from the same split, {usable - floor_from_test:,} "
                        "from the train split")
    def load_training() -> torch.Tensor | None:
        try:
            return dataset.load(DataRequest(root=data_root, split="train", download=download,
                                            options=options)).images
        except DataError:
            return None

    return RealReference(dataset.name, usable, n, reference, floor_set,
                         f"test split: {test.source}", floor_source, seed, notice, test.notice,
                         reference_images=test.images[reference_index],
                         floor_images=other_images[:usable], extras=tuple(extras),
                         evaluator=evaluator, load_training=load_training)


def _train_images_beyond(dataset: DatasetSpec, test: Any, n: int, data_root: Path | None,
                         download: bool, options: dict[str, str] | None = None,
                         ) -> tuple[torch.Tensor, torch.Tensor | None, str]:
    """Train-split images not in ``test``, when the test split alone cannot give 2n images."""
    nothing = (test.images[:0], None if test.labels is None else test.labels[:0], "")
    if len(test) >= 2 * n:
        return nothing
    try:
        train = dataset.load(DataRequest(root=data_root, split="train", download=download,
                                         options=dict(options or {})))
    except DataError:
        return nothing
    seen = set(_keys(test.images))
    keep = torch.tensor([key not in seen for key in _keys(train.images)], dtype=torch.bool)
    labels = train.labels[keep] if (train.labels is not None and test.labels is not None) else None
    note = "" if test.is_full else (f" For n up to 10,000 put the full {dataset.name} test and "
                                    f"train splits in the data root (--data-root).")
    return train.images[keep], labels, note
