"""Training images read a batch at a time, for sets too big to hold on the device as floats.

:class:`CachedImages` is a map-style ``torch.utils.data.Dataset`` over a loader's uint8 images,
which for the decoded sets (a folder, CIFAR-10, CelebA) are memory-mapped from their cache file
(gankit/data/decode.py): a batch touches only its own pages, so a 2 GB CelebA cache is never read
whole. ``__getitems__`` fetches a whole batch in one index operation (the ``DataLoader`` calls it
with each list its ``batch_sampler`` yields), and a worker process that receives the dataset
reopens the cache file instead of being sent the pixels.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from gankit.data.base import ImageData


class CachedImages(Dataset):
    """``(uint8 images (B, C, H, W), int64 labels (B,) or None)`` for a list of indices."""

    def __init__(self, data: ImageData, labelled: bool) -> None:
        self.images: torch.Tensor | None = data.images
        self.labels = data.labels if labelled else None
        self.labelled = labelled
        self.cache_file: Path | None = data.cache_file
        self.length = int(data.images.shape[0])

    def __len__(self) -> int:
        return self.length

    def __getitems__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.images is None:
            self._reopen()
        index = torch.as_tensor(indices, dtype=torch.long)
        return self.images[index], (self.labels[index] if self.labels is not None else None)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        images, labels = self.__getitems__([index])
        return images[0], (labels[0] if labels is not None else None)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        if self.cache_file is not None:  # a spawned worker maps the pixels itself
            # The labels travel (8 bytes an image): they may not be the file's (cluster ids).
            state["images"] = None
        return state

    def _reopen(self) -> None:
        from gankit.data.decode import load_cache
        from gankit.errors import DataError

        contents = load_cache(self.cache_file) if self.cache_file is not None else None
        if contents is None or int(contents["images"].shape[0]) != self.length:
            raise DataError(f"The cache file {self.cache_file} changed or vanished while training read "
                            "from it; start the run again (--resume continues it).")
        self.images = contents["images"]


def as_batch(batch: tuple[torch.Tensor, torch.Tensor | None]) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The ``DataLoader``'s collate function: ``__getitems__`` already made the batch."""
    return batch
