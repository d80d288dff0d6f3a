"""``--tensorboard``: each epoch's scalars and sample grid, as TensorBoard event files in ``RUN/tb/``.

Scalars are the epoch's ``metrics.jsonl`` line: the losses, ``d_real`` (D(x)) and ``d_fake``
(D(G(z))), images/s and seconds, and whatever in-training metric a callback added to the record
(``--eval-every``'s FID, say, when that callback runs before this one). The x axis is the epoch.
The grid is the one in ``samples/`` (the EMA generator's when the run keeps one).

``tensorboard`` is optional (``pip install 'gankit[tensorboard]'``); without it, asking for
``--tensorboard`` is one line saying so, before the run starts.
"""

from __future__ import annotations

import numbers
from typing import Any

from gankit.errors import ConfigError
from gankit.images import grid_columns
from gankit.train.events import Callback, TrainingContext

TB_DIR = "tb"
MISSING = ("--tensorboard needs the tensorboard package, which is not installed; "
           "install it with: pip install 'gankit[tensorboard]'")


def summary_writer_class() -> Any:
    """``torch.utils.tensorboard.SummaryWriter``, or a :class:`ConfigError` saying how to get it."""
    try:
        import tensorboard  # noqa: F401  (torch's writer imports it lazily, with a worse message)
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ConfigError(MISSING) from None
    return SummaryWriter


class TensorBoardLog(Callback):
    """Writes after every epoch; ``grid`` is the run's :class:`gankit.train.outputs.SampleGrid`."""

    name = "tensorboard"

    def __init__(self, grid: Any = None) -> None:
        self.writer_class = summary_writer_class()
        self.grid = grid
        self.writer: Any = None

    def on_run_start(self, context: TrainingContext) -> None:
        # A resume trains again the epochs after its checkpoint: their old events are purged.
        purge = {"purge_step": context.epoch + 1} if context.epoch else {}
        self.writer = self.writer_class(log_dir=str(context.run_dir / TB_DIR), **purge)

    def on_epoch_end(self, context: TrainingContext) -> None:
        import torchvision.utils as vutils

        epoch = context.epoch
        for key, value in (context.record or {}).items():
            if isinstance(value, numbers.Real) and not isinstance(value, bool) and key != "epoch":
                self.writer.add_scalar(key, float(value), epoch)
        images = getattr(self.grid, "images", None)
        if images is not None:
            columns = grid_columns(images.shape[0], bool(context.generator.num_classes))
            grid = vutils.make_grid(images, nrow=columns, normalize=True, value_range=(-1, 1))
            self.writer.add_image("samples", grid, epoch)
        self.writer.flush()

    def on_run_end(self, context: TrainingContext) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
