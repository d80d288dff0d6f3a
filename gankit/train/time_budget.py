"""The rule two per-epoch outputs share: spend on them at most a share (1%) of the training time.

The checkpoint (``--checkpoint-every auto``) and the loss plot are each written after an epoch only
while the seconds spent writing them so far stay within ``share`` of the seconds spent training so
far; the first epoch always writes, and the run's end catches up (gankit/train/checkpoint_schedule.py,
gankit/train/outputs.py).
"""

from __future__ import annotations

import time
from typing import Callable

DEFAULT_SHARE = 0.01


class TimeBudget:
    """Seconds spent on one output against seconds spent training, in this process."""

    def __init__(self, share: float = DEFAULT_SHARE) -> None:
        self.share = share
        self.trained = self.spent = 0.0

    def trained_for(self, seconds: float) -> None:
        self.trained += seconds

    def allows(self) -> bool:
        """Whether the output may be written now (spent so far within ``share`` of trained)."""
        return self.spent <= self.share * self.trained

    def timed(self, write: Callable[[], None]) -> None:
        """Call ``write`` and count its seconds (also when it raises); safe from a writer thread."""
        started = time.perf_counter()
        try:
            write()
        finally:
            self.spent += time.perf_counter() - started
