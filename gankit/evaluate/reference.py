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

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from gankit.data.base import to_signed
from gankit.errors import DataError, GankitError
from gankit.evaluate import cache as eval_cache
from gankit.evaluate.cache import EvalCache, features_from, features_record, fingerprint, scores_from
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
    _training_entry: EvalCache | None = field(default=None, repr=False)  # where _training is stored
    _seen: set[bytes] | None = field(default=None, repr=False)
    cache: EvalCache | None = field(default=None, repr=False)  # where the floor is stored (cache.py)
    training_cache: Callable[[torch.Tensor], EvalCache] | None = field(default=None, repr=False)

    def floor(self) -> dict[str, Any]:
        """The floor set scored as if it were generated (computed once)."""
        if self._floor_scores is None:
            from gankit.evaluate.metrics import score

            self._floor_scores = score(self.reference, self.floor_set, seed=self.seed)
            if self.cache is not None:  # features and floor are stored together, once both exist
                self.cache.save({"reference": features_record(self.reference),
                                 "floor_set": features_record(self.floor_set),
                                 "floor_scores": json.dumps(self._floor_scores)})
        return self._floor_scores

    def training_set(self) -> Any:
        """The train split as a memorisation :class:`TrainingSet` (loaded once), or None."""
        if self._training is None and self.load_training is not None and self.evaluator is not None:
            images = self.load_training()
            if images is not None and len(images):
                self._training_entry = None if self.training_cache is None else self.training_cache(images)
                self._training = training_set(images, self.evaluator, self._training_entry)
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

            seen = self._seen_keys(training)
            held_out = torch.tensor([key not in seen for key in _keys(self.reference_images)],
                                    dtype=torch.bool)
            known = len(training.yardsticks)
            scores.update(memorisation(
                images, training, fake_embeddings=fake.embeddings,
                heldout_images=self.reference_images[held_out] if held_out.any() else None,
                heldout_embeddings=self.reference.embeddings[held_out] if held_out.any() else None))
            # a bound the entry did not hold: found by this search
            found_bound = training.pixel_bound is None and training.found_bound() is not None
            if self._training_entry is not None and (len(training.yardsticks) > known or found_bound):
                save_training(self._training_entry, training)  # the next process reuses them
        if "parzen" in self.extras:
            from gankit.evaluate.parzen import parzen

            # Sigma is chosen on floor images the generator did not train on, when there are any.
            validation = self.floor_images
            if (training := self.training_set()) is not None:
                seen = self._seen_keys(training)
                unseen = torch.tensor([key not in seen for key in _keys(validation)], dtype=torch.bool)
                validation = validation[unseen] if unseen.any() else validation
            scores.update(parzen(images, validation, self.reference_images))
            scores["parzen_validation_images"] = int(validation.shape[0])
        return scores

    def _seen_keys(self, training: Any) -> set[bytes]:
        """The training images' bytes, to tell held-out images from training ones (once per set)."""
        if self._seen is None:
            self._seen = set(_keys(training.images))
        return self._seen

    def closest_pairs(self, generator: Any, closest: dict[str, list], seed: int = 0) -> torch.Tensor:
        """Memorisation's ``closest`` generated images (redrawn from the same fixed noise), then
        the training image nearest to each, as one batch in [-1, 1] for a two-row picture."""
        from gankit.noise import fixed_noise, generate

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
    """Each image's bytes: one array's rows, not one tensor per image (5x faster for 60,000)."""
    rows = images.cpu().contiguous().flatten(1).numpy()
    return [row.tobytes() for row in rows]


