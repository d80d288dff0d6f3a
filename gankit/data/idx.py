"""Reading and writing IDX files (the MNIST / Fashion-MNIST format) and checking them.

An IDX file is a 4-byte magic number (two zero bytes, a dtype code, the number of dimensions), one
big-endian uint32 per dimension, then the payload. Both datasets store unsigned bytes (dtype code
0x08): images are 3-D (magic 2051 = 0x00000803), labels are 1-D (magic 2049 = 0x00000801). Files
may be gzip-compressed; compression is detected from the content, not from the file name.

Every problem a user can fix (a truncated download, an HTML error page saved under the file's name,
a wrong file) is raised as one :class:`~gankit.errors.DataError` that names the file.

Integrity policy (see :func:`read_verified_split`):

* A ``.gz`` file in the user's data root (or downloaded there by torchvision) must match the
  official MD5 in :data:`OFFICIAL_MD5`; on a mismatch the error names the file and the expected MD5
  and says to delete it or re-download.
* Uncompressed files cannot be compared with the official sums (those are sums of the ``.gz``
  files), so they are checked by structure and by the expected number of images (60,000 for the
  train split, 10,000 for the test split).
* Debian's ``dataset-fashion-mnist`` package ships *re-compressed* ``.gz`` files whose MD5 differs
  from the official one. They are trusted system files, so they too are checked by structure and
  count only.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import zlib
from pathlib import Path

import numpy as np
import torch

from gankit.errors import DataError

IMAGES_MAGIC = 0x00000803  # 2051: unsigned bytes, 3 dimensions (N, H, W)
LABELS_MAGIC = 0x00000801  # 2049: unsigned bytes, 1 dimension (N,)
_UBYTE_CODE = 0x08
_GZIP_SIGNATURE = b"\x1f\x8b"

# MD5 sums of the official .gz files, keyed by dataset then file name.
OFFICIAL_MD5: dict[str, dict[str, str]] = {
    "MNIST": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "Fashion-MNIST": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
}

# Recognisable starts of files that are commonly found where an IDX file was expected.
_FOREIGN_SIGNATURES = {
    b"\x89PNG": "a PNG image",
    b"<!DOCTYPE": "an HTML page (often a failed download)",
    b"<html": "an HTML page (often a failed download)",
    b"PK\x03\x04": "a zip archive",
    b"BZh": "a bzip2 archive",
    b"\xfd7zXZ": "an xz archive",
}


# ----------------------------------------------------------------------------------------- reading


def read_idx_images(path: str | Path) -> torch.Tensor:
    """Read an IDX image file (raw or gzip) as a uint8 tensor of shape (N, 1, H, W)."""
    path = Path(path)
    array = _read_idx(path, expected_magic=IMAGES_MAGIC, kind="image")
    return torch.from_numpy(array.copy()).unsqueeze(1)  # copy: frombuffer arrays are read-only


def read_idx_labels(path: str | Path, num_classes: int = 10) -> torch.Tensor:
    """Read an IDX label file (raw or gzip) as an int64 tensor of shape (N,), values in [0, num_classes)."""
    path = Path(path)
    array = _read_idx(path, expected_magic=LABELS_MAGIC, kind="label")
    if array.size and int(array.max()) >= num_classes:
        bad_index = int(np.argmax(array >= num_classes))
        raise DataError(
            f"Label file {path} holds label {int(array[bad_index])} at position {bad_index}, but "
            f"labels must be in 0..{num_classes - 1}; the file is not a {num_classes}-class label "
            f"file: delete it or re-download."
        )
    return torch.from_numpy(array.astype(np.int64))


def _read_idx(path: Path, *, expected_magic: int, kind: str) -> np.ndarray:
    """Read and validate one IDX file, returning its payload as a uint8 array of the header's shape."""
    data = _read_bytes(path)
    _check_magic(path, data, expected_magic, kind)
    ndim = data[3]
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise DataError(
            f"IDX {kind} file {path} is truncated: it has {len(data)} bytes, less than its "
            f"{header_size}-byte header; delete it or re-download."
        )
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected_payload = int(np.prod(shape, dtype=np.int64))
    payload = len(data) - header_size
    if payload != expected_payload:
        problem = "is truncated" if payload < expected_payload else "has trailing bytes"
        dims = " x ".join(str(d) for d in shape)
        raise DataError(
            f"IDX {kind} file {path} {problem}: its header promises {dims} = {expected_payload:,} "
            f"bytes of data but it holds {payload:,}; delete it or re-download."
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header_size).reshape(shape)


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when the content is gzip; errors become DataError."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"IDX file {path} does not exist; check the path or the data root.") from None
    except OSError as exc:  # a folder, no permission, an I/O error
        raise DataError(f"Cannot read IDX file {path} ({exc.strerror or exc}); check that it is a "
                        f"readable file.") from None
    if not data:
        raise DataError(f"IDX file {path} is empty (0 bytes), expected IDX data; delete it or "
                        f"re-download.")
    if data.startswith(_GZIP_SIGNATURE):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise DataError(
                f"Gzip file {path} is truncated or corrupt ({reason}); delete it or re-download."
            ) from None
        if not data:
            raise DataError(f"Gzip file {path} holds no data, expected IDX data; delete it or "
                            f"re-download.")
    return data


