"""CIFAR-10 (Krizhevsky 2009): 3x32x32 colour images in 10 classes, from the data root.

Sources, in order:

1. ``<root>/cifar-10-batches-py/`` (torchvision's layout: the folder inside the official archive):
   ``data_batch_1`` ... ``data_batch_5`` for the train split, ``test_batch`` for the test split.
2. The official archive ``<root>/cifar-10-python.tar.gz``, extracted there once.
3. A torchvision download into ``<root>`` when ``request.download`` is true, every socket
   operation bounded by ``request.download_timeout``.
4. Otherwise one DataError saying where to put which files.

Every batch file must have the official MD5 (torchvision's list, :data:`OFFICIAL_MD5`), checked
*before* it is unpickled, so only the official files are ever unpickled. The decoded split is
cached under ``<root>/cache/`` keyed by the batch files' sizes and mtimes, so the MD5s are
computed again only when a file changes; a cache file must hold what the official files do (the
split's count, labelled 3x32x32 images), and a data root that cannot be written decodes in memory
with a notice (:mod:`gankit.data.cache_fallback`).
"""

from __future__ import annotations

import pickle
import tarfile
from pathlib import Path

from gankit.data.base import ImageData, download_with_torchvision, short_reason
from gankit.data.cache_fallback import cached_or_in_memory, join_notices, unwritable
from gankit.data.decode import cache_path, file_stamps, load_cache
from gankit.data.idx import md5_of
from gankit.errors import DataError
from gankit.registry import DataRequest

NAME = "CIFAR-10"
IMAGE_SHAPE = (3, 32, 32)
NUM_CLASSES = 10
CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
FOLDER = "cifar-10-batches-py"
ARCHIVE = "cifar-10-python.tar.gz"
URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
SPLIT_FILES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
SPLIT_SIZES = {"train": 50_000, "test": 10_000}
# The MD5 sums torchvision checks (torchvision.datasets.CIFAR10: tgz_md5, train_list, test_list).
OFFICIAL_MD5 = {
    ARCHIVE: "c58f30108f718f92721af3b95e74349a",
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
}


def load_cifar10(request: DataRequest) -> ImageData:
    """A split of CIFAR-10 from the data root (see the module docstring)."""
    root = Path(request.root).expanduser()
    if request.split not in SPLIT_FILES:
        raise DataError(f"Unknown data split '{request.split}', expected 'train' or 'test'.")
    folder = root / FOLDER
    files = [folder / name for name in SPLIT_FILES[request.split]]
    why = ""
    if not all(path.is_file() for path in files) and (root / ARCHIVE).is_file():
        _extract(root / ARCHIVE, root)
    if not all(path.is_file() for path in files):
        if request.download:
            failure = download_with_torchvision("CIFAR10", root, request.split, request.download_timeout)
            why = f"download failed: {failure}" if failure else ""
        else:
            why = "download disabled"
    missing = [path.name for path in files if not path.is_file()]
    if missing:
        raise DataError(
            f"CIFAR-10 {request.split} split not found: {', '.join(missing)} missing from {folder}"
            f"{f' ({why})' if why else ''}. Put the folder {FOLDER} from the official archive ({URL}) "
            f"in {root}, or the archive itself, or point --data-root / GANKIT_DATA_ROOT at the folder "
            "holding it.")
    return _read_split(files, root, request.split)


def _read_split(files: list[Path], root: Path, split: str) -> ImageData:
    import numpy as np
    import torch

    cache = cache_path(root, "cifar10", split, file_stamps(files, root))
    # What the MD5-checked files hold: a cache file must too (a resealed one an image short is refused).
    contents = load_cache(cache, {"count": SPLIT_SIZES[split], "channels": 3, "size": IMAGE_SHAPE[1],
                                  "labelled": True})
    how, cache_file, uncached = f"read from the cache {cache}", cache, None
    if contents is None:
        for path in files:
            check_md5(path)
        images, labels = [], []
        for path in files:
            batch = _unpickle(path)
            images.append(np.asarray(batch["data"], dtype=np.uint8).reshape(-1, *IMAGE_SHAPE))
            labels.extend(int(label) for label in batch["labels"])
        contents = {"images": torch.from_numpy(np.concatenate(images)),
                    "labels": torch.tensor(labels, dtype=torch.int64)}
        if len(contents["labels"]) != len(contents["images"]) \
                or not all(0 <= y < NUM_CLASSES for y in labels):
            raise DataError(f"The CIFAR-10 files in {files[0].parent} hold mismatched images and labels.")
        contents, uncached = cached_or_in_memory(cache, contents, unwritable(cache.parent))
        how = f"MD5s checked, decoded into the cache {cache}" if uncached is None else \
            "MD5s checked, decoded in memory (not cached)"
        cache_file = cache if uncached is None else None
    count = len(contents["images"])
    full = count == SPLIT_SIZES[split]
    short = None if full else f"{NAME} {split} split has {count:,} images, not {SPLIT_SIZES[split]:,}."
    return ImageData(contents["images"], contents["labels"],
                     source=f"{NAME} {split} split, {count:,} images, from {files[0].parent}; {how}",
                     notice=join_notices(short, uncached),
                     is_full=full, cache_file=cache_file)


def check_md5(path: Path) -> None:
    """Raise a DataError unless ``path`` has its official MD5."""
    expected = OFFICIAL_MD5.get(path.name)
    if expected is None:
        return
    actual = md5_of(path)
    if actual != expected:
        raise DataError(f"{path} is not the official CIFAR-10 file (MD5 {actual}, expected {expected}); "
                        f"delete it and put the files from {URL} there again.")


def _unpickle(path: Path) -> dict:
    with open(path, "rb") as file:
        batch = pickle.load(file, encoding="latin1")
    if not isinstance(batch, dict) or "data" not in batch or "labels" not in batch:
        raise DataError(f"{path} is not a CIFAR-10 batch (no 'data' and 'labels').")
    return batch


def _extract(archive: Path, root: Path) -> None:
    check_md5(archive)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = [m for m in tar.getmembers() if m.name.startswith(FOLDER + "/") and m.isfile()]
            if hasattr(tarfile, "data_filter"):  # Python 3.10.12+: refuse links and odd paths
                tar.extractall(root, members=members, filter="data")
            else:
                tar.extractall(root, members=[m for m in members if ".." not in m.name])
    except (OSError, tarfile.TarError) as error:
        raise DataError(f"Could not extract {archive}: {short_reason(error)}") from None
