"""Plugin loading: entry points of fake distributions, the environment switches, --plugins-dir,
version declarations, plugin commands, and a test for every hook (checked by introspection)."""

from __future__ import annotations

import importlib
import inspect
import itertools
import json
import sys
import textwrap
import types
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from gankit import __version__, hookimpl, hookspecs
from gankit.cli import build_app
from gankit.errors import GankitError
from gankit.host import PluginHost, PluginInfo
from gankit.registry import CallbackSpec, DatasetSpec, LossSpec, VariantSpec
from gankit.train import provenance

_unique = itertools.count()

VARIANT_PLUGIN = '''
from dataclasses import dataclass
from gankit import TrainConfig, VariantSpec, hookimpl

@dataclass
class Config(TrainConfig):
    pass

@hookimpl
def gankit_register_variants(register):
    register(VariantSpec("{variant}", "a fake variant", Config, build=lambda config, data: None))
'''

LOSS_PLUGIN = '''
from gankit import LossSpec, hookimpl

@hookimpl
def gankit_register_losses(register):
    register(LossSpec("{loss}", "a fake loss", build=lambda config: None))
'''


@pytest.fixture
def site(tmp_path, monkeypatch, forget_modules_from):
    """A fresh folder on sys.path to install fake distributions into; their modules are forgotten
    afterwards so no other test imports them."""
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    before = set(sys.modules)
    yield folder
    forget_modules_from(folder, before)


def install(site: Path, plugin: str, source: str, *, version: str = "1.0",
            requires: tuple[str, ...] = ()) -> str:
    """Write a distribution ``gankit-PLUGIN`` whose entry point ``PLUGIN`` is a module with
    ``source``, as pip would lay it out; returns the module's (unique) name."""
    module = f"fake_plugin_{plugin.replace('-', '_')}_{next(_unique)}"
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"gankit_{plugin.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    metadata = [f"Metadata-Version: 2.1", f"Name: gankit-{plugin}", f"Version: {version}"]
    metadata += [f"Requires-Dist: {line}" for line in requires]
    (info / "METADATA").write_text("\n".join(metadata) + "\n")
    (info / "entry_points.txt").write_text(f"[gankit]\n{plugin} = {module}\n")
    importlib.invalidate_caches()
    return module


def load(monkeypatch, only: str) -> PluginHost:
    """A host with the built-ins and only the named entry points (installed plugins stay out)."""
    monkeypatch.setenv("GANKIT_LOAD_PLUGINS", only)
    host = PluginHost()
    host.load_builtins()
    host.load_entry_points()
    return host


def stderr_lines(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]


def panel(help_text: str, title: str) -> str:
    """The lines of one section of ``--help`` ("Title:" then its indented lines)."""
    lines = help_text.splitlines()
    start = lines.index(f"{title}:")
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].startswith(" ")), len(lines))
    return "\n".join(lines[start:end])


def module_with(**hooks) -> types.ModuleType:
    module = types.ModuleType(f"inline_plugin_{next(_unique)}")
    for name, function in hooks.items():
        setattr(module, name, hookimpl(function))
    return module


# -- failure isolation --------------------------------------------------------------------------------


def test_a_broken_plugin_is_one_line_and_the_rest_keep_working(site, monkeypatch, capsys):
    install(site, "broken", "raise ImportError('needs torch_geometric')", version="2.0")
    install(site, "good", VARIANT_PLUGIN.format(variant="fine"))
    host = load(monkeypatch, "broken,good")

    [line] = stderr_lines(capsys)
    assert line == ("gankit: plugin 'broken' (gankit-broken 2.0) failed to load: ImportError: needs "
                    "torch_geometric. Disable it with GANKIT_DISABLE_PLUGINS=broken.")
    assert host.plugins["broken"].state == "failed"
    assert host.plugins["good"].state == "loaded" and "fine" in host.variants


