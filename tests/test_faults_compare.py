"""Reported faults of `gankit compare`, one test each: a run folder whose checkpoint is another
variant's than its config.json says (it was labelled from config.json), and the advice a stopped
comparison prints (it named a placeholder variant and a resume that failed), followed literally.
bench/faults.py runs the same cases."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import torch
from typer.testing import CliRunner

from gankit.cli import build_app

TINY = ["--epochs", "1", "--max-images", "200", "--batch-size", "50", "--no-progress"]


def cli(*args: object):
    return CliRunner().invoke(build_app(), [str(arg) for arg in args])


def test_a_run_whose_checkpoint_is_another_variants_is_refused_in_one_line(tmp_path):
    """dcgan's config.json with vanilla's last.pt was scored as vanilla and reported as dcgan (its
    label, recipe and budget from config.json): now refused, before anything trains."""
    dcgan, vanilla = tmp_path / "dcgan", tmp_path / "vanilla"
    assert cli("train", "dcgan", *TINY, "--set", "g_features=4", "--set", "d_features=4",
               "--out", dcgan).exit_code == 0
    assert cli("train", "vanilla", *TINY, "--out", vanilla).exit_code == 0
    shutil.copy(vanilla / "checkpoints/last.pt", dcgan / "checkpoints/last.pt")
    result = cli("compare", "vanilla", dcgan, "--n", "100", "--out", tmp_path / "cmp", *TINY[:2])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert lines[0].startswith(f"Error: Cannot compare '{dcgan}': config.json and ")
    assert "disagree on variant" in lines[0] and "compare another run folder" in lines[0]
    assert not (tmp_path / "cmp" / "runs").exists()  # refused before vanilla was trained
    # The folder's own checkpoint back: compared, under its own name.
    shutil.rmtree(dcgan)
    assert cli("train", "dcgan", *TINY, "--set", "g_features=4", "--set", "d_features=4",
               "--out", dcgan).exit_code == 0
    assert cli("compare", dcgan, "--n", "100", "--out", tmp_path / "cmp2").exit_code == 0


def gankit_command(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "gankit", *args]


def test_a_stopped_comparisons_advice_works_when_followed_literally(tmp_path):
    """SIGTERM while seed 1 trains; the printed command, run as printed, finishes the comparison:
    seed 0's finished run is kept as it was, seed 1 resumes from its checkpoint."""
    # 15 epochs of 300 images: seed 1 trains for about 3 s, where the signal follows its first
    # metrics line within 0.1 s (40 epochs made this the suite's slowest test, 35 s).
    EPOCHS = 15
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args = ["compare", "vanilla", "--seeds", "2", "--epochs", str(EPOCHS), "--max-images", "300", "--n", "100",
            "--no-progress", "--out", str(tmp_path / "cmp")]
    process = subprocess.Popen(gankit_command(args), cwd=tmp_path, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    second = tmp_path / "cmp/runs/vanilla-seed1/metrics.jsonl"
    deadline = time.monotonic() + 120
    while not second.is_file() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    output = process.communicate(timeout=120)[0]
    assert process.returncode == 130, output
    advice = [line for line in output.splitlines() if line.startswith("Interrupted.")]
    assert len(advice) == 1 and "VARIANT" not in advice[0], output
    command = re.search(r"continue the comparison with `([^`]+)`", advice[0])
    assert command, advice[0]
    words = shlex.split(command.group(1))
    assert words[:2] == ["gankit", "compare"] and "--out" in words
    first = torch.load(tmp_path / "cmp/runs/vanilla-seed0/checkpoints/last.pt", weights_only=True)
    stopped = torch.load(tmp_path / "cmp/runs/vanilla-seed1/checkpoints/last.pt", weights_only=True)
    assert first["epoch"] == EPOCHS and stopped["epoch"] < EPOCHS

    done = subprocess.run(gankit_command(words[1:]), cwd=tmp_path, env=env, text=True,
                          capture_output=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads((tmp_path / "cmp/results.json").read_text())
    assert [run["epochs"] for run in results["variants"][0]["runs"]] == [EPOCHS, EPOCHS]
    kept = torch.load(tmp_path / "cmp/runs/vanilla-seed0/checkpoints/last.pt", weights_only=True)
    assert all(torch.equal(kept["generator"][k], first["generator"][k]) for k in first["generator"])
    epochs = [r["epoch"] for r in map(json.loads, (tmp_path / "cmp/runs/vanilla-seed1/metrics.jsonl")
                                      .read_text().splitlines()) if r.get("event") == "epoch"]
    assert epochs == list(range(1, EPOCHS + 1))


def test_a_folder_of_another_run_in_the_comparisons_runs_is_still_refused(tmp_path):
    """Continuing a comparison takes only its own runs: another variant's folder under the name is
    refused in one line, as an existing folder was before."""
    out = tmp_path / "cmp"
    assert cli("train", "dcgan", *TINY, "--set", "g_features=4", "--set", "d_features=4",
               "--out", out / "runs/vanilla-seed0").exit_code == 0
    result = cli("compare", "vanilla", *TINY[:4], "--n", "100", "--out", out)
    assert result.exit_code == 2, result.output
    assert "already exists and holds another run than vanilla seed 0 on mnist" in " ".join(result.output.split())
