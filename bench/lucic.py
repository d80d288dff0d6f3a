"""Lucic et al. 2018's Fashion-MNIST column, rerun with gankit's recipes at their defaults (issue 26).

Lucic, Kurach, Michalski, Gelly & Bousquet, "Are GANs Created Equal?", NeurIPS 2018, report the best
FID of a large hyper-parameter search per model (as reprinted by Dai & Wipf 2019, Table 1); this bench
trains each model once per seed with gankit's defaults and scores it the way the study did: FID in
the TF-FID InceptionV3's features, n generated images against n images of the test split.

The protocol (the defaults here): the study's InfoGAN-style networks (the ``lucic`` variant), all
60,000 Fashion-MNIST training images, 20 epochs, batches of 64, FID at n = 10,000 against the test
split. The study's code (compare_gan v1, ``generate_tasks_lib.py``) counts 20 epochs as
20 x 50,000 / 64 = 15,625 batches; 20 epochs of the 60,000 images here are 18,740 batches.

    python bench/lucic.py                                  # the full protocol: hours per model on a CPU
    python bench/lucic.py --models ns,lsgan,wgan-gp --epochs 1 --n 1000 --threads 1

Run folders go to ``--out`` (default runs/lucic-bench, ignored by git), one per model and seed; a
model whose folder already holds its score for the same budget is not trained or scored again, and
a folder whose training stopped part way is resumed, so a long job can be continued by running the
same command again. Prints the CPU, the load average and one Markdown table; writes JSON to
``--json`` (default bench/results/lucic-<date>.json) after every model.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PROTOCOL = {"epochs": 20, "images": 60_000, "batch": 64, "n": 10_000}
DATASET = "fashion-mnist"
RECORD = "bench-lucic.json"  # the bench's own file in each run folder: budget, times, score


@dataclass(frozen=True)
class Model:
    """One of the study's models as a gankit recipe; ``paper`` is (mean, std) of Dai & Wipf's Table 1."""

    key: str
    label: str
    paper: tuple[float, float]
    variant: str
    overrides: dict[str, Any] = field(default_factory=dict)
    clipped: bool = False  # critic weights clamped to [-c, c] (WGAN, c from the wgan variant)
    note: str = ""


def wgan_clip() -> float:
    """The ``wgan`` variant's c (Arjovsky et al.'s 0.01), read from its config."""
    from gankit_catalogue.wgan import WGANConfig

    return WGANConfig().clip


PENALTY_NOTE = "D's BatchNorm becomes a per-sample LayerNorm (lucic's swap under a per-sample penalty)"
MODELS = (
    Model("mm", "MM GAN", (29.6, 1.6), "lucic", {"loss": "minimax"}, note="the saturating minimax loss"),
    Model("ns", "NS GAN", (26.5, 1.6), "lucic", {}, note="loss bce, lucic's default (the study's NS GAN)"),
    Model("lsgan", "LSGAN", (30.7, 2.2), "lucic", {"loss": "lsgan"}),
    Model("wgan", "WGAN", (21.5, 1.6), "lucic", {"loss": "wgan"}, clipped=True,
          note="every critic parameter clamped to [-c, c] before training and after each D step, with "
               "gankit_catalogue.nets.wgan.clip_ (what the wgan variant's optimizer hook calls), by this "
               "bench's callback: config.json does not record it"),
    Model("wgan-gp", "WGAN-GP", (24.5, 2.1), "lucic", {"loss": "wgan-gp"}, note=PENALTY_NOTE),
    Model("dragan", "DRAGAN", (27.7, 1.2), "lucic", {"loss": "dragan"}, note=PENALTY_NOTE),
    Model("began", "BEGAN", (22.9, 0.9), "began", {"batch_size": 64},
          note="the began variant: BEGAN needs an autoencoder D, which lucic's networks are not; its own "
               "Figure-1 networks (n = 32 filters), at the study's batch 64 instead of its default 16"),
)
BY_KEY = {model.key: model for model in MODELS}


def parse_models(text: str) -> list[Model]:
    """``ns,wgan-gp`` -> those models, in the table's order; an unknown name is one clear line."""
    names = [name.strip().lower() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in BY_KEY]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown model {unknown[0]!r}; choose from "
                                         f"{', '.join(BY_KEY)}" if unknown else "no model named")
    return [model for model in MODELS if model.key in names]


def parse_seeds(text: str) -> list[int]:
    """``3`` -> seeds 0, 1, 2; ``0,4`` (any comma) -> exactly those seeds."""
    try:
        if "," in text:
            return sorted({int(part) for part in text.split(",") if part.strip()})
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seeds takes a count (3) or a list (0,4), not {text!r}")
    if count < 1:
        raise argparse.ArgumentTypeError("--seeds needs at least one seed")
    return list(range(count))


