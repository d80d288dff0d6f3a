"""The channels-last memory layout for conv variants, against torch's default layout, alternated.

Trains each variant through the engine twice per round (bundled 5,000-digit MNIST subset unless
--max-images; default config but --epochs), once as the engine does (conv networks in
``torch.channels_last``, gankit.device.place_network) and once with the networks left in torch's
default contiguous layout; the order flips every round so drifting load hits both alike. Prints the
median of the engine's per-epoch ``seconds`` (training steps), epoch 1 left out as warm-up, and the
speed-up.

    python bench/conv_layout.py [VARIANT ...] [--rounds 3] [--epochs 3] [--max-images 1600] [--threads N]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import tempfile
import warnings
from pathlib import Path
from unittest import mock

import torch

from gankit import GankitWarning
from gankit.train import RunOptions, train
from gankit.train import run as run_module


def epoch_seconds(variant: str, layout: str, epochs: int, max_images: int | None) -> list[float]:
    with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory() as folder:
        if layout == "contiguous":
            plain = lambda module, device: module.to(device)  # noqa: E731
            stack.enter_context(mock.patch.object(run_module, "place_network", plain))
        train(variant, {"epochs": epochs}, RunOptions(out=Path(folder) / "run", progress=False, device="cpu",
                                                      download=False, max_images=max_images))
        lines = (json.loads(line) for line in (Path(folder) / "run/metrics.jsonl").read_text().splitlines())
        return [line["seconds"] for line in lines if line.get("event") == "epoch"][1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", nargs="*", default=["dcgan", "cgan"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3, help="per run; the first is warm-up")
    parser.add_argument("--max-images", type=int, default=1600)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore", GankitWarning)
    load = lambda: " ".join(f"{x:.2f}" for x in os.getloadavg())  # noqa: E731
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; load average at start {load()}")
    for variant in args.variants:
        seconds = {"channels_last": [], "contiguous": []}
        for round_index in range(args.rounds):
            for layout in list(seconds) if round_index % 2 == 0 else list(seconds)[::-1]:
                seconds[layout] += epoch_seconds(variant, layout, args.epochs, args.max_images)
        fast, plain = (statistics.median(seconds[name]) for name in ("channels_last", "contiguous"))
        print(f"{variant:8s} channels_last {fast:.3f} s/epoch, contiguous {plain:.3f} s/epoch: "
              f"{plain / fast:.3f}x (load {os.getloadavg()[0]:.2f})")
    print(f"load average at end {load()}")


if __name__ == "__main__":
    main()
