"""Faults in what gankit writes and reads (issue 13's follow-up): a full disk under every writer
(torch.save, numpy, stdout, a comparison's report files), a plugin skeleton written half-way, and a
plugin that disarms safe loading by patching ``torch.load``. Each test failed before its fix;
bench/faults.py runs the same cases on real processes."""

from __future__ import annotations

import errno
import functools
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import gankit._io
from gankit.cli import build_app
from gankit.errors import CheckpointError


def invoke(*args):
    return CliRunner().invoke(build_app(), [str(a) for a in args])


def one_line(result, code):
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output and len(lines) == 1, result.output
    return lines[0]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    run = tmp_path_factory.mktemp("writes") / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GANKIT_OFFLINE", "1")
        patch.setenv("GANKIT_DATA_ROOT", str(run.parent / "empty"))
        result = invoke("train", "vanilla", "--epochs", "1", "--max-images", "100", "--batch-size", "50",
                        "--no-progress", "--out", run)
    assert result.exit_code == 0, result.output
    return run


class FullDisk(io.FileIO):
    """A file on a disk that fills up after its first 16 KB: short writes, then ENOSPC."""

    room = 16384

    def write(self, data):
        size = min(len(data), self.room)
        if size == 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= size
        return super().write(bytes(memoryview(data)[:size]))


class NoRoom(FullDisk):
    room = 0


@pytest.fixture
def full_disk(monkeypatch):
    """ENOSPC on every write of a file that gankit's atomic writer opens (the temp file)."""
    def opener(path, mode="r", *args, **kwargs):
        assert "w" in mode
        raw = FullDisk(path, "w")
        return io.BufferedWriter(raw) if "b" in mode else io.TextIOWrapper(io.BufferedWriter(raw))

    monkeypatch.setattr(gankit._io, "open", opener, raising=False)


# -- 3. a full disk: one line naming the path, from every writer -----------------------------------

@pytest.mark.parametrize("name", ["x.pt", "x.npy"])
def test_sample_to_a_tensor_file_on_a_full_disk_is_one_line_naming_it(run_dir, tmp_path, full_disk, name):
    out = tmp_path / name
    line = one_line(invoke("sample", run_dir, "--n", "100", "--out", out), 74)
    assert f"'{out}': no space left on the device" in line
    assert not out.exists() and not list(tmp_path.glob(".*"))


def test_torch_save_through_the_atomic_writer_raises_the_full_disk(tmp_path, full_disk):
    from gankit.evaluate.train_evaluator import _save_atomic  # `gankit evaluator train`'s writer

    with pytest.raises(OSError) as caught:
        _save_atomic({"weights": torch.zeros(100_000)}, tmp_path / "evaluator.pt")
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(tmp_path / "evaluator.pt")


def test_an_oserror_without_errno_is_no_errno_none_line():
    from gankit.cli.common import system_error_line

    line = system_error_line(OSError(None, None))
    assert "None" not in line and line.startswith("Cannot use: ")


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_stdout_on_a_full_disk_is_one_line_naming_the_file(tmp_path):
    env = {**os.environ, "GANKIT_OFFLINE": "1", "GANKIT_DATA_ROOT": str(tmp_path)}
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "gankit", "list", "--json"], stdout=full,
                              stderr=subprocess.PIPE, text=True, env=env, timeout=120)
    assert done.returncode == 74, done.stderr
    assert done.stderr.strip().splitlines() == [
        "Error: Cannot use standard output '/dev/full': no space left on the device. Free some space, or "
        "write somewhere else."]


@pytest.fixture
def stubbed_report(monkeypatch):
    """write_reports with every document's content stubbed: what is tested is how they are written."""
    from gankit.compare import report

    def image(panels, path):
        Path(path).write_bytes(b"new png")

    monkeypatch.setattr(report, "save_side_by_side", image)
    monkeypatch.setattr(report, "plot_loss_overlay", image)
    monkeypatch.setattr(report, "markdown", lambda results, out: "new md")
    monkeypatch.setattr(report, "html_report", lambda results, out: "new html")
    return report


def old_report(out):
    out.mkdir()
    for name in ("report.md", "report.html", "results.json", "side_by_side.png", "losses.png"):
        (out / name).write_text(f"old {name}")
    return {path.name: path.read_bytes() for path in out.iterdir()}


def test_a_report_is_written_all_or_nothing_on_a_full_disk(tmp_path, monkeypatch, stubbed_report):
    out = tmp_path / "cmp"
    before = old_report(out)
    real_open = open

    def html_fails(path, mode="r", *args, **kwargs):
        if str(path).endswith(".html"):
            return io.TextIOWrapper(io.BufferedWriter(NoRoom(path, "w")))
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(gankit._io, "open", html_fails, raising=False)
    with pytest.raises(OSError) as caught:
        stubbed_report.write_reports({"variants": []}, {}, out)
    assert caught.value.filename == str(out / "report.html")  # the file the user knows, not a temp one
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before  # nothing replaced


