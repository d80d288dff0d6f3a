"""Seconds to evaluate 10,000 generated images, step by step, on this machine.

It runs what ``gankit evaluate RUN --n 10000`` runs, timing each step: drawing the two real sets
and extracting their features (once per evaluation, shared by all runs in ``gankit compare``),
generating the images (an untrained vanilla generator: generation cost is the variant's, not the
evaluator's), extracting their features, each metric, and scoring the real-vs-real floor.
Fashion-MNIST is the default because its 70,000 images ship offline (Debian), so n = 10,000 needs
no lowering; the MNIST evaluator has the same network and costs the same.

    python bench/eval_speed.py [--n 10000] [--dataset fashion-mnist] [--repeats 3]

Prints the median of ``--repeats`` timings per step (the reference set is built once).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import torch

from gankit import get_variant
from gankit.config import build_config
from gankit.data import default_data_root
from gankit.evaluate import metrics
from gankit.evaluate.evaluator import load_evaluator
from gankit.evaluate.reference import build_reference
from gankit.evaluate.score import fixed_inputs, generate
from gankit.plugins import get_host


def timed(function, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data-root", type=Path, default=None)
    args = parser.parse_args()

    dataset = get_host().datasets.get(args.dataset)
    seconds, evaluator = timed(lambda: load_evaluator(args.dataset), 1)
    rows = [("load the evaluator (sha256 check)", seconds)]
    seconds, reference = timed(lambda: build_reference(
        dataset, evaluator, args.n, data_root=args.data_root or default_data_root()), 1)
    rows.append((f"real sets: load data, features of 2 x {reference.n:,} images", seconds))

    spec = get_variant("vanilla")
    torch.manual_seed(0)
    generator = spec.build(build_config(spec.config_class), dataset.info).generator
    z, labels = fixed_inputs(generator, reference.n, 0)
    seconds, images = timed(lambda: generate(generator, z, labels), args.repeats)
    rows.append((f"generate {reference.n:,} images (vanilla G)", seconds))
    seconds, fake = timed(lambda: evaluator.features(images), args.repeats)
    rows.append((f"features of {reference.n:,} generated images", seconds))
    real = reference.reference
    per_run = seconds
    for name, function in (
        ("FID (torchmetrics)", lambda: metrics.frechet_distance(real, fake)),
        ("KID (torchmetrics, 100 subsets of 1,000)", lambda: metrics.kernel_distance(real, fake)),
        ("Inception Score (torchmetrics)", lambda: metrics.inception_score(fake)),
        ("precision, recall, density, coverage", lambda: metrics.manifold_metrics(real, fake)),
        ("modes covered, KL to uniform", lambda: metrics.mode_coverage(fake)),
    ):
        seconds, _ = timed(function, args.repeats)
        per_run += seconds
        rows.append((name, seconds))
    seconds, _ = timed(reference.floor, 1)
    rows.append(("real-vs-real floor (all metrics, once)", seconds))

    print(f"# {args.dataset}, n = {reference.n:,}; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, torch {torch.__version__} with {torch.get_num_threads()} threads")
    print(f"# load average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("| step | seconds |\n| --- | ---: |")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.2f} |")
    print(f"| **scoring one run, after the real sets (features + metrics)** | **{per_run:.2f}** |")
    total = sum(seconds for _, seconds in rows)
    print(f"| **everything, as `gankit evaluate` does it** | **{total:.2f}** |")


if __name__ == "__main__":
    main()
