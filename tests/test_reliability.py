"""Reliability (issue 13): one writer per run folder, no dead-end folders, OS errors and damaged
files as one line with the right exit code, outputs that never overwrite, plugins that cannot take
the CLI down, signals, resume cross-checks and a divergence guard. Each test failed before its fix."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest
import torch
from typer.testing import CliRunner

from gankit import runs
from gankit.checkpoint import load_checkpoint, save_checkpoint
from gankit.cli import build_app
from gankit.errors import CheckpointError, GankitError, TrainingError
from gankit.train import RunOptions, loop, train

TINY = ["--epochs", "1", "--max-images", "200", "--batch-size", "50", "--no-progress"]


def invoke(*args, **kwargs):
    return CliRunner().invoke(build_app(), [str(a) for a in args], **kwargs)


def one_line(result, code):
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    return lines[-1]


def options(out, **extra):
    return RunOptions(out=out, progress=False, max_images=200, device="cpu", **extra)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    run = tmp_path_factory.mktemp("reliability") / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GANKIT_OFFLINE", "1")
        patch.setenv("GANKIT_DATA_ROOT", str(run.parent / "empty"))
        result = invoke("train", "vanilla", *TINY, "--out", run, "--seed", "3")
    assert result.exit_code == 0, result.output
    return run


# -- 1. one writer per run folder ------------------------------------------------------------

def test_a_second_writer_is_refused_naming_the_holders_pid(tmp_path):
    run = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from gankit import runs
        Path({str(run)!r}).mkdir()
        runs.lock_run_dir(Path({str(run)!r}))
        print("locked", flush=True)
        time.sleep(60)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        line = one_line(invoke("train", "vanilla", *TINY, "--out", run), 2)
        assert f"is in use by another gankit process (PID {holder.pid})" in line
        resumed = one_line(invoke("train", "vanilla", *TINY, "--out", run, "--resume"), 2)
        assert "no checkpoints/last.pt" in resumed or f"PID {holder.pid}" in resumed
    finally:
        holder.kill()
        holder.wait()
    # killed with SIGKILL: the kernel dropped the lock, so it is not stale
    assert invoke("train", "vanilla", *TINY, "--out", run).exit_code == 0
    assert not (run / runs.LOCK_FILE).exists()


def test_a_second_resume_of_a_run_in_progress_is_refused(run_dir):
    with runs.holding_locks():
        runs.lock_run_dir(run_dir)
        line = one_line(invoke("train", "vanilla", "--epochs", "2", "--out", run_dir, "--resume"), 2)
    assert f"PID {os.getpid()}" in line
    assert [r["epoch"] for r in runs.read_metrics(run_dir)] == [1]


def test_two_default_run_folders_in_the_same_second_get_distinct_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(runs.time, "strftime", lambda fmt: "20261128-120000")
    first = train("vanilla", {"epochs": 1, "batch_size": 50}, RunOptions(progress=False, max_images=200))
    second = train("vanilla", {"epochs": 1, "batch_size": 50}, RunOptions(progress=False, max_images=200))
    assert first.run_dir.name == "vanilla-mnist-20261128-120000"
    assert second.run_dir.name == "vanilla-mnist-20261128-120000-2"
    for run in (first.run_dir, second.run_dir):
        assert json.loads((run / "config.json").read_text())["variant"] == "vanilla"
        assert (run / "checkpoints/last.pt").is_file()


# -- 2. no dead-end folders ------------------------------------------------------------------

def _nan_callback():
    from gankit import Callback

    class Nan(Callback):
        name = "nan"

        def on_discriminator_step(self, context):
            context.log("d_loss_extra", float("nan"))

    return Nan()


def test_a_nan_before_the_first_checkpoint_says_so_and_the_folder_can_start_again(tmp_path):
    run = tmp_path / "run"
    with pytest.raises(TrainingError) as stop:
        train("vanilla", {"epochs": 1, "batch_size": 50}, options(run), callbacks=[_nan_callback()])
    assert "No checkpoint was written yet" in str(stop.value)
    assert "last good checkpoint" not in str(stop.value)
    # the folder holds config.json only: the same command starts it afresh, with a line saying so
    line = one_line(invoke("train", "vanilla", *TINY, "--out", run), 0)
    assert "Done" in line
    assert (run / "checkpoints/last.pt").is_file()


def test_a_folder_without_a_checkpoint_can_be_resumed_from_nothing(tmp_path):
    run = tmp_path / "run"
    with pytest.raises(TrainingError):
        train("vanilla", {"epochs": 1, "batch_size": 50}, options(run), callbacks=[_nan_callback()])
    result = invoke("train", "vanilla", *TINY, "--out", run, "--resume")
    assert result.exit_code == 0, result.output
    assert "holds no checkpoint" in result.output and "starting it from epoch 1" in result.output


def test_a_failed_start_leaves_no_empty_folder(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise GankitError("broken on purpose")

    monkeypatch.setattr("gankit.train.run.build_trainer", broken)
    assert invoke("train", "vanilla", *TINY, "--out", tmp_path / "run").exit_code == 2
    assert not (tmp_path / "run").exists()


def test_the_divergence_guard_stops_an_exploding_but_finite_run(tmp_path):
    from gankit import Callback

    class Explodes(Callback):
        name = "explodes"

        def on_discriminator_step(self, context):
            context.log("q_loss", 1e30)

    with pytest.raises(TrainingError) as stop:
        train("vanilla", {"epochs": 1, "batch_size": 50}, options(tmp_path / "run"), callbacks=[Explodes()])
    assert "the loss diverged" in str(stop.value) and "q_loss=1e+30" in str(stop.value)


# -- 8. signals --------------------------------------------------------------------------------

def test_sigterm_is_handled_as_ctrl_c():
    before = signal.getsignal(signal.SIGTERM)
    with loop.StopOnSigint() as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.requested  # still alive: the step finishes, the checkpoint is written
    assert signal.getsignal(signal.SIGTERM) == before


def test_a_second_interrupt_during_a_save_lets_the_save_finish(tmp_path, monkeypatch):
    from gankit import checkpoint

    path = tmp_path / "last.pt"
    save_checkpoint({"generator": {}, "discriminator": {}, "variant": "v", "config": {}, "epoch": 1,
                     "step": 1}, path)
    real_write = checkpoint.atomic_write

    def interrupted_write(target, *args, **kwargs):
        handler = signal.getsignal(signal.SIGINT)
        handler(signal.SIGINT, None)  # the second Ctrl-C arrives mid-write
        return real_write(target, *args, **kwargs)

    with loop.StopOnSigint() as stop:
        stop.requested = True
        monkeypatch.setattr(checkpoint, "atomic_write", interrupted_write)
        with pytest.raises(KeyboardInterrupt):
            save_checkpoint({"generator": {}, "discriminator": {}, "variant": "v", "config": {},
                             "epoch": 2, "step": 2}, path)
    assert load_checkpoint(path)["epoch"] == 2  # the save finished before the interrupt


def test_a_second_ctrl_c_exits_130_in_one_line(tmp_path, monkeypatch):
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("gankit.train.run.build_trainer", interrupt)
    result = invoke("train", "vanilla", *TINY, "--out", tmp_path / "run")
    assert result.exit_code == 130 and "Interrupted" in result.output and "Aborted" not in result.output


# -- 9. resume refuses what it cannot honour ----------------------------------------------------

def test_resume_refuses_another_dataset(run_dir):
    config_before = (run_dir / "config.json").read_text()
    line = one_line(invoke("train", "vanilla", "--dataset", "fashion-mnist", "--out", run_dir, "--resume"), 2)
    assert "Cannot change --dataset when resuming" in line and "'mnist'" in line
    assert (run_dir / "config.json").read_text() == config_before


def test_resume_refuses_fewer_epochs_than_the_run_is_set_to(tmp_path):
    from gankit import Callback
    from gankit.train import Interrupted

    class StopAfterOne(Callback):
        name = "stop_after_one"

        def on_epoch_end(self, context):
            context.request_stop()

    run = tmp_path / "run"
    with pytest.raises(Interrupted):
        train("vanilla", {"epochs": 3, "batch_size": 50}, options(run), callbacks=[StopAfterOne()])
    line = one_line(invoke("train", "vanilla", "--epochs", "1", "--out", run, "--resume"), 2)
    assert "Cannot lower --epochs to 1" in line
    assert json.loads((run / "config.json").read_text())["config"]["epochs"] == 3


def test_resume_refuses_a_checkpoint_from_another_run(tmp_path):
    run = tmp_path / "run"
    assert invoke("train", "vanilla", *TINY, "--out", run).exit_code == 0
    state = load_checkpoint(run / "checkpoints/last.pt")
    state["config"]["dropout"] = 0.1
    save_checkpoint(state, run / "checkpoints/last.pt")
    line = one_line(invoke("train", "vanilla", "--epochs", "2", "--out", run, "--resume"), 2)
    assert "disagree on config.dropout" in line
