"""Your own images: every png/jpg/jpeg/webp file under a folder, decoded once into a cache.

Two ways in:

* the registered dataset ``imagefolder`` (``--data-option path=DIR [size=N] [channels=1|3]
  [labels=auto|folders|none]``): every image under DIR, sub-folders included. When DIR holds only
  sub-folders (no images of its own), they are classes as in torchvision's ``ImageFolder`` (the
  sorted sub-folder names, label ``i`` for the i-th) and the loaded data carries their count
  (``ImageData.num_classes``), so conditional variants (cgan) train on it directly;
* :func:`folder_dataset` for a plugin (or a ``--plugins-dir`` file): the same for one fixed folder
  under a name of its own, its classes counted when the plugin registers it.

Each image is converted to RGB (or greyscale with ``channels=1``); with ``size=N`` it is
centre-cropped to a square and resized to NxN, else all images must share one size. The result is
cached under ``<data root>/cache/`` (see :mod:`gankit.data.decode`). Importing this module does not
import torch, so a plugin may call :func:`folder_dataset` at registration.
"""

from __future__ import annotations

import os
from pathlib import Path
from gankit.data.base import ImageData
from gankit.data.decode import (EXTENSIONS, cache_path, decode_files, file_stamps, load_cache,
                                save_and_map, scratch_removed, skipped_notice)
from gankit.errors import DataError
from gankit.registry import DataRequest, DatasetSpec

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


def image_files(folder: Path) -> list[Path]:
    """Every image file under ``folder``, sorted, hidden files and folders skipped."""
    found = []
    for parent, dirs, files in os.walk(folder, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(Path(parent) / name for name in sorted(files)
                     if not name.startswith(".") and name.lower().endswith(EXTENSIONS))
    return found


def load_folder(folder: Path, *, root: Path, size: int | None, channels: int, labelled: bool,
                expected_classes: list[str] | None = None) -> ImageData:
    """Decode (or read from the cache) the images under ``folder``; see the module docstring."""
    import torch

    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise DataError(f"Image folder {folder} does not exist (or is not a folder).")
    folder = folder.resolve()
    files, labels, classes = _scan(folder, labelled)
    if expected_classes is not None and classes != expected_classes:
        raise DataError(f"The class sub-folders of {folder} changed since the dataset was registered "
                        f"({len(expected_classes)} then, {len(classes)} now); restart gankit.")
    if not files:
        kinds = ", ".join(ext.lstrip(".") for ext in EXTENSIONS)
        where = "in its class sub-folders" if labelled else "in it or its sub-folders"
        raise DataError(f"No images ({kinds}) found in {folder} {where}.")
    options = {"size": size, "channels": channels, "labelled": labelled}
    cache = cache_path(root, "imagefolder", [str(folder), labelled],
                       [options, file_stamps(files, folder), labels])
    contents = load_cache(cache)
    how = f"read from the cache {cache}"
    if contents is None:
        with scratch_removed(cache.with_suffix(".decoding.npy")) as scratch:  # big folders decode on disk
            array, kept, skipped = decode_files(files, size=size, channels=channels, base=folder,
                                                scratch=scratch)
            if not kept:
                raise DataError(f"None of the {len(files):,} image files in {folder} could be read "
                                f"({skipped_notice(skipped, len(files))}).")
            contents = save_and_map(cache, {
                "images": torch.from_numpy(array), "skipped": skipped, "classes": classes,
                "labels": torch.tensor([labels[i] for i in kept], dtype=torch.int64) if labels else None})
            del array
        how = f"decoded into the cache {cache}"
    images, skipped = contents["images"], list(contents["skipped"])
    shape = "x".join(map(str, images.shape[1:]))
    source = f"{len(images):,} images ({shape}) from {folder}"
    if labelled:
        source += f", {len(classes)} classes from its sub-folders"
    elif classes:
        source += f" (unlabelled: its {len(classes)} sub-folders are not used as labels)"
    return ImageData(images, contents["labels"], source=f"{source}; {how}",
                     notice=skipped_notice(skipped, len(files)), is_full=not skipped,
                     num_classes=len(classes) if labelled else None, cache_file=cache)


def _scan(folder: Path, labelled: bool) -> tuple[list[Path], list[int] | None, list[str]]:
    classes = class_folders(folder)
    if not labelled:
        return image_files(folder), None, classes
    files: list[Path] = []
    labels: list[int] = []
    for label, name in enumerate(classes):
        found = image_files(folder / name)
        if not found:
            raise DataError(f"Class folder {folder / name} holds no images; remove it, add some, "
                            "or pass --data-option labels=none.")
        files.extend(found)
        labels.extend([label] * len(found))
    return files, labels, classes

