"""Where a run's batches come from: the seeded order of an epoch in, (images, labels) batches out.

The loop decides the order (a permutation seeded by (seed, epoch), so a resumed run sees exactly
the batches an unbroken one would) and which batch to start from; a batch source only fetches.
That split lets other sources keep the same order: the in-memory source below indexes one tensor
on the device (right for MNIST-sized sets); a streaming source can read the same indices from a
file through a ``DataLoader``, and a process of a multi-process run can be handed its own slice
of each batch. :func:`batch_source` chooses between the two by the memory budget:
``--memory-budget SIZE`` (``2GB``, ``500MB``, ``0`` to always stream), else half of the device's
free memory (CUDA), or half of the available RAM (CPU and Apple's unified memory).
"""

from __future__ import annotations

import os
import re
from typing import Any, Iterator, Protocol

import torch

from gankit.data.base import ImageData
from gankit.errors import ConfigError


class BatchSource(Protocol):
    """What the loop needs from the training data."""

    #: Images in the training set (the length of an epoch's order).
    num_images: int
    #: Whether batches carry labels (a conditional variant's data).
    has_labels: bool

    def batches(self, order: torch.Tensor, batch_size: int,
                first_batch: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
        """Batches ``first_batch, first_batch + 1, ...`` of ``order`` (a CPU permutation), each of
        ``batch_size`` images in [-1, 1] on the run's device; a last, partial batch is dropped."""
        ...


class InMemoryBatches:
    """The whole set as one tensor on the device; a batch is one index operation."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor | None) -> None:
        self.images, self.labels = images, labels
        self.num_images = int(images.shape[0])
        self.has_labels = labels is not None

    def batches(self, order: torch.Tensor, batch_size: int,
                first_batch: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
        order = order.to(self.images.device)  # one copy per epoch, not one per batch
        for number in range(first_batch, len(order) // batch_size):
            index = order[number * batch_size:(number + 1) * batch_size]
            yield self.images[index], (self.labels[index] if self.labels is not None else None)


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


def batch_source(data: ImageData, device: torch.device, *, labelled: bool, budget: str | None = None,
                 console: Any = None, workers: int | None = None) -> BatchSource:
    """The in-memory source when the set fits the budget, else the streaming one (said on ``console``)."""
    limit = parse_memory_budget(budget)
    limit = default_budget(torch.device(device)) if limit is None else limit
    needed = in_memory_bytes(data)
    if needed <= limit:
        return InMemoryBatches(data.to_signed(device), data.labels.to(device) if labelled else None)
    from gankit.train.streaming import StreamingBatches

    source = StreamingBatches(data, device, labelled=labelled, workers=workers)
    if console is not None:
        console.print(f"[bold]data:[/] streamed from disk ({needed / 1e9:.2f} GB as float32 is over the "
                      f"memory budget of {limit / 1e9:.2f} GB), {source.workers} reader "
                      f"process{'es' if source.workers != 1 else ''}")
    return source
