"""Writing files so that a crash, a full disk or Ctrl-C never leaves a half-written one.

Every file gankit writes that a user may rely on (config.json, checkpoints, plots, reports,
evaluator weights) goes through :func:`atomic_write`: the bytes go to a temporary file in the same
folder, are flushed to disk, and the temporary file is renamed over the target. A rename within one
folder is atomic, so readers see the old file or the new one, never a mix.

Files that belong together (a comparison's report.md, report.html and results.json) go through
:func:`files_replaced_together`: all replaced, or none. A new folder (``gankit plugin new``'s
skeleton) goes through :func:`atomic_folder`: whole, or not there. An ``OSError`` always names the
file the user asked for, never a temporary one.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import IO, Any, Iterable, Iterator


def _file_mode() -> int:
    """0o666 less the umask: what ``open()`` would give (mkstemp's 0o600 would hide files from
    the group that shares a run folder). Read once; os.umask has no read-only form."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


FILE_MODE = _file_mode()
DIR_MODE = FILE_MODE | (FILE_MODE & 0o444) >> 2  # the x bits where r is: 0o755 under umask 022
TEMP_GLOB = ".*.tmp*"  # the temp files below (".last.x1y2.tmp.pt"): what a kill mid-write leaves


def _name_the_path(error: OSError, path: Path, temp_name: str | None = None) -> None:
    # A failed write() names no file, and a failed mkstemp or open names our temporary file, which
    # the user never asked for: a one-line error must name the file they wanted written.
    if error.filename is None or (temp_name is not None and error.filename == temp_name):
        error.filename = str(path)


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path``, renamed over it on a clean exit; for writers that take a
    file name (``savefig``, ``save_image``). On any error the temporary file is removed, ``path``
    is left as it was, and an OS error names ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Keep the suffix: writers such as matplotlib pick the format from the file name.
    try:
        handle, temp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}",
                                             dir=path.parent)
    except OSError as error:
        error.filename = str(path)
        raise
    os.close(handle)
    try:
        yield Path(temp_name)
        os.chmod(temp_name, FILE_MODE)
        os.replace(temp_name, path)
    except BaseException as error:
        Path(temp_name).unlink(missing_ok=True)
        if isinstance(error, OSError):
            _name_the_path(error, path, temp_name)
        raise


class _Recording:
    """A file object that keeps the OS error its write or flush raised. ``torch.save`` turns one
    into an opaque ``RuntimeError`` ("unexpected pos ..."); :func:`atomic_write` raises the full
    disk behind it instead. It is no io class, so numpy writes through ``write()`` too rather
    than ``tofile()``, which bypasses Python's file and loses the errno."""

    def __init__(self, file: IO[Any]) -> None:
        self.file, self.error = file, None

    def write(self, data: Any) -> Any:
        try:
            return self.file.write(data)
        except OSError as error:
            self.error = error
            raise

    def flush(self) -> None:
        try:
            self.file.flush()
        except OSError as error:
            self.error = error
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self.file, name)


@contextlib.contextmanager
def atomic_write(path: Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """Like :func:`atomic_path`, for writers that take a file object; ``mode`` is ``"wb"`` or
    ``"w"`` (UTF-8 text). The bytes are flushed to disk before the rename. A writer that hides a
    failed write in an error of its own (``torch.save``) raises the ``OSError`` instead."""
    with atomic_path(path) as temp:
        with open(temp, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as raw:
            file = _Recording(raw)
            try:
                yield file  # type: ignore[misc]
            except Exception as error:
                if file.error is not None and not isinstance(error, OSError):
                    raise file.error from None
                raise
            raw.flush()
            os.fsync(raw.fileno())


def write_text_atomic(path: Path, text: str) -> None:
    with atomic_write(path, "w") as file:
        file.write(text)


def write_json_atomic(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2) + "\n")


def _retarget(error: OSError, temp: Path, path: Path) -> None:
    """Name ``path``'s own file in an error about a file in its temporary stand-in ``temp``."""
    for attribute in ("filename", "filename2"):
        name = getattr(error, attribute)
        if isinstance(name, str) and Path(name).is_relative_to(temp):
            relative = Path(name).relative_to(temp)
            inner = relative.parts[1:] if relative.parts[:1] == (".old",) else relative.parts
            setattr(error, attribute, str(path.joinpath(*inner)))


@contextlib.contextmanager
def atomic_folder(path: Path) -> Iterator[Path]:
    """A temporary folder beside ``path``, renamed to ``path`` on a clean exit: a reader (or a
    retry) sees the whole folder or none. On any error it is removed, and an OS error names the
    file under ``path`` it was writing."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        temp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    except OSError as error:
        error.filename = str(path)
        raise
    try:
        yield temp
        os.chmod(temp, DIR_MODE)  # mkdtemp's 0o700
        os.rename(temp, path)  # refused if something (not empty) took the name meanwhile
    except BaseException as error:
        shutil.rmtree(temp, ignore_errors=True)
        if isinstance(error, OSError):
            error.filename = error.filename or str(path)
            _retarget(error, temp, path)
        raise


@contextlib.contextmanager
def files_replaced_together(folder: Path, stale: Iterable[str] = ()) -> Iterator[Path]:
    """A temporary folder in ``folder`` to write files into; on a clean exit each replaces its
    namesake in ``folder``, all or none: if one cannot be written or put in place, the ones
    already replaced are put back. ``stale``: names in ``folder`` removed with them unless
    written anew (a file the new set no longer has). An OS error names the file in ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".staged.", suffix=".tmp", dir=folder))
    try:
        try:
            yield stage
            written = sorted(entry.name for entry in stage.iterdir() if entry.is_file())
            _replace_all(stage, folder, written, [name for name in stale if name not in written])
        except OSError as error:
            _retarget(error, stage, folder)
            raise
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _replace_all(stage: Path, folder: Path, written: list[str], removed: list[str]) -> None:
    old = stage / ".old"  # hard links to the files replaced, to put them back
    old.mkdir()
    done: list[str] = []
    try:
        for name in [*written, *removed]:
            target = folder / name
            if target.is_file():
                try:
                    os.link(target, old / name)
                except OSError:  # a file system without hard links
                    shutil.copy2(target, old / name)
            if name in written:
                os.replace(stage / name, target)
            else:
                target.unlink(missing_ok=True)
            done.append(name)
    except BaseException:
        for name in reversed(done):
            with contextlib.suppress(OSError):
                if (old / name).exists():
                    os.replace(old / name, folder / name)
                else:
                    (folder / name).unlink(missing_ok=True)
        raise


def env_flag(name: str) -> bool:
    """Whether the environment variable ``name`` is set to something other than empty, 0 or false."""
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no", "off")
