"""``gankit.load_run``: a trained run back as networks, config and metadata, for notebooks,
plugin commands and evaluation."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from gankit.checkpoint import load_checkpoint
from gankit.config import build_config
from gankit.errors import CheckpointError
from gankit.host import PluginHost, get_host
from gankit.registry import DataInfo
from gankit.runs import CONFIG_FILE, recorded_names, resolve_checkpoint

EMA_KEY = "generator_ema"  # where averaged G weights live: in the checkpoint or a callback's state


@dataclass
class LoadedRun:
    """A trained run, rebuilt. Both networks are in eval mode on ``device``.

    :ivar generator: the EMA generator when the run kept one (and ``ema=True``), else the trained G.
    :ivar checkpoint: the whole checkpoint dict (optimizer states, RNG, counters, callbacks' state).
    :ivar metadata: the run's ``config.json`` (data source, seed, versions, ...), ``{}`` for a bare
        checkpoint file outside a run folder.
    """

    generator: Any
    discriminator: Any
    config: Any
    variant: str
    dataset: str
    epoch: int
    step: int
    path: Path
    checkpoint: dict[str, Any] = field(repr=False)
    metadata: dict[str, Any] = field(default_factory=dict, repr=False)
    ema: bool = False

    def sample(self, n: int, *, seed: int = 0, labels: list[int] | None = None,
               codes: dict[str, list[float]] | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``n`` images in [-1, 1], shape (n, C, H, W), on the CPU, and the labels they were drawn
        for (``None`` if unconditional), as ``gankit sample`` draws them: the same ``seed`` gives the
        same images. ``labels`` (cycled over ``n``) for a conditional variant; ``codes`` sets latent
        codes the generator declares, name -> values: every combination of them, the first code
        varying fastest, cycled over ``n`` (``gankit sample --code``)."""
        from gankit.noise import draw_samples

        return draw_samples(self, n, seed, labels, codes)


def load_run(path: Path | str, *, host: PluginHost | None = None, device: str | torch.device = "cpu",
             ema: bool = True) -> LoadedRun:
    """Rebuild a run folder's (or checkpoint file's) generator and discriminator.

    :param host: where to find the variant (default: the installed plugins).
    :param ema: use the EMA weights of G when the run kept them.
    """
    host = host or get_host()
    checkpoint_file = resolve_checkpoint(Path(path))
    state = load_checkpoint(checkpoint_file, map_location=device)
    metadata = _run_metadata(checkpoint_file.parent.parent)
    # The names it was made with win over what they mean now (a plugin installed since, say).
    pins, strict = recorded_names(metadata) if metadata else recorded_names(state)
    variant = host.variants.get(state["variant"], pinned=pins.get("variant"), strict=strict)
    dataset_name = state.get("dataset", "mnist")
    config = build_config(variant.config_class, base=state["config"])
    info = _data_info(dataset_name, metadata.get("dataset") or {}, host, checkpoint_file, pins.get("dataset"))
    loss = host.losses.get(config.loss, pinned=pins.get("loss")) if config.loss in host.losses else None
    networks = variant.build_networks(config, info, loss)
    averaged = _ema_weights(state)
    use_ema = ema and averaged is not None
    try:
        networks.generator.load_state_dict(averaged if use_ema else state["generator"])
        networks.discriminator.load_state_dict(state["discriminator"])
    except RuntimeError as error:
        raise CheckpointError(f"'{checkpoint_file}' does not fit variant '{variant.name}' "
                              f"({str(error).splitlines()[0]}).") from None
    generator = networks.generator.to(device).eval()
    discriminator = networks.discriminator.to(device).eval()
    return LoadedRun(generator, discriminator, config, variant.name, dataset_name,
                     int(state.get("epoch", 0)), int(state.get("step", 0)), checkpoint_file, state,
                     metadata, use_ema)


def _run_metadata(run_dir: Path) -> dict[str, Any]:
    """The run folder's ``config.json``; ``{}`` when there is none or it is damaged (the checkpoint
    alone rebuilds the networks)."""
    import json

    if not (run_dir / CONFIG_FILE).is_file():
        return {}
    try:
        metadata = json.loads((run_dir / CONFIG_FILE).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}
    if not isinstance(metadata, dict) or not isinstance(metadata.get("dataset", {}), dict) \
            or not isinstance(metadata.get("variant"), str):
        return {}
    return metadata


def _data_info(name: str, recorded: dict[str, Any], host: PluginHost, checkpoint_file: Path,
               pinned: str | None = None) -> DataInfo:
    """The shape the networks were built for: from config.json when it records it (so a run loads
    without its dataset's plugin), else from the registered dataset."""
    if recorded.get("image_shape") and "num_classes" in recorded:
        return DataInfo(name, tuple(recorded["image_shape"]), recorded["num_classes"])
    dataset = host.datasets.get(name, pinned=pinned)
    shape = recorded.get("image_shape") or dataset.image_shape
    if shape is None:
        raise CheckpointError(f"'{checkpoint_file}' does not say its image shape, and dataset "
                              f"'{name}' only knows it when loaded; pass the run folder.")
    return dataset.info_for((0, *shape))


def _ema_weights(state: dict[str, Any]) -> dict[str, Any] | None:
    """G's averaged weights: the checkpoint's ``generator_ema``, or the ``generator_ema`` entry of
    a callback's saved state (an EMA callback's ``state_dict()`` returns it)."""
    if EMA_KEY in state:
        return state[EMA_KEY]
    for saved in (state.get("callbacks") or {}).values():
        if isinstance(saved, dict) and EMA_KEY in saved:
            return saved[EMA_KEY]
    return None
