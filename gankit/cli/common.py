"""What every command shares, plugin commands included: the device choice, one-line errors and
their exit codes, and reading flags from the environment."""

from __future__ import annotations

import contextlib
import functools
import traceback
import warnings
from enum import Enum
from typing import Any, Callable, Iterator, NoReturn

import typer
from rich.console import Console

from gankit._io import env_flag
from gankit.errors import GankitError, GankitWarning, TrainingError

EXIT_USAGE = 2  # bad input the user can fix
EXIT_FAILED = 1  # a run that failed (e.g. a non-finite loss)
EXIT_INTERRUPTED = 130  # Ctrl-C, as shells report it

__all__ = ["Device", "user_errors", "fail", "one_line_warnings", "env_flag", "offline", "EXIT_USAGE", "EXIT_FAILED",
           "EXIT_INTERRUPTED"]


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
    Console(stderr=True, highlight=False, soft_wrap=True).print(f"[bold red]Error:[/] {message}")
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

    return wrapper


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