def make_weight_clip(bound: float):
    """A gankit Callback that clamps D's parameters at run start and after every D step."""
    from gankit import Callback
    from gankit_catalogue.nets.wgan import clip_

    class WeightClip(Callback):
        name = "bench-lucic-weight-clip"

        def on_run_start(self, context) -> None:
            clip_(context.discriminator.parameters(), bound)

        def on_discriminator_step(self, context) -> None:
            clip_(context.discriminator.parameters(), bound)

    return WeightClip()


def cpu_info() -> dict[str, Any]:
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    lines = text.splitlines()
    name = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "?")
    flags = next((line.split(":", 1)[1].split() for line in lines if line.startswith("flags")), [])
    return {"cpu": name, "cores": os.cpu_count(), "avx512_bf16": "avx512_bf16" in flags}


def recipe(model: Model, args: argparse.Namespace, seed: int, clip: float | None) -> str:
    """The gankit command that trains this row (plus the clip, which is no CLI option)."""
    parts = [f"gankit train {model.variant} --dataset {DATASET}"]
    parts += [f"--loss {value}" if key == "loss" else f"--set {key}={value}"
              for key, value in model.overrides.items()]
    parts += [f"--epochs {args.epochs}", f"--seed {seed}", f"--precision {args.precision}"]
    if args.max_images:
        parts.append(f"--max-images {args.max_images}")
    text = " ".join(parts)
    return text + (f" + critic clip c = {clip:g} (bench callback)" if clip else "")


def config_summary(run: Path) -> tuple[str, int | None, str]:
    """(batch / optimizer / n_critic of the run's config.json, G updates done, training precision)."""
    saved = json.loads((run / "config.json").read_text())
    c = saved["config"]
    text = (f"batch {c['batch_size']}, {c.get('optimizer', 'adam')} lr {c['lr']:g} betas ({c['beta1']:g}, "
            f"{c['beta2']:g}), n_critic {c['n_critic']}, z {c['latent_dim']}")
    if "d_norm" in c:
        text += f", d_norm {c['d_norm']}"
    steps = None
    metrics = run / "metrics.jsonl"
    for line in metrics.read_text().splitlines() if metrics.exists() else []:
        entry = json.loads(line)
        if entry.get("event") == "epoch":
            steps = entry.get("step")
    return text, steps, saved.get("precision", "?")


def train_one(model: Model, seed: int, run: Path, args: argparse.Namespace, record: dict) -> None:
    """Train (or resume) one run into ``run``, adding its wall and CPU seconds to ``record``."""
    from gankit import GankitError, GankitWarning
    from gankit.runs import checkpoint_path
    from gankit.train import RunOptions, train

    overrides = {**model.overrides, "epochs": args.epochs}
    clip = record["budget"]["clip"]
    resume = (run / "config.json").exists() and checkpoint_path(run).exists()
    options = RunOptions(dataset=DATASET, data_root=args.data_root, download=False, require_full=True,
                         seed=seed, device=args.device, out=run, resume=resume, progress=False,
                         max_images=args.max_images, precision=args.precision)
    started_wall, started_cpu = time.perf_counter(), time.process_time()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", GankitWarning)
            train(model.variant, overrides, options, callbacks=[make_weight_clip(clip)] if clip else None)
    except GankitError as error:
        sys.exit(f"error: {model.key} seed {seed}: {error}")
    record["train_wall_s"] = record.get("train_wall_s", 0.0) + time.perf_counter() - started_wall
    record["train_cpu_s"] = record.get("train_cpu_s", 0.0) + time.process_time() - started_cpu
    record["trained"] = True


def score_one(run: Path, args: argparse.Namespace, record: dict) -> None:
    from gankit.evaluate.score import evaluate_run

    started = time.perf_counter()
    result = evaluate_run(run, n=args.n, features="inception", feature_precision=args.feature_precision,
                          data_root=args.data_root, download=False, device=args.device)
    record["eval_wall_s"] = time.perf_counter() - started
    keep = ("fid", "kid", "kid_std", "precision", "recall", "floor", "protocol", "n_fake", "n_real", "epoch")
    record["score"] = {key: result.get(key) for key in keep}
    record["score_budget"] = score_budget(args)


def score_budget(args: argparse.Namespace) -> dict[str, Any]:
    return {"n": args.n, "features": "inception", "feature_precision": args.feature_precision}


