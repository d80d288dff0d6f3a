"""A training run from a variant name: config, data, run folder, networks, callbacks, then the loop.

``train()`` is what ``gankit train`` calls. It checks everything it can before touching the disk
(variant, loss, dataset, config, resume compatibility), records in ``config.json`` all that is
needed to rebuild the run, and attaches the callbacks: the sample grid and the loss plot, the
plugins' callbacks named in ``RunOptions.callbacks``, and any passed in by the caller (the CLI's
``--eval-every`` evaluator is one).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from gankit._io import write_json_atomic
from gankit.checkpoint import load_checkpoint
from gankit.config import build_config, config_to_dict
from gankit.data.clusters import clustered
from gankit.device import place_network, resolve_device
from gankit.errors import CheckpointError, ConfigError, DataError
from gankit.host import PluginHost, get_host
from gankit.registry import DataRequest, LossSpec, VariantSpec, split_name
from gankit.runs import (CONFIG_FILE, STEPS_FILE, check_checkpoint_matches, checkpoint_path,
                         claim_run_dir, default_run_dir, drop_metrics_after, holding_locks, read_run_config,
                         recorded_names, versions)
from gankit.train import distributed as dist
from gankit.train import loop
from gankit.train.augment import adaptive_augment
from gankit.train.checkpoint_schedule import CheckpointSchedule
from gankit.train.batches import batch_source, parse_memory_budget
from gankit.train.ema import GeneratorEMA
from gankit.train.events import Callback, CallbackList, TrainingContext
from gankit.train.optim import build_optimizers
from gankit.train.outputs import LossPlot, SampleGrid
from gankit.train.precision import Precision, resolve_precision, resumed_precision
from gankit.train.step import TrainStep
from gankit.train.wrapping import wrap_networks


@dataclass
class RunOptions:
    """Everything about a run that is not a variant hyper-parameter."""

    dataset: str = "mnist"
    data_root: Path | None = None  # None: $GANKIT_DATA_ROOT or the per-user cache
    download: bool = True
    require_full: bool = False
    data_options: dict[str, str] = field(default_factory=dict)  # --data-option KEY=VALUE
    seed: int | None = None  # None: 0 for a new run, the saved seed when resuming
    device: str = "auto"
    out: Path | None = None
    resume: bool = False
    progress: bool = True
    max_images: int | None = None  # train on a seeded random subset of this size
    refreshes_per_epoch: int = 20  # how often logged values are read back (and the bar updated)
    callbacks: list[str] = field(default_factory=list)  # registered callbacks to enable (--callback)
    precision: str = "auto"  # auto, fp32, bf16 or fp16 (gankit.train.precision)
    compile: bool = False  # torch.compile the networks' forward passes
    tensorboard: bool = False  # also write scalars and grids to RUN/tb (gankit.train.tensorboard)
    memory_budget: str | None = None  # above it, batches stream from disk (gankit.train.streaming)
    sync_bn: bool = False  # under torchrun on CUDA: BatchNorm statistics over the global batch
    checkpoint_every: int | None = None  # write last.pt every N epochs; None: within a time budget


@dataclass
class TrainResult:
    run_dir: Path
    epochs_done: int
    interrupted: bool = False
    epoch_metrics: list[dict[str, Any]] = field(default_factory=list)


class Interrupted(Exception):
    """Training stopped early (Ctrl-C or a callback's ``request_stop``); a checkpoint was written."""

    def __init__(self, run_dir: Path) -> None:
        super().__init__(f"Interrupted; checkpoint written to {checkpoint_path(run_dir)}")
        self.run_dir = run_dir


class _EpochRecords(Callback):
    name = "epoch_records"

    def __init__(self, result: TrainResult) -> None:
        self.result = result

    def on_epoch_end(self, context: TrainingContext) -> None:
        self.result.epoch_metrics.append(context.record)  # the same dict: later keys included


def train(variant_name: str, overrides: dict[str, Any] | None = None,
          options: RunOptions | None = None, *, host: PluginHost | None = None,
          console: Any = None, callbacks: list[Callback] | None = None) -> TrainResult:
    """Train ``variant_name`` (a new run, or ``options.resume`` an existing one).

    The run folder is locked (``RUN/.lock``) from its claim to the end: a second writer is refused.

    :param overrides: config values to change, typed or as strings (``--set``).
    :param callbacks: extra :class:`gankit.Callback` objects for this run.
    :raises Interrupted: after Ctrl-C or ``request_stop``, once the checkpoint is written.
    """
    options = options or RunOptions()
    # Under torchrun: join the process group; rank 0 alone claims, writes and prints.
    with dist.joined(options.device) as (distributed, options.device), holding_locks():
        return _train(variant_name, overrides, options, host=host, callbacks=callbacks,
                      console=console if distributed.is_main else None, distributed=distributed)


@dataclass
class _Plan:
    """What a run is made of, settled before the disk is touched."""

    variant: VariantSpec
    config: Any
    seed: int
    loss: LossSpec
    dataset: Any  # DatasetSpec
    callbacks: list[Any]  # CallbackSpec
    run_dir: Path
    saved: dict[str, Any] | None  # a resumed run's config.json


def _train(variant_name: str, overrides: dict[str, Any] | None, options: RunOptions, *,
           host: PluginHost | None, console: Any, callbacks: list[Callback] | None,
           distributed: dist.Distributed) -> TrainResult:
    host = host or get_host()
    plan = _plan_run(variant_name, overrides, options, host, distributed)
    data, described = _load_data(plan, options)
    run_dir = plan.run_dir
    if not options.resume and distributed.is_main:  # a default name taken this second gets a suffix
        run_dir = claim_run_dir(run_dir, resume=False, unique=options.out is None)
    run_dir = distributed.broadcast(run_dir)  # rank 0's claim names the folder for every rank
    if console is not None:
        console.print(f"[bold]data:[/] {described}")
        if data.notice:
            console.print(f"[yellow]notice:[/] {data.notice}")

    result = TrainResult(run_dir, 0)
    listeners = [*(spec.build(plan.config) for spec in plan.callbacks), *(callbacks or []),
                 _EpochRecords(result)]
    trainer = build_trainer(plan.variant, plan.config, plan.dataset, data, options, run_dir, plan.seed, host,
                            console, listeners, distributed=distributed, loss=plan.loss)
    if plan.saved is not None:
        _restore(trainer, plan.saved, run_dir, distributed.is_main)
    if distributed.is_main:  # the folder and its files are rank 0's
        write_json_atomic(run_dir / CONFIG_FILE, _run_record(plan, data, options, trainer, host, distributed))
    with loop.StopOnSigint(escalate=not distributed.active) as stop:
        finished = trainer.fit(stop_requested=lambda: stop.requested)
    result.epochs_done = trainer.context.epoch
    if not finished:
        result.interrupted = True
        raise Interrupted(run_dir)
    return result


def _plan_run(variant_name: str, overrides: dict[str, Any] | None, options: RunOptions, host: PluginHost,
              distributed: dist.Distributed) -> _Plan:
    """The variant, config, seed, loss, dataset and callbacks of a new run, or of the run in
    ``options.out`` when resuming (as recorded: its qualified names, seed and data options)."""
    run_dir = Path(options.out) if options.out else None
    saved: dict[str, Any] | None = None
    pins: dict[str, Any] = {}
    strict = False
    if options.resume:
        run_dir = run_dir or default_run_dir(split_name(variant_name)[1], split_name(options.dataset)[1])
        if distributed.is_main:
            claim_run_dir(run_dir, resume=True)
        saved = read_run_config(run_dir)
        pins, strict = recorded_names(saved)  # what it was made with, whatever was installed since
    variant = host.variants.get(variant_name, pinned=pins.get("variant"), strict=strict)
    run_dir = run_dir or default_run_dir(variant.name, split_name(options.dataset)[1])
    if saved is not None:
        _check_resume_compatible(saved, variant, dict(overrides or {}), options)
        made_with, now = pins.get("variant"), host.variants.registration_of(variant).qualified
        if strict and made_with and made_with != now:
            raise CheckpointError(f"Run was trained with variant '{made_with}', not '{now}'. "
                                  f"Use: gankit train {made_with} --out {run_dir} --resume")
        _take_recorded_options(saved, options)
    config = build_config(variant.config_class, overrides, base=saved["config"] if saved else None)
    # Test hooks (tests/test_docs_commands.py runs the docs' commands as written, in seconds): cap every
    # run at GANKIT_EPOCHS_CAP epochs, GANKIT_MAX_IMAGES_CAP images (recorded, as --max-images). Unset: no-op.
    if cap := int(os.environ.get("GANKIT_EPOCHS_CAP") or 0):
        config.epochs = min(config.epochs, cap)
    if cap := int(os.environ.get("GANKIT_MAX_IMAGES_CAP") or 0):
        options.max_images = min(options.max_images or cap, cap)
    seed = saved["seed"] if saved else (0 if options.seed is None else options.seed)
    loss = host.losses.get(config.loss, pinned=pins.get("loss"), strict=strict)
    distributed.check_batch(config.batch_size)
    if options.tensorboard:  # a missing package is one line before the disk is touched
        from gankit.train.tensorboard import summary_writer_class
        summary_writer_class()
    plugin_callbacks = [host.callbacks.get(name, pinned=_pin_of(pins.get("callbacks"), name), strict=strict)
                        for name in options.callbacks]
    dataset = host.datasets.get(options.dataset, pinned=pins.get("dataset"), strict=strict)
    unknown = sorted(set(options.data_options) - set(dataset.options))
    if unknown:
        valid = ", ".join(dataset.options) or "none"
        raise ConfigError(f"Dataset '{dataset.name}' has no option '{unknown[0]}' (its options: {valid}).")
    parse_memory_budget(options.memory_budget)  # a bad --memory-budget fails before the disk is touched
    if dataset.image_shape is not None:
        _check_supported(variant, dataset.info)
    return _Plan(variant, config, seed, loss, dataset, plugin_callbacks, run_dir, saved)


def _take_recorded_options(saved: dict[str, Any], options: RunOptions) -> None:
    """A resumed run keeps its dataset, subset, data options, callbacks and precision."""
    options.dataset = saved["dataset"]["name"]
    if options.max_images is None:
        options.max_images = saved["dataset"].get("max_images")
    options.data_options = options.data_options or saved["dataset"].get("options") or {}
    options.callbacks = options.callbacks or saved.get("callbacks") or []
    options.precision = resumed_precision(saved, options.precision)


def _load_data(plan: _Plan, options: RunOptions) -> tuple[Any, str]:
    """The training images (the seeded subset under ``max_images``), checked against the plan, and
    what they are in words: their source, or how many were drawn from it (``data.source`` stays the
    source, as ``config.json`` records it)."""
    dataset, variant, config = plan.dataset, plan.variant, plan.config
    data = dataset.load(DataRequest(
        **({"root": Path(options.data_root)} if options.data_root else {}), split="train",
        download=options.download, require_full=options.require_full, options=dict(options.data_options)))
    info = dataset.info_for(tuple(data.images.shape), data.num_classes)
    if dataset.image_shape is not None and tuple(dataset.image_shape) != info.image_shape:
        raise DataError(f"Dataset '{dataset.name}' declares images of shape {tuple(dataset.image_shape)}, "
                        f"but its loader returned {info.image_shape}; fix the DatasetSpec or the loader.")
    _check_supported(variant, info)
    if variant.conditional and data.labels is None:
        raise DataError(f"Dataset '{dataset.name}' has no labels; the conditional variant "
                        f"'{variant.name}' needs them. Pick a labelled dataset.")
    described = data.source
    if options.max_images is not None and options.max_images < len(data):
        data = data.subset(options.max_images, plan.seed)
        article = "the " if data.source[:1].islower() else ""  # "the bundled ...", not "the /data/..."
        described = f"{len(data):,} images drawn (seeded) from {article}{data.source}"
    if len(data) < config.batch_size:
        raise ConfigError(f"batch_size {config.batch_size} is larger than the dataset "
                          f"({len(data)} images); lower --batch-size.")
    saved = plan.saved
    if saved is not None and saved["dataset"]["num_images"] != len(data):
        raise CheckpointError(
            f"Cannot resume '{plan.run_dir}': it trained on {saved['dataset']['num_images']} images "
            f"({saved['dataset']['source']}), but {len(data)} were found now ({data.source}).")
    return data, described


def _restore(trainer: loop.Trainer, saved: dict[str, Any], run_dir: Path, main: bool) -> None:
    """A resumed run's checkpoint into ``trainer`` (a start that never saved has none); the epochs
    past it (cut off by a kill) lose their metrics lines, to be trained again."""
    if checkpoint_path(run_dir).is_file():
        state = load_checkpoint(checkpoint_path(run_dir), map_location=trainer.context.device)
        check_checkpoint_matches(state, saved, run_dir)
        trainer.load_state_dict(state)
    if main:
        drop_metrics_after(run_dir, trainer.context.epoch)
        drop_metrics_after(run_dir, trainer.context.epoch, STEPS_FILE)


def _run_record(plan: _Plan, data: Any, options: RunOptions, trainer: loop.Trainer, host: PluginHost,
                distributed: dist.Distributed) -> dict[str, Any]:
    """``config.json``: everything needed to rebuild the run."""
    info = trainer.context.data_info
    return {
        "variant": plan.variant.name, "config": config_to_dict(plan.config),
        "dataset": {"name": plan.dataset.name, "source": data.source, "is_full": data.is_full,
                    "num_images": len(data), "max_images": options.max_images,
                    "image_shape": list(info.image_shape),
                    "num_classes": info.num_classes, "options": dict(options.data_options)},
        "seed": plan.seed, "device": str(trainer.context.device), "plugin": trainer.plugin,
        "loss_plugin": host.losses.registration_of(plan.loss).owner, "callbacks": list(options.callbacks),
        "qualified_names": {  # what --resume, sample and load_run rebuild, whatever is installed later
            "variant": host.variants.registration_of(plan.variant).qualified,
            "loss": host.losses.registration_of(plan.loss).qualified,
            "dataset": host.datasets.registration_of(plan.dataset).qualified,
            "callbacks": [host.callbacks.registration_of(spec).qualified for spec in plan.callbacks]},
        "precision": trainer.precision.name, "compile": options.compile, "versions": versions(),
        "distributed": distributed.record(plan.config.batch_size),
    }


def build_trainer(variant: VariantSpec, config: Any, dataset: Any, data: Any, options: RunOptions,
                  run_dir: Path, seed: int, host: PluginHost, console: Any = None,
                  callbacks: list[Callback] | None = None, networks: Any = None,
                  distributed: dist.Distributed = dist.SINGLE, loss: LossSpec | None = None) -> loop.Trainer:
    """The engine for one run on loaded ``data``, its networks built (or ``networks`` given) with
    ``seed``; the sample grid and loss plot come first among the callbacks. With several processes,
    callbacks run on rank 0 only, unless they set ``all_ranks = True``. ``loss``: the spec
    ``config.loss`` names, when the caller resolved it already (a resumed run's recorded one)."""
    device = resolve_device(options.device)
    torch.manual_seed(seed)
    data, shares = clustered(config, data, seed)  # labels from k-means clusters, if config asks
    info = dataset.info_for(tuple(data.images.shape), data.num_classes, shares)
    loss_spec = loss or host.losses.get(config.loss)
    networks = networks or variant.build_networks(config, info, loss_spec)
    if options.sync_bn:
        dist.convert_sync_batchnorm(networks, distributed, device)
    generator = place_network(networks.generator, device)
    discriminator = place_network(networks.discriminator, device)
    optimizers = build_optimizers(variant, config, networks)
    context = TrainingContext(
        generator=generator, discriminator=discriminator, g_optimizer=optimizers.generator,
        d_optimizer=optimizers.discriminator, config=config, run_dir=Path(run_dir), device=device,
        variant=variant.name, dataset=dataset.name, data_info=info, dataset_spec=dataset,
        options=options, console=console)
    ema = [GeneratorEMA(config.ema)] if getattr(config, "ema", 0.0) else []  # --ema: before the grid
    grid = SampleGrid(seed, *ema)
    adaptive = adaptive_augment(config)  # --augment ada's p (logged before TensorBoard reads the record)
    extra: list[Callback] = [*adaptive]
    if options.tensorboard:
        from gankit.train.tensorboard import TensorBoardLog
        extra.append(TensorBoardLog(grid))
    listeners = CallbackList([c for c in [*ema, grid, LossPlot(), *(callbacks or []), *extra]
                              if distributed.is_main or getattr(c, "all_ranks", False)])
    batches = batch_source(data, device, labelled=variant.conditional or shares is not None,
                           budget=options.memory_budget, console=console)
    precision = Precision(resolve_precision(options.precision, device), device)
    step = TrainStep(
        context=context, loss=loss_spec.build(config), callbacks=listeners, precision=precision,
        networks=wrap_networks(context, compile=options.compile, distributed=distributed,
                               adaptive=next(iter(adaptive), None)),
        batches_per_epoch=batches.num_images // config.batch_size, distributed=distributed)
    return loop.Trainer(
        context=context, step=step, callbacks=listeners, data=batches, seed=seed, precision=precision,
        schedulers=(optimizers.generator_scheduler, optimizers.discriminator_scheduler),
        plugin=provenance(host, variant), refreshes_per_epoch=options.refreshes_per_epoch,
        distributed=distributed, checkpoints=CheckpointSchedule(options.checkpoint_every))


def _pin_of(recorded: Any, name: str) -> str | None:
    """The recorded qualified name among ``recorded`` (a list) that ``name`` asks for, if any."""
    bare = split_name(name)[1]
    return next((pin for pin in recorded or [] if isinstance(pin, str) and split_name(pin)[1] == bare), None)


def _check_supported(variant: VariantSpec, info: Any) -> None:
    if variant.supports is not None and (reason := variant.supports(info)):
        raise DataError(f"Variant '{variant.name}' cannot train on '{info.name}': {reason}")


def _check_resume_compatible(saved: dict[str, Any], spec: VariantSpec, overrides: dict[str, Any],
                             options: RunOptions) -> None:
    if split_name(saved["variant"])[1] != spec.name:
        raise CheckpointError(f"Run was trained with variant '{saved['variant']}', not '{spec.name}'. "
                              f"Use: gankit train {saved['variant']} --out ... --resume")
    # Compare parsed values, so `--set lr=2e-4` against a saved 0.0002 is no change.
    original = build_config(spec.config_class, base=saved["config"])
    resumed = build_config(spec.config_class, overrides, base=saved["config"])
    changed = [key for key in overrides
               if key != "epochs" and getattr(resumed, key) != getattr(original, key)]
    if changed:
        raise ConfigError(f"Cannot change {', '.join(changed)} when resuming (only --epochs may change); "
                          "start a new run with another --out instead.")
    _check_max_images_kept(saved["dataset"], options.max_images)
    if options.seed is not None and options.seed != saved["seed"]:
        raise ConfigError(f"Cannot change --seed when resuming (the run uses seed {saved['seed']}).")
    if resumed.epochs < original.epochs:
        raise ConfigError(f"Cannot lower --epochs to {resumed.epochs} when resuming (the run is set to "
                          f"{original.epochs}); --epochs may only grow. The checkpoints stay as they are.")


def _check_max_images_kept(saved_data: dict[str, Any], max_images: int | None) -> None:
    """``--max-images`` on ``--resume``: the number the run trained with (or, for a run on all its
    images, one that draws all of them), else refused."""
    recorded, trained_on = saved_data.get("max_images"), saved_data["num_images"]
    if max_images is None or max_images == recorded or (recorded is None and max_images >= trained_on):
        return
    was = f"--max-images {recorded}" if recorded is not None else "all of them"
    raise ConfigError(f"Cannot change --max-images when resuming (the run trained on {trained_on:,} images, "
                      f"{was}); drop --max-images, or start a new run with another --out.")


def provenance(host: PluginHost, variant: VariantSpec | str) -> dict[str, Any]:
    """Which plugin (distribution, version) built ``variant`` (a spec, or a name as a user types
    it): recorded in config and checkpoints."""
    owner = host.variants.owner(variant) if isinstance(variant, str) else \
        host.variants.registration_of(variant).owner
    plugin = host.plugins.get(owner)
    return {"name": owner, "distribution": plugin.distribution if plugin else None,
            "version": plugin.version if plugin else None}
