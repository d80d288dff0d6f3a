"""The plugin mistakes pluggy lets pass silently, found and phrased as one line each.

pluggy registers a misspelt hook (``gankit_register_loss``) as a hook of its own that nobody calls,
ignores a hook function without ``@hookimpl``, and words a wrong argument name as "can not be found
in the hookspec". A plugin with such a mistake loads, registers nothing, and says nothing. These
checks run before a plugin is registered; what they find is shown by ``gankit plugins`` and as a
warning when gankit starts.
"""

from __future__ import annotations

import difflib
import inspect
from typing import Any

from gankit.hookspecs import PROJECT_NAME

HOOK_PREFIX = f"{PROJECT_NAME}_"
IMPL_MARKER = f"{PROJECT_NAME}_impl"  # the attribute HookimplMarker sets on a marked function


def hook_signatures(hookspecs: Any) -> dict[str, list[str]]:
    """Each hook's name -> its argument names, from the hookspec module."""
    found = {}
    for name, function in vars(hookspecs).items():
        if name.startswith(HOOK_PREFIX) and callable(function):
            found[name] = list(inspect.signature(function).parameters)
    return found


def find_mistakes(module: object, hooks: dict[str, list[str]]) -> tuple[list[str], list[str]]:
    """``(errors, problems)`` of ``module``: errors stop the plugin (a hook that pluggy would refuse);
    problems let it load but would make it silently do less than its author meant."""
    errors: list[str] = []
    problems: list[str] = []
    for attribute, value in _own_functions(module):
        marked = hasattr(value, IMPL_MARKER)
        name = (getattr(value, IMPL_MARKER) or {}).get("specname") if marked else None
        name = name or attribute
        if not name.startswith(HOOK_PREFIX):
            continue
        if name not in hooks:
            if marked or _looks_like_hook(name, hooks):
                problems.append(f"{name} is not a gankit hook{_did_you_mean(name, hooks)}; it is never "
                                f"called. Hooks: {', '.join(sorted(hooks))}")
            continue
        if not marked:
            problems.append(f"{name} has no @hookimpl, so gankit ignores it; put @gankit.hookimpl "
                            "on the line above its def")
            continue
        wanted = hooks[name]
        taken = [p for p in inspect.signature(value).parameters]
        unknown = [p for p in taken if p not in wanted]
        if unknown:
            errors.append(f"hook {name} takes ({', '.join(wanted)}), but {attribute} asks for "
                          f"({', '.join(taken)}); rename {', '.join(unknown)} (a hook may take fewer "
                          "arguments, never other names)")
    return errors, problems


def _own_functions(module: object) -> list[tuple[str, Any]]:
    own = getattr(module, "__name__", None)
    found = []
    for attribute in dir(module):
        value = getattr(module, attribute, None)
        if not (inspect.isfunction(value) or inspect.ismethod(value)):
            continue  # a plugin may be a module or an object; its methods count too
        if inspect.ismethod(value) or value.__module__ == own or hasattr(value, IMPL_MARKER):
            found.append((attribute, value))
    return found


def _looks_like_hook(name: str, hooks: dict[str, list[str]]) -> bool:
    return name.startswith(f"{HOOK_PREFIX}register") or bool(difflib.get_close_matches(name, hooks, n=1))


def _did_you_mean(name: str, hooks: dict[str, list[str]]) -> str:
    close = difflib.get_close_matches(name, hooks, n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def args_for(impl: Any, **available: Any) -> dict[str, Any]:
    # pluggy lets an implementation take fewer arguments than its spec; honour that here too.
    return {name: available[name] for name in impl.argnames if name in available}