def run_model(model: Model, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    """One model and seed: trained and scored, or taken from its folder when it has both already."""
    run = args.out / f"{model.key}-seed{seed}"
    clip = wgan_clip() if model.clipped else None
    budget = {"variant": model.variant, "overrides": model.overrides, "clip": clip, "epochs": args.epochs,
              "max_images": args.max_images, "seed": seed, "precision": args.precision}
    path = run / RECORD
    record = json.loads(path.read_text()) if path.exists() else None
    if record is None and run.exists() and any(run.iterdir()):
        sys.exit(f"error: {run} exists but is not this bench's run folder; choose another --out")
    if record is not None and record["budget"] != budget:
        sys.exit(f"error: {run} was trained with another budget ({record['budget']}); choose another --out")
    record = record or {"budget": budget}
    reused = bool(record.get("trained")) and record.get("score_budget") == score_budget(args)
    if not record.get("trained"):
        print(f"training {model.key} seed {seed} into {run} ...", flush=True)
        train_one(model, seed, run, args, record)
        write_json(path, record)
    if not reused:
        print(f"scoring {model.key} seed {seed} (n = {args.n:,}) ...", flush=True)
        score_one(run, args, record)
        write_json(path, record)
    settings, steps, precision = config_summary(run)
    score = record["score"]
    return {"model": model.key, "seed": seed, "run": str(run), "reused": reused, "fid": score["fid"],
            "floor_fid": (score.get("floor") or {}).get("fid"), "kid": score.get("kid"),
            "precision_pr": score.get("precision"), "recall": score.get("recall"),
            "epochs": score.get("epoch"), "g_steps": steps, "train_precision": precision,
            "train_wall_s": record["train_wall_s"], "train_cpu_s": record["train_cpu_s"],
            "eval_wall_s": record["eval_wall_s"], "protocol": score["protocol"],
            "recipe": recipe(model, args, seed, clip), "settings": settings}


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(data, indent=2, default=str))
    temporary.replace(path)


def summarise(model: Model, rows: list[dict]) -> dict[str, Any]:
    """A model's seeds as one table row: FID mean and std, whether it is at or below mean + 2 std."""
    mean, std = model.paper
    fids = [row["fid"] for row in rows]
    fid = statistics.fmean(fids)
    return {"model": model.key, "label": model.label, "paper_mean": mean, "paper_std": std,
            "paper_bound": round(mean + 2 * std, 1), "fid_mean": fid,
            "fid_std": statistics.stdev(fids) if len(fids) > 1 else None,
            "at_or_below": fid <= mean + 2 * std,
            "seeds": [row["seed"] for row in rows], "epochs": rows[0]["epochs"],
            "g_steps": rows[0]["g_steps"], "train_wall_min": sum(r["train_wall_s"] for r in rows) / 60,
            "eval_wall_min": sum(r["eval_wall_s"] for r in rows) / 60, "recipe": rows[0]["recipe"],
            "settings": rows[0]["settings"], "note": model.note, "floor_fid": rows[0]["floor_fid"]}


def budget_warning(args: argparse.Namespace, floor: float | None) -> str | None:
    short = []
    if args.epochs < PROTOCOL["epochs"]:
        short.append(f"{args.epochs} epoch(s) instead of {PROTOCOL['epochs']}")
    if args.max_images and args.max_images < PROTOCOL["images"]:
        short.append(f"{args.max_images:,} training images instead of {PROTOCOL['images']:,}")
    if args.n < PROTOCOL["n"]:
        short.append(f"FID at n = {args.n:,} instead of {PROTOCOL['n']:,}")
    if not short:
        return None
    text = (f"**Not like-for-like with the paper**: {', '.join(short)}; and one run per seed at gankit's "
            "defaults, where the paper reports the best of a large search.")
    if args.n < PROTOCOL["n"]:
        floor_text = f" (real test images against other real images at this n: FID {floor:.2f})" \
            if floor else ""
        text += (f" FID at n < 10,000 is biased upward{floor_text}, so these numbers are not comparable "
                 "with the paper's.")
    return text


