"""Decoding image files once into a cached uint8 tensor: what the folder, CIFAR-10 and CelebA
loaders share.

A cache file lives in ``<data root>/cache/`` and is named ``<kind>-<where>-<content>.pt``: ``where``
is a hash of the source (a folder's absolute path, a split), ``content`` a hash of everything the
decode depends on (file paths, sizes and mtimes, for a folder also modes and status-change times;
the options, :data:`CACHE_FORMAT`). A changed source gets a new ``content`` hash, so it is decoded
again and the stale file for the same ``where`` is removed. A cache file is never trusted
(:func:`check_cache`: type, keys, shapes, dtypes, ranges, its own name, what the loader expects, the
sha256 of its :data:`PAYLOAD` stored beside it); one that fails is a one-line warning and a new
decode. An image over :data:`MAX_IMAGE_PIXELS` is skipped before its pixels are decoded, and a
decode that would not fit is refused before it starts. Importing this module does not import torch.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Sequence

from gankit.errors import DataError, GankitWarning

if TYPE_CHECKING:
    import numpy as np

CACHE_FORMAT = 2  # bump when what a cache file holds, or how images are decoded, changes
PAYLOAD = ("images", "labels", "skipped", "classes")  # what a cache file holds, checksummed
EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp")
PROGRESS_FROM = 500  # show a progress bar when decoding at least this many files (on a terminal)
# Above this many bytes of pixels a decode writes into a scratch file beside the cache instead of
# RAM (CelebA's train split is 2.0 GB): the process never holds the whole set, even once.
DECODE_TO_DISK_BYTES = 256 * 2 ** 20
# The most pixels one image may declare (201 MB as RGB): over any camera's 61 MP, far over what a GAN
# trains on; a 12 KB PNG can declare 10000x10000, which PIL's own limit (89 MP) only warns about.
MAX_IMAGE_PIXELS = 8192 * 8192
TOO_LARGE = "too large"  # the reason recorded for an image over MAX_IMAGE_PIXELS
_verified: dict[str, tuple[int, int, int, str]] = {}  # path -> (inode, size, mtime, checksum) checked


def cache_folder(root: Path) -> Path:
    return Path(root).expanduser() / "cache"


def digest(value: Any, length: int = 16) -> str:
    """A short, stable hash of a JSON-able value."""
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def file_stamps(paths: Iterable[Path], base: Path, status: bool = False) -> list[tuple[Any, ...]]:
    """(path relative to ``base``, size, mtime in ns) per file: a cheap fingerprint of content.
    ``status``: also the mode and status-change time, which a chmod or chown changes (a file once
    skipped as unreadable is then read again)."""
    stamps: list[tuple[Any, ...]] = []
    for path in paths:
        stat = path.stat()
        stamp = (path.relative_to(base).as_posix(), stat.st_size, stat.st_mtime_ns)
        stamps.append((*stamp, stat.st_mode, stat.st_ctime_ns) if status else stamp)
    return stamps


def cache_path(root: Path, kind: str, where: Any, content: Any) -> Path:
    return cache_folder(root) / f"{kind}-{digest(where, 12)}-{digest([CACHE_FORMAT, content])}.pt"


def load_cache(path: Path, expect: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """A cache file's contents, checked (:func:`check_cache`, against ``expect`` too), or None when
    it is absent, unreadable or fails a check (then a one-line warning; it is decoded anew). The
    tensors are memory-mapped from the file, not read: pages come in as they are touched, so
    the streaming path (gankit/train/streaming.py) reads only the batches it needs, and a set
    bigger than the RAM (CelebA's 2 GB) is never held whole by the process.
    """
    if not path.is_file():
        return None
    from gankit.checkpoint import safe_load  # torch: imported only when a cache is read

    try:
        contents = safe_load(path, mmap=True)  # weights_only, however torch.load was patched
        check_cache(contents, path, expect or {})
    except Exception as error:  # noqa: BLE001 - a damaged or foreign cache is only a cache miss
        first = (str(error).strip().splitlines() or [type(error).__name__])[0][:160]
        warnings.warn(f"The decode cache file '{path}' is damaged or not gankit's ({first}); "
                      "decoding the images again.", GankitWarning, stacklevel=2)
        return None
    return contents


def check_cache(contents: Any, path: Path, expect: dict[str, Any]) -> None:
    """Raise ValueError unless ``contents`` is what :func:`save_cache` wrote to ``path`` (keys, types,
    shapes, dtypes, ranges, name, checksum) and what ``expect`` says (count, channels, size, classes,
    labelled; count is images plus skipped files)."""
    import torch

    if not isinstance(contents, dict):
        raise ValueError(f"it holds a {type(contents).__name__}, not a dict")
    missing = [key for key in (*PAYLOAD, "format", "name", "checksum") if key not in contents]
    if missing:
        raise ValueError(f"it has no {', '.join(missing)}")
    if contents["format"] != CACHE_FORMAT or contents["name"] != path.name:
        raise ValueError("it was written as another cache file")
    images, labels, skipped, classes = (contents[key] for key in PAYLOAD)
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.dim() != 4 \
            or images.shape[1] not in (1, 3):
        raise ValueError("its images are not a uint8 tensor (N, 1 or 3, H, W)")
    if not _texts(skipped) or not (classes is None or _texts(classes)):
        raise ValueError("its skipped files or class names are not lists of text")
    if labels is not None and not (isinstance(labels, torch.Tensor) and labels.dtype == torch.int64
                                   and labels.shape == (len(images),)):
        raise ValueError("its labels are not one int64 per image")
    if labels is not None and len(labels) and (int(labels.min()) < 0 or (
            classes is not None and int(labels.max()) >= len(classes))):
        raise ValueError("its labels are not class indices")
    _check_expected(contents, expect)
    stat = path.stat()
    stamp = (stat.st_ino, stat.st_size, stat.st_mtime_ns, contents["checksum"])
    if _verified.get(str(path)) != stamp:
        if contents["checksum"] != payload_checksum(contents):
            raise ValueError("its checksum does not match its contents")
        _verified[str(path)] = stamp


def _texts(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _check_expected(contents: dict[str, Any], expect: dict[str, Any]) -> None:
    images = contents["images"]
    claims = {"count": len(images) + len(contents["skipped"]), "channels": int(images.shape[1]),
              "classes": contents["classes"], "labelled": contents["labels"] is not None}
    for key, value in claims.items():
        if key in expect and expect[key] != value:
            raise ValueError(f"{key} {value} where {expect[key]} is expected")
    size = expect.get("size")
    if size is not None and tuple(images.shape[2:]) != (size, size):
        raise ValueError(f"its images are {_wxh(tuple(images.shape[:1:-1]))}, not {size}x{size}")


def payload_checksum(contents: dict[str, Any]) -> str:
    """The sha256 of the :data:`PAYLOAD`: each tensor's shape, dtype and bytes, the rest as JSON."""
    import torch

    checksum = hashlib.sha256()
    for key in PAYLOAD:
        value = contents.get(key)
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().contiguous()
            checksum.update(f"{key}:{tuple(value.shape)}:{value.dtype};".encode())
            checksum.update(value.numpy() if value.numel() else b"")
        else:
            checksum.update(f"{key}={json.dumps(value, sort_keys=True)};".encode())
    return checksum.hexdigest()


def save_and_map(path: Path, contents: dict[str, Any]) -> dict[str, Any]:
    """:func:`save_cache`, then the contents memory-mapped back from the file, so the decoded
    copy in RAM can be freed (the first load of a big set then holds it only while decoding)."""
    save_cache(path, contents)
    return load_cache(path) or contents


def save_cache(path: Path, contents: dict[str, Any]) -> None:
    """Write ``contents`` (``images`` and any of the other :data:`PAYLOAD` keys) with its checksum,
    atomically, and remove older cache files of the same kind and source."""
    import torch

    from gankit._io import atomic_write

    payload = {"images": contents["images"], "labels": contents.get("labels"),
               "skipped": list(contents.get("skipped") or []), "classes": contents.get("classes")}
    checksum = payload_checksum(payload)
    with atomic_write(path) as file:
        torch.save({**payload, "format": CACHE_FORMAT, "name": path.name, "checksum": checksum}, file)
    stat = path.stat()
    _verified[str(path)] = (stat.st_ino, stat.st_size, stat.st_mtime_ns, checksum)  # no second hash
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


def to_mode(image: Any, mode: str) -> Any:
    """A PIL image as ``mode`` ("RGB" or "L"), levels kept: integer greyscale (I;16, I;16B, I, ...;
    PIL's convert clips it at 255: near-white) is scaled from 0-65535, a palette with transparency
    goes through RGBA (as PIL asks, without its warning)."""
    import numpy as np
    from PIL import Image

    if image.mode.startswith("I"):
        levels = np.asarray(image).astype(np.int64).clip(0, 65535)
        image = Image.fromarray(((levels * 255 + 32767) // 65535).astype(np.uint8), "L")
    elif image.mode in ("P", "PA") and "transparency" in image.info:
        image = image.convert("RGBA")
    return image.convert(mode)  # a copy when the mode is already right: the file is closed after


def open_image(path: Path, mode: str, size: int | None, crop: int | None = None) -> tuple[Any, str]:
    """(the image decoded as ``mode``, cropped and resized; "") or (None, why it was skipped). The
    declared size is checked against :data:`MAX_IMAGE_PIXELS` before any pixel is decoded."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():  # PIL's DecompressionBombWarning: the limit below is ours
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as opened:
                width, height = opened.size
                if width * height > MAX_IMAGE_PIXELS:
                    return None, f"{TOO_LARGE} ({width}x{height}, over {MAX_IMAGE_PIXELS:,} pixels)"
                return crop_resize(to_mode(opened, mode), size, crop), ""
    except Image.DecompressionBombError:  # over twice PIL's own limit: raised at open
        return None, f"{TOO_LARGE} (over {MAX_IMAGE_PIXELS:,} pixels)"
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as error:
        return None, type(error).__name__


def decode_files(paths: Sequence[Path], *, size: int | None, channels: int, base: Path,
                 crop: int | None = None, what: str = "images",
                 scratch: Path | None = None) -> tuple["np.ndarray", list[int], list[str]]:
    """Decode image files into one uint8 array (N, C, H, W), allocated once it is known to fit
    (:func:`allocate`: with ``size`` before any file is read, else once the first gives the size).

    ``scratch``: a file to decode into (memory-mapped) when the pixels are over
    :data:`DECODE_TO_DISK_BYTES` (None: in memory); the caller removes it (:func:`scratch_removed`).

    :param size: centre-crop and resize each image to ``size`` x ``size``; with None every image
        must already have the first one's size (else one DataError naming two that differ).
    :param channels: 3 (RGB) or 1 (greyscale); any mode is converted (:func:`to_mode`).
    :returns: the array, the indices decoded, one ``"relative/path: reason"`` per file skipped.
    """
    import numpy as np

    mode = "RGB" if channels == 3 else "L"
    out = allocate(len(paths), channels, (size, size), scratch) if size else None
    kept: list[int] = []
    skipped: list[str] = []
    first: tuple[str, tuple[int, int]] | None = None
    with _progress(len(paths), f"decoding {what}") as advance:
        for index, path in enumerate(paths):
            image, reason = open_image(path, mode, size, crop)
            advance()
            if image is None:
                skipped.append(f"{_relative(path, base)}: {reason}")
                continue
            if first is None:
                first = (_relative(path, base), image.size)
                if out is None:
                    out = allocate(len(paths) - len(skipped), channels, image.size, scratch)
            elif image.size != first[1]:
                raise DataError(
                    f"The images in {base} have different sizes ({first[0]} is {_wxh(first[1])}, "
                    f"{_relative(path, base)} is {_wxh(image.size)}); pass --data-option size=N to "
                    "centre-crop and resize them all to NxN.")
            array = np.asarray(image, dtype=np.uint8)
            out[len(kept)] = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
            kept.append(index)
    if out is None:
        return np.zeros((0, channels, 0, 0), dtype=np.uint8), kept, skipped
    return out[:len(kept)], kept, skipped


def allocate(count: int, channels: int, size: tuple[int, int], scratch: Path | None) -> "np.ndarray":
    """An uninitialised uint8 array (count, channels, height, width): memory-mapped from ``scratch``
    when it is over :data:`DECODE_TO_DISK_BYTES`, else in RAM. Refused (one DataError, nothing
    written) when the disk there cannot hold it and the cache file after it, or RAM cannot hold it."""
    import numpy as np

    shape = (count, channels, size[1], size[0])
    total = int(np.prod(shape, dtype=np.int64))
    on_disk = scratch is not None and total > DECODE_TO_DISK_BYTES
    checks = [] if on_disk else [("memory", total, _memory())]
    if scratch is not None:  # the cache file goes there, and the scratch file before it
        folder = Path(scratch).parent
        checks.append((f"free space at {folder}", total * (2 if on_disk else 1), _free_disk(folder)))
    for where, need, room in checks:
        if room is not None and need > room:
            raise DataError(
                f"Decoding {count:,} images of {channels}x{size[1]}x{size[0]} needs {_bytes(need)} of "
                f"{where}, but there is {_bytes(room)}; use a smaller --data-option size (or fewer "
                "images), free some space, or point --data-root at a bigger disk.")
    if on_disk:
        Path(scratch).parent.mkdir(parents=True, exist_ok=True)
        return np.lib.format.open_memmap(scratch, mode="w+", dtype=np.uint8, shape=shape)
    return np.empty(shape, dtype=np.uint8)


def _free_disk(folder: Path) -> int | None:
    """The bytes free where ``folder`` is (or will be); None when unknown."""
    folder = Path(folder).absolute()
    try:
        return shutil.disk_usage(next(p for p in (folder, *folder.parents) if p.exists())).free
    except (OSError, StopIteration):
        return None


def _memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


@contextlib.contextmanager
def scratch_removed(path: Path) -> Iterator[Path]:
    """``with scratch_removed(path):`` the decode's scratch file is deleted on the way out, whatever
    happens (on Windows a file still mapped cannot be: it is left for the next decode to overwrite)."""
    try:
        yield Path(path)
    finally:
        with contextlib.suppress(OSError):
            Path(path).unlink(missing_ok=True)


_KINDS = (("unreadable folder", "unreadable folders"), ("unreadable file", "unreadable files"),
          ("oversized image", "oversized images"))


def skipped_notice(skipped: list[str], total: int, duplicates: Sequence[str] = ()) -> str | None:
    """One line counting what was skipped, by kind (unreadable folders: records ending in "/";
    images over the pixel limit; other unreadable files), naming the first few of each, then the
    ``duplicates``: links to a folder or file already read."""
    kinds: list[list[str]] = [[], [], []]
    for record in skipped:
        name, _, reason = record.rpartition(": ")
        kinds[0 if name.endswith("/") else 2 if reason.startswith(TOO_LARGE) else 1].append(record)
    counts = [f"{len(found):,} {_KINDS[i][len(found) != 1]}" for i, found in enumerate(kinds) if found]
    parts = []
    if counts:
        shown = "; ".join(line for found in kinds for line in found[:3])
        more = "; ..." if len(skipped) > sum(min(len(found), 3) for found in kinds) else ""
        of = f" of {total:,}" if kinds[1] or kinds[2] else ""  # the files found; a folder's are not
        listed = counts[0] if len(counts) == 1 else f"{', '.join(counts[:-1])} and {counts[-1]}"
        parts.append(f"skipped {listed}{of} ({shown}{more})")
    if duplicates:
        names = ", ".join(duplicates[:3]) + (", ..." if len(duplicates) > 3 else "")
        plural = "s" if len(duplicates) != 1 else ""
        parts.append(f"skipped {len(duplicates):,} duplicate link{plural} to a folder or file "
                     f"already read ({names})")
    return "; ".join(parts) or None


def _bytes(count: int) -> str:
    return f"{count / 1e9:,.1f} GB" if count >= 1e8 else f"{count / 1e6:,.1f} MB" if count >= 1e5 \
        else f"{count:,} bytes"


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
