"""What plugins register: the specs of variants, losses, datasets and callbacks (their registry
is :mod:`gankit.names`).

Everything here is torch-free: a spec only *describes* a thing and carries a factory that imports
torch when called. That keeps ``gankit --help`` and ``gankit list`` fast, however many plugins are
installed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from gankit.names import QUALIFIER, Registration, Registry, split_name

__all__ = ["VariantSpec", "LossSpec", "DataInfo", "DataRequest", "DatasetSpec", "CallbackSpec", "Registry",
           "Registration", "split_name", "QUALIFIER"]


@dataclass(frozen=True)
class VariantSpec:
    """A GAN variant: its defaults and how to build its networks.

    :param name: the name users type (``gankit train NAME``).
    :param summary: one line for ``gankit list``.
    :param config_class: a dataclass subclassing :class:`gankit.TrainConfig` whose defaults are the
        variant's recipe; every field can be set with ``--set KEY=VALUE``.
    :param build: ``build(config, data_info) -> Networks``; imports torch lazily.
        ``build`` may also take a keyword ``loss`` (the run's :class:`LossSpec`), e.g. to swap
        BatchNorm for a per-sample norm when ``loss.per_sample_penalty`` is set.
    :param conditional: whether G and D take class labels.
    :param supports: optional ``supports(data_info) -> str | None``, returning why a dataset cannot
        be used (``None`` when it can).
    :param paper: the citation shown in ``gankit list --json`` and the docs.
    :param optimizers: optional ``optimizers(config, networks) -> gankit.Optimizers``, for a variant
        whose recipe needs other optimizers or schedulers than the config's ``optimizer``,
        ``g_lr``/``d_lr`` and ``lr_schedule`` give (the engine's default builds those).
    """

    name: str
    summary: str
    config_class: type
    build: Callable[..., Any]
    conditional: bool = False
    supports: Callable[["DataInfo"], str | None] | None = None
    paper: str = ""
    optimizers: Callable[[Any, Any], Any] | None = None

    def build_networks(self, config: Any, data_info: "DataInfo", loss: "LossSpec | None" = None) -> Any:
        """Call :attr:`build`, handing it ``loss=`` when its signature takes that keyword."""
        import inspect

        try:
            takes_loss = "loss" in inspect.signature(self.build).parameters
        except (TypeError, ValueError):
            takes_loss = False
        if takes_loss:
            return self.build(config, data_info, loss=loss)
        return self.build(config, data_info)


@dataclass(frozen=True)
class LossSpec:
    """A GAN objective.

    :param name: the name users pass to ``--loss``.
    :param summary: one line for ``gankit list``.
    :param build: ``build(config) -> gankit.Loss``; imports torch lazily.
    :param per_sample_penalty: the loss penalises D's gradient per sample (WGAN-GP, R1); batch
        statistics (BatchNorm) in D break that, so variants swap to a per-sample norm.
    """

    name: str
    summary: str
    build: Callable[[Any], Any]
    per_sample_penalty: bool = False


@dataclass(frozen=True)
class DataInfo:
    """What a variant needs to know about a dataset to size its networks.

    ``label_shares``: the share of each label the training batches carry (cluster ids when the
    config asks for ``clusters``: gankit/data/clusters.py), for a generator that draws its own
    labels; ``None`` when the batches carry none, or a run is rebuilt from its folder.
    """

    name: str
    image_shape: tuple[int, int, int]
    num_classes: int | None
    label_shares: tuple[float, ...] | None = None

    def upsampling_plan(self, start_sides: tuple[int, ...] = (4, 7),
                        max_doublings: int = 5) -> tuple[int, int] | None:
        """``(start_side, doublings)`` with ``start_side * 2**doublings`` equal to the image side,
        for conv stacks that start from a small map and double it; ``None`` for non-square images
        or sides no start reaches (28 -> (7, 2), 32 -> (4, 3), 64 -> (4, 4))."""
        _, height, width = self.image_shape
        if height != width:
            return None
        for start in start_sides:
            for doublings in range(1, max_doublings + 1):
                if start * 2 ** doublings == height:
                    return start, doublings
        return None


def _default_root() -> Path:
    from gankit.data import default_data_root

    return default_data_root()


@dataclass(frozen=True)
class DataRequest:
    """Where and how to look for a dataset's files.

    :param root: the data root (``--data-root``, ``$GANKIT_DATA_ROOT`` or the per-user cache).
    :param split: ``"train"`` or ``"test"``.
    :param download: whether a download may be attempted when the files are not on disk.
    :param require_full: refuse fallbacks to a bundled subset; error if the full set is absent.
    :param download_timeout: seconds before a download attempt gives up.
    :param options: the dataset's own options (``--data-option KEY=VALUE``), as strings; only
        names the dataset declares in :attr:`DatasetSpec.options` reach it.
    """

    root: Path | None = None  # None: $GANKIT_DATA_ROOT or the per-user cache, resolved here
    split: str = "train"
    download: bool = True
    require_full: bool = False
    download_timeout: float = 10.0
    options: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # The one place a missing data root gets its default, so callers pass --data-root as given.
        object.__setattr__(self, "root", Path(self.root).expanduser() if self.root else _default_root())


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset: its shape and a loader.

    :param image_shape: (C, H, W), or ``None`` when only loading can tell (a folder of images, a
        file chosen with ``--data-option``); the engine then sizes the networks from the loaded data.
    :param num_classes: how many labels, ``None`` for unlabelled data.
    :param load: ``load(request) -> gankit.data.ImageData`` (uint8 images (N, C, H, W), int64 labels
        or ``None``, and a description of the source actually used).
    :param options: the options ``load`` reads from ``request.options``, name -> one-line help;
        ``--data-option`` refuses any other name.
    """

    name: str
    summary: str
    image_shape: tuple[int, int, int] | None
    num_classes: int | None
    load: Callable[[DataRequest], Any]
    options: dict[str, str] = field(default_factory=dict)

    @property
    def info(self) -> DataInfo:
        """What is known before loading; ``image_shape`` may be ``None`` (see :meth:`info_for`)."""
        return DataInfo(self.name, self.image_shape, self.num_classes)  # type: ignore[arg-type]

    def info_for(self, images_shape: tuple[int, ...], num_classes: int | None = None,
                 label_shares: tuple[float, ...] | None = None) -> DataInfo:
        """The info of loaded images of shape (N, C, H, W); ``num_classes`` is the loaded data's
        class count (``ImageData.num_classes``), used when the spec declares none."""
        classes = self.num_classes if self.num_classes is not None else num_classes
        return DataInfo(self.name, tuple(int(d) for d in images_shape[1:]), classes,  # type: ignore[arg-type]
                        label_shares)


@dataclass(frozen=True)
class CallbackSpec:
    """A training callback a plugin offers (``gankit train VARIANT --callback NAME``).

    :param name: the name users pass to ``--callback``.
    :param summary: one line for ``gankit list``.
    :param build: ``build(config) -> gankit.Callback``, called once per run with the run's
        config; imports torch lazily.
    """

    name: str
    summary: str
    build: Callable[[Any], Any]
