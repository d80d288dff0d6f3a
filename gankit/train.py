"""The training engine: one alternating loop for every variant.

Each batch: one D step on real data and fresh fakes; every ``n_critic``-th batch also one G step.
With ``n_critic == 1`` the G step reuses the D step's fakes (one z per iteration, as the tutorial
does). Losses are accumulated on the device and read only at refresh points, so the loop does not
wait on the device every step. The dataset lives as one tensor on the device, and the epoch's
shuffle comes from a generator seeded by (seed, epoch), so a resumed run sees the same batches.
"""

from __future__ import annotations

import dataclasses
import math
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from gankit import runs
from gankit.checkpoint import capture_rng_state, load_checkpoint, restore_rng_state, save_checkpoint
from gankit.config import build_config, config_to_dict
from gankit.errors import CheckpointError, ConfigError, DataError, TrainingError
from gankit.losses import discriminator_step_loss, generator_step_loss
from gankit.host import PluginHost, get_host
from gankit.registry import DataRequest, DatasetSpec, VariantSpec

UNCONDITIONAL_GRID = 16  # the tutorial's 4x4 grid
CONDITIONAL_COLUMNS = 10  # one row per class, this many samples each


@dataclass
class RunOptions:
    """Everything about a run that is not a variant hyper-parameter."""

    dataset: str = "mnist"
    data_root: Path | None = None
    download: bool = True
    require_full: bool = False
    seed: int | None = None  # None: 0 for a new run, the saved seed when resuming
    device: str = "auto"
    out: Path | None = None
    resume: bool = False
    progress: bool = True
    max_images: int | None = None  # train on a seeded random subset of this size
    refreshes_per_epoch: int = 20  # how often losses are read back (and the bar updated)
    eval_every: int | None = None  # score the generator every K epochs (gankit.evaluate.in_training)
    eval_n: int = 2000  # images per evaluation during training


@dataclass
class TrainResult:
    run_dir: Path
    epochs_done: int
    interrupted: bool = False
    epoch_metrics: list[dict[str, Any]] = field(default_factory=list)


class Interrupted(Exception):
    """Ctrl-C during training; a checkpoint was written."""

    def __init__(self, run_dir: Path) -> None:
        super().__init__(f"Interrupted; checkpoint written to {runs.checkpoint_path(run_dir)}")
        self.run_dir = run_dir


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name not in ("cpu", "cuda", "mps") and not name.startswith("cuda:"):
        raise ConfigError(f"Unknown device '{name}'. Use auto, cpu, cuda, cuda:N or mps.")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {name} was asked for, but torch sees no CUDA GPU. Use --device cpu or auto.")
    if name == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("--device mps was asked for, but MPS is not available here. Use --device cpu or auto.")
    return torch.device(name)


def default_data_root() -> Path:
    from gankit.data import default_data_root as data_root

    return data_root()


def load_images(dataset: DatasetSpec, options: RunOptions, split: str = "train") -> Any:
    request = DataRequest(
        root=Path(options.data_root) if options.data_root else default_data_root(),
        split=split, download=options.download, require_full=options.require_full,
    )
    return dataset.load(request)


