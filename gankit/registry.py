"""Name -> spec registries for variants, losses and datasets.

Everything here is torch-free: a spec only *describes* a thing and carries a factory that imports
torch when called. That keeps ``gankit --help`` and ``gankit list`` fast, however many plugins are
installed.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Generic, Iterator, TypeVar

from gankit.errors import RegistryError


@dataclass(frozen=True)
class VariantSpec:
    """A GAN variant: its defaults and how to build its networks.

    :param name: the name users type (``gankit train NAME``).
    :param summary: one line for ``gankit list``.
    :param config_class: a dataclass subclassing :class:`gankit.TrainConfig` whose defaults are the
        variant's recipe; every field can be set with ``--set KEY=VALUE``.
    :param build: ``build(config, data_info) -> Networks``; imports torch lazily.
    :param conditional: whether G and D take class labels.
    :param supports: optional ``supports(data_info) -> str | None``, returning why a dataset cannot
        be used (``None`` when it can).
    :param paper: the citation shown in ``gankit list --verbose`` and the docs.
    """

    name: str
    summary: str
    config_class: type
    build: Callable[[Any, "DataInfo"], Any]
    conditional: bool = False
    supports: Callable[["DataInfo"], str | None] | None = None
    paper: str = ""


@dataclass(frozen=True)
class LossSpec:
    """A GAN objective.

    :param name: the name users pass to ``--loss``.
    :param summary: one line for ``gankit list``.
    :param build: ``build(config) -> gankit.Loss``; imports torch lazily.
    """

    name: str
    summary: str
    build: Callable[[Any], Any]


@dataclass(frozen=True)
class DataInfo:
    """What a variant needs to know about a dataset to size its networks."""

    name: str
    image_shape: tuple[int, int, int]
    num_classes: int | None


@dataclass(frozen=True)
class DataRequest:
    """Where and how to look for a dataset's files.

    :param root: the data root (``--data-root``, ``$GANKIT_DATA_ROOT`` or the per-user cache).
    :param split: ``"train"`` or ``"test"``.
    :param download: whether a download may be attempted when the files are not on disk.
    :param require_full: refuse fallbacks to a bundled subset; error if the full set is absent.
    :param download_timeout: seconds before a download attempt gives up.
    """

    root: Path
    split: str = "train"
    download: bool = True
    require_full: bool = False
    download_timeout: float = 10.0


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset: its shape and a loader.

    :param load: ``load(request) -> gankit.data.ImageData`` (uint8 images (N, C, H, W), int64 labels
        or ``None``, and a description of the source actually used).
    """

    name: str
    summary: str
    image_shape: tuple[int, int, int]
    num_classes: int | None
    load: Callable[[DataRequest], Any]

    @property
    def info(self) -> DataInfo:
        return DataInfo(self.name, self.image_shape, self.num_classes)


T = TypeVar("T")


@dataclass
class Registry(Generic[T]):
    """Specs by name, remembering which plugin registered each."""

    kind: str  # "variant", "loss", "dataset": used in error messages
    _items: dict[str, T] = field(default_factory=dict)
    _owners: dict[str, str] = field(default_factory=dict)

    def register(self, name: str, item: T, owner: str) -> None:
        if name in self._items:
            raise RegistryError(
                f"{self.kind.capitalize()} '{name}' is registered twice: by '{self._owners[name]}' "
                f"and by '{owner}'. Rename one, or disable a plugin with GANKIT_DISABLE_PLUGINS."
            )
        self._items[name] = item
        self._owners[name] = owner

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise RegistryError(self.unknown_message(name)) from None

    def unknown_message(self, name: str) -> str:
        available = ", ".join(self.names()) or "(none registered)"
        close = difflib.get_close_matches(name, self.names(), n=1, cutoff=0.6)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        return f"Unknown {self.kind} '{name}'.{hint} Available: {available}"

    def owner(self, name: str) -> str:
        return self._owners[name]

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[T]:
        return iter(self._items[name] for name in self.names())

    def __len__(self) -> int:
        return len(self._items)
