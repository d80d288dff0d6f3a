"""CelebA (Liu et al. 2015) at 64x64, unlabelled: the aligned faces, as DCGAN trained on them.

Files, in torchvision's layout under the data root::

    <root>/celeba/img_align_celeba/000001.jpg ... 202599.jpg   (or img_align_celeba.zip, extracted once)
    <root>/celeba/list_eval_partition.txt                     ("000001.jpg 0" per line)

The partition file picks the split (0 = train, 162,770 faces; 2 = test, 19,962) and must have its
official MD5 (torchvision's list, :data:`OFFICIAL_MD5`), as must the zip when one is extracted.
Each 178x218 face is centre-cropped to 178x178 and resized to 64x64 (bicubic), the usual DCGAN
preprocessing. A torchvision download is tried when the files are absent and ``request.download``
is true (Google Drive often refuses it; the error says so). The decoded split is cached under
``<root>/cache/`` keyed by the partition file and the image folder's modification time; a cache
file must account for every face the partition lists (decoded or skipped), and a data root that
cannot be written decodes in memory with a notice (:mod:`gankit.data.cache_fallback`).
"""

from __future__ import annotations

import socket
import zipfile
from pathlib import Path

from gankit.data.base import ImageData, short_reason
from gankit.data.cache_fallback import cached_or_in_memory, join_notices, unwritable
from gankit.data.decode import (cache_path, decode_files, file_stamps, load_cache, scratch_removed,
                                skipped_notice)
from gankit.data.idx import md5_of
from gankit.errors import DataError
from gankit.registry import DataRequest

NAME = "CelebA"
SIZE = 64
CROP = 178
IMAGE_SHAPE = (3, SIZE, SIZE)
FOLDER = "celeba"
IMAGES = "img_align_celeba"
PARTITION = "list_eval_partition.txt"
ZIP = "img_align_celeba.zip"
SPLITS = {"train": "0", "test": "2"}
SPLIT_SIZES = {"train": 162_770, "test": 19_962}
# From torchvision.datasets.CelebA.file_list.
OFFICIAL_MD5 = {PARTITION: "d32c9cbf5e040fd4025c592c306e6668", ZIP: "00d2c5bc6d35e252742224ab0c1e8fcb"}


def load_celeba(request: DataRequest) -> ImageData:
    """A split of CelebA at 64x64 (see the module docstring)."""
    root = Path(request.root).expanduser()
    if request.split not in SPLITS:
        raise DataError(f"Unknown data split '{request.split}', expected 'train' or 'test'.")
    folder = root / FOLDER
    if not (folder / IMAGES).is_dir() and (folder / ZIP).is_file():
        _extract(folder / ZIP, folder)
    why = ""
    if not _present(folder):
        why = _download(root, request.download_timeout) if request.download else "download disabled"
    if not _present(folder):
        raise DataError(
            f"CelebA not found in {folder}{f' ({why})' if why else ''}: put the aligned faces in "
            f"{folder / IMAGES}/ (or {ZIP} in {folder}) and {PARTITION} in {folder}, both from "
            "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html, or point --data-root / "
            "GANKIT_DATA_ROOT at the folder holding celeba/.")
    return _read_split(folder, root, request.split)


def _present(folder: Path) -> bool:
    return (folder / IMAGES).is_dir() and (folder / PARTITION).is_file()


def _read_split(folder: Path, root: Path, split: str) -> ImageData:
    import torch

    partition = folder / PARTITION
    check_md5(partition)
    names = [line.split()[0] for line in partition.read_text().splitlines()
             if len(line.split()) == 2 and line.split()[1] == SPLITS[split]]
    if not names:
        raise DataError(f"{partition} lists no images for the {split} split.")
    images_dir = folder / IMAGES
    key = [split, SIZE, CROP, file_stamps([partition], folder), images_dir.stat().st_mtime_ns]
    cache = cache_path(root, "celeba64", [str(folder.resolve()), split], key)
    # Each name the partition lists is a face decoded or a file skipped: a cache file must say so.
    contents = load_cache(cache, {"count": len(names), "channels": 3, "size": SIZE, "labelled": False})
    how, cache_file, uncached = f"read from the cache {cache}", cache, None
    if contents is None:
        refused = unwritable(cache.parent)  # then no scratch file beside it: decoded in memory
        with scratch_removed(cache.with_suffix(".decoding.npy")) as scratch:  # 2 GB: decoded on disk
            array, _, skipped = decode_files([images_dir / name for name in names], size=SIZE, channels=3,
                                             base=folder, crop=CROP, what="CelebA faces",
                                             scratch=None if refused else scratch)
            if len(array) == 0:
                raise DataError(f"None of the {len(names):,} CelebA {split} images in {images_dir} "
                                f"could be read ({skipped_notice(skipped, len(names))}).")
            contents, uncached = cached_or_in_memory(cache, {"images": torch.from_numpy(array),
                                                             "skipped": skipped}, refused)
            del array  # the scratch file's mapping: the cache file's replaces it
        how = f"decoded into the cache {cache}" if uncached is None else "decoded in memory (not cached)"
        cache_file = cache if uncached is None else None
    images, skipped = contents["images"], list(contents["skipped"])
    full = not skipped and len(images) == SPLIT_SIZES[split]
    notice = skipped_notice(skipped, len(names))
    if not full and not notice:
        notice = f"{NAME} {split} split has {len(images):,} images, not {SPLIT_SIZES[split]:,}."
    notice = join_notices(notice, uncached)
    return ImageData(images, None, notice=notice, is_full=full, cache_file=cache_file,
                     source=f"{NAME} {split} split, {len(images):,} faces centre-cropped to "
                            f"{CROP}x{CROP} and resized to {SIZE}x{SIZE}, from {images_dir}; {how}")


def check_md5(path: Path) -> None:
    expected = OFFICIAL_MD5.get(path.name)
    actual = md5_of(path)
    if expected is not None and actual != expected:
        raise DataError(f"{path} is not the official CelebA file (MD5 {actual}, expected {expected}); "
                        "replace it with the one from the CelebA site.")


def _extract(archive: Path, folder: Path) -> None:
    check_md5(archive)
    try:
        with zipfile.ZipFile(archive) as opened:
            opened.extractall(folder)
    except (OSError, zipfile.BadZipFile) as error:
        raise DataError(f"Could not extract {archive}: {short_reason(error)}") from None


def _download(root: Path, timeout: float) -> str:
    """Let torchvision download CelebA into ``root/celeba``; '' on success, else why not."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:
        import torchvision.datasets

        torchvision.datasets.CelebA(str(root), split="all", download=True)
    except Exception as exc:  # noqa: BLE001 - a failed download only means "put the files there"
        return f"download failed: {short_reason(exc)}"
    finally:
        socket.setdefaulttimeout(previous)
    return ""
