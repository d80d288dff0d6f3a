"""The ``sample`` command: its options checked, the run loaded, the images drawn (under the chosen
autocast) from its generator and saved as a grid or a tensor.

The drawing and saving themselves are :mod:`gankit.sample`'s; torch is imported inside the body.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console

from gankit.cli.common import Precision, one_line_warnings, user_errors
from gankit.cli.context import command_host
from gankit.cli.options import COMMON, CONDITIONS, GENERATOR, check_seed

WALKS = "Walks and traversals"
from gankit.errors import GankitError


def add_commands(app: typer.Typer) -> None:
    """Add ``sample`` to ``app``."""
    app.command()(sample)


@user_errors
def sample(
    run: Annotated[list[Path], typer.Argument(
        metavar="RUN", help="A run folder, a checkpoint file or a folder `gankit export` wrote; several "
                            "(a glob such as runs/vanilla-mnist-*/): the newest.", show_default=False)],
    n: Annotated[int, typer.Option(metavar="N", rich_help_panel=COMMON,
                                   help="How many images (with --walk or --traverse: rows).")] = 16,
    seed: Annotated[int, typer.Option(metavar="N", rich_help_panel=COMMON, help="Seed for the noise.")] = 0,
    out: Annotated[Optional[Path], typer.Option(
        metavar="FILE", rich_help_panel=COMMON,
        help=".png for a grid, .npy or .pt for a tensor (n, C, H, W) in [-1, 1]; a walk or traversal: "
             ".png or .gif [default: RUN/samples/sample-seedS.png, walk-seedS, "
             "traverse-CODE-seedS].")] = None,
    labels: Annotated[Optional[str], typer.Option(
        metavar="SPEC", rich_help_panel=CONDITIONS,
        help="Conditional variants: classes to draw, e.g. 7, 0-9 or 1,4,4 (cycled over --n).")] = None,
    code: Annotated[Optional[list[str]], typer.Option(
        "--code", metavar="NAME=VALUES", rich_help_panel=CONDITIONS,
        help="Set a latent code the variant declares: 3, 0-9 or 1,4 for a categorical code, 0.5, "
             "-1,0,1 or LOW:HIGH:COUNT for a continuous one. Several codes make a grid, the first "
             "varying along each row.")] = None,
    walk: Annotated[Optional[int], typer.Option(
        metavar="STEPS", rich_help_panel=WALKS,
        help="Latent walks: --n rows, each between seeded endpoints in STEPS images a leg (slerp for "
             "Gaussian z, linear for uniform); the row's labels and codes stay fixed.")] = None,
    legs: Annotated[int, typer.Option(
        metavar="K", rich_help_panel=WALKS, help="With --walk: legs per walk (K + 1 endpoints).")] = 1,
    traverse: Annotated[Optional[str], typer.Option(
        metavar="CODE[=VALUES]", rich_help_panel=WALKS,
        help="Vary one code along each of --n rows, the rest of z fixed: label (every class), a "
             "categorical code (every value) or a continuous one (-2:2:9), or the VALUES given.")] = None,
    ema: Annotated[bool, typer.Option(
        rich_help_panel=GENERATOR, help="Use the EMA generator when the run kept one.")] = True,
    force: Annotated[bool, typer.Option(  # gankit <= 0.1 needed it: scripts pass it
        "--force", hidden=True, help="Deprecated: an existing samples file is replaced anyway.")] = False,
    precision: Annotated[Precision, typer.Option(
        metavar="MODE", rich_help_panel=GENERATOR,
        help="Autocast of the generator's forward pass: fp32, bf16 or fp16 (where the device runs "
             "it), or auto.")] = Precision.fp32,
) -> None:
    """Draw images, latent walks or traversals from a run or an export."""
    run = newest_run(run)
    check_options(run, n, seed, out, force, walk is not None or traverse is not None)
    from gankit.sample import check_out, default_sample_path, parse_codes, parse_labels, save_samples

    loaded = load(run, ema)
    chosen = None
    if labels is not None:
        if not loaded.generator.num_classes:
            raise GankitError(f"Variant '{loaded.variant}' is unconditional; "
                              "--labels needs a conditional variant.")
        chosen = parse_labels(labels, loaded.generator.num_classes)
    codes = parse_codes(list(code or []), loaded.generator)
    if walk is not None or traverse is not None or legs != 1:  # --legs alone: draw_walk says why not
        request = WalkRequest(n, seed, walk, legs, traverse, chosen, codes)
        return draw_walk(loaded, run, out, request, precision)
    images = draw(loaded, n, seed, chosen, codes, precision)
    if out is None:
        out = check_out(default_sample_path(run, seed), run)
    columns = None
    if codes:
        columns = len(next(iter(codes.values())))
    elif chosen and len(chosen) <= n:
        columns = len(chosen)
    save_samples(images, out, columns)
    typer.echo(f"Wrote {n} samples from {loaded.variant} to {out}")


def load(run: Path, ema: bool) -> Any:
    """An export folder through ``gankit.load_generator`` (safetensors: nothing is unpickled), a
    run folder or checkpoint file through ``load_run``."""
    from gankit.exported import is_export, load_generator
    from gankit.loading import load_run

    with one_line_warnings(Console(stderr=True, highlight=False, soft_wrap=True)):
        if is_export(run):
            return load_generator(run, host=command_host())
        return load_run(run, host=command_host(), ema=ema)


@dataclass
class WalkRequest:
    """What ``--walk`` / ``--traverse`` asked for: rows, seed, steps a leg and legs (a walk) or the
    code (a traversal), and the rows' ``--labels`` and ``--code`` values."""

    rows: int
    seed: int
    steps: int | None
    legs: int
    traverse: str | None
    labels: list[int] | None
    codes: dict[str, list[float]]


