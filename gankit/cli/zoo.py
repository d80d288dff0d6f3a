"""The ``zoo`` command: every installed variant (or those named) trained on one dataset at one
budget for N seeds, scored alike, and written as a leaderboard (:mod:`gankit.zoo`).

Start-up stays torch-free: the zoo is imported inside the command's body.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from gankit.cli.common import (EXIT_INTERRUPTED, Device, key_value_pairs, offline, one_line_warnings,
                               user_errors)
from gankit.cli.options import (COMMON, DATA, OUTPUTS, SCORING, SPEED, DataRootOption,
                                InceptionWeightsOption, check_max_images)


def add_commands(app: typer.Typer) -> None:
    """Add ``zoo`` to ``app``."""
    app.command()(zoo)


@user_errors
def zoo(
    variants: Annotated[Optional[list[str]], typer.Argument(
        metavar="VARIANT",
        help="Variants to train [default: every registered variant, plugins included].")] = None,
    out: Annotated[Optional[Path], typer.Option(
        metavar="DIR", rich_help_panel=COMMON,
        help="The table's folder; an existing one is added to, under its own protocol "
             "[default: zoo/DATASET].")] = None,
    g_steps: Annotated[Optional[int], typer.Option(
        metavar="N", rich_help_panel=COMMON,
        help="Generator updates per run: the whole epochs nearest to N, from each variant's own "
             "updates per epoch [default: 1000, unless --epochs].")] = None,
    epochs: Annotated[Optional[int], typer.Option(
        metavar="N", rich_help_panel=COMMON, help="Or the same epochs for every variant.")] = None,
    seeds: Annotated[Optional[int], typer.Option(
        metavar="K", rich_help_panel=COMMON,
        help="Train each variant with seeds 0..K-1 [default: 3].")] = None,
    n: Annotated[Optional[int], typer.Option(
        metavar="N", rich_help_panel=COMMON,
        help="Images scored per run (and per real set) [default: 10000, lowered to fit the real "
             "data].")] = None,
    device: Annotated[Device, typer.Option(
        metavar="auto|cpu|cuda|mps", rich_help_panel=COMMON, help="Where to train and score.")] = Device.auto,
    dataset: Annotated[Optional[str], typer.Option(
        metavar="NAME", rich_help_panel=DATA, help="Dataset to train on [default: mnist].")] = None,
    data_option: Annotated[Optional[list[str]], typer.Option(
        "--data-option", metavar="KEY=VALUE", rich_help_panel=DATA,
        help="An option of the dataset, for every run and the real images (repeatable).")] = None,
    data_root: DataRootOption = None,
    max_images: Annotated[Optional[int], typer.Option(
        metavar="N", rich_help_panel=DATA, help="Train on a seeded random subset of N images.")] = None,
    features: Annotated[Optional[str], typer.Option(
        metavar="evaluator|inception", rich_help_panel=SCORING,
        help="Whose features: gankit's classifier, or InceptionV3 [default: evaluator].")] = None,
    evaluator: Annotated[Optional[Path], typer.Option(
        metavar="FILE", rich_help_panel=SCORING,
        help="Evaluator weights (.pt) [default: the one gankit ships for the dataset].")] = None,
    inception_weights: InceptionWeightsOption = None,
    ema: Annotated[Optional[bool], typer.Option(
        "--ema/--no-ema", rich_help_panel=SCORING, show_default=False,
        help="Score each run's EMA generator when it kept one [default: --ema].")] = None,
    cache: Annotated[bool, typer.Option(
        rich_help_panel=SCORING,
        help="Reuse the real sets' features and floor from the data root's cache folder.")] = True,
    threads: Annotated[Optional[int], typer.Option(
        min=1, metavar="N", rich_help_panel=SPEED,
        help="CPU threads torch may use (a shared machine) [default: torch's].")] = None,
    progress: Annotated[bool, typer.Option(
        rich_help_panel=OUTPUTS, help="Show training progress bars in a terminal.")] = True,
) -> None:
    """Train every installed variant alike and write a leaderboard.

    Each variant is trained on one dataset at one budget for N seeds and scored from the same
    noise; the table (FID, KID, precision, recall, modes, time, images/s, grids) goes to zoo.md,
    zoo.html and zoo.json. Run it again with new variants and the same --out to add rows.
    """
    from gankit.cli.context import command_host
    from gankit.train import Interrupted
    from gankit.zoo import ZooOptions, run_zoo

    check_max_images(max_images)
    options = ZooOptions(
        dataset=dataset, seeds=seeds, g_steps=g_steps, epochs=epochs, n=n, max_images=max_images,
        features=features, ema=ema, data_options=key_value_pairs(data_option, "--data-option") or None,
        out=out, data_root=data_root, download=not offline(), device=device.value, threads=threads,
        evaluator_path=evaluator, inception_weights=inception_weights, progress=progress, cache=cache)
    console = Console(highlight=False, soft_wrap=True)
    try:
        with one_line_warnings(console):
            run_zoo(list(variants or []), options, host=command_host(), console=console)
    except Interrupted as stop:
        console.print(f"[yellow]Interrupted.[/] {stop.run_dir} keeps its checkpoint, and every run scored "
                      "is in the table: run the same `gankit zoo` again to go on where it stopped.")
        raise typer.Exit(EXIT_INTERRUPTED)
