"""Writing files so that a crash, a full disk or Ctrl-C never leaves a half-written one.

Every file gankit writes that a user may rely on (config.json, checkpoints, plots, reports,
evaluator weights) goes through :func:`atomic_write`: the bytes go to a temporary file in the same
folder, are flushed to disk, and the temporary file is renamed over the target. A rename within one
folder is atomic, so readers see the old file or the new one, never a mix.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Iterator


def _file_mode() -> int:
    """0o666 less the umask: what ``open()`` would give (mkstemp's 0o600 would hide files from
    the group that shares a run folder). Read once; os.umask has no read-only form."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


FILE_MODE = _file_mode()
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


@contextlib.contextmanager
def atomic_write(path: Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """Like :func:`atomic_path`, for writers that take a file object; ``mode`` is ``"wb"`` or
    ``"w"`` (UTF-8 text). The bytes are flushed to disk before the rename."""
    with atomic_path(path) as temp:
        with open(temp, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())


def write_text_atomic(path: Path, text: str) -> None:
    with atomic_write(path, "w") as file:
        file.write(text)


def write_json_atomic(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2) + "\n")


def env_flag(name: str) -> bool:
    """Whether the environment variable ``name`` is set to something other than empty, 0 or false."""
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no", "off")