def build_reference(dataset: DatasetSpec, evaluator: Evaluator, n: int, *, data_root: Path | None = None,
                    download: bool = False, seed: int = 0, extras: tuple[str, ...] = (),
                    options: dict[str, str] | None = None, cache: bool = False) -> RealReference:
    """Draw the reference and floor sets for ``n`` generated images and extract their features.

    ``extras`` names opt-in scores (:meth:`RealReference.extra_scores`): "memorisation" loads the
    train split when first needed, "parzen" uses the floor set as its validation split.
    ``cache``: reuse (and store) the features, the floor and the train split's features in the
    data root's cache folder (gankit/evaluate/cache.py), unless ``GANKIT_NO_EVAL_CACHE`` is set.
    """
    unknown = set(extras) - {"memorisation", "parzen"}
    if unknown:
        raise GankitError(f"Unknown extra score(s) {sorted(unknown)}; known: memorisation, parzen.")
    if n < MIN_N:
        raise GankitError(f"n must be at least {MIN_N} to compare sets of images, got {n}.")
    options = dict(options or {})  # the run's --data-option values (a folder's path=...)
    test = dataset.load(DataRequest(root=data_root, split="test", download=download, options=options))
    # Kept for memorisation and Parzen, which read the train split again; else freed after the draw.
    train_split = _train_split_loader(dataset, data_root, download, options,
                                      keep=bool({"memorisation", "parzen"} & set(extras)))
    drawn = _draw_sets(dataset, test, n, seed, train_split)
    where = _cache_where(evaluator, dataset, options, data_root) if eval_cache.enabled(cache) else None
    stored, entry = None, None
    if where is not None:
        entry = EvalCache(where[0], "reference", {
            **where[1], "split": "test", "reference_source": test.source, "floor_source": drawn.floor_source,
            "n": drawn.usable, "n_requested": n, "seed": seed,
            "data": fingerprint(drawn.images, drawn.labels, drawn.floor_images, drawn.floor_labels)})
        stored = entry.load(lambda contents: _check_reference(
            contents, drawn.usable, drawn.labels is not None, drawn.floor_labels is not None))
    if stored is not None:
        reference, floor_set, floor_scores = stored
    else:
        reference = evaluator.features(drawn.images, drawn.labels)
        floor_set = evaluator.features(drawn.floor_images, drawn.floor_labels)
        floor_scores = None
    return RealReference(dataset.name, drawn.usable, n, reference, floor_set,
                         f"test split: {test.source}", drawn.floor_source, seed, drawn.notice, test.notice,
                         reference_images=drawn.images, floor_images=drawn.floor_images,
                         extras=tuple(extras), evaluator=evaluator,
                         load_training=lambda: getattr(train_split(), "images", None),
                         _floor_scores=floor_scores, cache=entry if stored is None else None,
                         training_cache=None if where is None else lambda images: EvalCache(
                             where[0], "training", {**where[1], "split": "train",
                                                    "data": fingerprint(images)}))


@dataclass(frozen=True)
class _Drawn:
    """The two disjoint real sets drawn for a reference, before their features are extracted."""

    usable: int  # n, or fewer when the real images cannot fill two sets of n
    images: torch.Tensor  # the reference set (uint8)
    labels: torch.Tensor | None
    floor_images: torch.Tensor
    floor_labels: torch.Tensor | None
    floor_source: str  # which split(s) the floor set came from
    notice: str | None  # n was lowered to fit


def _draw_sets(dataset: DatasetSpec, test: Any, n: int, seed: int,
               train_split: Callable[[], Any]) -> _Drawn:
    """Draw, with ``seed``, the reference set from ``test`` and the floor set from the rest of it,
    then from the train split; lowers n (with a notice) when they cannot both hold n images."""
    rng = torch.Generator().manual_seed(seed)
    test_order = torch.randperm(len(test), generator=rng)
    extra_images, extra_labels, extra_note = _train_images_beyond(dataset, test, n, train_split)

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
    floor_labels = None if other_labels is None else other_labels[:usable]
    floor_source = "from the same split"
    if floor_from_test == 0:
        floor_source = "from the train split"
    elif usable > floor_from_test:
        floor_source = (f"{floor_from_test:,} from the same split, {usable - floor_from_test:,} "
                        "from the train split")
    return _Drawn(usable, test.images[reference_index], labels, other_images[:usable], floor_labels,
                  floor_source, notice)


def _train_split_loader(dataset: DatasetSpec, data_root: Path | None, download: bool,
                        options: dict[str, str], keep: bool = True) -> Callable[[], Any]:
    """A function that returns the train split, or None when it is not there; with ``keep``,
    loaded on the first call only. The floor set and memorisation both read it: once, not twice
    (0.2 s of decompression per evaluation of Fashion-MNIST)."""
    loaded: list[Any] = []

    def train_split() -> Any:
        if loaded:
            return loaded[0]
        try:
            split = dataset.load(DataRequest(root=data_root, split="train", download=download,
                                             options=dict(options)))
        except DataError:
            split = None
        if keep:
            loaded.append(split)
        return split

    return train_split


