"""The training engine. From ``gankit train`` to ``optimizer.step()`` in three hops:
:func:`~gankit.train.run.train` builds the run, :meth:`~gankit.train.loop.Trainer.fit` runs its
epochs, :class:`~gankit.train.step.TrainStep` trains each batch (D's update, then G's, in one
function). Its modules, by job:

- :mod:`gankit.train.run` — :func:`train`: config, data, run folder, networks, callbacks, then the loop;
- :mod:`gankit.train.loop` — epochs in a seeded order, resume state, Ctrl-C, checkpoints, epoch records;
- :mod:`gankit.train.step` — one batch: D's forward, loss, backward and step, then G's; what is logged;
- :mod:`gankit.train.wrapping` — the callables the step runs (compile, DDP, augmentation), built once;
- :mod:`gankit.train.precision` — autocast and the per-optimizer gradient scalers;
- :mod:`gankit.train.events` — the six training events, :class:`Callback`, the context and the batch;
- :mod:`gankit.train.batches` — where batches come from (one device tensor, or streamed) and which;
- :mod:`gankit.train.streaming` — batches read from the decode cache by ``DataLoader`` workers;
- :mod:`gankit.train.optim` — optimizers and learning-rate schedules;
- :mod:`gankit.train.outputs` — the sample grid and the loss plot, as callbacks;
- :mod:`gankit.train.checkpoint_schedule` — which epochs' ends write the checkpoint;
- :mod:`gankit.train.time_budget` — outputs kept within 1% of the training time;
- :mod:`gankit.train.background` — the output writer thread;
- :mod:`gankit.train.ema`, :mod:`~gankit.train.augment`, :mod:`~gankit.train.regularisers`,
  :mod:`~gankit.train.tensorboard` — ``--ema``, ``--augment``, ``--r1``, ``--tensorboard``;
- :mod:`gankit.train.distributed` — torchrun: process group, shards, DDP wrappers, rank 0's role.

The engine never imports evaluation: ``--eval-every`` is a callback the CLI hands to :func:`train`.
"""

from gankit.train.events import Batch, Callback, TrainingContext
from gankit.train.optim import Optimizers
from gankit.train.run import Interrupted, RunOptions, TrainResult, provenance, train

__all__ = ["train", "RunOptions", "TrainResult", "Interrupted", "Callback", "TrainingContext",
           "Batch", "Optimizers", "provenance"]
