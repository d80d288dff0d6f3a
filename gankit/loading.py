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
from gankit.runs import CONFIG_FILE, resolve_checkpoint

EMA_KEY = "generator_ema"  # the checkpoint key an EMA callback stores its averaged G under


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


def load_run(path: Path | str, *, host: PluginHost | None = None, device: str | torch.device = "cpu",
             ema: bool = True) -> LoadedRun:
    """Rebuild a run folder's (or checkpoint file's) generator and discriminator.

    :param host: where to find the variant (default: the installed plugins).
    :param ema: use the EMA weights of G when the run kept them.
    """
    import json

    host = host or get_host()
    checkpoint_file = resolve_checkpoint(Path(path))
    state = load_checkpoint(checkpoint_file, map_location=device)
    variant = host.variants.get(state["variant"])
    dataset = host.datasets.get(state.get("dataset", "mnist"))
    config = build_config(variant.config_class, base=state["config"])
    run_dir = checkpoint_file.parent.parent
    metadata: dict[str, Any] = {}
    if (run_dir / CONFIG_FILE).is_file():
        try:
            metadata = json.loads((run_dir / CONFIG_FILE).read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            metadata = {}
        if not isinstance(metadata, dict) or not isinstance(metadata.get("dataset", {}), dict):
            metadata = {}  # damaged: the checkpoint alone rebuilds the networks
    shape = (metadata.get("dataset") or {}).get("image_shape") or dataset.image_shape
    if shape is None:
        raise CheckpointError(f"'{checkpoint_file}' does not say its image shape, and dataset "
                              f"'{dataset.name}' only knows it when loaded; pass the run folder.")
    info = dataset.info_for((0, *shape))
    loss = host.losses.get(config.loss) if config.loss in host.losses else None
    networks = variant.build_networks(config, info, loss)
    use_ema = ema and EMA_KEY in state
    try:
        networks.generator.load_state_dict(state[EMA_KEY] if use_ema else state["generator"])
        networks.discriminator.load_state_dict(state["discriminator"])
    except RuntimeError as error:
        raise CheckpointError(f"'{checkpoint_file}' does not fit variant '{variant.name}' "
                              f"({str(error).splitlines()[0]}).") from None
    generator = networks.generator.to(device).eval()
    discriminator = networks.discriminator.to(device).eval()
    return LoadedRun(generator, discriminator, config, variant.name, dataset.name,
                     int(state.get("epoch", 0)), int(state.get("step", 0)), checkpoint_file, state,
                     metadata, use_ema)
