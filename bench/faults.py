"""Fault injection on real runs (issue 13): kill -9 at random moments, a full disk on each file the
engine writes, concurrent writers, SIGTERM and double SIGINT, a torn metrics.jsonl, the bad
inputs of issue 13, and the image-folder and cache faults (`train dcgan --dataset imagefolder`:
size bounds, link loops, 16-bit PNGs, unreadable folders and files, decompression bombs, a
read-only data root, damaged decode caches, a forged evaluation cache; CIFAR-10's and CelebA's
caches resealed an image short and on a read-only root), and with ``--only process`` the signal,
pipe, disk-full, plugin, torchrun (SIGTERM to ``--devices 2``, a rank killed, the agent killed) and
compare (a mixed run folder, a stopped comparison's advice followed) cases. Prints one table row
per case; docs/reliability.md is written from its output.

    python bench/faults.py [--kills 50] [--seed 0] [--work DIR] [--only folders|process]

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


# -- image folders and caches ------------------------------------------------------------------------

FOLDER_RUN = ["--epochs", "1", "--batch-size", "4", "--no-progress", "--set", "g_features=4",
              "--set", "d_features=4"]


def write_pngs(folder: Path, count: int, size: int = 16, seed: int = 0) -> None:
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for index in range(count):
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(folder / f"{index}.png")


def bomb_png(path: Path, side: int = 10_000) -> None:
    """A valid 1-bit black PNG declaring side x side pixels (about 12 KB)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    packer, row = zlib.compressobj(9), bytes(1 + (side + 7) // 8)
    data = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b""))


def train_folder(folder: Path, root: Path, *extra: object, timeout: float = 300):
    """`gankit train dcgan --dataset imagefolder` on ``folder`` (a subprocess; None if it hung)."""
    command = [sys.executable, "-m", "gankit", "train", "dcgan", "--dataset", "imagefolder", "--data-option",
               f"path={folder}", "--data-root", str(root), *FOLDER_RUN, *map(str, extra),
               "--out", str(WORK / f"run-{folder.name}-{time.perf_counter_ns()}")]
    try:
        return subprocess.run(command, env=env(), cwd=WORK, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None


def said(output: str, *marks: str) -> str:
    """The first line of ``output`` holding one of ``marks`` (else its last line), one-spaced."""
    lines = [" ".join(line.split()) for line in output.splitlines() if line.strip()]
    found = [line for line in lines if any(mark in line for mark in marks)]
    return (found or lines[-1:] or [""])[0].replace("|", "\\|")[:300]


def files_under(root: Path) -> list[str]:
    return [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()] if root.exists() else []


def folder_bounds() -> None:
    pics = WORK / "folders" / "pics"
    write_pngs(pics, 8)
    root = WORK / "folders" / "root-size"
    result = train_folder(pics, root, "--data-option", "size=100000")
    out = result.stdout + result.stderr
    ok = result.returncode == 2 and "at most 1024" in out and not files_under(root) and "Traceback" not in out
    row("imagefolder size=100000", f"exit {result.returncode}", said(out, "Error"),
        "ok, nothing written" if ok else "FAIL")
    small = WORK / "folders" / "small-disk"
    small.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1M", "tmpfs", str(small)],
                      capture_output=True).returncode == 0:
        try:
            result = train_folder(pics, small, "--data-option", "size=256")  # 1.6 MB of pixels on 1 MB
            out = result.stdout + result.stderr
            left = files_under(small)
        finally:
            subprocess.run(["umount", str(small)], capture_output=True)
        ok = result.returncode == 2 and "needs 1.6 MB of free space" in out and not left
        row("imagefolder size=256 onto a 1 MB data root (tmpfs)", f"exit {result.returncode}",
            said(out, "Error"), "ok, refused before decoding, nothing left" if ok else "FAIL")
    bombs = WORK / "folders" / "bomb"
    write_pngs(bombs, 8)
    bomb_png(bombs / "huge.png")
    result = train_folder(bombs, WORK / "folders" / "root-bomb")
    out = result.stdout + result.stderr
    ok = result.returncode == 0 and "oversized image" in out and "decompression bomb" not in out.lower()
    row(f"a {bombs.joinpath('huge.png').stat().st_size // 1000} KB PNG declaring 10000x10000 among 8 images",
        f"exit {result.returncode}", said(out, "notice:"), "ok, no PIL warning" if ok else "FAIL")


