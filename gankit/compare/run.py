"""``gankit compare``: variants side by side, fair by construction.

Variant names are trained now, each with the same data, the same seeds 0..K-1 and the same budget
(``epochs``, or ``g_steps`` or ``budget_seconds`` turned into whole epochs from each variant's first
epoch); run folders are loaded as they are. Every run is then sampled from noise of the same seed
(the same z for variants of equal z width; and, if conditional, the same labels) and scored by the
same evaluator against the same real images at the same n, next to the real-vs-real floor, with
what each variant was trained with (its recipe) and given (epochs, G's updates, images seen). The
outputs go to one folder: ``side_by_side.png``, ``losses.png``, ``report.md``, ``report.html``
(self-contained) and ``results.json`` (see :mod:`gankit.compare.report`); the terminal gets Rich tables.
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
    for seed in range(options.seeds) if seeds is None else seeds:
        run_dir = out / RUNS_DIR / f"{contender.variant.replace(':', '-')}-seed{seed}"  # PLUGIN:NAME too
        run_options = run_options_for(options, dataset, seed, run_dir)
        run_options.resume = continues_earlier_run(run_dir, contender.variant, seed, dataset, host)
        if console is not None:
            console.rule(f"{contender.variant}, seed {seed}")
        train_to_budget(contender, run_options, options, host, console)
        contender.run_dirs.append(run_dir)
        contender.seeds.append(seed)


def continues_earlier_run(run_dir: Path, variant: str, seed: int, dataset: str, host: PluginHost) -> bool:
    """Whether ``run_dir`` holds this run as an interrupted or killed comparison left it, to be
    continued from its checkpoint (True; a finished one trains no further), or started again when
    none was written. The same command thus goes on where a stopped comparison stopped; a folder
    of another variant, seed or dataset (or no run at all) is refused in one line."""
    if not run_dir.exists() or all(entry.name == runs.LOCK_FILE for entry in run_dir.iterdir()):
        return False  # new, or a start killed before it wrote anything but its lock
    ours = (run_dir / runs.CONFIG_FILE).is_file() and runs.read_run_config(run_dir)
    if not ours or (ours["variant"], ours["seed"], ours["dataset"]["name"]) != (
            host.variants.get(variant).name, seed, host.datasets.get(dataset).name):
        raise GankitError(f"'{run_dir}' already exists and holds another run than {variant} seed {seed} on "
                          f"{dataset}. Use another --out, or pass that run folder to compare it as it is.")
    return runs.checkpoint_path(run_dir).is_file()


def run_options_for(options: CompareOptions, dataset: str, seed: int, run_dir: Path) -> Any:
    """The engine's options for one run of a comparison: what every run shares, and its seed."""
    from gankit.train import RunOptions

    return RunOptions(dataset=dataset, data_root=options.data_root, download=options.download, seed=seed,
                      device=options.device, out=run_dir, progress=options.progress,
                      max_images=options.max_images, data_options=dict(options.data_options))


def train_to_budget(contender: Contender, run_options: Any, options: CompareOptions, host: PluginHost,
                    console: Any) -> None:
    """Train one run of ``contender`` for the epochs every run of it gets. Under ``--g-steps`` or
    ``--budget-seconds`` the first run judges them from its first epoch (then continues with
    ``--resume``, bit for bit). ``run_options.resume`` continues a run a kill cut short (gankit
    zoo): its first epoch, if logged, is not trained again."""
    from gankit.train import train

    if contender.epochs is None and (options.budget_seconds is not None or options.g_steps is not None):
        # Judge the variant on the first seed's first epoch, then give every seed the same epochs.
        first_epoch = first_epoch_record(run_options.out) if run_options.resume else None
        if first_epoch is None:
            first = train(contender.variant, {"epochs": 1}, run_options, host=host, console=console)
            if not first.epoch_metrics:  # a resumed run whose first epoch ended but was never logged
                raise GankitError(f"'{run_options.out}' has a checkpoint but no logged epoch; remove the "
                                  "folder to train that run again.")
            first_epoch = first.epoch_metrics[0]
        contender.epochs = epochs_for_budget(contender.variant, first_epoch, options, console)
        if contender.epochs > 1:
            run_options.resume = True
            train(contender.variant, {"epochs": contender.epochs}, run_options, host=host,
                  console=console)
    else:
        contender.epochs = contender.epochs or options.epochs or DEFAULT_EPOCHS
        train(contender.variant, {"epochs": contender.epochs}, run_options, host=host,
              console=console)


def first_epoch_record(run_dir: Path) -> dict[str, Any] | None:
    """The first epoch's line of a run's ``metrics.jsonl`` (None before one was logged)."""
    return next((r for r in runs.read_metrics(run_dir) if r.get("event") == "epoch"), None)


def epochs_for_budget(variant: str, first_epoch: dict[str, Any], options: CompareOptions,
                      console: Any) -> int:
    """The whole epochs that spend ``--budget-seconds`` or ``--g-steps``, from the first epoch's
    line (its seconds, and its ``step``: the generator updates one epoch gives this variant)."""
    if options.g_steps is not None:
        per_epoch = max(1, int(first_epoch["step"]))
        epochs = max(1, round(options.g_steps / per_epoch))
        text = (f"{per_epoch} generator updates per epoch -> {epochs} epoch{'s' if epochs != 1 else ''} "
                f"({epochs * per_epoch} updates for --g-steps {options.g_steps})")
    else:
        seconds = first_epoch["seconds"]
        epochs = max(1, math.floor(options.budget_seconds / seconds))
        text = (f"{seconds:.2f}s per epoch -> {epochs} epoch{'s' if epochs != 1 else ''} in "
                f"{options.budget_seconds:g}s")
    if console is not None:
        console.print(f"{variant}: {text}")
    return epochs


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
    # The reference's notices are not printed here: the summary under the table states them once.
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
    panels: dict[str, Panel] = {}
    closest: dict[str, Panel] = {}  # memorisation: each variant's samples nearest a training image
    for contender in contenders:
        for run_dir in contender.run_dirs:
            if console is not None:
                console.print(f"scoring {run_dir} on {reference.n:,} images ...")
            record, loaded, scores = score_run(run_dir, options, dataset_name, evaluator, reference,
                                               device, host)
            if contender.label not in panels:  # the first seed is pictured
                panels[contender.label] = panel_of(loaded.generator, NOISE_SEED)
            if contender.label not in closest and "closest" in scores:
                closest[contender.label] = Panel(
                    reference.closest_pairs(loaded.generator, scores["closest"], NOISE_SEED), 2, False)
            contender.results.append(record)
    return panels, closest


