"""Several processes through torchrun (gloo on this CPU): one run whatever the process count.

Two torchrun launches cover it: a script that trains on 2 ranks (a fresh run, and the resume of a
1-process run), and ``gankit train`` interrupted with SIGINT. The 1-process references train in
this process. Vanilla with dropout 0 draws no random numbers but the noise, which every rank draws
for the global batch, so 1 and 2 processes differ only in how the gradient sums are added up.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from gankit.checkpoint import load_checkpoint
from gankit.runs import checkpoint_path
from gankit.train import RunOptions, train
from gankit.train.distributed import SINGLE, Distributed

ROOT = Path(__file__).resolve().parents[1]
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
SETTINGS = {"dropout": 0.0, "batch_size": 32, "epochs": 1}  # 640 images: 20 steps an epoch
IMAGES = 640
# float32 sums of 2 half-batch means instead of 1 batch mean differ in the last bits (~1e-7
# relative); 20-40 Adam steps carry that into the weights (largest difference measured: 4e-8
# after 40 steps), 250 times below atol; any other batch or noise changes the very first step.
TOLERANCE = dict(rtol=1e-4, atol=1e-5)

WORKER = textwrap.dedent("""
    import sys, torch, torch.distributed as dist
    from pathlib import Path
    from gankit import Callback
    from gankit.evaluate.in_training import EvaluationCallback
    from gankit.train import RunOptions, train

    dist.init_process_group("gloo")  # kept across both runs: gankit leaves a caller's group alone
    rank, out = dist.get_rank(), Path(sys.argv[1])

    class LiveWeights(Callback):  # each rank's own networks, written outside the run folder
        name, all_ranks = "live_weights", True
        def on_run_end(self, context):
            torch.save({**{"G." + k: v for k, v in context.generator.state_dict().items()},
                        **{"D." + k: v for k, v in context.discriminator.state_dict().items()}},
                       out / f"rank{rank}.pt")

    options = dict(device="cpu", progress=False, max_images=640)
    settings = {"dropout": 0.0, "batch_size": 32, "epochs": 1}
    # --eval-every on rank 0 while rank 1 waits at the epoch's barrier
    train("vanilla", settings, RunOptions(out=out / "two", **options),
          callbacks=[LiveWeights(), EvaluationCallback(1, 50)])
    train("vanilla", {**settings, "epochs": 2}, RunOptions(out=out / "b", resume=True, **options))

    class NanOnRank1(Callback):  # a value only rank 1 logs, and it is not a number
        name, all_ranks = "nan_on_rank1", True
        def on_discriminator_step(self, context):
            if rank == 1:
                context.log("probe_loss", float("nan"))
    try:
        train("vanilla", settings, RunOptions(out=out / "nan", **options), callbacks=[NanOnRank1()])
    except Exception as error:  # every rank stops, with the same message
        (out / f"nan{rank}.txt").write_text(f"{type(error).__name__}: {error}")
    dist.destroy_process_group()
