"""Every help page as a new user reads it: options in panels, the common ones first, values named
(N, PATH, KEY=VALUE) and never by their Python types, and `gankit --help`'s summaries whole."""

from __future__ import annotations

import re
import types

import pytest
import typer
from typer.testing import CliRunner

from gankit import hookimpl
from gankit.cli import build_app
from gankit.host import PluginHost, PluginInfo

WIDE = 200
# What Typer and click print for a value's type: <int>, <list[str]>, <int range>, {variant}, ...
PYTHON_TYPES = [
    re.compile(r"<[^<>\s]+(?: range)?>"),
    re.compile(r"\{[a-z_]+\}"),
    re.compile(r"\b(?:list|dict|tuple|Optional)\["),
    re.compile(r"\b(?:int|float|str|bool|Path|NoneType) range\b"),
    re.compile(r"(?<![\w.=-])(?:int|float|str|bool|NoneType)(?![\w.=-])"),
]


def commands(command, path=()):
    """(path, command) of the app and every command and group under it."""
    yield path, command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from commands(sub, (*path, name))


def help_of(app, path, width=WIDE):
    result = CliRunner().invoke(app, [*path, "--help"], terminal_width=width, env={"COLUMNS": str(width)})
    assert result.exit_code == 0, result.output
    return result.output


def python_types_in(text):
    return [match.group(0) for pattern in PYTHON_TYPES for match in pattern.finditer(text)]


def app_with_a_plugin_command():
    """gankit's app, plus a plugin's command that sets no metavar at all (as a plugin author
    writes it): its help must be as free of types as gankit's own."""

    def gankit_register_commands(app):
        @app.command("greet")
        def greet(name: str, times: int = 1, scale: float = 1.0, tags: list[str] = typer.Option([]),
                  where: typer.FileText = typer.Option(None)) -> None:
            """Greet someone."""

    plugin = types.ModuleType("greeter_plugin")
    plugin.gankit_register_commands = hookimpl(gankit_register_commands)
    host = PluginHost()
    host.load_builtins()
    host.add_plugin(plugin, PluginInfo("greeter", "loaded"))
    return build_app(host)


def test_no_help_page_shows_a_python_type():
    app = app_with_a_plugin_command()
    found = {}
    for path, _ in commands(typer.main.get_command(app)):
        for width in (WIDE, 80):
            leaks = python_types_in(help_of(app, path, width))
            if leaks:
                found[" ".join(("gankit", *path))] = leaks
    assert found == {}
    assert "greet" in help_of(app, ())  # the plugin's command was walked too


def test_the_type_check_would_see_typers_own_help():
    for leak in ("<list[str]>", "<int range>", "<str>", "{variant}", "<auto|cpu>"):
        assert python_types_in(f"  --x {leak}  Some help.") != [], leak
    assert python_types_in("  --set KEY=VALUE  Set a field (repeatable), e.g. lr=1e-3.\n"
                           "  --device auto|cpu|cuda|mps  Where to train.  [default: auto]") == []


@pytest.mark.parametrize("width", [WIDE, 80])
def test_gankit_help_cuts_no_summary(width):
    text = help_of(build_app(), (), width)
    listed = text[text.index("Commands:"):]
    assert "..." not in listed, listed
    for name in ("train", "sample", "list", "show", "plugins", "evaluate", "compare", "evaluator", "plugin"):
        assert re.search(rf"^  {name} ", listed, re.M), name


def test_gankit_help_summaries_fit_on_one_line():
    text = help_of(build_app(), (), 80)
    listed = text[text.index("Commands:") + len("Commands:\n"):].splitlines()
    assert all(re.match(r"^  \S", line) for line in listed if line.strip()), listed  # no wrapped lines


TRAIN_PANELS = ["Arguments", "Common", "Data", "Outputs and progress", "Speed and precision", "Distributed",
                "Advanced", "Options"]


def sections(text):
    """{title: its lines} of a help page, in order."""
    found, title = {}, None
    for line in text.splitlines():
        if re.match(r"^\S.*:$", line) and not line.startswith("Usage"):
            title = line[:-1]
            found[title] = []
        elif title is not None and line.strip():
            found[title].append(line)
    return found


def test_train_help_groups_its_options_in_panels_common_first():
    text = help_of(build_app(), ("train",))
    panels = sections(text)
    assert list(panels) == TRAIN_PANELS
    common = " ".join(panels["Common"])
    for option in ("--epochs", "--batch-size", "--lr", "--loss", "--set", "--out", "--resume", "--max-images",
                   "--seed", "--device"):
        assert f"{option} " in common, option
    assert "--sync-bn" in " ".join(panels["Distributed"])
    assert text.index("--epochs") < text.index("--sync-bn")
    assert "--set KEY=VALUE" in common and "--device auto|cpu|cuda|mps" in common


def test_lr_does_not_claim_adam():
    text = help_of(build_app(), ("train",))
    lr = re.search(r"--lr RATE(.*?)\n  --", text, re.S).group(1)
    assert "Adam learning rate" not in lr and "optimizer" in lr


@pytest.mark.parametrize("command, first", [
    ("compare", "Common"), ("evaluate", "Common"), ("sample", "Common")])
def test_the_other_commands_have_panels_too(command, first):
    panels = list(sections(help_of(build_app(), (command,))))
    assert panels[:2] == ["Arguments", first] and panels[-1] == "Options" and len(panels) >= 4, panels


def test_compare_shows_its_budget_and_data_options_with_their_metavars():
    text = help_of(build_app(), ("compare",))
    assert "Usage: gankit compare [OPTIONS] VARIANT_OR_RUN..." in text
    for shown in ("--g-steps N", "--epochs N", "--data-option KEY=VALUE", "--budget-seconds S", "--jobs N"):
        assert shown in text, shown


def test_plugin_group_says_what_it_does():
    text = help_of(build_app(), ())
    line = next(line for line in text.splitlines() if line.startswith("  plugin "))
    assert "check" not in line.lower() and ("write" in line.lower() or "new" in line.lower()), line
