"""Seconds per epoch and images/s of each registered variant, default config, through the engine.

Each variant trains a few epochs on the bundled 5,000-digit MNIST subset (an empty data root and no
download, so every machine uses the same digits); the figure is the median of the engine's
per-epoch ``seconds`` metric (training steps only; the epoch's grid, plot and checkpoint are not
in it). The default run's expected length is that median times the variant's default epochs.

    python bench/variant_speed.py [--epochs 3] [--device cpu] [--threads N] [SPEC ...]

A SPEC is a variant name, optionally with config changes: ``cgan:arch=conv`` or
``dcgan:loss=wgan-gp,n_critic=5``. Without SPECs every registered variant is measured as is.

On a CPU shared with other jobs, give ``--threads 1``: torch's threads spin while they wait for one
another, so two threads on two busy cores can be several times slower than one.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import warnings
from pathlib import Path

import torch

from gankit import GankitWarning
from gankit.config import build_config, parse_set_options
from gankit.plugins import get_host
from gankit.train import RunOptions, train


def parse_spec(spec: str) -> tuple[str, dict[str, str]]:
    name, _, changes = spec.partition(":")
    return name, parse_set_options([item for item in changes.split(",") if item])


def measure(name: str, overrides: dict[str, str], epochs: int, device: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        run = Path(folder) / "run"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", GankitWarning)  # e.g. a loss the variant adapted to
            train(name, {**overrides, "epochs": epochs},
                  RunOptions(out=run, progress=False, device=device, download=False,
                             data_root=Path(folder) / "empty-data-root"))
        records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    epochs_seen = [r for r in records if r.get("event") == "epoch"]
    seconds = statistics.median(r["seconds"] for r in epochs_seen)
    return {"seconds": seconds, "images_per_s": statistics.median(r["images_per_s"] for r in epochs_seen)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("specs", nargs="*", help="VARIANT or VARIANT:KEY=VALUE,... (default: all)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs to time per variant")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads [default: torch's]")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    host = get_host()
    specs = args.specs or host.variants.names()

    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs (load average "
          f"{os.getloadavg()[0]:.1f}), {torch.get_num_threads()} torch threads, device {args.device}, "
          f"torch {torch.__version__}; median of {args.epochs} epochs")
    print(f"{'variant':<32} {'s/epoch':>8} {'images/s':>9} {'default epochs':>15} {'default run':>12}")
    for spec in specs:
        name, overrides = parse_spec(spec)
        config = build_config(host.variants.get(name).config_class, overrides)
        result = measure(name, overrides, args.epochs, args.device)
        default_run = result["seconds"] * config.epochs
        print(f"{spec:<32} {result['seconds']:>8.2f} {result['images_per_s']:>9.0f} "
              f"{config.epochs:>15} {default_run / 60:>10.1f} min", flush=True)


if __name__ == "__main__":
    main()
