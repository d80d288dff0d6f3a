"""When an epoch's end writes ``checkpoints/last.pt`` (``--checkpoint-every``).

A checkpoint holds everything a resume needs (weights, both optimizers' moments, RNG state), so
for a small model on a fast step it is the dearest per-epoch output: vanilla's is 35 MB, about
50 ms with its fsync against a 1.9 s epoch on a 2-core CPU (docs/benchmarks.md). By default
(``auto``) an epoch's end writes one only while the seconds spent writing checkpoints in this
process stay within ``budget`` (1%) of the seconds spent training; a kill -9 then loses at most
about ``1/budget`` times one checkpoint's write time of training (5 s for vanilla here), or one
epoch where epochs are longer than that (dcgan, cgan: every epoch). ``every=N`` writes every N-th
epoch instead. Either way the run's first epoch and its last always write one, and so does a stop
(Ctrl-C, SIGTERM, a callback's ``request_stop``): only a kill loses anything, and ``--resume``
redoes the lost epochs bit for bit (it drops their ``metrics.jsonl`` lines first).
"""

from __future__ import annotations

from typing import Callable

from gankit.train.time_budget import DEFAULT_SHARE, TimeBudget

DEFAULT_BUDGET = DEFAULT_SHARE


class CheckpointSchedule:
    """Decides, epoch by epoch, whether to write the checkpoint; told the seconds of both sides."""

    def __init__(self, every: int | None = None, budget: float = DEFAULT_BUDGET) -> None:
        if every is not None and every < 1:
            raise ValueError(f"every must be at least 1 or None (auto), got {every}")
        self.every, self.budget = every, TimeBudget(budget)

    def due(self, epoch: int, seconds: float, last: bool) -> bool:
        """Whether the end of ``epoch`` (counted from 1), which trained ``seconds``, writes one;
        ``last``: the run's final epoch."""
        self.budget.trained_for(seconds)
        if last or epoch == 1:
            return True
        if self.every is not None:
            return epoch % self.every == 0
        return self.budget.allows()

    def timed(self, write: Callable[[], None]) -> None:
        """Call ``write`` (the checkpoint's) and count its seconds."""
        self.budget.timed(write)
