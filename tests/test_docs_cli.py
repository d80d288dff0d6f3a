"""docs/cli.md documents every command and every option the CLI has."""

from __future__ import annotations

from pathlib import Path

import typer

from gankit.cli import build_app

CLI_DOC = Path(__file__).resolve().parents[1] / "docs" / "cli.md"


def walk(command, path=()):
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        # Commands an installed plugin adds are documented by that plugin, not here.
        if not str(getattr(sub, "rich_help_panel", None) or "").startswith("Plugin:"):
            yield from walk(sub, (*path, name))


def test_every_command_and_option_is_in_the_cli_reference():
    text = CLI_DOC.read_text()
    missing = []
    for path, command in walk(typer.main.get_command(build_app())):
        if path and f"gankit {' '.join(path)}" not in text:
            missing.append(f"command 'gankit {' '.join(path)}'")
        for param in command.params:
            for option in [*param.opts, *param.secondary_opts]:
                if option.startswith("-") and f"`{option}" not in text and f"/ `{option}`" not in text:
                    missing.append(f"option {option} of 'gankit {' '.join(path)}'")
    assert not missing, f"docs/cli.md does not document: {', '.join(missing)}"
