"""Decoding image files once into a cached uint8 tensor: what the folder, CIFAR-10 and CelebA
loaders share.

A cache file lives in ``<data root>/cache/`` and is named ``<kind>-<where>-<content>.pt``: ``where``
is a hash of the source (a folder's absolute path, a split), ``content`` a hash of everything the
decode depends on (file paths, sizes and mtimes, the options, :data:`CACHE_FORMAT`). A changed
source gets a new ``content`` hash, so it is decoded again and the stale file for the same ``where``
is removed. Importing this module does not import torch.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from gankit.errors import DataError

if TYPE_CHECKING:
    import numpy as np

CACHE_FORMAT = 1  # bump when what a cache file holds, or how images are decoded, changes
EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp")
PROGRESS_FROM = 500  # show a progress bar when decoding at least this many files (on a terminal)
# Above this many bytes of pixels a decode writes into a scratch file beside the cache instead of
# RAM (CelebA's train split is 2.0 GB): the process never holds the whole set, even once.
DECODE_TO_DISK_BYTES = 256 * 2 ** 20


def cache_folder(root: Path) -> Path:
    return Path(root).expanduser() / "cache"


def digest(value: Any, length: int = 16) -> str:
    """A short, stable hash of a JSON-able value."""
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def file_stamps(paths: Iterable[Path], base: Path) -> list[tuple[str, int, int]]:
    """(path relative to ``base``, size, mtime in ns) per file: a cheap fingerprint of content."""
    stamps = []
    for path in paths:
        stat = path.stat()
        stamps.append((path.relative_to(base).as_posix(), stat.st_size, stat.st_mtime_ns))
    return stamps


def cache_path(root: Path, kind: str, where: Any, content: Any) -> Path:
    return cache_folder(root) / f"{kind}-{digest(where, 12)}-{digest([CACHE_FORMAT, content])}.pt"


def load_cache(path: Path) -> dict[str, Any] | None:
    """A cache file's contents, or None when it is absent or unreadable (then it is decoded anew).

    The tensors are memory-mapped from the file, not read: pages come in as they are touched, so
    the streaming path (gankit/train/streaming.py) reads only the batches it needs, and a set
    bigger than the RAM (CelebA's 2 GB) is never held whole by the process.
    """
    if not path.is_file():
        return None
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 - a damaged cache is only a cache miss
        return None


def save_and_map(path: Path, contents: dict[str, Any]) -> dict[str, Any]:
    """:func:`save_cache`, then the contents memory-mapped back from the file, so the decoded
    copy in RAM can be freed (the first load of a big set then holds it only while decoding)."""
    save_cache(path, contents)
    return load_cache(path) or contents


def save_cache(path: Path, contents: dict[str, Any]) -> None:
    """Write ``contents`` atomically and remove older cache files of the same kind and source."""
    import torch

    from gankit._io import atomic_write

    with atomic_write(path) as file:
        torch.save(contents, file)
    stem = path.name.rsplit("-", 1)[0]
    for stale in path.parent.glob(f"{stem}-*.pt"):
        if stale != path:
            stale.unlink(missing_ok=True)


def crop_resize(image: Any, size: int | None, crop: int | None = None) -> Any:
    """Centre-crop a PIL image to a square (of side ``crop``, else its shorter side) and resize it
    to ``size`` x ``size`` (bicubic, antialiased); unchanged when ``size`` is None."""
    if size is None:
        return image
    from PIL import Image

    width, height = image.size
    side = min(width, height, crop) if crop else min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    image = image.crop((left, top, left + side, top + side))
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.BICUBIC)
    return image


def decode_files(paths: Sequence[Path], *, size: int | None, channels: int, base: Path,
                 crop: int | None = None, what: str = "images",
                 scratch: Path | None = None) -> tuple["np.ndarray", list[int], list[str]]:
    """Decode image files into one uint8 array (N, C, H, W).

    ``scratch``: a file to decode into (memory-mapped) when ``size`` is given and the pixels are over
    :data:`DECODE_TO_DISK_BYTES`; the caller removes it once the cache is written (:func:`scratch_removed`).

    :param size: centre-crop and resize each image to ``size`` x ``size``; with None every image
        must already have the first one's size (else one DataError naming two that differ).
    :param channels: 3 (RGB) or 1 (greyscale); any mode is converted.
    :returns: the array, the indices into ``paths`` that were decoded, and one
        ``"relative/path: reason"`` line per file that could not be read (those are skipped).
    """
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    mode = "RGB" if channels == 3 else "L"
    # With a size the array is allocated once (CelebA is 2 GB of pixels); without, images are stacked.
    out = None
    if size:
        shape = (len(paths), channels, size, size)
        if scratch is not None and int(np.prod(shape)) > DECODE_TO_DISK_BYTES:
            Path(scratch).parent.mkdir(parents=True, exist_ok=True)
            out = np.lib.format.open_memmap(scratch, mode="w+", dtype=np.uint8, shape=shape)
        else:
            out = np.empty(shape, dtype=np.uint8)
    arrays: list[np.ndarray] = []
    kept: list[int] = []
    skipped: list[str] = []
    first: tuple[str, tuple[int, int]] | None = None
    with _progress(len(paths), f"decoding {what}") as advance:
        for index, path in enumerate(paths):
            try:
                with Image.open(path) as opened:
                    image = crop_resize(opened.convert(mode), size, crop)
            except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as error:
                skipped.append(f"{_relative(path, base)}: {type(error).__name__}")
                advance()
                continue
            if first is None:
                first = (_relative(path, base), image.size)
            elif size is None and image.size != first[1]:
                raise DataError(
                    f"The images in {base} have different sizes ({first[0]} is {_wxh(first[1])}, "
                    f"{_relative(path, base)} is {_wxh(image.size)}); pass --data-option size=N to "
                    "centre-crop and resize them all to NxN.")
            array = np.asarray(image, dtype=np.uint8)
            array = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
            if out is not None:
                out[len(kept)] = array
            else:
                arrays.append(array)
            kept.append(index)
            advance()
    if out is not None:
        return out[:len(kept)], kept, skipped
    if not arrays:
        return np.zeros((0, channels, 0, 0), dtype=np.uint8), kept, skipped
    return np.stack(arrays), kept, skipped


class scratch_removed:
    """``with scratch_removed(path):`` the decode's scratch file is deleted on the way out, whatever
    happens (on Windows a file still mapped cannot be: it is left for the next decode to overwrite)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def __enter__(self) -> Path:
        return self.path

    def __exit__(self, *exc: Any) -> None:
        try:
            self.path.unlink(missing_ok=True)
        except OSError:
            pass


def skipped_notice(skipped: list[str], total: int) -> str | None:
    """One line counting the files that could not be read, naming the first few."""
    if not skipped:
        return None
    shown = "; ".join(skipped[:3]) + ("; ..." if len(skipped) > 3 else "")
    plural = "s" if len(skipped) != 1 else ""
    return f"skipped {len(skipped):,} unreadable file{plural} of {total:,} ({shown})"


def _relative(path: Path, base: Path) -> str:
    try:
        return Path(path).relative_to(base).as_posix()
    except ValueError:
        return str(path)


def _wxh(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


class _progress:
    """A transient Rich bar on stderr for long decodes on a terminal; otherwise nothing."""

    def __init__(self, total: int, description: str) -> None:
        self.total, self.description, self.bar = total, description, None

    def __enter__(self):
        if self.total >= PROGRESS_FROM and not os.environ.get("CI"):
            from rich.console import Console

            console = Console(stderr=True)
            if console.is_terminal:
                from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

                self.bar = Progress("{task.description}", BarColumn(), MofNCompleteColumn(),
                                    TimeRemainingColumn(), console=console, transient=True)
                self.bar.__enter__()
                task = self.bar.add_task(self.description, total=self.total)
                return lambda: self.bar.advance(task)
        return lambda: None

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)
