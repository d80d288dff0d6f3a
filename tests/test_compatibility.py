"""gankit keeps what a user installed working (docs/compatibility.md), held to it by a frozen
plugin: tests/fixtures/gankit-legacy, written against gankit 0.1 and never edited. It registers a
loss named ``ragan``, which gankit itself registered later; it must load whole, keep the bare name,
and pass its own tests, while gankit's loss stays reachable as ``gankit:ragan``. A run records the
qualified names it was made with, so installing or removing a plugin never changes what it rebuilds.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gankit.host import PluginHost
from gankit.testing import invoke

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "gankit-legacy"
TINY = ["--max-images", "200", "--no-progress"]


def install(site: Path, name: str, module: str, version: str = "0.1.0") -> None:
    """A distribution's metadata as pip lays it out: entry point ``name`` -> ``module``."""
    info = site / f"gankit_{name}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: gankit-{name}\nVersion: {version}\n"
                                   "Requires-Dist: gankit>=0.1\n")
    (info / "entry_points.txt").write_text(f"[gankit]\n{name} = {module}\n")
    importlib.invalidate_caches()


@pytest.fixture
def site(tmp_path, monkeypatch, forget_modules_from):
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(FIXTURE))
    monkeypatch.syspath_prepend(str(folder))
    before = set(sys.modules)
    yield folder
    forget_modules_from(FIXTURE, before)
    forget_modules_from(folder, before)


def host_with(monkeypatch, plugins: str) -> PluginHost:
    monkeypatch.setenv("GANKIT_LOAD_PLUGINS", plugins)
    host = PluginHost()
    host.load_builtins()
    host.load_entry_points()
    return host


@pytest.fixture
def legacy(site, monkeypatch) -> PluginHost:
    """gankit's built-ins, vanilla, and gankit-legacy installed as a distribution."""
    install(site, "legacy", "gankit_legacy")
    return host_with(monkeypatch, "vanilla,legacy")


def test_a_plugin_registering_a_builtin_name_loads_whole_and_keeps_the_bare_name(legacy):
    info = legacy.plugins["legacy"]
    assert info.state == "loaded" and info.error is None
    assert info.registered == {"variants": ["tiny-mlp"], "losses": ["ragan"], "datasets": ["blobs"],
                               "callbacks": ["count-steps"]}
    assert legacy.losses.owner("ragan") == "legacy"
    assert legacy.losses.owner("gankit:ragan") == "gankit"
    assert legacy.losses.owner("legacy:ragan") == legacy.losses.owner("gankit-legacy:ragan") == "legacy"


def test_gankit_plugins_and_list_say_what_each_name_means(legacy):
    report = {p["name"]: p for p in json.loads(invoke(["plugins"], host=legacy).output)}
    assert report["legacy"]["name_clashes"] == [
        "loss 'ragan' is also 'gankit:ragan': 'ragan' means legacy's, and this plugin's is 'legacy:ragan'"]
    assert report["gankit"]["name_clashes"] == [
        "loss 'ragan' is also 'legacy:ragan': 'ragan' means legacy's, and this plugin's is 'gankit:ragan'"]
    losses = json.loads(invoke(["list", "--json"], host=legacy).output)["losses"]
    assert {(row["name"], row["plugin"]) for row in losses if "ragan" in row["name"]} == {
        ("ragan", "legacy"), ("gankit:ragan", "gankit")}


def names_of(run: Path) -> dict:
    config = json.loads((run / "config.json").read_text())
    return {**config["qualified_names"], "loss_plugin": config["loss_plugin"]}


def test_the_qualified_name_trains_gankits_loss_and_the_bare_one_the_plugins(legacy, tmp_path):
    for loss, qualified in (("gankit:ragan", "gankit:ragan"), ("ragan", "legacy:ragan")):
        run = tmp_path / loss.replace(":", "-")
        result = invoke(["train", "vanilla", "--epochs", 1, "--loss", loss, *TINY, "--out", run], host=legacy)
        assert result.exit_code == 0, result.output
        assert names_of(run) == {"variant": "vanilla:vanilla", "loss": qualified, "dataset": "gankit:mnist",
                                 "callbacks": [], "loss_plugin": qualified.split(":")[0]}
    result = invoke(["train", "tiny-mlp", "--dataset", "legacy:blobs", "--callback", "legacy:count-steps",
                     "--set", "loss=gankit:ragan", "--epochs", 1, "--no-progress", "--out", tmp_path / "q"],
                    host=legacy)
    assert result.exit_code == 0, result.output
    assert names_of(tmp_path / "q")["callbacks"] == ["legacy:count-steps"]


