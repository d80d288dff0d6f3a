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


# -- 3. OS errors: one line, the path, what to do, exit 74 --------------------------------------

def test_a_full_disk_at_the_first_save_is_one_line_and_the_folder_starts_again(tmp_path, monkeypatch):
    import contextlib

    from gankit import checkpoint

    real_atomic_write = checkpoint.atomic_write

    @contextlib.contextmanager
    def full_disk(path, *args, **kwargs):
        with real_atomic_write(path, *args, **kwargs):
            class Full:
                def write(self, data):
                    raise OSError(errno.ENOSPC, "No space left on device")
            yield Full()

    run = tmp_path / "run"
    with monkeypatch.context() as patch:
        patch.setattr(checkpoint, "atomic_write", full_disk)
        result = invoke("train", "vanilla", *TINY, "--out", run)
    line = one_line(result, 74)
    assert f"'{run / 'checkpoints/last.pt'}': no space left on the device. Free some space" in line
    assert not list(run.rglob(".*.tmp*"))  # the temp file went with the error
    assert invoke("train", "vanilla", *TINY, "--out", run).exit_code == 0  # no dead end


@pytest.mark.parametrize("error, words", [
    (OSError(errno.EROFS, "Read-only file system", "/mnt/ro/x.png"), "'/mnt/ro/x.png': the file system is read-only"),
    (PermissionError(errno.EACCES, "Permission denied", "/root/x.png"), "'/root/x.png': permission denied"),
    (MemoryError(), "Out of memory"),
])
def test_os_errors_in_sample_are_one_line_with_exit_74(run_dir, tmp_path, monkeypatch, error, words):
    def refuse(*args, **kwargs):
        raise error

    monkeypatch.setattr("gankit.sample.save_samples", refuse)
    assert words in one_line(invoke("sample", run_dir, "--out", tmp_path / "x.png"), 74)


def test_sample_out_naming_a_folder_and_huge_n_are_refused_at_once(run_dir, tmp_path):
    assert "is a folder; pass a file name" in one_line(invoke("sample", run_dir, "--out", tmp_path), 2)
    line = one_line(invoke("sample", run_dir, "--n", 10_000_000, "--out", tmp_path / "x.npy"), 2)
    assert "--n 10000000 is too many" in line


