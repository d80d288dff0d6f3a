"""The run folder: its layout, its ``config.json`` and ``metrics.jsonl``, and finding checkpoints.

A run folder holds ``config.json`` (everything needed to rebuild the run), ``metrics.jsonl``
(one JSON object per logged event), ``steps.jsonl`` (the losses a few times an epoch),
``samples/epoch_XXXX.png``, ``losses.png`` and
``checkpoints/last.pt``. Torch-free, so the CLI can inspect runs cheaply.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import platform
import time
import warnings
from pathlib import Path
from typing import Any, Iterator

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; one writer per folder is then up to the user
    fcntl = None  # type: ignore[assignment]

from gankit._io import TEMP_GLOB, write_text_atomic
from gankit._version import __version__
from gankit.errors import CheckpointError, GankitError, GankitWarning


CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
STEPS_FILE = "steps.jsonl"  # the losses a few times an epoch (per-step curves), one line each
LOSS_PLOT_FILE = "losses.png"
SAMPLES_DIR = "samples"
CHECKPOINTS_DIR = "checkpoints"
LAST_CHECKPOINT = "last.pt"


LOCK_FILE = ".lock"  # holds the writer's PID; flock'ed for as long as a run writes the folder


def default_run_dir(variant: str, dataset: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{variant}-{dataset}-{stamp}"


def checkpoint_path(run_dir: Path, name: str = LAST_CHECKPOINT) -> Path:
    return Path(run_dir) / CHECKPOINTS_DIR / name


def sample_grid_path(run_dir: Path, epoch: int) -> Path:
    return Path(run_dir) / SAMPLES_DIR / f"epoch_{epoch:04d}.png"


def claim_run_dir(run_dir: Path, resume: bool, *, unique: bool = False) -> Path:
    """Lock ``run_dir`` for this process and make sure training may write to it; never overwrite
    a previous run. ``unique``: a default name taken by another run gets ``-2``, ``-3``, ...

    A folder an earlier start left without a checkpoint (a crash or a NaN in its first epoch) may
    be started again, with or without ``resume``. Returns the folder claimed; the lock is held
    until :func:`holding_locks` ends (or the process does).
    """
    run_dir = Path(run_dir)
    if resume:
        if not checkpoint_path(run_dir).is_file() and not _is_dead_end(run_dir):
            raise CheckpointError(
                f"Cannot resume '{run_dir}': no {CHECKPOINTS_DIR}/{LAST_CHECKPOINT} in it. "
                "Pass the folder of a run trained before, or drop --resume to start a new one."
            )
        lock_run_dir(run_dir)
        remove_leftovers(run_dir)
        if not checkpoint_path(run_dir).is_file():
            _warn_restart(run_dir)
        return run_dir
    for attempt in range(1, 1000):
        candidate = run_dir if attempt == 1 else run_dir.with_name(f"{run_dir.name}-{attempt}")
        try:
            return _claim_new(candidate)
        except GankitError:
            if not unique:
                raise
    raise GankitError(f"No free run folder name next to '{run_dir}'; pass --out.")


def _claim_new(run_dir: Path) -> Path:
    if run_dir.exists() and not run_dir.is_dir():
        raise GankitError(f"'{run_dir}' is a file, not a run folder; pass another --out.")
    created = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = lock_run_dir(run_dir, remove_dir=created)
    if any(entry.name != LOCK_FILE for entry in run_dir.iterdir()):
        if not _is_dead_end(run_dir):
            lock.release()
            raise GankitError(
                f"Run folder '{run_dir}' already exists and is not empty. "
                "Pass --resume to continue it, or another --out for a new run.")
        remove_leftovers(run_dir)
        _warn_restart(run_dir)
    return run_dir


def _is_dead_end(run_dir: Path) -> bool:
    """A run folder whose start never wrote a checkpoint: its config.json, temp files, empty
    folders, nothing else (so nothing anyone could want is thrown away)."""
    if not (run_dir / CONFIG_FILE).is_file() or checkpoint_path(run_dir).exists():
        return False
    for entry in run_dir.iterdir():
        if entry.name in (CONFIG_FILE, LOCK_FILE) or entry.match(TEMP_GLOB):
            continue
        if entry.name in (CHECKPOINTS_DIR, SAMPLES_DIR) and entry.is_dir() and \
                all(inner.match(TEMP_GLOB) for inner in entry.iterdir()):
            continue
        return False
    return True


def _warn_restart(run_dir: Path) -> None:
    warnings.warn(GankitWarning(
        f"'{run_dir}' holds no checkpoint (an earlier start stopped before its first one); "
        "starting it from epoch 1."), stacklevel=3)


def remove_leftovers(run_dir: Path) -> list[Path]:
    """Delete the temp files a writer killed mid-write left (see ``_io.TEMP_GLOB``); only safe
    while this process holds the folder's lock."""
    removed = []
    for folder in (run_dir, run_dir / CHECKPOINTS_DIR, run_dir / SAMPLES_DIR):
        if folder.is_dir():
            for temp in folder.glob(TEMP_GLOB):
                if temp.is_file():
                    temp.unlink(missing_ok=True)
                    removed.append(temp)
    return removed


