"""The ``list``, ``show`` and ``plugins`` commands: what the host has registered (as tables or
JSON), one variant in full (its config fields, losses and datasets), and every plugin found with its
state.

All stay torch-free; rich.table is imported only when tables are drawn.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Annotated, Any

import typer
from rich.console import Console

from gankit.cli.common import user_errors
from gankit.cli.context import command_host
from gankit.config import config_fields, describe_type, field_bounds, field_comments
from gankit.host import PluginHost


def add_commands(app: typer.Typer) -> None:
    """Add ``list``, ``show`` and ``plugins`` to ``app``."""
    app.command("list")(list_)
    app.command()(show)
    app.command()(plugins)


@user_errors
def list_(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """List variants, losses, datasets and their plugins.

    One line each: its name, a summary and the plugin it came from (a dataset also its options).
    """
    found = listing(command_host())
    if as_json:
        typer.echo(json.dumps(found, indent=2))
    else:
        print_tables(found)


def plugins() -> None:
    """Show every plugin found and its state, as JSON.

    The state is loaded, failed, disabled or incompatible; any mistakes found in a plugin (a
    misspelt hook, a hook without @hookimpl) are listed with it.
    """
    typer.echo(json.dumps(command_host().plugin_report(), indent=2))


def listing(host: PluginHost) -> dict[str, list[dict[str, Any]]]:
    """Each kind's registrations, one row each: name, qualified name, summary, what the kind adds
    (a variant's conditional and paper, a dataset's shape, classes and options), plugin."""

    def rows(registry: Any, describe: Any) -> list[dict[str, Any]]:
        # A name two plugins share is listed once per plugin, each as the name that reaches it.
        return [{"name": registry.shown_name(r), "qualified_name": r.qualified, "summary": r.spec.summary,
                 **describe(r.spec), "plugin": r.owner} for r in registry.registrations()]

    return {
        "variants": rows(host.variants, lambda s: {"conditional": s.conditional, "paper": s.paper}),
        "losses": rows(host.losses, lambda s: {}),
        "datasets": rows(host.datasets, lambda s: {
            "shape": list(s.image_shape) if s.image_shape else None, "classes": s.num_classes,
            "options": dict(s.options)}),
        "callbacks": rows(host.callbacks, lambda s: {}),
    }


def print_tables(found: dict[str, list[dict[str, Any]]]) -> None:
    """One table per kind that has registrations: name (conditional variants marked), summary
    (with a dataset's options), plugin."""
    from rich.table import Table  # here: importing it cost every `gankit --help` ~8 ms

    console = Console(highlight=False)
    for kind, rows in found.items():
        if not rows:
            continue
        table = Table(title=kind.capitalize(), title_justify="left", expand=False)
        columns = ("name", "summary", "paper", "plugin") if kind == "variants" else \
            ("name", "summary", "plugin")
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in rows:
            name = row["name"] + (" (conditional)" if row.get("conditional") else "")
            options = "; ".join(f"--data-option {k}=...: {v}" for k, v in (row.get("options") or {}).items())
            cells = [name, row["summary"] + (f" [{options}]" if options else "")]
            if kind == "variants":  # the whole citation: `gankit show NAME` and --json
                cells.append(short_citation(row.get("paper") or ""))
            table.add_row(*cells, row["plugin"])
        console.print(table)


def short_citation(paper: str) -> str:
    """"Radford, Metz & Chintala, Unsupervised ..., ICLR 2016" -> "Radford et al. 2016": the first
    author (both of two) and the year of the first work cited (a variant may cite more after ';')."""
    import re

    first = ""
    for part in paper.split(";"):  # the first work cited ends at the first ';' after its year
        first += (";" if first else "") + part
        if re.search(r"\b(?:19|20)\d\d\b", re.sub(r"arXiv:\S+", "", first)):
            break
    first = re.sub(r"\(?arXiv:\S+\)?", "", first).strip()
    if not first:
        return "-"
    parts = [part.strip() for part in first.split(",")]
    years = re.findall(r"\b(?:19|20)\d\d\b", first)
    lead = parts[0]
    if "et al" in lead:
        authors = lead.split(" et al")[0] + " et al."
    elif " & " in lead:
        authors = lead  # two authors: both
    elif len(parts) > 1 and (" & " in parts[1] or re.fullmatch(r"[A-Z][\w'-]+", parts[1])):
        authors = lead + " et al."  # "Radford, Metz & Chintala, ..."
    else:
        authors = lead
    return f"{authors} {years[-1] if years else ''}".strip()


@user_errors
def show(
    variant: Annotated[str, typer.Argument(
        metavar="VARIANT", help="A registered variant (`gankit list` shows them).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Show one variant: config fields, losses, datasets.

    Its paper and plugin, every config field that --set takes (type, default, bounds, meaning),
    the losses it trains with and the datasets it supports.
    """
    found = variant_details(command_host(), variant)
    typer.echo(json.dumps(found, indent=2) if as_json else details_text(found))


def variant_details(host: PluginHost, name: str) -> dict[str, Any]:
    """What ``gankit show NAME`` prints, as JSON-ready data (an unknown name: a RegistryError)."""
    registration = host.variants.resolve(name)
    spec = registration.spec
    return {
        "name": host.variants.shown_name(registration), "qualified_name": registration.qualified,
        "summary": spec.summary, "paper": spec.paper, "plugin": registration.owner,
        "conditional": spec.conditional, "config_class": spec.config_class.__name__,
        "fields": config_rows(spec.config_class),
        "losses": [host.losses.shown_name(r) for r in host.losses.registrations()],
        "datasets": dataset_fit(host, spec),
    }


def config_rows(config_class: type) -> list[dict[str, Any]]:
    """One row per config field: name, type as typed on the command line, default (JSON), bounds
    (the sides ``param(...)`` declared, and as words) and meaning (the field's comment)."""
    annotations, bounds = config_fields(config_class), field_bounds(config_class)
    meanings = field_comments(config_class)
    rows = []
    for f in dataclasses.fields(config_class):
        declared = bounds.get(f.name)
        sides = {k: v for k, v in dataclasses.asdict(declared).items() if v is not None} if declared else {}
        rows.append({"name": f.name, "type": describe_type(annotations[f.name]), "default": _default(f),
                     "bounds": sides or None, "bounds_text": declared.describe() if sides else "",
                     "meaning": meanings.get(f.name, "")})
    return rows


def _default(f: dataclasses.Field) -> Any:
    value = f.default if f.default is not dataclasses.MISSING else (
        f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
    return list(value) if isinstance(value, tuple) else value


def dataset_fit(host: PluginHost, spec: Any) -> dict[str, Any]:
    """Which registered datasets the variant can train on: ``supports`` is asked of a DataInfo, so
    a dataset whose shape is known only once loaded is listed apart, checked when training starts."""
    fit: dict[str, Any] = {"supported": [], "unsupported": [], "checked_when_loaded": []}
    for registration in host.datasets.registrations():
        data, shown = registration.spec, host.datasets.shown_name(registration)
        if data.image_shape is None:
            fit["checked_when_loaded"].append(shown)
            continue
        reason = spec.supports(data.info) if spec.supports else None
        if reason is None and spec.conditional and not data.num_classes:
            reason = "it has no labels and the variant is conditional"
        if reason is None:
            fit["supported"].append(shown)
        else:
            fit["unsupported"].append({"name": shown, "reason": reason})
    return fit


def _typed(value: Any) -> str:
    # A default as --set takes it: none, true, 1,2,3; never a Python repr.
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return ",".join(_typed(item) for item in value)
    return str(value) if value != "" else '""'


def details_text(found: dict[str, Any]) -> str:
    """``gankit show``'s text: a header, one aligned line per config field, losses and datasets."""
    lines = [f"{found['name']} ({found['qualified_name']}): {found['summary']}"]
    for label, key in (("paper", "paper"), ("plugin", "plugin")):
        if found[key]:
            lines.append(f"  {label}: {found[key]}")
    lines.append(f"  conditional: {'yes (G and D take class labels)' if found['conditional'] else 'no'}")
    lines += ["", f"Config ({found['config_class']}; set with --set KEY=VALUE):"]
    table = [("field", "type", "default", "bounds", "meaning")] + [
        (r["name"], r["type"], _typed(r["default"]), r["bounds_text"] or "-", r["meaning"])
        for r in found["fields"]]
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    lines += ["  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[4]
              for row in table]
    lines = [line.rstrip() for line in lines]
    lines += ["", "Losses (--loss NAME): " + ", ".join(found["losses"])]
    data = found["datasets"]
    lines.append("Datasets it supports (--dataset NAME): " + (", ".join(data["supported"]) or "none"))
    lines += [f"  not {row['name']}: {row['reason']}" for row in data["unsupported"]]
    if data["checked_when_loaded"]:
        lines.append("  checked once loaded (shape unknown before): "
                     + ", ".join(data["checked_when_loaded"]))
    return "\n".join(lines)
