"""What ``gankit zoo`` is asked, and what of it is already done.

A table folder holds one protocol (dataset, budget, seeds, n, features, ...) in ``zoo.json``, next to
every run scored under it. Options left out on the command line take the table's values, so
``gankit zoo NEW --out DIR`` adds a variant under the table's own protocol; an option given with
another value is refused in one line, before anything in the folder is touched. The table's runs
are read back as compare's :class:`~gankit.compare.entries.Contender` objects, so a variant's
stored seeds are never trained again and the seeds still missing are all that is left to do.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gankit.compare.entries import CompareOptions, Contender, check_options
from gankit.errors import ConfigError, GankitError
from gankit.host import PluginHost

ZOO_FILE = "zoo.json"
FORMAT = 1  # zoo.json's layout; a later gankit reads older ones or says why not
DEFAULT_DATASET = "mnist"
DEFAULT_SEEDS = 3
DEFAULT_G_STEPS = 1000
DEFAULT_N = 10_000
FEATURES = ("evaluator", "inception")
SCORED_AGAINST = ("gankit_version", "n", "noise_seed", "real", "evaluator", "num_classes", "scoring", "floor")


@dataclass
class ZooOptions:
    """``gankit zoo``'s options. The protocol's fields are ``None`` when not given: an existing
    table's value then, else the default."""

    dataset: str | None = None
    seeds: int | None = None
    g_steps: int | None = None  # generator updates per run, as compare's --g-steps (the default budget)
    epochs: int | None = None  # or the same epochs for every variant
    n: int | None = None
    max_images: int | None = None
    features: str | None = None  # evaluator | inception
    ema: bool | None = None
    data_options: dict[str, str] | None = None
    out: Path | None = None
    data_root: Path | None = None
    download: bool = False
    device: str = "auto"
    threads: int | None = None  # torch's threads for the whole command (None: torch's default)
    evaluator_path: Path | None = None
    inception_weights: Path | None = None
    progress: bool = True
    cache: bool = True


# The protocol: what every number in a table depends on. key -> (the option that sets it, default)
PROTOCOL = {
    "dataset": ("--dataset", DEFAULT_DATASET),
    "data_options": ("--data-option", {}),
    "max_images": ("--max-images", None),
    "budget": ("--g-steps/--epochs", {"g_steps": DEFAULT_G_STEPS}),
    "seeds": ("--seeds", DEFAULT_SEEDS),
    "n": ("--n", DEFAULT_N),
    "features": ("--features", "evaluator"),
    "ema": ("--ema/--no-ema", True),
}


@dataclass
class Table:
    """A table folder's state: its protocol, what it was scored against, and its variants' runs."""

    out: Path
    protocol: dict[str, Any]
    stored: dict[str, Any] | None = None  # zoo.json as read (None: a new table)
    entries: dict[str, Contender] = field(default_factory=dict)  # label -> its scored runs
    skipped: dict[str, dict[str, str]] = field(default_factory=dict)  # label -> variant, reason
    # What the runs were scored against: real, evaluator, floor, num_classes, n, noise_seed, versions
    scored_against: dict[str, Any] = field(default_factory=dict)
    created: str = field(default_factory=lambda: time.strftime("%Y-%m-%d %H:%M:%S"))  # the table's first run


def default_out(options: ZooOptions) -> Path:
    return Path("zoo") / (options.dataset or DEFAULT_DATASET)


def read_table(out: Path) -> dict[str, Any] | None:
    """``out/zoo.json``, or None where there is none yet."""
    path = Path(out) / ZOO_FILE
    if not path.is_file():
        return None
    try:
        stored = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise GankitError(f"'{path}' is not valid JSON ({error}); restore it, or pass another --out "
                          "for a new table.") from None
    if not isinstance(stored, dict) or stored.get("format") != FORMAT or "protocol" not in stored:
        raise GankitError(f"'{path}' is not a gankit zoo table (format {FORMAT}); pass another --out "
                          "for a new table.")
    return stored


