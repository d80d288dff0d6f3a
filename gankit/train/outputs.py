"""The run folder's per-epoch outputs, as callbacks: the fixed-noise sample grid and the loss plot."""

from __future__ import annotations

from typing import Any

import torch

from gankit.images import grid_columns, save_grid
from gankit.runs import LOSS_PLOT_FILE, read_metrics, sample_grid_path
from gankit.sample import fixed_noise
from gankit.train.events import Callback, TrainingContext


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
        context.in_background(lambda: save_grid(images, path, columns))


class LossPlot(Callback):
    """``losses.png``: each logged loss's epoch mean, redrawn after every epoch."""

    name = "loss_plot"

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def on_run_start(self, context: TrainingContext) -> None:
        self.records = [r for r in read_metrics(context.run_dir) if r.get("event") == "epoch"]

    def on_epoch_end(self, context: TrainingContext) -> None:
        from gankit.plots import plot_losses

        self.records.append(dict(context.record))
        records, path = list(self.records), context.run_dir / LOSS_PLOT_FILE
        title = f"{context.variant} on {context.dataset}"
        context.in_background(lambda: plot_losses(records, path, title=title))