def test_a_plugin_failing_half_way_through_registering_leaves_nothing_behind(capsys):
    def gankit_register_variants(register):
        register(VariantSpec("half", "registered before the crash", object, build=print))
        raise RuntimeError("oops")

    host = PluginHost()
    assert not host.add_plugin(module_with(gankit_register_variants=gankit_register_variants),
                               PluginInfo("half-plugin", "loaded"))
    assert "half" not in host.variants and host.plugins["half-plugin"].state == "failed"
    assert "RuntimeError: oops" in capsys.readouterr().err


def test_registering_something_that_is_not_a_spec_fails_the_plugin(capsys):
    host = PluginHost()
    host.add_plugin(module_with(gankit_register_losses=lambda register: register("hinge")),
                    PluginInfo("sloppy", "loaded"))
    assert "expected a LossSpec" in host.plugins["sloppy"].error


def test_strict_mode_reraises_the_plugins_own_error(site, monkeypatch):
    install(site, "broken", "raise ImportError('needs torch_geometric')")
    monkeypatch.setenv("GANKIT_STRICT_PLUGINS", "1")
    with pytest.raises(ImportError, match="torch_geometric"):
        load(monkeypatch, "broken")


def test_two_plugins_with_one_name_both_load_and_the_bare_name_names_both_choices(site, monkeypatch):
    install(site, "first", VARIANT_PLUGIN.format(variant="twin"))
    install(site, "second", VARIANT_PLUGIN.format(variant="twin"))
    host = load(monkeypatch, "first,second")
    assert host.plugins["first"].state == host.plugins["second"].state == "loaded"
    assert host.variants.owner("first:twin") == "first" and host.variants.owner("second:twin") == "second"
    with pytest.raises(GankitError, match=r"^Variant 'twin' is registered by 2 plugins \(first, second\); "
                                          r"say which: 'first:twin' or 'second:twin'\.$"):
        host.variants.get("twin")


# -- choosing plugins ----------------------------------------------------------------------------------


def test_load_plugins_chooses_and_disable_plugins_skips(site, monkeypatch):
    install(site, "alpha", VARIANT_PLUGIN.format(variant="alpha-gan"))
    install(site, "beta", VARIANT_PLUGIN.format(variant="beta-gan"))
    host = load(monkeypatch, "alpha")
    assert host.plugins["alpha"].state == "loaded" and host.plugins["beta"].state == "disabled"
    assert "beta-gan" not in host.variants

    monkeypatch.setenv("GANKIT_DISABLE_PLUGINS", "alpha")
    host = load(monkeypatch, "alpha,beta")
    assert host.plugins["alpha"].state == "disabled" and "beta-gan" in host.variants


def test_an_empty_load_plugins_loads_no_entry_point_but_keeps_the_builtins(site, monkeypatch):
    install(site, "alpha", VARIANT_PLUGIN.format(variant="alpha-gan"))
    host = load(monkeypatch, "")
    assert all(info.state == "disabled" for name, info in host.plugins.items() if name != "gankit")
    assert "bce" in host.losses and "mnist" in host.datasets