def test_a_plugin_installed_later_changes_nothing_a_run_rebuilds(site, monkeypatch, tmp_path):
    run = tmp_path / "run"
    before = host_with(monkeypatch, "vanilla")
    assert invoke(["train", "vanilla", "--epochs", 1, "--loss", "ragan", *TINY, "--out", run], host=before).exit_code == 0
    install(site, "legacy", "gankit_legacy")
    after = host_with(monkeypatch, "vanilla,legacy")
    from gankit_legacy.losses import LegacyRelativisticLoss

    def never(*args, **kwargs):
        raise AssertionError("the resumed run trained with the plugin's ragan")

    monkeypatch.setattr(LegacyRelativisticLoss, "discriminator_loss", never)
    result = invoke(["train", "vanilla", "--epochs", 2, *TINY, "--out", run, "--resume"], host=after)
    assert result.exit_code == 0, result.output
    assert names_of(run)["loss"] == "gankit:ragan"
    config = json.loads((run / "config.json").read_text())  # a run from before qualified names
    del config["qualified_names"]
    (run / "config.json").write_text(json.dumps(config))
    result = invoke(["train", "vanilla", "--epochs", 3, *TINY, "--out", run, "--resume"], host=after)
    assert result.exit_code == 0, result.output
    assert names_of(run)["loss"] == "gankit:ragan"


def test_a_run_whose_plugin_is_gone_is_refused_in_one_line(legacy, monkeypatch, tmp_path):
    run = tmp_path / "run"
    trained = invoke(["train", "tiny-mlp", "--dataset", "blobs", "--epochs", 1, "--no-progress", "--out", run],
                     host=legacy)
    assert trained.exit_code == 0, trained.output
    config = json.loads((run / "config.json").read_text())
    config["qualified_names"]["variant"] = "elsewhere:tiny-mlp"  # as if made with another plugin's
    (run / "config.json").write_text(json.dumps(config))
    result = invoke(["sample", run, "--n", 4, "--out", tmp_path / "s.png"], host=legacy)
    assert result.exit_code == 2 and not (tmp_path / "s.png").exists()
    assert result.output.strip().splitlines()[-1] == (
        "Error: The run was made with variant 'elsewhere:tiny-mlp', but plugin 'elsewhere' is not installed "
        "or no longer registers it; install it again to rebuild the run.")


def test_two_third_party_plugins_with_one_name_both_load_and_the_bare_name_asks_which(site, monkeypatch, tmp_path):
    install(site, "legacy", "gankit_legacy")
    (site / "other_ragan.py").write_text(textwrap.dedent('''
        from gankit import LossSpec, hookimpl

        @hookimpl
        def gankit_register_losses(register):
            register(LossSpec("ragan", "another ragan", build=lambda config: None))
    '''))
    install(site, "other", "other_ragan")
    host = host_with(monkeypatch, "vanilla,legacy,other")
    assert host.plugins["legacy"].state == host.plugins["other"].state == "loaded"
    result = invoke(["train", "vanilla", "--loss", "ragan", *TINY, "--out", tmp_path / "run"], host=host)
    assert result.exit_code == 2 and not (tmp_path / "run").exists()
    assert "Loss 'ragan' is registered by 2 plugins (legacy, other); say which: 'legacy:ragan' or " \
           "'other:ragan'." in result.output
    result = invoke(["train", "vanilla", "--loss", "gankit:ragan", "--epochs", 1, *TINY, "--out", tmp_path / "g"],
                    host=host)
    assert result.exit_code == 0, result.output


def test_the_frozen_plugin_passes_its_own_tests_unchanged(tmp_path):
    """Its tests import gankit 0.1's names (gankit.build_app, gankit.plugins.set_host) and pass
    sample --force; they run as its author runs them, in a process of their own."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(FIXTURE), os.environ.get("PYTHONPATH", "")])}
    env.pop("GANKIT_LOAD_PLUGINS", None)
    # -c: the fixture's own settings (none), not gankit's pyproject or tests/conftest.py.
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c",
                             str(FIXTURE / "pyproject.toml"), str(FIXTURE / "tests")],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "10 passed" in result.stdout and "failed" not in result.stdout


def test_resuming_with_another_plugins_variant_of_the_same_name_is_refused(legacy, tmp_path):
    run = tmp_path / "run"
    assert invoke(["train", "tiny-mlp", "--dataset", "blobs", "--epochs", 1, "--no-progress", "--out", run],
                  host=legacy).exit_code == 0
    config = json.loads((run / "config.json").read_text())
    config["qualified_names"]["variant"] = "gankit:tiny-mlp"  # as if another plugin's tiny-mlp made it
    (run / "config.json").write_text(json.dumps(config))
    result = invoke(["train", "legacy:tiny-mlp", "--epochs", 2, "--no-progress", "--out", run, "--resume"],
                    host=legacy)
    assert result.exit_code == 2
    assert "Run was trained with variant 'gankit:tiny-mlp', not 'legacy:tiny-mlp'" in result.output
