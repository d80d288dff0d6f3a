"""``gankit sample --walk`` / ``--traverse``: seeded latent walks and code traversals on real runs."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from PIL import Image

from gankit import Generator, LatentCode
from gankit.images import PADDING, upscale_factor
from gankit.loading import load_run
from gankit.testing import invoke
from gankit.walks import (animation_frames, interpolate, latent_walk, noise_columns, noise_kind, traverse,
                          walk_latents)

TINY = ["--epochs", "1", "--max-images", "200", "--no-progress", "--precision", "fp32"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Three real runs: vanilla (Gaussian z), cgan (labels), selfcond (a declared cluster code)."""
    root = tmp_path_factory.mktemp("walks")
    small = ["--set", "g_features=8", "--set", "d_features=8"]
    made = {}
    for variant, extra in (("vanilla", ["--batch-size", "50"]), ("cgan", small),
                           ("selfcond", [*small, "--set", "clusters=3", "--set", "latent_dim=20"])):
        made[variant] = root / variant
        result = invoke(["train", variant, *TINY, *extra, "--out", made[variant], "--seed", "3"])
        assert result.exit_code == 0, result.output
    return made


def one_line_error(result, message):
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], result.output


def test_slerp_ends_at_its_endpoints_and_stays_on_the_sphere():
    a, b = torch.randn(3, 50), torch.randn(3, 50)
    a, b = a / a.norm(dim=1, keepdim=True), b / b.norm(dim=1, keepdim=True)
    path = interpolate(a, b, torch.linspace(0, 1, 5), "normal")
    assert path.shape == (3, 5, 50)
    assert torch.allclose(path[:, 0], a, atol=1e-6) and torch.allclose(path[:, -1], b, atol=1e-6)
    assert torch.allclose(path.norm(dim=2), torch.ones(3, 5), atol=1e-5)  # a straight line dips inside
    line = interpolate(a, b, torch.linspace(0, 1, 5), "uniform")
    assert torch.allclose(line[:, 2], (a + b) / 2, atol=1e-6)
    assert (line[:, 2].norm(dim=1) < 0.999).all()


def test_a_walk_moves_the_noise_and_keeps_the_codes_of_its_first_endpoint():
    endpoints = torch.randn(2, 3, 6)  # 2 rows, 2 legs
    noise = torch.tensor([True, True, True, True, False, False])
    path = walk_latents(endpoints, 4, "normal", noise)
    assert path.shape == (2, 2 * 3 + 1, 6)
    assert torch.allclose(path[:, 3, :4], endpoints[:, 1, :4], atol=1e-6)  # the middle endpoint
    assert torch.allclose(path[:, -1, :4], endpoints[:, 2, :4], atol=1e-6)
    assert torch.equal(path[:, :, 4:], endpoints[:, :1, 4:].expand(-1, 7, -1))


class ToyGenerator(Generator):
    """z's column 2 (a continuous code) is every pixel: what a traversal sets is what it draws."""

    latent_codes = (LatentCode("width", 2),)

    def __init__(self):
        super().__init__(latent_dim=3, image_shape=(1, 2, 2))
        self.scale = torch.nn.Parameter(torch.ones(()))

    def sample_latent(self, n, *, device=None, generator=None):
        return torch.rand(n, self.latent_dim, device=device, generator=generator) * 2 - 1

    def forward(self, z, labels=None):
        return (z[:, 2] * self.scale / 4).view(-1, 1, 1, 1).expand(-1, 1, 2, 2)


def test_a_continuous_code_is_traversed_over_minus_two_to_two_by_default():
    loaded = SimpleNamespace(generator=ToyGenerator(), config=None, variant="toy")
    walk = traverse(loaded, "width", 3, seed=1)
    assert walk.values == pytest.approx([-2 + 0.5 * i for i in range(9)])
    assert walk.shape == (3, 9)
    expected = torch.tensor(walk.values) / 4
    assert torch.allclose(walk.images[:, :, 0, 0, 0], expected.expand(3, -1), atol=1e-6)
    assert traverse(loaded, "width=0,1", 2).values == [0.0, 1.0]
    # uniform noise told from the prior itself (the toy declares none), and the code left out of it
    assert noise_kind(loaded.generator) == "uniform" and noise_columns(loaded.generator).tolist() == [1, 1, 0]


def test_the_noise_kind_is_the_variants(runs):
    assert noise_kind(load_run(runs["vanilla"]).generator) == "normal"  # N(0, 1), told from its draws
    dcgan = load_run(runs["selfcond"])
    assert dcgan.config.noise == "normal" and noise_kind(dcgan.generator, dcgan.config) == "normal"


def test_a_walk_starts_and_ends_at_the_seeds_samples(runs):
    loaded = load_run(runs["vanilla"])
    walk = latent_walk(loaded, 3, 5, seed=4)
    samples, _ = loaded.sample(6, seed=4)  # endpoint k of row r is sample k * 3 + r
    assert walk.shape == (3, 5)
    assert torch.allclose(walk.images[:, 0], samples[:3], atol=1e-5)
    assert torch.allclose(walk.images[:, -1], samples[3:], atol=1e-5)
    assert not torch.allclose(walk.images[:, 2], walk.images[:, 0], atol=1e-3)


