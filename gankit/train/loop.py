"""The epoch loop: batches in a seeded order, progress, Ctrl-C, checkpoints and epoch records.

Each epoch's shuffle comes from a generator seeded by (seed, epoch), so a resumed run sees exactly
the batches an unbroken one would; a :class:`~gankit.train.batches.BatchSource` fetches them (one
tensor on the device by default). Logged values are read back ``refreshes_per_epoch`` times an
epoch, never per step; each such window's means is a line of ``steps.jsonl`` (the per-step loss
curves), written with the epoch's outputs. The checkpoint is written right after the last step of the epochs
``checkpoint_schedule`` picks (its RNG state is the resume point), and by a mid-epoch stop.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from typing import Any, Callable

import torch

from gankit import checkpoint
from gankit.checkpoint import capture_rng_state, restore_rng_state, save_checkpoint
from gankit.config import config_to_dict
from gankit.errors import CheckpointError, TrainingError
from gankit.progress import ProgressBar, format_values
from gankit.runs import (STEPS_FILE, append_metrics, checkpoint_path, drop_metrics_after, read_metrics,
                         versions)
from gankit.train.background import BackgroundWriter, detached_copy, spare_core
from gankit.train.batches import BatchSource
from gankit.train.checkpoint_schedule import CheckpointSchedule
from gankit.train.distributed import SINGLE, Distributed
from gankit.train.events import CallbackList, TrainingContext
from gankit.train.precision import Precision
from gankit.train.step import LossAccumulator, TrainStep

DIVERGED = 1e8  # |loss| beyond this stops a run as a NaN does


class Trainer:
    """A run's live state (networks, optimizers, data, counters); :meth:`fit` trains it."""

    def __init__(self, *, context: TrainingContext, step: TrainStep, callbacks: CallbackList,
                 data: BatchSource, seed: int, precision: Precision,
                 schedulers: tuple[Any, Any] = (None, None), plugin: dict[str, Any] | None = None,
                 refreshes_per_epoch: int = 20, distributed: Distributed = SINGLE,
                 checkpoints: CheckpointSchedule | None = None) -> None:
        """``step`` trains one batch (gankit.train.step); ``precision`` is the step's, whose
        gradient scalers checkpoints keep; ``plugin`` is the provenance checkpoints record."""
        self.context, self.step, self.callbacks, self.seed = context, step, callbacks, seed
        self.distributed = distributed  # rank 0 writes the run folder; see gankit.train.distributed
        self.data = data
        self.schedulers = schedulers
        self.plugin = plugin or {}
        self.refreshes_per_epoch, self.checkpoints = refreshes_per_epoch, checkpoints or CheckpointSchedule()
        self.precision = precision
        self.batch_size = context.config.batch_size
        self.batches_per_epoch = data.num_images // self.batch_size
        self.writer = BackgroundWriter(threaded=spare_core(context.device))
        context._background = self.writer.submit
        self.batch_in_epoch = 0  # batches done in the current, unfinished epoch
        self.resume_sums: dict[str, Any] = {}  # the epoch's sums so far, kept over a mid-epoch stop
        # The last finished epoch's record, kept in the checkpoint: a kill after the checkpoint but
        # before that epoch's outputs (grid, plot, metrics line) lets resume write them again.
        self.epoch_record: dict[str, Any] | None = None
        self.windows: list[dict[str, Any]] = []  # the current epoch's steps.jsonl lines so far
        self.epoch_windows: list[dict[str, Any]] = []  # the last finished epoch's, as epoch_record
        self._replay: dict[str, Any] | None = None
        context._state = self.state_dict

    # -- state ---------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        c = self.context
        state = {
            "variant": c.variant, "dataset": c.dataset, "config": config_to_dict(c.config),
            "seed": self.seed,
            "generator": c.generator.state_dict(), "discriminator": c.discriminator.state_dict(),
            "g_optimizer": c.g_optimizer.state_dict(), "d_optimizer": c.d_optimizer.state_dict(),
            "rng": capture_rng_state(), "epoch": c.epoch, "batch_in_epoch": self.batch_in_epoch,
            "step": c.step, "partial_epoch": dict(self.resume_sums), "versions": versions(),
            "plugin": self.plugin, "callbacks": self.callbacks.state_dict(),
            "precision": self.precision.name, "grad_scalers": self.precision.state_dict(),
            "epoch_record": dict(self.epoch_record) if self.epoch_record else None,
            "epoch_windows": list(self.epoch_windows),
        }
        for name, scheduler in zip(("g_scheduler", "d_scheduler"), self.schedulers):
            if scheduler is not None:
                state[name] = scheduler.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        c = self.context
        try:
            c.generator.load_state_dict(state["generator"])
            c.discriminator.load_state_dict(state["discriminator"])
            c.g_optimizer.load_state_dict(state["g_optimizer"])
            c.d_optimizer.load_state_dict(state["d_optimizer"])
            for name, scheduler in zip(("g_scheduler", "d_scheduler"), self.schedulers):
                if scheduler is not None and name in state:
                    scheduler.load_state_dict(state[name])
        except (RuntimeError, KeyError, ValueError) as error:
            first = str(error).strip().splitlines()[0]
            raise CheckpointError(f"The checkpoint does not fit variant '{c.variant}' "
                                  f"with this config ({first}).") from None
        restore_rng_state(state["rng"])
        c.epoch, self.batch_in_epoch, c.step = state["epoch"], state["batch_in_epoch"], state["step"]
        self.resume_sums = _sums_from_checkpoint(state.get("partial_epoch") or {})
        self.epoch_record = state.get("epoch_record")
        self.epoch_windows = list(state.get("epoch_windows") or [])  # gankit 0.1 kept none
        self._replay = self.epoch_record if self.batch_in_epoch == 0 else None
        self.callbacks.load_state_dict(state.get("callbacks") or {})
        self.precision.load_state_dict(state.get("grad_scalers") or {})

    def save(self, background: bool = False) -> None:
        """Write ``checkpoints/last.pt``; in the background (from a snapshot) between epochs. With
        several processes, rank 0 writes it: weights and RNG state are the same on every rank."""
        if not self.distributed.is_main:
            return
        path = checkpoint_path(self.context.run_dir)
        if background:
            state = self.state_dict()
            state = detached_copy(state) if self.writer.threaded else state
            self.writer.submit(lambda: save_checkpoint(state, path))
        else:
            self.writer.wait()  # an older background write must not land after this one
            save_checkpoint(self.state_dict(), path)
        self.callbacks.emit("checkpoint", self.context)

    # -- training ------------------------------------------------------------------------------

    def epoch_order(self, epoch: int) -> torch.Tensor:
        # Seeded by (seed, epoch) alone, so a resumed run shuffles exactly as an unbroken one.
        rng = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(self.data.num_images, generator=rng)

    def fit(self, stop_requested: Callable[[], bool] = lambda: False) -> bool:
        """Train up to ``config.epochs``; ``False`` if stopped early (a checkpoint was written)."""
        context = self.context
        self.callbacks.emit("run_start", context)
        finished = True
        try:
            if self._replay is not None and self.distributed.is_main:
                self._write_lost_outputs(self._replay)
            with ProgressBar(context.console if context.options.progress else None, context.variant) as bar:
                while context.epoch < context.config.epochs:
                    if not self._run_epoch(bar, lambda: stop_requested() or context.stop_requested):
                        self.save()
                        finished = False
                        break
                    self._end_epoch()
        finally:
            self.writer.close()  # every output is on disk before train() returns or raises
        self.callbacks.emit("run_end", context)
        return finished

    def _run_epoch(self, bar: ProgressBar, stop_requested: Callable[[], bool]) -> bool:
        context = self.context
        order = self.epoch_order(context.epoch)
        sums = LossAccumulator.resume(context.device, self.resume_sums, self.distributed)
        self.windows = list(self.resume_sums.get("windows", []))
        context._log = sums.add
        refresh_every = max(1, self.batches_per_epoch // max(1, self.refreshes_per_epoch))
        bar.start_epoch(context.epoch + 1, context.config.epochs, self.batches_per_epoch, self.batch_in_epoch)
        context.generator.train()
        context.discriminator.train()
        started = last_refresh = time.perf_counter()
        size = self.batch_size
        # Several processes: this rank's slice of every global batch (the same order on every rank).
        order, local_size = self.distributed.shard(order, size), size // self.distributed.world
        for real, labels in self.data.batches(order, local_size, self.batch_in_epoch):
            self.batch_in_epoch += 1
            self.step(real, labels, self.batch_in_epoch)
            if self.batch_in_epoch % refresh_every == 0 or self.batch_in_epoch == self.batches_per_epoch:
                now = time.perf_counter()
                window = sums.read_window()
                self._check_finite(window)
                self._record_window(window)
                bar.update(self.batch_in_epoch, window, refresh_every * size / max(now - last_refresh, 1e-9))
                last_refresh = now
                if self.distributed.active and self.distributed.any(stop_requested(), context.device):
                    return self._stopped(sums, started)  # every rank agrees, at the same step
            if not self.distributed.active and stop_requested():
                return self._stopped(sums, started)
        self._epoch_means = sums.means()
        self._epoch_seconds = time.perf_counter() - started + self.resume_sums.get("seconds", 0.0)
        self.resume_sums = {}
        return True

    def _stopped(self, sums: LossAccumulator, started: float) -> bool:
        self.resume_sums = {**sums.carry(), "windows": list(self.windows),
                            "seconds": time.perf_counter() - started + self.resume_sums.get("seconds", 0.0)}
        return False

    def _record_window(self, window: dict[str, float]) -> None:
        """One ``steps.jsonl`` line: the means since the last read, ending at this batch."""
        if window:
            self.windows.append({"epoch": self.context.epoch + 1, "batch": self.batch_in_epoch,
                                 "batches": self.batches_per_epoch, "step": self.context.step,
                                 **{key: round(value, 6) for key, value in window.items()}})

    def _end_epoch(self) -> None:
        context = self.context
        means = self._epoch_means
        self._check_finite(means)
        context.epoch += 1
        self.batch_in_epoch = 0
        for scheduler in self.schedulers:
            if scheduler is not None:
                scheduler.step()
        images = self.batches_per_epoch * self.batch_size
        seconds = self._epoch_seconds
        self.epoch_windows, self.windows = self.windows, []
        self.epoch_record = {
            "event": "epoch", "epoch": context.epoch, "step": context.step,
            "seconds": round(seconds, 4), "images_per_s": round(images / max(seconds, 1e-9), 1),
            **{key: round(value, 6) for key, value in means.items()},
        }
        if self.checkpoints.due(context.epoch, seconds, last=context.epoch >= context.config.epochs):
            self.checkpoints.timed(lambda: self.save(background=True))  # the RNG state is the resume point
        if self.distributed.is_main:
            self._emit_epoch_outputs()
        # The other ranks wait here while rank 0's callbacks run (--eval-every can take a while).
        self.distributed.barrier()

    def _write_lost_outputs(self, record: dict[str, Any]) -> None:
        """Resuming at an epoch's end whose outputs never reached the disk (a kill between the
        checkpoint and them): write them now, as the unbroken run did, from the same weights."""
        if any(line.get("event") == "epoch" and line.get("epoch") == record["epoch"]
               for line in read_metrics(self.context.run_dir)):
            return
        if self.context.console is not None:
            self.context.console.print(f"[yellow]notice:[/] epoch {record['epoch']}'s outputs were "
                                       "lost by an interruption; writing them again.")
        # The epoch's steps.jsonl lines may have landed before the kill: they are written again.
        drop_metrics_after(self.context.run_dir, record["epoch"] - 1, STEPS_FILE)
        rng = capture_rng_state()  # outputs must not move the resumed run's random numbers
        try:
            self._emit_epoch_outputs()
        finally:
            restore_rng_state(rng)

    def _emit_epoch_outputs(self) -> None:
        """The epoch_end event, then the epoch's metrics line (after the callbacks' own writes)."""
        context, record, windows = self.context, self.epoch_record, self.epoch_windows
        context.record = dict(record)
        # Before the callbacks: the loss plot, drawn on the writer after them, reads these lines.
        self.writer.submit(lambda: append_metrics(context.run_dir, windows, STEPS_FILE))
        try:
            self.callbacks.emit("epoch_end", context)
            lines = [context.record, *context._lines]  # after the checkpoint, in the writer's order
            self.writer.submit(lambda: append_metrics(context.run_dir, lines))
            if context.console is not None:  # a lasting line per epoch, above the live bar
                values = {key: value for key, value in record.items()
                          if key not in ("event", "epoch", "step", "seconds", "images_per_s")}
                context.console.print(f"epoch {context.epoch}/{context.config.epochs}  "
                                      f"{format_values(values)}  {record['seconds']:.2f}s  "
                                      f"{record['images_per_s']:.0f} img/s")
        finally:
            context.record = None
            context._lines = []

    def _check_finite(self, values: dict[str, float]) -> None:
        # Non-finite, or a loss that exploded (finite, but no healthy GAN loss gets near it).
        bad = {key: value for key, value in values.items() if not math.isfinite(value)
               or ("loss" in key and abs(value) > DIVERGED)}
        if bad:
            found = ", ".join(f"{key}={value:.4g}" for key, value in bad.items())
            c = self.context
            what = "non-finite loss" if any(not math.isfinite(v) for v in bad.values()) \
                else f"the loss diverged (beyond {DIVERGED:.0e})"
            kept = checkpoint_path(c.run_dir)
            where = (f"The last good checkpoint is kept in {kept}." if kept.is_file() else
                     "No checkpoint was written yet; the same command starts the run afresh.")
            raise TrainingError(
                f"Training stopped: {what} at epoch {c.epoch + 1}, step {c.step} ({found}). "
                f"{where} Try a lower --lr or another --loss."
            )


class StopOnSigint:
    """Turn the first Ctrl-C (or SIGTERM, what SLURM and Kubernetes send) into a request to stop
    after the current step. A second one stops at once, except during a checkpoint write: that
    finishes first, then ``KeyboardInterrupt`` is raised. Under torchrun (``escalate=False``) a
    repeat only repeats the request: Ctrl-C reaches the agent too, which forwards it to every rank."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, escalate: bool = True) -> None:
        self.requested, self.escalate = False, escalate
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> "StopOnSigint":
        if threading.current_thread() is threading.main_thread():
            for signum in self.SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested and self.escalate:  # a second interrupt: the user really wants out now
            if checkpoint.saving():
                checkpoint.interrupt_after_save()
                return
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc: Any) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous = {}


def _sums_from_checkpoint(saved: dict[str, Any]) -> dict[str, Any]:
    """The saved sums of an unfinished epoch; gankit 0.1 kept four fixed sums and two step counts."""
    if not saved or "totals" in saved:
        return dict(saved)
    d_steps, g_steps = int(saved["d_steps"]), int(saved["g_steps"])
    return {"totals": {key: saved[key] for key in ("d_loss", "d_real", "d_fake", "g_loss")},
            "counts": {"d_loss": d_steps, "d_real": d_steps, "d_fake": d_steps, "g_loss": g_steps},
            "seconds": saved.get("seconds", 0.0)}
