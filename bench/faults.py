"""Fault injection on real runs (issue 13): kill -9 at random moments, a full disk on each file the
engine writes, concurrent writers, SIGTERM and double SIGINT, a torn metrics.jsonl, and the bad
inputs of issue 13. Prints one table row per case; docs/reliability.md is written from its output.

    python bench/faults.py [--kills 50] [--seed 0] [--work DIR]

A run is "usable" when it can be continued to the end and its final weights equal, bit for bit,
those of an unbroken run; "leftovers" counts temp files and stale locks once it is done. A full
disk uses a real 3 MB tmpfs when this process may mount one (root), else an injected ENOSPC.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
SMALL = ["--epochs", "3", "--max-images", "200", "--batch-size", "50", "--no-progress"]
LONG = ["--epochs", "3", "--max-images", "3000", "--batch-size", "50", "--no-progress"]
ROWS: list[tuple[str, str, str, str]] = []


def env() -> dict[str, str]:
    return {**os.environ, "GANKIT_OFFLINE": "1", "GANKIT_DATA_ROOT": str(WORK / "empty"),
            "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def gankit(*args: object, wait: bool = True, cwd: Path | None = None):
    command = [sys.executable, "-m", "gankit", *map(str, args)]
    if not wait:
        return subprocess.Popen(command, env=env(), cwd=cwd or WORK, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
    return subprocess.run(command, env=env(), cwd=cwd or WORK, capture_output=True, text=True)


def last_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def weights(run: Path) -> dict[str, torch.Tensor]:
    state = torch.load(run / "checkpoints/last.pt", weights_only=True)
    return {**{f"G.{k}": v for k, v in state["generator"].items()},
            **{f"D.{k}": v for k, v in state["discriminator"].items()}}


def same_weights(a: Path, b: Path) -> bool:
    wa, wb = weights(a), weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def same_grids(run: Path, reference: Path) -> bool:
    """Every epoch's sample grid is there and shows what the unbroken run's grid shows."""
    grids = sorted(p.name for p in (reference / "samples").glob("epoch_*.png"))
    return all((run / "samples" / name).is_file()
               and (run / "samples" / name).read_bytes() == (reference / "samples" / name).read_bytes()
               for name in grids)


def leftovers(run: Path) -> list[str]:
    return [str(p.relative_to(run)) for p in run.rglob(".*") if p.is_file()]


def epochs_logged(run: Path) -> list[int]:
    from gankit.runs import read_metrics

    return [r["epoch"] for r in read_metrics(run) if r.get("event") == "epoch"]


def finish(run: Path, args: list[str], variant: str = "vanilla") -> subprocess.CompletedProcess:
    """Continue a broken run to the end: --resume when it has a checkpoint, else start again."""
    resume = ["--resume"] if (run / "checkpoints/last.pt").is_file() else []
    return gankit("train", variant, *args, "--out", run, *resume)


def row(case: str, result: str, line: str, verdict: str) -> None:
    ROWS.append((case, result, line, verdict))
    print(f"| {case} | {result} | {line} | {verdict} |", flush=True)


# -- kill -9 -------------------------------------------------------------------------------------

def kills(count: int, rng: random.Random, reference: Path) -> None:
    started = time.perf_counter()
    probe = gankit("train", "vanilla", *SMALL, "--out", WORK / "probe")
    span = time.perf_counter() - started
    assert probe.returncode == 0, probe.stdout + probe.stderr
    phases: dict[str, int] = {}
    usable = lost_lines = lost_grids = left = redrawn = 0
    for trial in range(count):
        run = WORK / f"kill{trial}"
        while True:  # a run that ends before its kill is drawn again, in the span it really took
            started = time.perf_counter()
            process = gankit("train", "vanilla", *SMALL, "--out", run, wait=False)
            time.sleep(rng.uniform(0.2, span))
            process.send_signal(signal.SIGKILL)
            process.wait()
            if process.returncode != 0 or redrawn >= 3 * count:
                break
            redrawn += 1
            span = min(span, max(time.perf_counter() - started - 0.2, 0.5))
            shutil.rmtree(run)
        phase = ("finished first" if process.returncode == 0 else "before the run folder" if not run.exists()
                 else "before the first checkpoint" if not (run / "checkpoints/last.pt").is_file()
                 else f"after epoch {torch.load(run / 'checkpoints/last.pt', weights_only=True)['epoch']}"
                 f" checkpoint")
        phases[phase] = phases.get(phase, 0) + 1
        done = finish(run, SMALL) if process.returncode != 0 else None
        ok = (done is None or done.returncode == 0) and same_weights(run, reference)
        usable += ok
        lost_lines += epochs_logged(run) != [1, 2, 3]
        lost_grids += not same_grids(run, reference)
        left += bool(leftovers(run))
        if not ok:
            print(f"  kill {trial}: unusable ({phase}): {last_line(done.stdout + done.stderr) if done else ''}")
    where = ", ".join(f"{n} {phase}" for phase, n in sorted(phases.items()))
    if redrawn:  # the probe's length overstated a run's (the load changed): those kills were drawn again
        where += f"; {redrawn} runs ended before their kill and were drawn again"
    row(f"kill -9 at a random moment, x{count} ({where})", f"{usable}/{count} resumed bit-exact",
        f"{left} with leftovers; {lost_lines} missing an epoch line in metrics.jsonl; "
        f"{lost_grids} missing or differing from the unbroken run's sample grids",
        "ok" if usable == count and not (left or lost_lines or lost_grids) else "FAIL")


# -- a full disk ------------------------------------------------------------------------------------

def full_disk_tmpfs(reference: Path) -> bool:
    mount = WORK / "full"
    mount.mkdir(exist_ok=True)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3M", "tmpfs", str(mount)],
                      capture_output=True).returncode != 0:
        return False
    try:
        run = mount / "run"
        broken = gankit("train", "vanilla", *SMALL, "--out", run)
        line = last_line(broken.stdout + broken.stderr)
        left = leftovers(run) if run.exists() else []
        moved = WORK / "full-moved"
        shutil.copytree(run, moved)
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)
    done = finish(moved, SMALL)
    ok = broken.returncode == 74 and not left and done.returncode == 0 and same_weights(moved, reference)
    row("disk full (3 MB tmpfs): the first checkpoint does not fit", f"exit {broken.returncode}", line,
        "ok, and the folder copied elsewhere finishes bit-exact" if ok else "FAIL")
    return True


@contextlib.contextmanager
def no_space_for(name: str):
    """ENOSPC on the one file the engine writes named ``name`` (in process)."""
    import gankit.runs as runs

    real_replace, real_open = os.replace, open

    def replace(src, dst, *args, **kwargs):
        if Path(dst).name == name:
            raise OSError(errno.ENOSPC, "No space left on device", str(dst))
        return real_replace(src, dst, *args, **kwargs)

    def append(path, mode="r", *args, **kwargs):
        if Path(path).name == name and "a" in mode:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real_open(path, mode, *args, **kwargs)

    os.replace, runs.open = replace, append
    try:
        yield
    finally:
        os.replace = real_replace
        del runs.open


def full_disk_injected(reference: Path) -> None:
    from typer.testing import CliRunner

    from gankit.cli import build_app
    from gankit.host import set_host

    os.environ.update({k: v for k, v in env().items() if k.startswith("GANKIT")})
    torch.set_num_threads(1)
    for name in ("config.json", "last.pt", "epoch_0001.png", "losses.png", "metrics.jsonl"):
        run = WORK / f"enospc-{name}"
        set_host(None)
        with no_space_for(name):
            broken = CliRunner().invoke(build_app(), ["train", "vanilla", *SMALL, "--out", str(run)])
        line = last_line(broken.output)
        left = leftovers(run) if run.exists() else []
        set_host(None)
        done = finish(run, SMALL)
        ok = broken.exit_code == 74 and name in line and not left and done.returncode == 0 \
            and same_weights(run, reference)
        row(f"disk full writing {name} (injected ENOSPC)", f"exit {broken.exit_code}", line,
            "ok, then finishes bit-exact" if ok else f"FAIL {last_line(done.stdout + done.stderr)}")


# -- writers, signals, torn files ---------------------------------------------------------------------

def concurrent(reference: Path) -> None:
    run = WORK / "shared"
    first = gankit("train", "vanilla", *SMALL, "--seed", "1", "--out", run, wait=False)
    second = gankit("train", "dcgan", *SMALL, "--seed", "2", "--out", run, wait=False)
    outs = [(p.wait(), p.stdout.read()) for p in (first, second)]
    codes = sorted(code for code, _ in outs)
    refused = next((last_line(out) for code, out in outs if code == 2), "")
    config = json.loads((run / "config.json").read_text())["variant"]
    saved = torch.load(run / "checkpoints/last.pt", weights_only=True)["variant"]
    ok = codes == [0, 2] and "in use by another gankit process (PID" in refused and config == saved
    row("two `train --out R` at once (vanilla and dcgan)", f"exits {codes}", refused,
        f"ok, R is wholly {saved}" if ok else "FAIL")
    folder = WORK / "same-second"
    folder.mkdir()
    both = [gankit("train", "vanilla", *SMALL, wait=False, cwd=folder) for _ in range(2)]
    codes = sorted(p.wait() for p in both)
    made = sorted(p.name for p in (folder / "runs").iterdir())
    ok = codes == [0, 0] and len(made) == 2 and all(same_weights(folder / "runs" / m, reference) for m in made)
    row("two `train` with the default folder started together", f"exits {codes}", ", ".join(made),
        "ok, two whole runs" if ok else "FAIL")


def signals(reference_long: Path) -> None:
    for name, sends in (("SIGTERM", [signal.SIGTERM]), ("Ctrl-C twice", [signal.SIGINT, signal.SIGINT])):
        run = WORK / f"signal-{name.split()[0]}"
        process = gankit("train", "vanilla", *LONG, "--out", run, wait=False)
        while not (run / "checkpoints/last.pt").is_file() and process.poll() is None:
            time.sleep(0.05)
        for signum in sends:
            process.send_signal(signum)
            time.sleep(0.01)
        code = process.wait()
        line = last_line(process.stdout.read())
        done = finish(run, LONG)
        ok = code == 130 and done.returncode == 0 and same_weights(run, reference_long) and not leftovers(run)
        row(f"{name} during epoch 2", f"exit {code}", line, "ok, resumed bit-exact" if ok else "FAIL")


def torn_metrics(reference: Path) -> None:
    run = WORK / "torn"
    assert gankit("train", "vanilla", *SMALL[:1], "2", *SMALL[2:], "--out", run).returncode == 0
    with open(run / "metrics.jsonl", "a") as file:
        file.write('{"event": "epoch", "ep')
    done = gankit("train", "vanilla", *SMALL, "--out", run, "--resume")
    ok = done.returncode == 0 and epochs_logged(run) == [1, 2, 3] and same_weights(run, reference)
    row("metrics.jsonl torn by a kill mid-append, then --resume", f"exit {done.returncode}",
        f"epochs logged afterwards: {epochs_logged(run)}", "ok" if ok else "FAIL")


# -- bad inputs ---------------------------------------------------------------------------------------

PLUGINS = {"quits.py": "import sys\nsys.exit(3)\n", "broken.py": (
    "from dataclasses import dataclass\nfrom gankit import TrainConfig, VariantSpec, hookimpl\n"
    "@dataclass\nclass C(TrainConfig):\n    pass\n"
    "def build(config, info):\n    raise ValueError('no networks today')\n"
    "@hookimpl\ndef gankit_register_variants(register):\n"
    "    register(VariantSpec('broken', 'builds nothing', C, build))\n")}


def bad_inputs(reference: Path) -> None:
    run = WORK / "victim"
    shutil.copytree(reference, run)
    plugins = WORK / "plugins"
    plugins.mkdir()
    for name, text in PLUGINS.items():
        (plugins / name).write_text(text)
    (WORK / "exists.png").write_bytes(b"x")
    shutil.copy(reference / "checkpoints/last.pt", WORK / "model.pt")
    damaged = WORK / "damaged"
    shutil.copytree(reference, damaged)
    (damaged / "config.json").write_text("[1, 2, 3]")
    state = torch.load(reference / "checkpoints/last.pt", weights_only=True)
    state["config"] = [1, 2]
    torch.save(state, WORK / "config-not-dict.pt")
    torch.save({"generator": argparse.Namespace()}, WORK / "foreign.pt")
    from gankit.evaluate.evaluator import weights_path

    (WORK / "evaluator").mkdir()
    shutil.copy(weights_path("mnist"), WORK / "evaluator/mnist.pt")
    (WORK / "evaluator/mnist.json").write_text("[1, 2, 3]")
    readonly = WORK / "ro"
    readonly.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1M", "tmpfs", str(readonly)],
                             capture_output=True).returncode == 0
    cases = [
        ("train --set lr=inf", ["train", "vanilla", *SMALL, "--set", "lr=inf", "--out", WORK / "x1"], 2),
        ("train --seed 2^64", ["train", "vanilla", *SMALL, "--seed", 2**64, "--out", WORK / "x2"], 2),
        ("train --seed 2^44 (overflowed the shuffle seed)", ["train", "vanilla", *SMALL, "--seed", 2**44,
                                                             "--out", WORK / "x3"], 2),
        ("resume with a lower --epochs", ["train", "vanilla", "--epochs", "2", "--out", run, "--resume"], 2),
        ("resume with another --dataset", ["train", "vanilla", "--dataset", "fashion-mnist", "--out", run,
                                           "--resume"], 2),
        ("config.json is [1, 2, 3], then --resume", ["train", "vanilla", "--out", damaged, "--resume"], 2),
        ("checkpoint whose config is a list", ["sample", WORK / "config-not-dict.pt", "--out", WORK / "a.png"], 2),
        ("checkpoint holding a foreign object", ["sample", WORK / "foreign.pt", "--out", WORK / "b.png"], 2),
        ("sample --out R/checkpoints/last.pt", ["sample", run, "--out", run / "checkpoints/last.pt"], 2),
        ("sample --out a copy of last.pt elsewhere", ["sample", run, "--out", WORK / "model.pt"], 2),
        ("sample --out R/config.json", ["sample", run, "--out", run / "config.json"], 2),
        ("sample --out an existing samples file (replaced)", ["sample", run, "--out", WORK / "exists.png"], 0),
        ("sample --out a folder", ["sample", run, "--out", WORK], 2),
        ("sample --n 10000000", ["sample", run, "--n", 10_000_000, "--out", WORK / "c.npy"], 2),
        ("sample --seed 2^64", ["sample", run, "--seed", 2**64, "--out", WORK / "d.png"], 2),
        ("compare R R (once relative, once absolute)", ["compare", "victim", run, "--n", 100], 2),
        ("compare runs/nope", ["compare", "runs/nope"], 2),
        ("evaluate with an evaluator whose .json is [1, 2, 3]",
         ["evaluate", run, "--evaluator", WORK / "evaluator/mnist.pt", "--n", 100], 2),
        ("a plugin calls sys.exit(3) at import; `list`", ["--plugins-dir", plugins, "list", "--json"], 0),
        ("a plugin's build() raises", ["--plugins-dir", plugins, "train", "broken", *SMALL, "--out",
                                       WORK / "x4"], 2),
    ]
    if mounted:
        cases.append(("train --out on a read-only file system", ["train", "vanilla", *SMALL, "--out",
                                                                 readonly / "run"], 74))
        cases.append(("sample --out on a read-only file system", ["sample", run, "--out", readonly / "s.png"], 74))
    for case, args, expected in cases:
        result = gankit(*args)
        output = result.stdout + result.stderr
        line = last_line(result.stderr) if expected == 0 else last_line(output)
        ok = result.returncode == expected and "Traceback" not in output
        row(case, f"exit {result.returncode}", line.replace("|", "\\|")[:300], "ok" if ok else "FAIL")
    if mounted:
        subprocess.run(["umount", str(readonly)], capture_output=True)


def main() -> None:
    global WORK
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    WORK = Path(args.work or tempfile.mkdtemp(prefix="gankit-faults-")).resolve()
    WORK.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    reference, reference_long = WORK / "reference", WORK / "reference-long"
    for run, recipe in ((reference, SMALL), (reference_long, LONG)):
        result = gankit("train", "vanilla", *recipe, "--out", run)
        assert result.returncode == 0, result.stdout + result.stderr
    print(f"gankit fault injection in {WORK} (vanilla; small runs: {' '.join(SMALL)})\n")
    print("| fault | result | the line gankit printed | verdict |\n| --- | --- | --- | --- |")
    kills(args.kills, random.Random(args.seed), reference)
    if not full_disk_tmpfs(reference):
        print("  (no tmpfs: this process may not mount one)")
    full_disk_injected(reference)
    concurrent(reference)
    signals(reference_long)
    torn_metrics(reference)
    bad_inputs(reference)
    failed = sum(r[3].startswith("FAIL") for r in ROWS)
    print(f"\n{len(ROWS)} cases, {failed} failed, {time.perf_counter() - started:.0f} s")
    sys.exit(1 if failed else 0)


WORK = Path(".")

if __name__ == "__main__":
    main()
