"""The plugin host: loads plugins with pluggy and fills the registries.

Plugins come from three places, in this order: gankit's own built-ins (``gankit.builtins``),
installed distributions' entry points of group ``gankit``, and one-off ``*.py`` files from
``--plugins-dir``. Each plugin is loaded and asked to register in isolation: one that fails to import
or register is reported in one line and the rest keep working. The environment chooses:

- ``GANKIT_LOAD_PLUGINS=a,b``: load only these entry points (set but empty: none);
- ``GANKIT_DISABLE_PLUGINS=a,b``: skip these entry points and ``--plugins-dir`` files;
- ``GANKIT_STRICT_PLUGINS=1``: re-raise a plugin's error (for plugin authors and CI).

A plugin may declare the gankit versions it supports: a packaged one as an ordinary dependency
(``dependencies = ["gankit>=0.1,<0.2"]``, read from its ``Requires-Dist``), a ``--plugins-dir`` file
as ``GANKIT_REQUIRES = ">=0.1,<0.2"``. A mismatch is one warning line; the plugin still loads, in
state ``incompatible``. Commands a plugin adds are listed under its own help panel.

Core code never calls ``pm.hook.*`` directly: the typed methods of :class:`PluginHost` do.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

import pluggy

from gankit import hookspecs
from gankit.errors import GankitError, RegistryError
from gankit.registry import DatasetSpec, LossSpec, Registry, VariantSpec

ENTRY_POINT_GROUP = "gankit"
BUILTIN_NAME = "gankit"
REQUIRES_ATTRIBUTE = "GANKIT_REQUIRES"  # what a --plugins-dir file sets to declare its gankit range


@dataclass
class PluginInfo:
    """What ``gankit plugins`` reports about one plugin.

    :param state: ``loaded``; ``incompatible`` (loaded, but it declares gankit versions that exclude
        this one); ``failed`` (see ``error``); or ``disabled`` (by the environment).
    :param requires: the gankit versions the plugin declares it supports, e.g. ``>=0.1,<0.2``.
    """

    name: str
    state: str
    distribution: str | None = None
    version: str | None = None
    module: str | None = None
    error: str | None = None
    registered: dict[str, list[str]] = field(default_factory=dict)
    requires: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "state": self.state, "distribution": self.distribution,
            "version": self.version, "module": self.module, "requires_gankit": self.requires,
            "error": self.error, "registered": self.registered,
        }

    def label(self) -> str:
        """``'name' (distribution version)``, for one-line messages."""
        version = f" {self.version}" if self.version else ""
        owner = f" ({self.distribution}{version})" if self.distribution else (
            f" ({self.version})" if self.version else "")
        return f"'{self.name}'{owner}"


def _env_list(name: str) -> list[str] | None:
    value = os.environ.get(name)
    if value is None:
        return None
    return [item.strip() for item in value.split(",") if item.strip()]


def strict_plugins() -> bool:
    return os.environ.get("GANKIT_STRICT_PLUGINS", "") not in ("", "0", "false")


def _report(line: str) -> None:
    print(f"gankit: {line}", file=sys.stderr)


class PluginHost:
    """A plugin manager plus the three registries it fills."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.variants: Registry[VariantSpec] = Registry("variant")
        self.losses: Registry[LossSpec] = Registry("loss")
        self.datasets: Registry[DatasetSpec] = Registry("dataset")
        self.plugins: dict[str, PluginInfo] = {}
        self.loaded_dirs: set[Path] = set()

    # -- loading -------------------------------------------------------------------------------

    def add_plugin(self, module: ModuleType | object, info: PluginInfo) -> bool:
        """Register ``module`` and let it register its specs; on failure, report and roll back."""
        info.module = info.module or getattr(module, "__name__", type(module).__name__)
        try:
            if info.requires is None:
                info.requires = _module_requirement(module)
            self.pm.register(module, name=info.name)
            self._collect_specs(module, info)
        except Exception as error:  # a plugin's bug must not take the host down
            if self.pm.is_registered(module):
                self.pm.unregister(module)
            self._fail(info, error)
            return False
        info.state = "loaded"
        self.plugins[info.name] = info
        self._check_version(info)
        return True

    def _collect_specs(self, module: object, info: PluginInfo) -> None:
        # Stage everything first so a plugin that fails half-way leaves no half registration.
        staged: dict[str, list[Any]] = {"variants": [], "losses": [], "datasets": []}
        hooks = {
            "variants": self.pm.hook.gankit_register_variants,
            "losses": self.pm.hook.gankit_register_losses,
            "datasets": self.pm.hook.gankit_register_datasets,
        }
        kinds = {"variants": VariantSpec, "losses": LossSpec, "datasets": DatasetSpec}
        for kind, hook in hooks.items():
            for impl in hook.get_hookimpls():
                if impl.plugin is not module:
                    continue
                register = _make_register(staged[kind], kinds[kind], info.name)
                impl.function(**_args_for(impl, register=register))
        registries = {"variants": self.variants, "losses": self.losses, "datasets": self.datasets}
        for kind, specs in staged.items():
            names = [spec.name for spec in specs]
            duplicates = {n for n in names if names.count(n) > 1}
            if duplicates:
                raise GankitError(f"registers {kind[:-1]} '{sorted(duplicates)[0]}' twice")
            for spec in specs:
                if spec.name in registries[kind]:
                    registries[kind].register(spec.name, spec, info.name)  # raises, naming both
        for kind, specs in staged.items():
            for spec in specs:
                registries[kind].register(spec.name, spec, info.name)
            if specs:
                info.registered[kind] = [spec.name for spec in specs]

    def _fail(self, info: PluginInfo, error: BaseException) -> None:
        info.state = "failed"
        info.error = f"{type(error).__name__}: {error}"
        self.plugins[info.name] = info
        if strict_plugins():
            raise error
        mismatch = _mismatch(info.requires)
        why = f" It supports gankit {info.requires}, not {_own_version()}, which may be why." \
            if mismatch else ""
        _report(f"plugin {info.label()} failed to load: {info.error}.{why} "
                f"Disable it with GANKIT_DISABLE_PLUGINS={info.name}.")

    def _check_version(self, info: PluginInfo) -> None:
        if _mismatch(info.requires):
            info.state = "incompatible"
            _report(f"plugin {info.label()} supports gankit {info.requires}, but this is gankit "
                    f"{_own_version()}; it is loaded anyway and may misbehave. Install a matching "
                    f"version, or disable it with GANKIT_DISABLE_PLUGINS={info.name}.")

    def load_builtins(self) -> None:
        from gankit import builtins

        self.add_plugin(builtins, PluginInfo(BUILTIN_NAME, "loaded", BUILTIN_NAME, _own_version()))

    def load_entry_points(self) -> None:
        only = _env_list("GANKIT_LOAD_PLUGINS")
        disabled = set(_env_list("GANKIT_DISABLE_PLUGINS") or [])
        for entry_point in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            if entry_point.name in self.plugins:
                continue  # the same entry point seen twice on sys.path
            dist = entry_point.dist
            info = PluginInfo(
                entry_point.name, "disabled",
                distribution=dist.metadata["Name"] if dist else None,
                version=dist.version if dist else None,
                module=entry_point.value,
            )
            if (only is not None and entry_point.name not in only) or entry_point.name in disabled:
                self.plugins[info.name] = info
                continue
            try:
                info.requires = _distribution_requirement(dist)
                module = entry_point.load()
            except Exception as error:
                self._fail(info, error)
                continue
            self.add_plugin(module, info)

    def load_plugins_dir(self, directory: Path) -> None:
        """Load each ``*.py`` file in ``directory`` as a one-off plugin named after the file."""
        directory = Path(directory)
        if not directory.is_dir():
            raise GankitError(f"--plugins-dir '{directory}' is not a folder; pass a folder of *.py plugin files.")
        self.loaded_dirs.add(directory.resolve())
        disabled = set(_env_list("GANKIT_DISABLE_PLUGINS") or [])
        for path in sorted(directory.glob("*.py")):
            info = PluginInfo(path.stem, "disabled", module=str(path))
            if path.stem in disabled:
                self.plugins[info.name] = info
                continue
            try:
                spec = importlib.util.spec_from_file_location(f"gankit_local_{path.stem}", path)
                assert spec and spec.loader
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
            except Exception as error:
                self._fail(info, error)
                continue
            version = getattr(module, "__version__", None)
            info.version = str(version) if version is not None else None
            self.add_plugin(module, info)

    # -- typed hook calls ----------------------------------------------------------------------

    def register_commands(self, app: Any) -> None:
        """Let each plugin add commands to ``app`` (a ``typer.Typer``).

        A command that names no ``rich_help_panel`` is listed under ``Plugin: NAME``. A command
        name already taken fails the plugin, whose commands are then all removed again.
        """
        owners = {name: BUILTIN_NAME for name, _ in _listed_commands(app.registered_commands, [])}
        for impl in self.pm.hook.gankit_register_commands.get_hookimpls():
            name = self.pm.get_name(impl.plugin) or "?"
            info = self.plugins.get(name) or PluginInfo(name, "failed")
            commands_before, groups_before = len(app.registered_commands), len(app.registered_groups)
            try:
                impl.function(**_args_for(impl, app=app))
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
                self._fail(info, error)
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