def test_plugins_dir_loads_each_file_reports_broken_ones_and_honours_disable(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "one-off"
    folder.mkdir()
    (folder / "myloss.py").write_text(LOSS_PLUGIN.format(loss="my-loss") + "__version__ = '0.3'\n")
    (folder / "typo.py").write_text("def broken(:\n")
    (folder / "skipped.py").write_text(LOSS_PLUGIN.format(loss="skipped-loss"))
    monkeypatch.setenv("GANKIT_DISABLE_PLUGINS", "skipped")
    host = PluginHost()
    host.load_builtins()
    host.load_plugins_dir(folder)

    assert host.losses.owner("my-loss") == "myloss" and host.plugins["myloss"].version == "0.3"
    assert host.plugins["typo"].state == "failed" and host.plugins["skipped"].state == "disabled"
    [line] = stderr_lines(capsys)
    assert line.startswith("gankit: plugin 'typo' failed to load: SyntaxError:")
    with pytest.raises(GankitError, match="is not a folder"):
        host.load_plugins_dir(folder / "myloss.py")


def test_a_plugins_dir_file_may_define_its_config_as_a_dataclass_with_postponed_annotations(tmp_path):
    # @dataclass looks the class's module up in sys.modules; a one-off file must be there while it
    # runs, as an imported module is, and a failed one must not be left behind.
    folder = tmp_path / "one-off"
    folder.mkdir()
    (folder / "lazy.py").write_text("from __future__ import annotations\n"
                                    + VARIANT_PLUGIN.format(variant="lazy").replace("    pass", "    width: int = 3"))
    (folder / "raising.py").write_text("raise RuntimeError('nope')\n")
    host = PluginHost()
    host.load_plugins_dir(folder)
    assert host.plugins["lazy"].state == "loaded", host.plugins["lazy"].error
    assert host.variants.get("lazy").config_class().width == 3
    assert host.plugins["raising"].state == "failed" and "gankit_local_raising" not in sys.modules


def test_plugins_dir_option_of_the_cli(tmp_path):
    folder = tmp_path / "one-off"
    folder.mkdir()
    (folder / "myloss.py").write_text(LOSS_PLUGIN.format(loss="my-loss"))
    host = PluginHost()
    host.load_builtins()
    result = CliRunner().invoke(build_app(host), ["--plugins-dir", str(folder), "list", "--json"])
    assert result.exit_code == 0, result.output
    assert {"name": "my-loss", "qualified_name": "myloss:my-loss", "summary": "a fake loss",
            "plugin": "myloss"} in json.loads(result.output)["losses"]
    missing = CliRunner().invoke(build_app(host), ["--plugins-dir", str(tmp_path / "nope"), "list"])
    assert missing.exit_code == 2 and "is not a folder" in missing.output


# -- versions ----------------------------------------------------------------------------------------


def test_an_incompatible_plugin_warns_in_one_line_and_still_loads(site, monkeypatch, capsys):
    install(site, "future", VARIANT_PLUGIN.format(variant="future-gan"), version="3.1",
            requires=("torch>=2", "gankit>=99.0"))
    host = load(monkeypatch, "future")
    [line] = stderr_lines(capsys)
    assert line == (f"gankit: plugin 'future' (gankit-future 3.1) supports gankit >=99.0, but this is "
                    f"gankit {__version__}; it is loaded anyway and may misbehave. Install a matching "
                    "version, or disable it with GANKIT_DISABLE_PLUGINS=future.")
    assert host.plugins["future"].state == "incompatible" and "future-gan" in host.variants
    assert host.plugins["future"].as_dict()["requires_gankit"] == ">=99.0"


def test_a_matching_or_extra_only_requirement_is_compatible(site, monkeypatch, capsys):
    install(site, "current", VARIANT_PLUGIN.format(variant="current-gan"), requires=("gankit>=0.1",))
    install(site, "devonly", VARIANT_PLUGIN.format(variant="dev-gan"),
            requires=('gankit>=99; extra == "dev"',))
    host = load(monkeypatch, "current,devonly")
    assert host.plugins["current"].state == "loaded" and host.plugins["devonly"].state == "loaded"
    assert stderr_lines(capsys) == []


def test_a_failing_incompatible_plugin_says_the_mismatch_may_be_why(site, monkeypatch, capsys):
    install(site, "old", "from gankit import something_removed", version="0.9",
            requires=("gankit<0.1",))
    load(monkeypatch, "old")
    [line] = stderr_lines(capsys)
    assert f"It supports gankit <0.1, not {__version__}, which may be why." in line


def test_a_plugins_dir_file_declares_its_range_with_gankit_requires(tmp_path, capsys):
    folder = tmp_path / "one-off"
    folder.mkdir()
    (folder / "old.py").write_text('GANKIT_REQUIRES = "<0.1"\n__version__ = "0.0.1"\n'
                                   + LOSS_PLUGIN.format(loss="old-loss"))
    (folder / "garbled.py").write_text('GANKIT_REQUIRES = "about 0.1"\n')
    host = PluginHost()
    host.load_plugins_dir(folder)
    assert host.plugins["old"].state == "incompatible" and "old-loss" in host.losses
    assert "GANKIT_REQUIRES = 'about 0.1' is not a version specifier" in host.plugins["garbled"].error
    lines = stderr_lines(capsys)
    assert any(line.startswith("gankit: plugin 'old' (0.0.1) supports gankit <0.1") for line in lines)


def test_gankit_plugins_shows_broken_incompatible_and_disabled_states(site, monkeypatch):
    install(site, "broken", "raise ImportError('nope')")
    install(site, "future", VARIANT_PLUGIN.format(variant="future-gan"), requires=("gankit>=99",))
    install(site, "off", VARIANT_PLUGIN.format(variant="off-gan"))
    monkeypatch.setenv("GANKIT_DISABLE_PLUGINS", "off")
    host = load(monkeypatch, "broken,future,off")
    result = CliRunner().invoke(build_app(host), ["plugins"])
    states = {entry["name"]: entry["state"] for entry in json.loads(result.output)}
    assert states == {**states, "gankit": "loaded", "broken": "failed", "future": "incompatible",
                      "off": "disabled"}


def test_checkpoints_record_the_distribution_and_version_that_built_the_variant(site, monkeypatch):
    install(site, "shipped", VARIANT_PLUGIN.format(variant="shipped-gan"), version="1.2.3")
    host = load(monkeypatch, "shipped")
    assert provenance(host, "shipped-gan") == {"name": "shipped", "distribution": "gankit-shipped",
                                                  "version": "1.2.3"}


# -- every hook has a test ------------------------------------------------------------------------------


def hook_names() -> list[str]:
    return [name for name, function in inspect.getmembers(hookspecs, inspect.isfunction)
            if hasattr(function, "gankit_spec")]


def test_every_hook_has_a_test():
    assert len(hook_names()) >= 4
    missing = [name for name in hook_names() if f"test_hook_{name}" not in globals()]
    assert not missing, f"hooks without a test_hook_<name> in tests/test_plugins.py: {missing}"


def test_hook_gankit_register_variants():
    spec = VariantSpec("hooked", "via the hook", object, build=print)
    host = PluginHost()
    assert host.add_plugin(module_with(gankit_register_variants=lambda register: register(spec)),
                           PluginInfo("hooker", "loaded"))
    assert host.variants.get("hooked") is spec and host.variants.owner("hooked") == "hooker"
    assert host.plugins["hooker"].registered == {"variants": ["hooked"]}


def test_hook_gankit_register_losses():
    spec = LossSpec("hooked-loss", "via the hook", build=print)
    host = PluginHost()
    host.add_plugin(module_with(gankit_register_losses=lambda register: register(spec)),
                    PluginInfo("hooker", "loaded"))
    assert host.losses.get("hooked-loss") is spec and host.losses.owner("hooked-loss") == "hooker"


def test_hook_gankit_register_datasets():
    spec = DatasetSpec("dots", "a fake dataset", (1, 8, 8), None, load=print)
    host = PluginHost()
    host.add_plugin(module_with(gankit_register_datasets=lambda register: register(spec)),
                    PluginInfo("hooker", "loaded"))
    assert host.datasets.get("dots").info.image_shape == (1, 8, 8)


def test_hook_gankit_register_callbacks():
    spec = CallbackSpec("counter", "counts epochs", build=print)
    host = PluginHost()
    host.add_plugin(module_with(gankit_register_callbacks=lambda register: register(spec)),
                    PluginInfo("hooker", "loaded"))
    assert host.callbacks.get("counter") is spec and host.callbacks.owner("counter") == "hooker"
    assert host.plugins["hooker"].registered == {"callbacks": ["counter"]}


def test_hook_gankit_register_commands():
    def gankit_register_commands(app):
        @app.command()
        def hello(name: str = "world") -> None:
            """Greet someone."""
            typer.echo(f"hello {name}")

        @app.command(rich_help_panel="Fun")
        def wave() -> None:
            """Wave."""

    host = PluginHost()
    host.load_builtins()
    host.add_plugin(module_with(gankit_register_commands=gankit_register_commands),
                    PluginInfo("greeter", "loaded"))
    app = build_app(host)
    runner = CliRunner()
    assert runner.invoke(app, ["hello", "--name", "you"]).output == "hello you\n"
    help_text = runner.invoke(app, ["--help"], terminal_width=100).output
    assert "hello" in panel(help_text, "Plugin: greeter") and "Greet someone." in help_text
    assert "wave" in panel(help_text, "Fun") and "wave" not in panel(help_text, "Plugin: greeter")
    assert host.plugins["greeter"].registered["commands"] == ["hello", "wave"]


def test_a_plugin_command_cannot_take_a_taken_name(capsys):
    def gankit_register_commands(app):
        @app.command("extra")
        def extra() -> None:
            """An extra command."""

        @app.command("train")
        def my_train() -> None:
            """Shadows the core command."""

    host = PluginHost()
    host.load_builtins()
    host.add_plugin(module_with(gankit_register_commands=gankit_register_commands),
                    PluginInfo("pushy", "loaded"))
    app = build_app(host)
    assert host.plugins["pushy"].state == "failed"
    assert "Command 'train' is registered twice: by 'gankit' and by 'pushy'" in host.plugins["pushy"].error
    help_text = CliRunner().invoke(app, ["--help"]).output
    assert "extra" not in help_text and "Shadows" not in help_text
    assert "Disable it with GANKIT_DISABLE_PLUGINS=pushy." in capsys.readouterr().err


# -- mistakes pluggy would let pass silently ------------------------------------------------------------


def _module_from_source(tmp_path, name, source):
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    return path


MISTAKES = '''
from gankit import LossSpec, hookimpl

@hookimpl
def gankit_register_loss(register):  # misspelt: the hook is gankit_register_losses
    register(LossSpec("never", "never registered", print))

def gankit_register_variants(register):  # no @hookimpl: pluggy ignores it
    pass
'''

WRONG_ARGUMENT = '''
from gankit import LossSpec, hookimpl

@hookimpl
def gankit_register_losses(reg):  # the hook's argument is called `register`
    reg(LossSpec("never", "never registered", print))
'''


def test_gankit_plugins_reports_a_misspelt_hook_and_a_missing_hookimpl(tmp_path, capsys):
    directory = tmp_path / "plugins"
    directory.mkdir()
    _module_from_source(directory, "sloppy", MISTAKES)
    host = PluginHost()
    host.load_builtins()
    host.load_plugins_dir(directory)
    warned = capsys.readouterr().err
    assert "gankit_register_loss is not a gankit hook (did you mean gankit_register_losses?)" in warned
    assert "gankit_register_variants has no @hookimpl, so gankit ignores it" in warned
    assert len([line for line in warned.splitlines() if line.strip()]) == 2  # one line each
    result = CliRunner().invoke(build_app(host), ["plugins"])
    [info] = [p for p in json.loads(result.stdout) if p["name"] == "sloppy"]
    assert info["state"] == "loaded" and len(info["problems"]) == 2 and info["registered"] == {}


def test_a_wrong_argument_name_fails_the_plugin_naming_the_expected_one(tmp_path, capsys):
    directory = tmp_path / "plugins"
    directory.mkdir()
    _module_from_source(directory, "renamed", WRONG_ARGUMENT)
    host = PluginHost()
    host.load_builtins()
    host.load_plugins_dir(directory)
    [line] = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert "hook gankit_register_losses takes (register), but gankit_register_losses asks for (reg); " \
           "rename reg" in line and "GANKIT_DISABLE_PLUGINS=renamed" in line
    assert host.plugins["renamed"].state == "failed" and "never" not in host.losses


def test_a_correct_plugin_has_no_problems():
    host = PluginHost()
    host.load_builtins()
    host.load_entry_points()
    assert all(info.problems == [] for info in host.plugins.values())


def test_commands_are_handed_the_host_that_built_the_app():
    seen = []

    def gankit_register_commands(app, host):
        seen.append(host)

        @app.command()
        def variants() -> None:
            """List the variants this CLI's host knows."""
            typer.echo(",".join(host.variants.names()))

    host = PluginHost()
    host.load_builtins()
    host.add_plugin(module_with(gankit_register_commands=gankit_register_commands), PluginInfo("lister", "loaded"))
    app = build_app(host)
    assert seen == [host]
    assert CliRunner().invoke(app, ["variants"]).output == "\n"  # this host has no variants
