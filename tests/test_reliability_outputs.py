"""Reliability (issue 13), the outputs around a run: an epoch's grid and metrics line lost to a kill
after its checkpoint are written again on resume, and a refused write names the file the user
asked for, never gankit's temporary file."""

from __future__ import annotations

import errno
import json

import torch
from typer.testing import CliRunner

from gankit import runs
from gankit.checkpoint import load_checkpoint
from gankit.cli import build_app
from gankit.train import RunOptions, train


def invoke(*args):
    return CliRunner().invoke(build_app(), [str(a) for a in args])


def run_options(out, **extra):
    return RunOptions(out=out, progress=False, max_images=200, device="cpu", **{"seed": 5, **extra})


def test_outputs_lost_between_the_checkpoint_and_the_epoch_end_are_written_again_on_resume(tmp_path):
    tiny = {"epochs": 2, "batch_size": 50}
    unbroken = tmp_path / "unbroken"
    train("vanilla", tiny, run_options(unbroken))

    broken = tmp_path / "broken"
    train("vanilla", {**tiny, "epochs": 1}, run_options(broken))
    # What a kill -9 right after epoch 1's checkpoint leaves: no grid, no metrics line, no plot.
    runs.sample_grid_path(broken, 1).unlink()
    (broken / "metrics.jsonl").unlink()
    (broken / "losses.png").unlink()
    assert load_checkpoint(runs.checkpoint_path(broken))["epoch_record"]["epoch"] == 1

    train("vanilla", {"epochs": 2}, run_options(broken, resume=True, seed=None))

    assert [r["epoch"] for r in runs.read_metrics(broken)] == [1, 2]
    for epoch in (1, 2):  # the same pictures the unbroken run drew
        assert runs.sample_grid_path(broken, epoch).read_bytes() == \
            runs.sample_grid_path(unbroken, epoch).read_bytes()
    assert (broken / "losses.png").is_file()
    # epoch 1's steps.jsonl lines had landed before the "kill": written again once, not twice
    assert (broken / "steps.jsonl").read_text() == (unbroken / "steps.jsonl").read_text()
    ours, theirs = (load_checkpoint(runs.checkpoint_path(r)) for r in (broken, unbroken))
    for key, value in theirs["generator"].items():  # and the run went on bit for bit
        assert torch.equal(ours["generator"][key], value), key
    same = {k: v for k, v in runs.read_metrics(unbroken)[0].items() if k not in ("seconds", "images_per_s")}
    assert {k: v for k, v in runs.read_metrics(broken)[0].items() if k in same} == same


def test_a_resume_with_its_outputs_on_disk_writes_nothing_twice(tmp_path):
    run = tmp_path / "run"
    train("vanilla", {"epochs": 1, "batch_size": 50}, run_options(run))
    train("vanilla", {"epochs": 2}, run_options(run, resume=True, seed=None))
    assert [r["epoch"] for r in runs.read_metrics(run) if r.get("event") == "epoch"] == [1, 2]


def test_a_read_only_folder_is_named_by_the_target_not_the_temp_file(tmp_path, monkeypatch):
    run = tmp_path / "run"
    train("vanilla", {"epochs": 1, "batch_size": 50}, run_options(run))

    def read_only(*args, dir=None, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", f"{dir}/.samples.abc123.tmp.png")

    monkeypatch.setattr("gankit._io.tempfile.mkstemp", read_only)
    target = tmp_path / "ro" / "samples.png"
    result = invoke("sample", run, "--out", target)
    assert result.exit_code == 74, result.output
    assert f"'{target}': the file system is read-only" in result.output
    assert ".tmp" not in result.output


def test_config_json_records_nothing_new_for_the_lost_outputs(tmp_path):
    # The record lives in the checkpoint only: config.json stays what a run folder always held.
    run = tmp_path / "run"
    train("vanilla", {"epochs": 1, "batch_size": 50}, run_options(run))
    assert "epoch_record" not in json.loads((run / "config.json").read_text())


def test_a_damaged_evaluator_json_is_one_line(tmp_path):
    import shutil

    import pytest

    from gankit.errors import GankitError
    from gankit.evaluate.evaluator import load_evaluator, metadata_path, weights_path

    weights = tmp_path / "mnist.pt"
    shutil.copy(weights_path("mnist"), weights)
    for damage, words in (("{not json", "not valid JSON"), ("[1, 2, 3]", "a JSON list, not an object")):
        metadata_path(weights).write_text(damage)
        with pytest.raises(GankitError, match=words) as caught:
            load_evaluator("mnist", weights)
        assert "is damaged" in str(caught.value) and "\n" not in str(caught.value)


def test_ctrl_c_while_plugins_load_is_one_line_and_exit_130(monkeypatch, capsys):
    import pytest

    from gankit.cli import app

    def interrupted(**kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(app, "get_host", interrupted)
    monkeypatch.setattr("sys.argv", ["gankit", "list"])
    with pytest.raises(SystemExit) as exit:
        app.main()
    assert exit.value.code == 130
    err = capsys.readouterr().err
    assert "Interrupted while loading plugins" in err and "Traceback" not in err


def test_ctrl_c_in_sample_is_one_line_and_exit_130(tmp_path, monkeypatch):
    run = tmp_path / "run"
    train("vanilla", {"epochs": 1, "batch_size": 50}, run_options(run))

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("gankit.sample.save_samples", interrupted)
    result = invoke("sample", run, "--out", tmp_path / "s.png")
    assert result.exit_code == 130, result.output
    assert "Interrupted" in result.output and "Aborted" not in result.output
    assert not (tmp_path / "s.png").exists()
