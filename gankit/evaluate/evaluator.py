"""Evaluators: the shipped classifier weights, how they are found and checked, and features.

gankit ships one evaluator per supported dataset as package data: ``weights/<dataset>.pt`` (the
state dict plus the training metadata) and ``weights/<dataset>.json`` (the same metadata plus the
``.pt`` file's sha256 and its held-out accuracy). Loading checks the sha256, so every score can
name the exact weights that produced it. ``gankit evaluator train`` writes both files.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from gankit.checkpoint import safe_load
from gankit.data.base import to_signed
from gankit.errors import GankitError
from gankit.evaluate.network import EvaluatorNet

WEIGHTS_DIR = Path(__file__).parent / "weights"
FORMAT = "gankit-evaluator/1"
BATCH_SIZE = 500  # images per forward pass on an accelerator: small enough for any GPU
# On a CPU a batch of 250 keeps the activations in cache: 10,000 images' features took 1.5-1.6 s
# against 1.9 s with 500 (both evaluators, alternated, a 2-core Xeon), the same numbers bit for bit.
CPU_BATCH_SIZE = 250
# Scores read from the evaluator's classes, left out when it was trained on another set.
CLASS_SCORES = ("is", "is_std", "modes_covered", "kl_to_uniform", "unrecognised", "label_accuracy")


def weights_path(dataset: str) -> Path:
    return WEIGHTS_DIR / f"{dataset}.pt"


def metadata_path(weights: Path) -> Path:
    return Path(weights).with_suffix(".json")


def shipped_datasets() -> list[str]:
    return sorted(path.stem for path in WEIGHTS_DIR.glob("*.pt"))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class FeatureSet:
    """What the evaluator sees in a set of images: features (N, 128), logits (N, K), labels.

    ``labels`` are the true classes for real images and the requested classes for a conditional
    generator's images (None for an unconditional one).
    """

    embeddings: torch.Tensor
    logits: torch.Tensor
    labels: torch.Tensor | None = None
    # The evaluator's top-class probability below which an image counts for no class (its
    # metadata's ``recognised_confidence``, chosen so that each real class alone is one class).
    recognised_confidence: float = 0.5
    # What the metrics derive from these features alone (KID's within-set kernel sums, the k-NN
    # radii), kept so that every run scored against one real set reuses them; by name, see
    # gankit/evaluate/metrics.py. Stored with the real sets in the evaluation cache.
    memo: dict[str, torch.Tensor] = field(default_factory=dict, repr=False, compare=False)

    def __len__(self) -> int:
        return int(self.embeddings.shape[0])

    def take(self, index: torch.Tensor) -> "FeatureSet":
        return FeatureSet(self.embeddings[index], self.logits[index],
                          None if self.labels is None else self.labels[index],
                          self.recognised_confidence)


@dataclass
class Evaluator:
    """A loaded evaluator network and the record that identifies it in every score."""

    net: EvaluatorNet
    dataset: str
    sha256: str
    path: Path
    meta: dict[str, Any]
    # Trained on another set than the one scored (an unlabelled set has no evaluator of its own):
    # only its features are used, images are resized to its size, and every score says so.
    other_set: bool = False

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    def scores_left_out(self) -> tuple[str, ...]:
        """The scores that mean nothing with this evaluator: its classes, when they are another set's."""
        return CLASS_SCORES if self.other_set else ()

    def record(self) -> dict[str, Any]:
        """What a score stores about its evaluator."""
        return {"dataset": self.meta.get("dataset", self.dataset), "sha256": self.sha256,
                "file": self.path.name, "test_accuracy": self.meta.get("test_accuracy"),
                "test_data": self.meta.get("test_data"), "other_set": self.other_set}

    @torch.no_grad()
    def features(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> FeatureSet:
        """Features and logits of ``images`` (uint8 in 0..255, or float in [-1, 1]), on the CPU."""
        self.net.eval()
        embeddings, logits = [], []
        for batch in images.split(CPU_BATCH_SIZE if self.device.type == "cpu" else BATCH_SIZE):
            batch = batch.to(self.device)
            batch = self._fit(to_signed(batch))
            embedding, logit = self.net.embed_and_classify(batch)
            embeddings.append(embedding.cpu())
            logits.append(logit.cpu())
        return FeatureSet(torch.cat(embeddings), torch.cat(logits),
                          None if labels is None else labels.cpu(),
                          float(self.meta.get("recognised_confidence", 0.5)))

    def _fit(self, batch: torch.Tensor) -> torch.Tensor:
        """``batch`` resized (bilinear, antialiased) to the size the evaluator was trained on."""
        shape = tuple(self.meta.get("image_shape") or batch.shape[1:])
        if batch.shape[1] != shape[0]:
            raise GankitError(f"The '{self.meta.get('dataset')}' evaluator takes {shape[0]}-channel images, "
                              f"these have {batch.shape[1]}; pass an evaluator trained on images like them.")
        if tuple(batch.shape[2:]) != shape[1:]:
            import torch.nn.functional as F

            batch = F.interpolate(batch, size=shape[1:], mode="bilinear", antialias=True, align_corners=False)
        return batch


def load_evaluator(dataset: str, path: Path | None = None,
                   device: str | torch.device = "cpu", *, other_set_ok: bool = False) -> Evaluator:
    """The evaluator for ``dataset``: the shipped one, or the ``.pt`` at ``path``.

    ``other_set_ok``: accept one trained on another dataset (for a set without labels); the
    evaluator is then marked :attr:`Evaluator.other_set`.

    A shipped file whose sha256 differs from its metadata is refused (it was damaged or replaced);
    a file given by ``path`` is checked against a ``.json`` beside it when there is one.
    """
    weights = Path(path) if path is not None else weights_path(dataset)
    if not weights.is_file():
        if path is not None:
            raise GankitError(f"Evaluator weights '{weights}' do not exist; pass a .pt written by "
                              "`gankit evaluator train`.")
        raise GankitError(
            f"No evaluator ships for dataset '{dataset}' (gankit ships: "
            f"{', '.join(shipped_datasets()) or 'none'}). Train one with `gankit evaluator train "
            f"--dataset {dataset} --out DIR` and pass --evaluator DIR/{dataset}.pt."
        )
    sha = sha256_of(weights)
    meta_file = metadata_path(weights)
    meta: dict[str, Any] = {}
    if meta_file.is_file():
        meta = _read_metadata(meta_file, dataset)
        if meta.get("sha256") != sha:
            raise GankitError(
                f"Evaluator '{weights}' has sha256 {sha[:12]}..., but {meta_file.name} records "
                f"{str(meta.get('sha256'))[:12]}...: the file was damaged or replaced. Reinstall "
                f"gankit, or retrain it with `gankit evaluator train --dataset {dataset}`."
            )
    elif path is None:
        raise GankitError(f"The shipped evaluator '{weights}' has no {meta_file.name} beside it; "
                          "reinstall gankit.")
    try:
        state = safe_load(weights)  # weights_only, however torch.load was patched
        if state.get("format") != FORMAT:
            raise ValueError(f"format {state.get('format')!r}, expected {FORMAT!r}")
        saved_meta = state["meta"]
        # The random initialisation is overwritten at once; keep it off the global RNG so that
        # loading an evaluator mid-training cannot change what training draws next.
        with torch.random.fork_rng(devices=[]):
            net = EvaluatorNet(in_channels=saved_meta["image_shape"][0],
                               num_classes=saved_meta["num_classes"],
                               pooled_size=saved_meta.get("pooled_size", 1))
        net.load_state_dict(state["state_dict"])
    except Exception as error:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise GankitError(f"Cannot read evaluator '{weights}' ({first}); retrain it with "
                          f"`gankit evaluator train --dataset {dataset}`.") from None
    other_set = saved_meta.get("dataset") != dataset
    if other_set and not (other_set_ok and path is not None):
        raise GankitError(f"Evaluator '{weights}' was trained on '{saved_meta.get('dataset')}', not "
                          f"'{dataset}'; pass the evaluator of the dataset the runs trained on.")
    # Channels-last: the convolutions take oneDNN's NHWC kernels, 2.3x less CPU time for the same
    # features (within 2e-6 relative; docs/benchmarks.md); on CUDA it suits cuDNN as well.
    net = net.to(device, memory_format=torch.channels_last).eval()
    return Evaluator(net, dataset, sha, weights, {**saved_meta, **meta}, other_set)


def _read_metadata(meta_file: Path, dataset: str) -> dict[str, Any]:
    """The evaluator's ``.json``; damaged (not JSON, or not an object) is one line, not a traceback."""
    try:
        meta = json.loads(meta_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        meta, why = None, f"not valid JSON: {error}"
    else:
        why = f"a JSON {type(meta).__name__}, not an object"
    if not isinstance(meta, dict):
        raise GankitError(f"Evaluator metadata '{meta_file}' is damaged ({why}); restore it, "
                          f"reinstall gankit, or retrain with `gankit evaluator train --dataset {dataset}`.")
    return meta
