"""The training progress bar: Rich, with live losses, whatever callbacks log, and images/s; and
the guard the CLI puts on stdout and stderr (:func:`guarded_streams`), so that output nobody
reads any more (``gankit train ... | head -3``) never stops a command."""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import time
from typing import Any, Callable, Iterator

# The keys the bar always shows, with their short labels, in this order; others follow.
# A critic loss (WGAN-GP, hinge, ...) logs its raw mean outputs as critic_real/critic_fake: they
# are not probabilities, so its sigmoids (d_real, d_fake, kept in metrics.jsonl) are not shown.
SHOWN = {"d_loss": "D", "g_loss": "G", "d_real": "D(x)", "d_fake": "D(G(z))",
         "critic_real": "C(x)", "critic_fake": "C(G(z))"}
PROBABILITIES = ("d_real", "d_fake")


class ProgressBar:
    """A Rich progress bar; silent when ``console`` is None or writes to no terminal.

    Piped or redirected (a log file, CI, ``| tee``) a live bar cannot redraw itself: Rich leaves
    its frames in the output, the last one with other numbers than the epoch's own line. There,
    the per-epoch lines the training loop prints are the record, and no bar is drawn. A notebook
    (Rich's Jupyter display) still gets the bar.
    """

    def __init__(self, console: Any, name: str) -> None:
        self.console, self.name = console, name
        self.bar: Any = None
        self.task: Any = None

    def __enter__(self) -> "ProgressBar":
        if draws_live(self.console):
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                       TimeElapsedColumn, TimeRemainingColumn)

            self.bar = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[stats]}"),
                console=self.console, transient=False,
            )
            self.bar.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)

    def start_epoch(self, epoch: int, epochs: int, total: int, done: int) -> None:
        if self.bar is None:
            return
        if self.task is not None:
            self.bar.update(self.task, visible=epoch == epochs)
            self.bar.remove_task(self.task)
        self.task = self.bar.add_task(f"{self.name} epoch {epoch}/{epochs}", total=total,
                                      completed=done, stats="")

    def update(self, completed: int, window: dict[str, float], images_per_s: float) -> None:
        if self.bar is None:
            return
        self.bar.update(self.task, completed=completed,
                        stats=f"{format_values(window)}  {images_per_s:,.0f} img/s")


def draws_live(console: Any) -> bool:
    """Whether a live bar on ``console`` redraws in place: a terminal, or a notebook."""
    return console is not None and bool(console.is_terminal or getattr(console, "is_jupyter", False))


def format_values(values: dict[str, float]) -> str:
    """``D 0.693  G 0.701  D(x) 0.50  ...  mi 0.12``: the standard keys first, then the rest."""
    hidden = PROBABILITIES if "critic_real" in values else ()
    parts = [f"{label} {values[key]:.3f}" for key, label in SHOWN.items()
             if key in values and key not in hidden]
    parts += [f"{key} {value:.3g}" for key, value in values.items() if key not in SHOWN and key not in hidden]
    return "  ".join(parts)


class ClosedPipeGuard:
    """A text stream (stdout, stderr) that outlives its reader: once a write or flush fails with
    EPIPE (``| head`` exited), it drops everything after and points the file descriptor at
    /dev/null, so that neither Rich (which would exit 1), click nor Python's flush at exit fails
    on it again. ``on_close`` is called once, by the first write dropped :data:`NOTICE_AFTER_S`
    after the close: a command still printing (training) says it goes on; ``gankit list | head``
    ends silently. Any other OS error (a full disk behind ``> file``) is raised naming the file
    the stream writes to."""

    NOTICE_AFTER_S = 1.0

    def __init__(self, wrapped: Any, label: str = "standard output",
                 on_close: Callable[[], None] | None = None) -> None:
        self.wrapped, self.label, self.on_close = wrapped, label, on_close
        self.closed_pipe, self._closed_at = False, 0.0

    def write(self, text: str) -> int:
        if self.closed_pipe:
            if self.on_close is not None and time.monotonic() - self._closed_at >= self.NOTICE_AFTER_S:
                on_close, self.on_close = self.on_close, None
                on_close()
            return len(text)
        try:
            return self.wrapped.write(text)
        except OSError as error:
            self._failed(error)
            return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if not self.closed_pipe:
            try:
                self.wrapped.flush()
            except OSError as error:
                self._failed(error)

    def _failed(self, error: OSError) -> None:
        if error.errno != errno.EPIPE:
            if error.filename is None:
                error.filename = self._target()
                error.gankit_stream = self.label  # type: ignore[attr-defined]
            raise error
        self.closed_pipe, self._closed_at = True, time.monotonic()
        with contextlib.suppress(OSError, ValueError, AttributeError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.wrapped.fileno())  # what is still buffered goes there at exit
            os.close(devnull)

    def _target(self) -> str | None:
        """The file this stream writes to (Linux: ``/proc/self/fd/N``), if it is one."""
        with contextlib.suppress(OSError, ValueError, AttributeError):
            target = os.readlink(f"/proc/self/fd/{self.wrapped.fileno()}")
            if target.startswith("/"):
                return target
        return None

    def __getattr__(self, name: str) -> Any:  # isatty, encoding, fileno, buffer, ...
        return getattr(self.wrapped, name)


def _say_stdout_closed() -> None:
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.write("gankit: standard output was closed (its reader, such as `head`, exited); "
                         "the command goes on without printing to it.\n")
        sys.stderr.flush()


@contextlib.contextmanager
def guarded_streams() -> Iterator[None]:
    """``sys.stdout`` and ``sys.stderr`` behind a :class:`ClosedPipeGuard` inside the block; they
    are put back after. A closed stdout is said once, on stderr, if the command goes on printing."""
    saved = sys.stdout, sys.stderr
    if sys.stdout is not None and not isinstance(sys.stdout, ClosedPipeGuard):
        sys.stdout = ClosedPipeGuard(sys.stdout, on_close=_say_stdout_closed)  # type: ignore[assignment]
    if sys.stderr is not None and not isinstance(sys.stderr, ClosedPipeGuard):
        sys.stderr = ClosedPipeGuard(sys.stderr, "standard error")  # type: ignore[assignment]
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved
