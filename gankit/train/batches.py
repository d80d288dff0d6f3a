"""Where a run's batches come from: the seeded order of an epoch in, (images, labels) batches out.

The loop decides the order (a permutation seeded by (seed, epoch), so a resumed run sees exactly
the batches an unbroken one would) and which batch to start from; a batch source only fetches.
That split lets other sources keep the same order: the in-memory source below indexes one tensor
on the device (right for MNIST-sized sets); a streaming source can read the same indices from a
file through a ``DataLoader``, and a process of a multi-process run can be handed its own slice
of each batch.
"""

from __future__ import annotations

from typing import Iterator, Protocol

import torch


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
