"""--checkpoint-every (issue 10, item 3): which epochs write checkpoints/last.pt, and a resume after
a kill that cut off epochs past the last checkpoint: they are trained again bit for bit, and each
keeps exactly one metrics.jsonl line and the unbroken run's sample grid."""

from __future__ import annotations

import json
import time

import pytest
import torch
from typer.testing import CliRunner

from gankit import runs
from gankit.checkpoint import load_checkpoint
from gankit.cli import build_app
from gankit.train import Callback, RunOptions, train
from gankit.train.checkpoint_schedule import CheckpointSchedule


def run_options(out, **extra):
    return RunOptions(out=out, progress=False, max_images=200, device="cpu", **{"seed": 3, **extra})


class Written(Callback):
    """The epochs whose end wrote the checkpoint."""

    def __init__(self):
        self.epochs = []

    def on_checkpoint(self, context):
        self.epochs.append(context.epoch)


class Killed(Exception):
    pass


class KillAt(Callback):
    """Ends the process's run as a kill -9 would: no checkpoint, no outputs, mid-epoch."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_discriminator_step(self, context):
        if context.epoch + 1 == self.epoch:
            raise Killed


def test_every_n_writes_the_first_every_nth_and_the_last_epoch(tmp_path):
    written = Written()
    train("vanilla", {"epochs": 7, "batch_size": 50}, run_options(tmp_path / "run", checkpoint_every=3),
          callbacks=[written])
    assert written.epochs == [1, 3, 6, 7]
    assert load_checkpoint(runs.checkpoint_path(tmp_path / "run"))["epoch"] == 7


def test_auto_keeps_the_writing_within_its_budget_of_the_training_time():
    schedule = CheckpointSchedule(budget=0.01)
    due = []
    for epoch in range(1, 11):  # 2 s epochs, 50 ms checkpoints: within 1% about every 3rd epoch
        if schedule.due(epoch, 2.0, last=epoch == 10):
            due.append(epoch)
            schedule.budget.spent += 0.05
    assert due == [1, 3, 5, 8, 10]
    assert schedule.budget.spent <= 0.01 * schedule.budget.trained + 0.05  # at most one write over the budget


def test_auto_writes_every_epoch_when_epochs_dwarf_the_write():
    schedule = CheckpointSchedule()
    for epoch in range(1, 6):
        assert schedule.due(epoch, 10.0, last=False)
        schedule.timed(lambda: time.sleep(0.05))
    assert 0.25 <= schedule.budget.spent < 1.0


def test_every_must_be_at_least_one():
    with pytest.raises(ValueError):
        CheckpointSchedule(every=0)


def test_a_kill_past_the_last_checkpoint_resumes_bit_for_bit_with_one_line_per_epoch(tmp_path):
    tiny = {"epochs": 5, "batch_size": 50}
    unbroken = tmp_path / "unbroken"
    train("vanilla", tiny, run_options(unbroken, checkpoint_every=3))

    broken = tmp_path / "broken"
    with pytest.raises(Killed):  # epochs 1-4 done and logged, the checkpoint is epoch 3's
        train("vanilla", tiny, run_options(broken, checkpoint_every=3), callbacks=[KillAt(5)])
    assert load_checkpoint(runs.checkpoint_path(broken))["epoch"] == 3
    assert [r["epoch"] for r in runs.read_metrics(broken)] == [1, 2, 3, 4]

    train("vanilla", {}, run_options(broken, resume=True, seed=None, checkpoint_every=3))

    assert [r["epoch"] for r in runs.read_metrics(broken)] == [1, 2, 3, 4, 5]
    timing = ("seconds", "images_per_s")
    for ours, theirs in zip(runs.read_metrics(broken), runs.read_metrics(unbroken)):
        assert {k: v for k, v in ours.items() if k not in timing} == \
            {k: v for k, v in theirs.items() if k not in timing}
    for epoch in range(1, 6):
        assert runs.sample_grid_path(broken, epoch).read_bytes() == \
            runs.sample_grid_path(unbroken, epoch).read_bytes()
    ours, theirs = (load_checkpoint(runs.checkpoint_path(r)) for r in (broken, unbroken))
    for key, value in theirs["generator"].items():
        assert torch.equal(ours["generator"][key], value), key


def test_dropping_metrics_keeps_other_lines_and_a_torn_end(tmp_path):
    lines = [{"event": "epoch", "epoch": 1}, {"event": "eval", "epoch": 2}, {"note": "no epoch"},
             {"event": "epoch", "epoch": 2}, {"event": "epoch", "epoch": 3}]
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines) + '{"event": "ep')
    assert runs.drop_metrics_after(tmp_path, 1) == 3
    assert runs.read_metrics(tmp_path) == [lines[0], lines[2]]
    assert path.read_text().endswith("\n")  # the next append starts on a line of its own
    assert runs.drop_metrics_after(tmp_path, 1) == 0


def test_the_cli_option_reaches_the_run_and_refuses_nonsense(tmp_path, monkeypatch):
    seen = {}

    def fake_train(variant, overrides, options, **kwargs):
        seen["every"] = options.checkpoint_every
        raise SystemExit(0)

    monkeypatch.setattr("gankit.train.train", fake_train)
    app = build_app()
    for given, expected in (("auto", None), ("4", 4)):
        CliRunner().invoke(app, ["train", "vanilla", "--out", str(tmp_path / given), "--checkpoint-every", given])
        assert seen.pop("every") == expected
    for bad in ("0", "-2", "often"):
        result = CliRunner().invoke(app, ["train", "vanilla", "--checkpoint-every", bad])
        assert result.exit_code == 2, result.output
        assert f"--checkpoint-every must be auto or a whole number of epochs (1 or more), got '{bad}'." \
            in result.output
