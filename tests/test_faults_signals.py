"""Faults around the process (issue 13's follow-up): a closed stdout (``| head``), SIGTERM outside
training, threads a plugin never stops, and ``compare --jobs`` workers killed or orphaned. Each test
failed before its fix; bench/faults.py runs the same cases on real processes."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from rich.console import Console
from typer.testing import CliRunner

from gankit.cli import build_app

TINY = ["--max-images", "100", "--batch-size", "50", "--no-progress"]


def invoke(*args):
    return CliRunner().invoke(build_app(), [str(a) for a in args])


def gankit_env(tmp_path):
    return {**os.environ, "GANKIT_OFFLINE": "1", "GANKIT_DATA_ROOT": str(tmp_path / "empty"),
            "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def lines_of(text):
    return [line for line in text.splitlines() if line.strip()]


# -- 1. a closed stdout never stops a command ----------------------------------------------------

class ClosedPipe(io.StringIO):
    def write(self, text):
        raise BrokenPipeError(32, "Broken pipe")


def test_a_console_on_a_closed_pipe_goes_quiet_instead_of_exiting():
    from gankit.progress import ClosedPipeGuard

    told = []
    guard = ClosedPipeGuard(ClosedPipe(), on_close=lambda: told.append(1))
    guard.NOTICE_AFTER_S = 0.0
    console = Console(file=guard, highlight=False)
    console.print("epoch 2/3")  # Rich's own handling of BrokenPipeError is SystemExit(1)
    console.print("epoch 3/3")
    assert guard.closed_pipe and told == [1]  # said once, when something more was dropped
    console.print("Done")
    assert told == [1]


def test_training_piped_into_head_finishes_with_exit_0(tmp_path):
    run = tmp_path / "run"
    trainer = subprocess.Popen(
        [sys.executable, "-m", "gankit", "train", "vanilla", "--epochs", "2", *TINY, "--out", str(run)],
        env=gankit_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    head = subprocess.Popen(["head", "-1"], stdin=trainer.stdout, stdout=subprocess.PIPE)
    trainer.stdout.close()  # head alone reads it: its exit closes the pipe
    head.communicate(timeout=300)
    stderr = trainer.communicate(timeout=300)[1].decode()
    assert trainer.returncode == 0, stderr
    assert len(lines_of(stderr)) <= 1 and "Traceback" not in stderr
    from gankit.runs import read_metrics
    assert [r["epoch"] for r in read_metrics(run) if r.get("event") == "epoch"] == [1, 2]
    assert (run / "checkpoints/last.pt").is_file()


# -- 2. SIGTERM anywhere in the CLI: exit 130, one line ----------------------------------------

class ReachedTheTest(Exception):
    """What SIGTERM raises where the CLI installed no handler of its own (instead of killing pytest)."""


@pytest.fixture
def sigterm_guard():
    def handle(signum, frame):
        raise ReachedTheTest("SIGTERM reached the test's handler")

    previous = signal.signal(signal.SIGTERM, handle)
    yield handle
    assert signal.getsignal(signal.SIGTERM) is handle  # the CLI put the handler before back
    signal.signal(signal.SIGTERM, previous)


def sigterm_self(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(30)  # the handler raises in here
    raise AssertionError("SIGTERM did nothing")


def test_sigterm_during_start_up_is_exit_130_and_the_same_command_starts_again(
        tmp_path, monkeypatch, sigterm_guard):
    run = tmp_path / "run"
    with monkeypatch.context() as patch:
        patch.setattr("gankit.train.run.build_trainer", sigterm_self)  # after the folder's claim
        result = invoke("train", "vanilla", "--epochs", "1", *TINY, "--out", run)
    assert result.exit_code == 130, result.output
    assert "Interrupted" in lines_of(result.output)[-1] and "Traceback" not in result.output
    assert not run.exists()  # the folder this start made went with its lock: no .lock-only folder
    again = invoke("train", "vanilla", "--epochs", "1", *TINY, "--out", run)
    assert again.exit_code == 0, again.output


def test_sigterm_during_evaluate_is_exit_130_in_one_line(tmp_path, monkeypatch, sigterm_guard):
    monkeypatch.setattr("gankit.evaluate.score.evaluate_run", sigterm_self)
    result = invoke("evaluate", tmp_path / "run", "--n", "100")
    assert result.exit_code == 130, result.output
    assert lines_of(result.output) == ["Terminated (SIGTERM): stopped at once; every file gankit writes is "
                                       "written whole or not at all."]


def test_sigterm_during_a_plugins_command_is_exit_130_too(sigterm_guard):
    from gankit import hookimpl
    from gankit.host import PluginHost, PluginInfo

    def wait() -> None:
        sigterm_self()

    class Plugin:
        @hookimpl
        def gankit_register_commands(self, app):
            app.command("wait")(wait)  # no user_errors: the app's group catches it

    host = PluginHost()
    host.load_builtins()
    host.add_plugin(Plugin(), PluginInfo("waiter", "loaded"))
    result = CliRunner().invoke(build_app(host), ["wait"])
    assert result.exit_code == 130, result.output
    assert "Terminated (SIGTERM)" in result.output


def test_sigterm_while_plugins_load_is_exit_130_in_one_line(monkeypatch, capsys, sigterm_guard):
    from gankit.cli import app

    monkeypatch.setattr(app, "get_host", lambda **kwargs: sigterm_self())
    monkeypatch.setattr("sys.argv", ["gankit", "list"])
    with pytest.raises(SystemExit) as exit:
        app.main()
    assert exit.value.code == 130
    assert capsys.readouterr().err.splitlines() == [
        "Terminated (SIGTERM) while loading plugins, before the command started; nothing was written."]


SLOW_BUILD = '''
import pathlib, time
from dataclasses import dataclass
from gankit import TrainConfig, VariantSpec, hookimpl

@dataclass
class C(TrainConfig):
    pass

def build(config, info):
    pathlib.Path({marker!r}).write_text("building")
    time.sleep(60)

@hookimpl
def gankit_register_variants(register):
    register(VariantSpec("slowbuild", "builds slowly", C, build))
'''


def test_a_real_sigterm_while_the_networks_are_built(tmp_path):
    plugins, marker, run = tmp_path / "plugins", tmp_path / "building", tmp_path / "run"
    plugins.mkdir()
    (plugins / "slowbuild.py").write_text(SLOW_BUILD.format(marker=str(marker)))
    process = subprocess.Popen(
        [sys.executable, "-m", "gankit", "--plugins-dir", str(plugins), "train", "slowbuild", "--epochs", "1",
         *TINY, "--out", str(run)], env=gankit_env(tmp_path), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while not marker.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    output = process.communicate(timeout=60)[0]
    assert process.returncode == 130, output
    assert "Interrupted" in lines_of(output)[-1] and "Traceback" not in output
    assert not run.exists()


# -- 6. threads a plugin never stops do not keep the CLI alive ---------------------------------

LEAKY = '''
import threading
stop = threading.Event()
threading.Thread(target=stop.wait, name="leaky-poller").start()  # not a daemon, never set
'''


def test_a_plugins_endless_thread_does_not_keep_gankit_list_alive(tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "leaky.py").write_text(LEAKY)
    try:
        command = [sys.executable, "-m", "gankit", "--plugins-dir", str(plugins), "list", "--json"]
        done = subprocess.run(command, env=gankit_env(tmp_path), capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail("gankit list waited for the plugin's thread")
    assert done.returncode == 0, done.stderr
    warning = [line for line in lines_of(done.stderr) if "leaky-poller" in line]
    assert len(warning) == 1 and "plugin 'leaky'" in warning[0], done.stderr
    assert '"variants"' in done.stdout or done.stdout.strip().startswith(("{", "["))


def test_the_console_script_names_the_thread_and_exits_without_it(tmp_path, monkeypatch, capsys):
    from gankit.cli import app

    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "leakier.py").write_text(LEAKY.replace("leaky-poller", "leakier-poller"))
    exits = []
    monkeypatch.setattr(app, "_hard_exit", exits.append)  # os._exit would end pytest
    monkeypatch.setattr(app, "THREAD_GRACE_S", 0.1)
    monkeypatch.setattr("sys.argv", ["gankit", "--plugins-dir", str(plugins), "list", "--json"])
    try:
        with pytest.raises(SystemExit) as exit:
            app.main()
    finally:
        sys.modules["gankit_local_leakier"].stop.set()
        sys.modules.pop("gankit_local_leakier")
    assert exit.value.code == 0 and exits == [0]
    err = capsys.readouterr().err
    assert "thread 'leakier-poller' (started by plugin 'leakier') was still running" in err


def test_without_lingering_threads_the_console_script_just_exits(monkeypatch):
    from gankit.cli import app

    monkeypatch.setattr(app, "_hard_exit", lambda status: pytest.fail("os._exit without a reason"))
    with pytest.raises(SystemExit) as exit:
        app.end_despite_threads(3, set(threading.enumerate()), None)
    assert exit.value.code == 3


# -- 7. compare --jobs: a worker killed, a parent killed -----------------------------------------

JOBS = '''
import os, signal, time
from pathlib import Path

def train(contender, options, dataset, out, host, console, seeds=None):
    marker = Path(out) / "seed0-done"
    if seeds == [1]:  # killed from outside, as the OOM killer does, once seed 0 has finished
        while not marker.exists():
            time.sleep(0.05)
        time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGKILL)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text("")
    contender.run_dirs.append(Path(out) / "runs" / f"vanilla-seed{seeds[0]}")
    contender.seeds += seeds
    contender.epochs = 1
'''


def test_a_killed_compare_worker_is_one_line_naming_its_run(tmp_path, monkeypatch):
    from gankit.compare.entries import CompareOptions, Contender
    from gankit.compare.parallel import train_in_parallel
    from gankit.errors import TrainingError
    from gankit.host import get_host

    (tmp_path / "fault_jobs.py").write_text(JOBS)
    monkeypatch.syspath_prepend(str(tmp_path))  # the spawned workers import it by name
    import fault_jobs

    options = CompareOptions(epochs=1, seeds=2, device="cpu", progress=False, jobs=2)
    with pytest.raises(TrainingError) as died:
        train_in_parallel(fault_jobs.train, [Contender("vanilla", "vanilla", True)], options, "mnist",
                          tmp_path / "out", get_host(), None)
    line = str(died.value)
    assert "\n" not in line and "died" in line and "while training vanilla seed 1;" in line, line
    assert "1 of 2 runs finished" in line
    assert f"The same command with --out {tmp_path / 'out'} continues the comparison" in line
    sys.modules.pop("fault_jobs", None)


SLOW_JOB = '''
import time
from pathlib import Path

def train(contender, options, dataset, out, host, console, seeds=None):
    Path(out).mkdir(parents=True, exist_ok=True)
    (Path(out) / "training").write_text("")
    time.sleep(120)
'''


def test_sigterm_to_the_compare_parent_stops_its_workers_too(tmp_path, monkeypatch, sigterm_guard):
    from gankit.cli.common import Terminated, sigterm_as_interrupt
    from gankit.compare.entries import CompareOptions, Contender
    from gankit.compare.parallel import train_in_parallel
    from gankit.host import get_host

    (tmp_path / "slow_job.py").write_text(SLOW_JOB)
    monkeypatch.syspath_prepend(str(tmp_path))
    import slow_job

    def terminate_once_training():
        while not (tmp_path / "out" / "training").exists():
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=terminate_once_training, daemon=True).start()
    started = time.monotonic()
    options = CompareOptions(epochs=1, seeds=2, device="cpu", progress=False, jobs=1)
    with pytest.raises(Terminated) as stopped, sigterm_as_interrupt():  # as the CLI runs it
        train_in_parallel(slow_job.train, [Contender("vanilla", "vanilla", True)], options, "mnist",
                          tmp_path / "out", get_host(), None)
    assert stopped.value.comparison_out == tmp_path / "out"  # for the CLI's continue advice
    assert time.monotonic() - started < 90  # not the 2 x 120 s the two queued jobs would take
    assert worker_processes() == []  # none left to keep pytest waiting at its exit
    sys.modules.pop("slow_job", None)


def worker_processes():
    found = []
    for stat in os.listdir("/proc") if os.path.isdir("/proc") else []:
        try:
            with open(f"/proc/{stat}/stat") as file:
                fields = file.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{stat}/cmdline", "rb") as file:
                spawned = b"spawn_main" in file.read()
        except (OSError, ValueError):
            continue
        if int(fields[1]) == os.getpid() and fields[0] not in ("Z", "X") and spawned:
            found.append(int(stat))
    return found


ORPHAN = '''
import multiprocessing, os, sys, time
from concurrent.futures import ProcessPoolExecutor
from gankit.compare import parallel

if __name__ == "__main__":
    context = multiprocessing.get_context("spawn")
    slots = context.Queue()
    slots.put("cpu")
    pool = ProcessPoolExecutor(1, mp_context=context, initializer=parallel._start_worker,
                               initargs=(slots, 1, [], os.getpid(), context.SimpleQueue()))
    print(pool.submit(os.getpid).result(), flush=True)
    time.sleep(600)
'''


def gone(pid):
    try:
        with open(f"/proc/{pid}/stat") as file:
            return file.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")  # a zombie nobody reaped
    except FileNotFoundError:
        return True


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc")
def test_compare_workers_die_with_their_parent(tmp_path):
    script = tmp_path / "orphan.py"
    script.write_text(ORPHAN)
    parent = subprocess.Popen([sys.executable, str(script)], env=gankit_env(tmp_path),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        worker = int(parent.stdout.readline() or 0)
        assert worker, parent.stderr.read() if parent.poll() is not None else "no worker"
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 30
    while not gone(worker) and time.monotonic() < deadline:
        time.sleep(0.1)
    if not gone(worker):
        os.kill(worker, signal.SIGKILL)
        pytest.fail("the worker outlived its parent")


def test_a_stopped_compare_jobs_prints_the_command_that_continues_it(tmp_path, monkeypatch):
    """compare --jobs stopped by SIGTERM: exit 130, and the command with --out that continues it."""
    from typer.testing import CliRunner

    import gankit.compare
    from gankit.cli import build_app
    from gankit.cli.common import Terminated

    def stopped(entries, options, **kwargs):
        stop = Terminated()
        stop.comparison_out = tmp_path / "out"  # what train_in_parallel attaches
        raise stop

    monkeypatch.setattr(gankit.compare, "run_comparison", stopped)
    monkeypatch.setattr(sys, "argv", ["gankit", "compare", "vanilla", "dcgan", "--jobs", "2"])
    result = CliRunner().invoke(build_app(), ["compare", "vanilla", "dcgan", "--jobs", "2"])
    assert result.exit_code == 130, result.output
    text = " ".join(result.output.split())
    assert "Terminated (SIGTERM)" in text and "saved their checkpoints" in text
    assert f"gankit compare vanilla dcgan --jobs 2 --out {tmp_path / 'out'}" in text