def _cache_where(evaluator: Any, dataset: DatasetSpec, options: dict[str, str],
                 data_root: Path | None) -> tuple[Path, dict[str, Any]]:
    """The cache folder (the data root's) and the key fields every entry shares."""
    from gankit.data.decode import cache_folder

    record = evaluator.record()
    return cache_folder(DataRequest(root=data_root).root), {
        "evaluator_sha256": evaluator.sha256, "features": record.get("features", "evaluator"),
        "other_set": bool(record.get("other_set")), "device": evaluator.device.type,
        "dataset": dataset.name, "options": options,
        # only where features are not fp32, so the keys of 0.2's caches stay valid
        **({"precision": record["precision"]} if "precision" in record else {})}


def _check_reference(contents: dict[str, Any], n: int, labelled: bool,
                     floor_labelled: bool) -> tuple[FeatureSet, FeatureSet, dict[str, Any]]:
    return (features_from(contents.get("reference"), n, labelled),
            features_from(contents.get("floor_set"), n, floor_labelled),
            scores_from(contents.get("floor_scores")))


def training_set(images: torch.Tensor, evaluator: Any, entry: EvalCache | None) -> Any:
    """The memorisation :class:`TrainingSet` of ``images``: their features, near-copy threshold and
    held-out yardsticks, from the cache ``entry`` when it holds them, else computed (and stored)."""
    from gankit.evaluate.memorisation import TrainingSet
    from gankit.evaluate.pixel_bound import PixelBound

    if entry is not None:
        def check(contents: dict[str, Any]) -> tuple[torch.Tensor, float, dict[str, torch.Tensor], Any]:
            embeddings, threshold = contents.get("embeddings"), contents.get("threshold")
            if not isinstance(embeddings, torch.Tensor) or embeddings.dtype != torch.float32 \
                    or embeddings.dim() != 2 or embeddings.shape[0] != len(images) \
                    or not torch.isfinite(embeddings).all():
                raise ValueError(f"the features are not {len(images)} rows of finite float32")
            if not isinstance(threshold, float) or not threshold >= 0:
                raise ValueError("the near-copy threshold is not a distance")
            yardsticks = contents.get("yardsticks", {})
            if not isinstance(yardsticks, dict) or not all(
                    isinstance(value, torch.Tensor) and value.dim() == 0 and bool(value >= 0)
                    for value in yardsticks.values()):
                raise ValueError("the held-out yardsticks are not distances")
            # absent where the search took none (int8 CPUs), or from before it was kept
            bound = contents.get("pixel_bound")
            if bound is not None:
                bound = PixelBound.from_record(bound, len(images), images[0].numel())
            return embeddings, threshold, yardsticks, bound

        stored = entry.load(check)
        if stored is not None:
            return TrainingSet(images, stored[0], stored[1], yardsticks=stored[2], pixel_bound=stored[3])
    training = TrainingSet(images, evaluator.features(images).embeddings)
    if entry is not None:
        training.threshold()
        save_training(entry, training)
    return training


def save_training(entry: EvalCache, training: Any) -> None:
    """Store a :class:`TrainingSet`'s features, threshold, the yardsticks measured so far and the
    pixel search's bound once found (1.4 s of every later evaluation of 60,000 images, AVX2)."""
    bound = training.found_bound() or training.pixel_bound
    entry.save({"embeddings": training.embeddings, "threshold": training.threshold(),
                "yardsticks": dict(training.yardsticks),
                **({} if bound is None else {"pixel_bound": bound.record()})})


def _train_images_beyond(dataset: DatasetSpec, test: Any, n: int, train_split: Callable[[], Any],
                         ) -> tuple[torch.Tensor, torch.Tensor | None, str]:
    """Train-split images not in ``test``, when the test split alone cannot give 2n images."""
    nothing = (test.images[:0], None if test.labels is None else test.labels[:0], "")
    if len(test) >= 2 * n or (train := train_split()) is None:
        return nothing
    seen = set(_keys(test.images))
    keep = torch.tensor([key not in seen for key in _keys(train.images)], dtype=torch.bool)
    labels = train.labels[keep] if (train.labels is not None and test.labels is not None) else None
    note = "" if test.is_full else (f" For n up to 10,000 put the full {dataset.name} test and "
                                    f"train splits in the data root (--data-root).")
    return train.images[keep], labels, note
