"""``gankit.load_generator``: a generator exported by ``gankit export`` back, without its run folder
and without unpickling anything.

An export folder (the layout the Hugging Face Hub pushes and downloads) holds ``model.safetensors``
(the generator's weights and buffers: safetensors runs no code on load), ``config.json`` (what
rebuilds it through the registry: the variant as recorded, its plugin, the config fields, the
data's shape) and ``README.md`` (the model card). The weights are checked against the sha256 that
``config.json`` records, and loaded with safetensors' own reader: neither ``torch.load`` nor
``pickle`` is ever called on an export.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from gankit.config import build_config
from gankit.errors import CheckpointError, RegistryError
from gankit.host import PluginHost, get_host
from gankit.registry import DataInfo

FORMAT = "gankit-generator"
FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
CARD_FILE = "README.md"
SAMPLES_FILE = "samples.png"
ONNX_FILE = "generator.onnx"


@dataclass
class ExportedGenerator:
    """A generator in eval mode on its device, with what it was made from.

    :ivar ema: whether the weights are G's average (the run kept an EMA).
    :ivar metadata: the export's ``config.json`` (or the run's, for a run folder).
    """

    generator: Any
    config: Any
    variant: str
    dataset: str
    epoch: int
    step: int
    path: Path
    metadata: dict[str, Any] = field(default_factory=dict, repr=False)
    ema: bool = False

    def sample(self, n: int, *, seed: int = 0, labels: list[int] | None = None,
               codes: dict[str, list[float]] | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """As :meth:`gankit.LoadedRun.sample`: the same seed gives the run's own images."""
        from gankit.noise import draw_samples

        return draw_samples(self, n, seed, labels, codes)


def is_export(path: Path | str) -> bool:
    """Whether ``path`` is an export folder (it holds ``model.safetensors``; a run folder never does)."""
    return Path(path).is_dir() and (Path(path) / WEIGHTS_FILE).exists()


def load_generator(path: Path | str, *, host: PluginHost | None = None,
                   device: str | torch.device = "cpu") -> ExportedGenerator:
    """The generator of an export folder; a run folder or checkpoint file is loaded too (through
    :func:`gankit.load_run`, its EMA weights where kept), so one call reads either.

    :param host: where to find the variant (default: the installed plugins).
    """
    path = Path(path)
    host = host or get_host()
    if not is_export(path):
        from gankit.loading import load_run

        run = load_run(path, host=host, device=device)
        return ExportedGenerator(run.generator, run.config, run.variant, run.dataset, run.epoch, run.step,
                                 run.path, run.metadata, run.ema)
    record = read_export_config(path)
    variant = _variant(record, host, path)
    config = build_config(variant.config_class, base=record["config"])
    data = record["data"]
    shares = data.get("label_shares")
    info = DataInfo(data["name"], tuple(data["image_shape"]), data["num_classes"],
                    tuple(shares) if shares else None)
    pinned_loss = (record.get("qualified_names") or {}).get("loss")
    loss = host.losses.get(config.loss, pinned=pinned_loss) if config.loss in host.losses else None
    generator = variant.build_networks(config, info, loss).generator
    load_weights(generator, path, record)
    return ExportedGenerator(generator.to(device).eval(), config, variant.name, data["name"],
                             int(record.get("epoch", 0)), int(record.get("step", 0)), path, record,
                             bool(record["weights"].get("ema")))


def read_export_config(path: Path) -> dict[str, Any]:
    """The export's ``config.json``, checked: one line naming what is wrong."""
    file = Path(path) / CONFIG_FILE
    try:
        record = json.loads(file.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"'{path}' has {WEIGHTS_FILE} but no {CONFIG_FILE}, which says how to "
                              "rebuild the generator; export the run again.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"'{file}' is not valid JSON ({error}); the export is damaged: export "
                              "the run again.") from None
    problem = _record_problem(record)
    if problem:
        raise CheckpointError(f"'{file}' is not a gankit export ({problem}); export the run again.")
    if record["format_version"] > FORMAT_VERSION:
        raise CheckpointError(f"'{path}' is export format {record['format_version']}, newer than this "
                              f"gankit reads ({FORMAT_VERSION}); upgrade gankit (pip install -U gankit).")
    return record


def _record_problem(record: Any) -> str | None:
    if not isinstance(record, dict):
        return f"a JSON {type(record).__name__}, not an object"
    if record.get("format") != FORMAT:
        return f"'format' is not '{FORMAT}'"
    for key, kind in (("format_version", int), ("variant", str), ("config", dict), ("data", dict),
                      ("weights", dict)):
        if not isinstance(record.get(key), kind):
            return f"'{key}' missing or not a {kind.__name__}"
    data = record["data"]
    if not isinstance(data.get("name"), str) or not isinstance(data.get("image_shape"), list) \
            or "num_classes" not in data:
        return "'data' lacks its name, image_shape or num_classes"
    if not isinstance(record["weights"].get("sha256"), str):
        return "'weights' lacks its sha256"
    return None


def _variant(record: dict[str, Any], host: PluginHost, path: Path) -> Any:
    """The recorded variant through the registry; one line naming the plugin to install if absent."""
    name = record["variant"]
    pinned = (record.get("qualified_names") or {}).get("variant")
    try:
        return host.variants.get(name, pinned=pinned, strict=True)
    except RegistryError:
        plugin = record.get("plugin") or {}
        owner = plugin.get("name") or (pinned or name).split(":")[0]
        distribution, version = plugin.get("distribution"), plugin.get("version")
        if distribution == "gankit":
            how = f"it ships with gankit {version}: pip install 'gankit>={version}'"
        elif distribution:
            how = f"pip install '{distribution}>={version}'" if version else f"pip install {distribution}"
        else:
            how = "it was a --plugins-dir file: pass that folder with --plugins-dir"
        raise CheckpointError(f"'{path}' holds a '{name}' generator from plugin '{owner}', which is not "
                              f"installed here; {how}.") from None


def sha256_of(file: Path) -> str:
    with open(file, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def load_weights(generator: torch.nn.Module, path: Path, record: dict[str, Any]) -> None:
    """``model.safetensors`` into ``generator`` (every tensor, no more, no fewer), after its sha256
    matched the recorded one: safetensors checks only the header, not the bytes after it."""
    from safetensors import SafetensorError
    from safetensors.torch import load_model

    file = Path(path) / WEIGHTS_FILE
    if sha256_of(file) != record["weights"]["sha256"]:
        raise CheckpointError(f"'{file}' is damaged: its sha256 is not the one {CONFIG_FILE} records; "
                              "download or export it again.")
    try:
        load_model(generator, str(file), strict=True, device="cpu")
    except SafetensorError as error:
        raise CheckpointError(f"'{file}' is not a readable safetensors file ({error}); download or "
                              "export it again.") from None
    except RuntimeError as error:
        raise CheckpointError(f"'{file}' does not fit variant '{record['variant']}' "
                              f"({str(error).splitlines()[0]}).") from None
