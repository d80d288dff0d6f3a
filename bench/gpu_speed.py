"""Seconds per epoch of vanilla, dcgan and cgan on the full MNIST size, for a GPU (issue 10, item 4).

Each variant trains for ``--epochs`` epochs through ``gankit.train`` (the engine ``gankit train``
runs) on 60,000 images: the real MNIST train split when the data root holds it, else a random
stand-in of 60,000 uint8 images of the same shape and classes (the speed of a step does not
depend on what the pixels show). On CUDA the defaults are the fast path: bf16 autocast, TF32 for
fp32 matmuls (gankit.train.precision.allow_tf32), data on the device; ``--compile`` adds
``torch.compile`` (mode ``reduce-overhead``: CUDA graphs). It prints, per variant: the first
epoch (warm-up, compilation), the median of the later epochs' training-step seconds, images/s,
and the tutorial's 200 epochs projected from that median (the target for vanilla: at most 60 s
on one H100-class GPU).

    python bench/gpu_speed.py [--device cuda] [--epochs 4] [--compile] [--precision bf16]
    python bench/gpu_speed.py --tiny          # a 2,000-image stand-in, 2 epochs: checks the script on a CPU

The load average is printed at the start and the end.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

import gankit.runs as runs
from gankit.device import resolve_device
from gankit.errors import DataError
from gankit.plugins import get_host
from gankit.registry import DataRequest
from gankit.testing.lifecycle import fake_dataset
from gankit.train import RunOptions, train

FULL_SIZE = 60_000
TUTORIAL_EPOCHS = 200


def load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def dataset_for(args: argparse.Namespace) -> tuple[str, str]:
    """The dataset name to train on, and what it is: the real MNIST train split if present."""
    host = get_host()
    if not args.tiny:
        try:
            data = host.datasets.get("mnist").load(DataRequest(root=args.data_root, split="train", download=False))
            if len(data) == FULL_SIZE:
                return "mnist", f"MNIST train split ({data.source})"
        except DataError:
            pass
    count = args.images or (2_000 if args.tiny else FULL_SIZE)
    spec = fake_dataset(name="mnist-standin", count=count, image_shape=(1, 28, 28), num_classes=10)
    host.datasets.register(spec.name, spec, "bench")
    return spec.name, f"a random stand-in of {count:,} images of 1x28x28, 10 classes"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default="vanilla,dcgan,cgan")
    parser.add_argument("--epochs", type=int, default=None, help="default 4 (2 with --tiny)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default=None, help="default bf16 on CUDA, fp32 elsewhere")
    parser.add_argument("--compile", action="store_true", help="torch.compile (reduce-overhead on CUDA)")
    parser.add_argument("--tiny", action="store_true", help="a small stand-in and 2 epochs (a CPU check)")
    parser.add_argument("--images", type=int, default=None, help="stand-in size (default 60,000)")
    parser.add_argument("--data-root", type=Path, default=None)
    args = parser.parse_args()
    device = resolve_device(args.device)
    precision = args.precision or ("bf16" if device.type == "cuda" else "fp32")
    epochs = args.epochs or (2 if args.tiny else 4)
    name, described = dataset_for(args)
    card = torch.cuda.get_device_name(device) if device.type == "cuda" else (platform.processor() or platform.machine())
    print(f"# {card}; device {device}, precision {precision}, compile {args.compile}, "
          f"fp32 matmul precision {torch.get_float32_matmul_precision()} before training; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    print(f"# data: {described}; {epochs} epochs per variant; load average at the start: {load()}", flush=True)
    print("| variant | batch | first epoch s | s/epoch (median of later) | images/s | 200 epochs projected | wall s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory(prefix="gankit-gpu-speed-") as folder:
        for variant in args.variants.split(","):
            options = RunOptions(dataset=name, data_root=args.data_root, download=False, device=str(device),
                                 out=Path(folder) / variant, progress=False, precision=precision,
                                 compile=args.compile)
            started = time.perf_counter()
            result = train(variant, {"epochs": epochs}, options, host=get_host())
            wall = time.perf_counter() - started
            seconds = [record["seconds"] for record in result.epoch_metrics]
            later = seconds[1:] or seconds
            median = statistics.median(later)
            images = statistics.median([r["images_per_s"] for r in result.epoch_metrics[1:] or result.epoch_metrics])
            batch = runs.read_run_config(result.run_dir)["config"]["batch_size"]
            print(f"| {variant} | {batch} | {seconds[0]:.2f} | {median:.3f} | {images:,.0f} | "
                  f"{median * TUTORIAL_EPOCHS:.0f} s | {wall:.1f} |", flush=True)
    print(f"# fp32 matmul precision after training: {torch.get_float32_matmul_precision()} "
          "(high = TF32 allowed, on CUDA only); load average at the end: " + load())


if __name__ == "__main__":
    main()
