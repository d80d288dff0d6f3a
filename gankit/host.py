"""The plugin host: loads plugins with pluggy and fills the registries.

Plugins come from three places, in this order: gankit's own built-ins (``gankit.builtin_plugin``),
installed distributions' entry points of group ``gankit``, and one-off ``*.py`` files from
``--plugins-dir``. Each plugin is loaded and asked to register in isolation: one that fails to import
or register is reported in one line and the rest keep working. The environment chooses:

- ``GANKIT_LOAD_PLUGINS=a,b``: load only these entry points (set but empty: none);
- ``GANKIT_DISABLE_PLUGINS=a,b``: skip these entry points and ``--plugins-dir`` files;
- ``GANKIT_STRICT_PLUGINS=1``: re-raise a plugin's error (for plugin authors and CI).

A plugin may declare the gankit versions it supports (see :mod:`gankit.host_versions`); a mismatch
is one warning line and the plugin still loads, in state ``incompatible``. The mistakes pluggy lets
pass silently (a misspelt hook, a hook without ``@hookimpl``, a wrong argument name) are found by
:mod:`gankit.host_checks` and reported the same way. Commands a plugin adds are listed under its
own help panel (:mod:`gankit.cli.plugin_commands` adds them). An error raised later by a plugin's
code (in its ``build()``, ``load()``, loss or callback) is traced to that plugin by
:meth:`PluginHost.plugin_at_fault`, so the CLI can name it in one line.

Core code never calls ``pm.hook.*`` directly: the typed methods of :class:`PluginHost` do.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
import threading
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterator

import pluggy

import gankit.hookspecs as hookspecs
from gankit._io import env_flag
from gankit._version import __version__
from gankit.errors import GankitError
from gankit.host_checks import args_for, find_mistakes, hook_signatures
from gankit.host_versions import (BUILTIN_NAME, distribution_requirement, mismatch,
                                  module_requirement)
from gankit.registry import CallbackSpec, DatasetSpec, LossSpec, Registry, VariantSpec

ENTRY_POINT_GROUP = "gankit"
SPEC_KINDS = {"variants": VariantSpec, "losses": LossSpec, "datasets": DatasetSpec,
              "callbacks": CallbackSpec}
# What a plugin's import or registration may raise without taking the host down: sys.exit() and a
# stray KeyboardInterrupt at import too (a real Ctrl-C then only fails that plugin).
PLUGIN_FAILURES = (Exception, SystemExit, KeyboardInterrupt)


@dataclass
class PluginInfo:
    """What ``gankit plugins`` reports about one plugin.

    :param state: ``loaded``; ``incompatible`` (loaded, but it declares gankit versions that exclude
        this one); ``failed`` (see ``error``); or ``disabled`` (by the environment).
    :param requires: the gankit versions the plugin declares it supports, e.g. ``>=0.1,<0.2``.
    :param problems: mistakes that let the plugin load but make it do less than meant (a misspelt
        hook, a hook without ``@hookimpl``), one line each.
    """

    name: str
    state: str
    distribution: str | None = None
    version: str | None = None
    module: str | None = None
    error: str | None = None
    registered: dict[str, list[str]] = field(default_factory=dict)
    requires: str | None = None
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "state": self.state, "distribution": self.distribution,
            "version": self.version, "module": self.module, "requires_gankit": self.requires,
            "error": self.error, "problems": self.problems, "registered": self.registered,
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
    return env_flag("GANKIT_STRICT_PLUGINS")


def _report(line: str) -> None:
    print(f"gankit: {line}", file=sys.stderr)


class PluginHost:
    """A plugin manager plus the registries it fills."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.variants: Registry[VariantSpec] = Registry("variant")
        self.losses: Registry[LossSpec] = Registry("loss")
        self.datasets: Registry[DatasetSpec] = Registry("dataset")
        self.callbacks: Registry[CallbackSpec] = Registry("callback")
        self.plugins: dict[str, PluginInfo] = {}
        self.loaded_dirs: set[Path] = set()
        self._plugin_packages: dict[str, str] = {}  # top-level package of a plugin's module -> plugin
        self._threads: dict[threading.Thread, str] = {}  # started while a plugin loaded -> plugin

    # -- loading -------------------------------------------------------------------------------

    def add_plugin(self, module: ModuleType | object, info: PluginInfo) -> bool:
        """Register ``module`` and let it register its specs; on failure, report and roll back."""
        info.module = info.module or getattr(module, "__name__", type(module).__name__)
        try:
            if info.requires is None:
                info.requires = module_requirement(module)
            errors, info.problems = find_mistakes(module, hook_signatures(hookspecs))
            if errors:
                raise GankitError("; ".join(errors))
            self.pm.register(module, name=info.name)
            with self._noting_threads(info.name):
                self._collect_specs(module, info)
        except PLUGIN_FAILURES as error:  # a plugin's bug must not take the host down
            if self.pm.is_registered(module):
                self.pm.unregister(module)
            self.fail(info, error)
            return False
        info.state = "loaded"
        self.plugins[info.name] = info
        top = str(getattr(module, "__name__", "")).split(".")[0]
        if top and top != "gankit":  # the core's own built-ins are no plugin to blame
            self._plugin_packages[top] = info.name
        for problem in info.problems:
            _report(f"plugin {info.label()}: {problem}.")
        self._check_version(info)
        return True

    def _collect_specs(self, module: object, info: PluginInfo) -> None:
        # Stage everything first so a plugin that fails half-way leaves no half registration.
        staged: dict[str, list[Any]] = {kind: [] for kind in SPEC_KINDS}
        for kind, spec_class in SPEC_KINDS.items():
            for impl in getattr(self.pm.hook, f"gankit_register_{kind}").get_hookimpls():
                if impl.plugin is not module:
                    continue
                register = _make_register(staged[kind], spec_class, info.name)
                impl.function(**args_for(impl, register=register))
        registries = self.registries()
        for kind, specs in staged.items():
            names = [spec.name for spec in specs]
            duplicates = {n for n in names if names.count(n) > 1}
            if duplicates:
                raise GankitError(f"registers {kind[:-1]} '{sorted(duplicates)[0]}' twice")
        # A name another plugin has is no failure: both stay reachable as PLUGIN:NAME (registry.py).
        first_party = info.name == BUILTIN_NAME or (info.distribution or "").lower() == BUILTIN_NAME
        aliases = (info.distribution,) if info.distribution else ()
        for kind, specs in staged.items():
            for spec in specs:
                registries[kind].register(spec.name, spec, info.name, first_party=first_party,
                                          aliases=aliases)
            if specs:
                info.registered[kind] = [spec.name for spec in specs]

    def name_clashes(self, plugin: str) -> list[str]:
        """One line per name ``plugin`` shares with another plugin: what the bare name means now,
        and the qualified name of each."""
        info = self.plugins.get(plugin)
        lines = []
        registries = self.registries()
        for kind, names in (info.registered.items() if info else []):
            if kind not in registries:  # "commands": no registry, no names to share
                continue
            registry = registries[kind]
            for name in names:
                others = [f"'{r.qualified}'" for r in registry.registrations()
                          if r.name == name and r.owner != plugin]
                if not others:
                    continue
                try:
                    meaning = f"'{name}' means {registry.owner(name)}'s"
                except GankitError:
                    meaning = f"'{name}' alone is ambiguous"
                lines.append(f"{registry.kind} '{name}' is also {' and '.join(others)}: {meaning}, and "
                             f"this plugin's is '{plugin}:{name}'")
        return lines

    def plugin_report(self) -> list[dict[str, Any]]:
        """What ``gankit plugins`` prints: each plugin's state, registrations and name clashes."""
        return [{**info.as_dict(), "name_clashes": self.name_clashes(name)}
                for name, info in self.plugins.items()]

    def registries(self) -> dict[str, Registry[Any]]:
        """``{"variants": ..., "losses": ..., "datasets": ..., "callbacks": ...}``."""
        return {"variants": self.variants, "losses": self.losses, "datasets": self.datasets,
                "callbacks": self.callbacks}

    def info_for(self, name: str) -> PluginInfo:
        return self.plugins.get(name) or PluginInfo(name, "failed")

    def fail(self, info: PluginInfo, error: BaseException) -> None:
        """Mark ``info`` failed and report it in one line (re-raise under GANKIT_STRICT_PLUGINS)."""
        info.state = "failed"
        info.error = f"{type(error).__name__}: {error}".rstrip(". ")
        self.plugins[info.name] = info
        self._roll_back(info)
        if strict_plugins():
            raise error
        why = f" It supports gankit {info.requires}, not {__version__}, which may be why." \
            if mismatch(info.requires) else ""
        _report(f"plugin {info.label()} failed to load: {info.error}.{why} "
                f"Disable it with GANKIT_DISABLE_PLUGINS={info.name}.")

    def _roll_back(self, info: PluginInfo) -> None:
        """A failed plugin keeps nothing: its specs leave the registries, its hooks the manager
        (it may fail after registering, e.g. on a command name clash)."""
        for registry in self.registries().values():
            registry.unregister_owner(info.name)
        info.registered = {}
        plugin = self.pm.get_plugin(info.name)
        if plugin is not None:
            self.pm.unregister(plugin)

    def _check_version(self, info: PluginInfo) -> None:
        if mismatch(info.requires):
            info.state = "incompatible"
            _report(f"plugin {info.label()} supports gankit {info.requires}, but this is gankit "
                    f"{__version__}; it is loaded anyway and may misbehave. Install a matching "
                    f"version, or disable it with GANKIT_DISABLE_PLUGINS={info.name}.")

    def load_builtins(self) -> None:
        import gankit.builtin_plugin as builtin_plugin

        self.add_plugin(builtin_plugin, PluginInfo(BUILTIN_NAME, "loaded", BUILTIN_NAME, __version__))

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
                info.requires = distribution_requirement(dist)
                with self._noting_threads(entry_point.name):
                    module = entry_point.load()
            except PLUGIN_FAILURES as error:
                self.fail(info, error)
                continue
            self.add_plugin(module, info)

    def load_plugins_dir(self, directory: Path) -> None:
        """Load each ``*.py`` file in ``directory`` as a one-off plugin named after the file."""
        directory = Path(directory)
        if not directory.is_dir():
            raise GankitError(f"--plugins-dir '{directory}' is not a folder; pass a folder of *.py "
                              "plugin files.")
        self.loaded_dirs.add(directory.resolve())
        disabled = set(_env_list("GANKIT_DISABLE_PLUGINS") or [])
        for path in sorted(directory.glob("*.py")):
            info = PluginInfo(path.stem, "disabled", module=str(path))
            if path.stem in disabled:
                self.plugins[info.name] = info
                continue
            try:
                name = f"gankit_local_{path.stem}"
                spec = importlib.util.spec_from_file_location(name, path)
                assert spec and spec.loader
                module = importlib.util.module_from_spec(spec)
                # In sys.modules while it runs, as if imported: @dataclass looks its module up there.
                sys.modules[name] = module
                with self._noting_threads(path.stem):
                    spec.loader.exec_module(module)
            except PLUGIN_FAILURES as error:
                sys.modules.pop(name, None)
                self.fail(info, error)
                continue
            version = getattr(module, "__version__", None)
            info.version = str(version) if version is not None else None
            self.add_plugin(module, info)

    # -- what the CLI asks ----------------------------------------------------------------------

    def command_hooks(self) -> list[tuple[str, Callable[[Any], None]]]:
        """Each plugin's ``gankit_register_commands`` in registration order, as (plugin name, a
        function of the app that calls the hook with that app and this host). The CLI adds the
        commands (:mod:`gankit.cli.plugin_commands`) and reports a failing plugin with :meth:`fail`."""
        hooks = []
        for impl in self.pm.hook.gankit_register_commands.get_hookimpls():
            def call(app: Any, impl: Any = impl) -> None:
                impl.function(**args_for(impl, app=app, host=self))

            hooks.append((self.pm.get_name(impl.plugin) or "?", call))
        return hooks

    def plugin_at_fault(self, error: BaseException) -> tuple[str, str] | None:
        """(plugin name, "file:line") of the innermost frame of ``error``'s traceback that runs the
        code of a plugin this host loaded, or ``None`` when no plugin code was running."""
        found = None
        tb = error.__traceback__
        while tb is not None:
            module = str(tb.tb_frame.f_globals.get("__name__", "")).split(".")[0]
            if module in self._plugin_packages:
                found = (self._plugin_packages[module], f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}")
            tb = tb.tb_next
        return found

    def plugin_of_module(self, module: str | None) -> str | None:
        """The plugin whose package ``module`` (a dotted name) belongs to, or ``None``."""
        return self._plugin_packages.get(str(module or "").split(".")[0])

    def plugin_of_code(self, code: Any, module: str | None = None) -> str | None:
        """The plugin that ``code`` (a code object: its file) or ``module`` comes from, or ``None``."""
        found = self.plugin_of_module(module)
        for name, loaded in list(sys.modules.items()) if found is None and code is not None else []:
            if getattr(loaded, "__file__", None) == code.co_filename and self.plugin_of_module(name):
                return self.plugin_of_module(name)
        return found

    @contextlib.contextmanager
    def _noting_threads(self, plugin: str) -> Iterator[None]:
        before = set(threading.enumerate())
        try:
            yield
        finally:
            self._threads.update(dict.fromkeys(set(threading.enumerate()) - before, plugin))

    def plugin_of_thread(self, thread: Any) -> str | None:
        """The plugin that started ``thread`` (while it loaded, or from its own code: the thread's
        target or class), or whose code it is running now; ``None`` when none is a plugin's."""
        if thread in self._threads:
            return self._threads[thread]
        target = getattr(thread, "_target", None)
        for module in (getattr(target, "__module__", None), type(thread).__module__):
            if self.plugin_of_module(module):
                return self.plugin_of_module(module)
        frame = sys._current_frames().get(thread.ident or -1)
        while frame is not None:
            found = self.plugin_of_module(frame.f_globals.get("__name__"))
            if found:
                return found
            frame = frame.f_back
        return None


def _make_register(bucket: list[Any], kind: type, owner: str) -> Callable[[Any], None]:
    def register(spec: Any) -> None:
        if not isinstance(spec, kind):
            raise GankitError(f"plugin '{owner}' registered {spec!r}; expected a {kind.__name__}")
        bucket.append(spec)

    return register


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


def loaded_host() -> PluginHost | None:
    """The process-wide host if :func:`get_host` has loaded it, else ``None``: loads nothing."""
    return _host
