"""Your own images: every png/jpg/jpeg/webp file under a folder, decoded once into a cache.

Two ways in:

* the registered dataset ``imagefolder`` (``--data-option path=DIR [size=N] [channels=1|3]
  [labels=auto|folders|none]``): every image under DIR, sub-folders included. When DIR holds only
  sub-folders (no images of its own), they are classes as in torchvision's ``ImageFolder`` (the
  sorted sub-folder names, label ``i`` for the i-th) and the loaded data carries their count
  (``ImageData.num_classes``), so conditional variants (cgan) train on it directly;
* :func:`folder_dataset` for a plugin (or a ``--plugins-dir`` file): the same for one fixed folder
  under a name of its own, its classes counted when the plugin registers it.

Each image is converted to RGB (or greyscale with ``channels=1``; 16-bit greyscale is scaled, not
clipped); with ``size=N`` (4 to :data:`MAX_SIZE`) it is centre-cropped to a square and resized to
NxN, else all images must share one size. The scan visits each real folder and file once, however
many symlinks reach it (a link loop ends; the duplicates are counted), and one notice line counts
and names what was skipped: unreadable folders, unreadable files, images over the pixel limit. The
result is cached under ``<data root>/cache/`` (see :mod:`gankit.data.decode`); a data root that
cannot be written decodes in memory instead, with a notice. Importing this module does not import
torch, so a plugin may call :func:`folder_dataset` at registration.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gankit.data.base import ImageData
from gankit.data.cache_fallback import cached_or_in_memory, unwritable
from gankit.data.decode import (EXTENSIONS, cache_path, decode_files, file_stamps, load_cache,
                                scratch_removed, skipped_notice)
from gankit.errors import DataError
from gankit.registry import DataRequest, DatasetSpec

# The largest side --data-option size takes: StyleGAN's 1024x1024 (3 MB an RGB image decoded, 3 GB
# per 1,000 images). A side of 100,000 was 30 GB an image and a 1.2 TB scratch file for 40 images.
MAX_SIZE = 1024

OPTIONS = {
    "path": "the folder of images (required); png, jpg, jpeg and webp files, sub-folders included",
    "size": "centre-crop and resize every image to SIZExSIZE (needed when the images differ in size)",
    "channels": "3 for RGB (default) or 1 for greyscale",
    "labels": "auto (default: class sub-folders are labels when DIR holds no images of its own), "
              "folders (require them) or none (unlabelled)",
}


def load_imagefolder(request: DataRequest) -> ImageData:
    """The ``imagefolder`` dataset: every image under ``request.options['path']``, labelled by
    class sub-folder as ``labels`` says (see the module docstring)."""
    options = dict(request.options)
    if not options.get("path"):
        raise DataError("Dataset 'imagefolder' needs the folder of images: --data-option path=DIR.")
    size, channels = parse_size(options.get("size")), parse_channels(options.get("channels"))
    folder = Path(options["path"]).expanduser()
    return load_folder(folder, root=request.root, size=size, channels=channels,
                       labelled=wants_labels(folder, options.get("labels") or "auto"))


def wants_labels(folder: Path, mode: str) -> bool:
    """Whether the class sub-folders of ``folder`` give labels, for ``--data-option labels=MODE``."""
    if mode not in ("auto", "folders", "none"):
        raise DataError(f"--data-option labels={mode}: expected auto, folders or none.")
    if mode == "none" or not folder.is_dir():
        return False  # a missing folder is reported by load_folder
    classes = class_folders(folder)
    if mode == "folders" and not classes:
        raise DataError(f"--data-option labels=folders: {folder} has no class sub-folders.")
    return bool(classes) and (mode == "folders" or not _has_own_images(folder))


def _has_own_images(folder: Path) -> bool:
    return any(entry.is_file() and not entry.name.startswith(".") and entry.name.lower().endswith(EXTENSIONS)
               for entry in os.scandir(folder))


def folder_dataset(name: str, path: str | Path, *, size: int | None = None, channels: int = 3,
                   summary: str | None = None) -> DatasetSpec:
    """A :class:`gankit.DatasetSpec` of the images under ``path``, labelled by class sub-folder when
    it has any (``num_classes`` is their count, read now), for ``register(...)`` in a plugin.

    ``--data-option size=N`` / ``channels=C`` override ``size`` and ``channels`` per run.
    """
    folder = Path(path).expanduser()
    classes = class_folders(folder) if folder.is_dir() else []
    labelled = bool(classes)

    def load(request: DataRequest) -> ImageData:
        options = dict(request.options)
        chosen_size = parse_size(options["size"]) if options.get("size") else size
        return load_folder(folder, root=request.root, size=chosen_size,
                           channels=parse_channels(options.get("channels", str(channels))),
                           labelled=labelled, expected_classes=classes if labelled else None)

    what = f"{len(classes)} classes" if labelled else "unlabelled"
    return DatasetSpec(name, summary or f"images under {folder} ({what})", None,
                       len(classes) if labelled else None, load,
                       options={key: OPTIONS[key] for key in ("size", "channels")})


def parse_size(text: str | None) -> int | None:
    if text is None or text == "":
        return None
    try:
        size = int(text)
    except ValueError:
        size = 0
    if size < 4:
        raise DataError(f"--data-option size={text}: expected a whole number of pixels, at least 4.")
    if size > MAX_SIZE:
        raise DataError(f"--data-option size={text} is too large: at most {MAX_SIZE} pixels a side (a "
                        f"{size:,}x{size:,} RGB image is {3 * size * size / 1e9:,.1f} GB decoded); pass "
                        f"a size from 4 to {MAX_SIZE}, e.g. size=64.")
    return size


def parse_channels(text: str | None) -> int:
    if text in (None, "", "3"):
        return 3
    if text == "1":
        return 1
    raise DataError(f"--data-option channels={text}: expected 1 (greyscale) or 3 (RGB).")


def class_folders(folder: Path) -> list[str]:
    """The class names of ``folder``: its sub-folders, sorted (hidden ones skipped)."""
    return sorted(entry.name for entry in os.scandir(folder)
                  if entry.is_dir() and not entry.name.startswith("."))


def image_files(folder: Path, base: Path | None = None, skipped: list[str] | None = None,
                duplicates: list[str] | None = None) -> list[Path]:
    """Every image file under ``folder``, sorted (a folder's files, then each sub-folder's, by name),
    hidden files and folders skipped. Each real folder and file is read once however many symlinks
    reach it (a loop ends; the links not followed go to ``duplicates``); a folder that cannot be
    listed and an image name that is no readable file go to ``skipped`` ("sub/: PermissionError",
    "a.png: broken link"). Both name paths relative to ``base`` (default ``folder``)."""
    base = Path(base or folder)
    skipped = [] if skipped is None else skipped
    duplicates = [] if duplicates is None else duplicates
    found: list[Path] = []
    seen: set[str] = set()  # the real paths read: a file not a link is its real folder's, plus its name
    pending = [Path(folder)]
    while pending:
        current = pending.pop()
        real_current = os.path.realpath(current)
        if real_current in seen:
            duplicates.append(current.relative_to(base).as_posix())
            continue
        seen.add(real_current)
        try:
            with os.scandir(current) as listing:
                entries = sorted((e for e in listing if not e.name.startswith(".")), key=lambda e: e.name)
        except OSError as error:
            skipped.append(f"{current.relative_to(base).as_posix()}/: {type(error).__name__}")
            continue
        folders = []
        for entry in entries:
            path, kind = Path(entry.path), _kind(entry)
            is_image = entry.name.lower().endswith(EXTENSIONS)
            real = os.path.realpath(path) if entry.is_symlink() else os.path.join(real_current, entry.name)
            if kind == "folder":
                folders.append(path)
            elif kind == "file" and is_image and real in seen:
                duplicates.append(path.relative_to(base).as_posix())
            elif kind == "file" and is_image:
                seen.add(real)
                found.append(path)
            elif kind not in ("file", "not a file", "broken link") or is_image:  # an error: always said
                skipped.append(f"{path.relative_to(base).as_posix()}: {kind}")
        pending.extend(reversed(folders))
    return found


def _kind(entry: os.DirEntry) -> str:
    """"folder" or "file" (links followed), "broken link", "not a file", or the error's name."""
    try:
        if entry.is_dir():
            return "folder"
        if entry.is_file():
            return "file"
        entry.stat()  # follows a link: raises for a broken one
        return "not a file"
    except FileNotFoundError:
        return "broken link"
    except OSError as error:
        return type(error).__name__


