"""``gankit compare``: variants side by side, fair by construction.

Variant names are trained now, each with the same data, the same seeds 0..K-1 and the same budget
(``epochs``, or ``budget_seconds`` turned into whole epochs from each variant's first epoch); run
folders are loaded as they are. Every run is then sampled from the same fixed noise (and, if
conditional, the same labels) and scored by the same evaluator against the same real images at the
same n, next to the real-vs-real floor. The outputs go to one folder: ``side_by_side.png``,
``losses.png``, ``report.md``, ``report.html`` (self-contained) and ``results.json``
(see :mod:`gankit.report`); the terminal gets a Rich table.
"""

from __future__ import annotations

import math
import statistics
import time
from pathlib import Path
from typing import Any

import gankit.runs as runs
from gankit.compare.entries import (DEFAULT_EPOCHS, CompareOptions, Contender, check_options,
                                    default_out, resolve_entries)
from gankit.compare.figures import PANEL_COLUMNS, UNCONDITIONAL_ROWS, Panel
from gankit.errors import CheckpointError, GankitError
from gankit.host import PluginHost, get_host

NOISE_SEED = 0
RUNS_DIR = "runs"


def train_contender(contender: Contender, options: CompareOptions, dataset: str, out: Path,
                    host: PluginHost, console: Any, seeds: list[int] | None = None) -> None:
    """Train seeds 0..K-1 (or ``seeds``) of one variant under the shared budget."""
    from gankit.train import RunOptions, train

    epochs = options.epochs or DEFAULT_EPOCHS
    for seed in range(options.seeds) if seeds is None else seeds:
        run_dir = out / RUNS_DIR / f"{contender.variant.replace(':', '-')}-seed{seed}"  # PLUGIN:NAME too
        if run_dir.exists() and any(run_dir.iterdir()):
            raise GankitError(f"'{run_dir}' already exists. Use another --out, or pass that run "
                              "folder to compare it without retraining.")
        run_options = RunOptions(dataset=dataset, data_root=options.data_root,
                                 download=options.download, seed=seed, device=options.device,
                                 out=run_dir, progress=options.progress, max_images=options.max_images,
                                 data_options=dict(options.data_options))
        if console is not None:
            console.rule(f"{contender.variant}, seed {seed}")
        if options.budget_seconds is not None and contender.epochs is None:
            # Judge the epoch time on the first seed, then give every seed the same epochs.
            first = train(contender.variant, {"epochs": 1}, run_options, host=host, console=console)
            seconds = first.epoch_metrics[0]["seconds"]
            contender.epochs = max(1, math.floor(options.budget_seconds / seconds))
            if console is not None:
                console.print(f"{contender.variant}: {seconds:.2f}s per epoch -> "
                              f"{contender.epochs} epochs in {options.budget_seconds:g}s")
            if contender.epochs > 1:
                run_options.resume = True
                train(contender.variant, {"epochs": contender.epochs}, run_options, host=host,
                      console=console)
        else:
            contender.epochs = contender.epochs or epochs
            train(contender.variant, {"epochs": contender.epochs}, run_options, host=host,
                  console=console)
        contender.run_dirs.append(run_dir)
        contender.seeds.append(seed)


def timing(run_dir: Path) -> dict[str, float | None]:
    """Mean seconds per epoch and images/s over the run's logged epochs."""
    epochs = [r for r in runs.read_metrics(run_dir) if r.get("event") == "epoch"]
    if not epochs:
        return {"seconds_per_epoch": None, "images_per_s": None}
    return {"seconds_per_epoch": statistics.fmean(r["seconds"] for r in epochs),
            "images_per_s": statistics.fmean(r["images_per_s"] for r in epochs)}


def summarise(values: list[float]) -> dict[str, float]:
    """Mean and (sample) standard deviation; std 0 for a single value."""
    return {"mean": statistics.fmean(values),
            "std": statistics.stdev(values) if len(values) > 1 else 0.0}


def run_comparison(entries: list[str], options: CompareOptions, *, host: PluginHost | None = None,
                   console: Any = None) -> dict[str, Any]:
    """Train/load, sample, score, and write the report; returns what results.json holds."""
    from gankit.evaluate.evaluator import load_evaluator
    from gankit.evaluate.reference import build_reference
    from gankit.compare.report import write_reports
    from gankit.device import resolve_device
    from gankit.evaluate.score import show_notices

    host = host or get_host()
    contenders = resolve_entries(entries, host)
    dataset_name, options = check_options(options, contenders, host)
    dataset = host.datasets.get(dataset_name)
    device = resolve_device(options.device)
    evaluator = load_evaluator(dataset_name, options.evaluator_path, device=device)  # fail early
    out = Path(options.out) if options.out else default_out(contenders)
    out.mkdir(parents=True, exist_ok=True)
    _train_contenders(contenders, options, dataset_name, out, host, console)

    reference = build_reference(dataset, evaluator, options.n, data_root=options.data_root,
                                download=options.download, seed=NOISE_SEED, extras=("memorisation",),
                                options=options.data_options, cache=options.cache)
    show_notices(reference, console)
    panels, closest = _score_contenders(contenders, options, dataset_name, evaluator, reference, device,
                                        host, console)
    results = _results(contenders, options, dataset_name, evaluator, reference)
    write_reports(results, panels, out, console, closest=closest)
    return results