""")


def failure(done: subprocess.CompletedProcess) -> str:
    # The start of stderr says where a rank died (torchrun's summary fills the end), e.g. the
    # "terminate called without an active exception" seen once in a suite run under load.
    return f"{done.stdout[-1500:]}\n--- stderr ---\n{done.stderr[:2000]}\n...\n{done.stderr[-1500:]}"


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    state = load_checkpoint(checkpoint_path(run_dir), map_location="cpu")
    return {**{f"G.{k}": v for k, v in state["generator"].items()},
            **{f"D.{k}": v for k, v in state["discriminator"].items()}}


def assert_close(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], **TOLERANCE, msg=lambda m: f"{key}: {m}")


def one_process(out: Path, epochs: int = 1, resume: bool = False) -> None:
    train("vanilla", {**SETTINGS, "epochs": epochs}, RunOptions(
        out=out, device="cpu", progress=False, max_images=IMAGES, resume=resume))


def test_shard_gives_each_rank_its_slice_of_every_global_batch():
    order = torch.arange(12)
    parts = [Distributed(rank, 2).shard(order, 4) for rank in range(2)]
    assert parts[0].tolist() == [0, 1, 4, 5, 8, 9] and parts[1].tolist() == [2, 3, 6, 7, 10, 11]
    assert SINGLE.shard(order, 4) is order
    assert Distributed(1, 2).slice(torch.arange(8)).tolist() == [4, 5, 6, 7]


def test_two_processes_train_the_one_process_run_and_resume_across_world_sizes(tmp_path):
    one_process(tmp_path / "ref")
    shutil.copytree(tmp_path / "ref", tmp_path / "b")  # resumed below on 2 processes
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    done = subprocess.run([*TORCHRUN, str(script), str(tmp_path)], cwd=ROOT, capture_output=True,
                          text=True, timeout=240, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, failure(done)

    # DDP keeps the ranks identical, bit for bit; rank 0's checkpoint holds those plain weights.
    rank0, rank1 = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    assert all(torch.equal(rank0[key], rank1[key]) for key in rank0)
    two = weights(tmp_path / "two")
    assert all(torch.equal(two[key], rank0[key]) for key in rank0)
    assert not any(key.startswith(("G.module.", "D.module.")) for key in two)
    # One run folder, written by rank 0 alone: one metrics line per epoch, the world recorded.
    config = json.loads((tmp_path / "two" / "config.json").read_text())
    assert config["distributed"] == {"world_size": 2, "backend": "gloo", "per_rank_batch": 16}
    lines = [json.loads(line) for line in (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()]
    assert [(line["event"], line["epoch"]) for line in lines] == [("epoch", 1), ("eval", 1)]
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == [
        "checkpoints", "config.json", "losses.png", "metrics.jsonl", "samples", "steps.jsonl"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "b", "nan", "nan0.txt", "nan1.txt", "rank0.pt", "rank1.pt", "ref", "two", "worker.py"]
    # A NaN on rank 1 alone stops both ranks at the same step with the same message.
    message = (tmp_path / "nan0.txt").read_text()
    assert message == (tmp_path / "nan1.txt").read_text()
    assert message.startswith("TrainingError: Training stopped: non-finite loss") and "probe_loss=nan" in message

    # 1 and 2 processes: the same weights up to summation order.
    reference = weights(tmp_path / "ref")
    assert_close(two, reference)
    # Resume across world sizes: 2 -> 1 and 1 -> 2 both land where 1 -> 1 does.
    shutil.copytree(tmp_path / "two", tmp_path / "a")
    one_process(tmp_path / "a", epochs=2, resume=True)
    one_process(tmp_path / "ref", epochs=2, resume=True)
    final = weights(tmp_path / "ref")
    assert_close(weights(tmp_path / "a"), final)
    assert_close(weights(tmp_path / "b"), final)
    assert load_checkpoint(checkpoint_path(tmp_path / "b"), map_location="cpu")["step"] == 40


def test_ctrl_c_under_devices_2_stops_every_rank_and_rank_0_saves_once(tmp_path):
    """`--devices 2` runs torchrun's launcher in this command's process; Ctrl-C reaches it and
    both ranks (one process group), as in a terminal."""
    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "gankit", "train", "vanilla", "--devices", "2", "--epochs", "200",
               "--max-images", str(IMAGES), "--batch-size", "32", "--out", str(run_dir), "--no-progress",
               "--device", "cpu"]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, start_new_session=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.monotonic() + 180
    while not (run_dir / "metrics.jsonl").is_file() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: every process gets it
    output, _ = process.communicate(timeout=120)
    assert process.returncode != 0, output
    assert output.count("Interrupted.") == 1, output  # rank 0 speaks; the others stop quietly
    state = load_checkpoint(checkpoint_path(run_dir), map_location="cpu")
    assert 1 <= state["epoch"] < 200
    assert state["step"] == state["epoch"] * 20 + state["batch_in_epoch"]
    assert not list(run_dir.glob("checkpoints/*.tmp*"))
    assert json.loads((run_dir / "config.json").read_text())["distributed"]["world_size"] == 2


def test_the_issue_command_runs_from_a_source_checkout(tmp_path):
    """`torchrun ... gankit train`, word for word: torchrun runs `python -u gankit`, which from a
    checkout's root is the package folder run through its __main__.py (elsewhere Python looks for
    a file called gankit, and `-m gankit` is the form docs/distributed.md gives)."""
    torchrun = Path(sys.executable).with_name("torchrun")  # torch's console script, beside python
    done = subprocess.run([str(torchrun), "--standalone", "--nproc_per_node", "2", "gankit", "train", "vanilla",
                           "--epochs", "1", "--max-images", "200", "--batch-size", "50", "--no-progress",
                           "--out", str(tmp_path / "run")],
                          cwd=ROOT, capture_output=True, text=True, timeout=240,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, failure(done)
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["distributed"] == {"world_size": 2, "backend": "gloo", "per_rank_batch": 25}
    assert load_checkpoint(checkpoint_path(tmp_path / "run"), map_location="cpu")["epoch"] == 1


def test_compare_with_two_jobs_equals_one_job(tmp_path):
    """The training half of `compare --jobs 2` (the scoring half is the serial one, run after)."""
    from gankit.compare.parallel import train_in_parallel
    from gankit.compare.run import CompareOptions, Contender, train_contender
    from gankit.host import get_host

    host = get_host()
    options = CompareOptions(epochs=1, seeds=2, max_images=100, device="cpu", progress=False, jobs=2)
    serial, parallel = Contender("vanilla", "vanilla", True), Contender("vanilla", "vanilla", True)
    train_contender(serial, options, "mnist", tmp_path / "jobs1", host, None)
    train_in_parallel(train_contender, [parallel], options, "mnist", tmp_path / "jobs2", host, None)
    assert parallel.seeds == [0, 1] and parallel.epochs == 1
    assert [d.name for d in parallel.run_dirs] == ["vanilla-seed0", "vanilla-seed1"]
    for one, two in zip(serial.run_dirs, parallel.run_dirs):  # the same function of the seed
        assert_close(weights(two), weights(one))


def test_sync_bn_is_refused_on_cpu_and_devices_leaves_the_command_line():
    from gankit.errors import ConfigError
    from gankit.train.distributed import convert_sync_batchnorm, without_devices

    networks = (torch.nn.BatchNorm1d(3), torch.nn.Linear(2, 2))
    convert_sync_batchnorm(networks, SINGLE, torch.device("cpu"))  # one process: nothing to do
    with pytest.raises(ConfigError, match="--sync-bn needs CUDA"):
        convert_sync_batchnorm(networks, Distributed(0, 2), torch.device("cpu"))
    assert without_devices(["train", "dcgan", "--devices", "4", "--devices=2", "--epochs", "3"]) == [
        "train", "dcgan", "--epochs", "3"]
    with pytest.raises(ConfigError, match="does not split evenly"):
        Distributed(0, 3).check_batch(64)