def resolve_protocol(options: ZooOptions, stored: dict[str, Any] | None, out: Path) -> dict[str, Any]:
    """The protocol: each value given, else the table's, else the default; a value given that
    differs from the table's is refused (a table compares like with like)."""
    if options.epochs is not None and options.g_steps is not None:
        raise ConfigError("Give one of --g-steps and --epochs, not both: the budget is one of them.")
    given = {"dataset": options.dataset, "data_options": options.data_options or None,
             "max_images": options.max_images, "seeds": options.seeds, "n": options.n,
             "features": options.features, "ema": options.ema,
             "budget": {"g_steps": options.g_steps} if options.g_steps is not None
             else {"epochs": options.epochs} if options.epochs is not None else None}
    protocol = {}
    for key, (option, default) in PROTOCOL.items():
        value = given[key]
        if stored is not None:
            theirs = stored["protocol"].get(key)
            if value is not None and value != theirs:
                raise GankitError(
                    f"'{Path(out) / ZOO_FILE}' holds a table measured with {option} {_shown(theirs)}, not "
                    f"{_shown(value)}: every row of a table shares one protocol. Drop {option} to add "
                    "to this table, or pass another --out for a new one.")
            value = theirs
        protocol[key] = default if value is None else value
    if protocol["features"] not in FEATURES:
        raise ConfigError(f"--features {protocol['features']}: expected evaluator or inception.")
    return protocol


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{key}={item}" for key, item in value.items()) or "none"
    return "unset" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def compare_options(protocol: dict[str, Any], options: ZooOptions, host: PluginHost) -> CompareOptions:
    """The protocol as compare's options, checked by compare's own checks (budget, seeds, n, the
    dataset and its options): the zoo trains and scores each run as ``gankit compare`` does."""
    if protocol["max_images"] is not None and protocol["max_images"] < 1:
        raise ConfigError(f"--max-images must be at least 1, got {protocol['max_images']}.")
    budget = protocol["budget"]
    compared = CompareOptions(
        epochs=budget.get("epochs"), g_steps=budget.get("g_steps"), seeds=protocol["seeds"],
        n=protocol["n"], dataset=protocol["dataset"], out=options.out, data_root=options.data_root,
        download=options.download, device=options.device, max_images=protocol["max_images"],
        evaluator_path=options.evaluator_path, progress=options.progress, cache=options.cache,
        ema=protocol["ema"], data_options=dict(protocol["data_options"]))
    return check_options(compared, [], host)[1]


def requested_variants(names: list[str], host: PluginHost) -> list[str]:
    """The variants asked for, each under the shortest name that reaches it (``PLUGIN:NAME`` where
    two plugins share a name), which is also its row's label; none named: every registered variant
    (built-in, in-tree plugins, installed and ``--plugins-dir`` ones)."""
    registry = host.variants
    if not names:
        return [registry.shown_name(r) for r in registry.registrations()]
    wanted: list[str] = []
    for name in names:
        label = registry.shown_name(registry.resolve(name))  # unknown: one line, a suggestion, the names
        if label in wanted:
            raise GankitError(f"'{name}' is named twice (as '{label}'); name each variant once.")
        wanted.append(label)
    return wanted


def load_table(out: Path, protocol: dict[str, Any], stored: dict[str, Any] | None) -> Table:
    """The table as stored: each variant's scored runs as a Contender (its run folders, seeds,
    epochs and results), so that nothing scored is trained or scored again."""
    table = Table(Path(out), protocol, stored)
    table.created = (stored or {}).get("created") or table.created
    for record in (stored or {}).get("variants", []):
        results = list(record.get("runs") or [])
        table.entries[record["name"]] = Contender(
            record["name"], record["variant"], True, [Path(out) / r["run_dir"] for r in results],
            [r["seed"] for r in results], results[0]["epochs"] if results else None, results)
    table.scored_against = {key: stored[key] for key in SCORED_AGAINST if stored and key in stored}
    table.skipped = {item["name"]: {"variant": item["variant"], "reason": item["reason"]}
                     for item in (stored or {}).get("skipped", [])}
    return table


def missing_seeds(table: Table, label: str) -> list[int]:
    """The seeds of ``label`` not scored yet, in order."""
    entry = table.entries.get(label)
    done = set(entry.seeds) if entry is not None else set()
    return [seed for seed in range(table.protocol["seeds"]) if seed not in done]


def run_folder(out: Path, label: str, seed: int) -> Path:
    """DIR/runs/VARIANT/seed-K: an ordinary gankit run folder (``PLUGIN:NAME`` as PLUGIN-NAME)."""
    from gankit.compare.run import RUNS_DIR

    return Path(out) / RUNS_DIR / label.replace(":", "-") / f"seed-{seed}"