class RunInUse(GankitError):
    """Another process is writing this run folder."""


class RunLock:
    """An OS advisory lock (``flock``) on ``RUN/.lock``. The kernel drops it when the process
    ends however it ends, so it is never stale; the PID in the file only names the holder."""

    def __init__(self, path: Path, fd: int, remove_dir: bool = False) -> None:
        self.path, self.fd, self.remove_dir = path, fd, remove_dir

    def release(self) -> None:
        if self.fd < 0:
            return
        try:  # unlink while still holding it: lockers check they locked the file that is there
            self.path.unlink(missing_ok=True)
            if self.remove_dir:  # a failed start leaves no empty folder behind
                with contextlib.suppress(OSError):
                    self.path.parent.rmdir()
        finally:
            os.close(self.fd)
            self.fd = -1
            if self in _unowned:
                _unowned.remove(self)


_holders: list[list[RunLock]] = []  # one list per active holding_locks()
_unowned: list[RunLock] = []  # taken outside holding_locks(): held until the process ends


@contextlib.contextmanager
def holding_locks() -> Iterator[None]:
    """Release every run-folder lock taken inside, however the block ends."""
    mine: list[RunLock] = []
    _holders.append(mine)
    try:
        yield
    finally:
        del _holders[next(i for i, held in enumerate(_holders) if held is mine)]
        for lock in reversed(mine):
            lock.release()


def lock_run_dir(run_dir: Path, *, remove_dir: bool = False) -> RunLock:
    """Take ``run_dir``'s lock or raise :class:`RunInUse` naming the holder's PID."""
    path = Path(run_dir) / LOCK_FILE
    while fcntl is not None:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            if error.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
            raise RunInUse(f"Run folder '{run_dir}' is in use by another gankit process (PID "
                           f"{holder}); wait for it to finish, or pass another --out.") from None
        try:  # the holder before us may have unlinked the file we locked: lock the current one
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    else:  # no fcntl: a lock file that locks nothing, so the rest reads the same
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    lock = RunLock(path, fd, remove_dir)
    (_holders[-1] if _holders else _unowned).append(lock)
    return lock


