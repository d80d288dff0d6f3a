"""Reported faults of the CIFAR-10 and CelebA caches (gankit/data/cifar.py, celeba.py), one test
each: a cache file resealed with an image fewer was trusted (no expected count, as the image
folder had), and a read-only data root stopped the run with exit 74 (no in-memory fallback, as the
image folder had: gankit/data/cache_fallback.py). The sources are small fakes of torchvision's
layouts, made as tests/test_datasets_color.py makes them. bench/faults.py runs the same cases."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from gankit import GankitWarning
from gankit.cli import build_app
from gankit.data import celeba, cifar, decode
from gankit.registry import DataRequest


def sibling(name: str):
    """Another test file's module, for its helpers (--import-mode=importlib: not importable by name)."""
    spec = importlib.util.spec_from_file_location(f"helpers_of_{name}", Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fake_cifar, md5, write_images = (getattr(sibling("test_datasets_color"), name)
                                 for name in ("fake_cifar", "md5", "write_images"))
read_only = sibling("test_faults_folders").read_only


@pytest.fixture
def cifar10_root(tmp_path, monkeypatch):
    """A fake cifar-10-batches-py of 12 images a batch (60 train, 12 test), accepted as official."""
    root = tmp_path / "data"
    monkeypatch.setattr(cifar, "OFFICIAL_MD5", {**cifar.OFFICIAL_MD5, **fake_cifar(root)})
    monkeypatch.setattr(cifar, "SPLIT_SIZES", {"train": 60, "test": 12})
    return root


@pytest.fixture
def celeba_root(tmp_path, monkeypatch):
    """A fake celeba/ of 6 train faces and 2 test ones, its partition file accepted as official."""
    root = tmp_path / "data"
    folder = root / celeba.FOLDER
    write_images(folder / celeba.IMAGES, 8, size=(178, 218), suffix=".jpg")
    names = sorted(p.name for p in (folder / celeba.IMAGES).iterdir())
    (folder / celeba.PARTITION).write_text("".join(f"{n} {0 if i < 6 else 2}\n" for i, n in enumerate(names)))
    monkeypatch.setattr(celeba, "OFFICIAL_MD5", {celeba.PARTITION: md5(folder / celeba.PARTITION)})
    return root


def load(name: str, root):
    return (cifar.load_cifar10 if name == "cifar10" else celeba.load_celeba)(
        DataRequest(root=root, download=False))


@pytest.mark.parametrize("name, count", [("cifar10", 60), ("celeba", 6)])
def test_a_cache_file_resealed_with_an_image_fewer_is_decoded_again(name, count, request):
    root = request.getfixturevalue(f"{name}_root")
    first = load(name, root)
    images = first.images.clone()
    stored = dict(torch.load(first.cache_file, weights_only=True))
    short = {**stored, "images": stored["images"][1:]}
    if stored["labels"] is not None:
        short["labels"] = stored["labels"][1:]
    torch.save({**short, "checksum": decode.payload_checksum(short)}, first.cache_file)  # checksum fits
    decode._verified.clear()  # as a new process would, it hashes the file again
    with pytest.warns(GankitWarning, match=f"count {count - 1} where {count} is expected") as caught:
        again = load(name, root)
    assert len(caught) == 1 and "decoded into the cache" in again.source
    assert torch.equal(again.images, images)
    assert "read from the cache" in load(name, root).source


@pytest.mark.parametrize("name, count", [("cifar10", 60), ("celeba", 6)])
def test_a_read_only_data_root_decodes_in_memory_with_one_notice(name, count, request, monkeypatch):
    root = request.getfixturevalue(f"{name}_root")
    read_only(monkeypatch, root)
    data = load(name, root)
    assert len(data) == count and data.cache_file is None and "decoded in memory (not cached)" in data.source
    assert f"the data root {root} cannot be written (Read-only file system)" in data.notice
    assert "--data-root" in data.notice and not (root / "cache").exists()
    # Through the CLI the run gets past the load (it stopped with exit 74) to its next check.
    result = CliRunner().invoke(build_app(), ["train", "dcgan", "--dataset", name, "--data-root", str(root),
                                              "--batch-size", "100", "--no-progress", "--out",
                                              str(root.parent / "run")])
    assert result.exit_code == 2, result.output
    assert f"batch_size 100 is larger than the dataset ({count} images)" in " ".join(result.output.split())


def test_two_notices_join_into_one_sentence():
    """CelebA's short split and its in-memory fallback read "...not 162,770; the data root..."."""
    from gankit.data.cache_fallback import join_notices

    assert join_notices("CelebA train split has 10 images, not 162,770.", "the data root is read-only.") \
        == "CelebA train split has 10 images, not 162,770; the data root is read-only."
    assert join_notices(None, "only this.") == "only this." and join_notices(None, "") is None
