"""--ema: the averaged generator is kept, saved, resumed bit for bit, and used by sample and the grid."""

from __future__ import annotations

import json
import math

import pytest
import torch
from typer.testing import CliRunner

from gankit import loading
from gankit.checkpoint import load_checkpoint
from gankit.cli.app import build_app
from gankit.loading import load_run
from gankit.sample import fixed_noise, generate
from gankit.train import RunOptions, train
from gankit.train import ema as ema_module
from gankit.train.ema import ema_beta

TINY = {"batch_size": 50, "epochs": 2, "ema": 0.9}


def options(out, **extra):
    return RunOptions(out=out, progress=False, max_images=300, device="cpu", **extra)


def ema_state(run):
    return load_checkpoint(run / "checkpoints/last.pt")["callbacks"]["ema"][ema_module.EMA_KEY]


def test_beta_ramps_up_to_the_decay_and_the_loader_finds_the_key():
    assert ema_module.EMA_KEY == loading.EMA_KEY
    # Early steps forget fast (half-life 5% of the images seen), later ones use the decay itself.
    assert ema_beta(0.999, 1, 32) == pytest.approx(0.5 ** 20)
    betas = [ema_beta(0.999, step, 32) for step in (1, 10, 100, 1000, 100_000)]
    assert betas == sorted(betas) and betas[-1] == pytest.approx(0.999)
    # The half-life is in images: the same decay per step means the same average per image.
    half_life = 32 * math.log(0.5) / math.log(0.999)
    assert ema_beta(0.999, 10 ** 6, 32) == pytest.approx(0.5 ** (32 / half_life))


def test_ema_weights_differ_from_raw_and_are_what_sample_and_load_run_use(tmp_path):
    run = tmp_path / "run"
    train("dcgan", TINY, options(run))
    checkpoint = load_checkpoint(run / "checkpoints/last.pt")
    averaged, raw = ema_state(run), checkpoint["generator"]
    assert averaged.keys() == raw.keys()
    differing = [k for k in raw if raw[k].is_floating_point() and not torch.equal(raw[k], averaged[k])]
    assert differing, "the average equals the raw weights"
    # BatchNorm's running statistics are copied, not averaged.
    assert all(torch.equal(raw[k], averaged[k]) for k in raw if "running_" in k)

    loaded, plain = load_run(run), load_run(run, ema=False)
    assert loaded.ema and not plain.ema
    for key, value in loaded.generator.state_dict().items():
        assert torch.equal(value, averaged[key])
    z, _ = fixed_noise(loaded.generator, 8, seed=3)
    from_ema, from_raw = generate(loaded.generator, z, None), generate(plain.generator, z, None)
    assert not torch.equal(from_ema, from_raw)

    # The run's grid is drawn by the averaged G (the grid's own noise, seed 0).
    from PIL import Image
    from gankit.images import save_grid

    z, _ = fixed_noise(loaded.generator, seed=0)
    save_grid(generate(loaded.generator, z, None), tmp_path / "ema_grid.png", 4, label="dcgan, epoch 2")
    save_grid(generate(plain.generator, z, None), tmp_path / "raw_grid.png", 4, label="dcgan, epoch 2")
    pixels = {name: Image.open(path).convert("L").tobytes() for name, path in (
        ("run", run / "samples/epoch_0002.png"), ("ema", tmp_path / "ema_grid.png"), ("raw", tmp_path / "raw_grid.png"))}
    assert pixels["run"] == pixels["ema"] != pixels["raw"]

    app = build_app()
    for flag, expected in ((None, from_ema), ("--no-ema", from_raw)):
        out = tmp_path / f"{flag or 'default'}.pt"
        args = ["sample", str(run), "--n", "8", "--seed", "3", "--out", str(out), *([flag] if flag else [])]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        assert torch.allclose(torch.load(out), expected, atol=1e-6)


def test_resume_keeps_the_average_bit_for_bit(tmp_path):
    train("dcgan", TINY, options(tmp_path / "straight"))
    train("dcgan", {**TINY, "epochs": 1}, options(tmp_path / "resumed"))
    train("dcgan", {"epochs": 2}, options(tmp_path / "resumed", resume=True))
    straight, resumed = ema_state(tmp_path / "straight"), ema_state(tmp_path / "resumed")
    assert straight.keys() == resumed.keys()
    for key in straight:
        assert torch.equal(straight[key], resumed[key]), key


def test_without_ema_nothing_is_averaged_and_a_bad_decay_is_one_line(tmp_path):
    from gankit import ConfigError

    train("dcgan", {**TINY, "ema": 0.0, "epochs": 1}, options(tmp_path / "run"))
    assert "ema" not in (load_checkpoint(tmp_path / "run/checkpoints/last.pt").get("callbacks") or {})
    assert not load_run(tmp_path / "run").ema
    with pytest.raises(ConfigError, match="ema must be in"):
        train("dcgan", {"ema": 1.0}, options(tmp_path / "bad"))


def test_the_average_only_watches_training_the_raw_weights_are_the_plain_runs(tmp_path):
    # So one --ema run measures both: its raw G is exactly the run without --ema (docs/variants.md).
    train("dcgan", {**TINY, "ema": 0.0, "epochs": 1}, options(tmp_path / "plain"))
    train("dcgan", {**TINY, "epochs": 1}, options(tmp_path / "averaged"))
    plain = load_checkpoint(tmp_path / "plain/checkpoints/last.pt")["generator"]
    raw = load_checkpoint(tmp_path / "averaged/checkpoints/last.pt")["generator"]
    assert all(torch.equal(plain[key], raw[key]) for key in plain)


def test_eval_every_scores_the_averaged_generator(tmp_path, monkeypatch):
    # --eval-every's FID and best.pt must judge the G that the grid shows and `sample` loads.
    from gankit.evaluate import in_training

    scored = []
    real_score = in_training.score_generator

    def recording(generator, *args, **kwargs):
        scored.append({k: v.detach().clone() for k, v in generator.state_dict().items()})
        return real_score(generator, *args, **kwargs)

    monkeypatch.setattr(in_training, "score_generator", recording)
    run = tmp_path / "run"
    train("dcgan", TINY, options(run), callbacks=[in_training.EvaluationCallback(2, 50)])
    averaged, raw = ema_state(run), load_checkpoint(run / "checkpoints/last.pt")["generator"]
    assert len(scored) == 1
    assert all(torch.equal(scored[0][k], averaged[k]) for k in averaged)
    assert not all(torch.equal(scored[0][k], raw[k]) for k in raw)


def test_evaluate_scores_the_averaged_generator_and_no_ema_the_raw_one(tmp_path):
    from rich.console import Console

    from gankit.evaluate.score import print_scores

    run = tmp_path / "run"
    train("dcgan", TINY, options(run))
    app = build_app()
    scores = {}
    for flag in ("--ema", "--no-ema"):  # the second reuses the first's cached real features
        result = CliRunner().invoke(app, ["evaluate", str(run), "--n", "50", "--json", "--device", "cpu", flag])
        assert result.exit_code == 0, result.output
        scores[flag] = json.loads(result.stdout[result.stdout.index("{"):])
    assert scores["--ema"]["ema"] is True and scores["--no-ema"]["ema"] is False
    assert scores["--ema"]["fid"] != scores["--no-ema"]["fid"]  # the same noise, other weights
    for flag, title in (("--ema", "epoch 2 (EMA generator)"), ("--no-ema", "epoch 2")):
        console = Console(record=True, width=200)
        print_scores(scores[flag], console)
        assert console.export_text().splitlines()[0].strip().endswith(title)
