"""The catalogue's default runs: each variant trained at its own default budget, then scored.

Each named variant (default: every registered one) is trained exactly as ``gankit train NAME``
trains it (its defaults, seed 0) on the bundled 5,000-digit MNIST subset (an empty data root and no
download, so every machine trains on the same digits), one after the other, then scored as
``gankit evaluate RUN`` scores it (the shipped evaluator; with only the bundled digits n is 2,500).
Printed per variant: G / D parameters, epochs x batch, G's updates, wall and CPU time of the run,
gankit's FID, classes covered, KL to uniform, recall and the near-copy share; with the CPU, the
thread count and the load average, since the times mean little without them.

    python bench/catalogue.py [VARIANT ...] [--out bench/results/catalogue.json] [--threads N]
    python bench/catalogue.py dcgan --epochs 1     # checks the bench in seconds; not a figure

A conditional variant is sampled with labels 0..9 in turn (label accuracy is printed too).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
import warnings
from pathlib import Path

import torch

from gankit import GankitWarning, load_run
from gankit.blocks import count_parameters
from gankit.evaluate.score import evaluate_run
from gankit.host import get_host
from gankit.train import RunOptions, train

SHOWN = ("fid", "modes_covered", "kl_to_uniform", "recall", "near_copies", "label_accuracy")


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def default_run(name: str, folder: Path, epochs: int | None = None) -> dict:
    """Train ``name`` at its defaults (or for ``epochs``) into ``folder``/name, timed; then score it."""
    run = folder / name
    empty_root = folder / "empty-data-root"
    started_wall, started_cpu = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GankitWarning)
        train(name, {"epochs": epochs} if epochs else {},
              RunOptions(out=run, progress=False, device="cpu", download=False, data_root=empty_root))
    wall, cpu = time.perf_counter() - started_wall, time.process_time() - started_cpu
    loaded = load_run(run)
    config = loaded.config
    scores = evaluate_run(run, data_root=empty_root, download=False, device="cpu")
    return {
        "variant": name, "g_params": count_parameters(loaded.generator),
        "d_params": count_parameters(loaded.discriminator), "epochs": loaded.epoch,
        "batch_size": config.batch_size, "g_steps": loaded.step, "loss": config.loss,
        "wall_min": wall / 60, "cpu_min": cpu / 60,
        "n": scores.get("n_fake"),
        **{key: scores.get(key) for key in SHOWN},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", nargs="*", help="variants to run (default: every registered one)")
    parser.add_argument("--out", type=Path, default=None, help="also write the rows as JSON here")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads [default: torch's]")
    parser.add_argument("--epochs", type=int, default=None,
                        help="a quick check of the bench itself: not the default budget, not a figure")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    names = args.variants or get_host().variants.names()
    print(f"CPU: {cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, AVX-512 BF16: {torch.cpu._is_avx512_bf16_supported()}")
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name in names:
            before = os.getloadavg()[0]
            row = {**default_run(name, Path(folder), args.epochs), "load_before": before,
                   "load_after": os.getloadavg()[0]}
            rows.append(row)
            print(json.dumps(row), flush=True)
            if args.out:  # after every run: a long bench keeps what it measured so far
                args.out.parent.mkdir(parents=True, exist_ok=True)
                args.out.write_text(json.dumps({"cpu": cpu_name(), "threads": torch.get_num_threads(),
                                                "rows": rows}, indent=2))
    print("\n| variant | G / D params | epochs x batch | G updates | wall | CPU | FID | classes | KL "
          "| recall |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['variant']} | {r['g_params']:,} / {r['d_params']:,} | "
              f"{r['epochs']} x {r['batch_size']} | "
              f"{r['g_steps']:,} | {r['wall_min']:.1f} min | {r['cpu_min']:.1f} min | {r['fid']:.2f} | "
              f"{r['modes_covered']}/10 | {r['kl_to_uniform']:.3f} | {r['recall']:.3f} |")


if __name__ == "__main__":
    main()