def folder_links_and_levels() -> None:
    from PIL import Image

    import numpy as np

    loop = WORK / "folders" / "loop"
    write_pngs(loop, 4)
    write_pngs(loop / "a", 2, seed=1)
    write_pngs(loop / "b", 2, seed=2)
    (loop / "self").symlink_to(".")
    (loop / "a" / "up").symlink_to("..")
    (loop / "b" / "up").symlink_to("..")
    started = time.perf_counter()
    result = train_folder(loop, WORK / "folders" / "root-loop", timeout=120)
    if result is None:
        row("a link loop with two branches and `ln -s . self`", "hung (killed after 120 s)", "", "FAIL")
    else:
        out = result.stdout + result.stderr
        ok = result.returncode == 0 and "8 images (3x16x16)" in out and "3 duplicate links" in out
        row("a link loop with two branches and `ln -s . self` (8 real images)",
            f"exit {result.returncode} in {time.perf_counter() - started:.0f} s", said(out, "notice:"),
            "ok, each real folder once" if ok else "FAIL")
    deep = WORK / "folders" / "grey16"
    deep.mkdir()
    levels = (np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 16)
    for index in range(4):
        Image.fromarray(levels).save(deep / f"{index}.png")
    from gankit.data.imagefolder import load_folder

    data = load_folder(deep, root=WORK / "folders" / "root-grey16", size=None, channels=3, labelled=False)
    mean, source = float(data.images.float().mean()), float(levels.mean()) / 257
    row("16-bit greyscale PNGs (I;16)", f"mean level {mean:.1f}", f"the source's, in 8 bits: {source:.1f}",
        "ok" if abs(mean - source) < 0.5 else "FAIL")


@contextlib.contextmanager
def unreadable(name: str):
    """The folder or file ``name`` refused as unreadable: `chmod 000` when not root (root reads
    anyway), else PermissionError injected where the listing (os.scandir) or PIL's open asks."""
    from PIL import Image

    real_scandir, real_open = os.scandir, Image.open

    def refuse(path, real, *args, **kwargs):
        if Path(path).name == name:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real(path, *args, **kwargs)

    os.scandir = lambda path=".": refuse(path, real_scandir)
    Image.open = lambda path, *args, **kwargs: refuse(path, real_open, *args, **kwargs)
    try:
        yield
    finally:
        os.scandir, Image.open = real_scandir, real_open


def in_process(folder: Path, root: Path, *extra: str):
    from typer.testing import CliRunner

    from gankit.cli import build_app
    from gankit.host import set_host

    os.environ.update({k: v for k, v in env().items() if k.startswith("GANKIT")})
    set_host(None)
    out = WORK / f"run-{folder.name}-{time.perf_counter_ns()}"
    result = CliRunner().invoke(build_app(), ["train", "dcgan", "--dataset", "imagefolder", "--data-option",
                                              f"path={folder}", "--data-root", str(root), *FOLDER_RUN,
                                              *extra, "--out", str(out)])
    return result, out


def folder_permissions() -> None:
    as_root = os.geteuid() == 0
    how = "PermissionError injected (root reads a 000 folder)" if as_root else "chmod 000"
    pics = WORK / "folders" / "locked-sub"
    write_pngs(pics, 8)
    write_pngs(pics / "locked", 4, seed=1)
    if not as_root:
        (pics / "locked").chmod(0)
    with unreadable("locked") if as_root else contextlib.nullcontext():
        result, out = in_process(pics, WORK / "folders" / "root-locked")
        alone = WORK / "folders" / "only-locked"
        write_pngs(alone / "locked", 4)
        if not as_root:
            (alone / "locked").chmod(0)
        refused, _ = in_process(alone, WORK / "folders" / "root-locked")
    full = json.loads((out / "config.json").read_text())["dataset"]["is_full"] if out.is_dir() else None
    ok = result.exit_code == 0 and "unreadable folder" in result.output and full is False
    row(f"an unreadable sub-folder ({how})", f"exit {result.exit_code}; config.json is_full={full}",
        said(result.output, "notice:"), "ok" if ok else "FAIL")
    ok = refused.exit_code == 2 and "locked cannot be read (PermissionError)" in " ".join(refused.output.split())
    row("a folder whose only sub-folder is unreadable (a class folder)", f"exit {refused.exit_code}",
        said(refused.output, "Error"), "ok" if ok else "FAIL")
    fixed = WORK / "folders" / "fixed"
    write_pngs(fixed, 8)
    (fixed / "3.png").chmod(0)
    with unreadable("3.png") if as_root else contextlib.nullcontext():
        first, _ = in_process(fixed, WORK / "folders" / "root-fixed")
    (fixed / "3.png").chmod(0o644)
    second, _ = in_process(fixed, WORK / "folders" / "root-fixed")
    ok = first.exit_code == second.exit_code == 0 and "3.png: PermissionError" in first.output \
        and "8 images" in second.output and "notice:" not in second.output
    row("a file skipped for permissions, then chmod 644", f"exits {first.exit_code}, {second.exit_code}",
        said(second.output, "data:"), "ok, read again after the fix" if ok else "FAIL")


