"""The plugin's command, ``gankit acgan-accuracy RUN``: how well the discriminator's classifier head
recognises real images, and how often it recognises G's images as the class G was asked for.

gankit lists it under the help panel ``Plugin: acgan``. This module imports only typer (already
loaded by the CLI); the torch work is in :mod:`gankit_acgan.accuracy`, imported when the command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from gankit import GankitError


def add_commands(app: typer.Typer) -> None:
    @app.command("acgan-accuracy")
    def acgan_accuracy(
        run: Annotated[Path, typer.Argument(help="An acgan run folder or checkpoint.")],
        n: Annotated[int, typer.Option(help="Real images to classify, and samples to draw.")] = 1000,
        split: Annotated[str, typer.Option(help="Dataset split for the real images: test or train.")] = "test",
        data_root: Annotated[Optional[Path], typer.Option(
            help="Folder with the dataset files [default: gankit's data root].")] = None,
    ) -> None:
        """Accuracy of an AC-GAN run's classifier head on real images and on its own samples."""
        from gankit_acgan.accuracy import classifier_accuracy

        try:
            if n < 1:
                raise GankitError(f"--n must be at least 1, got {n}.")
            result = classifier_accuracy(run, n=n, split=split, data_root=data_root)
        except GankitError as error:
            typer.echo(f"Error: {error}", err=True)
            raise typer.Exit(2)
        typer.echo(f"real ({result.real_count} {split} images from {result.source}): "
                   f"{result.real_accuracy:.1%} classified correctly")
        typer.echo(f"fake ({result.fake_count} samples, classes cycled): "
                   f"{result.fake_accuracy:.1%} classified as the class G was asked for")
