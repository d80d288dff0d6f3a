"""Seconds to evaluate 10,000 generated images, step by step, and what the evaluation cache saves.

Three parts, each optional:

- ``steps``: what ``gankit evaluate RUN --n 10000`` runs, timed step by step: drawing the two
  real sets and extracting their features, generating the images (an untrained vanilla generator:
  generation cost is the variant's, not the evaluator's), their features, what the real set alone
  needs for KID and PRDC (cached), each metric (a run's own share), the real-vs-real floor, and
  the memorisation check's parts (the train split's features, the near-copy threshold, the held-out
  yardsticks, one run's nearest-training-image search).
- ``pixels``: memorisation's pixel search (``--n`` noisy test images against the train split)
  by the float32 product it used before and by the exact search, alternated; then the exact
  search's int8 and float32 products on 1,024 of the queries (int8 is 23x slower on AVX2 alone).
- ``kid``: KID batched over its subsets (gankit) against torchmetrics' loop over them (what
  gankit used before), alternated, with the largest difference of their values.
- ``cache``: ``evaluate_run`` (what the command does) of four small trained runs on an empty
  cache (the first evaluation) and on a filled one (every later evaluation), alternated (the first
  round's first evaluate often runs 1.1-1.2x the later ones: take 3 rounds and read the median); the
  same two as ``gankit evaluate`` processes (``--no-commands`` leaves them out), which also pay what
  a fresh process does (imports, the first oneDNN calls, the int8 probe); then
  ``run_comparison`` of the four run folders (what ``gankit compare RUN1 .. RUN4`` does; it trains
  nothing) on an empty and on a filled cache.

- ``inception`` (``pip install 'gankit[inception]'``): the TF-FID InceptionV3's images/s in fp32 and
  under bf16 autocast, alternated, beside what the CPU's GEMM rate allows (its FLOPs per image are
  counted by torch's FlopCounterMode, the GEMM rate measured here at 4096x4096); then how far bf16
  features and FIDs lie from fp32's on real Fashion-MNIST sets (``--inception-n`` images each):
  clean held-out images and blurred ones against the test split.

Fashion-MNIST is the default because its 70,000 images ship offline (Debian), so n = 10,000 needs
no lowering; the MNIST evaluator has the same network and costs the same.

    python bench/eval_speed.py [--n 10000] [--parts steps,pixels,kid,cache,inception] [--rounds 2]
        [--inception-n 500] [--inception-batch 50]

The load average is printed at the start and the end: on a shared machine, read it beside the times.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

from gankit import get_variant
from gankit.config import build_config
from gankit.evaluate import metrics
from gankit.evaluate.evaluator import load_evaluator
from gankit.evaluate.reference import build_reference
from gankit.evaluate.score import fixed_inputs, generate
from gankit.plugins import get_host
from gankit.train.precision import native_bf16


def load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def timed(function, repeats: int = 1) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def table(rows: list[tuple[str, float]]) -> None:
    print("| step | seconds |\n| --- | ---: |")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.2f} |")


def steps(args: argparse.Namespace, root: Path) -> None:
    dataset = get_host().datasets.get(args.dataset)
    seconds, evaluator = timed(lambda: load_evaluator(args.dataset))
    rows = [("load the evaluator (sha256 check)", seconds)]
    seconds, reference = timed(lambda: build_reference(dataset, evaluator, args.n, data_root=root,
                                                       extras=("memorisation",)))
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
    # What the real set alone needs (KID's within-real kernel sums, its k-NN radii) is made by the
    # first scoring and cached with its features: timed apart, so the metric rows are a run's own.
    first_scoring, _ = timed(lambda: (metrics.kernel_distance(real, fake),
                                      metrics.manifold_metrics(real, fake)))
    memo_row = len(rows)
    for name, function in (
        ("FID", lambda: metrics.frechet_distance(real, fake)),
        ("KID (100 subsets of 1,000, batched)", lambda: metrics.kernel_distance(real, fake)),
        ("Inception Score", lambda: metrics.inception_score(fake)),
        ("precision, recall, density, coverage", lambda: metrics.manifold_metrics(real, fake)),
        ("modes covered, KL to uniform", lambda: metrics.mode_coverage(fake)),
    ):
        seconds, _ = timed(function, args.repeats)
        per_run += seconds
        rows.append((name, seconds))
    again = sum(seconds for name, seconds in rows if name.startswith(("KID", "precision")))
    rows.insert(memo_row, ("the real set's memo: KID's within-real sums, k-NN radii (once, cached)",
                           max(0.0, first_scoring - again)))
    seconds, _ = timed(reference.floor)
    rows.append(("real-vs-real floor (all metrics, once)", seconds))
    seconds, training = timed(lambda: reference.load_training())
    rows.append((f"memorisation: the train split ({len(training):,} images; read with the real sets "
                 "when they drew on it)", seconds))
    from gankit.evaluate.memorisation import TrainingSet

    seconds, train_set = timed(lambda: TrainingSet(training, evaluator.features(training).embeddings))
    rows.append((f"memorisation: features of {len(training):,} training images", seconds))
    seconds, _ = timed(train_set.pixels)
    rows.append(("memorisation: the train split prepared for the pixel search (its levels and, where the "
                 "product is float32, the bound; once, cached)", seconds))
    seconds, _ = timed(train_set.threshold)
    rows.append(("memorisation: near-copy threshold (5,000 x train, pixels)", seconds))
    reference._training = train_set
    # The first run's memorisation also finds the held-out yardsticks (2,000 held-out images'
    # nearest training images), which the cache keeps for every later run: timed apart.
    first_memorisation, _ = timed(lambda: reference.extra_scores(images, fake))
    seconds, _ = timed(lambda: reference.extra_scores(images, fake), args.repeats)
    per_run += seconds
    rows.append(("memorisation: the held-out yardsticks (2,000 held-out images vs train; once, cached)",
                 max(0.0, first_memorisation - seconds)))
    rows.append((f"memorisation of one run ({reference.n:,} images vs the train split)", seconds))
    table(rows)
    print(f"| **scoring one run, after the real sets (features + metrics + memorisation)** | **{per_run:.2f}** |")
    print(f"| **everything, as `gankit evaluate` does it without a cache** | **{sum(s for _, s in rows):.2f}** |")


def kid(args: argparse.Namespace) -> None:
    from torchmetrics.image.kid import KernelInceptionDistance

    def torchmetrics_loop(real, fake):
        metric = KernelInceptionDistance(feature=metrics._Precomputed(real.embeddings.shape[1]),
                                         subsets=metrics.KID_SUBSETS,
                                         subset_size=min(metrics.KID_SUBSET_SIZE, args.n))
        metric.update(real.embeddings.double(), real=True)
        metric.update(fake.embeddings.double(), real=False)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            mean, std = metric.compute()
        return float(mean), float(std)

    generator = torch.Generator().manual_seed(0)
    real = metrics.FeatureSet(torch.randn(args.n + 1, 128, generator=generator), torch.zeros(args.n + 1, 10))
    fake = metrics.FeatureSet(torch.randn(args.n, 128, generator=generator) + 0.1, torch.zeros(args.n, 10))
    times: dict[str, list[float]] = {"torchmetrics loop": [], "batched": []}
    difference = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(args.rounds):
            seconds, old = timed(lambda: torchmetrics_loop(real, fake))
            times["torchmetrics loop"].append(seconds)
            seconds, new = timed(lambda: metrics.kernel_distance(real, fake))
            times["batched"].append(seconds)
            difference = max(difference, abs(old[0] - new[0]), abs(old[1] - new[1]))
    print(f"# KID of 2 x {args.n:,} features, {metrics.KID_SUBSETS} subsets of {metrics.KID_SUBSET_SIZE:,}, "
          f"alternated {args.rounds} rounds; largest difference of mean or std: {difference:.2e}")
    for name, values in times.items():
        print(f"| KID, {name} | {' / '.join(f'{v:.2f}' for v in values)} s |")


def trained_runs(args: argparse.Namespace, folder: Path) -> list[Path]:
    from gankit.train import RunOptions, train

    runs = []
    for seed in range(4):
        out = folder / f"vanilla-seed{seed}"
        train("vanilla", {"epochs": 1}, RunOptions(dataset=args.dataset, max_images=2000, seed=seed,
                                                   out=out, progress=False, device="cpu"))
        runs.append(out)
    return runs


def cache(args: argparse.Namespace, folder: Path) -> None:
    from gankit.compare import CompareOptions, run_comparison
    from gankit.evaluate.score import evaluate_run

    runs = trained_runs(args, folder / "runs")
    root = folder / "data-root"  # its cache/ folder is the evaluation cache; the images come from Debian's

    def empty() -> None:
        shutil.rmtree(root / "cache", ignore_errors=True)

    def evaluate(run: Path) -> float:
        return timed(lambda: evaluate_run(run, n=args.n, data_root=root, device="cpu"))[0]

    def compare(tag: str) -> float:
        options = CompareOptions(n=args.n, data_root=root, device="cpu", out=folder / f"compare-{tag}")
        shutil.rmtree(options.out, ignore_errors=True)
        return timed(lambda: run_comparison([str(run) for run in runs], options))[0]

    def command(run: Path) -> float:  # what a user waits for: a fresh process, imports included
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "gankit", "evaluate", str(run), "--n", str(args.n),
                        "--data-root", str(root), "--json"], check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - started

    first, later, compare_empty, compare_filled = [], [], [], []
    first_command, later_command = [], []
    for round_ in range(args.rounds):  # alternated: empty, filled, empty, filled, ...
        empty()
        first.append(evaluate(runs[round_ % 4]))
        later.append(evaluate(runs[(round_ + 1) % 4]))
        print(f"# round {round_ + 1}: first evaluate {first[-1]:.1f} s, second (another run) "
              f"{later[-1]:.1f} s; load {load()}", flush=True)
        if args.commands:
            empty()
            first_command.append(command(runs[(round_ + 2) % 4]))
            later_command.append(command(runs[(round_ + 3) % 4]))
            print(f"# round {round_ + 1}, `gankit evaluate` processes: first {first_command[-1]:.1f} s, "
                  f"second {later_command[-1]:.1f} s; load {load()}", flush=True)
    for round_ in range(args.compare_rounds):  # the cache is filled here: the first goes empty
        if "empty" in args.compare:
            empty()
            compare_empty.append(compare(f"empty{round_}"))
            print(f"# compare of 4 runs, empty cache {compare_empty[-1]:.1f} s; load {load()}", flush=True)
        if "filled" in args.compare:
            compare_filled.append(compare(f"filled{round_}"))
            print(f"# compare of 4 runs, filled cache {compare_filled[-1]:.1f} s; load {load()}", flush=True)
    one = statistics.median(first)
    print(f"| `evaluate`, empty cache (the first) | {' / '.join(f'{v:.1f}' for v in first)} s |")
    print(f"| `evaluate` of another run, filled cache | {' / '.join(f'{v:.1f}' for v in later)} s "
          f"(**{statistics.median(later) / one:.0%}** of the first; target <= 25%) |")
    if first_command:
        print(f"| `gankit evaluate` as a fresh process, empty cache | "
              f"{' / '.join(f'{v:.1f}' for v in first_command)} s |")
        print(f"| `gankit evaluate` of another run as a fresh process, filled cache | "
              f"{' / '.join(f'{v:.1f}' for v in later_command)} s "
              f"(**{statistics.median(later_command) / statistics.median(first_command):.0%}** of the first) |")
    for name, values in (("empty", compare_empty), ("filled", compare_filled)):
        if not values:
            continue
        print(f"| `compare` of 4 runs, {name} cache | {' / '.join(f'{v:.1f}' for v in values)} s "
              f"(**{statistics.median(values) / one:.2f}x** one first evaluation; target <= 1.5x) |")


def pixels(args: argparse.Namespace) -> None:
    """Memorisation's nearest-training-image search in pixel space: the float32 matrix product it
    used before against the exact search (with the product this CPU was timed to run faster),
    alternated, on generated-like images (real test images plus noise, so between levels) against
    the train split; then the exact search's two products on one block of queries, alternated."""
    from gankit.evaluate import level_products, search
    from gankit.evaluate.search import BLOCK, PixelPool, _flat, nearest, nearest_pixels
    from gankit.registry import DataRequest

    dataset = get_host().datasets.get(args.dataset)
    train = dataset.load(DataRequest(root=None, split="train")).images
    test = dataset.load(DataRequest(root=None, split="test")).images[:args.n]
    noise = torch.randn(test.shape, generator=torch.Generator().manual_seed(0))
    fake = (_flat(test).view(test.shape) + 0.05 * noise).clamp(-1, 1)
    chosen = "int8" if level_products._int8_products_faster() else "float32"
    if search._prunes(search._levels(train)[0]):
        chosen += " product after the principal directions' bound"
    float32, exact, prepare, unbounded, products = [], [], [], [], {"int8": [], "float32": []}
    for _ in range(args.rounds):
        seconds, before = timed(lambda: nearest(_flat(fake), _flat(train)))
        float32.append(seconds)
        seconds, pool = timed(lambda: PixelPool.of(train))  # once per pool: kept with the training set
        prepare.append(seconds)
        seconds, after = timed(lambda: nearest_pixels(fake, pool))
        exact.append(seconds)
        seconds, full = timed(lambda: without_bound(lambda: nearest_pixels(fake, train)))
        unbounded.append(seconds)
        for product, times in products.items():
            times.append(forced_product(product, lambda: without_bound(
                lambda: nearest_pixels(fake[:BLOCK], train))))
    agree = float((before[1] == after[1]).double().mean())
    print(f"| pixel search, {len(fake):,} x {len(train):,}, float32 product | "
          f"{' / '.join(f'{v:.2f}' for v in float32)} s |")
    print(f"| pixel search, exact ({chosen} + float64 check) | "
          f"{' / '.join(f'{v:.2f}' for v in exact)} s "
          f"(**{statistics.median(float32) / statistics.median(exact):.2f}x**; same nearest image for "
          f"{agree:.2%}, largest distance difference {float((before[0] - after[0]).abs().max()):.1e}) |")
    print(f"| the pool prepared for it, once (levels, norms, the bound) | "
          f"{' / '.join(f'{v:.2f}' for v in prepare)} s |")
    same = torch.equal(full[0], after[0]) and torch.equal(full[1], after[1])
    print(f"| pixel search, exact, every image's full product | {' / '.join(f'{v:.2f}' for v in unbounded)} s "
          f"(the same answer: {same}) |")
    for product, times in products.items():
        print(f"| exact search of {min(len(fake), BLOCK):,} queries, {product} product | "
              f"{' / '.join(f'{v:.2f}' for v in times)} s |")
    ratio = statistics.median(products["int8"]) / statistics.median(products["float32"])
    print(f"# int8 / float32 product, exact search: {ratio:.2f}x the time; this CPU takes {chosen}")


