"""`gankit zoo`: every registered variant (a third-party one installed as a distribution included)
trained alike, the table in three formats, rows added without training the others again, a
protocol kept, and a killed zoo resumed.

The host holds vanilla and a fake third-party distribution, ``gankit-zoo-tiny``, with two tiny
MLP variants: ``tiny-mlp``, and ``colour-only``, which cannot train on greyscale digits.
"""

from __future__ import annotations

import importlib
import json
import math
import shutil
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from gankit import DataInfo, Discriminator, Generator, Networks, TrainConfig, VariantSpec, hookimpl
from gankit.cli import build_app
from gankit.host import PluginHost, PluginInfo

TINY = ["--g-steps", "1", "--max-images", "100", "--n", "300", "--no-progress", "--threads", "1"]

THIRD_PARTY = '''
import math
from dataclasses import dataclass

import torch
from torch import nn

from gankit import Discriminator, Generator, Networks, TrainConfig, VariantSpec, hookimpl


@dataclass
class TinyConfig(TrainConfig):
    batch_size: int = 50
    latent_dim: int = 16


class TinyGenerator(Generator):
    def __init__(self, data, latent_dim):
        super().__init__(latent_dim=latent_dim, image_shape=data.image_shape)
        self.net = nn.Sequential(nn.Linear(latent_dim, math.prod(data.image_shape)), nn.Tanh())

    def forward(self, z, labels=None):
        return self.net(z).view(-1, *self.image_shape)


class TinyDiscriminator(Discriminator):
    def __init__(self, data):
        super().__init__(image_shape=data.image_shape)
        self.net = nn.Linear(math.prod(data.image_shape), 1)

    def forward(self, x, labels=None):
        return self.net(x.flatten(1)).squeeze(1)


def build(config, data):
    return Networks(TinyGenerator(data, config.latent_dim), TinyDiscriminator(data))


def colour_only(data):
    return None if data.image_shape[0] == 3 else "it needs 3-channel images"


@hookimpl
def gankit_register_variants(register):
    register(VariantSpec("tiny-mlp", "a third-party test MLP", TinyConfig, build))
    register(VariantSpec("colour-only", "a colour-only test MLP", TinyConfig, build, supports=colour_only))
'''


@dataclass
class LateConfig(TrainConfig):
    batch_size: int = 50
    latent_dim: int = 16


class LateGenerator(Generator):
    def __init__(self, data: DataInfo, latent_dim: int) -> None:
        super().__init__(latent_dim=latent_dim, image_shape=data.image_shape, num_classes=data.num_classes)
        self.embed = nn.Embedding(data.num_classes, 4)
        self.net = nn.Sequential(nn.Linear(latent_dim + 4, math.prod(data.image_shape)), nn.Tanh())

    def forward(self, z, labels=None):
        return self.net(torch.cat([z, self.embed(labels)], 1)).view(-1, *self.image_shape)


class LateDiscriminator(Discriminator):
    def __init__(self, data: DataInfo) -> None:
        super().__init__(image_shape=data.image_shape, num_classes=data.num_classes)
        self.embed = nn.Embedding(data.num_classes, 4)
        self.net = nn.Linear(math.prod(data.image_shape) + 4, 1)

    def forward(self, x, labels=None):
        return self.net(torch.cat([x.flatten(1), self.embed(labels)], 1)).squeeze(1)


