"""Fashion-MNIST (Zalando), found offline first.

Sources, in order (the first that works wins):

1. IDX files in the data root: ``<root>/FashionMNIST/raw`` (torchvision's layout),
   ``<root>/fashion-mnist`` or ``<root>``; ``.gz`` files must have the official MD5.
2. Debian's ``dataset-fashion-mnist`` package, :data:`DEBIAN_DIR`. Its ``.gz`` files are
   re-compressed (their MD5 is not the official one), so they are checked by structure and count.
3. A torchvision download into ``<root>/FashionMNIST/raw``, if ``request.download`` is true and no
   download failed in the last day (``<root>/.download-failed-fashion-mnist``;
   ``GANKIT_RETRY_DOWNLOAD=1`` tries anyway), bounded by ``request.download_timeout`` per socket
   operation.
4. Otherwise a DataError naming both fixes. There is no bundled subset to fall back to, so
   ``request.require_full`` changes nothing here.
"""

from __future__ import annotations

from pathlib import Path

from gankit.data.base import (
    SPLIT_SIZES,
    ImageData,
    describe_split,
    download_unless_failed_lately,
    find_split_files,
    split_file_names,
)
from gankit.data.idx import official_dataset_of, read_verified_split
from gankit.errors import DataError
from gankit.registry import DataRequest

NAME = "Fashion-MNIST"
IMAGE_SHAPE = (1, 28, 28)
NUM_CLASSES = 10
CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
TORCHVISION_CLASS = "FashionMNIST"  # also the folder torchvision downloads into
# Where `apt-get install dataset-fashion-mnist` puts the files; module-level so tests can replace it.
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")


def raw_folder(root: Path) -> Path:
    """torchvision's folder for the Fashion-MNIST files, the one we tell users to fill."""
    return root / TORCHVISION_CLASS / "raw"


def search_folders(root: Path) -> list[Path]:
    return [raw_folder(root), root / "fashion-mnist", root]


def load_fashion_mnist(request: DataRequest) -> ImageData:
    """Load a split of Fashion-MNIST from the first source that has it (see the module docstring)."""
    root = Path(request.root).expanduser()
    split = request.split
    split_file_names(split)  # rejects an unknown split before any search or download

    found = find_split_files(search_folders(root), split, skip=_is_other_dataset)
    if found:
        return _from_files(found, split, f"IDX files in {found[0].parent}", check_md5=True)

    found = find_split_files([DEBIAN_DIR], split)
    if found:
        return _from_files(found, split, f"Debian dataset-fashion-mnist package in {DEBIAN_DIR}",
                           check_md5=False)

    why = "download disabled"
    if request.download:
        why = download_unless_failed_lately(TORCHVISION_CLASS, root, split, request.download_timeout,
                                            "fashion-mnist")
        if why is None:
            found = find_split_files([raw_folder(root)], split)
            if found:
                return _from_files(found, split,
                                   f"IDX files downloaded by torchvision to {found[0].parent}",
                                   check_md5=True)
            why = f"download failed: torchvision reported success but the files are not in {raw_folder(root)}"

    images_name, labels_name = split_file_names(split)
    raise DataError(
        f"Fashion-MNIST {split} split not found in {raw_folder(root)}, {root / 'fashion-mnist'}, "
        f"{root} or {DEBIAN_DIR} ({why}): put {images_name}.gz and {labels_name}.gz in "
        f"{raw_folder(root)} (or point --data-root / GANKIT_DATA_ROOT at a folder holding them), "
        f"or run `apt-get install dataset-fashion-mnist`."
    )


def _is_other_dataset(path: Path) -> bool:
    """Whether a file is, by MD5, another dataset's official file (the file names are shared)."""
    owner = official_dataset_of(path)
    return owner is not None and owner != NAME


def _from_files(found: tuple[Path, Path], split: str, where: str, *, check_md5: bool) -> ImageData:
    images, labels = read_verified_split(
        *found,
        dataset=NAME,
        expected_count=SPLIT_SIZES[split],
        image_hw=IMAGE_SHAPE[1:],
        num_classes=NUM_CLASSES,
        check_md5=check_md5,
    )
    return ImageData(images, labels, source=f"{where} ({describe_split(NAME, split)})", is_full=True)