def read_only_root() -> None:
    pics = WORK / "folders" / "ro-pics"
    write_pngs(pics, 8)
    root = WORK / "folders" / "ro-root"
    root.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1M", "tmpfs", str(root)],
                             capture_output=True).returncode == 0
    if not mounted:
        root.chmod(0o555)
        if os.access(root, os.W_OK):  # root without mount: nothing here makes a folder read-only
            print("  (no read-only data root: this process may not mount one, and ignores modes)")
            return
    try:
        result = train_folder(pics, root)
        left = files_under(root)
    finally:
        subprocess.run(["umount", str(root)], capture_output=True) if mounted else root.chmod(0o755)
    out = result.stdout + result.stderr
    ok = result.returncode == 0 and "--data-root" in said(out, "notice:") and not left
    row(f"a read-only data root ({'ro tmpfs' if mounted else 'chmod 555'})", f"exit {result.returncode}",
        said(out, "notice:"), "ok, decoded in memory" if ok else "FAIL")


def damaged_decode_caches() -> None:
    import torch

    from gankit.data.imagefolder import load_folder

    pics, other = WORK / "folders" / "cached", WORK / "folders" / "cached-16"
    write_pngs(pics, 8, size=32)
    write_pngs(other, 8, size=16, seed=3)
    for case in ("a list", "a dict without images", "16x16 images for a 32x32 folder",
                 "images of 1e30 floats", "one pixel edited"):
        root = WORK / "folders" / f"root-{case.replace(' ', '-')}"
        cache = load_folder(pics, root=root, size=None, channels=3, labelled=False).cache_file
        stored = dict(torch.load(cache, weights_only=True))
        if case == "a list":
            torch.save([1, 2, 3], cache)
        elif case == "a dict without images":
            torch.save({k: v for k, v in stored.items() if k != "images"}, cache)
        elif case.startswith("16x16"):  # another folder's valid cache under this one's name
            shutil.copy(load_folder(other, root=WORK / "folders" / "root-16", size=None, channels=3,
                                    labelled=False).cache_file, cache)
        elif case.startswith("images of"):
            torch.save({**stored, "images": torch.full(stored["images"].shape, 1e30)}, cache)
        else:
            images = stored["images"].clone()
            images[0, 0, 0, 0] ^= 1
            torch.save({**stored, "images": images}, cache)
        result = train_folder(pics, root)
        out = result.stdout + result.stderr
        ok = result.returncode == 0 and "warning: The decode cache file" in " ".join(out.split()) \
            and "Traceback" not in out and "8 images (3x32x32)" in out
        row(f"decode cache file replaced by {case}", f"exit {result.returncode}",
            said(out, "warning:").replace(str(WORK), "..."), "ok, decoded again" if ok else "FAIL")


def forged_eval_cache(reference: Path) -> None:
    import torch

    root = WORK / "eval-root"
    args = ["evaluate", reference, "--n", "100", "--json", "--data-root", root]
    first = gankit(*args)
    path = next((root / "cache").glob("eval-reference-*.pt"), None)
    if first.returncode != 0 or path is None:
        row("a forged evaluation cache file that kept its key", f"exit {first.returncode}",
            last_line(first.stdout + first.stderr), "FAIL (no cache file to forge)")
        return
    contents = torch.load(path, weights_only=True)
    contents["reference"]["embeddings"] = contents["reference"]["embeddings"] * 2  # same key, shape, dtype
    torch.save(contents, path)
    again = gankit(*args)
    same = again.returncode == 0 and json.loads(again.stdout) == json.loads(first.stdout)
    ok = same and "checksum does not match" in again.stderr + again.stdout
    row("a forged evaluation cache file that kept its key (features doubled)", f"exit {again.returncode}",
        said(again.stdout + again.stderr, "warning:").replace(str(WORK), "..."),
        "ok, rebuilt: the same scores as before" if ok else "FAIL")