def score_run(run_dir: Path, options: CompareOptions, dataset_name: str, evaluator: Any, reference: Any,
              device: Any, host: PluginHost) -> tuple[dict[str, Any], Any, dict[str, Any]]:
    """Load one run and score it from the shared noise; returns its record (what results.json
    keeps of a run), the loaded run (for its panel) and every score (memorisation's pairs too)."""
    from gankit.evaluate.metrics import METRICS
    from gankit.evaluate.score import score_generator
    from gankit.loading import load_run

    loaded = load_run(run_dir, host=host, device=device, ema=options.ema)
    if loaded.dataset != dataset_name:
        raise CheckpointError(f"'{run_dir}' holds a '{loaded.dataset}' model, not '{dataset_name}'.")
    scores = score_generator(loaded.generator, evaluator, reference, NOISE_SEED)
    config = runs.read_run_config(run_dir)
    batch = int(config["config"].get("batch_size") or 1)
    record = {
        "run_dir": str(run_dir), "seed": config["seed"], "epochs": loaded.epoch,
        "g_steps": loaded.step, "recipe": recipe_of(loaded, config),
        # the real images D saw: whole batches of the run's data, every epoch
        "images_seen": loaded.epoch * (config["dataset"]["num_images"] // batch) * batch,
        "train_images": config["dataset"]["num_images"], **timing(run_dir),
        "scores": {key: scores[key] for key in METRICS if key in scores},
        "memorised": scores.get("memorised"),
    }
    return record, loaded, scores


def _results(contenders: list[Contender], options: CompareOptions, dataset_name: str, evaluator: Any,
             reference: Any) -> dict[str, Any]:
    """What results.json holds: the settings, the floor, each variant's scores and the ranking."""
    from gankit.evaluate.metrics import METRICS

    floor = reference.floor()
    results = {
        "gankit_version": runs.versions()["gankit"], "created": time.strftime("%Y-%m-%d %H:%M:%S"),
        "dataset": dataset_name, "data_options": options.data_options, "n": reference.n,
        "noise_seed": NOISE_SEED, "seeds": options.seeds,
        "budget": budget_of(options),
        "real": reference.record(), "evaluator": evaluator.record(),
        "num_classes": evaluator.meta.get("num_classes"),
        "floor": {key: floor[key] for key in METRICS if key in floor},
        "variants": [contender_record(c) for c in contenders],
        "notes": _fairness_notes(contenders, options),
    }
    results["ranking"] = {"by": "fid", "order": [v["name"] for v in sorted(
        results["variants"], key=lambda v: v["mean"]["fid"])]}
    return results


def budget_of(options: CompareOptions) -> dict[str, Any]:
    """The budget as results.json (and zoo.json) record it: the one option that set it."""
    if options.budget_seconds is not None:
        return {"budget_seconds": options.budget_seconds}
    if options.g_steps is not None:
        return {"g_steps": options.g_steps}
    return {"epochs": options.epochs or DEFAULT_EPOCHS}


def panel_of(generator: Any, seed: int) -> Panel:
    """The grid a variant shows: 10x10 samples, or one row of 10 per class if conditional."""
    from gankit.evaluate.score import generate
    from gankit.noise import fixed_noise

    rows = generator.num_classes or UNCONDITIONAL_ROWS
    labels = [row for row in range(rows) for _ in range(PANEL_COLUMNS)] if generator.num_classes else None
    z, label_tensor = fixed_noise(generator, rows * PANEL_COLUMNS, seed=seed, labels=labels)
    return Panel(generate(generator, z, label_tensor), rows, bool(generator.num_classes))


def recipe_of(loaded: Any, config: dict[str, Any]) -> dict[str, Any]:
    """What a run was trained with, as compare's recipe table shows it."""
    from gankit.nn import count_parameters

    fields = config["config"]
    lr = fields.get("lr")
    return {
        "loss": fields.get("loss"), "optimizer": fields.get("optimizer", "adam"),
        "g_lr": fields.get("g_lr") or lr, "d_lr": fields.get("d_lr") or lr,
        "betas": [fields.get("beta1"), fields.get("beta2")], "batch_size": fields.get("batch_size"),
        "n_critic": fields.get("n_critic", 1), "latent_dim": loaded.generator.latent_dim,
        "ema": fields.get("ema") or 0.0, "precision": config.get("precision", "fp32"),
        "g_params": count_parameters(loaded.generator), "d_params": count_parameters(loaded.discriminator),
    }


def contender_record(contender: Contender) -> dict[str, Any]:
    """A variant's entry in results.json: its runs, and their mean and std over the seeds."""
    from gankit.evaluate.metrics import METRICS

    scores = [r["scores"] for r in contender.results]
    summary = {key: summarise([s[key] for s in scores]) for key in METRICS if key in scores[0]}
    record: dict[str, Any] = {
        "name": contender.label, "variant": contender.variant,
        "source": "trained" if contender.trained else "loaded",
        "conditional": "label_accuracy" in scores[0],
        "epochs": [r["epochs"] for r in contender.results],
        "g_steps": [r["g_steps"] for r in contender.results],
        "images_seen": [r["images_seen"] for r in contender.results],
        "recipe": contender.results[0]["recipe"],  # every seed shares it
        "mean": {key: value["mean"] for key, value in summary.items()},
        "std": {key: value["std"] for key, value in summary.items()},
        "runs": contender.results,
    }
    for key in ("seconds_per_epoch", "images_per_s"):
        values = [r[key] for r in contender.results if r[key] is not None]
        record[key] = summarise(values) if values else None
    return record


def _fairness_notes(contenders: list[Contender], options: CompareOptions) -> list[str]:
    """Say where the comparison is less than like for like: loaded runs keep their own budget, and
    variants trained for the same epochs may have had different numbers of G's updates."""
    notes = []
    loaded = [c for c in contenders if not c.trained]
    if loaded:
        described = ", ".join(f"{c.label} ({c.results[0]['epochs']} epochs on "
                              f"{c.results[0]['train_images']:,} images, seed {c.results[0]['seed']})"
                              for c in loaded)
        notes.append(f"Loaded runs keep their own training budget: {described}.")
    updates = {c.label: sorted({r["g_steps"] for r in c.results}) for c in contenders}
    if len({tuple(counts) for counts in updates.values()}) > 1:
        described = ", ".join(f"{label} {', '.join(f'{n:,}' for n in counts)}"
                              for label, counts in updates.items())
        if options.g_steps is None:
            notes.append(f"The generators had different numbers of updates ({described}): a variant "
                         "with several D steps per G step, or smaller batches, updates G a different "
                         "number of times per epoch. `--g-steps N` trains each variant for the whole "
                         "epochs nearest to N updates.")
        else:
            per_epoch = ", ".join(f"{c.label} {c.results[0]['g_steps'] // max(1, c.results[0]['epochs']):,}"
                                  for c in contenders)
            notes.append(f"--g-steps {options.g_steps:,} in whole epochs gave {described} updates; a "
                         f"multiple of every variant's updates per epoch ({per_epoch}) matches them "
                         "exactly.")
    return notes