class LatePlugin:
    """A conditional variant installed after the table was made."""

    @hookimpl
    def gankit_register_variants(self, register):
        register(VariantSpec("late-cgan", "a conditional test MLP", LateConfig,
                             lambda config, data: Networks(LateGenerator(data, config.latent_dim),
                                                           LateDiscriminator(data)), conditional=True))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The fake distribution gankit-zoo-tiny, laid out as pip would, on sys.path for this module."""
    folder = tmp_path_factory.mktemp("site")
    (folder / "fake_zoo_tiny.py").write_text(textwrap.dedent(THIRD_PARTY))
    info = folder / "gankit_zoo_tiny-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: gankit-zoo-tiny\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[gankit]\nzoo-tiny = fake_zoo_tiny\n")
    sys.path.insert(0, str(folder))
    importlib.invalidate_caches()
    yield folder
    sys.path.remove(str(folder))
    sys.modules.pop("fake_zoo_tiny", None)


def make_host(*extra) -> PluginHost:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GANKIT_LOAD_PLUGINS", "vanilla,zoo-tiny")  # installed plugins stay out
        host = PluginHost()
        host.load_builtins()
        host.load_entry_points()
    for plugin in extra:
        host.add_plugin(plugin, PluginInfo("late", "loaded"))
    return host


def zoo(*args, host=None):
    return CliRunner().invoke(build_app(host or make_host()), ["zoo", *map(str, args)])


@pytest.fixture(scope="module")
def table(site, tmp_path_factory):
    """`gankit zoo` with no variant named: every registered one, two seeds."""
    out = tmp_path_factory.mktemp("zoo") / "table"
    with pytest.MonkeyPatch.context() as patch:  # conftest's settings; its fixture is per test
        import gankit.train.precision

        patch.setattr(gankit.train.precision, "native_bf16", lambda device: False)
        patch.setenv("GANKIT_OFFLINE", "1")
        patch.setenv("GANKIT_DATA_ROOT", str(tmp_path_factory.getbasetemp() / "empty-data-root"))
        result = zoo("--out", out, "--seeds", "2", *TINY)
    assert result.exit_code == 0, result.output
    return out, result.output, json.loads((out / "zoo.json").read_text())


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.stat().st_size)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_every_registered_variant_is_in_the_table_the_third_party_one_too(table):
    out, output, results = table
    assert [v["name"] for v in results["variants"]] == results["ranking"]["order"]
    assert sorted(results["ranking"]["order"]) == ["tiny-mlp", "vanilla"]
    fids = [v["mean"]["fid"] for v in results["variants"]]
    assert fids == sorted(fids)  # rows by mean FID
    (skipped,) = results["skipped"]
    assert skipped["name"] == "colour-only" and skipped["variant"] == "zoo-tiny:colour-only"
    assert "cannot train on 'mnist': it needs 3-channel images" in skipped["reason"]
    assert "colour-only could not run" in output and "tiny-mlp" in output
    for name in ("tiny-mlp", "vanilla"):
        assert (out / f"runs/{name}/seed-1/checkpoints/last.pt").is_file()
        assert (out / f"grids/{name}.png").stat().st_size > 0
    assert not (out / "runs/colour-only").exists()


def test_each_row_is_the_mean_and_std_of_its_seeds_with_every_number_kept(table):
    _, _, results = table
    assert results["protocol"] == {"dataset": "mnist", "data_options": {}, "max_images": 100,
                                   "budget": {"g_steps": 1}, "seeds": 2, "n": 300, "features": "evaluator",
                                   "ema": True}
    assert results["n"] == 300 and results["real"]["n_real"] == 300
    for variant in results["variants"]:
        assert [run["seed"] for run in variant["runs"]] == [0, 1] and variant["complete"]
        expected = [f"runs/{variant['name']}/seed-{s}" for s in (0, 1)]
        assert [run["run_dir"] for run in variant["runs"]] == expected
        for key in ("fid", "kid", "precision", "recall", "modes_covered"):
            values = [run["scores"][key] for run in variant["runs"]]
            assert variant["mean"][key] == pytest.approx(sum(values) / 2)
            assert variant["std"][key] == pytest.approx(abs(values[0] - values[1]) / math.sqrt(2))
        run = variant["runs"][0]
        assert run["train_seconds"] > 0 and run["images_per_s"] > 0 and run["wall_seconds"] > 0
        assert run["host"]["threads"] == 1 and run["host"]["cpu"]["name"]
    tiny = next(v for v in results["variants"] if v["name"] == "tiny-mlp")
    assert tiny["g_steps"] == [2, 2]  # batch 50 of 100 images: one epoch is the nearest to 1 update


def test_the_table_is_written_as_markdown_and_html(table):
    out, _, results = table
    markdown, page = (out / "zoo.md").read_text(), (out / "zoo.html").read_text()
    assert "| # | variant | FID | KID | precision (k=3) | recall (k=3) | modes covered |" in markdown
    assert "[grid](grids/tiny-mlp.png)" in markdown and "| real vs real |" in markdown
    vanilla = next(v for v in results["variants"] if v["name"] == "vanilla")
    fid = f"{vanilla['mean']['fid']:.2f} ± {vanilla['std']['fid']:.2f}"
    assert fid in markdown and fid in page
    assert "## Could not run" in markdown and "- colour-only: " in markdown
    assert page.count("data:image/png;base64,") == 2 and "grids/" not in page
    cpu = vanilla["runs"][0]["host"]["cpu"]["name"]
    for text in (markdown, page):
        assert f"Timed on {cpu}" in text and f"torch {torch.__version__.split('+')[0]}" in text
        assert "whole epochs nearest to 1 generator updates" in text and "seeds 0..1" in text


def test_a_variant_is_added_without_training_the_others_again(table, tmp_path):
    out = tmp_path / "table"
    shutil.copytree(table[0], out)
    before, stored = snapshot(out / "runs"), json.loads((out / "zoo.json").read_text())
    result = zoo("late-cgan", "--out", out, "--no-progress", host=make_host(LatePlugin()))
    assert result.exit_code == 0, result.output
    assert "vanilla, seed" not in result.output and "late-cgan, seed 1" in result.output
    after = snapshot(out / "runs")
    assert {path: stamp for path, stamp in after.items() if not path.startswith("late-cgan")} == before
    results = json.loads((out / "zoo.json").read_text())
    by_name = {v["name"]: v for v in results["variants"]}
    assert sorted(by_name) == ["late-cgan", "tiny-mlp", "vanilla"]
    for old in stored["variants"]:
        assert by_name[old["name"]]["runs"] == old["runs"]  # reused as stored
    assert "label_accuracy" in by_name["late-cgan"]["mean"] and len(by_name["late-cgan"]["runs"]) == 2
    assert results["protocol"] == stored["protocol"]
    assert "[grid](grids/late-cgan.png)" in (out / "zoo.md").read_text()


@pytest.mark.parametrize("args, message", [
    (["--seeds", "3"], "measured with --seeds 2, not 3"),
    (["--g-steps", "5"], "measured with --g-steps/--epochs g_steps=1, not g_steps=5"),
    (["--epochs", "1"], "not epochs=1"),
    (["--n", "400"], "measured with --n 300, not 400"),
    (["--dataset", "fashion-mnist"], "measured with --dataset mnist, not fashion-mnist"),
    (["--features", "inception"], "measured with --features evaluator, not inception"),
])
def test_another_protocol_is_refused_and_nothing_is_lost(table, args, message):
    out = table[0]
    before = snapshot(out)
    result = zoo("vanilla", "--out", out, *args)
    assert result.exit_code == 2 and message in result.output, result.output
    assert "Drop " in result.output and "another --out" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert snapshot(out) == before


@pytest.mark.parametrize("args, message", [
    (["vanila"], "Did you mean 'vanilla'?"),
    (["vanilla", "--seeds", "0"], "--seeds must be at least 1, got 0"),
    (["vanilla", "--g-steps", "2", "--epochs", "2"], "Give one of --g-steps and --epochs"),
    (["vanilla", "vanilla"], "named twice"),
    (["vanilla", "--features", "pixels"], "expected evaluator or inception"),
])
def test_bad_requests_fail_in_one_line(site, args, message, tmp_path):
    result = zoo(*args, "--out", tmp_path / "out")
    assert result.exit_code == 2 and message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_a_killed_zoo_goes_on_where_it_stopped(site, tmp_path, monkeypatch):
    import gankit.zoo.run as zoo_run

    out, scored, real_score_run = tmp_path / "out", [], zoo_run.score_run

    def killed_at_the_second(*args, **kwargs):
        if scored:
            raise KeyboardInterrupt
        scored.append(args[0])
        return real_score_run(*args, **kwargs)

    monkeypatch.setattr(zoo_run, "score_run", killed_at_the_second)
    result = zoo("vanilla", "--out", out, "--seeds", "2", *TINY)
    assert result.exit_code == 130, result.output
    (kept,) = json.loads((out / "zoo.json").read_text())["variants"]
    assert [run["seed"] for run in kept["runs"]] == [0]  # seed 1 trained, not scored
    first = snapshot(out / "runs/vanilla/seed-0")
    monkeypatch.setattr(zoo_run, "score_run", real_score_run)
    result = zoo("vanilla", "--out", out, "--no-progress")
    assert result.exit_code == 0, result.output
    assert "vanilla, seed 0" not in result.output and "vanilla, seed 1" in result.output
    (variant,) = json.loads((out / "zoo.json").read_text())["variants"]
    assert [run["seed"] for run in variant["runs"]] == [0, 1] and variant["runs"][0] == kept["runs"][0]
    assert snapshot(out / "runs/vanilla/seed-0") == first


def test_another_yardstick_is_refused_before_anything_is_trained(table, tmp_path):
    from gankit.evaluate.evaluator import weights_path

    out = tmp_path / "table"
    shutil.copytree(table[0], out)
    state = torch.load(weights_path("mnist"), weights_only=True)
    state["meta"]["note"] = "retrained"  # another file: another sha256
    torch.save(state, tmp_path / "other.pt")
    before = snapshot(out)
    result = zoo("late-cgan", "--out", out, "--evaluator", tmp_path / "other.pt",
                 host=make_host(LatePlugin()))
    assert result.exit_code == 2 and "was scored with sha256 " in result.output, result.output
    assert "every row of a table is scored alike" in result.output
    assert snapshot(out) == before and not (out / "runs/late-cgan").exists()
