"""Streaming batches from disk when the training set does not fit the memory budget.

The in-memory path (:class:`~gankit.train.batches.InMemoryBatches`) holds the whole set on the
device as float32, 4 bytes per pixel value: right for MNIST (188 MB), wrong for CelebA at 64x64
(8 GB). Above the memory budget, :class:`StreamingBatches` reads each batch's uint8 pixels from the
cache file through a ``DataLoader`` (worker processes, pinned memory on CUDA) and converts them to
[-1, 1] on the device. Its ``batch_sampler`` is the loop's seeded order cut into batches, so the
workers prefetch exactly the batches the in-memory path would index, in the same order: the two
paths train bit for bit alike, and a resumed run starts at the same batch.

Which of the two a run uses is :func:`gankit.train.batches.batch_source`'s choice (the memory
budget).
"""

from __future__ import annotations

import os
from typing import Any, Iterator

import torch

from gankit.data.base import ImageData, to_signed

def default_workers() -> int:
    """Reader processes: one core is left to training (at most 4: a batch is one index and copy)."""
    return max(1, min(4, (os.cpu_count() or 2) - 1))


class StreamingBatches:
    """Batches read from ``data`` (its cache file, memory-mapped) by ``DataLoader`` workers."""

    def __init__(self, data: ImageData, device: torch.device, *, labelled: bool,
                 workers: int | None = None) -> None:
        from gankit.data.stream import CachedImages

        self.dataset = CachedImages(data, labelled)
        self.device = torch.device(device)
        self.num_images = len(self.dataset)
        self.has_labels = labelled
        self.workers = default_workers() if workers is None else workers

    def batches(self, order: torch.Tensor, batch_size: int,
                first_batch: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
        from torch.utils.data import DataLoader

        from gankit.data.stream import as_batch

        plan = [order[number * batch_size:(number + 1) * batch_size].tolist()
                for number in range(first_batch, len(order) // batch_size)]
        if not plan:
            return
        loader = DataLoader(self.dataset, batch_sampler=plan, num_workers=self.workers,
                            collate_fn=as_batch, pin_memory=self.device.type == "cuda",
                            # its own generator: the loader draws a worker seed, which from the
                            # global RNG would shift the run's noise away from the in-memory path's
                            generator=torch.Generator().manual_seed(0),
                            **({"prefetch_factor": 4} if self.workers else {}))
        for images, labels in loader:
            images = to_signed(images.to(self.device, non_blocking=True))
            yield images, (labels.to(self.device, non_blocking=True) if labels is not None else None)
