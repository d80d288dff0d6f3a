"""Vanilla's seconds per epoch through gankit's engine vs. a plain hand-written PyTorch loop.

All train the tutorial's model (same layers, init, Adam settings, batch 100, non-saturating
loss) on the same data held in memory, in this one process, alternating round by round so that
any load on the machine hits all alike: the hand-written fp32 loop, `gankit train vanilla
--precision bf16` and `--precision fp32` (`--precisions auto` times the default: bf16 where the CPU runs it natively, else fp32). Only the epoch's training
steps are compared; gankit's time per epoch, outputs included, is printed beside its step time.

    python bench/train_speed.py [--rounds 3] [--epochs 4] [--max-images N] [--device cpu]
                                [--threads N] [--clock wall|cpu] [--precisions fp32,bf16]

``--clock wall`` (the default) times by the wall clock (gankit's ``seconds`` metric for its
steps). ``--clock cpu`` times by CPU seconds, which load on a shared machine barely moves when
torch computes in one thread (``--threads 1``): the steps by the training thread's CPU time
(``time.thread_time``; with one thread torch runs every op, forward and backward, in it), the
epoch with its outputs by the whole process's (``time.process_time``, so a background writer
thread's work is counted). CPU seconds are a cost, not what a user waits: use it to compare code,
the wall clock on an idle machine for what a user sees.

Prints the median s/epoch of each, the throughput ratios (hand-written / gankit; 2.0 means gankit
trains twice as many images per second) and the load average.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from gankit import Callback
from gankit.data import load_mnist
from gankit.registry import DataRequest
from gankit.device import resolve_device
from gankit.train import RunOptions, train


CLOCKS = {"wall": (time.perf_counter, time.perf_counter), "cpu": (time.thread_time, time.process_time)}
step_clock, epoch_clock = CLOCKS["wall"]  # what the steps and whole epochs are timed by (--clock)


def hand_written_epochs(images: torch.Tensor, epochs: int, device: torch.device, seed: int) -> list[float]:
    """The loop a reader of the tutorial would write in PyTorch."""
    torch.manual_seed(seed)
    G = nn.Sequential(nn.Linear(100, 256), nn.ReLU(), nn.Linear(256, 512), nn.ReLU(),
                      nn.Linear(512, 1024), nn.ReLU(), nn.Linear(1024, 784), nn.Tanh()).to(device)
    D = nn.Sequential(nn.Linear(784, 1024), nn.ReLU(), nn.Dropout(0.7), nn.Linear(1024, 512), nn.ReLU(),
                      nn.Dropout(0.7), nn.Linear(512, 256), nn.ReLU(), nn.Dropout(0.7),
                      nn.Linear(256, 1)).to(device)
    for layer in [*G, *D]:
        if isinstance(layer, nn.Linear):
            nn.init.trunc_normal_(layer.weight, std=0.02, a=-0.04, b=0.04)
            nn.init.zeros_(layer.bias)
    g_opt = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.9, 0.999))
    d_opt = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.9, 0.999))
    bce = nn.BCEWithLogitsLoss()
    x_all = images.to(device).float().div(127.5).sub(1).flatten(1)
    batch = 100
    ones = torch.ones(batch, 1, device=device)
    zeros = torch.zeros(batch, 1, device=device)
    times = []
    for _ in range(epochs):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = step_clock()
        order = torch.randperm(x_all.shape[0], device=device)
        for i in range(x_all.shape[0] // batch):
            real = x_all[order[i * batch:(i + 1) * batch]]
            fake = G(torch.randn(batch, 100, device=device))
            d_opt.zero_grad()
            d_loss = bce(D(real), ones) + bce(D(fake.detach()), zeros)
            d_loss.backward()
            d_opt.step()
            g_opt.zero_grad()
            g_loss = bce(D(fake), ones)
            g_loss.backward()
            g_opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(step_clock() - start)
    return times


def gankit_epochs(epochs: int, device: str, max_images: int | None, seed: int,
                  precision: str) -> tuple[list[float], list[float]]:
    """Step seconds per epoch and seconds per epoch with its outputs (measured from one epoch's
    end to the next, so setup is left out and the list is one shorter). By the wall clock the step seconds are gankit's own
    (metrics.jsonl); by the CPU clock, the training thread's CPU seconds in the epoch's loop."""
    from gankit.train import loop

    walls: list[float] = []
    cpu_steps: list[float] = []

    class Clock(Callback):
        def on_epoch_end(self, context):
            walls.append(epoch_clock())

    run_epoch = loop.Trainer._run_epoch

    def timed_epoch(trainer, *args):
        start = step_clock()
        try:
            return run_epoch(trainer, *args)
        finally:
            cpu_steps.append(step_clock() - start)

    loop.Trainer._run_epoch = timed_epoch
    with tempfile.TemporaryDirectory() as folder:
        run = Path(folder) / "run"
        try:
            train("vanilla", {"epochs": epochs},
                  RunOptions(out=run, progress=False, device=device, max_images=max_images, seed=seed,
                             download=False, precision=precision), callbacks=[Clock()])
        finally:
            loop.Trainer._run_epoch = run_epoch
        # From one epoch's end to the next: epochs 2, 3, ... each with its steps and its outputs
        # (a background writer's work spills into the next interval; the last one's is left out).
        wall = [b - a for a, b in zip(walls, walls[1:])]
        records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    if step_clock is not time.perf_counter:
        return cpu_steps, wall
    return [r["seconds"] for r in records if r.get("event") == "epoch"], wall


def main() -> None:
    import os

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=4, help="per round; the first is warm-up")
    parser.add_argument("--max-images", type=int, default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precisions", default="fp32,bf16",
                        help="gankit precisions to time, comma-separated (bf16 is slow on CPUs without "
                             "AVX512-BF16 or AMX)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch's threads (default: torch's choice); 1 with --clock cpu under load")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                        help="wall: seconds a user waits; cpu: CPU seconds (see the module docstring)")
    args = parser.parse_args()
    if args.epochs < 2:
        parser.error("--epochs must be at least 2 (the first is warm-up)")
    global step_clock, epoch_clock
    step_clock, epoch_clock = CLOCKS[args.clock]
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    precisions = [p.strip() for p in args.precisions.split(",") if p.strip()]

    data = load_mnist(DataRequest(root=Path(tempfile.gettempdir()) / "gankit-bench-empty", download=False))
    images = data.images[:args.max_images] if args.max_images else data.images
    print(f"data: {data.source}, {images.shape[0]} images; device {device}; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; clock {args.clock}; load average at start "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    steps: dict[str, list[float]] = {"hand": [], **{p: [] for p in precisions}}
    walls: dict[str, list[float]] = {p: [] for p in precisions}
    for round_index in range(args.rounds):
        steps["hand"] += hand_written_epochs(images, args.epochs, device, seed=round_index)[1:]
        for precision in precisions:
            seconds, wall = gankit_epochs(args.epochs, args.device, args.max_images, round_index, precision)
            steps[precision] += seconds[1:]
            walls[precision] += wall  # already without the first epoch
        print(f"round {round_index + 1}: " + ", ".join(
            f"{name} {statistics.median(values[-(args.epochs - 1):]):.3f} s/epoch" for name, values in steps.items())
            + f" (load {os.getloadavg()[0]:.2f})")
    hand = statistics.median(steps["hand"])
    print(f"hand-written fp32 loop:             {hand:.3f} s/epoch")
    for precision in precisions:
        step, wall = statistics.median(steps[precision]), statistics.median(walls[precision])
        print(f"gankit --precision {precision:4s} steps:     {step:.3f} s/epoch, with outputs {wall:.3f} s/epoch "
              f"(outputs {100 * (wall / step - 1):+.1f}%), throughput ratio vs hand-written {hand / step:.2f}")
    print(f"load average at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
