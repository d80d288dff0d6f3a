"""The plugin's command, ``gankit infogan-traverse RUN``: the paper's Fig. 2 as one PNG. Each row
holds one value of a categorical code, each column one value of a continuous code (-2 to 2 by
default, past the [-1, 1] G was trained on), with the noise and the other codes fixed.

gankit lists it under the help panel ``Plugin: gankit_infogan``. This module imports only typer
(already loaded by the CLI); the torch work is in :mod:`gankit_infogan.traverse`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from gankit import GankitError


def add_commands(app: typer.Typer, host=None) -> None:
    @app.command("infogan-traverse")
    def infogan_traverse(
        run: Annotated[Path, typer.Argument(help="An infogan run folder or checkpoint.")],
        out: Annotated[Path, typer.Option(help="Where to write the PNG grid.")] = Path("traverse.png"),
        code: Annotated[str, typer.Option(help="The continuous code varied along the columns.")] = "c1",
        rows: Annotated[Optional[str], typer.Option(
            help="The categorical code along the rows [default: the first one].")] = None,
        low: Annotated[float, typer.Option(help="The continuous code's first value.")] = -2.0,
        high: Annotated[float, typer.Option(help="The continuous code's last value.")] = 2.0,
        columns: Annotated[int, typer.Option(help="Values of the continuous code.")] = 9,
        seed: Annotated[int, typer.Option(help="Seed of the fixed noise.")] = 0,
    ) -> None:
        """Fig. 2 of the InfoGAN paper: a categorical code down the rows, a continuous one across."""
        from gankit_infogan.traverse import traverse

        try:
            if columns < 2:
                raise GankitError(f"--columns must be at least 2, got {columns}.")
            shape = traverse(run, out, continuous=code, categorical=rows, low=low, high=high,
                             columns=columns, seed=seed, host=host)
        except GankitError as error:
            typer.echo(f"Error: {error}", err=True)
            raise typer.Exit(2)
        typer.echo(f"wrote {out}: {shape[0]} rows x {shape[1]} columns")