def _args_for(impl: Any, **available: Any) -> dict[str, Any]:
    # pluggy lets an implementation take fewer arguments than its spec; honour that here too.
    return {name: available[name] for name in impl.argnames if name in available}


def _make_register(bucket: list[Any], kind: type, owner: str) -> Callable[[Any], None]:
    def register(spec: Any) -> None:
        if not isinstance(spec, kind):
            raise GankitError(f"plugin '{owner}' registered {spec!r}; expected a {kind.__name__}")
        bucket.append(spec)

    return register


def _distribution_requirement(dist: Any) -> str | None:
    """The version specifier of the distribution's own dependency on gankit, if any."""
    if dist is None or (dist.metadata["Name"] or "").lower() == BUILTIN_NAME:
        return None
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    for line in dist.requires or []:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue  # pip would not have installed it; not ours to judge
        if canonicalize_name(requirement.name) != BUILTIN_NAME:
            continue
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        return str(requirement.specifier) or None
    return None


def _module_requirement(module: object) -> str | None:
    declared = getattr(module, REQUIRES_ATTRIBUTE, None)
    if declared is None:
        return None
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    try:
        return str(SpecifierSet(str(declared)))
    except InvalidSpecifier:
        raise GankitError(f"{REQUIRES_ATTRIBUTE} = {declared!r} is not a version specifier; "
                          "write e.g. '>=0.1,<0.2'") from None


def _mismatch(requires: str | None) -> bool:
    """Whether the running gankit is outside ``requires`` (a version specifier)."""
    if not requires:
        return False
    from packaging.specifiers import SpecifierSet

    return not SpecifierSet(requires).contains(_own_version(), prereleases=True)


def _own_version() -> str:
    from gankit import __version__

    return __version__


_host: PluginHost | None = None


def get_host(plugins_dir: Path | None = None) -> PluginHost:
    """The process-wide host, loading plugins on first use."""
    global _host
    if _host is None:
        host = PluginHost()
        host.load_builtins()
        host.load_entry_points()
        if plugins_dir is not None:
            host.load_plugins_dir(plugins_dir)
        _host = host
    return _host


def set_host(host: PluginHost | None) -> None:
    """Replace the process-wide host (tests build their own; ``None`` reloads on next use)."""
    global _host
    _host = host