def without_bound(search):
    """``search`` with the pixel search's bound (gankit/evaluate/pixel_bound.py) turned off."""
    from gankit.evaluate import search as module

    saved, module.PRUNE_FROM = module.PRUNE_FROM, 2 ** 62
    try:
        return search()
    finally:
        module.PRUNE_FROM = saved


def forced_product(product: str, search) -> float:
    """Seconds of ``search`` with the pixel search's product forced to ``product``."""
    from gankit.evaluate import level_products

    probe = level_products._int8_products_faster
    level_products._int8_products_faster = lambda: product == "int8"
    try:
        return timed(search)[0]
    finally:
        level_products._int8_products_faster = probe


def gemm_rate(dtype: torch.dtype, size: int = 4096, repeats: int = 5) -> float:
    """GFLOP/s of one (size x size) @ (size x size) product in ``dtype``, the best of ``repeats``."""
    a = torch.randn(size, size).to(dtype)
    a @ a
    best = min(timed(lambda: a @ a)[0] for _ in range(repeats))
    return 2 * size ** 3 / best / 1e9


def inception_speed(args: argparse.Namespace) -> None:
    from torch.utils.flop_counter import FlopCounterMode

    from gankit.evaluate import inception

    # bf16 only where it is native: elsewhere it is emulated, 8-20x slower, and the tolerance run
    # alone would take hours (--inception-precisions fp32,bf16 times it anyway).
    native = native_bf16(torch.device("cpu"))
    chosen = args.inception_precisions.split(",") if args.inception_precisions else \
        ["fp32", "bf16"] if native else ["fp32"]
    if "bf16" not in chosen:
        print("# bf16 left out: this CPU has neither AVX512-BF16 nor AMX "
              "(pass --inception-precisions fp32,bf16)")
    networks = {name: inception.load_inception(None, precision=name) for name in chosen}
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        networks["fp32"].net(torch.zeros(1, 3, inception.SIZE, inception.SIZE))
    per_image = counter.get_total_flops() / 1e9
    rates = {name: gemm_rate(dtype) for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16))
             if name in networks}
    batch = args.inception_batch or inception.CPU_BATCH_SIZE
    images = torch.randint(0, 256, (max(batch * 2, 48), 1, 28, 28), dtype=torch.uint8)
    if args.inception_batch:  # else the library's own batch for the device
        inception.BATCH_SIZE = inception.CPU_BATCH_SIZE = args.inception_batch
    speed: dict[str, list[float]] = {name: [] for name in networks}
    for _ in range(args.rounds):  # alternated: the machine's load falls on both alike
        for name, network in networks.items():
            seconds, _ = timed(lambda: network.features(images))
            speed[name].append(len(images) / seconds)
    print(f"\n## TF-FID InceptionV3: {per_image:.2f} GFLOP per 299x299 image (FlopCounterMode), "
          f"batch {batch}, {args.rounds} alternated rounds of {len(images)} images")
    print("| arithmetic | images/s (median) | GEMM GFLOP/s | limit, images/s | share of the limit |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, values in speed.items():
        limit = rates[name] / per_image
        print(f"| {name} | {statistics.median(values):.2f} | {rates[name]:.0f} | {limit:.1f} | "
              f"{statistics.median(values) / limit:.0%} |")
    if {"fp32", "bf16"} <= networks.keys():
        inception_tolerance(args, networks)


def inception_tolerance(args: argparse.Namespace, networks: dict) -> None:
    """bf16 against fp32 features: their relative distance, and FID of the same sets in each."""
    from gankit.evaluate.disturb import gaussian_blur
    from gankit.evaluate.fidelity import held_out_pool
    from gankit.registry import DataRequest

    pool = held_out_pool(args.dataset)
    train = get_host().datasets.get(args.dataset).load(DataRequest(split="train")).images
    n = args.inception_n
    rng = torch.Generator().manual_seed(0)
    sets = {"held-out real": train[torch.randperm(len(train), generator=rng)[:n]]}
    sets["blurred (sigma 1)"] = gaussian_blur(sets["held-out real"].float().div(127.5).sub(1), 1.0)
    reference = pool.images[:n]
    features = {name: {label: network.features(images) for label, images in
                       {"reference": reference, **sets}.items()} for name, network in networks.items()}
    fids: dict[str, dict[str, float]] = {}
    for label in sets:
        exact, rounded = features["fp32"][label].embeddings, features["bf16"][label].embeddings
        gap = (rounded - exact).norm(dim=1) / exact.norm(dim=1)
        fids[label] = {name: metrics.frechet_distance(features[name]["reference"], features[name][label])
                       for name in networks}
        fids[label]["feature_gap"] = float(gap.max())
    print(f"\n## bf16 against fp32 Inception features, n = {n:,} against {pool.source}")
    print("| set | FID fp32 | FID bf16 | FID difference | largest relative feature distance |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for label, row in fids.items():
        print(f"| {label} | {row['fp32']:.3f} | {row['bf16']:.3f} | "
              f"{abs(row['bf16'] - row['fp32']) / row['fp32']:.2%} | {row['feature_gap']:.2%} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--repeats", type=int, default=1, help="timings per step (the median is shown)")
    parser.add_argument("--rounds", type=int, default=2, help="alternations of the compared timings")
    parser.add_argument("--compare-rounds", type=int, default=1)
    parser.add_argument("--compare", default="empty,filled", help="which caches compare runs on")
    parser.add_argument("--commands", action=argparse.BooleanOptionalAction, default=True,
                        help="cache: also time `gankit evaluate` as fresh processes (what a user waits for)")
    parser.add_argument("--parts", default="steps,kid,cache")
    parser.add_argument("--inception-n", type=int, default=500, help="images per set for bf16's tolerance")
    parser.add_argument("--inception-precisions", default=None,
                        help="fp32,bf16 (the default where bf16 is native; fp32 elsewhere)")
    parser.add_argument("--inception-batch", type=int, default=None,
                        help="images per forward pass (default: gankit's own for the device)")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    print(f"# {args.dataset}, n = {args.n:,}; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, torch {torch.__version__} with {torch.get_num_threads()} threads")
    print(f"# load average at the start: {load()}", flush=True)
    os.environ["GANKIT_OFFLINE"] = "1"
    with tempfile.TemporaryDirectory(prefix="gankit-eval-speed-") as folder:
        if "steps" in parts:
            steps(args, Path(folder) / "steps-root")
        if "kid" in parts:
            kid(args)
        if "pixels" in parts:
            pixels(args)
        if "cache" in parts:
            cache(args, Path(folder))
        if "inception" in parts:
            inception_speed(args)
    print(f"# load average at the end: {load()}")


if __name__ == "__main__":
    main()
