"""gankit: train, sample and compare GAN variants; each variant is a plugin.

The public API a plugin author needs is all here. Importing ``gankit`` does not import torch: the
torch-based names (``Generator``, ``Discriminator``, ``Loss``, ``Callback``, ``load_run``, ...) are
loaded on first access. ``gankit.testing`` is the plugin authors' test kit, ``gankit.blocks`` holds
shared network building blocks, and ``gankit.cli.common`` what plugin commands share with gankit's.
"""

from __future__ import annotations

import importlib
from typing import Any

from gankit._version import __version__
from gankit.config import TrainConfig, param
from gankit.errors import (CheckpointError, ConfigError, DataError, GankitError, GankitWarning,
                           RegistryError, TrainingError)
from gankit.hookspecs import hookimpl
from gankit.registry import CallbackSpec, DataInfo, DataRequest, DatasetSpec, LossSpec, VariantSpec

# Public name -> the module that defines it, imported on first access (these import torch or Typer).
_LAZY = {
    "Generator": "gankit.nn", "Discriminator": "gankit.nn", "Networks": "gankit.nn",
    "DiscriminatorOutput": "gankit.nn", "LatentCode": "gankit.nn",
    "Loss": "gankit.losses", "LogitLoss": "gankit.losses", "DiscriminatorLoss": "gankit.losses",
    "discriminator_step_loss": "gankit.losses", "generator_step_loss": "gankit.losses",
    "Callback": "gankit.train.events", "TrainingContext": "gankit.train.events",
    "Batch": "gankit.train.events", "Optimizers": "gankit.train.optim",
    "load_run": "gankit.loading", "LoadedRun": "gankit.loading",
    "RunOptions": "gankit.train.run", "TrainResult": "gankit.train.run",
    "Interrupted": "gankit.train.run",
    "ImageData": "gankit.data.base", "PluginHost": "gankit.host", "build_app": "gankit.cli.app",
}

__all__ = [
    "__version__", "hookimpl", "TrainConfig", "param", "VariantSpec", "LossSpec", "DatasetSpec",
    "CallbackSpec", "DataInfo", "DataRequest", "get_variant", "get_loss", "get_dataset",
    "GankitError", "ConfigError", "DataError", "RegistryError", "CheckpointError", "TrainingError",
    "GankitWarning", *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later lookups skip __getattr__
        return value
    raise AttributeError(f"module 'gankit' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


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