def fake_color_sets(root: Path) -> None:
    """12-image CIFAR-10 batches and 8 CelebA faces (6 train) under ``root``, accepted as official
    (this process's MD5 tables and split sizes patched to theirs)."""
    import hashlib
    import pickle

    import numpy as np

    from gankit.data import celeba, cifar

    rng = np.random.default_rng(0)
    (root / cifar.FOLDER).mkdir(parents=True, exist_ok=True)
    for name in [*cifar.SPLIT_FILES["train"], *cifar.SPLIT_FILES["test"]]:
        path = root / cifar.FOLDER / name
        path.write_bytes(pickle.dumps({"data": rng.integers(0, 256, (12, 3072), dtype=np.uint8),
                                       "labels": [i % 10 for i in range(12)]}))
        cifar.OFFICIAL_MD5[name] = hashlib.md5(path.read_bytes()).hexdigest()
    cifar.SPLIT_SIZES.update(train=60, test=12)
    faces = root / celeba.FOLDER / celeba.IMAGES
    write_pngs(faces, 8, size=64)
    names = sorted(p.name for p in faces.iterdir())
    partition = root / celeba.FOLDER / celeba.PARTITION
    partition.write_text("".join(f"{n} {0 if i < 6 else 2}\n" for i, n in enumerate(names)))
    celeba.OFFICIAL_MD5[celeba.PARTITION] = hashlib.md5(partition.read_bytes()).hexdigest()


def color_caches() -> None:
    """CIFAR-10's and CelebA's caches: resealed an image short, and on a read-only data root."""
    import warnings

    from gankit.data import celeba, cifar, decode
    from gankit.registry import DataRequest

    loaders = {"cifar10": (cifar.load_cifar10, 60), "celeba": (celeba.load_celeba, 6)}
    root = WORK / "color-root"
    fake_color_sets(root)
    for name, (load, count) in loaders.items():
        first = load(DataRequest(root=root, download=False))
        stored = dict(torch.load(first.cache_file, weights_only=True))
        short_set = {**stored, "images": stored["images"][1:]}
        if stored["labels"] is not None:
            short_set["labels"] = stored["labels"][1:]
        torch.save({**short_set, "checksum": decode.payload_checksum(short_set)}, first.cache_file)
        decode._verified.clear()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            again = load(DataRequest(root=root, download=False))
        line = str(caught[0].message).replace(str(WORK), "...") if caught else ""
        ok = len(caught) == 1 and len(again) == count and "decoded into the cache" in again.source
        row(f"{name} cache file resealed with an image fewer", f"{len(again)} images", short(line),
            "ok, decoded again" if ok else "FAIL")
    readonly = WORK / "color-ro"
    readonly.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8M", "tmpfs", str(readonly)],
                      capture_output=True).returncode != 0:
        print("  (no read-only data root: this process may not mount one)")
        return
    try:
        fake_color_sets(readonly)
        subprocess.run(["mount", "-o", "remount,ro", str(readonly)], check=True, capture_output=True)
        for name, (load, count) in loaders.items():
            try:
                data = load(DataRequest(root=readonly, download=False))
                result, line = f"{len(data)} images", short(data.notice or "")
                ok = len(data) == count and data.cache_file is None and "--data-root" in line
            except OSError as error:
                result, line, ok = "OSError (exit 74)", short(str(error)), False
            row(f"{name} on a read-only data root (ro tmpfs)", result, line,
                "ok, decoded in memory" if ok else "FAIL")
    finally:
        subprocess.run(["umount", str(readonly)], capture_output=True)


def folders_and_caches(reference: Path) -> None:
    for case in (folder_bounds, folder_links_and_levels, folder_permissions, read_only_root,
                 damaged_decode_caches, color_caches):
        case()
    forged_eval_cache(reference)


def main() -> None:
    global WORK
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--only", choices=["folders", "process"], default=None,
                        help="run only the image-folder and cache cases, or the signal, pipe, "
                             "disk-full and plugin ones")
    args = parser.parse_args()
    WORK = Path(args.work or tempfile.mkdtemp(prefix="gankit-faults-")).resolve()
    WORK.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    reference, reference_long = WORK / "reference", WORK / "reference-long"
    for run, recipe in ((reference, SMALL), (reference_long, LONG))[:1 if args.only else 2]:
        result = gankit("train", "vanilla", *recipe, "--out", run)
        assert result.returncode == 0, result.stdout + result.stderr
    print(f"gankit fault injection in {WORK} (vanilla; small runs: {' '.join(SMALL)})\n")
    print("| fault | result | the line gankit printed | verdict |\n| --- | --- | --- | --- |")
    if args.only == "folders":
        folders_and_caches(reference)
        finish_table(started)
    if args.only == "process":
        process_faults(reference)
        finish_table(started)
    kills(args.kills, random.Random(args.seed), reference)
    if not full_disk_tmpfs(reference):
        print("  (no tmpfs: this process may not mount one)")
    full_disk_injected(reference)
    concurrent(reference)
    signals(reference_long)
    torn_metrics(reference)
    bad_inputs(reference)
    folders_and_caches(reference)
    process_faults(reference)
    finish_table(started)