def test_sample_draws_in_batches(run_dir, tmp_path, monkeypatch):
    from gankit import noise

    monkeypatch.setattr(noise, "BATCH", 7)
    assert invoke("sample", run_dir, "--n", 20, "--out", tmp_path / "a.npy").exit_code == 0
    monkeypatch.setattr(noise, "BATCH", 1000)
    assert invoke("sample", run_dir, "--n", 20, "--out", tmp_path / "b.npy").exit_code == 0
    import numpy as np

    assert np.allclose(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"), atol=1e-6)


# -- 4. sampling replaces a samples file, never a checkpoint or a run's config ------------------------

def test_sample_never_writes_over_a_checkpoint_or_a_config(run_dir, tmp_path):
    last = run_dir / "checkpoints/last.pt"
    before = last.read_bytes()
    assert "checkpoints folder" in one_line(invoke("sample", run_dir, "--out", last), 2)
    assert last.read_bytes() == before
    copied = tmp_path / "model.pt"  # a checkpoint outside any run folder is still one
    copied.write_bytes(before)
    assert "is a checkpoint" in one_line(invoke("sample", copied, "--out", copied), 2)
    assert "is a checkpoint" in one_line(invoke("sample", run_dir, "--out", copied), 2)
    config = (run_dir / "config.json").read_bytes()
    assert "config.json" in one_line(invoke("sample", run_dir, "--out", run_dir / "config.json"), 2)
    assert copied.read_bytes() == before and (run_dir / "config.json").read_bytes() == config


def test_sampling_twice_to_one_out_replaces_the_samples(run_dir, tmp_path):
    out = tmp_path / "s.pt"
    assert invoke("sample", run_dir, "--n", 4, "--out", out).exit_code == 0
    first = torch.load(out)
    assert invoke("sample", run_dir, "--n", 4, "--seed", 1, "--out", out).exit_code == 0
    assert not torch.equal(torch.load(out), first)
    mine = tmp_path / "s.png"
    mine.write_bytes(b"an older picture")
    assert invoke("sample", run_dir, "--out", mine).exit_code == 0 and mine.read_bytes()[:4] == b"\x89PNG"
    for _ in range(2):  # the default RUN/samples/sample-seed0.png, twice
        assert invoke("sample", run_dir).exit_code == 0
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_force_still_works_and_says_it_is_no_longer_needed(run_dir, tmp_path):
    result = CliRunner().invoke(build_app(), ["sample", str(run_dir), "--out", str(tmp_path / "s.png"), "--force"])
    assert result.exit_code == 0 and "--force is no longer needed" in result.output


# -- 5. damaged but readable files ---------------------------------------------------------------

def test_a_config_json_of_the_wrong_shape_is_one_line(tmp_path):
    run = tmp_path / "run"
    assert invoke("train", "vanilla", *TINY, "--out", run).exit_code == 0
    (run / "config.json").write_text("[1, 2, 3]")
    line = one_line(invoke("train", "vanilla", "--epochs", "2", "--out", run, "--resume"), 2)
    assert "config.json' is not a gankit run config (a JSON list, not an object)" in line
    assert invoke("sample", run, "--out", tmp_path / "x.npy").exit_code == 0  # the checkpoint suffices


def test_a_checkpoint_whose_config_is_not_a_dict_is_one_line(run_dir, tmp_path):
    state = load_checkpoint(run_dir / "checkpoints/last.pt")
    state["config"] = [1, 2]
    save_checkpoint(state, tmp_path / "odd.pt")
    line = one_line(invoke("sample", tmp_path / "odd.pt", "--out", tmp_path / "x.npy"), 2)
    assert "is damaged: config is not what gankit writes there" in line


def test_a_torn_last_metrics_line_is_skipped_and_the_next_record_starts_a_new_line(tmp_path):
    run = tmp_path / "run"
    assert invoke("train", "vanilla", *TINY, "--out", run).exit_code == 0
    with open(run / "metrics.jsonl", "a") as file:
        file.write('{"event": "epoch", "epo')  # a kill mid-append
    assert [r["epoch"] for r in runs.read_metrics(run)] == [1]
    result = invoke("train", "vanilla", "--epochs", "2", "--out", run, "--resume", "--no-progress")
    assert result.exit_code == 0, result.output
    assert [r["epoch"] for r in runs.read_metrics(run)] == [1, 2]
    assert (run / "metrics.jsonl").read_text().splitlines()[1] == '{"event": "epoch", "epo'


# -- 6. plugins cannot take the CLI down ----------------------------------------------------------

def test_a_plugin_calling_sys_exit_at_import_fails_alone(tmp_path):
    (tmp_path / "quits.py").write_text("import sys\nsys.exit(3)\n")
    result = invoke("--plugins-dir", tmp_path, "plugins")
    assert result.exit_code == 0, result.output
    listing = result.output[result.output.index("["):result.output.rindex("]") + 1]
    states = {p["name"]: p for p in json.loads(listing)}
    assert states["quits"]["state"] == "failed" and "SystemExit: 3" in states["quits"]["error"]
    assert states["vanilla"]["state"] == "loaded"


def test_a_failed_plugin_keeps_nothing_it_registered(monkeypatch):
    import types

    import typer

    from gankit.cli.plugin_commands import add_plugin_commands
    from gankit.host import PluginHost, PluginInfo
    from gankit.hookspecs import hookimpl
    from gankit.registry import LossSpec

    module = types.ModuleType("gankit_clasher")

    @hookimpl
    def gankit_register_losses(register):
        register(LossSpec("clash-loss", "a loss", build=lambda config: None))

    @hookimpl
    def gankit_register_commands(app):
        @app.command("train")
        def train_again():
            pass

    module.gankit_register_losses = gankit_register_losses
    module.gankit_register_commands = gankit_register_commands
    host = PluginHost()
    host.load_builtins()
    assert host.add_plugin(module, PluginInfo("clasher", "loaded"))
    assert "clash-loss" in host.losses
    app = typer.Typer()

    @app.command("train")
    def train_command():
        pass

    add_plugin_commands(app, host)
    assert host.plugins["clasher"].state == "failed"
    assert "clash-loss" not in host.losses
    assert host.pm.get_plugin("clasher") is None


PLUGIN = '''
from dataclasses import dataclass
from gankit import TrainConfig, VariantSpec, hookimpl

@dataclass
class Config(TrainConfig):
    pass

def build(config, info):
    raise ValueError("no networks today.")

@hookimpl
def gankit_register_variants(register):
    register(VariantSpec("broken", "builds nothing", Config, build))
'''


def test_an_error_in_a_plugins_build_is_one_line_naming_it(tmp_path):
    (tmp_path / "brokenplugin.py").write_text(PLUGIN)
    line = one_line(invoke("--plugins-dir", tmp_path, "train", "broken", *TINY, "--out", tmp_path / "r"), 2)
    assert line.startswith("Error: Plugin 'brokenplugin' failed: ValueError: no networks today (at ")
    assert "GANKIT_DISABLE_PLUGINS=brokenplugin" in line and ".." not in line


def test_plugin_error_lines_do_not_end_in_two_dots(tmp_path, capsys):
    from gankit.host import PluginHost

    (tmp_path / "dotted.py").write_text("raise ImportError('needs a thing.')\n")
    PluginHost().load_plugins_dir(tmp_path)
    err = capsys.readouterr().err
    assert "needs a thing." in err and "thing.." not in err


# -- 7. leftovers after kill -9 ---------------------------------------------------------------------

def test_temp_files_a_kill_left_are_removed_when_the_run_goes_on(tmp_path):
    run = tmp_path / "run"
    assert invoke("train", "vanilla", *TINY, "--out", run).exit_code == 0
    orphans = [run / "checkpoints/.last.k9x2.tmp.pt", run / ".config.a1b2.tmp.json",
               run / "samples/.epoch_0002.zz.tmp.png"]
    for orphan in orphans:
        orphan.write_bytes(b"half")
    assert invoke("train", "vanilla", "--epochs", "2", "--out", run, "--resume", "--no-progress").exit_code == 0
    assert not any(orphan.exists() for orphan in orphans)


# -- 10. compare ------------------------------------------------------------------------------------

def test_compare_refuses_one_run_named_twice_and_a_missing_folder(run_dir, monkeypatch):
    monkeypatch.chdir(run_dir.parent)
    line = one_line(invoke("compare", run_dir, "./run", "--n", 100), 2)
    assert "is named twice" in line
    missing = one_line(invoke("compare", "runs/nope"), 2)
    assert "'runs/nope' is not a run folder (it does not exist)" in missing and "variant 'runs" not in missing


# -- 11. validation gaps ----------------------------------------------------------------------------

@pytest.mark.parametrize("args, words", [
    (["--set", "lr=inf"], "lr must be a finite number"),
    (["--lr", "inf"], "lr must be a finite number"),
    (["--seed", str(2**44)], "--seed must be in 0-4294967295"),
    (["--seed", str(2**64)], "--seed must be in 0-4294967295"),
])
def test_train_refuses_values_that_would_break_later(tmp_path, args, words):
    assert words in one_line(invoke("train", "vanilla", *TINY, *args, "--out", tmp_path / "r"), 2)
    assert not (tmp_path / "r").exists()


def test_sample_refuses_a_huge_seed(run_dir, tmp_path):
    line = one_line(invoke("sample", run_dir, "--seed", str(2**64), "--out", tmp_path / "x.png"), 2)
    assert "--seed must be in 0-4294967295" in line


def test_labels_ranges_are_checked_before_they_are_built():
    import time

    from gankit.sample import parse_labels

    started = time.perf_counter()
    with pytest.raises(GankitError, match="labels must be in 0-9"):
        parse_labels("0-99999999", 10)
    assert time.perf_counter() - started < 0.5
    with pytest.raises(GankitError, match="runs backwards; write it low-high, e.g. 0-9"):
        parse_labels("9-0", 10)
    assert parse_labels("0-2,7", 10) == [0, 1, 2, 7]


# -- 12. the minor ones -----------------------------------------------------------------------------

class Payload:
    pass


def test_a_checkpoint_with_foreign_objects_gets_no_advice_to_trust_it(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"generator": Payload()}, path)
    with pytest.raises(CheckpointError) as refused:
        load_checkpoint(path)
    assert "weights_only" not in str(refused.value) and "never loads" in str(refused.value)


def test_checkpoints_follow_the_umask_like_every_other_file(run_dir):
    mask = os.umask(0o022)
    os.umask(mask)
    assert (run_dir / "checkpoints/last.pt").stat().st_mode & 0o777 == 0o666 & ~mask


def test_sampling_a_checkpoint_file_writes_beside_it_or_into_its_runs_samples(run_dir, tmp_path):
    loose = tmp_path / "a" / "b" / "model.pt"
    loose.parent.mkdir(parents=True)
    loose.write_bytes((run_dir / "checkpoints/last.pt").read_bytes())
    assert invoke("sample", loose, "--seed", "11").exit_code == 0
    assert (loose.parent / "model-sample-seed11.png").is_file()
    assert not (tmp_path / "samples").exists()  # not FILE's grandparent
    assert invoke("sample", run_dir / "checkpoints/last.pt", "--seed", "11").exit_code == 0
    assert (run_dir / "samples/sample-seed11.png").is_file()
