"""Keeping a plugin's failures its own: what its import may raise without taking the CLI down, and
which plugin an error raised later (in its ``build()``, ``load()``, loss or callback) came from, so
the CLI can say so in one line."""

from __future__ import annotations

from typing import Any

# What a plugin's import or registration may raise without taking the host down: sys.exit() and a
# stray KeyboardInterrupt at import too (a real Ctrl-C then only fails that plugin).
PLUGIN_FAILURES = (Exception, SystemExit, KeyboardInterrupt)

_plugin_packages: dict[str, str] = {}  # top-level package of a loaded plugin's module -> plugin name


def note_plugin_module(module: Any, plugin: str) -> None:
    top = str(getattr(module, "__name__", "")).split(".")[0]
    if top and top != "gankit":  # the core's own built-ins are no plugin to blame
        _plugin_packages[top] = plugin


def plugin_at_fault(error: BaseException) -> tuple[str, str] | None:
    """(plugin name, "file:line") of the innermost frame of ``error``'s traceback that runs a
    loaded plugin's code, or ``None`` when no plugin code was running."""
    found = None
    tb = error.__traceback__
    while tb is not None:
        module = str(tb.tb_frame.f_globals.get("__name__", "")).split(".")[0]
        if module in _plugin_packages:
            found = (_plugin_packages[module], f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}")
        tb = tb.tb_next
    return found


def plugin_error_line(error: BaseException) -> str | None:
    """One line for an error a plugin's code raised, naming the plugin; ``None`` if none did."""
    fault = plugin_at_fault(error)
    if fault is None:
        return None
    plugin, where = fault
    first = (str(error).strip().splitlines() or [""])[0]
    cause = f"{type(error).__name__}: {first}".rstrip(". :")
    return (f"Plugin '{plugin}' failed: {cause} (at {where}). Fix the plugin, or disable it with "
            f"GANKIT_DISABLE_PLUGINS={plugin}; --debug shows the traceback.")