@dataclass
class _Scan:
    """What a folder's scan found: the image files (and their labels), the class sub-folders, what
    was skipped (folders and files, as ``"path: reason"``) and the duplicate links not followed."""

    files: list[Path]
    labels: list[int] | None
    classes: list[str]
    skipped: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)


def load_folder(folder: Path, *, root: Path, size: int | None, channels: int, labelled: bool,
                expected_classes: list[str] | None = None) -> ImageData:
    """Decode (or read from the cache) the images under ``folder``; see the module docstring."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise DataError(f"Image folder {folder} does not exist (or is not a folder).")
    folder = folder.resolve()
    scan = _scan(folder, labelled)
    if expected_classes is not None and scan.classes != expected_classes:
        raise DataError(f"The class sub-folders of {folder} changed since the dataset was registered "
                        f"({len(expected_classes)} then, {len(scan.classes)} now); restart gankit.")
    if not scan.files:
        kinds = ", ".join(ext.lstrip(".") for ext in EXTENSIONS)
        where = "in its class sub-folders" if labelled else "in it or its sub-folders"
        notice = skipped_notice(scan.skipped, 0, scan.duplicates)
        raise DataError(f"No images ({kinds}) found in {folder} {where}{f'; {notice}' if notice else ''}.")
    options = {"size": size, "channels": channels, "labelled": labelled}
    cache = cache_path(root, "imagefolder", [str(folder), labelled],
                       [options, file_stamps(scan.files, folder, status=True), scan.labels])
    contents = load_cache(cache, {"count": len(scan.files), "channels": channels, "size": size,
                                  "classes": scan.classes, "labelled": labelled})
    how, cache_file, unwritable = f"read from the cache {cache}", cache, None
    if contents is None:
        contents, unwritable = _decode(folder, scan, cache, size, channels)
        how = f"decoded into the cache {cache}" if unwritable is None else "decoded in memory (not cached)"
        cache_file = cache if unwritable is None else None
    images, skipped = contents["images"], [*scan.skipped, *contents["skipped"]]
    shape = "x".join(map(str, images.shape[1:]))
    source = f"{len(images):,} images ({shape}) from {folder}"
    if labelled:
        source += f", {len(scan.classes)} classes from its sub-folders"
    elif scan.classes:
        source += f" (unlabelled: its {len(scan.classes)} sub-folders are not used as labels)"
    notices = [skipped_notice(skipped, len(scan.files), scan.duplicates), unwritable]
    return ImageData(images, contents["labels"], source=f"{source}; {how}",
                     notice="; ".join(line for line in notices if line) or None, is_full=not skipped,
                     num_classes=len(scan.classes) if labelled else None, cache_file=cache_file)


def _decode(folder: Path, scan: _Scan, cache: Path, size: int | None,
            channels: int) -> tuple[dict[str, Any], str | None]:
    """Decode the scanned files into the cache: (its contents, memory-mapped from it; None), or,
    when the cache cannot be written, (the contents in memory; a notice line saying so)."""
    import torch

    refused = unwritable(cache.parent)
    with scratch_removed(cache.with_suffix(".decoding.npy")) as scratch:  # big folders decode on disk
        array, kept, skipped = decode_files(scan.files, size=size, channels=channels, base=folder,
                                            scratch=None if refused else scratch)
        if not kept:
            raise DataError(f"None of the {len(scan.files):,} image files in {folder} could be read "
                            f"({skipped_notice([*scan.skipped, *skipped], len(scan.files))}).")
        labels = None if scan.labels is None else torch.tensor([scan.labels[i] for i in kept])
        contents = {"images": torch.from_numpy(array), "skipped": skipped, "classes": scan.classes,
                    "labels": labels}
        contents, notice = cached_or_in_memory(cache, contents, refused)
        del array
    return contents, notice


def _scan(folder: Path, labelled: bool) -> _Scan:
    classes = class_folders(folder)
    scan = _Scan([], [] if labelled else None, classes)
    if not labelled:
        scan.files = image_files(folder, folder, scan.skipped, scan.duplicates)
        return scan
    for label, name in enumerate(classes):
        found = image_files(folder / name, folder, scan.skipped, scan.duplicates)
        if not found:
            unreadable = [line.rpartition(": ")[2] for line in scan.skipped if line.startswith(f"{name}/: ")]
            if unreadable:
                raise DataError(f"Class folder {folder / name} cannot be read ({unreadable[0]}); fix its "
                                "permissions, remove it, or pass --data-option labels=none.")
            raise DataError(f"Class folder {folder / name} holds no images; remove it, add some, "
                            "or pass --data-option labels=none.")
        scan.files.extend(found)
        scan.labels.extend([label] * len(found))
    return scan
