"""FID and KID in InceptionV3's features, the standard GAN papers report (``--features inception``).

The network is torchmetrics' ``NoTrainInceptionV3`` (torch-fidelity's port of the TensorFlow
FID Inception, ``pip install 'gankit[inception]'``): images are resized to 299x299 (bilinear,
antialiased), the 2,048 pool3 features give FID, KID, precision/recall, density and coverage, and
its logits the Inception Score. Its weights never download while scoring (an offline machine
would hang on the attempt): the file is named with ``--inception-weights PATH`` or
``$GANKIT_INCEPTION_WEIGHTS``. The official file, :data:`OFFICIAL_NAME` from :data:`URL`, has a
sha256 starting with :data:`OFFICIAL_SHA256_PREFIX`; any other file is used, and every score then
says it is not comparable with papers'.

:class:`InceptionFeatures` offers what scoring needs of an evaluator (``features``, ``record``,
``meta``), so the reference and floor sets, n and the seeds work as with gankit's evaluators.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from gankit.checkpoint import safe_load
from gankit.errors import GankitError
from gankit.evaluate.evaluator import FeatureSet, sha256_of

OFFICIAL_NAME = "weights-inception-2015-12-05-6726825d.pth"
OFFICIAL_SHA256_PREFIX = "6726825d"
URL = f"https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/{OFFICIAL_NAME}"
WEIGHTS_ENV = "GANKIT_INCEPTION_WEIGHTS"
BATCH_SIZE = 50
# Its 1,008 logits are ImageNet's classes: the Inception Score reads them (as the papers do), but
# modes and the unrecognised share are about the dataset's classes and are left out.
LEFT_OUT = ("modes_covered", "kl_to_uniform", "unrecognised", "label_accuracy")


def weights_file(path: Path | str | None) -> Path:
    """``path``, else ``$GANKIT_INCEPTION_WEIGHTS``; one clear line when neither names a file."""
    chosen = path or os.environ.get(WEIGHTS_ENV) or None
    if chosen is None:
        raise GankitError(f"--features inception needs the InceptionV3 weights file: download "
                          f"{OFFICIAL_NAME} from {URL} once and pass --inception-weights PATH "
                          f"(or set {WEIGHTS_ENV}); gankit never downloads it while scoring.")
    chosen = Path(chosen).expanduser()
    if not chosen.is_file():
        raise GankitError(f"InceptionV3 weights '{chosen}' do not exist; pass the path of {OFFICIAL_NAME} "
                          f"(from {URL}) to --inception-weights.")
    return chosen


class InceptionFeatures:
    """InceptionV3 (pool3 features and logits) standing in for a gankit evaluator."""

    dataset = "inception"
    other_set = False

    def __init__(self, weights: Path, device: str | torch.device = "cpu") -> None:
        try:
            from torchmetrics.image.fid import NoTrainInceptionV3
            from torchmetrics.utilities.imports import _TORCH_FIDELITY_AVAILABLE
        except ImportError:  # pragma: no cover - torchmetrics is a dependency
            _TORCH_FIDELITY_AVAILABLE = False
        if not _TORCH_FIDELITY_AVAILABLE:
            raise GankitError("--features inception needs the torch-fidelity package: "
                              "pip install 'gankit[inception]'.")
        self.path = Path(weights)
        try:  # only a plain state dict of tensors: the network's own loader would unpickle anything
            state = safe_load(self.path)  # torch.load may be patched by a plugin: gankit.checkpoint
            if not isinstance(state, dict) or "Conv2d_1a_3x3.conv.weight" not in state:
                raise ValueError("not an InceptionV3 state dict")
            with torch.random.fork_rng(devices=[]):  # building it must not move the run's RNG
                net = NoTrainInceptionV3(name="inception-v3-compat",
                                         features_list=["2048", "logits_unbiased"],
                                         feature_extractor_weights_path=str(self.path))
        except Exception as error:  # noqa: BLE001 - any unreadable file is one line
            first = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise GankitError(f"Cannot read InceptionV3 weights '{self.path}' ({first}); pass "
                              f"{OFFICIAL_NAME} from {URL}.") from None
        self.net = net.to(device)
        self.sha256 = sha256_of(self.path)
        self.official = self.sha256.startswith(OFFICIAL_SHA256_PREFIX)
        self.meta: dict[str, Any] = {"dataset": "inception", "test_accuracy": None, "test_data": None}

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    def scores_left_out(self) -> tuple[str, ...]:
        return LEFT_OUT

    def record(self) -> dict[str, Any]:
        return {"dataset": "inception", "features": "inception", "sha256": self.sha256,
                "file": self.path.name, "official_weights": self.official, "test_accuracy": None,
                "test_data": None, "other_set": False}

    @torch.no_grad()
    def features(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> FeatureSet:
        """Pool3 features (N, 2048) and logits (N, 1008) of ``images`` (uint8, or float in [-1, 1])."""
        embeddings, logits = [], []
        for batch in images.split(BATCH_SIZE):
            batch = batch.to(self.device)
            if batch.dtype != torch.uint8:  # the network takes the 0..255 pixels a file would hold
                batch = batch.float().add(1).mul(127.5).round().clamp(0, 255).to(torch.uint8)
            if batch.shape[1] == 1:
                batch = batch.expand(-1, 3, -1, -1)
            # forward() keeps only the first feature; this torchmetrics method returns both at once
            pooled, logit = self.net._torch_fidelity_forward(batch)
            embeddings.append(pooled.reshape(len(batch), -1).float().cpu())
            logits.append(logit.float().cpu())
        return FeatureSet(torch.cat(embeddings), torch.cat(logits),
                          None if labels is None else labels.cpu(), 0.0)


def load_inception(weights: Path | str | None, device: str | torch.device = "cpu") -> InceptionFeatures:
    """The Inception feature extractor from ``weights`` (or ``$GANKIT_INCEPTION_WEIGHTS``)."""
    return InceptionFeatures(weights_file(weights), device)
