"""Plugins' commands added to the app: each plugin's ``gankit_register_commands`` in turn (through
:meth:`gankit.host.PluginHost.command_hooks`), name clashes refused, help panels named.

What ``gankit --help`` lists is read from Typer's public registration lists, so a name clash is
found before Typer sees it, and a failing plugin's half-added commands are removed again.
"""

from __future__ import annotations

from typing import Any

import typer

from gankit.errors import RegistryError
from gankit.host import PluginHost
from gankit.host_versions import BUILTIN_NAME


def add_plugin_commands(app: typer.Typer, host: PluginHost) -> None:
    """Let each plugin add commands to ``app``; each is handed ``host``.

    A command that names no ``rich_help_panel`` is listed under ``Plugin: NAME``. A command name
    already taken fails the plugin: its commands are removed again, and :meth:`PluginHost.fail`
    reports it in one line and rolls back all else it registered.
    """
    owners = {name: BUILTIN_NAME for name, _ in _listed_commands(app.registered_commands, [])}
    for name, register in host.command_hooks():
        info = host.info_for(name)
        commands_before, groups_before = len(app.registered_commands), len(app.registered_groups)
        try:
            register(app)
            added = _listed_commands(app.registered_commands[commands_before:],
                                     app.registered_groups[groups_before:])
            names = [command_name for command_name, _ in added]
            for command_name in names:
                if command_name in owners:
                    raise RegistryError(
                        f"Command '{command_name}' is registered twice: by '{owners[command_name]}' "
                        f"and by '{name}'. Rename one, or disable a plugin with GANKIT_DISABLE_PLUGINS.")
                owners[command_name] = name
        except Exception as error:
            del app.registered_commands[commands_before:]
            del app.registered_groups[groups_before:]
            host.fail(info, error)
            continue
        for _, command in added:
            if not isinstance(command.rich_help_panel, str) and name != BUILTIN_NAME:
                command.rich_help_panel = f"Plugin: {name}"
        if names:
            info.registered["commands"] = names


def _listed_commands(commands: list[Any], groups: list[Any]) -> list[tuple[str, Any]]:
    """(name, Typer info) of each entry ``gankit --help`` lists: commands, named sub-apps, and the
    commands of sub-apps added without a name (Typer merges those into the parent)."""
    listed = []
    for command in commands:
        # Typer names a command after its function when no name is given.
        name = command.name or (command.callback.__name__.lower().replace("_", "-")
                                if command.callback else "?")
        listed.append((name, command))
    for group in groups:
        name = _given(group.name) or _given(group.typer_instance.info.name)
        if name:
            listed.append((name, group))
        else:
            listed += _listed_commands(group.typer_instance.registered_commands,
                                       group.typer_instance.registered_groups)
    return listed


def _given(value: Any) -> str | None:
    # Typer marks a setting left unset with a placeholder object, not a string.
    return value if isinstance(value, str) and value else None
