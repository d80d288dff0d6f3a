"""The training progress bar: Rich, with live losses, whatever callbacks log, and images/s."""

from __future__ import annotations

from typing import Any

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
