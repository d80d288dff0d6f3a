"""The run folder's per-epoch outputs, as callbacks: the fixed-noise sample grid and the loss plot."""

from __future__ import annotations

from typing import Any, Callable

import torch

from gankit.images import grid_columns, save_grid
from gankit.runs import LOSS_PLOT_FILE, STEPS_FILE, read_metrics, sample_grid_path
from gankit.noise import fixed_noise
from gankit.train.events import Callback, TrainingContext
from gankit.train.time_budget import DEFAULT_SHARE, TimeBudget


class SampleGrid(Callback):
    """``samples/epoch_XXXX.png``: the same noise (and labels) every epoch, so progress is visible.
    The tutorial's 4x4 grid; a conditional variant gets one row per class."""

    name = "sample_grid"

    def __init__(self, seed: int, ema: Any = None) -> None:
        self.seed = seed
        self.ema = ema  # a gankit.train.ema.GeneratorEMA: the grid shows the averaged G
        self.inputs: tuple[torch.Tensor, torch.Tensor | None] | None = None
        self.images: torch.Tensor | None = None  # the last grid's images (TensorBoard shows them)

    def on_run_start(self, context: TrainingContext) -> None:
        self.inputs = fixed_noise(context.generator, seed=self.seed, device=context.device)

    @torch.no_grad()
    def on_epoch_end(self, context: TrainingContext) -> None:
        z, labels = self.inputs
        generator = self.ema.generator(context) if self.ema is not None else context.generator
        was_training = generator.training
        generator.eval()
        try:
            images = generator(z, labels)
        finally:
            generator.train(was_training)
        images, path = images.float().cpu(), sample_grid_path(context.run_dir, context.epoch)
        self.images = images
        columns = grid_columns(images.shape[0], labels is not None)
        label = f"{context.variant}, epoch {context.epoch}"
        context.in_background(lambda: save_grid(images, path, columns, label=label))


class LossPlot(Callback):
    """``losses.png``: D's and G's loss per step (``steps.jsonl``) and per epoch. Drawing it costs
    about 0.1 s, a few percent of a short epoch (issue 10), so it is redrawn after an epoch only
    while its drawing time so far stays within ``budget`` of the training steps' time so far (the
    first epoch always); a run that ends or stops with a newer epoch not drawn yet draws it then,
    so the finished plot always holds every epoch."""

    name = "loss_plot"

    def __init__(self, budget: float = DEFAULT_SHARE) -> None:
        self.share = budget
        self.budget = TimeBudget(budget)  # seconds drawing against seconds training, in this process
        self.records: list[dict[str, Any]] = []
        self.pending = False  # an epoch is not in the file yet

    def on_run_start(self, context: TrainingContext) -> None:
        self.records = [r for r in read_metrics(context.run_dir) if r.get("event") == "epoch"]
        self.budget = TimeBudget(self.share)

    def on_epoch_end(self, context: TrainingContext) -> None:
        self.records.append(dict(context.record))
        self.budget.trained_for(float(context.record.get("seconds", 0.0)))
        self.pending = True
        if self.budget.allows():
            context.in_background(self._drawing(context))

    def on_run_end(self, context: TrainingContext) -> None:
        if self.pending:  # the writer has closed: draw in this thread
            self._drawing(context)()

    def _drawing(self, context: TrainingContext) -> Callable[[], None]:
        from gankit.plots import plot_losses

        self.pending = False
        records, run_dir = list(self.records), context.run_dir
        title = f"{context.variant} on {context.dataset}"

        def draw() -> None:  # steps.jsonl is read on the writer, after the epoch's lines landed
            plot_losses(records, run_dir / LOSS_PLOT_FILE, title=title,
                        steps=read_metrics(run_dir, STEPS_FILE))

        budget = self.budget
        return lambda: budget.timed(draw)