def read_run_config(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / CONFIG_FILE
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"'{run_dir}' is not a gankit run: no {CONFIG_FILE} in it.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"'{path}' is not valid JSON ({error}); the run folder is damaged.") from None
    problem = _config_problem(config)
    if problem:
        raise CheckpointError(f"'{path}' is not a gankit run config ({problem}); the run folder is "
                              "damaged: restore the file, or start a new run with another --out.")
    return config


def recorded_names(saved: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The qualified names a run was made with (``PLUGIN:NAME`` for its variant, loss, dataset and
    callbacks), and whether the run recorded them itself: runs before gankit recorded them give
    what their ``plugin`` and ``loss_plugin`` entries tell, as a preference only."""
    recorded = saved.get("qualified_names")
    if isinstance(recorded, dict):
        return recorded, True
    names: dict[str, Any] = {}
    plugin = saved.get("plugin")
    if isinstance(plugin, dict) and isinstance(plugin.get("name"), str):
        names["variant"] = f"{plugin['name']}:{saved['variant']}"
    loss = (saved.get("config") or {}).get("loss")
    if isinstance(saved.get("loss_plugin"), str) and isinstance(loss, str):
        names["loss"] = f"{saved['loss_plugin']}:{loss}"
    return names, False


def _config_problem(config: Any) -> str | None:
    if not isinstance(config, dict):
        return f"a JSON {type(config).__name__}, not an object"
    for key, kind in (("variant", str), ("config", dict), ("dataset", dict), ("seed", int)):
        if not isinstance(config.get(key), kind):
            return f"'{key}' missing or not a {kind.__name__}"
    dataset = config["dataset"]
    if not isinstance(dataset.get("name"), str) or not isinstance(dataset.get("num_images"), int):
        return "'dataset' lacks its name or num_images"
    return None


def append_metrics(run_dir: Path, records: list[dict[str, Any]], file: str = METRICS_FILE) -> None:
    """Append ``records`` to ``metrics.jsonl`` (or another of the run's JSON-lines ``file``)."""
    path = Path(run_dir) / file
    with open(path, "ab") as file:
        # A kill mid-append leaves a torn last line: start on a fresh line, never glue onto it.
        if file.tell() > 0:
            with open(path, "rb") as reader:
                reader.seek(-1, os.SEEK_END)
                torn = reader.read(1) != b"\n"
            if torn:
                file.write(b"\n")
        file.write("".join(json.dumps(record) + "\n" for record in records).encode())


def drop_metrics_after(run_dir: Path, epoch: int, file: str = METRICS_FILE) -> int:
    """Remove the ``metrics.jsonl`` (or ``file``) lines of epochs after ``epoch`` (a resume trains
    them again), rewriting the file atomically if any goes; returns how many went."""
    records = read_metrics(run_dir, file)
    kept = [r for r in records if not (isinstance(r.get("epoch"), int) and r["epoch"] > epoch)]
    if len(kept) < len(records):
        write_text_atomic(Path(run_dir) / file, "".join(json.dumps(r) + "\n" for r in kept))
    return len(records) - len(kept)


def read_metrics(run_dir: Path, file: str = METRICS_FILE) -> list[dict[str, Any]]:
    """The records of ``metrics.jsonl`` (or ``file``: ``steps.jsonl``); a line that is not a JSON
    object (the torn end of a killed append) is skipped."""
    path = Path(run_dir) / file
    if not path.exists():
        return []
    records = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line) if line.strip() else None
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def versions() -> dict[str, str]:
    found = {"gankit": __version__, "python": platform.python_version()}
    try:
        from importlib.metadata import version

        for package in ("torch", "torchvision"):
            found[package] = version(package)
    except Exception:  # metadata can be missing in odd installs; versions are informative only
        pass
    return found


def cpu_record() -> dict[str, Any]:
    """The CPU a timing was measured on: its model name (``/proc/cpuinfo``, else ``platform``), its
    cores, and whether it has AVX512-BF16 (where ``--precision auto`` trains in bf16). Wall times and
    images/s mean little without it (gankit zoo's table header)."""
    cpuinfo = Path("/proc/cpuinfo")
    text = cpuinfo.read_text(errors="replace") if cpuinfo.is_file() else ""
    name = next((line.split(":", 1)[1].strip() for line in text.splitlines()
                 if line.startswith("model name")), "") or platform.processor() or platform.machine()
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines()
                  if line.startswith("flags")), [])
    return {"name": name, "cores": os.cpu_count(), "avx512_bf16": "avx512_bf16" in flags if flags else None}


def check_checkpoint_matches(state: dict[str, Any], saved: dict[str, Any], run_dir: Path,
                             action: str = "resume") -> None:
    """config.json (``saved``) and last.pt (``state``) must describe the same run (only ``epochs``
    may differ): a checkpoint copied in from another run would be resumed, or compared, under the
    other's name, recipe and budget. ``action`` names what is refused ("resume", "compare")."""
    differ = [key for key in ("variant", "seed") if state.get(key, saved[key]) != saved[key]]
    if state.get("dataset", saved["dataset"]["name"]) != saved["dataset"]["name"]:
        differ.append("dataset")
    ours, theirs = (json.loads(json.dumps(c, default=str)) for c in (state["config"], saved["config"]))
    differ += [f"config.{key}" for key in sorted(set(ours) & set(theirs) - {"epochs"})
               if ours[key] != theirs[key]]
    if differ:
        instead = ("compare another run folder" if action == "compare"
                   else "start a new run with another --out")
        raise CheckpointError(f"Cannot {action} '{run_dir}': {CONFIG_FILE} and {checkpoint_path(run_dir)} "
                              f"disagree on {', '.join(differ)}; one of them comes from another run. "
                              f"Restore the right file, or {instead}.")


def resolve_checkpoint(path: Path) -> Path:
    """A run folder -> its last checkpoint; a file -> itself."""
    path = Path(path)
    if path.is_dir():
        candidate = checkpoint_path(path)
        if not candidate.is_file():
            raise CheckpointError(
                f"'{path}' has no {CHECKPOINTS_DIR}/{LAST_CHECKPOINT}; pass a run folder trained by "
                "gankit or a checkpoint file."
            )
        return candidate
    if not path.exists():
        raise CheckpointError(f"'{path}' does not exist; pass a run folder or a checkpoint file.")
    return path