def finish_table(started: float) -> None:
    failed = sum(r[3].startswith("FAIL") for r in ROWS)
    print(f"\n{len(ROWS)} cases, {failed} failed, {time.perf_counter() - started:.0f} s")
    sys.exit(1 if failed else 0)


# -- signals, pipes, disk full, plugins ----------------------------------------------------------------

SLOW_START = '''import pathlib, time
import gankit_vanilla
from gankit import VariantSpec, hookimpl
HOLD = pathlib.Path({hold!r})
def build(config, data):
    if HOLD.exists():  # held: the test sends SIGTERM while the networks are built
        HOLD.with_suffix(".building").write_text("")
        time.sleep(120)
    return gankit_vanilla.build(config, data)
@hookimpl
def gankit_register_variants(register):
    register(VariantSpec("slowstart", "vanilla, slow to build when held", gankit_vanilla.VanillaConfig,
                         build))
'''
LEAKY = ("import threading\nstop = threading.Event()\n"
         "threading.Thread(target=stop.wait, name='leaky-poller').start()  # not a daemon, never set\n")
PATCHER = ("import torch, torch.serialization\n_real = torch.serialization.load\n"
           "def load(*args, **kwargs):\n    kwargs['weights_only'] = False  # the PyTorch 2.6 workaround\n"
           "    return _real(*args, **kwargs)\ntorch.load = torch.serialization.load = load\n")


class _RunsCode:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('code ran')",)


def plugin_dir(name: str, text: str) -> Path:
    folder = WORK / f"plugins-{name}"
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.py").write_text(text)
    return folder


def short(text: str) -> str:
    return text.replace(str(WORK), "...").replace("|", "\\|")[:300]


