"""Training configs: the fields every variant shares, and ``--set KEY=VALUE`` parsing.

A variant's config is a dataclass that subclasses :class:`TrainConfig` and changes its defaults
(the vanilla plugin's defaults are the tutorial's recipe). Configs are plain data, torch-free, and
round-trip through ``config.json`` and checkpoints as dicts.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, Optional, Union, get_args, get_origin

from gankit.errors import ConfigError


@dataclass(frozen=True)
class Bounds:
    """The range a numeric config field must lie in; ``None`` leaves that side open."""

    ge: float | None = None  # >=
    gt: float | None = None  # >
    le: float | None = None  # <=
    lt: float | None = None  # <

    def violated(self, value: Any) -> bool:
        return ((self.ge is not None and not value >= self.ge)
                or (self.gt is not None and not value > self.gt)
                or (self.le is not None and not value <= self.le)
                or (self.lt is not None and not value < self.lt))

    def describe(self) -> str:
        low = f"[{self.ge:g}" if self.ge is not None else f"({self.gt:g}" if self.gt is not None else "(-inf"
        high = f"{self.le:g}]" if self.le is not None else f"{self.lt:g})" if self.lt is not None else "inf)"
        if high == "inf)":
            return f"at least {self.ge:g}" if self.ge is not None else f"greater than {self.gt:g}" \
                if self.gt is not None else "a number"
        return f"in {low}, {high}"


def param(default: Any, *, ge: float | None = None, gt: float | None = None,
          le: float | None = None, lt: float | None = None) -> Any:
    """A config field with declared bounds, checked by :class:`TrainConfig` when a config is made.

    ``dropout: float = param(0.5, ge=0, lt=1)`` rejects ``--set dropout=1`` with one line naming
    the range. A field whose default is ``None`` ("not set") is only checked when set.
    """
    return field(default=default, metadata={"bounds": Bounds(ge=ge, gt=gt, le=le, lt=lt)})


@dataclass
class TrainConfig:
    """Fields every variant has. Subclasses override defaults and add their own fields.

    A subclass that re-declares a field with a plain default keeps the bounds declared here.
    """

    epochs: int = param(20, ge=1)  # full passes over the dataset
    batch_size: int = param(64, ge=1)
    lr: float = param(2e-4, gt=0)  # the learning rate of both networks, unless g_lr / d_lr is set
    g_lr: Optional[float] = param(None, gt=0)  # G's own learning rate (TTUR); None: lr
    d_lr: Optional[float] = param(None, gt=0)  # D's own learning rate (TTUR); None: lr
    beta1: float = param(0.5, ge=0, lt=1)  # Adam's first-moment decay
    beta2: float = param(0.999, ge=0, lt=1)
    optimizer: Literal["adam", "adamw", "rmsprop", "sgd"] = "adam"
    weight_decay: float = param(0.0, ge=0)
    lr_schedule: Literal["constant", "linear", "cosine"] = "constant"  # decay to 0 over the run
    latent_dim: int = param(100, ge=1)  # size of the noise vector z
    loss: str = "bce"  # any registered loss: bce, minimax, lsgan, hinge, wgan-gp, ragan, ...
    n_critic: int = param(1, ge=1)  # D steps per G step
    gp_weight: float = param(10.0, ge=0)  # gradient-penalty weight, used by losses that have one
    # Engine features every variant has (gankit.train.ema / augment / regularisers); off by default.
    ema: float = param(0.0, ge=0, lt=1)  # G's weight average: decay per G step (0: none)
    augment: Literal["none", "diffaug", "ada"] = "none"  # differentiable augmentation of D's inputs
    r1: float = param(0.0, ge=0)  # R1 penalty weight gamma on D's gradient at real images (0: none)
    r1_every: int = param(1, ge=1)  # lazy R1: on every N-th D step only, weighted N times (StyleGAN2)

    def __post_init__(self) -> None:
        check_bounds(self)

    @property
    def generator_lr(self) -> float:
        return self.lr if self.g_lr is None else self.g_lr

    @property
    def discriminator_lr(self) -> float:
        return self.lr if self.d_lr is None else self.d_lr


def field_bounds(config_class: type) -> dict[str, Bounds]:
    """Each field's declared bounds, inherited from the base class where a subclass only changed
    the default."""
    found: dict[str, Bounds] = {}
    for klass in reversed(config_class.__mro__):
        if dataclasses.is_dataclass(klass):
            for f in dataclasses.fields(klass):
                if "bounds" in f.metadata:
                    found[f.name] = f.metadata["bounds"]
    return found


def check_bounds(config: Any) -> None:
    for name, bounds in field_bounds(type(config)).items():
        value = getattr(config, name)
        if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{name} must be a finite number, got {value}.")
        if bounds.violated(value):
            raise ConfigError(f"{name} must be {bounds.describe()}, got {value}.")


def config_fields(config_class: type) -> dict[str, Any]:
    """Field name -> resolved type annotation."""
    hints = typing.get_type_hints(config_class)
    return {f.name: hints[f.name] for f in dataclasses.fields(config_class)}


def parse_value(key: str, text: str, annotation: Any) -> Any:
    """Convert the string from ``--set key=text`` to the field's type."""
    origin = get_origin(annotation)
    # Optional[X]: "none" unsets it.
    if origin in (Union, types.UnionType) and type(None) in get_args(annotation):
        if text.strip().lower() in ("none", "null", ""):
            return None
        (inner,) = [arg for arg in get_args(annotation) if arg is not type(None)]
        return parse_value(key, text, inner)
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
            value = annotation(text)
        except ValueError:
            raise ConfigError(f"{key} must be {annotation.__name__}; got '{text}'.") from None
        if annotation is float and not math.isfinite(value):
            raise ConfigError(f"{key} must be a finite number; got '{text}'.")
        return value
    raise ConfigError(f"{key} has a type ({annotation}) that --set cannot parse.")


def build_config(config_class: type, overrides: dict[str, Any] | None = None,
                 base: dict[str, Any] | None = None) -> Any:
    """Create a config from ``base`` (e.g. a saved run's values) with ``overrides`` applied.

    Override values may be strings (from ``--set``) or already-typed values (from typed options).
    Unknown keys are rejected with the list of valid ones. A saved ``base`` that lacks a field the
    class lists in ``added_fields`` (a ``ClassVar``: field -> the value runs saved before it had)
    gets that value, not the new default: older runs rebuild the networks they trained.
    """
    fields = config_fields(config_class)
    values: dict[str, Any] = {}
    if base is not None:
        values.update({key: value for key, value in getattr(config_class, "added_fields", {}).items()
                       if key not in base})
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


def key_value_pairs(items: list[str] | None, option: str) -> dict[str, str]:
    """``["a=1", "b=x"]`` -> ``{"a": "1", "b": "x"}``: every ``KEY=VALUE`` option (``--set``,
    ``--data-option``, a plugin's own) is read here. An item without ``=`` or without a key is a
    :class:`gankit.ConfigError` naming ``option``."""
    result = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{option} expects KEY=VALUE, got '{item}'.")
        result[key.strip()] = value.strip()
    return result


def parse_set_options(items: list[str]) -> dict[str, str]:
    """``--set`` values: ``["a=1", "b=x"]`` -> ``{"a": "1", "b": "x"}``."""
    return key_value_pairs(items, "--set")


def config_to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)
