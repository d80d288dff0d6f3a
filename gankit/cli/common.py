"""What every command shares, plugin commands included: the device choice, one-line errors and
their exit codes, and reading flags from the environment."""

from __future__ import annotations

import contextlib
import errno
import functools
import traceback
import warnings
from enum import Enum
from typing import Any, Callable, Iterator, NoReturn

import typer
from typer.core import TyperGroup
from rich.console import Console

from gankit._io import env_flag
from gankit.errors import GankitError, GankitWarning, TrainingError
from gankit.host_guard import plugin_error_line

EXIT_USAGE = 2  # bad input the user can fix
EXIT_FAILED = 1  # a run that failed (e.g. a non-finite loss)
EXIT_INTERRUPTED = 130  # Ctrl-C, as shells report it
EXIT_SYSTEM = 74  # the system refused: disk full, permissions, read-only, out of memory (sysexits' EX_IOERR)

__all__ = ["Device", "Precision", "user_errors", "fail", "one_line_warnings", "env_flag", "offline", "EXIT_USAGE", "EXIT_FAILED",
           "EXIT_INTERRUPTED", "EXIT_SYSTEM", "system_error_line", "key_value_pairs"]


def key_value_pairs(items: list[str] | None, option: str) -> dict[str, str]:
    """``["a=1", "b=x"]`` -> ``{"a": "1", "b": "x"}``, for ``--data-option`` and the like."""
    result = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise GankitError(f"{option} expects KEY=VALUE, got '{item}'.")
        result[key.strip()] = value.strip()
    return result


class Precision(str, Enum):
    auto = "auto"
    fp32 = "fp32"
    bf16 = "bf16"
    fp16 = "fp16"


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"
    mps = "mps"


def offline() -> bool:
    """``GANKIT_OFFLINE=1``: never try a download."""
    return env_flag("GANKIT_OFFLINE")


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print ``Error: message`` as one line on stderr and exit with ``code``."""
    from rich.markup import escape  # messages are plain text: "gankit[tensorboard]" is not markup

    Console(stderr=True, highlight=False, soft_wrap=True).print(f"[bold red]Error:[/] {escape(message)}")
    raise typer.Exit(code)


def user_errors(function: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a :class:`gankit.GankitError` raised by a command into one line and an exit code
    (2, or 1 for a failed training run); ``--debug`` / ``GANKIT_DEBUG=1`` adds the traceback."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except GankitError as error:
            if env_flag("GANKIT_DEBUG"):
                traceback.print_exc()
            fail(str(error), EXIT_FAILED if isinstance(error, TrainingError) else EXIT_USAGE)
        except (OSError, MemoryError) as error:
            if env_flag("GANKIT_DEBUG"):
                traceback.print_exc()
            fail(system_error_line(error), EXIT_SYSTEM)
        except KeyboardInterrupt:  # click would say "Aborted!" and exit 1; shells expect 130
            Console(stderr=True, highlight=False, soft_wrap=True).print(
                "[yellow]Interrupted[/]: stopped at once; every file gankit writes is written whole or not at all.")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except Exception as error:  # a plugin's bug is one line naming it; gankit's own, a traceback
            line = None if env_flag("GANKIT_DEBUG") or env_flag("GANKIT_STRICT_PLUGINS") or isinstance(
                error, (typer.Exit, typer.Abort, typer.exceptions.TyperException)) \
                else plugin_error_line(error)
            if line is None:
                raise
            fail(line, EXIT_USAGE)

    return wrapper


_OS_ERRORS = {  # errno -> (what happened, what to do)
    errno.ENOSPC: ("no space left on the device", "free some space, or write somewhere else (--out)"),
    errno.EDQUOT: ("disk quota exceeded", "free some space, or write somewhere else (--out)"),
    errno.EACCES: ("permission denied", "fix the permissions, or use another path"),
    errno.EPERM: ("operation not permitted", "fix the permissions, or use another path"),
    errno.EROFS: ("the file system is read-only", "use a writable path (--out)"),
    errno.EISDIR: ("it is a folder", "pass a file name"),
    errno.ENOTDIR: ("a part of the path is a file, not a folder", "check the path"),
    errno.ENAMETOOLONG: ("the name is too long", "use a shorter path"),
    errno.EIO: ("an input/output error on the device", "check the disk"),
}


def system_error_line(error: BaseException, then: str = "") -> str:
    """One line for an error the system raised: what failed, on which path, what to do, and
    ``then`` (e.g. how to continue a run)."""
    if isinstance(error, MemoryError):
        return ("Out of memory. Ask for less at once (a smaller --n or --batch-size), or close "
                "what else uses memory.")
    assert isinstance(error, OSError)
    what, todo = _OS_ERRORS.get(error.errno or -1, (error.strerror or str(error), "check the path"))
    path = error.filename2 or error.filename
    where = f" '{path}'" if path else ""
    return f"Cannot use{where}: {what}. {todo[0].upper()}{todo[1:]}{then}."


@contextlib.contextmanager
def one_line_warnings(console: Console) -> Iterator[None]:
    """Show each :class:`gankit.GankitWarning` raised inside as one ``warning:`` line on
    ``console`` (every time, not once per place); other warnings keep Python's format."""
    with warnings.catch_warnings():
        warnings.simplefilter("always", GankitWarning)
        original = warnings.showwarning

        def show(message: Any, category: type, *args: Any, **kwargs: Any) -> None:
            if issubclass(category, GankitWarning):
                console.print(f"[yellow]warning:[/] {message}")
            else:
                original(message, category, *args, **kwargs)

        warnings.showwarning = show
        yield


MAX_SEED = 2**32 - 1  # seeds beyond overflow the engine's per-epoch shuffle seed


def check_seed(seed: int | None) -> None:
    if seed is not None and not 0 <= seed <= MAX_SEED:
        raise GankitError(f"--seed must be in 0-{MAX_SEED}, got {seed}.")


def parse_checkpoint_every(value: str) -> int | None:
    """``--checkpoint-every``: ``auto`` (None) or a whole number of epochs, at least 1."""
    if value.strip().lower() == "auto":
        return None
    try:
        every = int(value)
    except ValueError:
        every = 0
    if every < 1:
        raise GankitError(f"--checkpoint-every must be auto or a whole number of epochs (1 or more), "
                          f"got '{value}'.")
    return every


class PlainHelpGroup(TyperGroup):
    """Help pages in plain text (click's formatter) instead of Typer's Rich panels: drawing the Rich
    page imports rich.markdown, markdown-it and pygments, which kept ``gankit --help`` over issue
    10's 0.3 s. The commands are still listed by panel, as the Rich page did: gankit's under
    "Commands", each plugin's under "Plugin: NAME" (or the panel it named)."""

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        panels: dict[str, list[tuple[str, Any]]] = {}
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                panel = getattr(command, "rich_help_panel", None)
                panels.setdefault(panel if isinstance(panel, str) and panel else "Commands", []).append((name, command))
        if not panels:
            return
        limit = formatter.width - 6 - max(len(name) for rows in panels.values() for name, _ in rows)
        for panel, rows in panels.items():
            with formatter.section(panel):
                formatter.write_dl([(name, command.get_short_help_str(limit)) for name, command in rows])
