"""The evaluation commands: ``gankit evaluate``, ``gankit compare`` and ``gankit evaluator``.

:func:`add_commands` attaches them to the app built by :func:`gankit.cli.build_app`. Like every
command, they import torch inside their bodies, so ``gankit --help`` stays torch-free.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from gankit.cli.common import (EXIT_INTERRUPTED, Device, PlainHelpGroup, Precision, interrupted_line,
                               key_value_pairs, offline, one_line_warnings, user_errors)
from gankit.cli.context import command_host
from gankit.cli.options import (COMMON, DATA, GENERATOR, OUTPUTS, SCORING, SPEED, DataRootOption,
                                InceptionWeightsOption, check_max_images)
from gankit.errors import GankitError

DEFAULT_N = 10_000


def add_commands(app: typer.Typer) -> None:
    """Add ``evaluate``, ``compare`` and the ``evaluator`` group to ``app``."""
    app.command()(evaluate)
    app.command()(compare)
    evaluator_app = typer.Typer(no_args_is_help=True, cls=PlainHelpGroup, rich_markup_mode=None,
                                help="The classifiers that gankit evaluates samples with.")
    evaluator_app.command("train")(evaluator_train)
    evaluator_app.command("show")(evaluator_show)
    app.add_typer(evaluator_app, name="evaluator")


@user_errors
def evaluate(
    run: Annotated[Path, typer.Argument(metavar="RUN", help="A run folder or a checkpoint file.")],
    n: Annotated[int, typer.Option(
        metavar="N", rich_help_panel=COMMON,
        help="Generated images to score (and real images per set); compare FIDs only at equal "
             "n.")] = DEFAULT_N,
    as_json: Annotated[bool, typer.Option(
        "--json", rich_help_panel=COMMON, help="Print one JSON object.")] = False,
    seed: Annotated[int, typer.Option(
        metavar="N", rich_help_panel=COMMON, help="Seed of the fixed noise and the real subsets.")] = 0,
    data_root: DataRootOption = None,
    evaluator: Annotated[Optional[Path], typer.Option(
        metavar="FILE", rich_help_panel=SCORING,
        help="Evaluator weights (.pt) [default: the one gankit ships for the run's dataset].")] = None,
    device: Annotated[Device, typer.Option(
        metavar="auto|cpu|cuda|mps", rich_help_panel=COMMON,
        help="Where to run the networks.")] = Device.auto,
    parzen: Annotated[bool, typer.Option(
        "--parzen", rich_help_panel=SCORING,
        help="Also the Parzen-window log-likelihood of Goodfellow et al. 2014 (a weak metric: "
             "docs/metrics.md).")] = False,
    features: Annotated[str, typer.Option(
        metavar="evaluator|inception", rich_help_panel=SCORING,
        help="Whose features: gankit's classifier, or InceptionV3 as papers report (pip install "
             "'gankit[inception]').")] = "evaluator",
    inception_weights: InceptionWeightsOption = None,
    feature_precision: Annotated[Optional[str], typer.Option(
        metavar="auto|fp32|bf16", rich_help_panel=SCORING, show_default=False,
        help="With --features inception: its arithmetic; bf16 (auto: where the CPU or GPU runs it "
             "natively) is about 2x faster on such a CPU but its FIDs lie up to ~6% from fp32's "
             "(docs/benchmarks.md) [default: fp32].")] = None,
    cache: Annotated[bool, typer.Option(
        rich_help_panel=DATA, help="Reuse the real sets' features and floor from the data root's cache "
                                   "folder (also off with GANKIT_NO_EVAL_CACHE=1).")] = True,
    precision: Annotated[Precision, typer.Option(
        metavar="MODE", rich_help_panel=GENERATOR,
        help="Autocast of the generator while drawing the images (fp32, bf16, fp16 or auto); "
             "the evaluator's features stay fp32 (Inception's: --feature-precision).")] = Precision.fp32,
    ema: Annotated[bool, typer.Option(
        rich_help_panel=GENERATOR,
        help="Score the EMA generator when the run kept one (--no-ema: the raw weights).")] = True,
) -> None:
    """Score a trained run: FID, KID, IS, precision, recall.

    The scores are in the feature space of the evaluator gankit ships for the run's dataset, each
    beside its real-vs-real floor (docs/metrics.md).
    """
    from gankit.evaluate.reference import MIN_N

    if n < MIN_N:
        raise GankitError(f"--n must be at least {MIN_N}, got {n}.")
    if features not in ("evaluator", "inception"):
        raise GankitError(f"--features {features}: expected evaluator or inception.")
    if feature_precision not in (None, "auto", "fp32", "bf16"):
        raise GankitError(f"--feature-precision {feature_precision}: expected auto, fp32 or bf16.")
    from gankit.evaluate.score import evaluate_run, print_scores

    console = Console(stderr=as_json, highlight=False, soft_wrap=True)
    with one_line_warnings(console):  # e.g. a damaged cache file, rebuilt
        result = evaluate_run(run, n=n, seed=seed, host=command_host(), data_root=data_root,
                              download=not offline(), evaluator_path=evaluator,
                              device=device.value, console=console,
                              extras=("memorisation", "parzen") if parzen else ("memorisation",),
                              features=features, inception_weights=inception_weights,
                              cache=cache, precision=precision.value, ema=ema,
                              feature_precision=feature_precision)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
    else:
        print_scores(result, Console(highlight=False))


@user_errors
def compare(
    entries: Annotated[list[str], typer.Argument(
        metavar="VARIANT_OR_RUN",
        help="Variant names (trained now, under the same budget) and/or run folders (loaded).")],
    epochs: Annotated[Optional[int], typer.Option(
        metavar="N", rich_help_panel=COMMON,
        help="Epochs per variant [default: 5 unless --budget-seconds or --g-steps is given].")] = None,
    g_steps: Annotated[Optional[int], typer.Option(
        metavar="N", rich_help_panel=COMMON,
        help="Generator updates per variant and seed: the whole epochs nearest to N, from each "
             "variant's own updates per epoch (a 5-critic-step variant trains 5x the epochs). "
             "The report states each run's exact count.")] = None,
    budget_seconds: Annotated[Optional[float], typer.Option(
        metavar="S", rich_help_panel=COMMON,
        help="Wall-clock seconds per variant and seed: as many whole epochs as fit, judged "
             "from the variant's first epoch.")] = None,
    seeds: Annotated[int, typer.Option(
        metavar="K", rich_help_panel=COMMON, help="Train each variant with seeds 0..K-1.")] = 1,
    n: Annotated[int, typer.Option(
        metavar="N", rich_help_panel=COMMON, help="Images scored per run (and per real set).")] = DEFAULT_N,
    dataset: Annotated[Optional[str], typer.Option(
        metavar="NAME", rich_help_panel=DATA,
        help="Dataset to train on [default: the loaded runs' dataset, else mnist].")] = None,
    data_option: Annotated[Optional[list[str]], typer.Option(
        "--data-option", metavar="KEY=VALUE", rich_help_panel=DATA,
        help="An option of the dataset, for every run and the real images (repeatable; e.g. path=DIR "
             "for imagefolder) [default: the loaded runs'].")] = None,
    out: Annotated[Optional[Path], typer.Option(
        metavar="DIR", rich_help_panel=COMMON,
        help="Folder for the report and the trained runs [default: comparisons/NAMES-TIME].")] = None,
    data_root: DataRootOption = None,
    device: Annotated[Device, typer.Option(
        metavar="auto|cpu|cuda|mps", rich_help_panel=COMMON,
        help="Where to train and evaluate.")] = Device.auto,
    max_images: Annotated[Optional[int], typer.Option(
        metavar="N", rich_help_panel=DATA,
        help="Train on a seeded random subset of N images (quick trials).")] = None,
    evaluator: Annotated[Optional[Path], typer.Option(
        metavar="FILE", rich_help_panel=SCORING,
        help="Evaluator weights (.pt) [default: the one gankit ships for the dataset].")] = None,
    progress: Annotated[bool, typer.Option(
        rich_help_panel=OUTPUTS, help="Show training progress bars in a terminal.")] = True,
    cache: Annotated[bool, typer.Option(
        rich_help_panel=SCORING,
        help="Reuse the real sets' features and floor from the data root's cache folder.")] = True,
    jobs: Annotated[int, typer.Option(
        min=1, metavar="N", rich_help_panel=SPEED,
        help="Train N runs at a time, each in its own process (one GPU each, or a share of the CPU "
             "cores).")] = 1,
    ema: Annotated[bool, typer.Option(
        rich_help_panel=SCORING,
        help="Score each run's EMA generator when it kept one (--no-ema: the raw weights).")] = True,
) -> None:
    """Train or load variants and report them side by side.

    Variants named are trained now under the same data, seeds and budget; run folders are loaded.
    All are sampled from the same noise, scored, and written to a report with a side-by-side grid.
    """
    from gankit.compare import CompareOptions, run_comparison
    from gankit.train import Interrupted

    options = CompareOptions(
        epochs=epochs, g_steps=g_steps, budget_seconds=budget_seconds, seeds=seeds, n=n, dataset=dataset,
        out=out, data_root=data_root, download=not offline(),
        device=device.value, max_images=max_images, evaluator_path=evaluator, progress=progress,
        cache=cache, jobs=jobs, ema=ema, data_options=key_value_pairs(data_option, "--data-option"),
    )
    console = Console(highlight=False, soft_wrap=True)
    try:
        with one_line_warnings(console):
            run_comparison(entries, options, host=command_host(), console=console)
    except (Interrupted, KeyboardInterrupt) as stop:
        advice = stopped_comparison_line(stop)
        if advice is None:  # a stop outside training: the common one line (gankit.cli.common)
            raise
        console.print(advice)
        raise typer.Exit(EXIT_INTERRUPTED) from None


def stopped_comparison_line(stop: BaseException) -> str | None:
    """What a comparison stopped while training says: which runs kept their checkpoints and the
    command that continues it; None for a stop that happened anywhere else."""
    from rich.markup import escape

    from gankit.train import Interrupted

    if isinstance(stop, Interrupted):  # one process: the run in progress
        out = Path(stop.run_dir).parent.parent  # OUT/runs/RUN: gankit.compare.run's layout
        return (f"[yellow]Interrupted.[/] {stop.run_dir} keeps its checkpoint; continue the comparison "
                f"with {escape(continue_command(out))} (the runs that finished are kept, the "
                "interrupted one resumes from its checkpoint).")
    out = getattr(stop, "comparison_out", None)  # --jobs: gankit.compare.parallel attaches it
    if out is None:
        return None
    return (f"{interrupted_line(stop)} The runs in progress saved their checkpoints; continue the "
            f"comparison with {escape(continue_command(out))} (the runs that finished are kept, the "
            "others resume from their checkpoints).")


def continue_command(out: Path) -> str:
    """The command that continues a stopped comparison: the one typed, with ``--out OUT`` (without
    it a new default folder would start afresh); in words when this is no console-script call."""
    argv = sys.argv[1:]
    if Path(sys.argv[0]).name not in ("gankit", "__main__.py") or "compare" not in argv:
        return f"the same `gankit compare` command and --out {out}"
    if not any(arg == "--out" or arg.startswith("--out=") for arg in argv):
        argv = [*argv, "--out", str(out)]
    return f"`{shlex.join(['gankit', *argv])}`"


@user_errors
def evaluator_train(
    dataset: Annotated[str, typer.Option(
        metavar="NAME", help="A labelled dataset (see `gankit list`).")] = "mnist",
    out: Annotated[Optional[Path], typer.Option(
        metavar="DIR", help="Folder for DATASET.pt and DATASET.json [default: gankit's own weights "
                            "folder, replacing the shipped evaluator].")] = None,
    data_root: Annotated[Optional[Path], typer.Option(
        metavar="DIR", help="Folder with the dataset files; its full test split, if there, measures "
                            "the held-out accuracy.")] = None,
    epochs: Annotated[Optional[int], typer.Option(
        metavar="N", help="Passes over the training data [default: about 150,000 images, at least "
                          "5].")] = None,
    seed: Annotated[int, typer.Option(
        metavar="N", help="Seed for initialisation, order and augmentation.")] = 0,
    max_images: Annotated[Optional[int], typer.Option(
        metavar="N", help="Train on a seeded random subset of N images (quick trials).")] = None,
    data_option: Annotated[Optional[list[str]], typer.Option(
        "--data-option", metavar="KEY=VALUE",
        help="An option of the dataset (repeatable; e.g. path=DIR for imagefolder).")] = None,
) -> None:
    """Train the evaluator classifier for a dataset.

    Reproducibly, from a seed; its held-out accuracy is recorded in the weights' metadata.
    """
    from gankit.evaluate.evaluator import WEIGHTS_DIR
    from gankit.evaluate.train_evaluator import train_evaluator

    check_max_images(max_images)
    train_evaluator(dataset, host=command_host(), out_dir=out or WEIGHTS_DIR,
                    data_root=data_root, download=not offline(), epochs=epochs,
                    seed=seed, max_images=max_images, console=Console(highlight=False),
                    options=key_value_pairs(data_option, "--data-option"))


@user_errors
def evaluator_show(
    dataset: Annotated[str, typer.Option(
        metavar="NAME", help="Dataset whose evaluator to describe.")] = "mnist",
    evaluator: Annotated[Optional[Path], typer.Option(
        metavar="FILE", help="Evaluator weights (.pt).")] = None,
) -> None:
    """Print an evaluator's metadata as JSON.

    Its accuracy, the command that trained it, its data and its sha256.
    """
    from gankit.evaluate.evaluator import load_evaluator

    loaded = load_evaluator(dataset, evaluator)
    typer.echo(json.dumps({**loaded.meta, "sha256": loaded.sha256, "path": str(loaded.path)}, indent=2))
