"""Training configs: the fields every variant shares, and ``--set KEY=VALUE`` parsing.

A variant's config is a dataclass that subclasses :class:`TrainConfig` and changes its defaults
(the vanilla plugin's defaults are the tutorial's recipe). Configs are plain data, torch-free, and
round-trip through ``config.json`` and checkpoints as dicts.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import io
import math
import textwrap
import tokenize
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
    bcr: float = param(0.0, ge=0)  # bCR weight: D's outputs kept equal on shifted images (0: none; paper: 10)
    bcr_flip: bool = False  # bCR's image change also flips left-right (natural images; not digits)

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
        # A list or tuple field's bounds hold for each of its items: `param((64, 128), ge=1)`.
        for item in value if isinstance(value, (list, tuple)) else ():
            _check_number(name, item, bounds)
        _check_number(name, value, bounds)


def _check_number(name: str, value: Any, bounds: Bounds) -> None:
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value}.")
    if bounds.violated(value):
        raise ConfigError(f"{name} must be {bounds.describe()}, got {value}.")


def config_fields(config_class: type) -> dict[str, Any]:
    """Field name -> resolved type annotation."""
    hints = typing.get_type_hints(config_class)
    return {f.name: hints[f.name] for f in dataclasses.fields(config_class)}


def field_comments(config_class: type) -> dict[str, str]:
    """Field name -> its one-line meaning: the ``# comment`` after the field in the class that
    declares it (else a comment block right above it), read from the source of ``config_class`` and
    each base that declares fields, so a plugin's config documents itself. A subclass's comment on a
    field it re-declares is added to the base's; a class whose source is unavailable gives none."""
    found: dict[str, str] = {}
    for klass in reversed(config_class.__mro__):
        if not (dataclasses.is_dataclass(klass) and klass.__dict__.get("__annotations__")):
            continue
        try:
            source = textwrap.dedent(inspect.getsource(klass))
        except (OSError, TypeError):  # built in a REPL, from a .pyc only, or made by make_dataclass
            continue
        for name, comment in _declared_comments(source).items():
            before = found.get(name)
            found[name] = comment if not before or comment == before else f"{before}; {comment}"
    return found


def _declared_comments(source: str) -> dict[str, str]:
    """The comment of each annotated assignment in the body of the class ``source`` holds."""
    try:
        body = ast.parse(source).body[0].body  # type: ignore[attr-defined]
        comments = {token.start[0]: (token.string.lstrip("#").strip(), token.line.lstrip().startswith("#"))
                    for token in tokenize.generate_tokens(io.StringIO(source).readline)
                    if token.type == tokenize.COMMENT}
    except (SyntaxError, tokenize.TokenError, IndexError, AttributeError):
        return {}
    found = {}
    for node in body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        lines = range(node.lineno, (node.end_lineno or node.lineno) + 1)
        trailing = [comments[line][0] for line in lines if line in comments]
        above, line = [], node.lineno - 1
        while line in comments and comments[line][1]:  # a block of whole-line comments, no gap
            above.insert(0, comments[line][0])
            line -= 1
        text = " ".join(trailing or above).strip()
        if text:
            found[node.target.id] = text
    return found


def parse_value(key: str, text: str, annotation: Any) -> Any:
    """Convert the string from ``--set key=text`` to the field's type (:func:`type_problem` says
    which types those are)."""
    origin = get_origin(annotation)
    # Optional[X]: "none" unsets it.
    if origin in (Union, types.UnionType) and type(None) in get_args(annotation):
        if text.strip().lower() in ("none", "null", ""):
            return None
        inner = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(inner) == 1:
            return parse_value(key, text, inner[0])
    if origin in (tuple, list) and _item_types(annotation) is not None:
        return _parse_sequence(key, text, annotation)
    if origin is Literal or annotation in (bool, int, float, str):
        return _parse_scalar(key, text, annotation)
    raise ConfigError(f"{key} has a type ({describe_type(annotation)}) that --set cannot parse; "
                      f"{type_problem(annotation)}.")


def _parse_scalar(key: str, text: str, annotation: Any) -> Any:
    if get_origin(annotation) is Literal:
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
    try:
        value = annotation(text)
    except ValueError:
        raise ConfigError(f"{key} must be {annotation.__name__}; got '{text}'.") from None
    if annotation is float and not math.isfinite(value):
        raise ConfigError(f"{key} must be a finite number; got '{text}'.")
    return value


def _item_types(annotation: Any) -> tuple[Any, ...] | None:
    """``(int,)`` for ``list[int]`` and ``tuple[int, ...]``, ``(int, float)`` for a fixed
    ``tuple[int, float]``; ``None`` for a list or tuple whose items are not all scalars."""
    args = get_args(annotation)
    if get_origin(annotation) is list:
        items = args if len(args) == 1 else ()
    elif len(args) == 2 and args[1] is Ellipsis:
        items = args[:1]
    else:
        items = args
    if not items or any(_scalar_problem(item) for item in items):
        return None
    return items


def _variadic(annotation: Any) -> bool:
    args = get_args(annotation)
    return get_origin(annotation) is list or (len(args) == 2 and args[1] is Ellipsis)


