"""The first hour (issue 24): what a learner types from the README and sees back."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from gankit.testing import invoke

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One epoch of vanilla on 200 bundled digits, and what `gankit train` printed."""
    run = tmp_path_factory.mktemp("first-hour") / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GANKIT_OFFLINE", "1")
        patch.setenv("GANKIT_DATA_ROOT", str(run.parent / "empty"))
        result = invoke(["train", "vanilla", "--epochs", 1, "--max-images", 200, "--no-progress",
                         "--out", run])
    assert result.exit_code == 0, result.output
    return run, result.output


def test_sample_of_a_glob_that_matches_two_runs_samples_the_newest(tiny_run, tmp_path):
    older, newer = tmp_path / "vanilla-mnist-1", tmp_path / "vanilla-mnist-2"
    shutil.copytree(tiny_run[0], older)
    shutil.copytree(tiny_run[0], newer)
    for path in older.rglob("*"):
        os.utime(path, (1_000_000_000, 1_000_000_000))
    for order in ([older, newer], [newer, older]):
        result = invoke(["sample", *order, "--n", 4])
        assert result.exit_code == 0, result.output
        notice = [line for line in result.output.splitlines() if "matched" in line]
        assert len(notice) == 1 and "2 run folders" in notice[0] and str(newer) in notice[0], result.output
        assert (newer / "samples/sample-seed0.png").is_file()
        assert not (older / "samples/sample-seed0.png").exists()
    out = tmp_path / "picked.png"
    assert invoke(["sample", older, newer, "--out", out]).exit_code == 0 and out.is_file()


def test_the_data_line_says_how_many_images_were_drawn_and_config_keeps_the_source(tiny_run):
    run, output = tiny_run
    line = next(line for line in output.splitlines() if line.startswith("data:"))
    assert line.startswith("data: 200 images drawn (seeded) from the bundled 5,000-digit MNIST subset"), line
    recorded = json.loads((run / "config.json").read_text())["dataset"]
    assert recorded["source"].startswith("bundled 5,000-digit MNIST subset")  # the source, not the draw
    assert recorded["num_images"] == 200 and recorded["max_images"] == 200


def test_changing_max_images_on_resume_says_it_cannot_change(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run[0], run)
    before = {path: path.stat().st_mtime_ns for path in run.rglob("*") if path.is_file()}
    result = invoke(["train", "vanilla", "--out", run, "--resume", "--epochs", 2, "--max-images", 150,
                     "--no-progress"])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "Cannot change --max-images when resuming" in lines[0], result.output
    assert "trained on 200 images, --max-images 200" in lines[0] and "were found now" not in lines[0]
    assert {path: path.stat().st_mtime_ns for path in run.rglob("*") if path.is_file()} == before


def test_done_says_epoch_or_epochs(tiny_run, tmp_path):
    assert re.search(r"Done: 1 epoch in ", tiny_run[1]), tiny_run[1]
    run = tmp_path / "run"
    shutil.copytree(tiny_run[0], run)
    result = invoke(["train", "vanilla", "--out", run, "--resume", "--epochs", 2, "--no-progress"])
    assert result.exit_code == 0, result.output
    assert re.search(r"Done: 2 epochs in ", result.output), result.output


def readme_block(containing: str) -> str:
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    return next(block for block in blocks if containing in block)


def test_the_readme_load_run_snippet_gives_images_numpy_can_read(tiny_run):
    block = readme_block("load_run(")
    example = re.search(r'load_run\("([^"]+)"\)', block).group(1)
    namespace: dict = {}
    exec(compile(block.replace(example, str(tiny_run[0])), "README.md, load_run", "exec"), namespace)
    images = namespace["images"]
    assert images.numpy().shape == (16, 1, 28, 28) and not images.requires_grad
    assert -1.0 <= images.min() and images.max() <= 1.0
