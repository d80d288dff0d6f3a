"""gankit: train, sample and compare GAN variants; each variant is a plugin.

The public API a plugin author needs is all here. Importing ``gankit`` does not import torch: the
torch-based names (``Generator``, ``Discriminator``, ``DiscriminatorOutput``, ``Networks``, ``Loss``,
``LogitLoss``) are loaded on first access. ``gankit.testing`` is the plugin authors' test kit.
"""

from __future__ import annotations

from typing import Any

from gankit.config import TrainConfig, param
from gankit.errors import (CheckpointError, ConfigError, DataError, GankitError, GankitWarning,
                           RegistryError, TrainingError)
from gankit.hookspecs import hookimpl
from gankit.registry import DataInfo, DataRequest, DatasetSpec, LossSpec, VariantSpec

__version__ = "0.1.0"

__all__ = [
    "__version__", "hookimpl", "TrainConfig", "param", "VariantSpec", "LossSpec", "DatasetSpec", "DataInfo",
    "DataRequest", "Generator", "Discriminator", "Networks", "Loss", "LogitLoss",
    "DiscriminatorLoss", "DiscriminatorOutput", "get_variant", "get_loss", "get_dataset",
    "GankitError", "ConfigError", "DataError", "RegistryError", "CheckpointError", "TrainingError",
    "GankitWarning",
]

_TORCH_NAMES = {
    "Generator": "gankit.nn", "Discriminator": "gankit.nn", "Networks": "gankit.nn",
    "DiscriminatorOutput": "gankit.nn",
    "Loss": "gankit.losses", "LogitLoss": "gankit.losses", "DiscriminatorLoss": "gankit.losses",
}


def __getattr__(name: str) -> Any:
    if name in _TORCH_NAMES:
        import importlib

        return getattr(importlib.import_module(_TORCH_NAMES[name]), name)
    raise AttributeError(f"module 'gankit' has no attribute '{name}'")


def get_variant(name: str) -> VariantSpec:
    """The registered variant called ``name`` (a clear error, with suggestions, if unknown)."""
    from gankit.host import get_host

    return get_host().variants.get(name)


def get_loss(name: str) -> LossSpec:
    """The registered loss called ``name``."""
    from gankit.host import get_host

    return get_host().losses.get(name)


def get_dataset(name: str) -> DatasetSpec:
    """The registered dataset called ``name``."""
    from gankit.host import get_host

    return get_host().datasets.get(name)
