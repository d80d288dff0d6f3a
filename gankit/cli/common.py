"""What every command shares, plugin commands included: the device and precision choices, one-line
errors and their exit codes, KEY=VALUE options, flags from the environment and plain help pages
(:class:`PlainHelpGroup`, :class:`PlainHelpCommand`: no Python types, options in panels).

This is public API (``__all__``, docs/plugins/api.md); what only gankit's own commands share is in
:mod:`gankit.cli.options`.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import signal
import threading
import traceback
import warnings
from enum import Enum
from typing import Any, Callable, Iterator, NoReturn

import typer
from typer.core import TyperCommand, TyperGroup
from rich.console import Console

from gankit._io import env_flag
from gankit.cli.context import host_to_blame
from gankit.config import key_value_pairs
from gankit.errors import GankitError, GankitWarning, TrainingError

EXIT_USAGE = 2  # bad input the user can fix
EXIT_FAILED = 1  # a run that failed (e.g. a non-finite loss)
EXIT_INTERRUPTED = 130  # Ctrl-C, as shells report it
EXIT_SYSTEM = 74  # the system refused: disk full, permissions, read-only, out of memory (sysexits' EX_IOERR)

# key_value_pairs (gankit.config's, the one KEY=VALUE parser) and env_flag (gankit._io's) are
# re-exported: plugin commands import them from here.
__all__ = ["Device", "Precision", "user_errors", "fail", "one_line_warnings", "env_flag", "offline",
           "EXIT_USAGE", "EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_SYSTEM", "system_error_line",
           "key_value_pairs", "Terminated"]


class Terminated(KeyboardInterrupt):
    """SIGTERM (what ``kill``, SLURM and Kubernetes send), raised where it arrives: the command
    stops as on Ctrl-C, its ``finally`` blocks run (a run folder's lock is released, a folder its
    start made is removed) and it exits 130 with one line. Training turns it into a stop with a
    checkpoint instead (gankit.train.loop.StopOnSigint)."""

    signum = signal.SIGTERM  # what gankit.compare.parallel passes on to its workers


@contextlib.contextmanager
def sigterm_as_interrupt(exception: type[BaseException] = Terminated) -> Iterator[None]:
    """Raise ``exception`` on SIGTERM inside the block (the main thread only: Python runs signal
    handlers there); the handler before is put back after. Without it SIGTERM kills the process
    at once: exit 143, no line, and a run folder left locked and half made."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, frame: Any) -> None:
        raise exception()

    previous = signal.signal(signal.SIGTERM, handle)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def interrupted_line(error: BaseException) -> str:
    """The one line for a command stopped by Ctrl-C or SIGTERM."""
    what = "Terminated (SIGTERM)" if isinstance(error, Terminated) else "Interrupted"
    return (f"[yellow]{what}[/]: stopped at once; every file gankit writes is written whole or not "
            "at all.")


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
        except KeyboardInterrupt as error:  # click would say "Aborted!" and exit 1; shells expect 130
            Console(stderr=True, highlight=False, soft_wrap=True).print(interrupted_line(error))
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except Exception as error:  # a plugin's bug is one line naming it; gankit's own, a traceback
            line = _plugin_error_line(error)
            if line is None:
                raise
            fail(line, EXIT_USAGE)

    return wrapper


def _plugin_error_line(error: Exception) -> str | None:
    """One line for an error a plugin's code raised, naming the plugin (as the running app's host
    knows it); ``None`` if no plugin's code raised it, or under ``--debug`` or
    ``GANKIT_STRICT_PLUGINS=1``, which want the traceback."""
    if env_flag("GANKIT_DEBUG") or env_flag("GANKIT_STRICT_PLUGINS") or isinstance(
            error, (typer.Exit, typer.Abort, typer.exceptions.TyperException)):
        return None
    host = host_to_blame()
    fault = host.plugin_at_fault(error) if host is not None else None
    if fault is None:
        return None
    plugin, where = fault
    first = (str(error).strip().splitlines() or [""])[0]
    cause = f"{type(error).__name__}: {first}".rstrip(". :")
    return (f"Plugin '{plugin}' failed: {cause} (at {where}). Fix the plugin, or disable it with "
            f"GANKIT_DISABLE_PLUGINS={plugin}; --debug shows the traceback.")


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
    said = error.strerror or (str(error) if error.args and error.args[0] is not None else "")
    # An OSError without errno or text ("[Errno None] None", numpy's tofile) says nothing more.
    what, todo = _OS_ERRORS.get(error.errno or -1, (said or "the system refused the write", "check the path"))
    path = error.filename2 or error.filename
    where = f" '{path}'" if path else ""
    stream = getattr(error, "gankit_stream", None)  # set by gankit.progress.ClosedPipeGuard
    if stream:
        where, todo = f" {stream}{where}", todo.replace(" (--out)", "")
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


