"""The ``train`` command: its options read into the engine's ``RunOptions`` and checked, the run
started (through torchrun for ``--devices N``), and how it ended reported in one line.

Start-up stays torch-free: the engine is imported inside the command's body.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console

from gankit.cli.common import (EXIT_INTERRUPTED, EXIT_SYSTEM, Device, Precision, fail, key_value_pairs,
                               offline, one_line_warnings, system_error_line, user_errors)
from gankit.cli.context import command_host
from gankit.cli.options import (ADVANCED, COMMON, DATA, DISTRIBUTED, OUTPUTS, SPEED, DataRootOption,
                                check_max_images, check_seed)
from gankit.errors import GankitError


def add_commands(app: typer.Typer) -> None:
    """Add ``train`` to ``app``."""
    app.command()(train)


@user_errors
def train(
    variant: Annotated[str, typer.Argument(metavar="VARIANT", help="Variant to train (see `gankit list`).")],
    # Common: what a first run changes.
    epochs: Annotated[Optional[int], typer.Option(
        metavar="N", rich_help_panel=COMMON, help="Epochs in total [default: the variant's].")] = None,
    batch_size: Annotated[Optional[int], typer.Option(
        metavar="N", rich_help_panel=COMMON,
        help="Images per training step (the global batch with --devices) [default: the variant's].")] = None,
    lr: Annotated[Optional[float], typer.Option(
        metavar="RATE", rich_help_panel=COMMON,
        help="Learning rate of G and D, for the optimizer the config names (adam unless --set "
             "optimizer=adamw|rmsprop|sgd; --set g_lr=, d_lr= set one each) [default: the "
             "variant's].")] = None,
    loss: Annotated[Optional[str], typer.Option(
        metavar="NAME", rich_help_panel=COMMON,
        help="Any registered loss (see `gankit list`) [default: the variant's].")] = None,
    set_: Annotated[Optional[list[str]], typer.Option(
        "--set", metavar="KEY=VALUE", rich_help_panel=COMMON,
        help="Set a field of the variant's config (repeatable; `gankit show VARIANT` lists them).")] = None,
    out: Annotated[Optional[Path], typer.Option(
        metavar="DIR", rich_help_panel=COMMON,
        help="Run folder [default: runs/VARIANT-DATASET-TIME].")] = None,
    resume: Annotated[bool, typer.Option(
        "--resume", rich_help_panel=COMMON,
        help="Continue the run in --out from its last checkpoint.")] = False,
    max_images: Annotated[Optional[int], typer.Option(
        metavar="N", rich_help_panel=COMMON,
        help="Train on a seeded random subset of N images (quick trials).")] = None,
    seed: Annotated[Optional[int], typer.Option(
        metavar="N", rich_help_panel=COMMON, help="Seed for everything [default: 0].")] = None,
    device: Annotated[Device, typer.Option(
        metavar="auto|cpu|cuda|mps", rich_help_panel=COMMON, help="Where to train.")] = Device.auto,
    # Data
    dataset: Annotated[Optional[str], typer.Option(
        metavar="NAME", rich_help_panel=DATA,
        help="Dataset (see `gankit list`) [default: mnist; with --resume, the run's].")] = None,
    data_root: DataRootOption = None,
    data_option: Annotated[Optional[list[str]], typer.Option(
        "--data-option", metavar="KEY=VALUE", rich_help_panel=DATA,
        help="An option of the dataset (repeatable; see `gankit list`).")] = None,
    full: Annotated[bool, typer.Option(
        "--full", rich_help_panel=DATA,
        help="Require the full dataset: error instead of falling back to a bundled subset.")] = False,
    download: Annotated[bool, typer.Option(
        rich_help_panel=DATA,
        help="Try to download missing data (never with GANKIT_OFFLINE=1); a failed try is tried "
             "again a day later, or now with GANKIT_RETRY_DOWNLOAD=1.")] = True,
    memory_budget: Annotated[Optional[str], typer.Option(
        metavar="SIZE", rich_help_panel=DATA,
        help="Stream the data from disk above this size (2GB; 0: always) [default: half the free "
             "memory].")] = None,
    # Outputs and progress
    progress: Annotated[bool, typer.Option(
        rich_help_panel=OUTPUTS,
        help="Show a progress bar in a terminal (one line per epoch either way).")] = True,
    eval_every: Annotated[Optional[int], typer.Option(
        metavar="K", rich_help_panel=OUTPUTS,
        help="Score the generator every K epochs (FID, modes covered) into metrics.jsonl; keeps "
             "checkpoints/best.pt by FID.")] = None,
    eval_n: Annotated[int, typer.Option(
        metavar="N", rich_help_panel=OUTPUTS, help="Images per evaluation with --eval-every.")] = 2000,
    checkpoint_every: Annotated[str, typer.Option(
        metavar="N|auto", rich_help_panel=OUTPUTS,
        help="Write the checkpoint every N epochs, or auto: as often as keeps its writing within 1% "
             "of the training time (the first and last epoch and any stop always write one).")] = "auto",
    tensorboard: Annotated[bool, typer.Option(
        "--tensorboard", rich_help_panel=OUTPUTS,
        help="Also log scalars and grids to RUN/tb (pip install 'gankit[tensorboard]').")] = False,
    timelapse: Annotated[bool, typer.Option(
        "--timelapse", rich_help_panel=OUTPUTS,
        help="At the end, animate the per-epoch grids into RUN/timelapse.gif and .mp4 (as `gankit "
             "timelapse RUN` does; the MP4 with pip install 'gankit[media]').")] = False,
    # Speed and precision
    precision: Annotated[Precision, typer.Option(
        metavar="MODE", rich_help_panel=SPEED,
        help="Forward passes in fp32, bf16 or fp16 (CUDA) with fp32 weights; auto: bf16 where the "
             "CPU or GPU runs it natively (AVX512-BF16, AMX, CUDA 8.0+), else fp32.")] = Precision.auto,
    compile: Annotated[bool, typer.Option(
        "--compile", rich_help_panel=SPEED,
        help="torch.compile the networks (slow to start; see docs/benchmarks.md).")] = False,
    # Distributed
    devices: Annotated[int, typer.Option(
        min=1, metavar="N", rich_help_panel=DISTRIBUTED,
        help="Train on N processes of this machine (one per GPU, or gloo on CPU) through torchrun; "
             "see docs/distributed.md.")] = 1,
    sync_bn: Annotated[bool, typer.Option(
        "--sync-bn", rich_help_panel=DISTRIBUTED,
        help="With several processes on CUDA: BatchNorm statistics over the global batch "
             "(SyncBatchNorm).")] = False,
    # Advanced: the recipe beyond --set's shorthand
    ema: Annotated[Optional[float], typer.Option(
        metavar="DECAY", rich_help_panel=ADVANCED,
        help="Average G's weights: decay per G step, e.g. 0.999; 0: off [default: the variant's].")] = None,
    augment: Annotated[Optional[str], typer.Option(
        metavar="none|diffaug|ada", rich_help_panel=ADVANCED,
        help="Augment D's real and fake inputs: DiffAugment, or ada (at a probability tuned to D's "
             "overfitting) [default: the variant's].")] = None,
    r1: Annotated[Optional[float], typer.Option(
        metavar="GAMMA", rich_help_panel=ADVANCED,
        help="R1 penalty weight on D's gradient at real images; 0: off [default: the variant's].")] = None,
    callback: Annotated[Optional[list[str]], typer.Option(
        "--callback", metavar="NAME", rich_help_panel=ADVANCED,
        help="Enable a plugin's training callback (repeatable; see `gankit list`).")] = None,
) -> None:
    """Train a GAN variant into a run folder.

    The folder gets sample grids every epoch, a loss plot, metrics and checkpoints; the options a
    first run needs are under Common.
    """
    from gankit.config import parse_set_options
    from gankit.train import RunOptions
    if devices > 1 and "WORLD_SIZE" not in os.environ:  # not yet under torchrun: start it
        from gankit.train.distributed import launch
        raise typer.Exit(launch(devices, sys.argv[1:]))

    overrides: dict[str, Any] = parse_set_options(set_ or [])
    typed = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "loss": loss, "ema": ema,
             "augment": augment, "r1": r1}
    overrides.update({key: value for key, value in typed.items() if value is not None})
    check_seed(seed)
    if resume and dataset is not None and out is not None:
        check_resumed_dataset(dataset, out)
    options = RunOptions(
        dataset=dataset or "mnist", data_root=data_root, download=download and not offline(),
        require_full=full, seed=seed, device=device.value, out=out, resume=resume,
        progress=progress, max_images=max_images,
        data_options=key_value_pairs(data_option, "--data-option"), callbacks=list(callback or []),
        precision=precision.value, compile=compile, memory_budget=memory_budget, tensorboard=tensorboard,
        sync_bn=sync_bn, checkpoint_every=parse_checkpoint_every(checkpoint_every),
    )
    check_max_images(max_images)
    run_and_report(variant, overrides, options, evaluation_callbacks(eval_every, eval_n), timelapse=timelapse)


def parse_checkpoint_every(value: str) -> int | None:
    """``--checkpoint-every``: ``auto`` (None) or a whole number of epochs, at least 1."""
    if value.strip().lower() == "auto":
        return None
    try:
        every = int(value)
    except ValueError:
        every = 0
    if every < 1:
        raise GankitError(f"--checkpoint-every must be auto or a whole number of epochs (1 or more), "
                          f"got '{value}'.")
    return every


def check_resumed_dataset(dataset: str, out: Path) -> None:
    """``--resume`` with ``--dataset``: the run in ``out`` must have trained on that dataset."""
    if not (out / "config.json").is_file():
        return  # no run there yet: the engine says so
    from gankit.runs import read_run_config

    trained_on = read_run_config(out)["dataset"]["name"]
    if dataset != trained_on:
        raise GankitError(f"Cannot change --dataset when resuming: '{out}' trained on "
                          f"'{trained_on}'. Drop --dataset, or start a new run with another --out.")


def evaluation_callbacks(eval_every: int | None, eval_n: int) -> list[Any]:
    """``--eval-every K`` / ``--eval-n``: the evaluation callback, if asked for, checked first."""
    if (eval_every is not None and eval_every < 1) or eval_n < 10:
        raise GankitError(f"--eval-every must be at least 1 and --eval-n at least 10; "
                          f"got {eval_every} and {eval_n}.")
    if eval_every is None:
        return []
    # Evaluation listens to the engine's events; the engine never imports it.
    from gankit.evaluate.in_training import EvaluationCallback

    return [EvaluationCallback(eval_every, eval_n)]


def run_and_report(variant: str, overrides: dict[str, Any], options: Any, callbacks: list[Any], *,
                   timelapse: bool = False) -> None:
    """Train, and say in one line how it ended: done, interrupted (with the resume command), or
    refused by the system; with ``timelapse``, a finished run's grids are animated then."""
    from gankit.train import Interrupted, train as run_training

    # Under torchrun, rank 0 alone speaks.
    console = Console(highlight=False, soft_wrap=True, quiet=os.environ.get("RANK", "0") != "0")
    try:
        with one_line_warnings(console):
            result = run_training(variant, overrides, options, host=command_host(), console=console,
                                  callbacks=callbacks)
    except Interrupted as stop:
        console.print(f"[yellow]Interrupted.[/] Checkpoint saved; continue with: "
                      f"gankit train {variant} --out {stop.run_dir} --resume")
        raise typer.Exit(EXIT_INTERRUPTED)
    except KeyboardInterrupt:  # before the engine took over the signal, or a second one
        console.print("[yellow]Interrupted[/] at once: nothing is half-written; a run that saved "
                      "a checkpoint continues with --resume.")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except (OSError, MemoryError) as error:
        fail(system_error_line(error, "; a run that saved a checkpoint continues with --resume"),
             EXIT_SYSTEM)
    epochs = "epoch" if result.epochs_done == 1 else "epochs"
    console.print(f"[green]Done:[/] {result.epochs_done} {epochs} in {result.run_dir}")
    if timelapse and os.environ.get("RANK", "0") == "0":
        from rich.markup import escape

        from gankit.timelapse import make_timelapse

        made = make_timelapse(result.run_dir)
        for note in made.notes:  # plain text: "gankit[media]" is no markup
            console.print(f"note: {escape(note)}")
        console.print(f"[green]Timelapse:[/] {escape(made.summary())}")
