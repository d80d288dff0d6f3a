"""What ``gankit compare`` is asked: its options, the entries (variants to train, run folders to
load) and the checks that they can be compared (one dataset, the same dataset options)."""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gankit.runs as runs
from gankit.errors import ConfigError, GankitError, RegistryError
from gankit.host import PluginHost

DEFAULT_EPOCHS = 5
DEFAULT_DATASET = "mnist"


@dataclass
class CompareOptions:
    epochs: int | None = None  # None: DEFAULT_EPOCHS, unless budget_seconds or g_steps is set
    g_steps: int | None = None  # generator updates per run, rounded to each variant's whole epochs
    budget_seconds: float | None = None
    seeds: int = 1
    n: int = 10_000
    dataset: str | None = None  # None: the loaded runs' dataset, else DEFAULT_DATASET
    out: Path | None = None
    data_root: Path | None = None
    download: bool = False
    device: str = "auto"
    max_images: int | None = None
    evaluator_path: Path | None = None
    progress: bool = True
    cache: bool = True  # reuse the real sets' features and floor (gankit/evaluate/cache.py)
    jobs: int = 1  # runs trained at once, each in its own process (gankit/compare/parallel.py)
    ema: bool = True  # score each run's averaged G when it kept one (False: the raw weights)
    # The dataset's own options (--data-option), for the runs trained and the real images scored;
    # empty: the loaded runs' own (a folder's path, say), else none.
    data_options: dict[str, str] = field(default_factory=dict)


@dataclass
class Contender:
    """One column of the comparison: a variant trained now, or a loaded run."""

    label: str
    variant: str
    trained: bool
    run_dirs: list[Path] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)
    epochs: int | None = None  # per run, when trained now
    results: list[dict[str, Any]] = field(default_factory=list)  # one per run


def resolve_entries(entries: list[str], host: PluginHost) -> list[Contender]:
    """Each entry: an existing run folder (loaded) or a registered variant (trained)."""
    if not entries:
        raise GankitError("Name at least one variant or run folder to compare.")
    contenders: list[Contender] = []
    for entry in entries:
        path = Path(entry)
        if path.is_dir() and ((path / runs.CONFIG_FILE).is_file() or entry not in host.variants):
            config = runs.read_run_config(path)  # a folder that is not a run: a one-line error
            pins, strict = runs.recorded_names(config)  # its plugin must be installed to rebuild it
            host.variants.get(config["variant"], pinned=pins.get("variant"), strict=strict)
            check_run_files(path, config)
            label = path.name
            contenders.append(Contender(label, config["variant"], False, [path], [config["seed"]]))
        elif entry in host.variants:
            host.variants.get(entry)  # a name two plugins share: one line naming both choices
            contenders.append(Contender(entry, entry, True))
        elif path.exists() or "/" in entry or os.sep in entry:  # meant as a path, not a variant
            missing = " (it does not exist)" if not path.exists() else ""
            raise GankitError(f"'{entry}' is not a run folder{missing}"
                              "; pass a run folder gankit trained, or a variant name.")
        else:
            raise RegistryError(f"{host.variants.unknown_message(entry)}. Or pass an existing run folder.")
    folders = [c.run_dirs[0].resolve() for c in contenders if not c.trained]
    same = next((f for f in folders if folders.count(f) > 1), None)
    if same is not None:  # 'runs/base1' and './runs/base1' are one run, not two contenders
        raise GankitError(f"Run folder '{same}' is named twice; name each variant or run folder once.")
    for contender in contenders:  # two run folders of the same name: tell them apart by path
        if not contender.trained and [c.label for c in contenders].count(contender.label) > 1:
            contender.label = str(contender.run_dirs[0])
    labels = [c.label for c in contenders]
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise GankitError(f"'{repeated[0]}' is named twice; name each variant or run folder once.")
    return contenders


def check_run_files(run_dir: Path, config: dict[str, Any]) -> None:
    """A loaded run's checkpoint must be the run its config.json describes: compare scores the
    checkpoint's weights but labels and describes them from config.json (recipe, seed, budget), so
    a checkpoint of another variant copied in would be reported under the wrong name. Refused in
    one line, before anything is trained, as ``train --resume`` refuses it; a folder without a
    checkpoint is refused here too, not after the other entries have trained."""
    from gankit.checkpoint import load_checkpoint

    state = load_checkpoint(runs.resolve_checkpoint(run_dir))
    runs.check_checkpoint_matches(state, config, run_dir, action="compare")


def check_options(options: CompareOptions, contenders: list[Contender],
                  host: PluginHost) -> tuple[str, CompareOptions]:
    """Validate the options; returns the dataset everything is compared on, and the options with
    the dataset options every run shares."""
    given = [name for name, value in (("--epochs", options.epochs), ("--g-steps", options.g_steps),
                                      ("--budget-seconds", options.budget_seconds)) if value is not None]
    if len(given) > 1:
        raise ConfigError(f"Give one of --epochs, --g-steps and --budget-seconds, not {' and '.join(given)}: "
                          "the budget is one of them.")
    for name, value in (("--epochs", options.epochs), ("--g-steps", options.g_steps)):
        if value is not None and value < 1:
            raise ConfigError(f"{name} must be at least 1, got {value}.")
    if options.budget_seconds is not None and not options.budget_seconds > 0:
        raise ConfigError(f"--budget-seconds must be positive, got {options.budget_seconds}.")
    if options.seeds < 1:
        raise ConfigError(f"--seeds must be at least 1, got {options.seeds}.")
    from gankit.evaluate.reference import MIN_N

    if options.n < MIN_N:
        raise ConfigError(f"--n must be at least {MIN_N}, got {options.n}.")
    loaded = {str(c.run_dirs[0]): runs.read_run_config(c.run_dirs[0])["dataset"]
              for c in contenders if not c.trained}
    dataset = options.dataset or next((record["name"] for record in loaded.values()), DEFAULT_DATASET)
    spec = host.datasets.get(dataset)
    unknown = sorted(set(options.data_options) - set(spec.options))
    if unknown:
        raise ConfigError(f"Dataset '{dataset}' has no option '{unknown[0]}' (its options: "
                          f"{', '.join(spec.options) or 'none'}).")
    # The options given, else the first loaded run's: every loaded run must have trained with them.
    first = next(iter(loaded.values()), {})
    data_options = dict(options.data_options or first.get("options") or {})
    for run_dir, record in loaded.items():
        if record["name"] != dataset:
            raise GankitError(f"Run '{run_dir}' was trained on '{record['name']}', not '{dataset}'; compare "
                              "runs of one dataset (or set --dataset to theirs).")
        theirs = dict(record.get("options") or {})
        if theirs != data_options:
            raise GankitError(f"Run '{run_dir}' was trained with the dataset options {theirs or 'none'}, "
                              f"not {data_options or 'none'}; compare runs of the same data "
                              "(or pass --data-option to match theirs).")
    return dataset, dataclasses.replace(options, data_options=data_options)


def default_out(contenders: list[Contender]) -> Path:
    names = "-".join(c.label for c in contenders)[:60]
    return Path("comparisons") / f"{names}-{time.strftime('%Y%m%d-%H%M%S')}"