def fixed_sample_inputs(generator, seed: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The same noise (and labels) for every epoch's grid: progress is visible, not noise."""
    rng = torch.Generator().manual_seed(seed)
    if generator.num_classes:
        labels = torch.arange(generator.num_classes).repeat_interleave(CONDITIONAL_COLUMNS)
        z = generator.sample_latent(labels.numel(), generator=rng)
        return z.to(device), labels.to(device)
    return generator.sample_latent(UNCONDITIONAL_GRID, generator=rng).to(device), None


def grid_columns(count: int, conditional: bool) -> int:
    return CONDITIONAL_COLUMNS if conditional else max(1, round(math.sqrt(count)))


def save_grid(images: torch.Tensor, path: Path, columns: int) -> None:
    from torchvision.utils import save_image

    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(images.float().cpu(), path, nrow=columns, normalize=True, value_range=(-1, 1), padding=2)


class Trainer:
    """Holds a run's networks, optimizers, data and counters; :meth:`fit` trains it."""

    def __init__(self, variant: VariantSpec, config: Any, dataset: DatasetSpec, data: Any,
                 options: RunOptions, run_dir: Path, seed: int, host: PluginHost,
                 console: Any = None) -> None:
        self.variant, self.config, self.dataset, self.options = variant, config, dataset, options
        self.run_dir, self.seed, self.console = Path(run_dir), seed, console
        self.device = resolve_device(options.device)
        self.conditional = variant.conditional

        torch.manual_seed(seed)
        data_info = dataset.info_for(tuple(data.images.shape))
        networks = variant.build_networks(config, data_info, host.losses.get(config.loss))
        self.generator = networks.generator.to(self.device)
        self.discriminator = networks.discriminator.to(self.device)
        self.loss = host.losses.get(config.loss).build(config)
        betas = (config.beta1, config.beta2)
        self.g_optimizer = torch.optim.Adam(self.generator.parameters(), lr=config.generator_lr, betas=betas)
        self.d_optimizer = torch.optim.Adam(self.discriminator.parameters(), lr=config.discriminator_lr, betas=betas)

        # Scale once to [-1, 1] and keep the whole set on the device: no per-step loader cost.
        self.images = data.images.to(self.device).float().div_(127.5).sub_(1.0)
        self.labels = data.labels.to(self.device) if data.labels is not None else None
        if self.conditional and self.labels is None:
            raise DataError(f"Dataset '{dataset.name}' has no labels; the conditional variant "
                            f"'{variant.name}' needs them. Pick a labelled dataset.")
        self.batches_per_epoch = self.images.shape[0] // config.batch_size
        if self.batches_per_epoch == 0:
            raise ConfigError(f"batch_size {config.batch_size} is larger than the dataset "
                              f"({self.images.shape[0]} images); lower --batch-size.")
        self.fixed_z, self.fixed_labels = fixed_sample_inputs(self.generator, seed, self.device)
        self.epoch = 0  # epochs completed
        self.batch_in_epoch = 0  # batches done in the current, unfinished epoch
        self.step = 0  # G steps taken
        self.partial: dict[str, float] = {}  # sums carried over a mid-epoch interruption
        self.plugin = plugin_record(host, variant.name)  # which distribution built this variant

    # -- state ---------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {
            "variant": self.variant.name,
            "dataset": self.dataset.name,
            "config": config_to_dict(self.config),
            "seed": self.seed,
            "generator": self.generator.state_dict(),
            "discriminator": self.discriminator.state_dict(),
            "g_optimizer": self.g_optimizer.state_dict(),
            "d_optimizer": self.d_optimizer.state_dict(),
            "rng": capture_rng_state(),
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "step": self.step,
            "partial_epoch": dict(self.partial),
            "versions": runs.versions(),
            "plugin": self.plugin,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        try:
            self.generator.load_state_dict(state["generator"])
            self.discriminator.load_state_dict(state["discriminator"])
            self.g_optimizer.load_state_dict(state["g_optimizer"])
            self.d_optimizer.load_state_dict(state["d_optimizer"])
        except (RuntimeError, KeyError, ValueError) as error:
            first = str(error).strip().splitlines()[0]
            raise CheckpointError(f"The checkpoint does not fit variant '{self.variant.name}' "
                                  f"with this config ({first}).") from None
        restore_rng_state(state["rng"])
        self.epoch, self.batch_in_epoch, self.step = state["epoch"], state["batch_in_epoch"], state["step"]
        self.partial = dict(state.get("partial_epoch") or {})

    def save(self) -> None:
        save_checkpoint(self.state_dict(), runs.checkpoint_path(self.run_dir))

    # -- training ------------------------------------------------------------------------------

    def epoch_order(self, epoch: int) -> torch.Tensor:
        # Seeded by (seed, epoch) alone, so a resumed run shuffles exactly as an unbroken one.
        rng = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(self.images.shape[0], generator=rng).to(self.device)

    def fit(self, stop_requested: Callable[[], bool] = lambda: False,
            on_epoch: Callable[[dict[str, Any]], None] | None = None) -> TrainResult:
        result = TrainResult(self.run_dir, self.epoch)
        with self._progress() as progress:
            while self.epoch < self.config.epochs:
                finished = self._run_epoch(progress, stop_requested)
                if not finished:
                    self.save()
                    result.interrupted = True
                    break
                record = self._end_epoch()
                result.epoch_metrics.append(record)
                if on_epoch:
                    on_epoch(record)
        result.epochs_done = self.epoch
        return result

    def _run_epoch(self, progress: "_Progress", stop_requested: Callable[[], bool]) -> bool:
        config, generator, discriminator, loss = self.config, self.generator, self.discriminator, self.loss
        batch_size, n_critic = config.batch_size, config.n_critic
        order = self.epoch_order(self.epoch)
        sums = _Sums.start(self.device, self.partial)
        refresh_every = max(1, self.batches_per_epoch // max(1, self.options.refreshes_per_epoch))
        progress.start_epoch(self.epoch + 1, self.config.epochs, self.batches_per_epoch, self.batch_in_epoch)
        generator.train()
        discriminator.train()
        started = time.perf_counter()
        last_refresh = started
        while self.batch_in_epoch < self.batches_per_epoch:
            index = order[self.batch_in_epoch * batch_size:(self.batch_in_epoch + 1) * batch_size]
            real = self.images[index]
            labels = self.labels[index] if self.conditional else None

            # D step: real batch vs. fresh fakes (detached: no gradient flows into G here).
            z = generator.sample_latent(batch_size, device=self.device)
            fake = generator(z, labels)
            d_out = discriminator_step_loss(loss, discriminator, real, fake.detach(), labels, latent=z)
            self.d_optimizer.zero_grad(set_to_none=True)
            d_out.loss.backward()
            self.d_optimizer.step()
            sums.add_d(d_out)

            # G step every n_critic batches; D's weights need no gradient in it.
            self.batch_in_epoch += 1
            if self.batch_in_epoch % n_critic == 0:
                if n_critic > 1:
                    z = generator.sample_latent(batch_size, device=self.device)
                    fake = generator(z, labels)
                discriminator.requires_grad_(False)
                g_loss = generator_step_loss(loss, discriminator, fake, labels, real=real, latent=z)
                self.g_optimizer.zero_grad(set_to_none=True)
                g_loss.backward()
                self.g_optimizer.step()
                discriminator.requires_grad_(True)
                sums.add_g(g_loss)
                self.step += 1

            if self.batch_in_epoch % refresh_every == 0 or self.batch_in_epoch == self.batches_per_epoch:
                now = time.perf_counter()
                window = sums.read_window()  # the only host sync: a few per epoch
                self._check_finite(window)
                images_per_s = refresh_every * batch_size / max(now - last_refresh, 1e-9)
                progress.update(self.batch_in_epoch, window, images_per_s)
                last_refresh = now
            if stop_requested():
                self.partial = sums.carry(time.perf_counter() - started)
                return False
        seconds = time.perf_counter() - started + self.partial.get("seconds", 0.0)
        self.partial = {}
        self._epoch_sums = sums.totals()
        self._epoch_seconds = seconds
        return True

    def _end_epoch(self) -> dict[str, Any]:
        totals = self._epoch_sums
        self._check_finite(totals)
        self.epoch += 1
        self.batch_in_epoch = 0
        images = self.batches_per_epoch * self.config.batch_size
        record = {
            "event": "epoch", "epoch": self.epoch, "step": self.step,
            "seconds": round(self._epoch_seconds, 4),
            "images_per_s": round(images / max(self._epoch_seconds, 1e-9), 1),
            **{key: round(value, 6) for key, value in totals.items()},
        }
        self.save()  # checkpoint right after the epoch's steps: the RNG state is the resume point
        runs.append_metrics(self.run_dir, [record])
        self._write_epoch_outputs()
        if self.console is not None:  # a lasting line per epoch, above the live bar
            self.console.print(
                f"epoch {self.epoch}/{self.config.epochs}  d_loss {record['d_loss']:.4f}  "
                f"g_loss {record['g_loss']:.4f}  D(x) {record['d_real']:.3f}  D(G(z)) {record['d_fake']:.3f}  "
                f"{record['seconds']:.2f}s  {record['images_per_s']:.0f} img/s"
            )
        return record

    def _write_epoch_outputs(self) -> None:
        self.generator.eval()
        with torch.no_grad():
            images = self.generator(self.fixed_z, self.fixed_labels)
        self.generator.train()
        save_grid(images, runs.sample_grid_path(self.run_dir, self.epoch),
                  grid_columns(images.shape[0], self.conditional))
        from gankit.plots import plot_losses

        plot_losses(runs.read_metrics(self.run_dir), self.run_dir / runs.LOSS_PLOT_FILE,
                    title=f"{self.variant.name} on {self.dataset.name}")

    def _check_finite(self, values: dict[str, float]) -> None:
        bad = {key: value for key, value in values.items() if not math.isfinite(value)}
        if bad:
            found = ", ".join(f"{key}={value}" for key, value in bad.items())
            raise TrainingError(
                f"Training stopped: non-finite loss at epoch {self.epoch + 1}, step {self.step} ({found}). "
                f"The last good checkpoint is kept in {runs.checkpoint_path(self.run_dir)}. "
                "Try a lower --lr or another --loss."
            )

    def _progress(self) -> "_Progress":
        return _Progress(self.console if self.options.progress else None, self.variant.name)


class _Sums:
    """Running sums of the logged quantities, kept on the device until read."""

    KEYS = ("d_loss", "g_loss", "d_real", "d_fake")

    def __init__(self, device: torch.device) -> None:
        self.total = torch.zeros(4, device=device, dtype=torch.float64)  # sums over the epoch
        self.window = torch.zeros(4, device=device, dtype=torch.float64)  # since the last read
        self.counts = [0, 0]  # D steps, G steps (host-side ints: no sync)
        self.window_counts = [0, 0]
        self.carried = {"seconds": 0.0}

    @classmethod
    def start(cls, device: torch.device, partial: dict[str, float]) -> "_Sums":
        sums = cls(device)
        if partial:
            sums.total += torch.tensor([partial[key] for key in cls.KEYS], dtype=torch.float64, device=device)
            sums.counts = [int(partial["d_steps"]), int(partial["g_steps"])]
        return sums

    def add_d(self, out: Any) -> None:
        with torch.no_grad():
            self.window[0] += out.loss.detach()
            self.window[2] += torch.sigmoid(out.real_logits.detach().float()).mean()
            self.window[3] += torch.sigmoid(out.fake_logits.detach().float()).mean()
        self.window_counts[0] += 1

    def add_g(self, loss: torch.Tensor) -> None:
        with torch.no_grad():
            self.window[1] += loss.detach()
        self.window_counts[1] += 1

    def read_window(self) -> dict[str, float]:
        values = self.window.tolist()
        d_steps, g_steps = self.window_counts
        self.total += self.window
        self.counts = [self.counts[0] + d_steps, self.counts[1] + g_steps]
        self.window.zero_()
        self.window_counts = [0, 0]
        return _means(values, d_steps, g_steps)

    def totals(self) -> dict[str, float]:
        return _means(self.total.tolist(), *self.counts)

    def carry(self, seconds: float) -> dict[str, float]:
        self.read_window()
        return {**dict(zip(self.KEYS, self.total.tolist())), "d_steps": self.counts[0],
                "g_steps": self.counts[1], "seconds": seconds}


def _means(values: list[float], d_steps: int, g_steps: int) -> dict[str, float]:
    d, g = max(d_steps, 1), max(g_steps, 1)
    return {"d_loss": values[0] / d, "g_loss": values[1] / g, "d_real": values[2] / d, "d_fake": values[3] / d}


class _Progress:
    """A Rich progress bar with live losses and images/s; silent when ``console`` is None."""

    def __init__(self, console: Any, name: str) -> None:
        self.console, self.name = console, name
        self.bar: Any = None
        self.task: Any = None

    def __enter__(self) -> "_Progress":
        if self.console is not None:
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                       TimeElapsedColumn, TimeRemainingColumn)

            self.bar = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[stats]}"),
                console=self.console, transient=False,
            )
            self.bar.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)

    def start_epoch(self, epoch: int, epochs: int, total: int, done: int) -> None:
        if self.bar is None:
            return
        if self.task is not None:
            self.bar.update(self.task, visible=epoch == epochs)
            self.bar.remove_task(self.task)
        self.task = self.bar.add_task(f"{self.name} epoch {epoch}/{epochs}", total=total,
                                      completed=done, stats="")

    def update(self, completed: int, window: dict[str, float], images_per_s: float) -> None:
        if self.bar is None:
            return
        stats = (f"D {window['d_loss']:.3f}  G {window['g_loss']:.3f}  "
                 f"D(x) {window['d_real']:.2f}  D(G(z)) {window['d_fake']:.2f}  {images_per_s:,.0f} img/s")
        self.bar.update(self.task, completed=completed, stats=stats)


