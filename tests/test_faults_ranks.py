"""Reported faults of several processes (gloo on this CPU), one test each: SIGTERM to `train
--devices 2` (it exited 1, "a training process failed"), a rank killed (the other printed gloo's
traceback), and torchrun's agent killed (both ranks trained on to the end). bench/faults.py runs
the same cases. Each run is a few seconds of vanilla on 320 digits, 10 steps an epoch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gankit.checkpoint import load_checkpoint
from gankit.runs import checkpoint_path
from gankit.train import RunOptions, train

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc to find the ranks")
RUN = ["--max-images", "320", "--batch-size", "32", "--no-progress", "--device", "cpu"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def start(command: list[str], run_dir: Path) -> subprocess.Popen:
    """``command`` in its own session, once its run has logged an epoch (ranks running)."""
    process = subprocess.Popen(command, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, start_new_session=True)
    deadline = time.monotonic() + 180
    while not (run_dir / "metrics.jsonl").is_file() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert process.poll() is None, process.communicate()[0]
    return process


def ranks_of(agent: int) -> dict[int, int]:
    """RANK -> pid of the agent's child processes."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) != agent:
                continue
            environ = (stat.parent / "environ").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        rank = next((item[5:] for item in environ if item.startswith(b"RANK=")), None)
        if rank is not None:
            found[int(rank)] = int(stat.parent.name)
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def assert_resumable(run_dir: Path, epochs: int) -> None:
    state = load_checkpoint(checkpoint_path(run_dir), map_location="cpu")
    assert 1 <= state["epoch"] < epochs and state["step"] == state["epoch"] * 10 + state["batch_in_epoch"]
    assert not list(run_dir.rglob(".*.tmp*")) and not list(run_dir.glob("checkpoints/*.tmp*"))


def test_sigterm_to_train_devices_2_exits_130_with_a_line_and_a_checkpoint(tmp_path):
    run_dir = tmp_path / "run"
    process = start([sys.executable, "-m", "gankit", "train", "vanilla", "--devices", "2", "--epochs", "200",
                     *RUN, "--out", str(run_dir)], run_dir)
    assert len(ranks_of(process.pid)) == 2
    process.send_signal(signal.SIGTERM)  # to the launcher alone, as `kill PID` or SLURM sends it
    output = process.communicate(timeout=120)[0]
    assert process.returncode == 130, output
    assert output.count("Interrupted. Checkpoint saved; continue with:") == 1, output  # rank 0's
    assert "Terminated (SIGTERM): the 2 training processes were stopped at their next step" in output
    assert "Traceback" not in output and "a training process failed" not in output
    assert_resumable(run_dir, 200)


def test_a_killed_rank_is_one_line_from_the_other_not_a_traceback(tmp_path):
    run_dir = tmp_path / "run"
    process = start([sys.executable, "-m", "gankit", "train", "vanilla", "--devices", "2", "--epochs", "200",
                     *RUN, "--out", str(run_dir)], run_dir)
    os.kill(ranks_of(process.pid)[1], signal.SIGKILL)
    output = process.communicate(timeout=120)[0]
    assert process.returncode == 1, output
    lines = [line for line in output.splitlines() if "Process 0 of 2 stopped" in line]
    assert len(lines) == 1 and lines[0].startswith("Error: Process 0 of 2 stopped: another process of this "
                                                   "run ended without warning (Connection "), output
    assert "Error: training process 1 of 2 was killed by SIGKILL" in output
    assert "Traceback" not in output and "gloo" not in output, output


def test_killing_torchrun_s_agent_stops_both_ranks_with_a_resumable_checkpoint(tmp_path):
    run_dir = tmp_path / "run"
    process = start([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                     "-m", "gankit", "train", "vanilla", "--epochs", "20", *RUN, "--out", str(run_dir)], run_dir)
    ranks = list(ranks_of(process.pid).values())
    assert len(ranks) == 2
    process.kill()  # the agent alone: its ranks are reparented, not signalled
    killed = time.monotonic()
    while any(map(alive, ranks)) and time.monotonic() < killed + 60:
        time.sleep(0.1)
    stopped_in = time.monotonic() - killed
    for pid in filter(alive, ranks):
        os.kill(pid, signal.SIGKILL)
    output = process.communicate(timeout=30)[0]
    assert stopped_in < 10, f"the ranks ran {stopped_in:.0f} s after their agent died\n{output}"
    assert output.count("Interrupted. Checkpoint saved; continue with:") == 1, output
    assert_resumable(run_dir, 20)
    done = train("vanilla", {"epochs": 20}, RunOptions(out=run_dir, resume=True, device="cpu", progress=False))
    assert done.epochs_done == 20