def _train_contenders(contenders: list[Contender], options: CompareOptions, dataset: str, out: Path,
                      host: PluginHost, console: Any) -> None:
    """Train the variants named (not the run folders), in parallel when ``options.jobs`` > 1."""
    trained = [contender for contender in contenders if contender.trained]
    if options.jobs > 1 and trained:
        from gankit.compare.parallel import train_in_parallel
        train_in_parallel(train_contender, trained, options, dataset, out, host, console)
    for contender in trained if options.jobs <= 1 else []:
        train_contender(contender, options, dataset, out, host, console)


def _score_contenders(contenders: list[Contender], options: CompareOptions, dataset_name: str,
                      evaluator: Any, reference: Any, device: Any, host: PluginHost,
                      console: Any) -> tuple[dict[str, Panel], dict[str, Panel]]:
    """Load, sample and score every run, appending its results to its contender; returns each
    variant's panel and its memorisation pairs (samples beside their nearest training image)."""
    from gankit.evaluate.metrics import METRICS
    from gankit.evaluate.score import score_generator
    from gankit.loading import load_run

    panels: dict[str, Panel] = {}
    closest: dict[str, Panel] = {}  # memorisation: each variant's samples nearest a training image
    for contender in contenders:
        for run_dir in contender.run_dirs:
            if console is not None:
                console.print(f"scoring {run_dir} on {reference.n:,} images ...")
            loaded = load_run(run_dir, host=host, device=device, ema=options.ema)
            if loaded.dataset != dataset_name:
                raise CheckpointError(f"'{run_dir}' holds a '{loaded.dataset}' model, not '{dataset_name}'.")
            if contender.label not in panels:  # the first seed is pictured
                panels[contender.label] = panel_of(loaded.generator, NOISE_SEED)
            scores = score_generator(loaded.generator, evaluator, reference, NOISE_SEED)
            if contender.label not in closest and "closest" in scores:
                closest[contender.label] = Panel(
                    reference.closest_pairs(loaded.generator, scores["closest"], NOISE_SEED), 2, False)
            config = runs.read_run_config(run_dir)
            contender.results.append({
                "run_dir": str(run_dir), "seed": config["seed"], "epochs": loaded.epoch,
                "train_images": config["dataset"]["num_images"], **timing(run_dir),
                "scores": {key: scores[key] for key in METRICS if key in scores},
                "memorised": scores.get("memorised"),
            })
    return panels, closest


def _results(contenders: list[Contender], options: CompareOptions, dataset_name: str, evaluator: Any,
             reference: Any) -> dict[str, Any]:
    """What results.json holds: the settings, the floor, each variant's scores and the ranking."""
    from gankit.evaluate.metrics import METRICS

    floor = reference.floor()
    results = {
        "gankit_version": runs.versions()["gankit"], "created": time.strftime("%Y-%m-%d %H:%M:%S"),
        "dataset": dataset_name, "data_options": options.data_options, "n": reference.n,
        "noise_seed": NOISE_SEED, "seeds": options.seeds,
        "budget": ({"budget_seconds": options.budget_seconds} if options.budget_seconds is not None
                   else {"epochs": options.epochs or DEFAULT_EPOCHS}),
        "real": reference.record(), "evaluator": evaluator.record(),
        "num_classes": evaluator.meta.get("num_classes"),
        "floor": {key: floor[key] for key in METRICS if key in floor},
        "variants": [_contender_record(c) for c in contenders],
        "notes": _fairness_notes(contenders),
    }
    results["ranking"] = {"by": "fid", "order": [v["name"] for v in sorted(
        results["variants"], key=lambda v: v["mean"]["fid"])]}
    return results


def panel_of(generator: Any, seed: int) -> Panel:
    """The grid a variant shows: 10x10 samples, or one row of 10 per class if conditional."""
    from gankit.evaluate.score import generate
    from gankit.noise import fixed_noise

    rows = generator.num_classes or UNCONDITIONAL_ROWS
    labels = [row for row in range(rows) for _ in range(PANEL_COLUMNS)] if generator.num_classes else None
    z, label_tensor = fixed_noise(generator, rows * PANEL_COLUMNS, seed=seed, labels=labels)
    return Panel(generate(generator, z, label_tensor), rows, bool(generator.num_classes))


def _contender_record(contender: Contender) -> dict[str, Any]:
    from gankit.evaluate.metrics import METRICS

    scores = [r["scores"] for r in contender.results]
    summary = {key: summarise([s[key] for s in scores]) for key in METRICS if key in scores[0]}
    record: dict[str, Any] = {
        "name": contender.label, "variant": contender.variant,
        "source": "trained" if contender.trained else "loaded",
        "conditional": "label_accuracy" in scores[0],
        "epochs": [r["epochs"] for r in contender.results],
        "mean": {key: value["mean"] for key, value in summary.items()},
        "std": {key: value["std"] for key, value in summary.items()},
        "runs": contender.results,
    }
    for key in ("seconds_per_epoch", "images_per_s"):
        values = [r[key] for r in contender.results if r[key] is not None]
        record[key] = summarise(values) if values else None
    return record


def _fairness_notes(contenders: list[Contender]) -> list[str]:
    """Say where loaded runs make the comparison less than like for like."""
    notes = []
    loaded = [c for c in contenders if not c.trained]
    if loaded:
        described = ", ".join(f"{c.label} ({c.results[0]['epochs']} epochs on "
                              f"{c.results[0]['train_images']:,} images, seed {c.results[0]['seed']})"
                              for c in loaded)
        notes.append(f"Loaded runs keep their own training budget: {described}.")
    return notes