def test_a_report_file_that_cannot_be_put_in_place_puts_the_others_back(tmp_path, stubbed_report):
    out = tmp_path / "cmp"
    before = old_report(out)
    (out / "results.json").unlink()
    (out / "results.json").mkdir()  # sorted after report.html and report.md: they were replaced first
    del before["results.json"]
    with pytest.raises(OSError) as caught:
        stubbed_report.write_reports({"variants": []}, {}, out)
    assert str(out / "results.json") in (caught.value.filename, caught.value.filename2)
    assert {path.name: path.read_bytes() for path in out.iterdir() if path.is_file()} == before
    assert sorted(path.name for path in out.iterdir()) == sorted([*before, "results.json"])


def test_a_report_replaces_the_old_one_whole(tmp_path, stubbed_report):
    out = tmp_path / "cmp"
    old_report(out)
    (out / stubbed_report.CLOSEST_PAIRS).write_text("old pairs")  # the new comparison has none
    stubbed_report.write_reports({"variants": []}, {}, out)
    assert json.loads((out / "results.json").read_text()) == {"variants": []}
    assert (out / "report.html").read_text() == "new html" and (out / "report.md").read_text() == "new md"
    assert not (out / stubbed_report.CLOSEST_PAIRS).exists() and not list(out.glob(".*"))


# -- 4. plugin new: a checked name, a whole skeleton or none ---------------------------------------

def test_plugin_new_refuses_a_name_with_a_newline(tmp_path):
    line = one_line(invoke("plugin", "new", "mygan\n", "--out", tmp_path), 2)
    assert "'mygan\\n' must be lower case" in line
    assert list(tmp_path.iterdir()) == []


def test_a_failed_skeleton_write_leaves_nothing_and_the_retry_works(tmp_path, monkeypatch):
    real_write_text = Path.write_text
    written = []

    def third_fails(self, *args, **kwargs):
        written.append(self.name)
        if len(written) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write_text(self, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(Path, "write_text", third_fails)
        line = one_line(invoke("plugin", "new", "mygan", "--out", tmp_path), 74)
    assert f"'{tmp_path / 'gankit-mygan'}" in line and "no space left on the device" in line
    assert list(tmp_path.iterdir()) == []  # no half skeleton, no temp folder
    result = invoke("plugin", "new", "mygan", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "gankit-mygan" / "gankit_mygan" / "model.py").is_file()
    assert oct((tmp_path / "gankit-mygan").stat().st_mode & 0o777) != oct(0o700)  # not mkdtemp's


# -- 5. safe loading survives a plugin's patched torch.load ----------------------------------------

class RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('code ran')",)


@pytest.fixture
def evil_checkpoint(tmp_path):
    marker = tmp_path / "code-ran"
    path = tmp_path / "evil.pt"
    torch.save({"generator": RunsCode(marker), "discriminator": {}, "variant": "vanilla", "config": {},
                "epoch": 1, "step": 1}, path)
    return path, marker


def forcing_weights_only_false(real):
    @functools.wraps(real)  # dressed up as the original, as such patches often are
    def load(*args, **kwargs):
        kwargs["weights_only"] = False
        return real(*args, **kwargs)
    return load


def test_a_patched_torch_load_cannot_make_a_checkpoint_run_code(evil_checkpoint, tmp_path, monkeypatch):
    from gankit.checkpoint import load_checkpoint

    path, marker = evil_checkpoint
    monkeypatch.setattr(torch, "load", forcing_weights_only_false(torch.load))
    with pytest.raises(CheckpointError, match="holds objects other than tensors"):
        load_checkpoint(path)
    line = one_line(invoke("sample", path, "--out", tmp_path / "s.png"), 2)
    assert "evil.pt" in line and not marker.exists()


def test_torch_s_own_load_patched_too_is_refused_in_one_line(evil_checkpoint, tmp_path, monkeypatch):
    path, marker = evil_checkpoint
    forced = forcing_weights_only_false(torch.serialization.load)
    monkeypatch.setattr(torch, "load", forced)
    monkeypatch.setattr(torch.serialization, "load", forced)
    line = one_line(invoke("sample", path, "--out", tmp_path / "s.png"), 2)
    assert "torch.serialization.load was replaced by load (" in line and __file__ in line
    assert "weights_only=False" in line and not marker.exists()


def test_the_refusal_names_the_plugin_that_patched_it(evil_checkpoint, tmp_path):
    path, marker = evil_checkpoint
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "patcher.py").write_text(
        "import torch, torch.serialization\n_real = torch.serialization.load\n"
        "def load(*args, **kwargs):\n    kwargs['weights_only'] = False\n    return _real(*args, **kwargs)\n"
        "torch.load = torch.serialization.load = load\n")
    real_load, real_serialization_load = torch.load, torch.serialization.load
    try:
        line = one_line(invoke("--plugins-dir", plugins, "sample", path, "--out", tmp_path / "s.png"), 2)
    finally:
        torch.load, torch.serialization.load = real_load, real_serialization_load
        sys.modules.pop("gankit_local_patcher", None)
    assert "GANKIT_DISABLE_PLUGINS=patcher" in line and not marker.exists()


def test_a_real_checkpoint_still_loads_under_a_patched_torch_load(run_dir, monkeypatch):
    from gankit.checkpoint import load_checkpoint

    monkeypatch.setattr(torch, "load", forcing_weights_only_false(torch.load))
    assert load_checkpoint(run_dir / "checkpoints/last.pt")["epoch"] == 1