def closed_stdout() -> None:
    run = WORK / "piped"
    trainer = subprocess.Popen([sys.executable, "-m", "gankit", "train", "vanilla", *SMALL, "--out", run],
                               env=env(), cwd=WORK, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    head = subprocess.Popen(["head", "-3"], stdin=trainer.stdout, stdout=subprocess.DEVNULL)
    trainer.stdout.close()
    head.wait()
    err = trainer.communicate()[1].decode()
    lines = [line for line in err.splitlines() if line.strip()]
    ok = trainer.returncode == 0 and epochs_logged(run) == [1, 2, 3] and len(lines) <= 1
    row("`train ... \\| head -3` (stdout closed after epoch 1)", f"exit {trainer.returncode}",
        short(lines[0] if lines else "(nothing on stderr)"), "ok, all 3 epochs trained" if ok else "FAIL")


def sigterm_outside_training(reference: Path) -> None:
    hold, run = WORK / "hold", WORK / "sigterm-start"
    plugins = plugin_dir("slowstart", SLOW_START.format(hold=str(hold)))
    hold.write_text("")
    args = ["--plugins-dir", plugins, "train", "slowstart", *SMALL, "--out", run]
    process = gankit(*args, wait=False)
    while not hold.with_suffix(".building").exists() and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    code, line = process.wait(), last_line(process.stdout.read())
    left = sorted(p.name for p in run.iterdir()) if run.exists() else []
    hold.unlink()
    again = gankit(*args)
    ok = code == 130 and left != [".lock"] and again.returncode == 0
    row("SIGTERM while the networks are built (start-up)", f"exit {code}", short(line),
        f"ok, folder {'removed' if not left else 'kept: ' + ', '.join(left)}; the same command then "
        f"exits {again.returncode}" if ok else f"FAIL (left {left}, rerun exit {again.returncode})")
    process = gankit("evaluate", reference, "--n", "5000", wait=False)
    time.sleep(6)
    ended_first = process.poll() is not None
    process.send_signal(signal.SIGTERM)
    code, output = process.wait(), process.stdout.read()
    ok = code == 130 and "Terminated (SIGTERM)" in last_line(output) and "Traceback" not in output \
        and not ended_first
    row("SIGTERM during `evaluate`", f"exit {code}", short(last_line(output)),
        "ok, one line" if ok else "FAIL" + (" (it ended before the signal)" if ended_first else ""))


def full_stdout_and_disk(reference: Path) -> None:
    if os.path.exists("/dev/full"):
        with open("/dev/full", "w") as full:
            done = subprocess.run([sys.executable, "-m", "gankit", "list", "--json"], stdout=full,
                                  stderr=subprocess.PIPE, text=True, env=env(), cwd=WORK)
        ok = done.returncode == 74 and "'/dev/full'" in done.stderr and "Traceback" not in done.stderr
        row("`list --json > /dev/full` (stdout on a full disk)", f"exit {done.returncode}",
            short(last_line(done.stderr)), "ok" if ok else "FAIL")
    for name in ("x.pt", "x.npy"):
        out = WORK / name
        code, line = in_process_on_a_full_disk(["sample", str(reference), "--n", "100", "--out", str(out)])
        ok = code == 74 and f"'{out}': no space left" in line and not list(WORK.glob(f".{out.stem}.*"))
        row(f"disk full writing `sample --out {name}` (a disk that fills after 16 KB)", f"exit {code}",
            short(line), "ok" if ok else "FAIL")


def in_process_on_a_full_disk(args: list[str], suffix: str = "") -> tuple[int, str]:
    """``gankit ARGS`` (CliRunner) on a disk that fills 16 KB into each file gankit's atomic writer
    opens (only those ending in ``suffix``, if given): a short write, then ENOSPC."""
    import io

    from typer.testing import CliRunner

    import gankit._io
    from gankit.cli import build_app
    from gankit.host import set_host

    class FullDisk(io.FileIO):
        room = 16384

        def write(self, data):
            size = min(len(data), self.room)
            if size == 0:
                raise OSError(errno.ENOSPC, "No space left on device")
            self.room -= size
            return super().write(bytes(memoryview(data)[:size]))

    def opener(path, mode="r", *rest, **kwargs):
        if not str(path).endswith(suffix):
            return open(path, mode, *rest, **kwargs)
        raw = io.BufferedWriter(FullDisk(path, "w"))
        return raw if "b" in mode else io.TextIOWrapper(raw, encoding="utf-8")

    os.environ.update({k: v for k, v in env().items() if k.startswith("GANKIT")})
    set_host(None)
    gankit._io.open = opener
    try:
        result = CliRunner().invoke(build_app(), args)
    finally:
        del gankit._io.open
    return result.exit_code, last_line(result.output)


def reports_all_or_nothing(reference: Path) -> None:
    out = WORK / "cmp"
    first = gankit("compare", reference, "--n", "100", "--out", out)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    code, line = in_process_on_a_full_disk(["compare", str(reference), "--n", "200", "--out", str(out)],
                                           suffix=".html")
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    ok = first.returncode == 0 and code == 74 and "report.html" in line and after == before \
        and not list(out.glob(".*"))
    row("disk full writing report.html of a second `compare` into the same --out", f"exit {code}",
        short(line), "ok, the first comparison's files all kept" if ok else "FAIL")


def plugin_skeleton() -> None:
    from typer.testing import CliRunner

    from gankit.cli import build_app

    out = WORK / "skeletons"
    newline = gankit("plugin", "new", "mygan\n", "--out", out)
    real_write_text, count = Path.write_text, []

    def third_fails(self, *args, **kwargs):
        count.append(self)
        if len(count) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write_text(self, *args, **kwargs)

    Path.write_text = third_fails
    try:
        broken = CliRunner().invoke(build_app(), ["plugin", "new", "mygan", "--out", str(out)])
    finally:
        Path.write_text = real_write_text
    left = sorted(p.name for p in out.iterdir()) if out.exists() else []
    retry = gankit("plugin", "new", "mygan", "--out", out)
    row("`plugin new 'mygan\\n'` (a name ending in a newline)", f"exit {newline.returncode}",
        short(last_line(newline.stderr)), "ok" if newline.returncode == 2 else "FAIL")
    ok = broken.exit_code == 74 and left == [] and retry.returncode == 0
    row("`plugin new` with the disk full at its third file, then again", f"exit {broken.exit_code}",
        short(last_line(broken.output)), f"ok, nothing left; the retry exits {retry.returncode}" if ok
        else f"FAIL (left {left})")


def patched_torch_load() -> None:
    marker, evil = WORK / "code-ran", WORK / "evil.pt"
    torch.save({"generator": _RunsCode(marker), "discriminator": {}, "variant": "vanilla", "config": {},
                "epoch": 1, "step": 1}, evil)
    result = gankit("--plugins-dir", plugin_dir("patcher", PATCHER), "sample", evil, "--out", WORK / "e.png")
    output = result.stdout + result.stderr
    lines = [line for line in output.splitlines() if line.strip()]
    ok = result.returncode == 2 and len(lines) == 1 and not marker.exists()
    row("a plugin patches torch.load to force weights_only=False; `sample` a file that runs code",
        f"exit {result.returncode}", short(last_line(output)), "ok, no code ran" if ok else "FAIL")


def endless_plugin_thread() -> None:
    plugins = plugin_dir("leaky", LEAKY)
    for case, args in (("list", ["list", "--json"]),
                       ("train", ["train", "vanilla", *SMALL, "--out", WORK / "leaky-run"])):
        try:
            command = [sys.executable, "-m", "gankit", "--plugins-dir", str(plugins), *map(str, args)]
            done = subprocess.run(command, env=env(), cwd=WORK, capture_output=True, text=True, timeout=300)
        except subprocess.TimeoutExpired:
            row(f"a plugin's endless non-daemon thread; `{case}`", "hung", "", "FAIL (waited 300 s)")
            continue
        warned = [line for line in done.stderr.splitlines() if "leaky-poller" in line]
        ok = done.returncode == 0 and len(warned) == 1 and "plugin 'leaky'" in warned[0]
        row(f"a plugin's endless non-daemon thread; `{case}`", f"exit {done.returncode}",
            short(warned[0] if warned else last_line(done.stderr)), "ok, exited" if ok else "FAIL")


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def compare_workers() -> None:
    for case in ("a worker killed (kill -9)", "the parent killed (kill -9)", "SIGTERM to the parent"):
        out = WORK / f"jobs-{case.split()[1]}"
        process = gankit("compare", "vanilla", "dcgan", "--jobs", "2", *LONG[:4], "--n", "100", "--out", out,
                         wait=False)
        while not list(out.glob("runs/*/config.json")) and process.poll() is None:
            time.sleep(0.1)
        workers = [pid for pid in children(process.pid) if "spawn_main" in Path(f"/proc/{pid}/cmdline")
                   .read_text(errors="replace")]
        target = workers[0] if case.startswith("a worker") and workers else process.pid
        os.kill(target, signal.SIGTERM if case.startswith("SIGTERM") else signal.SIGKILL)
        started = time.monotonic()
        code, line = process.wait(), last_line(process.stdout.read())
        took = time.monotonic() - started
        deadline = time.monotonic() + 60
        while any(map(alive, workers)) and time.monotonic() < deadline:
            time.sleep(0.2)
        orphans = [pid for pid in workers if alive(pid)]
        for pid in orphans:
            os.kill(pid, signal.SIGKILL)
        if case.startswith("a worker"):
            ok = code == 1 and "died" in line and "while training" in line and "Traceback" not in line
            row(f"`compare --jobs 2`: {case}", f"exit {code}", short(line), "ok" if ok else "FAIL")
        elif case.startswith("SIGTERM"):
            ok = code == 130 and workers and not orphans and "Traceback" not in line
            row(f"`compare --jobs 2`: {case}", f"exit {code} in {took:.0f} s", short(line),
                f"ok, its {len(workers)} workers stopped too" if ok
                else f"FAIL ({len(orphans)} workers left)")
        else:
            row(f"`compare --jobs 2`: {case}", f"{len(workers)} workers",
                f"{len(orphans)} still alive 60 s later",
                "ok, the workers went with it" if workers and not orphans else "FAIL")


RANKS = ["--max-images", "320", "--batch-size", "32", "--no-progress", "--device", "cpu"]


def rank_pids(agent: int) -> dict[int, int]:
    """RANK -> pid of the agent's child processes."""
    found = {}
    for pid in children(agent):
        with contextlib.suppress(OSError):
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            rank = next((item[5:] for item in environ if item.startswith(b"RANK=")), None)
            if rank is not None:
                found[int(rank)] = pid
    return found


def started_ranks(command: list[object], run: Path) -> subprocess.Popen:
    process = gankit(*command, wait=False) if command[0] != "torchrun" else subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", *map(str, command[1:])], env=env(), cwd=ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    while not (run / "metrics.jsonl").is_file() and process.poll() is None:
        time.sleep(0.1)
    return process


def resumable(run: Path, epochs: int) -> bool:
    state = torch.load(run / "checkpoints/last.pt", weights_only=True)
    return 1 <= state["epoch"] < epochs and not leftovers(run)


def ranks_faults() -> None:
    """Two gloo ranks on this CPU: SIGTERM to `train --devices 2`, a rank killed, the agent killed."""
    run = WORK / "devices-sigterm"
    process = started_ranks(["train", "vanilla", "--devices", "2", "--epochs", "200", *RANKS, "--out", run], run)
    process.send_signal(signal.SIGTERM)
    code, output = process.wait(), process.stdout.read()
    ok = code == 130 and "Traceback" not in output and resumable(run, 200) \
        and output.count("Interrupted. Checkpoint saved") == 1
    row("SIGTERM to `train --devices 2` (2 gloo ranks)", f"exit {code}", short(said(output, "Terminated (")),
        "ok, rank 0 saved; resumable" if ok else "FAIL")
    run = WORK / "devices-rank-killed"
    process = started_ranks(["train", "vanilla", "--devices", "2", "--epochs", "200", *RANKS, "--out", run], run)
    os.kill(rank_pids(process.pid)[1], signal.SIGKILL)
    code, output = process.wait(), process.stdout.read()
    peer = [line for line in output.splitlines() if "Process 0 of 2 stopped" in line]
    ok = code == 1 and len(peer) == 1 and "Traceback" not in output and "killed by SIGKILL" in output
    row("`train --devices 2`: rank 1 killed (kill -9)", f"exit {code}", short(peer[0] if peer else last_line(output)),
        f"ok, one line; then: {short(said(output, 'Error: training process'))}" if ok else "FAIL")
    run = WORK / "agent-killed"
    process = started_ranks(["torchrun", "--standalone", "--nproc_per_node", "2", "-m", "gankit", "train", "vanilla",
                             "--epochs", "30", *RANKS, "--out", run], run)
    ranks = list(rank_pids(process.pid).values())
    process.kill()
    killed = time.monotonic()
    while any(map(alive, ranks)) and time.monotonic() < killed + 60:
        time.sleep(0.1)
    took, left = time.monotonic() - killed, [pid for pid in ranks if alive(pid)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    output = process.stdout.read()
    stopped = not left and resumable(run, 30)  # before the resume below trains it to the end
    done = finish(run, ["--epochs", "30", *RANKS[:-2]]) if stopped else None
    ok = len(ranks) == 2 and stopped and done is not None and done.returncode == 0
    row("torchrun's agent killed (kill -9) while 2 ranks train", f"both ranks gone in {took:.1f} s",
        short(said(output, "Interrupted.")), "ok, checkpoint saved; --resume then exits 0" if ok else "FAIL")


def compare_faults() -> None:
    """A run folder whose checkpoint is another variant's, and a stopped comparison's advice followed."""
    mixed = WORK / "mixed-dcgan"
    gankit("train", "dcgan", *SMALL[:1], "1", *SMALL[2:], "--set", "g_features=4", "--set", "d_features=4",
           "--out", mixed)
    gankit("train", "vanilla", *SMALL[:1], "1", *SMALL[2:], "--out", WORK / "mixed-vanilla")
    shutil.copy(WORK / "mixed-vanilla/checkpoints/last.pt", mixed / "checkpoints/last.pt")
    result = gankit("compare", mixed, "--n", "100", "--out", WORK / "mixed-cmp")
    line = last_line(result.stdout + result.stderr)
    ok = result.returncode == 2 and "disagree on variant" in line and "Traceback" not in result.stderr
    row("compare R: R's config.json is dcgan's, its last.pt vanilla's", f"exit {result.returncode}", short(line),
        "ok, refused before anything trains" if ok else "FAIL")
    args = ["compare", "vanilla", "--seeds", "2", "--epochs", "40", "--max-images", "300", "--n", "100",
            "--no-progress", "--out", WORK / "stopped-cmp"]
    process = gankit(*args, wait=False)
    while not (WORK / "stopped-cmp/runs/vanilla-seed1/metrics.jsonl").is_file() and process.poll() is None:
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    code, output = process.wait(), process.stdout.read()
    advice = said(output, "Interrupted.")
    import re
    import shlex

    command = re.search(r"`(gankit compare [^`]+)`", advice)
    again = gankit(*shlex.split(command.group(1))[1:]) if command else None
    results = WORK / "stopped-cmp/results.json"
    epochs = [r["epochs"] for r in json.loads(results.read_text())["variants"][0]["runs"]] \
        if results.is_file() else []
    ok = code == 130 and again is not None and again.returncode == 0 and epochs == [40, 40]
    row("SIGTERM to `compare vanilla --seeds 2` during seed 1, then its advice run as printed",
        f"exit {code}, then {again.returncode if again else 'no command'}", short(advice),
        "ok, seed 0 kept, seed 1 resumed: both 40 epochs" if ok else f"FAIL (epochs {epochs})")


def process_faults(reference: Path) -> None:
    """The faults of signals, pipes, a full disk and plugins (docs/reliability.md's section)."""
    for case in (closed_stdout, lambda: sigterm_outside_training(reference),
                 lambda: full_stdout_and_disk(reference), lambda: reports_all_or_nothing(reference),
                 plugin_skeleton, patched_torch_load, endless_plugin_thread, compare_workers,
                 ranks_faults, compare_faults):
        case()


WORK = Path(".")

if __name__ == "__main__":
    main()
