"""Training configs: the fields every variant shares, and ``--set KEY=VALUE`` parsing.

A variant's config is a dataclass that subclasses :class:`TrainConfig` and changes its defaults
(the vanilla plugin's defaults are the tutorial's recipe). Configs are plain data, torch-free, and
round-trip through ``config.json`` and checkpoints as dicts.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any, Literal, get_args, get_origin

from gankit.errors import ConfigError


@dataclass
class TrainConfig:
    """Fields every variant has. Subclasses override defaults and add their own fields."""

    epochs: int = 20  # full passes over the dataset
    batch_size: int = 64
    lr: float = 2e-4  # Adam's learning rate, for G and D alike
    beta1: float = 0.5  # Adam's first-moment decay
    beta2: float = 0.999
    latent_dim: int = 100  # size of the noise vector z
    loss: str = "bce"  # any registered loss: bce, minimax, lsgan, hinge, wgan-gp, ...
    n_critic: int = 1  # D steps per G step
    gp_weight: float = 10.0  # gradient-penalty weight, used by losses that have one (wgan-gp)

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "latent_dim", "n_critic"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}.")
        if not self.lr > 0:
            raise ConfigError(f"lr must be positive, got {self.lr}.")
        for name in ("beta1", "beta2"):
            if not 0 <= getattr(self, name) < 1:
                raise ConfigError(f"{name} must be in [0, 1), got {getattr(self, name)}.")
        if self.gp_weight < 0:
            raise ConfigError(f"gp_weight must be >= 0, got {self.gp_weight}.")


def config_fields(config_class: type) -> dict[str, Any]:
    """Field name -> resolved type annotation."""
    hints = typing.get_type_hints(config_class)
    return {f.name: hints[f.name] for f in dataclasses.fields(config_class)}


def parse_value(key: str, text: str, annotation: Any) -> Any:
    """Convert the string from ``--set key=text`` to the field's type."""
    origin = get_origin(annotation)
    if origin is Literal:
        choices = get_args(annotation)
        for choice in choices:
            if text == str(choice):
                return choice
        raise ConfigError(f"{key} must be one of {', '.join(map(str, choices))}; got '{text}'.")
    if annotation is bool:
        lowered = text.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{key} must be true or false; got '{text}'.")
    if annotation in (int, float, str):
        try:
            return annotation(text)
        except ValueError:
            raise ConfigError(f"{key} must be {annotation.__name__}; got '{text}'.") from None
    raise ConfigError(f"{key} has a type ({annotation}) that --set cannot parse.")


def build_config(config_class: type, overrides: dict[str, Any] | None = None,
                 base: dict[str, Any] | None = None) -> Any:
    """Create a config from ``base`` (e.g. a saved run's values) with ``overrides`` applied.

    Override values may be strings (from ``--set``) or already-typed values (from typed options).
    Unknown keys are rejected with the list of valid ones.
    """
    fields = config_fields(config_class)
    values: dict[str, Any] = {}
    for source in (base or {}, overrides or {}):
        for key, value in source.items():
            if key not in fields:
                raise ConfigError(
                    f"Unknown config key '{key}' for {config_class.__name__}. "
                    f"Valid keys: {', '.join(fields)}."
                )
            values[key] = parse_value(key, value, fields[key]) if isinstance(value, str) \
                and fields[key] is not str else value
    try:
        return config_class(**values)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"Bad config for {config_class.__name__}: {error}") from None


def parse_set_options(items: list[str]) -> dict[str, str]:
    """``["a=1", "b=x"]`` -> ``{"a": "1", "b": "x"}``."""
    result = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects KEY=VALUE, got '{item}'.")
        result[key.strip()] = value.strip()
    return result


def config_to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)