def test_same_seed_same_bytes_and_the_frames_and_size_they_should_have(runs, tmp_path):
    outputs = {}
    for name, seed in (("a", 4), ("b", 4), ("c", 5)):
        for suffix in (".png", ".gif"):
            out = tmp_path / f"{name}{suffix}"
            result = invoke(["sample", runs["vanilla"], "--walk", 5, "--n", 3, "--seed", seed, "--out", out])
            assert result.exit_code == 0, result.output
            outputs[name + suffix] = out.read_bytes()
    assert outputs["a.png"] == outputs["b.png"] and outputs["a.gif"] == outputs["b.gif"]
    assert outputs["a.png"] != outputs["c.png"] and outputs["a.gif"] != outputs["c.gif"]
    assert "3 x 5 images (walk, 8 frames)" in result.output
    width, height = 5 * (28 + PADDING) + PADDING, 3 * (28 + PADDING) + PADDING
    scale = upscale_factor(width)
    assert Image.open(tmp_path / "a.png").size == (width * scale, height * scale)
    with Image.open(tmp_path / "a.gif") as gif:
        assert gif.n_frames == 2 * (5 - 1)  # there and back again
        assert gif.info["duration"] == 120 and gif.info["loop"] == 0


def test_the_default_output_is_in_the_runs_samples(runs):
    result = invoke(["sample", runs["vanilla"], "--walk", 3, "--n", 2, "--legs", 2, "--seed", 7])
    assert result.exit_code == 0, result.output
    assert (runs["vanilla"] / "samples" / "walk-seed7.png").is_file() and "2 x 5 images" in result.output


def test_a_conditional_walk_keeps_each_rows_label(runs):
    loaded = load_run(runs["cgan"])
    walk = latent_walk(loaded, 4, 3, seed=2, labels=[7, 1])
    assert walk.labels == [7, 1, 7, 1]


def test_traverse_label_draws_every_class_for_each_rows_noise(runs, tmp_path):
    loaded = load_run(runs["cgan"])
    walk = traverse(loaded, "label", 2, seed=1)
    assert walk.shape == (2, 10) and walk.values == [float(label) for label in range(10)]
    for label in (0, 6):  # column j of row r is sample r of the seed, drawn for class j
        samples, _ = loaded.sample(2, seed=1, labels=[label])
        assert torch.allclose(walk.images[:, label], samples, atol=1e-5)
    out = tmp_path / "classes.png"
    result = invoke(["sample", runs["cgan"], "--traverse", "label=3-5", "--n", 2, "--out", out])
    assert result.exit_code == 0 and "2 x 3 images (traverse-label)" in result.output, result.output


def test_traverse_a_cluster_code_varies_it_alone(runs, tmp_path):
    loaded = load_run(runs["selfcond"])
    walk = traverse(loaded, "cluster", 2, seed=0)
    assert walk.shape == (2, 3) and walk.values == [0.0, 1.0, 2.0]
    for cluster in range(3):
        samples, _ = loaded.sample(2, seed=0, codes={"cluster": [cluster]})
        assert torch.allclose(walk.images[:, cluster], samples, atol=1e-5)
    assert len(animation_frames(walk)) == 4
    result = invoke(["sample", runs["selfcond"], "--traverse", "cluster=0,2", "--n", 2, "--out",
                     tmp_path / "c.gif"])
    assert result.exit_code == 0 and "2 frames" in result.output, result.output


@pytest.mark.parametrize("variant, args, message", [
    ("vanilla", ["--walk", "1"], "--walk needs at least 2 steps"),
    ("vanilla", ["--walk", "3", "--traverse", "label"], "--walk and --traverse draw different grids"),
    ("vanilla", ["--legs", "2"], "--legs sets a walk's legs; pass --walk STEPS with it."),
    ("vanilla", ["--traverse", "label"], "has no labels and declares no latent codes"),
    ("cgan", ["--traverse", "digit"], "--traverse 'digit': the variant's codes are label"),
    ("cgan", ["--traverse", "label", "--labels", "3"], "--traverse label varies label"),
    ("cgan", ["--traverse", "label=12"], "--traverse label '12': values must be in 0-9."),
    ("selfcond", ["--traverse", "cluster", "--code", "cluster=1"], "--traverse cluster varies cluster"),
    ("vanilla", ["--walk", "3", "--out", "walk.npy"], "a walk or traversal is written as .png"),
    ("vanilla", ["--walk", "1000", "--n", "11"], "one grid holds at most 10000"),
])
def test_bad_walks_are_one_line(runs, variant, args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    one_line_error(invoke(["sample", runs[variant], *args]), message)
    assert not Path("walk.npy").exists()