def _parse_sequence(key: str, text: str, annotation: Any) -> Any:
    # Comma-separated, as `--code` takes values: `--set channels=64,128,256`; empty text: no items.
    items = _item_types(annotation) or ()
    parts = [part.strip() for part in text.split(",")] if text.strip() else []
    expected = describe_type(annotation)
    if not _variadic(annotation) and len(parts) != len(items):
        raise ConfigError(f"{key} must be {expected}; got '{text}' ({len(parts)} "
                          f"value{'s' if len(parts) != 1 else ''}).")
    kinds = items * len(parts) if _variadic(annotation) else items
    try:
        values = [_parse_scalar(key, part, kind) for part, kind in zip(parts, kinds)]
    except ConfigError:
        raise ConfigError(f"{key} must be {expected}; got '{text}'.") from None
    return values if get_origin(annotation) is list else tuple(values)


_PLURAL = {int: "ints", float: "floats", str: "strings", bool: "bools"}
_EXAMPLE = {int: "1,2,3", float: "0.5,1.5", str: "a,b", bool: "true,false"}


def describe_type(annotation: Any) -> str:
    """A field's type as a user types it: ``int``, ``float or none``, ``one of adam|sgd``,
    ``list of ints: 1,2,3``, ``2 ints: 1,2``; never a Python repr when the type is one --set parses."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (Union, types.UnionType) and type(None) in args:
        inner = [arg for arg in args if arg is not type(None)]
        if len(inner) == 1:
            return f"{describe_type(inner[0])} or none"
    if origin is Literal:
        return "one of " + "|".join(map(str, args))
    if isinstance(annotation, type) and annotation in _PLURAL:
        return annotation.__name__
    items = _item_types(annotation) if origin in (tuple, list) else None
    if items is not None and _variadic(annotation):
        kind = items[0]
        return f"list of {_PLURAL.get(kind, 'values')}: {','.join(_example(kind, i) for i in range(2))}" \
            if kind not in _EXAMPLE else f"list of {_PLURAL[kind]}: {_EXAMPLE[kind]}"
    if items is not None:
        example = ",".join(_example(kind, i) for i, kind in enumerate(items))
        if len(set(items)) == 1 and items[0] in _PLURAL:
            return f"{len(items)} {_PLURAL[items[0]]}: {example}"
        return f"{','.join(describe_type(kind) for kind in items)}: {example}"
    # A type --set cannot parse (type_problem says why): spelt as declared, e.g. dict[str, int].
    if origin is None and isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def _example(kind: Any, index: int) -> str:
    choices = [str(arg) for arg in get_args(kind)] if get_origin(kind) is Literal else \
        _EXAMPLE.get(kind, "a,b").split(",")
    return choices[index % len(choices)]


def _scalar_problem(annotation: Any) -> str | None:
    if get_origin(annotation) is Literal:
        bad = [arg for arg in get_args(annotation) if not isinstance(arg, (str, int, float))]
        return f"its choices {bad} are not strings or numbers" if bad else None
    if annotation in (bool, int, float, str):
        return None
    return f"{describe_type(annotation)} is not int, float, bool, str or a Literal of those"


def type_problem(annotation: Any) -> str | None:
    """Why ``--set`` cannot parse a field of this type, or ``None`` when it can: int, float, bool,
    str, a Literal of those, Optional of any of these, a list or tuple of scalars (``1,2,3``)."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (Union, types.UnionType):
        inner = [arg for arg in args if arg is not type(None)]
        if type(None) not in args or len(inner) != 1:
            return "a union other than Optional[X] has no one way to read a string"
        return type_problem(inner[0])
    if origin in (tuple, list):
        if _item_types(annotation) is None:
            return "its items must be int, float, bool, str or a Literal of those (e.g. tuple[int, ...])"
        return None
    return _scalar_problem(annotation)


def unparseable_fields(config_class: type) -> dict[str, str]:
    """Field name -> why ``--set`` cannot parse it, for every such field of ``config_class``
    (a field whose annotation cannot even be resolved included)."""
    try:
        fields = config_fields(config_class)
    except Exception as error:  # a forward reference to a name the module lacks, say
        return {"(annotations)": f"they cannot be resolved ({type(error).__name__}: {error})"}
    problems = {name: type_problem(annotation) for name, annotation in fields.items()}
    return {name: problem for name, problem in problems.items() if problem}


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
                    f"Valid keys: {', '.join(fields)}; `gankit show VARIANT` lists them with their defaults."
                )
            values[key] = parse_value(key, value, fields[key]) if isinstance(value, str) \
                and fields[key] is not str else _as_declared(value, fields[key])
    try:
        return config_class(**values)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"Bad config for {config_class.__name__}: {error}") from None


def _as_declared(value: Any, annotation: Any) -> Any:
    # config.json stores a tuple as a JSON list: a run rebuilt from it gets the tuple it trained with.
    if isinstance(value, list) and (get_origin(annotation) is tuple or tuple in map(get_origin, get_args(
            annotation) if get_origin(annotation) in (Union, types.UnionType) else ())):
        return tuple(value)
    return value


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