class _StopOnSigint:
    """Turn the first Ctrl-C into a request to stop after the current step."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def __enter__(self) -> "_StopOnSigint":
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:  # a second Ctrl-C: the user really wants out now
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc: Any) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def train(variant_name: str, overrides: dict[str, Any] | None = None,
          options: RunOptions | None = None, *, host: PluginHost | None = None,
          console: Any = None) -> TrainResult:
    """Train ``variant_name`` (a new run, or ``options.resume`` an existing one).

    :param overrides: config values to change, typed or as strings (``--set``).
    :raises Interrupted: after Ctrl-C, once the checkpoint is written.
    """
    host = host or get_host()
    options = options or RunOptions()
    overrides = dict(overrides or {})
    variant = host.variants.get(variant_name)
    run_dir = Path(options.out) if options.out else runs.default_run_dir(variant.name, options.dataset)

    saved: dict[str, Any] | None = None
    if options.resume:
        runs.claim_run_dir(run_dir, resume=True)
        saved = runs.read_run_config(run_dir)
        _check_resume_compatible(saved, variant, overrides, options)
        options.dataset = saved["dataset"]["name"]
        if options.max_images is None:
            options.max_images = saved["dataset"].get("max_images")
        config = build_config(variant.config_class, overrides, base=saved["config"])
        seed = saved["seed"]
    else:
        config = build_config(variant.config_class, overrides)
        seed = 0 if options.seed is None else options.seed
    host.losses.get(config.loss)  # fail on an unknown loss before touching the disk
    dataset = host.datasets.get(options.dataset)
    if variant.supports is not None and (reason := variant.supports(dataset.info)):
        raise DataError(f"Variant '{variant.name}' cannot train on '{dataset.name}': {reason}")
    data = load_images(dataset, options)
    if options.max_images is not None and options.max_images < data.images.shape[0]:
        keep = torch.randperm(data.images.shape[0], generator=torch.Generator().manual_seed(seed))
        keep = keep[:options.max_images]
        data = dataclasses.replace(data, images=data.images[keep],
                                   labels=data.labels[keep] if data.labels is not None else None)
    if saved is not None and saved["dataset"]["num_images"] != data.images.shape[0]:
        raise CheckpointError(
            f"Cannot resume '{run_dir}': it trained on {saved['dataset']['num_images']} images "
            f"({saved['dataset']['source']}), but {data.images.shape[0]} were found now ({data.source})."
        )
    if not options.resume:
        runs.claim_run_dir(run_dir, resume=False)
    if console is not None:
        console.print(f"[bold]data:[/] {data.source}")
        if data.notice:
            console.print(f"[yellow]notice:[/] {data.notice}")

    trainer = Trainer(variant, config, dataset, data, options, run_dir, seed, host, console)
    if saved is not None:
        trainer.load_state_dict(load_checkpoint(runs.checkpoint_path(run_dir), map_location=trainer.device))
    _write_config(trainer, data, host)
    on_epoch = None
    if options.eval_every:
        from gankit.evaluate.in_training import EpochEvaluator

        on_epoch = EpochEvaluator(trainer, options.eval_every, options.eval_n)
    with _StopOnSigint() as stop:
        result = trainer.fit(stop_requested=lambda: stop.requested, on_epoch=on_epoch)
    if result.interrupted:
        raise Interrupted(run_dir)
    return result


def _check_resume_compatible(saved: dict[str, Any], spec: VariantSpec, overrides: dict[str, Any],
                             options: RunOptions) -> None:
    variant = spec.name
    if saved["variant"] != variant:
        raise CheckpointError(f"Run was trained with variant '{saved['variant']}', not '{variant}'. "
                              f"Use: gankit train {saved['variant']} --out ... --resume")
    # Compare parsed values, so `--set lr=2e-4` against a saved 0.0002 is no change.
    original = build_config(spec.config_class, base=saved["config"])
    resumed = build_config(spec.config_class, overrides, base=saved["config"])
    changed = [key for key in overrides if key != "epochs" and getattr(resumed, key) != getattr(original, key)]
    if changed:
        raise ConfigError(f"Cannot change {', '.join(changed)} when resuming (only --epochs may change); "
                          "start a new run with another --out instead.")
    if options.seed is not None and options.seed != saved["seed"]:
        raise ConfigError(f"Cannot change --seed when resuming (the run uses seed {saved['seed']}).")


def plugin_record(host: PluginHost, variant: str) -> dict[str, Any]:
    owner = host.variants.owner(variant)
    plugin = host.plugins.get(owner)
    return {"name": owner, "distribution": plugin.distribution if plugin else None,
            "version": plugin.version if plugin else None}


def _write_config(trainer: Trainer, data: Any, host: PluginHost) -> None:
    runs.write_json_atomic(trainer.run_dir / runs.CONFIG_FILE, {
        "variant": trainer.variant.name,
        "config": config_to_dict(trainer.config),
        "dataset": {"name": trainer.dataset.name, "source": data.source, "is_full": data.is_full,
                    "num_images": int(data.images.shape[0]),
                    "max_images": trainer.options.max_images},
        "seed": trainer.seed,
        "device": str(trainer.device),
        "plugin": trainer.plugin,
        "versions": runs.versions(),
    })
