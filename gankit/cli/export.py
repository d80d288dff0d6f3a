"""The ``export`` command: a run's generator as safetensors, config.json and a model card
(:mod:`gankit.export`); torch is imported inside the body."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from gankit.cli.common import one_line_warnings, user_errors
from gankit.cli.context import command_host
from gankit.cli.options import COMMON, OUTPUTS


def add_commands(app: typer.Typer) -> None:
    """Add ``export`` to ``app``."""
    app.command()(export)


@user_errors
def export(
    run: Annotated[Path, typer.Argument(metavar="RUN", help="A run folder or a checkpoint file.",
                                        show_default=False)],
    out: Annotated[Path, typer.Argument(metavar="DIR", help="The folder to write (new or empty).",
                                        show_default=False)],
    force: Annotated[bool, typer.Option(
        "--force", rich_help_panel=COMMON,
        help="Write into DIR although it is not empty, replacing the export's files there.")] = False,
    onnx: Annotated[bool, typer.Option(
        "--onnx", rich_help_panel=OUTPUTS,
        help="Also generator.onnx, checked with onnxruntime against torch (pip install "
             "'gankit[onnx]').")] = False,
    scores: Annotated[Optional[Path], typer.Option(
        metavar="FILE", rich_help_panel=OUTPUTS,
        help="The card's scores: what `gankit evaluate RUN --json` printed [default: the run's last "
             "--eval-every scores, if any].")] = None,
    license: Annotated[Optional[str], typer.Option(
        metavar="ID", rich_help_panel=OUTPUTS,
        help="The weights' license for the card's front matter, e.g. mit or cc-by-4.0 [default: "
             "none stated].")] = None,
) -> None:
    """Export a run's generator: safetensors, config.json, a model card.

    The folder has the layout the Hugging Face Hub pushes and downloads; `gankit sample DIR` and
    `gankit.load_generator(DIR)` load it without the run folder and without unpickling anything.
    """
    from gankit.export import export_run, read_scores

    measured = read_scores(scores) if scores is not None else None
    with one_line_warnings(Console(stderr=True, highlight=False, soft_wrap=True)):
        result = export_run(run, out, host=command_host(), force=force, onnx=onnx, scores=measured,
                            license=license)
    typer.echo(f"Wrote {', '.join(result.files)} to {result.path}")
    if result.onnx_difference is not None:
        typer.echo("ONNX checked with onnxruntime: max abs difference from torch "
                   f"{result.onnx_difference:.2g}")
