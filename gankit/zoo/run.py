"""``gankit zoo``: train every variant (or those named) on one dataset, at one budget, for N seeds,
and score each run from the same noise: the leaderboard.

Each run is trained and scored by compare's own machinery (:func:`gankit.compare.run.train_to_budget`,
:func:`~gankit.compare.run.score_run`): the same G-update budget in whole epochs, the same seeds,
the same noise for variants of the same z width, one evaluator and real reference for all. The
table is saved after every run scored, so a killed zoo loses at most the run it was in (whose
folder resumes from its checkpoint), and a later ``gankit zoo NEW --out DIR`` trains only what
the table lacks. A variant that cannot run on the dataset is listed with its one-line reason.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import gankit.runs as runs
from gankit.compare.entries import CompareOptions, Contender
from gankit.compare.run import NOISE_SEED, panel_of, run_options_for, score_run, train_to_budget
from gankit.errors import ConfigError, GankitError
from gankit.host import PluginHost, get_host
from gankit.zoo.plan import (Table, ZooOptions, compare_options, default_out, load_table, missing_seeds,
                             read_table, requested_variants, resolve_protocol, run_folder)
from gankit.zoo.table import GRIDS_DIR, print_table, results_of, write_table


@dataclass
class Scorer:
    """The yardstick every run of the table is scored with, built once per command."""

    evaluator: Any
    reference: Any
    device: Any


def run_zoo(names: list[str], options: ZooOptions, *, host: PluginHost | None = None,
            console: Any = None) -> dict[str, Any]:
    """Train and score what the table in ``options.out`` lacks of ``names`` (none: every
    registered variant), then write the table; returns what zoo.json holds."""
    host = host or get_host()
    if options.threads is not None and options.threads < 1:
        raise ConfigError(f"--threads must be at least 1, got {options.threads}.")
    out = Path(options.out) if options.out else default_out(options)
    stored = read_table(out)
    protocol = resolve_protocol(options, stored, out)
    compared = compare_options(protocol, options, host)
    wanted = requested_variants(names, host)
    table = load_table(out, protocol, stored)
    todo = [label for label in wanted if missing_seeds(table, label)]
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    with runs.holding_locks(), torch_threads(options.threads):
        runs.lock_run_dir(out, remove_dir=created)  # one zoo writes a table at a time
        if todo:
            scorer = build_scorer(table, compared, options, host)
            for label in todo:
                run_variant(table, label, compared, scorer, host, console)
        elif console is not None:
            console.print(f"Every run asked for is in {out / 'zoo.json'} already; nothing to train.")
        results = results_of(table)
        write_table(results, out)
    if console is not None:
        print_table(results, console)
        console.print(f"[green]Wrote[/] {out}/zoo.md, zoo.html, zoo.json and {GRIDS_DIR}/")
    return results


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """``--threads N`` for the command's length (a shared machine), then torch's own count again."""
    if threads is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def build_scorer(table: Table, compared: CompareOptions, options: ZooOptions, host: PluginHost) -> Scorer:
    """The evaluator (or InceptionV3, in fp32) and the real reference; for an existing table, the
    same ones it was scored with, or a one-line refusal before anything is trained."""
    from gankit.device import resolve_device
    from gankit.evaluate.metrics import METRICS
    from gankit.evaluate.reference import build_reference
    from gankit.evaluate.score import protocol

    device = resolve_device(options.device)
    dataset = table.protocol["dataset"]
    if table.protocol["features"] == "inception":
        from gankit.evaluate.inception import load_inception

        evaluator = load_inception(options.inception_weights, device=device)
    else:
        from gankit.evaluate.evaluator import load_evaluator

        evaluator = load_evaluator(dataset, options.evaluator_path, device=device)
    reference = build_reference(host.datasets.get(dataset), evaluator, compared.n,
                                data_root=compared.data_root, download=compared.download, seed=NOISE_SEED,
                                options=compared.data_options, cache=compared.cache)
    scoring = protocol(evaluator, reference, NOISE_SEED)  # what every number depends on
    _same_as_table(table, scoring)
    floor = reference.floor()
    table.scored_against = {
        "gankit_version": runs.versions()["gankit"], "n": reference.n, "noise_seed": NOISE_SEED,
        "real": reference.record(), "evaluator": evaluator.record(),
        "num_classes": evaluator.meta.get("num_classes"), "scoring": scoring,
        "floor": {key: floor[key] for key in METRICS if key in floor}}
    return Scorer(evaluator, reference, device)


SCORING_KEYS = ("features", "network", "sha256", "feature_precision", "n_fake", "n_real", "real_split")


def _same_as_table(table: Table, scoring: dict[str, Any]) -> None:
    """Refuse, in one line, a yardstick other than the table's: another evaluator file, other real
    images (a data root that now holds the full set), another n."""
    stored = (table.stored or {}).get("scoring")
    differ = [key for key in SCORING_KEYS if stored is not None and stored.get(key) != scoring.get(key)]
    if differ:
        key = differ[0]
        raise GankitError(f"'{table.out / 'zoo.json'}' was scored with {key} {stored.get(key)}, not "
                          f"{scoring.get(key)}: every row of a table is scored alike. To add to it, use "
                          "the table's --evaluator (or --inception-weights) and --data-root; or pass "
                          "another --out for a new table.")


def run_variant(table: Table, label: str, compared: CompareOptions, scorer: Scorer, host: PluginHost,
                console: Any) -> None:
    """Train and score ``label``'s missing seeds, saving the table after each; a variant that
    cannot run (on this dataset, or its plugin fails) is listed with the reason instead."""
    entry = table.entries.get(label) or Contender(label, label, True)  # the label reaches its variant
    for seed in missing_seeds(table, label):
        run_dir = run_folder(table.out, label, seed)
        if console is not None:
            console.rule(f"{label}, seed {seed}")
        try:
            record, loaded = train_and_score(entry, seed, run_dir, compared, scorer, host, console)
        except Exception as error:  # noqa: BLE001 - what is not a user's or a plugin's error is raised
            reason = (f"seed {seed}: " if entry.results else "") + why_not_run(error, host)
            table.skipped[label] = {"variant": host.variants.qualified(label), "reason": reason}
            if console is not None:
                console.print(f"[yellow]{label} could not run:[/] {reason}")
            write_table(results_of(table), table.out)
            return
        if not entry.results:  # the first seed's grid is the variant's picture
            from gankit.compare.figures import save_side_by_side

            (table.out / GRIDS_DIR).mkdir(exist_ok=True)
            save_side_by_side({label: panel_of(loaded.generator, NOISE_SEED)},
                              table.out / GRIDS_DIR / f"{label.replace(':', '-')}.png")
        record["run_dir"] = run_dir.relative_to(table.out).as_posix()  # a table folder moves whole
        entry.results.append(record)
        entry.run_dirs.append(run_dir)
        entry.seeds.append(seed)
        table.entries[label] = entry
        table.skipped.pop(label, None)
        write_table(results_of(table), table.out)


def train_and_score(entry: Contender, seed: int, run_dir: Path, compared: CompareOptions, scorer: Scorer,
                    host: PluginHost, console: Any) -> tuple[dict[str, Any], Any]:
    """One run: trained to the budget (continued where a kill left it), then scored; its record
    adds the time its epochs took and the machine that took it."""
    run_options = run_options_for(compared, str(compared.dataset), seed, run_dir)
    resumed = run_options.resume = runs.checkpoint_path(run_dir).is_file()  # a kill cut it short
    started = time.perf_counter()
    train_to_budget(entry, run_options, compared, host, console)
    wall = time.perf_counter() - started
    record, loaded, _ = score_run(run_dir, compared, str(compared.dataset), scorer.evaluator,
                                  scorer.reference, scorer.device, host)
    epochs = [r for r in runs.read_metrics(run_dir) if r.get("event") == "epoch"]
    # wall_seconds: this command's training of the run (None for a run resumed after a kill)
    record.update(train_seconds=sum(r["seconds"] for r in epochs),
                  wall_seconds=None if resumed else round(wall, 3), host=host_record(scorer.device))
    return record, loaded


def host_record(device: Any) -> dict[str, Any]:
    """Where a run was timed: the CPU, torch's threads, the device (and GPU), the versions."""
    import torch

    versions = runs.versions()
    record = {"cpu": runs.cpu_record(), "threads": torch.get_num_threads(), "device": str(device),
              "torch": versions.get("torch"), "gankit": versions["gankit"], "python": versions["python"]}
    if getattr(device, "type", None) == "cuda":
        record["gpu"] = torch.cuda.get_device_name(device)
    return record


def why_not_run(error: Exception, host: PluginHost) -> str:
    """The one line a variant that could not run is listed with: a :class:`GankitError`'s message,
    or a plugin's failure naming it; anything else (gankit's own bug, Ctrl-C) is raised."""
    from gankit.train import Interrupted

    if isinstance(error, Interrupted):
        raise error
    if isinstance(error, GankitError):
        return str(error)
    fault = host.plugin_at_fault(error)
    if fault is None:
        raise error
    plugin, where = fault
    first = (str(error).strip().splitlines() or [""])[0]
    return f"plugin '{plugin}' failed: {type(error).__name__}: {first} (at {where})".replace(": )", ")")
