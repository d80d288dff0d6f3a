"""What a dataset loader returns, and the steps the MNIST-style loaders share.

Importing this module does not import torch (``gankit.data`` re-exports it, and ``gankit --help``
must stay fast); torch and torchvision are imported inside the functions that need them.

A failed download is remembered for :data:`RETRY_AFTER_HOURS` in a marker file in the data root
(``.download-failed-mnist``: when and why), so a machine without internet does not wait on every
run; ``GANKIT_RETRY_DOWNLOAD=1`` tries again at once (:func:`download_unless_failed_lately`).
"""

from __future__ import annotations

import math
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

from gankit._io import env_flag
from gankit.errors import DataError

if TYPE_CHECKING:
    import torch

# File-name prefixes and image counts of the two splits, shared by MNIST and Fashion-MNIST.
SPLIT_PREFIX = {"train": "train", "test": "t10k"}
SPLIT_SIZES = {"train": 60_000, "test": 10_000}

RETRY_AFTER_HOURS = 24  # how long a failed download is not tried again
RETRY_FLAG = "GANKIT_RETRY_DOWNLOAD"  # set: try a download now, whatever failed before


@dataclass(frozen=True)
class ImageData:
    """Images loaded for training or evaluation.

    :param images: uint8 tensor of shape (N, C, H, W).
    :param labels: int64 tensor of shape (N,), or None for unlabelled data.
    :param source: a short description of where the data came from, for logs and run metadata.
    :param notice: a warning to show the user when a fallback was used (None otherwise; a loader
        may also leave out a notice this process has already given, as MNIST's train split does).
    :param is_full: whether this is the complete split rather than a subset.
    :param num_classes: the number of classes when only loading can tell (class sub-folders);
        None leaves it to the ``DatasetSpec``.
    :param cache_file: the cache file ``images`` and ``labels`` are memory-mapped from, whole (a
        streaming reader reopens it in each worker instead of copying the pixels to it).
    """

    images: torch.Tensor
    labels: torch.Tensor | None
    source: str
    notice: str | None = None
    is_full: bool = True
    num_classes: int | None = None
    cache_file: Path | None = None

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def subset(self, n: int, seed: int) -> "ImageData":
        """A seeded random subset of ``n`` images (all of them if there are no more than ``n``)."""
        if n >= len(self):
            return self
        import dataclasses

        import torch

        keep = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))[:n]
        return dataclasses.replace(self, images=self.images[keep], cache_file=None,
                                   labels=self.labels[keep] if self.labels is not None else None)

    def to_signed(self, device: "torch.device | str | None" = None) -> "torch.Tensor":
        """The images as float32 in [-1, 1] (what every variant sees), optionally on ``device``."""
        return to_signed(self.images.to(device) if device is not None else self.images)


def to_signed(images: "torch.Tensor") -> "torch.Tensor":
    """uint8 images -> float32 in [-1, 1], what every variant and evaluator sees (floats pass as
    float32, unchanged)."""
    import torch

    return images.float().div(127.5).sub(1.0) if images.dtype == torch.uint8 else images.float()


def split_file_names(split: str) -> tuple[str, str]:
    """The uncompressed IDX file names of a split: (images, labels)."""
    try:
        prefix = SPLIT_PREFIX[split]
    except KeyError:
        raise DataError(f"Unknown data split '{split}', expected 'train' or 'test'.") from None
    return f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"


def find_split_files(
    folders: Iterable[Path],
    split: str,
    skip: Callable[[Path], bool] | None = None,
) -> tuple[Path, Path] | None:
    """The (images, labels) paths in the first folder holding both files of the split, or None.

    Each file may be ``.gz`` or uncompressed; the ``.gz`` is preferred because it can be checked
    against the official MD5. ``skip(path)`` lets a caller pass over files that belong to another
    dataset (MNIST and Fashion-MNIST use the same file names).
    """
    names = split_file_names(split)
    for folder in folders:
        found = [_first_existing(folder, name) for name in names]
        if all(found) and not (skip and any(skip(path) for path in found)):
            return found[0], found[1]
    return None


