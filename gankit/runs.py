"""The run folder: its layout, its ``config.json`` and ``metrics.jsonl``, and finding checkpoints.

A run folder holds ``config.json`` (everything needed to rebuild the run), ``metrics.jsonl``
(one JSON object per logged event), ``samples/epoch_XXXX.png``, ``losses.png`` and
``checkpoints/last.pt``. Torch-free, so the CLI can inspect runs cheaply.
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Any

from gankit._io import write_json_atomic  # noqa: F401  (kept: code written for 0.1 calls runs.write_json_atomic)
from gankit._version import __version__
from gankit.errors import CheckpointError, GankitError


CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
LOSS_PLOT_FILE = "losses.png"
SAMPLES_DIR = "samples"
CHECKPOINTS_DIR = "checkpoints"
LAST_CHECKPOINT = "last.pt"


def default_run_dir(variant: str, dataset: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{variant}-{dataset}-{stamp}"


def checkpoint_path(run_dir: Path, name: str = LAST_CHECKPOINT) -> Path:
    return Path(run_dir) / CHECKPOINTS_DIR / name


def sample_grid_path(run_dir: Path, epoch: int) -> Path:
    return Path(run_dir) / SAMPLES_DIR / f"epoch_{epoch:04d}.png"


def claim_run_dir(run_dir: Path, resume: bool) -> None:
    """Make sure training may write to ``run_dir``; never overwrite a previous run."""
    run_dir = Path(run_dir)
    if resume:
        if not checkpoint_path(run_dir).is_file():
            raise CheckpointError(
                f"Cannot resume '{run_dir}': no {CHECKPOINTS_DIR}/{LAST_CHECKPOINT} in it. "
                "Pass the folder of a run trained before, or drop --resume to start a new one."
            )
        return
    if run_dir.exists() and (not run_dir.is_dir() or any(run_dir.iterdir())):
        raise GankitError(
            f"Run folder '{run_dir}' already exists and is not empty. "
            "Pass --resume to continue it, or another --out for a new run."
        )
    run_dir.mkdir(parents=True, exist_ok=True)


def read_run_config(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / CONFIG_FILE
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"'{run_dir}' is not a gankit run: no {CONFIG_FILE} in it.") from None
    except json.JSONDecodeError as error:
        raise CheckpointError(f"'{path}' is not valid JSON ({error}); the run folder is damaged.") from None


def append_metrics(run_dir: Path, records: list[dict[str, Any]]) -> None:
    with open(Path(run_dir) / METRICS_FILE, "a") as file:
        for record in records:
            file.write(json.dumps(record) + "\n")


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    path = Path(run_dir) / METRICS_FILE
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def versions() -> dict[str, str]:
    found = {"gankit": __version__, "python": platform.python_version()}
    try:
        from importlib.metadata import version

        for package in ("torch", "torchvision"):
            found[package] = version(package)
    except Exception:  # metadata can be missing in odd installs; versions are informative only
        pass
    return found


def resolve_checkpoint(path: Path) -> Path:
    """A run folder -> its last checkpoint; a file -> itself."""
    path = Path(path)
    if path.is_dir():
        candidate = checkpoint_path(path)
        if not candidate.is_file():
            raise CheckpointError(
                f"'{path}' has no {CHECKPOINTS_DIR}/{LAST_CHECKPOINT}; pass a run folder trained by "
                "gankit or a checkpoint file."
            )
        return candidate
    if not path.exists():
        raise CheckpointError(f"'{path}' does not exist; pass a run folder or a checkpoint file.")
    return path
