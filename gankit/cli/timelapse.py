"""The ``timelapse`` command: a run's per-epoch sample grids as an animated GIF and an MP4
(:mod:`gankit.timelapse`); ``gankit train --timelapse`` makes the same at its end.

Start-up stays torch-free: the drawing is imported inside the command's body.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape

from gankit.cli.common import user_errors
from gankit.cli.options import COMMON, OUTPUTS
from gankit.timelapse import DEFAULT_FPS, DEFAULT_FRAMES, DEFAULT_HOLD_S  # torch-free, Pillow-free


def add_commands(app: typer.Typer) -> None:
    """Add ``timelapse`` to ``app``."""
    app.command()(timelapse)


@user_errors
def timelapse(
    run: Annotated[Path, typer.Argument(
        metavar="RUN", help="A run folder (still training, interrupted or done).")],
    out: Annotated[Optional[Path], typer.Option(
        metavar="PATH", rich_help_panel=COMMON,
        help="A file (its .gif or .mp4 suffix sets --format) or a folder [default: RUN/timelapse.gif "
             "and .mp4].")] = None,
    format_: Annotated[Optional[str], typer.Option(
        "--format", metavar="gif|mp4|both", rich_help_panel=COMMON,
        help="What to write; mp4 needs pip install 'gankit[media]' [default: --out's suffix, else "
             "both: the GIF, and the MP4 where gankit[media] is installed].")] = None,
    frames: Annotated[Optional[int], typer.Option(
        metavar="N", rich_help_panel=COMMON,
        help=f"At most N frames: the first epoch, every k-th and the last [default: "
             f"{DEFAULT_FRAMES}].")] = None,
    every: Annotated[Optional[int], typer.Option(
        metavar="K", rich_help_panel=COMMON,
        help="Or every K-th epoch (with the first and the last), however many frames that is.")] = None,
    fps: Annotated[float, typer.Option(
        metavar="FPS", rich_help_panel=OUTPUTS, help="Frames per second.")] = DEFAULT_FPS,
    hold: Annotated[float, typer.Option(
        metavar="SECONDS", rich_help_panel=OUTPUTS,
        help="How long the last frame stays before the GIF loops.")] = DEFAULT_HOLD_S,
    width: Annotated[Optional[int], typer.Option(
        metavar="PX", rich_help_panel=OUTPUTS,
        help="Scale the grids to PX wide (smaller files) [default: the grids' own width].")] = None,
) -> None:
    """Animate a run's per-epoch sample grids into a GIF and an MP4.

    Each frame is one epoch's grid from the run's fixed noise, with the epoch drawn under it; long
    runs keep to a frame budget. Works on a run that is still training or was interrupted.
    """
    from gankit.timelapse import make_timelapse

    made = make_timelapse(run, out=out, formats=format_, frames=frames, every=every, fps=fps, hold=hold,
                          width=width)
    console = Console(highlight=False, soft_wrap=True)
    for note in made.notes:  # plain text: "gankit[media]" is no markup
        console.print(f"note: {escape(note)}")
    console.print(f"[green]Wrote[/] {escape(made.summary())}")
