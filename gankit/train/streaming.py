"""Streaming batches from disk when the training set does not fit the memory budget.

The in-memory path (:class:`~gankit.train.batches.InMemoryBatches`) holds the whole set on the
device as float32, 4 bytes per pixel value: right for MNIST (188 MB), wrong for CelebA at 64x64
(8 GB). Above the memory budget, :class:`StreamingBatches` reads each batch's uint8 pixels from the
cache file through a ``DataLoader`` (worker processes, pinned memory on CUDA) and converts them to
[-1, 1] on the device. Its ``batch_sampler`` is the loop's seeded order cut into batches, so the
workers prefetch exactly the batches the in-memory path would index, in the same order: the two
paths train bit for bit alike, and a resumed run starts at the same batch.

The budget: ``--memory-budget SIZE`` (``2GB``, ``500MB``, ``0`` to always stream), else half of
the device's free memory (CUDA), or half of the available RAM (CPU and Apple's unified memory).
"""

from __future__ import annotations

import os
import re
from typing import Any, Iterator

import torch

from gankit.data.base import ImageData, to_signed
from gankit.errors import ConfigError
from gankit.train.batches import BatchSource, InMemoryBatches

_UNITS = {"": 1, "b": 1, "k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9, "t": 1e12,
          "tb": 1e12, "kib": 2 ** 10, "mib": 2 ** 20, "gib": 2 ** 30, "tib": 2 ** 40}
FALLBACK_RAM = 8 * 2 ** 30  # when the system cannot say how much memory is available


def parse_memory_budget(text: str | None) -> int | None:
    """``--memory-budget`` in bytes (None: the device's default); one clear line when unreadable."""
    if text is None or str(text).strip() == "":
        return None
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", str(text))
    if not match or match.group(2).lower() not in _UNITS:
        raise ConfigError(f"--memory-budget {text}: expected a size such as 2GB, 500MB or 0 "
                          "(0 always streams the data from disk).")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def default_budget(device: torch.device) -> int:
    """Half of what the device has free: the rest is for the networks, activations and the OS."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free // 2
    return _available_ram() // 2


def _available_ram() -> int:
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    except (ValueError, OSError, AttributeError):
        return FALLBACK_RAM


def in_memory_bytes(data: ImageData) -> int:
    """What the in-memory path holds on the device: the images as float32."""
    return int(data.images.numel()) * 4


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


def batch_source(data: ImageData, device: torch.device, *, labelled: bool, budget: str | None = None,
                 console: Any = None, workers: int | None = None) -> BatchSource:
    """The in-memory source when the set fits the budget, else the streaming one (said on ``console``)."""
    limit = parse_memory_budget(budget)
    limit = default_budget(torch.device(device)) if limit is None else limit
    needed = in_memory_bytes(data)
    if needed <= limit:
        return InMemoryBatches(data.to_signed(device), data.labels.to(device) if labelled else None)
    source = StreamingBatches(data, device, labelled=labelled, workers=workers)
    if console is not None:
        console.print(f"[bold]data:[/] streamed from disk ({needed / 1e9:.2f} GB as float32 is over the "
                      f"memory budget of {limit / 1e9:.2f} GB), {source.workers} reader "
                      f"process{'es' if source.workers != 1 else ''}")
    return source