def _check_magic(path: Path, data: bytes, expected_magic: int, kind: str) -> None:
    expected = f"{expected_magic} (0x{expected_magic:08x}, an IDX {kind} file)"
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        what = next((name for sig, name in _FOREIGN_SIGNATURES.items() if data.startswith(sig)),
                    f"bytes {data[:4].hex(' ')}")
        raise DataError(f"{path} is not an IDX file: it starts with {what}, expected the magic "
                        f"number {expected}; replace it with the real IDX file.")
    magic = int.from_bytes(data[:4], "big")
    if magic == expected_magic:
        return
    if magic in (IMAGES_MAGIC, LABELS_MAGIC):  # the other kind of IDX file: names swapped?
        other = "image" if magic == IMAGES_MAGIC else "label"
        hint = f"it is an IDX {other} file; check that the file names are not swapped"
    elif data[2] != _UBYTE_CODE:
        hint = f"its data type code is 0x{data[2]:02x}, only unsigned bytes (0x08) are supported"
    else:
        hint = f"it has {data[3]} dimensions"
    raise DataError(f"IDX file {path} has magic number {magic} (0x{magic:08x}), expected "
                    f"{expected}: {hint}.")


# ----------------------------------------------------------------------------------------- writing


def write_idx(path: str | Path, array: np.ndarray | torch.Tensor) -> Path:
    """Write a uint8 array as an IDX file (gzip-compressed when ``path`` ends in ``.gz``).

    Images may be given as (N, H, W) or (N, 1, H, W); labels as (N,). Used by tests and benchmarks
    to make small synthetic datasets.
    """
    path = Path(path)
    if isinstance(array, torch.Tensor):
        array = array.detach().cpu().numpy()
    array = np.asarray(array)
    if array.ndim == 4 and array.shape[1] == 1:
        array = array[:, 0]  # IDX image files have no channel dimension
    if array.ndim not in (1, 3):
        raise ValueError(f"write_idx expects labels (N,) or images (N, H, W), got shape {array.shape}")
    if array.size and (array.min() < 0 or array.max() > 255):
        raise ValueError("write_idx expects values in 0..255")
    header = bytes([0, 0, _UBYTE_CODE, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    content = header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    if path.name.endswith(".gz"):
        content = gzip.compress(content, compresslevel=1)  # level 1: test fixtures stay fast
    path.write_bytes(content)
    return path


# ------------------------------------------------------------------------------------------ checks


def md5_of(path: str | Path) -> str:
    """The hex MD5 of a file's bytes (cached per path, size and modification time)."""
    path = Path(path)
    stat = path.stat()
    return _md5_cached(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=32)
def _md5_cached(path: str, size: int, mtime_ns: int) -> str:  # size/mtime: invalidate on change
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def official_dataset_of(path: str | Path) -> str | None:
    """Which dataset's official ``.gz`` file this is (by MD5), or None if it is none of them."""
    path = Path(path)
    if not path.name.endswith(".gz"):
        return None
    for dataset, sums in OFFICIAL_MD5.items():
        if sums.get(path.name) == md5_of(path):
            return dataset
    return None


def check_official_md5(path: str | Path, dataset: str) -> None:
    """Raise DataError unless ``path`` (an official ``.gz`` file name) has the official MD5.

    Files with other names (such as uncompressed files) are not checked here; see the module
    docstring for how those are verified.
    """
    path = Path(path)
    expected = OFFICIAL_MD5[dataset].get(path.name)
    if expected is None:
        return
    actual = md5_of(path)
    if actual != expected:
        raise DataError(
            f"{dataset} file {path} has MD5 {actual}, expected the official {expected}: the file "
            f"is corrupt, incomplete or from another dataset; delete it or re-download."
        )


def read_verified_split(
    images_path: Path,
    labels_path: Path,
    *,
    dataset: str,
    expected_count: int,
    image_hw: tuple[int, int],
    num_classes: int,
    check_md5: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Read an images/labels pair, applying the integrity policy in the module docstring.

    :param dataset: the key into :data:`OFFICIAL_MD5`, also used in messages.
    :param check_md5: False for trusted re-compressed files (Debian's), which are checked by
        structure and count only.
    """
    if check_md5:
        check_official_md5(images_path, dataset)
        check_official_md5(labels_path, dataset)
    images = read_idx_images(images_path)
    labels = read_idx_labels(labels_path, num_classes=num_classes)
    if tuple(images.shape[2:]) != tuple(image_hw):
        h, w = images.shape[2:]
        raise DataError(
            f"{dataset} image file {images_path} holds {h}x{w} images, expected "
            f"{image_hw[0]}x{image_hw[1]}; it is not a {dataset} file: replace it."
        )
    if len(images) != expected_count:
        raise DataError(
            f"{dataset} image file {images_path} holds {len(images):,} images, expected "
            f"{expected_count:,} for this split; it is a partial or different set: replace it "
            f"with the official file."
        )
    if len(labels) != len(images):
        raise DataError(
            f"{dataset} label file {labels_path} holds {len(labels):,} labels for "
            f"{len(images):,} images in {images_path.name}; the two files do not belong together: "
            f"replace them with the official pair."
        )
    return images, labels
