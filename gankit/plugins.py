"""The plugin host: loads plugins with pluggy and fills the registries.

Plugins come from three places, in this order: gankit's own built-ins (``gankit.builtins``),
installed distributions' entry points of group ``gankit``, and one-off ``*.py`` files from
``--plugins-dir``. Each plugin is loaded and asked to register in isolation: one that fails to import
or register is reported in one line and the rest keep working. The environment chooses:

- ``GANKIT_LOAD_PLUGINS=a,b``: load only these entry points (set but empty: none);
- ``GANKIT_DISABLE_PLUGINS=a,b``: skip these entry points;
- ``GANKIT_STRICT_PLUGINS=1``: re-raise a plugin's error (for plugin authors and CI).

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
from gankit.errors import GankitError
from gankit.registry import DatasetSpec, LossSpec, Registry, VariantSpec

ENTRY_POINT_GROUP = "gankit"
BUILTIN_NAME = "gankit"


@dataclass
class PluginInfo:
    """What ``gankit plugins`` reports about one plugin."""

    name: str
    state: str  # "loaded", "failed" or "disabled"
    distribution: str | None = None
    version: str | None = None
    module: str | None = None
    error: str | None = None
    registered: dict[str, list[str]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "state": self.state, "distribution": self.distribution,
            "version": self.version, "module": self.module, "error": self.error,
            "registered": self.registered,
        }


def _env_list(name: str) -> list[str] | None:
    value = os.environ.get(name)
    if value is None:
        return None
    return [item.strip() for item in value.split(",") if item.strip()]


def strict_plugins() -> bool:
    return os.environ.get("GANKIT_STRICT_PLUGINS", "") not in ("", "0", "false")


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
        info.module = getattr(module, "__name__", type(module).__name__)
        try:
            self.pm.register(module, name=info.name)
            self._collect_specs(module, info)
        except Exception as error:  # a plugin's bug must not take the host down
            if self.pm.is_registered(module):
                self.pm.unregister(module)
            self._fail(info, error)
            return False
        info.state = "loaded"
        self.plugins[info.name] = info
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
        version = f" {info.version}" if info.version else ""
        dist = f" ({info.distribution}{version})" if info.distribution else ""
        print(
            f"gankit: plugin '{info.name}'{dist} failed to load: {info.error}. "
            f"Disable it with GANKIT_DISABLE_PLUGINS={info.name}.",
            file=sys.stderr,
        )

    def load_builtins(self) -> None:
        from gankit import builtins

        self.add_plugin(builtins, PluginInfo(BUILTIN_NAME, "loaded", BUILTIN_NAME, _own_version()))

    def load_entry_points(self) -> None:
        only = _env_list("GANKIT_LOAD_PLUGINS")
        disabled = set(_env_list("GANKIT_DISABLE_PLUGINS") or [])
        for entry_point in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            dist = entry_point.dist
            info = PluginInfo(
                entry_point.name, "disabled",
                distribution=dist.metadata["Name"] if dist else None,
                version=dist.version if dist else None,
                module=entry_point.value,
            )
            if entry_point.name in self.plugins:
                continue  # the same entry point seen twice on sys.path
            if (only is not None and entry_point.name not in only) or entry_point.name in disabled:
                self.plugins[info.name] = info
                continue
            try:
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
        for path in sorted(directory.glob("*.py")):
            info = PluginInfo(path.stem, "disabled", module=str(path))
            try:
                spec = importlib.util.spec_from_file_location(f"gankit_local_{path.stem}", path)
                assert spec and spec.loader
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
            except Exception as error:
                self._fail(info, error)
                continue
            self.add_plugin(module, info)

    # -- typed hook calls ----------------------------------------------------------------------

    def register_commands(self, app: Any) -> None:
        for impl in self.pm.hook.gankit_register_commands.get_hookimpls():
            name = self.pm.get_name(impl.plugin) or "?"
            try:
                impl.function(**_args_for(impl, app=app))
            except Exception as error:
                self._fail(self.plugins.get(name) or PluginInfo(name, "failed"), error)


def _args_for(impl: Any, **available: Any) -> dict[str, Any]:
    # pluggy lets an implementation take fewer arguments than its spec; honour that here too.
    return {name: available[name] for name in impl.argnames if name in available}


def _make_register(bucket: list[Any], kind: type, owner: str) -> Callable[[Any], None]:
    def register(spec: Any) -> None:
        if not isinstance(spec, kind):
            raise GankitError(f"plugin '{owner}' registered {spec!r}; expected a {kind.__name__}")
        bucket.append(spec)

    return register


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
