"""docs/cli.md documents every command and every option the CLI has, each option in its own
command's section, named as its help names it."""

from __future__ import annotations

import re
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


def section(text: str, path: tuple[str, ...]) -> str | None:
    """The text under the ``## gankit PATH ...`` heading (``evaluator train / evaluator show``
    share one), up to the next heading; None if no heading names the command."""
    name = re.escape(" ".join(("gankit", *path)))
    heading = re.compile(rf"^## (?:.* )?{name}(?: [^/\s]+)*(?: /.*)?$" if path else r"^## gankit$", re.M)
    for match in heading.finditer(text):
        rest = text[match.end():]
        following = re.search(r"^## ", rest, re.M)
        return rest[:following.start()] if following else rest
    return None


def options_of(command):
    for param in command.params:
        if param.param_type_name == "option" and not getattr(param, "hidden", False):
            yield param, [*param.opts, *param.secondary_opts]


def test_every_command_and_option_is_in_its_commands_section():
    text = CLI_DOC.read_text()
    missing = []
    for path, command in walk(typer.main.get_command(build_app())):
        name = f"gankit {' '.join(path)}".strip()
        if path and name not in text:
            missing.append(f"command '{name}'")
        if path and getattr(command, "commands", None):
            continue  # a group (evaluator, plugin): its commands have the sections; the root has one
        body = section(text, path)
        if body is None:
            missing.append(f"a '## {name}' section")
            continue
        for _, names in options_of(command):
            for option in names:
                if f"`{option}" not in body:
                    missing.append(f"option {option} in the '{name}' section")
    assert not missing, f"docs/cli.md does not document: {', '.join(missing)}"


def test_the_reference_names_each_value_as_the_help_does():
    """``--epochs N`` in the table when ``train --help`` says ``--epochs N``; a table row may spell
    out the choices (``--precision auto|fp32|bf16|fp16`` for MODE) instead."""
    text = CLI_DOC.read_text()
    wrong = []
    for path, command in walk(typer.main.get_command(build_app())):
        body = section(text, path) or ""
        for param, names in options_of(command):
            if param.metavar is None or getattr(param, "is_flag", False):
                continue
            for option in names:
                shown = [value.replace("\\|", "|") for value in
                         re.findall(rf"`{re.escape(option)} ([^`]+)`", body)]
                if shown and not any(value == param.metavar or "|" in value for value in shown):
                    wrong.append(f"gankit {' '.join(path)} {option}: {shown} in the docs, "
                                 f"{param.metavar} in --help")
    assert not wrong, wrong


def test_compare_documents_data_option_and_g_steps():
    body = section(CLI_DOC.read_text(), ("compare",))
    assert "`--data-option KEY=VALUE`" in body
    assert "generator updates per variant and seed, rounded to each variant's whole epochs" in body.lower()