def draw_walk(loaded: Any, run: Path, out: Path | None, request: WalkRequest, precision: Precision) -> None:
    """A walk or traversal (:mod:`gankit.walks`) under ``precision``'s autocast, saved as a grid or GIF."""
    from gankit.sample import check_out, default_sample_path
    from gankit.walks import check_size, latent_walk, save_walk, traverse

    if request.steps is not None and request.traverse is not None:
        raise GankitError("--walk and --traverse draw different grids; pass one of them.")
    if request.legs != 1 and request.steps is None:
        raise GankitError("--legs sets a walk's legs; pass --walk STEPS with it.")
    with _autocast(loaded, precision):
        if request.traverse is None:
            check_size(request.rows, request.legs * (request.steps - 1) + 1)
            walk = latent_walk(loaded, request.rows, request.steps, seed=request.seed, legs=request.legs,
                               labels=request.labels, codes=request.codes)
            kind = "walk"
        else:
            walk = traverse(loaded, request.traverse, request.rows, seed=request.seed, labels=request.labels,
                            codes=request.codes)
            kind = f"traverse-{request.traverse.partition('=')[0]}"
    if out is None:
        out = check_out(default_sample_path(run, request.seed, kind), run)
    frames = save_walk(walk, out)
    rows, columns = walk.shape
    animated = f", {frames} frames" if out.suffix.lower() == ".gif" else ""
    typer.echo(f"Wrote {rows} x {columns} images ({kind}{animated}) from {loaded.variant} to {out}")


def newest_run(runs: list[Path]) -> Path:
    """The one run to sample from ``runs``: itself when there is one; else the newest, said in a
    notice on stderr.

    Sampling the newest rather than refusing: the README's ``gankit sample runs/vanilla-mnist-*/``
    matches every vanilla run once there are two, and whoever typed it wants samples of the run they
    just trained, which is the one written last; the notice names it, so a wrong pick is seen.
    """
    unique = list(dict.fromkeys(runs))
    if len(unique) == 1:
        return unique[0]
    chosen = max(unique, key=_written_at)
    typer.echo(f"gankit: the pattern matched {len(unique)} run folders; sampling the newest, {chosen} "
               "(pass one run folder to pick another).", err=True)
    return chosen


def _written_at(run: Path) -> tuple[bool, float]:
    """When ``run`` (a folder or a checkpoint file) was last written: its newest ``config.json`` or
    ``checkpoints/last.pt``; anything that is no run sorts first."""
    files = [run] if run.is_file() else [run / "config.json", run / "checkpoints" / "last.pt"]
    times = [path.stat().st_mtime for path in files if path.is_file()]
    return (bool(times), max(times, default=0.0))


def check_options(run: Path, n: int, seed: int, out: Path | None, force: bool, walks: bool = False) -> None:
    """``--n`` within what the output holds, ``--seed`` in range, ``--out`` a known format that
    may be written; the deprecated ``--force`` is said so on stderr. ``walks``: the output is a walk
    or traversal, .png or .gif (:func:`gankit.walks.save_walk` says so)."""
    from gankit.sample import MAX_GRID, MAX_SAMPLES, check_out

    limit = MAX_GRID if out is None or out.suffix.lower() in (".png", ".gif") else MAX_SAMPLES
    if n < 1:
        raise GankitError(f"--n must be at least 1, got {n}.")
    if n > limit:
        raise GankitError(f"--n {n} is too many: a .png grid holds at most {MAX_GRID} images, a "
                          f".npy or .pt tensor {MAX_SAMPLES}; call sample again with other --seed values.")
    check_seed(seed)
    if force:
        typer.echo("gankit: --force is no longer needed (sample replaces an existing samples file) "
                   "and will be removed in gankit 0.3; drop it.", err=True)
    if out is not None:
        check_out(out, run)
        if not walks and out.suffix.lower() not in (".png", ".npy", ".pt"):
            raise GankitError(f"--out '{out}': unknown format '{out.suffix}'. Use .png, .npy or .pt.")


def draw(loaded: Any, n: int, seed: int, labels: list[int] | None, codes: dict[str, Any],
         precision: Precision) -> Any:
    """``n`` images from ``loaded``'s generator under ``precision``'s autocast, as float32."""
    from gankit.noise import draw_samples

    with _autocast(loaded, precision):
        images, _ = draw_samples(loaded, n, seed, labels, codes)
    return images.float()


def _autocast(loaded: Any, precision: Precision) -> Any:
    """The autocast context of ``precision`` on the generator's device."""
    from gankit.train.precision import Precision as Autocast, resolve_precision

    where = next(loaded.generator.parameters()).device
    return Autocast(resolve_precision(precision.value, where), where, tf32=False).autocast()