class PlainHelpGroup(TyperGroup):
    """Help pages in plain text (click's formatter) instead of Typer's Rich panels: drawing the Rich
    page imports rich.markdown, markdown-it and pygments, which kept ``gankit --help`` over issue
    10's 0.3 s. The commands are still listed by panel, as the Rich page did: gankit's under
    "Commands", each plugin's under "Plugin: NAME" (or the panel it named); each summary is the
    command's ``short_help`` or its help's first sentence, whole (wrapped, never cut with "...")."""

    def format_options(self, ctx: Any, formatter: Any) -> None:
        write_plain_options(self, ctx, formatter)
        self.format_commands(ctx, formatter)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        panels: dict[str, list[tuple[str, Any]]] = {}
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                panels.setdefault(_panel_of(command, "Commands"), []).append((name, command))
        for panel, rows in panels.items():
            with formatter.section(panel):
                # No limit: a summary is wrapped, never cut with "..."
                formatter.write_dl([(name, command.get_short_help_str(limit=10_000))
                                    for name, command in rows])


class PlainHelpCommand(TyperCommand):
    """A command's help page in plain text with no Python types in it: each value is named by its
    metavar (``N``, ``PATH``, ``KEY=VALUE``; one is made up from the type where the command set
    none), arguments read ``VARIANT`` rather than ``{variant} <str>``, and options are grouped under
    their ``rich_help_panel`` in the order the panels first appear, the rest under "Options".
    :func:`gankit.cli.build_app` gives it to every command that kept Typer's own class, plugins'
    commands included."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                name = _argument_name(param)
                pieces.append(name if param.required else f"[{name}]")
            else:
                pieces.extend(param.get_usage_pieces(ctx))
        return pieces

    def format_options(self, ctx: Any, formatter: Any) -> None:
        write_plain_options(self, ctx, formatter)


def write_plain_options(command: Any, ctx: Any, formatter: Any) -> None:
    """``command``'s arguments, then its options by panel (unpanelled ones last, as "Options")."""
    arguments: list[tuple[str, str]] = []
    panels: dict[str, list[tuple[str, str]]] = {}
    for param in command.get_params(ctx):
        record = _plain_record(param, ctx)
        if record is None:
            continue
        if param.param_type_name == "argument":
            arguments.append(record)
        else:
            panels.setdefault(_panel_of(param, "Options"), []).append(record)
    sections = ([("Arguments", arguments)] if arguments else []) + sorted(
        panels.items(), key=lambda item: item[0] == "Options")  # a stable sort: panels keep their order
    # One column width for every section (write_dl sizes each on its own), at most write_dl's 30.
    width = min(30, max((len(name) for _, records in sections for name, _ in records), default=0))
    for title, records in sections:
        with formatter.section(title):
            formatter.write_dl([(name.ljust(width) if text else name, text) for name, text in records])


def _panel_of(item: Any, default: str) -> str:
    panel = getattr(item, "rich_help_panel", None)
    return panel if isinstance(panel, str) and panel else default


def _plain_record(param: Any, ctx: Any) -> tuple[str, str] | None:
    if getattr(param, "hidden", False):
        return None
    if param.param_type_name != "argument":
        flag = getattr(param, "is_flag", False) or getattr(param, "count", False)
        if param.metavar is None and not flag:
            param.metavar = _made_up_metavar(param, ctx)
        return param.get_help_record(ctx)
    record = param.get_help_record(ctx)
    return None if record is None else (_argument_name(param), record[1])


def _argument_name(param: Any) -> str:
    name = str(param.metavar) if param.metavar else (param.name or "value").strip("_").upper()
    return f"{name}..." if param.nargs != 1 and not name.endswith("...") else name


_TYPE_METAVARS = {"int": "N", "int range": "N", "float": "NUMBER", "float range": "NUMBER", "path": "PATH",
                  "file": "FILE", "dir": "DIR", "directory": "DIR", "datetime": "DATE", "bool": "BOOL"}


def _made_up_metavar(param: Any, ctx: Any) -> str:
    """A metavar from Typer's type text (``<list[int]>`` -> ``N``), or the option's name in capitals."""
    try:
        shown = str(param.display_type(ctx)).strip("<>")  # Typer's, e.g. "int range" or "auto|cpu"
    except Exception:  # noqa: BLE001 - another click parameter class: fall back to the name
        shown = ""
    while shown.startswith("list[") and shown.endswith("]"):
        shown = shown[5:-1]
    if shown in _TYPE_METAVARS:
        return _TYPE_METAVARS[shown]
    choices = shown.split("|")
    if len(choices) > 1 and not any(choice in _TYPE_METAVARS or choice == "str" for choice in choices):
        return shown  # the choices themselves: auto|cpu|cuda|mps
    longest = max(getattr(param, "opts", None) or [param.name or "value"], key=len)
    return longest.lstrip("-").replace("-", "_").upper()