def _first_existing(folder: Path, name: str) -> Path | None:
    for candidate in (folder / f"{name}.gz", folder / name):
        if candidate.is_file():
            return candidate
    return None


def download_with_torchvision(class_name: str, root: Path, split: str, timeout: float) -> str | None:
    """Let ``torchvision.datasets.<class_name>`` download into ``root/<class_name>/raw``.

    :returns: None on success, else a short one-line reason for the failure. Never raises: a failed
        download only means the caller moves on to its next source.
    """
    try:
        import torchvision.datasets
    except ImportError:
        return "torchvision is not installed"
    previous_timeout = socket.getdefaulttimeout()
    # Bound every socket operation so an unreachable mirror cannot hang the run.
    socket.setdefaulttimeout(timeout)
    try:
        dataset_class = getattr(torchvision.datasets, class_name)
        dataset_class(str(root), train=(split == "train"), download=True)
    except Exception as exc:  # noqa: BLE001 - any failure just means "no download"
        return short_reason(exc)
    finally:
        socket.setdefaulttimeout(previous_timeout)
    return None


def download_unless_failed_lately(class_name: str, root: Path, split: str, timeout: float,
                                  key: str) -> str | None:
    """:func:`download_with_torchvision`, unless a download of ``key`` (``mnist``) failed within
    :data:`RETRY_AFTER_HOURS` and ``GANKIT_RETRY_DOWNLOAD`` is not set: then it is not tried.

    A failure writes ``root/.download-failed-KEY`` (the time and the reason); a success removes it.
    :returns: None on success, else why there is no download, in a few words that say when the
        next try is and how to have it now.
    """
    marker = Path(root) / f".download-failed-{key}"
    hours = _hours_since(marker)
    if hours is not None and hours < RETRY_AFTER_HOURS and not env_flag(RETRY_FLAG):
        ago = f"{hours * 60:.0f} min" if hours < 1 else f"{hours:.0f} h"
        return (f"download failed {ago} ago; next try in {math.ceil(RETRY_AFTER_HOURS - hours)} h, or "
                f"now with {RETRY_FLAG}=1")
    failure = download_with_torchvision(class_name, Path(root), split, timeout)
    try:
        if failure is None:
            marker.unlink(missing_ok=True)
        else:
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text(f"{time.strftime('%Y-%m-%dT%H:%M:%S%z')} {failure}\n", encoding="utf-8")
    except OSError:  # a read-only data root: the download is simply tried again next time
        pass
    if failure is None:
        return None
    return f"download failed: {failure}; next try in {RETRY_AFTER_HOURS} h, or now with {RETRY_FLAG}=1"


def _hours_since(marker: Path) -> float | None:
    try:
        return max(0.0, time.time() - marker.stat().st_mtime) / 3600
    except OSError:
        return None


def shown_path(path: Path | str) -> str:
    """``path`` as a notice shows it: ``~/...`` under the home directory, which a shared log or a
    report should not name."""
    try:
        relative = Path(path).relative_to(Path.home())
    except (ValueError, RuntimeError):  # elsewhere, or no home directory
        return str(path)
    return "~" if relative == Path(".") else f"~/{relative.as_posix()}"


def short_reason(exc: BaseException, limit: int = 200) -> str:
    """An exception as one short line: its type, first line and (if different) last line."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = type(exc).__name__
    if lines:
        text += f": {lines[0]}"
        if len(lines) > 1:
            text += f" ... {lines[-1]}"  # torchvision ends with the network error
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe_split(dataset: str, split: str) -> str:
    """E.g. 'full MNIST train split, 60,000 images'."""
    return f"full {dataset} {split} split, {SPLIT_SIZES[split]:,} images"
