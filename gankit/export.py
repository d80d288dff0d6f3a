"""``gankit export RUN DIR``: a run's generator as a folder anyone can load, in the layout the
Hugging Face Hub pushes and downloads: ``model.safetensors`` (G's weights, the EMA ones where the
run kept them), ``config.json`` (what rebuilds G: :mod:`gankit.exported` reads it), ``README.md``
(the model card, :mod:`gankit.model_card`), ``samples.png`` and, with ``onnx=True``,
``generator.onnx`` (:mod:`gankit.onnx_export`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gankit._io import atomic_path, write_text_atomic
from gankit._version import __version__
from gankit.config import build_config, config_to_dict
from gankit.errors import GankitError
from gankit.exported import (CARD_FILE, CONFIG_FILE, FORMAT, FORMAT_VERSION, ONNX_FILE, SAMPLES_FILE,
                             WEIGHTS_FILE, is_export, sha256_of)
from gankit.host import PluginHost, get_host
from gankit.images import CONDITIONAL_COLUMNS, UNCONDITIONAL_GRID, save_grid
from gankit.runs import CHECKPOINTS_DIR, read_metrics


@dataclass
class Exported:
    """What :func:`export_run` wrote: the folder, its files, and the ONNX check's max abs difference
    from torch's output (``None`` without ONNX)."""

    path: Path
    files: list[str]
    onnx_difference: float | None = None


def check_target(out: Path, run: Path, force: bool) -> None:
    """``out`` may be written: not a file, not a run folder, empty unless ``force``."""
    out, run = Path(out), Path(run)
    if out.exists() and not out.is_dir():
        raise GankitError(f"'{out}' is a file; pass a folder for the export.")
    if out.is_dir() and ((out / CHECKPOINTS_DIR).is_dir() or out.resolve() == run.resolve()):
        raise GankitError(f"'{out}' is a run folder; export into another folder.")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise GankitError(f"'{out}' exists and is not empty; pass an empty or new folder, or --force "
                          f"to replace the export's files in it ({WEIGHTS_FILE}, {CONFIG_FILE}, ...).")


def export_run(run: Path, out: Path, *, host: PluginHost | None = None, force: bool = False,
               onnx: bool = False, scores: dict[str, Any] | None = None,
               license: str | None = None) -> Exported:
    """Write ``run``'s generator into ``out`` (see the module's docstring). ``scores``: a result of
    ``gankit evaluate --json`` for the card; else the run's last ``--eval-every`` line, if any."""
    from gankit.loading import load_run
    from gankit.model_card import model_card

    run, out = Path(run), Path(out)
    if is_export(run):
        raise GankitError(f"'{run}' is an export already; copy the folder to share it again.")
    check_target(out, run, force)
    host = host or get_host()
    loaded = load_run(run, host=host, ema=True)
    check_scores(scores, loaded)
    out.mkdir(parents=True, exist_ok=True)
    write_weights(loaded.generator, out / WEIGHTS_FILE)
    record = export_record(loaded, host, sha256_of(out / WEIGHTS_FILE),
                           scores if scores is not None else last_eval(loaded))
    write_samples(loaded, out / SAMPLES_FILE)
    files = [WEIGHTS_FILE, CONFIG_FILE, CARD_FILE, SAMPLES_FILE]
    difference = None
    if onnx:
        from gankit.onnx_export import export_onnx

        difference = export_onnx(loaded.generator, out / ONNX_FILE)
        record["onnx"] = {"file": ONNX_FILE, "max_abs_difference": difference}
        files.append(ONNX_FILE)
    write_text_atomic(out / CONFIG_FILE, json.dumps(record, indent=2) + "\n")
    write_text_atomic(out / CARD_FILE, model_card(record, host.variants.get(
        loaded.variant, pinned=record["qualified_names"].get("variant")), license=license))
    return Exported(out, files, difference)


def write_weights(generator: Any, file: Path) -> None:
    """G's state dict (parameters and buffers) as safetensors, atomically; tied tensors once."""
    from safetensors.torch import save_model

    with atomic_path(file) as temp:
        save_model(generator, str(temp), metadata={"format": "pt", "library": "gankit"},
                   force_contiguous=True)


def write_samples(loaded: Any, file: Path) -> None:
    """The training grid's layout from seed 0: 4x4, or a column per class for a conditional G."""
    classes = loaded.generator.num_classes
    images, _ = loaded.sample(classes * CONDITIONAL_COLUMNS if classes else UNCONDITIONAL_GRID, seed=0)
    save_grid(images, file, CONDITIONAL_COLUMNS if classes else round(UNCONDITIONAL_GRID ** 0.5))


