"""Checkpoints: written atomically, loaded safely.

A checkpoint is a plain dict of state dicts, optimizer states, RNG states, counters and the
run's config. It is written to a temporary file in the same folder, flushed to disk, then renamed
over the old one, so a crash or a full disk never destroys the previous checkpoint. It is loaded
with ``weights_only=True``: a checkpoint cannot run code.

Every ``.pt`` file gankit reads goes through :func:`safe_load`, never through ``torch.load``
itself: a plugin may have replaced ``torch.load`` to force ``weights_only=False`` (a common
workaround since PyTorch 2.6), which would let a file run code. :func:`safe_load` calls torch's
own implementation, checked to be the code torch shipped, and refuses in one line when it was
replaced too.
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path
from typing import Any, Callable

import torch

from gankit._io import atomic_write
from gankit.errors import CheckpointError

FORMAT_VERSION = 1
REQUIRED_KEYS = ("generator", "discriminator", "variant", "config", "epoch", "step")
KEY_TYPES = {"generator": dict, "discriminator": dict, "variant": str, "config": dict, "epoch": int,
             "step": int, "dataset": str, "rng": dict}


_saving = 0  # checkpoints being written right now (the engine's signal handler asks)
_interrupt_after_save = False


def saving() -> bool:
    """Whether a checkpoint is being written: a second Ctrl-C then waits for it (see
    :func:`interrupt_after_save`) instead of tearing it."""
    return _saving > 0


def interrupt_after_save() -> None:
    """Raise ``KeyboardInterrupt`` as soon as the checkpoint being written is complete."""
    global _interrupt_after_save
    _interrupt_after_save = True


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """Write ``state`` to ``path`` atomically (temp file, fsync, rename).

    The bytes are made in memory first: torch's writer turns a full disk into an opaque
    ``RuntimeError``, a plain ``write`` into ``OSError(ENOSPC)`` naming the file.
    """
    global _saving, _interrupt_after_save
    buffer = io.BytesIO()
    torch.save({"format_version": FORMAT_VERSION, **state}, buffer)
    _saving += 1
    try:
        with atomic_write(Path(path)) as file:
            file.write(buffer.getbuffer())
    finally:
        _saving -= 1
    if _interrupt_after_save and not _saving:
        _interrupt_after_save = False
        raise KeyboardInterrupt


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load and check a checkpoint written by :func:`save_checkpoint`."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"No checkpoint at '{path}'. Pass a run folder or a .pt file written by "
                              "gankit.")
    try:
        state = safe_load(path, map_location=map_location)
    except (OSError, MemoryError, CheckpointError):
        raise
    except Exception as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        if "weights_only" in str(error) or "Weights only" in first_line:
            # torch's advice (retry with weights_only=False) would run the file's code: never give it
            first_line = "it holds objects other than tensors and plain data, which gankit never loads"
        raise CheckpointError(
            f"Cannot read checkpoint '{path}' ({first_line}); it is corrupt or not a gankit checkpoint."
        ) from None
    missing = [key for key in REQUIRED_KEYS if not isinstance(state, dict) or key not in state]
    if missing:
        raise CheckpointError(f"'{path}' is not a gankit checkpoint (missing {', '.join(missing)}).")
    wrong = [key for key, kind in KEY_TYPES.items() if key in state and not isinstance(state[key], kind)]
    if wrong:
        raise CheckpointError(f"'{path}' is damaged: {', '.join(wrong)} "
                              f"{'is' if len(wrong) == 1 else 'are'} not what gankit writes there.")
    return state


def safe_load(file: Any, map_location: Any = "cpu", *, mmap: bool | None = None) -> Any:
    """``torch.load(file, weights_only=True)`` through torch's own code, however ``torch.load``
    was patched; :class:`CheckpointError` naming the replacement when torch's code was replaced."""
    load = _genuine_load(file)
    return load(file, map_location=map_location, weights_only=True, mmap=mmap)


def _genuine_load(file: Any) -> Callable[..., Any]:
    import torch.serialization as serialization

    unpickler = getattr(serialization, "_weights_only_unpickler", None)
    parts = [("torch.serialization.load", serialization.load, serialization),
             ("torch.serialization._load", getattr(serialization, "_load", None), serialization),
             ("the weights-only unpickler", getattr(getattr(unpickler, "Unpickler", None), "load", None),
              sys.modules.get("torch._weights_only_unpickler"))]
    for what, function, module in parts:
        if function is None and what != "torch.serialization.load":
            continue  # a private part another torch version lacks
        if not _shipped_by(function, module):
            raise CheckpointError(
                f"Refusing to load '{file}': {what} was replaced by {_origin(function)}, which "
                "could make the file run code (a patch forcing weights_only=False); gankit loads "
                f"only through torch's own code. {_how_to_undo(function)}")
    return serialization.load


def _shipped_by(function: Any, module: Any) -> bool:
    """Whether ``function`` is code from ``module``'s own file (not a wrapper, partial or lambda
    of someone else's, which ``functools.wraps`` may have dressed up as the original)."""
    code = getattr(function, "__code__", None)
    where = getattr(module, "__file__", None)
    return code is not None and where is not None and \
        os.path.realpath(code.co_filename) == os.path.realpath(where)


def _origin(function: Any) -> str:
    code = getattr(function, "__code__", None)
    name = getattr(function, "__qualname__", None) or type(function).__name__
    return f"{name} ({code.co_filename}:{code.co_firstlineno})" if code is not None else f"a {name}"


def _how_to_undo(function: Any) -> str:
    # The plugin host as loaded, if it was: no import of gankit.host, which reaches gankit.data
    # (whose readers load through safe_load) and would close an import circle.
    hosts = sys.modules.get("gankit.host")
    host = hosts.loaded_host() if hosts is not None else None
    code = getattr(function, "__code__", None)
    plugin = host.plugin_of_code(code, getattr(function, "__module__", None)) if host else None
    if plugin is None:
        return "Remove the patch."
    return f"Fix plugin '{plugin}', or disable it with GANKIT_DISABLE_PLUGINS={plugin}."


def capture_rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
