"""A decode kept where the data root can be written, and in memory where it cannot: what the
image-folder, CIFAR-10 and CelebA loaders share once their images are decoded.

A read-only data root (a shared mount, a container's image layer), or one that fails while the
cache file is written (a full disk), is no failed run: the decoded images are used as they are,
not cached, and one notice line says so and names ``--data-root``. :func:`unwritable` is asked
before a decode, so that a big one does not go through a scratch file beside a cache that cannot
be written. Importing this module does not import torch.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from gankit.data.decode import save_and_map


def unwritable(folder: Path) -> OSError | None:
    """Why no file can be written in ``folder`` (made if missing), or None when one can."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        return error
    return None


def cached_or_in_memory(cache: Path, contents: dict[str, Any],
                        refused: OSError | None = None) -> tuple[dict[str, Any], str | None]:
    """``contents`` saved to ``cache`` and memory-mapped back from it, with no notice; or, when the
    cache folder was ``refused`` before the decode or its write fails now, ``contents`` as they
    are, in memory, with the notice line that says so."""
    if refused is None:
        try:
            return save_and_map(cache, contents), None
        except OSError as error:  # a full disk, say: the decode in memory (or its mapping) stands
            refused = error
    why = refused.strerror or type(refused).__name__
    return contents, (f"the data root {cache.parent.parent} cannot be written ({why}): the images were "
                      "decoded in memory, not cached, so the next run decodes them again; pass a "
                      "writable --data-root (or GANKIT_DATA_ROOT) to keep them")


def join_notices(*lines: str | None) -> str | None:
    """One notice line from several (None and empty ones left out): "a; b" rather than "a.; b"."""
    kept = [line for line in lines if line]
    return "; ".join([line.rstrip(".") for line in kept[:-1]] + kept[-1:]) or None
