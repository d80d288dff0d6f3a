"""The app factory and the core commands: ``train``, ``sample``, ``list``, ``plugins``.

Start-up stays torch-free: commands import the engine inside their bodies. Errors the user can fix
(:class:`gankit.GankitError`) print one line and exit 2; ``--debug`` or ``GANKIT_DEBUG=1`` shows
the traceback instead.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console

from gankit._version import __version__
from gankit.cli.common import (EXIT_INTERRUPTED, EXIT_SYSTEM, EXIT_USAGE, Device, PlainHelpGroup, Precision,
                               check_seed, fail, key_value_pairs, offline, one_line_warnings,
                               parse_checkpoint_every, system_error_line, user_errors)
from gankit.errors import GankitError
from gankit.host import PluginHost, get_host


def show_version(value: bool) -> None:
    if value:
        typer.echo(f"gankit {__version__}")
        raise typer.Exit()


def build_app(host: PluginHost | None = None) -> typer.Typer:
    """A fresh Typer app over ``host``'s registries (the process-wide host by default)."""
    app = typer.Typer(
        name="gankit", no_args_is_help=True, add_completion=False, cls=PlainHelpGroup, rich_markup_mode=None,
        help="Train, sample and compare GAN variants. Every variant is a plugin.",
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    get = (lambda: host) if host is not None else get_host

    @app.callback()
    def root(
        version: Annotated[bool, typer.Option("--version", callback=show_version, is_eager=True,
                                              help="Show the version and exit.")] = False,
        plugins_dir: Annotated[Optional[Path], typer.Option(
            help="Also load one-off plugins: every *.py file in this folder.")] = None,
        debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    ) -> None:
        if debug:
            os.environ["GANKIT_DEBUG"] = "1"
        if plugins_dir is not None:
            try:
                current = get()
                if plugins_dir.resolve() not in current.loaded_dirs:
                    current.load_plugins_dir(plugins_dir)
            except GankitError as error:
                fail(str(error), EXIT_USAGE)

    @app.command()
    @user_errors
    def train(
        variant: Annotated[str, typer.Argument(help="Variant to train (see `gankit list`).")],
        dataset: Annotated[Optional[str], typer.Option(
            help="Dataset name (see `gankit list`) [default: mnist; with --resume, the run's].")] = None,
        data_root: Annotated[Optional[Path], typer.Option(
            help="Folder with the dataset files [default: $GANKIT_DATA_ROOT or ~/.cache/gankit/data].")] = None,
        epochs: Annotated[Optional[int], typer.Option(help="Epochs in total [default: the variant's].")] = None,
        batch_size: Annotated[Optional[int], typer.Option(help="[default: the variant's]")] = None,
        lr: Annotated[Optional[float], typer.Option(help="Adam learning rate [default: the variant's].")] = None,
        loss: Annotated[Optional[str], typer.Option(help="Any registered loss [default: the variant's].")] = None,
        seed: Annotated[Optional[int], typer.Option(help="Seed for everything [default: 0].")] = None,
        device: Annotated[Device, typer.Option(help="Where to train.")] = Device.auto,
        out: Annotated[Optional[Path], typer.Option(
            help="Run folder [default: runs/VARIANT-DATASET-TIME].")] = None,
        resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out from its last checkpoint.")] = False,
        set_: Annotated[Optional[list[str]], typer.Option(
            "--set", help="Set a variant config field, KEY=VALUE (repeatable).")] = None,
        progress: Annotated[bool, typer.Option(help="Show a progress bar (else one line per epoch).")] = True,
        max_images: Annotated[Optional[int], typer.Option(
            help="Train on a seeded random subset of this many images (quick trials).")] = None,
        full: Annotated[bool, typer.Option(
            "--full", help="Require the full dataset: error instead of falling back to a bundled subset.")] = False,
        download: Annotated[bool, typer.Option(
            help="Try to download missing data (off when GANKIT_OFFLINE=1).")] = True,
        eval_every: Annotated[Optional[int], typer.Option(
            help="Score the generator every K epochs (FID, modes, ...) into metrics.jsonl; "
                 "keeps checkpoints/best.pt by FID.")] = None,
        eval_n: Annotated[int, typer.Option(help="Images per evaluation with --eval-every.")] = 2000,
        data_option: Annotated[Optional[list[str]], typer.Option(
            "--data-option", help="An option of the dataset, KEY=VALUE (repeatable; see `gankit list`).")] = None,
        callback: Annotated[Optional[list[str]], typer.Option(
            "--callback", help="Enable a plugin's training callback (repeatable; see `gankit list`).")] = None,
        precision: Annotated[Precision, typer.Option(help="Forward passes in fp32, bf16 or fp16 (CUDA) with fp32 weights; auto: fp32 until bf16's quality check has run (docs/benchmarks.md).")] = Precision.auto,
        compile: Annotated[bool, typer.Option("--compile", help="torch.compile the networks (slow to start; see docs/benchmarks.md).")] = False,
        memory_budget: Annotated[Optional[str], typer.Option(help="Stream the data from disk above this size (2GB; 0: always; default: half the free memory).")] = None,
        ema: Annotated[Optional[float], typer.Option(help="Average G's weights: decay per G step, e.g. 0.999; 0: off [default: the variant's].")] = None,
        augment: Annotated[Optional[str], typer.Option(help="Augment D's real and fake inputs: none, diffaug, or ada (at a probability tuned to D's overfitting) [default: the variant's].")] = None,
        r1: Annotated[Optional[float], typer.Option(help="R1 penalty weight on D's gradient at real images; 0: off [default: the variant's].")] = None,
        tensorboard: Annotated[bool, typer.Option("--tensorboard", help="Also log scalars and grids to RUN/tb (pip install 'gankit[tensorboard]').")] = False,
        devices: Annotated[int, typer.Option(min=1, help="Train on N processes of this machine (one per GPU, or gloo on CPU) through torchrun; see docs/distributed.md.")] = 1,
        sync_bn: Annotated[bool, typer.Option("--sync-bn", help="With several processes on CUDA: BatchNorm statistics over the global batch (SyncBatchNorm).")] = False,
        checkpoint_every: Annotated[str, typer.Option(help="Write the checkpoint every N epochs, or auto: as often as keeps its writing within 1% of the training time (the first and last epoch and any stop always write one).")] = "auto",
    ) -> None:
        """Train a GAN variant; writes samples, a loss plot, metrics and checkpoints to a run folder."""
        from gankit.config import parse_set_options
        from gankit.train import Interrupted, RunOptions, train as run_training
        if devices > 1 and "WORLD_SIZE" not in os.environ:  # not yet under torchrun: start it
            from gankit.train.distributed import launch
            raise typer.Exit(launch(devices, sys.argv[1:]))

        overrides: dict[str, Any] = parse_set_options(set_ or [])
        for key, value in (("epochs", epochs), ("batch_size", batch_size), ("lr", lr), ("loss", loss),
                           ("ema", ema), ("augment", augment), ("r1", r1)):
            if value is not None:
                overrides[key] = value
        check_seed(seed)
        if resume and dataset is not None and out is not None and (out / "config.json").is_file():
            from gankit.runs import read_run_config

            trained_on = read_run_config(out)["dataset"]["name"]
            if dataset != trained_on:
                raise GankitError(f"Cannot change --dataset when resuming: '{out}' trained on "
                                  f"'{trained_on}'. Drop --dataset, or start a new run with another --out.")
        options = RunOptions(
            dataset=dataset or "mnist", data_root=data_root, download=download and not offline(),
            require_full=full, seed=seed, device=device.value, out=out, resume=resume,
            progress=progress, max_images=max_images,
            data_options=key_value_pairs(data_option, "--data-option"), callbacks=list(callback or []),
            precision=precision.value, compile=compile, memory_budget=memory_budget, tensorboard=tensorboard, sync_bn=sync_bn,
            checkpoint_every=parse_checkpoint_every(checkpoint_every),
        )
        if max_images is not None and max_images < 1:
            raise GankitError(f"--max-images must be at least 1, got {max_images}.")
        if (eval_every is not None and eval_every < 1) or eval_n < 10:
            raise GankitError(f"--eval-every must be at least 1 and --eval-n at least 10; "
                              f"got {eval_every} and {eval_n}.")
        extra_callbacks = []
        if eval_every is not None:  # evaluation listens to the engine's events; the engine never imports it
            from gankit.evaluate.in_training import EvaluationCallback

            extra_callbacks.append(EvaluationCallback(eval_every, eval_n))
        console = Console(highlight=False, soft_wrap=True, quiet=os.environ.get("RANK", "0") != "0")  # torchrun: rank 0 speaks
        try:
            with one_line_warnings(console):
                result = run_training(variant, overrides, options, host=get(), console=console,
                                      callbacks=extra_callbacks)
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
        console.print(f"[green]Done:[/] {result.epochs_done} epochs in {result.run_dir}")

    @app.command()
    @user_errors
    def sample(
        run: Annotated[Path, typer.Argument(help="A run folder or a checkpoint file.")],
        n: Annotated[int, typer.Option(help="How many images.")] = 16,
        seed: Annotated[int, typer.Option(help="Seed for the noise.")] = 0,
        out: Annotated[Optional[Path], typer.Option(
            help=".png for a grid, .npy or .pt for a tensor (n, C, H, W) in [-1, 1] "
                 "[default: RUN/samples/sample-seedS.png].")] = None,
        labels: Annotated[Optional[str], typer.Option(
            help="Conditional variants: classes to draw, e.g. 7, 0-9 or 1,4,4 (cycled over --n).")] = None,
        code: Annotated[Optional[list[str]], typer.Option(
            "--code", help="Set a latent code the variant declares, NAME=VALUES: 3, 0-9 or 1,4 for "
                           "a categorical code, 0.5, -1,0,1 or LOW:HIGH:COUNT for a continuous one. "
                           "Several codes make a grid, the first varying along each row.")] = None,
        ema: Annotated[bool, typer.Option(help="Use the EMA generator when the run kept one.")] = True,
        force: Annotated[bool, typer.Option("--force", hidden=True,  # gankit <= 0.1 needed it: scripts pass it
                                            help="Deprecated: an existing samples file is replaced anyway.")] = False,
        precision: Annotated[Precision, typer.Option(
            help="Autocast of the generator's forward pass (bf16 or fp16 where the device runs it).")] = Precision.fp32,
    ) -> None:
        """Draw images from a trained run."""
        from gankit.sample import MAX_GRID, MAX_SAMPLES, check_out

        limit = MAX_GRID if out is None or out.suffix.lower() == ".png" else MAX_SAMPLES
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
            if out.suffix.lower() not in (".png", ".npy", ".pt"):
                raise GankitError(f"--out '{out}': unknown format '{out.suffix}'. Use .png, .npy or .pt.")
        from gankit.loading import load_run
        from gankit.sample import default_sample_path, draw_samples, parse_codes, parse_labels, save_samples

        with one_line_warnings(Console(stderr=True, highlight=False, soft_wrap=True)):
            loaded = load_run(run, host=get(), ema=ema)
        chosen = None
        if labels is not None:
            if not loaded.generator.num_classes:
                raise GankitError(f"Variant '{loaded.variant}' is unconditional; "
                                  "--labels needs a conditional variant.")
            chosen = parse_labels(labels, loaded.generator.num_classes)
        codes = parse_codes(list(code or []), loaded.generator)
        from gankit.train.precision import Precision as Autocast, resolve_precision

        where = next(loaded.generator.parameters()).device
        with Autocast(resolve_precision(precision.value, where), where, tf32=False).autocast():
            images, _ = draw_samples(loaded, n, seed, chosen, codes)
        images = images.float()
        if out is None:
            out = check_out(default_sample_path(run, seed), run)
        columns = None
        if codes:
            columns = len(next(iter(codes.values())))
        elif chosen and len(chosen) <= n:
            columns = len(chosen)
        save_samples(images, out, columns)
        typer.echo(f"Wrote {n} samples from {loaded.variant} to {out}")

    @app.command("list")
    @user_errors
    def list_(
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    ) -> None:
        """List variants, losses and datasets, and the plugin each came from."""
        current = get()

        def rows(registry: Any, describe: Any) -> list[dict[str, Any]]:
            # A name two plugins share is listed once per plugin, each as the name that reaches it.
            return [{"name": registry.shown_name(r), "qualified_name": r.qualified, "summary": r.spec.summary,
                     **describe(r.spec), "plugin": r.owner} for r in registry.registrations()]

        listing = {
            "variants": rows(current.variants, lambda s: {"conditional": s.conditional, "paper": s.paper}),
            "losses": rows(current.losses, lambda s: {}),
            "datasets": rows(current.datasets, lambda s: {
                "shape": list(s.image_shape) if s.image_shape else None, "classes": s.num_classes,
                "options": dict(s.options)}),
            "callbacks": rows(current.callbacks, lambda s: {}),
        }
        if as_json:
            typer.echo(json.dumps(listing, indent=2))
            return
        from rich.table import Table  # here: importing it cost every `gankit --help` ~8 ms

        console = Console(highlight=False)
        for kind, rows in listing.items():
            if not rows:
                continue
            table = Table(title=kind.capitalize(), title_justify="left", expand=False)
            for column in ("name", "summary", "plugin"):
                table.add_column(column, overflow="fold")
            for row in rows:
                name = row["name"] + (" (conditional)" if row.get("conditional") else "")
                options = "; ".join(f"--data-option {k}=...: {v}" for k, v in (row.get("options") or {}).items())
                table.add_row(name, row["summary"] + (f" [{options}]" if options else ""), row["plugin"])
            console.print(table)

    @app.command()
    def plugins() -> None:
        """Show every plugin found, with its state (loaded, failed, disabled, incompatible) and
        any mistakes found in it (a misspelt hook, a hook without @hookimpl), as JSON."""
        typer.echo(json.dumps(get().plugin_report(), indent=2))

    from gankit.cli.evaluation import add_commands as add_evaluation_commands
    from gankit.cli.scaffold import add_commands as add_scaffold_commands

    add_evaluation_commands(app, get)
    add_scaffold_commands(app)
    get().register_commands(app)
    return app


def _plugins_dir_from_argv(argv: list[str]) -> Path | None:
    # Plugin commands must exist before Typer parses the command line, so look ahead for the option.
    for index, arg in enumerate(argv):
        if arg == "--plugins-dir" and index + 1 < len(argv):
            return Path(argv[index + 1])
        if arg.startswith("--plugins-dir="):
            return Path(arg.split("=", 1)[1])
    return None


def main() -> None:
    """The console script."""
    try:
        host = get_host(plugins_dir=_plugins_dir_from_argv(sys.argv[1:]))
    except GankitError as error:
        Console(stderr=True, highlight=False).print(f"[bold red]Error:[/] {error}")
        sys.exit(EXIT_USAGE)
    except KeyboardInterrupt:  # Ctrl-C while plugins load: before any command could write
        Console(stderr=True, highlight=False).print(
            "[yellow]Interrupted[/] while loading plugins, before the command started; nothing was written.")
        sys.exit(EXIT_INTERRUPTED)
    build_app(host)(prog_name="gankit")
