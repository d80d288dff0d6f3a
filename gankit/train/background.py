"""Writing the per-epoch outputs off the training path: one background thread, one job at a time.

The checkpoint, the sample grid's PNG and the loss plot are written while the next epoch trains.
What a job writes is captured when it is submitted (a checkpoint's tensors are copied), so training
on cannot change it; every file still goes through the atomic writer, so a crash mid-write leaves
the previous file. Jobs run in the order given; once one fails the later ones are skipped (an
epoch's metrics line and grid are not written when its checkpoint could not be), and the error is
raised in the training thread at the next submit or wait.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable

import torch


def spare_core(device: torch.device) -> bool:
    """Whether a writer thread would not take a core from training: always on a GPU, on a CPU only
    when torch's threads leave one free (on a 2-core machine it would slow every epoch)."""
    import os

    return device.type != "cpu" or (os.cpu_count() or 1) > torch.get_num_threads()


class BackgroundWriter:
    """``threaded=False`` runs each job at once, in the caller's thread, with the same ordering
    and failure rules."""

    def __init__(self, threaded: bool = True) -> None:
        self.threaded = threaded
        self._pool: ThreadPoolExecutor | None = None
        self._pending: list[Future[Any]] = []
        self._failed = False

    def submit(self, job: Callable[[], Any]) -> None:
        for future in self._pending:
            if future.done() and future.exception() is not None:
                self.wait()  # raises the failed job's error now, not an epoch later
        if not self.threaded:
            self._run(job)
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gankit-writer")
        self._pending = [f for f in self._pending if not f.done()]
        self._pending.append(self._pool.submit(self._run, job))

    def _run(self, job: Callable[[], Any]) -> Any:
        if self._failed:
            return None
        try:
            return job()
        except BaseException:
            self._failed = True
            raise

    def wait(self) -> None:
        """Block until every job is written; re-raise the first job's error."""
        pending, self._pending = self._pending, []
        for future in pending:
            future.result()

    def close(self) -> None:
        try:
            self.wait()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None


def detached_copy(value: Any) -> Any:
    """``value`` with every tensor copied to the CPU: a snapshot training cannot change."""
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        return {key: detached_copy(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(detached_copy(item) for item in value)
    return value
