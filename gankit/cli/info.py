"""The ``list`` and ``plugins`` commands: what the host has registered (as tables or JSON), and
every plugin found with its state.

Both stay torch-free; rich.table is imported only when tables are drawn.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console

from gankit.cli.common import user_errors
from gankit.cli.context import command_host
from gankit.host import PluginHost


def add_commands(app: typer.Typer) -> None:
    """Add ``list`` and ``plugins`` to ``app``."""
    app.command("list")(list_)
    app.command()(plugins)


@user_errors
def list_(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """List variants, losses and datasets, and the plugin each came from."""
    found = listing(command_host())
    if as_json:
        typer.echo(json.dumps(found, indent=2))
    else:
        print_tables(found)


def plugins() -> None:
    """Show every plugin found, with its state (loaded, failed, disabled, incompatible) and
    any mistakes found in it (a misspelt hook, a hook without @hookimpl), as JSON."""
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
        for column in ("name", "summary", "plugin"):
            table.add_column(column, overflow="fold")
        for row in rows:
            name = row["name"] + (" (conditional)" if row.get("conditional") else "")
            options = "; ".join(f"--data-option {k}=...: {v}" for k, v in (row.get("options") or {}).items())
            table.add_row(name, row["summary"] + (f" [{options}]" if options else ""), row["plugin"])
        console.print(table)
