"""Checks of the options that gankit's own commands share (``train``, ``sample``, ``evaluator
train``), and the help panels they are listed in: what plugin commands need is in
:mod:`gankit.cli.common` instead."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from gankit.errors import GankitError

# The help panels (``rich_help_panel``) of gankit's own commands. A help page lists its panels in the
# order its options first use them: Common (what a first run changes) first, then by topic.
COMMON = "Common"
DATA = "Data"
OUTPUTS = "Outputs and progress"
SCORING = "Scoring"
GENERATOR = "Generator"  # which generator, and its autocast (sample, evaluate)
CONDITIONS = "Labels and codes"  # what sample asks a conditional generator for
SPEED = "Speed and precision"
DISTRIBUTED = "Distributed"
ADVANCED = "Advanced"

# ``--data-root`` as train, evaluate and compare declare it (one help text, one panel).
DataRootOption = Annotated[Optional[Path], typer.Option(
    metavar="DIR", rich_help_panel=DATA,
    help="Folder with the dataset files [default: $GANKIT_DATA_ROOT or ~/.cache/gankit/data].")]

# ``--inception-weights`` as evaluate and zoo declare it.
InceptionWeightsOption = Annotated[Optional[Path], typer.Option(
    metavar="FILE", rich_help_panel=SCORING,
    help="With --features inception: a TF-FID TorchScript or torch-fidelity's "
         "weights-inception-2015-12-05-6726825d.pth (never downloaded) [default: "
         "$GANKIT_INCEPTION_WEIGHTS, else the TF-FID network gankit[inception] installs].")]

MAX_SEED = 2**32 - 1  # seeds beyond overflow the engine's per-epoch shuffle seed


def check_seed(seed: int | None) -> None:
    """``--seed``: unset, or in 0-MAX_SEED."""
    if seed is not None and not 0 <= seed <= MAX_SEED:
        raise GankitError(f"--seed must be in 0-{MAX_SEED}, got {seed}.")


def check_max_images(max_images: int | None) -> None:
    """``--max-images``: unset, or at least 1."""
    if max_images is not None and max_images < 1:
        raise GankitError(f"--max-images must be at least 1, got {max_images}.")
