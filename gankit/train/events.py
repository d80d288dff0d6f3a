"""Training events: what the engine tells callbacks, and when.

The loop emits six events, in this order for every run::

    run_start
      (per batch)  discriminator_step  [generator_step  every n_critic-th batch]
      (per epoch)  checkpoint  epoch_end
    run_end

A :class:`Callback` overrides the methods of the events it needs; each gets the run's
:class:`TrainingContext`. The per-epoch sample grid, the loss plot and ``--eval-every`` are
callbacks on these events, exactly as a plugin's own are (``gankit_register_callbacks``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, NamedTuple

import torch

from gankit.errors import ConfigError

EVENTS = ("run_start", "discriminator_step", "generator_step", "checkpoint", "epoch_end", "run_end")


class Batch(NamedTuple):
    """The current step's tensors. ``fake`` is what the step being reported trained on; ``latent``
    is the noise it was made from; ``labels`` is ``None`` for an unconditional variant;
    ``real_logits`` is D's logits on the real batch at ``discriminator_step`` (``None`` at
    ``generator_step``), as D scored it (augmented, under ``--augment``)."""

    real: torch.Tensor
    fake: torch.Tensor
    latent: torch.Tensor
    labels: torch.Tensor | None
    real_logits: torch.Tensor | None = None


@dataclass
class TrainingContext:
    """What a callback sees. Networks and optimizers are the live ones: a callback that changes
    them changes training (EMA copies weights out; it must not write them back).

    :ivar dataset: the dataset's name; ``dataset_spec`` is its :class:`gankit.DatasetSpec` and
        ``data_info`` the :class:`gankit.DataInfo` of the loaded images.
    :ivar epoch: epochs completed (during an epoch, the one in progress is ``epoch + 1``).
    :ivar step: G steps taken so far.
    :ivar batch: the current :class:`Batch` (``None`` outside the step events).
    :ivar record: at ``epoch_end``, the epoch's line for ``metrics.jsonl`` (means of every logged
        value, seconds, images/s); a callback may add keys to it.
    :ivar averaged_generator: under ``--ema``, the averaged copy of G (set at run start by the EMA
        callback), else ``None``; :meth:`sampling_generator` picks the one to draw outputs from.
    """

    generator: Any
    discriminator: Any
    g_optimizer: Any
    d_optimizer: Any
    config: Any
    run_dir: Path
    device: torch.device
    variant: str
    dataset: str
    data_info: Any
    dataset_spec: Any
    options: Any
    console: Any = None
    epoch: int = 0
    step: int = 0
    batch: Batch | None = None
    record: dict[str, Any] | None = None
    averaged_generator: Any = None
    _log: Callable[[str, Any], None] = lambda name, value: None
    _lines: list[dict[str, Any]] = field(default_factory=list)
    _stop: list[bool] = field(default_factory=list)
    _state: Callable[[], dict[str, Any]] = dict
    _background: Callable[[Callable[[], Any]], None] = lambda job: job()

    def log(self, name: str, value: float | torch.Tensor) -> None:
        """Log a number: during the steps, its mean over the epoch goes to ``metrics.jsonl`` and its
        recent mean to the progress bar (tensors stay on the device until read, so logging costs no
        sync); at ``epoch_end``, it is added to the epoch's line as it is."""
        if self.record is not None:
            self.record[name] = float(value)
        else:
            self._log(name, value)

    def write_metrics(self, line: dict[str, Any]) -> None:
        """Append ``line`` (a JSON object, e.g. ``{"event": "eval", ...}``) to ``metrics.jsonl``;
        lines written at any event are written at the end of the epoch, after its own line."""
        self._lines.append(line)

    def in_background(self, job: Callable[[], Any]) -> None:
        """Run ``job()`` (writing a file, say) on the engine's writer thread while training goes on.
        Jobs run one at a time, in order, and all have finished when the run ends; a job must not
        touch the live networks (copy what it needs first)."""
        self._background(job)

    def sampling_generator(self) -> Any:
        """The G that outputs are drawn from (grids, in-training evaluation, what ``sample`` will
        load): the averaged one under ``--ema``, else the live one."""
        return self.averaged_generator if self.averaged_generator is not None else self.generator

    def request_stop(self) -> None:
        """Stop after the current step, as Ctrl-C does: a checkpoint is written and the run can be
        resumed (early stopping, a time budget)."""
        self._stop.append(True)

    @property
    def stop_requested(self) -> bool:
        return bool(self._stop)

    def checkpoint_state(self) -> dict[str, Any]:
        """The full checkpoint of this moment (weights, optimizers, RNG, counters), e.g. for a
        callback that keeps its own ``best.pt``."""
        return self._state()


class Callback:
    """Base class for training callbacks: override the events you need, leave the rest.

    A callback with state that must survive ``--resume`` returns it from :meth:`state_dict` (tensors
    and plain data only: checkpoints load with ``weights_only=True``) and takes it back in
    :meth:`load_state_dict`. Its key in the checkpoint is :attr:`name`.
    """

    #: The checkpoint key for this callback's state; defaults to the class name.
    name: str = ""

    def on_run_start(self, context: TrainingContext) -> None:
        """Before the first step (of this process: also after ``--resume``)."""

    def on_discriminator_step(self, context: TrainingContext) -> None:
        """After D's optimizer step; ``context.batch.fake`` is detached from G."""

    def on_generator_step(self, context: TrainingContext) -> None:
        """After G's optimizer step; ``context.step`` has been counted."""

    def on_checkpoint(self, context: TrainingContext) -> None:
        """Right after ``checkpoints/last.pt`` was written."""

    def on_epoch_end(self, context: TrainingContext) -> None:
        """After each epoch's checkpoint; ``context.record`` is the epoch's metrics line."""

    def on_run_end(self, context: TrainingContext) -> None:
        """After the last epoch, or when the run stops early (Ctrl-C, ``request_stop``)."""

    def state_dict(self) -> dict[str, Any] | None:
        return None

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Take back what :meth:`state_dict` returned."""

    @property
    def key(self) -> str:
        return self.name or type(self).__name__


class CallbackList:
    """Calls each event on every callback that overrides it (the per-step events cost nothing when
    no callback listens to them)."""

    def __init__(self, callbacks: list[Callback]) -> None:
        self.callbacks = list(callbacks)
        keys = [callback.key for callback in self.callbacks]
        duplicates = sorted({key for key in keys if keys.count(key) > 1})
        if duplicates:
            raise ConfigError(f"Two callbacks share the name '{duplicates[0]}'; give one of them "
                              "another `name` (it keys their state in checkpoints).")
        self._listeners = {event: [getattr(c, f"on_{event}") for c in self.callbacks
                                   if getattr(type(c), f"on_{event}") is not getattr(Callback, f"on_{event}")]
                           for event in EVENTS}

    def listens(self, event: str) -> bool:
        return bool(self._listeners[event])

    def emit(self, event: str, context: TrainingContext) -> None:
        for listener in self._listeners[event]:
            listener(context)

    def state_dict(self) -> dict[str, Any]:
        return {c.key: state for c in self.callbacks if (state := c.state_dict()) is not None}

    def load_state_dict(self, states: dict[str, Any]) -> None:
        for callback in self.callbacks:
            if callback.key in states:
                callback.load_state_dict(states[callback.key])