def print_table(header: dict, summaries: list[dict], skipped: list[Model], warning: str | None) -> None:
    print(f"\nCPU: {header['cpu']} ({header['cores']} cores), AVX-512 BF16: "
          f"{'yes' if header['avx512_bf16'] else 'no'}; torch {header['torch']}, "
          f"{header['threads']} thread(s); "
          f"load average {header['load_start']} at start, {header['load_end']} at end; "
          f"training precision {header['train_precision']}, feature precision {header['feature_precision']}")
    p = header.get("protocol") or {}
    if p:
        print(f"FID protocol: {p['n_fake']:,} generated vs {p['n_real']:,} real ({p['real_split']}); "
              f"{p['features']} network {p['network']} {p['file']} sha256 {p['sha256']}"
              f"{', sha1 ' + header['sha1'] if header.get('sha1') else ''}; noise seed {p['noise_seed']}")
    if warning:
        print(f"\n{warning}")
    print("\n| model | paper FID (mean ± std) | paper mean + 2 std | gankit FID | at/below? | seeds "
          "| epochs | G updates | wall (train + FID) | gankit recipe |")
    print("| --- | ---: | ---: | ---: | --- | --- | ---: | ---: | ---: | --- |")
    for s in summaries:
        std = f" ± {s['fid_std']:.2f}" if s["fid_std"] is not None else ""
        print(f"| {s['label']} | {s['paper_mean']} ± {s['paper_std']} | {s['paper_bound']} | "
              f"{s['fid_mean']:.2f}{std} | {'yes' if s['at_or_below'] else 'no'} | "
              f"{','.join(map(str, s['seeds']))} | {s['epochs']} | {s['g_steps']:,} | "
              f"{s['train_wall_min']:.1f} + {s['eval_wall_min']:.1f} min | `{s['recipe']}` ({s['settings']})"
              f"{'; ' + s['note'] if s['note'] else ''} |")
    for model in skipped:
        mean, std = model.paper
        print(f"| {model.label} | {mean} ± {std} | {mean + 2 * std:.1f} | not run | - | - | - | - | - | "
              f"not selected with --models{'; ' + model.note if model.note else ''} |")


def network_sha1(protocol: dict) -> str | None:
    """The sha1 of the TF-FID file when the protocol names the packaged one (gankit checks it too)."""
    from gankit.evaluate.inception import TFFID_FILE, packaged_file, sha1_of

    found = packaged_file()
    return sha1_of(found) if found and protocol.get("file") == TFFID_FILE else None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=parse_models, default=list(MODELS),
                        help=f"comma-separated subset of {','.join(BY_KEY)} [default: all]")
    parser.add_argument("--epochs", type=int, default=PROTOCOL["epochs"], help="[default: the paper's 20]")
    parser.add_argument("--max-images", type=int, default=None,
                        help="train on a seeded subset of this many images [default: all 60,000]")
    parser.add_argument("--n", type=int, default=PROTOCOL["n"], help="FID's n, real and generated [10,000]")
    parser.add_argument("--seeds", type=parse_seeds, default=[0],
                        help="a count (3: seeds 0-2) or a list (0,4) [default: 1, seed 0]")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads [default: torch's]")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "lucic-bench", help="run folders")
    parser.add_argument("--json", type=Path, default=None, help="[default: bench/results/lucic-<date>.json]")
    parser.add_argument("--data-root", type=Path, default=None, help="gankit's data root [default: its own]")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="auto", help="training precision [auto: bf16 where native]")
    parser.add_argument("--feature-precision", default="auto", help="Inception's [auto: bf16 where native]")
    args = parser.parse_args(argv)
    args.json = args.json or ROOT / "bench" / "results" / f"lucic-{datetime.date.today().isoformat()}.json"
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    started, load_start = time.perf_counter(), [round(x, 2) for x in os.getloadavg()]
    header = {**cpu_info(), "torch": torch.__version__, "threads": torch.get_num_threads(),
              "load_start": load_start, "command": " ".join(sys.argv),
              "date": datetime.date.today().isoformat()}
    print(f"CPU: {header['cpu']}, {header['cores']} cores, AVX-512 BF16: {header['avx512_bf16']}, torch "
          f"{header['torch']}, {header['threads']} threads, load average {load_start}", flush=True)
    rows, summaries = [], []
    for model in args.models:
        model_rows = [run_model(model, seed, args) for seed in args.seeds]
        rows += model_rows
        summaries.append(summarise(model, model_rows))
        save(args, header, summaries, rows)
    protocol = rows[-1]["protocol"] if rows else {}
    header.update(load_end=[round(x, 2) for x in os.getloadavg()], protocol=protocol,
                  train_precision=", ".join(sorted({r["train_precision"] for r in rows})),
                  feature_precision=protocol.get("feature_precision", "?"), sha1=network_sha1(protocol),
                  wall_min=(time.perf_counter() - started) / 60)
    warning = budget_warning(args, rows[0]["floor_fid"] if rows else None)
    header["warning"] = warning
    save(args, header, summaries, rows)
    skipped = [model for model in MODELS if model not in args.models]
    print_table(header, summaries, skipped, warning)
    print(f"\nwall time of this invocation: {header['wall_min']:.1f} min; JSON: {args.json}")


def save(args: argparse.Namespace, header: dict, summaries: list[dict], rows: list[dict]) -> None:
    write_json(args.json, {"header": header, "budget": budget_of(args), "models": summaries, "runs": rows})


def budget_of(args: argparse.Namespace) -> dict[str, Any]:
    return {"epochs": args.epochs, "max_images": args.max_images, "n": args.n, "seeds": args.seeds,
            "batch": "each recipe's (64)", "dataset": DATASET, "models": [m.key for m in args.models]}


if __name__ == "__main__":
    main()
