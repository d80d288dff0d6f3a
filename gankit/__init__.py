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
    "load_run": "gankit.loading", "LoadedRun": "gankit.loading", "ImageData": "gankit.data.base",
    "load_generator": "gankit.exported", "ExportedGenerator": "gankit.exported",
}

# The runner's names, public here in gankit 0.1: they still work, with a DeprecationWarning naming
# where they live (docs/compatibility.md says for how long), but a plugin needs none of them.
_DEPRECATED = {
    "RunOptions": "gankit.train", "TrainResult": "gankit.train", "Interrupted": "gankit.train",
    "PluginHost": "gankit.host", "build_app": "gankit.cli",
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
    if name in _DEPRECATED:  # not cached: each use warns, so every caller learns the new place
        import warnings

        warnings.warn(f"gankit.{name} is deprecated and will be removed in gankit 0.3; import it from "
                      f"{_DEPRECATED[name]} ({_DEPRECATED[name]}.{name}).", DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(_DEPRECATED[name]), name)
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
