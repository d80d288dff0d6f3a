"""The training engine, in layers that each fit on a screen or two:

- :mod:`gankit.train.events` — the training events and :class:`~gankit.train.events.Callback`;
- :mod:`gankit.train.step` — the math of one batch (D step, G step, what is logged);
- :mod:`gankit.train.loop` — epochs, resume state, Ctrl-C, checkpoints, epoch records;
- :mod:`gankit.train.optim` — optimizers and schedules;
- :mod:`gankit.train.outputs` — the sample grid and loss plot, as callbacks;
- :mod:`gankit.train.run` — :func:`train`: config, data, run folder, then the loop.

The engine never imports evaluation: ``--eval-every`` is a callback the CLI hands to :func:`train`.
"""

from gankit.train.events import Batch, Callback, TrainingContext
from gankit.train.optim import Optimizers
from gankit.train.run import Interrupted, RunOptions, TrainResult, provenance, train

__all__ = ["train", "RunOptions", "TrainResult", "Interrupted", "Callback", "TrainingContext",
           "Batch", "Optimizers", "provenance"]