def export_record(loaded: Any, host: PluginHost, sha256: str,
                  scores: dict[str, Any] | None) -> dict[str, Any]:
    """The export's ``config.json``: what rebuilds G (variant as recorded, plugin, config, data
    shape), the weights' checksum, and what the card tells (scores, versions, the command)."""
    from gankit.walks import noise_kind

    metadata, generator = loaded.metadata, loaded.generator
    recorded = metadata.get("dataset") or {}
    names = metadata.get("qualified_names") or {}
    variant = host.variants.get(loaded.variant, pinned=names.get("variant"))
    plugin = metadata.get("plugin") or loaded.checkpoint.get("plugin") or {}
    codes = [{"name": code.name, "index": code.index, "categories": code.categories,
              "summary": code.summary} for code in getattr(generator, "latent_codes", ())]
    classes = recorded["num_classes"] if "num_classes" in recorded else generator.num_classes
    qualified = names.get("variant") or host.variants.registration_of(variant).qualified
    return {
        "format": FORMAT, "format_version": FORMAT_VERSION, "variant": loaded.variant,
        "qualified_names": {"variant": qualified, "loss": names.get("loss"), "dataset": names.get("dataset")},
        "plugin": plugin, "paper": variant.paper, "config": config_to_dict(loaded.config),
        "data": {"name": loaded.dataset,
                 "image_shape": list(recorded.get("image_shape") or generator.image_shape),
                 "num_classes": classes,
                 "source": recorded.get("source"), "num_images": recorded.get("num_images"),
                 "options": recorded.get("options") or {}},
        "latent": {"dim": generator.latent_dim, "noise": noise_kind(generator, loaded.config),
                   "conditional": generator.num_classes is not None, "codes": codes},
        "weights": {"file": WEIGHTS_FILE, "sha256": sha256, "ema": bool(loaded.ema)},
        "epoch": loaded.epoch, "step": loaded.step,
        "seed": metadata.get("seed", loaded.checkpoint.get("seed")),
        "precision": metadata.get("precision"), "trained_with": train_command(metadata, variant),
        "scores": scores,
        "versions": {"trained": metadata.get("versions") or loaded.checkpoint.get("versions"),
                     "exported": {"gankit": __version__}},
    }


def train_command(metadata: dict[str, Any], variant: Any) -> dict[str, Any] | None:
    """The ``gankit train`` command that makes this run again, rebuilt from its ``config.json``
    (a run does not record its command line): every config field that differs from the variant's
    defaults as ``--set``. ``None`` for a bare checkpoint without its run folder."""
    if not metadata:
        return None
    config, defaults = metadata["config"], config_to_dict(build_config(variant.config_class))
    dataset = metadata["dataset"]
    parts = ["gankit", "train", metadata["variant"], "--dataset", dataset["name"],
             "--epochs", str(config["epochs"]), "--seed", str(metadata["seed"])]
    if dataset.get("max_images"):
        parts += ["--max-images", str(dataset["max_images"])]
    if metadata.get("precision"):
        parts += ["--precision", metadata["precision"]]
    for key, value in (dataset.get("options") or {}).items():
        parts += ["--data-option", f"{key}={value}"]
    for name in metadata.get("callbacks") or []:
        parts += ["--callback", name]
    if metadata.get("compile"):
        parts.append("--compile")
    for key, value in config.items():
        if key != "epochs" and defaults.get(key) != value:
            shown = ",".join(map(str, value)) if isinstance(value, list) else \
                str(value).lower() if isinstance(value, bool) else str(value)
            parts += ["--set", f"{key}={shown}"]
    world = (metadata.get("distributed") or {}).get("world_size") or 1
    if world > 1:
        parts += ["--devices", str(world)]
    return {"command": " ".join(parts), "reconstructed": True}


def last_eval(loaded: Any) -> dict[str, Any] | None:
    """The run's last ``--eval-every`` line of ``metrics.jsonl``, or ``None``."""
    run_dir = Path(loaded.path).parent.parent
    lines = [record for record in read_metrics(run_dir) if record.get("event") == "eval"]
    return {"source": "metrics.jsonl (--eval-every)", **lines[-1]} if lines else None


def read_scores(file: Path) -> dict[str, Any]:
    """``--scores FILE``: what ``gankit evaluate RUN --json`` printed."""
    try:
        scores = json.loads(Path(file).read_text())
    except FileNotFoundError:
        raise GankitError(f"--scores '{file}' does not exist; write it with gankit evaluate RUN --json "
                          f"> {file}.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise GankitError(f"--scores '{file}' is not JSON ({error}); pass what gankit evaluate RUN "
                          "--json printed.") from None
    if not isinstance(scores, dict) or not isinstance(scores.get("fid"), (int, float)):
        raise GankitError(f"--scores '{file}' holds no FID; pass what gankit evaluate RUN --json printed.")
    return {"source": "gankit evaluate --json", **scores}


def check_scores(scores: dict[str, Any] | None, loaded: Any) -> None:
    """Scores of another run (variant or epoch) are refused: the card would credit them wrongly."""
    if scores is None:
        return
    for key, ours in (("variant", loaded.variant), ("epoch", loaded.epoch), ("ema", bool(loaded.ema))):
        if key in scores and scores[key] != ours:
            raise GankitError(f"--scores were measured on {key} {scores[key]!r}, but the run exports "
                              f"{key} {ours!r}; evaluate this run (gankit evaluate RUN --json).")
