"""`gankit compare`: fair by construction, and its figure and reports.

The conditional variant here is a tiny test-only MLP registered on a fresh plugin host, so these
tests do not depend on any other plugin than the reference one.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from gankit import DataInfo, Discriminator, Generator, Networks, TrainConfig, VariantSpec, hookimpl
from gankit.cli import build_app
from gankit.evaluate.evaluator import sha256_of, weights_path
from gankit.evaluate.score import fixed_inputs
from gankit.host import PluginHost, PluginInfo

TINY = ["--epochs", "1", "--max-images", "100", "--n", "300", "--no-progress"]


@dataclass
class TinyConditionalConfig(TrainConfig):
    batch_size: int = 50
    latent_dim: int = 100  # vanilla's, so both draw exactly the same noise


class TinyConditionalGenerator(Generator):
    def __init__(self, data: DataInfo, latent_dim: int) -> None:
        super().__init__(latent_dim=latent_dim, image_shape=data.image_shape, num_classes=data.num_classes)
        self.embed = nn.Embedding(data.num_classes, 10)
        self.net = nn.Sequential(nn.Linear(latent_dim + 10, 128), nn.ReLU(),
                                 nn.Linear(128, math.prod(data.image_shape)), nn.Tanh())

    def forward(self, z, labels=None):
        return self.net(torch.cat([z, self.embed(labels)], 1)).view(-1, *self.image_shape)


class TinyConditionalDiscriminator(Discriminator):
    def __init__(self, data: DataInfo) -> None:
        super().__init__(image_shape=data.image_shape, num_classes=data.num_classes)
        self.embed = nn.Embedding(data.num_classes, 10)
        self.net = nn.Sequential(nn.Linear(math.prod(data.image_shape) + 10, 128), nn.LeakyReLU(0.2),
                                 nn.Linear(128, 1))

    def forward(self, x, labels=None):
        return self.net(torch.cat([x.flatten(1), self.embed(labels)], 1)).squeeze(1)


def build_tiny(config, data):
    return Networks(TinyConditionalGenerator(data, config.latent_dim), TinyConditionalDiscriminator(data))


class TinyConditionalPlugin:
    @hookimpl
    def gankit_register_variants(self, register):
        register(VariantSpec("tiny-cgan", "a test-only conditional MLP", TinyConditionalConfig,
                             build_tiny, conditional=True))


def make_host() -> PluginHost:
    host = PluginHost()
    host.load_builtins()
    host.load_entry_points()
    host.add_plugin(TinyConditionalPlugin(), PluginInfo("tiny-cgan", "loaded"))
    return host


def invoke(*args):
    return CliRunner().invoke(build_app(make_host()), ["compare", *args])


@pytest.fixture(scope="module")
def comparison(tmp_path_factory):
    out = tmp_path_factory.mktemp("compare") / "out"
    result = invoke("vanilla", "tiny-cgan", "--seeds", "2", "--out", str(out), *TINY)
    assert result.exit_code == 0, result.output
    return out, result.output, json.loads((out / "results.json").read_text())


def test_compare_writes_every_output(comparison):
    out, output, _ = comparison
    for name in ("side_by_side.png", "closest_pairs.png", "losses.png", "report.md", "report.html",
                 "results.json"):
        assert (out / name).stat().st_size > 0, name
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 3 and "src='side_by_side.png'" not in html
    markdown = (out / "report.md").read_text()
    assert "![side by side](side_by_side.png)" in markdown and "| real vs real |" in markdown
    assert "![closest pairs](closest_pairs.png)" in markdown and "near-copies of a training image" in markdown
    assert "never precision" in markdown  # the highlighting rule is stated under the table
    assert "real vs real" in output and "FID" in output  # the Rich table
    # Each metric's name leads to its one-line meaning, in both reports; the recipes are tabled.
    assert "<a href='#metric-0'>FID</a>" in html and "<dt id='metric-0'><b>FID</b>" in html
    assert "## What the metrics mean" in markdown and "- **FID** (lower is better): " in markdown
    assert "## Recipes" in markdown and "| D steps per G step | 1 | 1 |" in markdown
    assert "<h2>Recipes</h2>" in html and "recipes" in output
    assert "same noise (seed 0, z 100-d" in markdown  # both z are 100-d: truly the same noise


def test_every_variant_is_trained_and_scored_alike(comparison):
    out, _, results = comparison
    vanilla, tiny = results["variants"]
    assert results["n"] == 300 and results["real"]["n_real"] == 300 and results["seeds"] == 2
    assert results["evaluator"]["sha256"] == sha256_of(weights_path("mnist"))
    for variant in (vanilla, tiny):
        assert variant["source"] == "trained" and variant["epochs"] == [1, 1]
        assert [run["seed"] for run in variant["runs"]] == [0, 1]
        assert {run["train_images"] for run in variant["runs"]} == {100}
        assert variant["seconds_per_epoch"]["mean"] > 0 and variant["images_per_s"]["mean"] > 0
        for key in ("fid", "kid", "is", "precision", "recall", "density", "coverage",
                    "modes_covered", "kl_to_uniform"):
            values = [run["scores"][key] for run in variant["runs"]]
            assert variant["mean"][key] == pytest.approx(sum(values) / 2)
            assert variant["std"][key] == pytest.approx(abs(values[0] - values[1]) / math.sqrt(2))
    assert "label_accuracy" in tiny["mean"] and "label_accuracy" not in vanilla["mean"]
    assert "label_accuracy" in results["floor"]
    assert sorted(results["ranking"]["order"]) == ["tiny-cgan", "vanilla"]
    assert (out / "runs/vanilla-seed1/checkpoints/last.pt").is_file()


def test_variants_with_the_same_latent_size_get_the_same_noise():
    host = make_host()
    from gankit.config import build_config
    from gankit.registry import DataInfo as Info

    info = Info("mnist", (1, 28, 28), 10)
    vanilla = host.variants.get("vanilla")
    tiny = host.variants.get("tiny-cgan")
    g1 = vanilla.build(build_config(vanilla.config_class), info).generator
    g2 = tiny.build(build_config(tiny.config_class), info).generator
    (z1, labels1), (z2, labels2) = fixed_inputs(g1, 50, 0), fixed_inputs(g2, 50, 0)
    assert torch.equal(z1, z2) and labels1 is None and labels2.tolist() == [i % 10 for i in range(50)]


def test_an_existing_run_folder_is_loaded_not_retrained(comparison, tmp_path):
    out, _, _ = comparison
    run = out / "runs/tiny-cgan-seed0"
    stamp = (run / "checkpoints/last.pt").stat().st_mtime_ns
    result = invoke(str(run), "--out", str(tmp_path / "again"), "--n", "300", "--no-progress")
    assert result.exit_code == 0, result.output
    results = json.loads((tmp_path / "again/results.json").read_text())
    (loaded,) = results["variants"]
    assert loaded["source"] == "loaded" and loaded["name"] == "tiny-cgan-seed0"
    assert results["notes"] and "own training budget" in results["notes"][0]
    assert (run / "checkpoints/last.pt").stat().st_mtime_ns == stamp
    assert not (tmp_path / "again/runs").exists()


def test_a_g_steps_budget_gives_every_variant_the_same_generator_updates(tmp_path):
    # 100 images: vanilla (batch 100) updates G once an epoch, tiny-cgan (batch 50) twice.
    result = invoke("vanilla", "tiny-cgan", "--g-steps", "4", "--max-images", "100", "--n", "300",
                    "--no-progress", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    results = json.loads((tmp_path / "results.json").read_text())
    vanilla, tiny = results["variants"]
    assert results["budget"] == {"g_steps": 4}
    assert (vanilla["epochs"], tiny["epochs"]) == ([4], [2])
    assert vanilla["g_steps"] == tiny["g_steps"] == [4]
    assert (vanilla["images_seen"], tiny["images_seen"]) == ([400], [200])
    assert "vanilla: 1 generator updates per epoch -> 4 epochs" in result.output
    assert not any("different numbers of updates" in note for note in results["notes"])


def test_different_generator_updates_are_pointed_out(comparison):
    _, _, results = comparison  # one epoch each of 100 images: vanilla 1 update, tiny-cgan 2
    assert [v["g_steps"] for v in results["variants"]] == [[1, 1], [2, 2]]
    (note,) = [n for n in results["notes"] if "different numbers of updates" in n]
    assert "vanilla 1, tiny-cgan 2" in note and "--g-steps N" in note


def test_a_seconds_budget_becomes_whole_epochs(tmp_path):
    result = invoke("tiny-cgan", "--budget-seconds", "0.001", "--max-images", "100", "--n", "300",
                    "--no-progress", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["budget"] == {"budget_seconds": 0.001} and results["variants"][0]["epochs"] == [1]


@pytest.mark.parametrize("args, message", [
    (["vanila"], "Did you mean 'vanilla'?"),
    (["vanilla", "--epochs", "2", "--budget-seconds", "5"], "not --epochs and --budget-seconds"),
    (["vanilla", "--g-steps", "20", "--epochs", "2"], "not --epochs and --g-steps"),
    (["vanilla", "--g-steps", "0"], "--g-steps must be at least 1"),
    (["vanilla", "vanilla"], "named twice"),
])
def test_bad_requests_fail_in_one_line(args, message, tmp_path):
    result = invoke(*args, "--out", str(tmp_path))
    assert result.exit_code == 2 and message in result.output
    assert not (tmp_path / "runs").exists()


def test_runs_are_scored_with_their_ema_generator_unless_no_ema(tmp_path):
    from gankit.train import RunOptions, train

    run = tmp_path / "run"
    train("vanilla", {"epochs": 1, "ema": 0.9}, RunOptions(out=run, progress=False, max_images=100, device="cpu"))
    scored = {}
    for flag in ("--ema", "--no-ema"):
        result = invoke(str(run), "--out", str(tmp_path / flag), "--n", "300", "--no-progress", flag)
        assert result.exit_code == 0, result.output
        (variant,) = json.loads((tmp_path / flag / "results.json").read_text())["variants"]
        scored[flag] = variant["mean"]["fid"]
    assert scored["--ema"] != scored["--no-ema"]  # the same noise and reference, other weights


class DigitsWithAnOption:
    """The bundled digits under another name, with a dataset option (``keep``: the first N), and a
    record of the options each load was asked for."""

    def __init__(self):
        self.asked = []

    @hookimpl
    def gankit_register_datasets(self, register):
        from gankit import DatasetSpec, ImageData
        from gankit.registry import DataRequest

        def load(request):
            self.asked.append((request.split, dict(request.options)))
            base = make_host().datasets.get("mnist").load(
                DataRequest(root=request.root, split=request.split, download=False))
            keep = int(request.options.get("keep", len(base)))
            return ImageData(base.images[:keep], base.labels[:keep], source=f"first {keep} digits")

        register(DatasetSpec("digits", "the first digits", (1, 28, 28), 10, load,
                             options={"keep": "how many of the digits"}))


def test_data_options_reach_every_run_and_the_real_images_and_must_match_loaded_runs(tmp_path):
    # An evaluator for 'digits': the shipped MNIST one, under that name.
    state = torch.load(weights_path("mnist"), weights_only=True)
    state["meta"]["dataset"] = "digits"
    torch.save(state, tmp_path / "digits.pt")
    plugin = DigitsWithAnOption()
    host = make_host()
    host.add_plugin(plugin, PluginInfo("digits", "loaded"))

    def compare(*args):
        return CliRunner().invoke(build_app(host), ["compare", *args, "--evaluator",
                                                    str(tmp_path / "digits.pt"), *TINY])

    result = compare("vanilla", "--dataset", "digits", "--data-option", "keep=1000", "--out", str(tmp_path / "a"))
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "a/results.json").read_text())["data_options"] == {"keep": "1000"}
    run = tmp_path / "a/runs/vanilla-seed0"
    assert json.loads((run / "config.json").read_text())["dataset"]["options"] == {"keep": "1000"}
    assert {split for split, options in plugin.asked if options == {"keep": "1000"}} == {"train", "test"}
    # A loaded run brings its options; others are refused in one line.
    result = compare(str(run), "--out", str(tmp_path / "b"))
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "b/results.json").read_text())["data_options"] == {"keep": "1000"}
    result = compare(str(run), "--data-option", "keep=900", "--out", str(tmp_path / "c"))
    assert result.exit_code == 2 and "trained with the dataset options {'keep': '1000'}" in result.output
    result = compare("vanilla", "--dataset", "digits", "--data-option", "size=3", "--out", str(tmp_path / "d"))
    assert result.exit_code == 2 and "Dataset 'digits' has no option 'size' (its options: keep)" in result.output
