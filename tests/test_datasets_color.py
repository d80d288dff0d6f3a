"""Colour datasets: a folder of your own images (imagefolder, folder_dataset), CIFAR-10 and CelebA
from small fakes of torchvision's layouts, the decode cache, and training dcgan / cgan on them
through the CLI."""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from gankit.cli import build_app
from gankit.data import celeba, cifar
from gankit.data.imagefolder import load_folder
from gankit.errors import DataError
from gankit.host import get_host
from gankit.registry import DataRequest
from gankit.testing import check_dataset


def write_images(folder: Path, count: int, size=(40, 36), seed=0, suffix=".png") -> list[Path]:
    """``count`` small RGB images: a coloured square on a coloured background."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for index in range(count):
        width, height = size
        pixels = np.empty((height, width, 3), dtype=np.uint8)
        pixels[:] = rng.integers(0, 256, 3, dtype=np.uint8)
        x, y = rng.integers(0, width // 2), rng.integers(0, height // 2)
        pixels[y:y + height // 2, x:x + width // 2] = rng.integers(0, 256, 3, dtype=np.uint8)
        path = folder / f"img_{index:04d}{suffix}"
        Image.fromarray(pixels).save(path)
        paths.append(path)
    return paths


def cli(*args: str, host=None):
    result = CliRunner().invoke(build_app(host), list(args))
    return result


def test_a_folder_of_pngs_trains_dcgan_for_an_epoch_and_samples_colour(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_DATA_ROOT", str(tmp_path / "data"))
    write_images(tmp_path / "pictures", 256)
    run = tmp_path / "run"
    result = cli("train", "dcgan", "--dataset", "imagefolder", "--data-option", f"path={tmp_path / 'pictures'}",
                 "--data-option", "size=32", "--epochs", "1", "--batch-size", "64", "--no-progress",
                 "--set", "g_features=8", "--set", "d_features=8", "--out", str(run))
    assert result.exit_code == 0, result.output
    assert "256 images (3x32x32)" in result.output
    out = tmp_path / "samples.png"
    result = cli("sample", str(run), "--n", "4", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert Image.open(out).mode == "RGB"
    tensor_out = tmp_path / "samples.pt"
    assert cli("sample", str(run), "--n", "4", "--out", str(tensor_out)).exit_code == 0
    import torch

    assert tuple(torch.load(tensor_out).shape) == (4, 3, 32, 32)


def test_class_sub_folders_train_cgan_through_folder_dataset(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_DATA_ROOT", str(tmp_path / "data"))
    for label, name in enumerate(("circles", "squares", "triangles")):
        write_images(tmp_path / "shapes" / name, 40, size=(20, 20), seed=label)
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "shapes.py").write_text(
        "from gankit import hookimpl\nfrom gankit.data import folder_dataset\n\n\n@hookimpl\n"
        f"def gankit_register_datasets(register):\n    register(folder_dataset('shapes', {str(tmp_path / 'shapes')!r}, size=16))\n")
    host = get_host(plugins)
    assert host.datasets.get("shapes").num_classes == 3
    data = check_dataset("shapes", host=host, root=tmp_path / "data", min_images=120)
    assert data.labels.bincount().tolist() == [40, 40, 40] and tuple(data.images.shape[1:]) == (3, 16, 16)
    run = tmp_path / "run"
    result = cli("train", "cgan", "--dataset", "shapes", "--epochs", "1", "--batch-size", "40", "--no-progress",
                 "--set", "arch=mlp", "--out", str(run), host=host)
    assert result.exit_code == 0, result.output
    assert "3 classes from its sub-folders" in result.output
    result = cli("sample", str(run), "--n", "3", "--labels", "0-2", "--out", str(tmp_path / "s.png"), host=host)
    assert result.exit_code == 0, result.output


def test_imagefolder_labels_come_from_class_sub_folders_unless_the_folder_has_images_of_its_own(tmp_path):
    for name in ("a", "b"):
        write_images(tmp_path / "pics" / name, 5, size=(12, 12))
    data = check_dataset("imagefolder", root=tmp_path / "data", options={"path": str(tmp_path / "pics")})
    assert data.labels.tolist() == [0] * 5 + [1] * 5 and data.num_classes == 2
    assert tuple(data.images.shape) == (10, 3, 12, 12) and "2 classes from its sub-folders" in data.source
    plain = check_dataset("imagefolder", root=tmp_path / "data",
                          options={"path": str(tmp_path / "pics"), "labels": "none"})
    assert plain.labels is None and plain.num_classes is None
    assert "unlabelled: its 2 sub-folders are not used as labels" in plain.source
    grey = check_dataset("imagefolder", root=tmp_path / "data",
                         options={"path": str(tmp_path / "pics"), "size": "8", "channels": "1"})
    assert tuple(grey.images.shape) == (10, 1, 8, 8)
    write_images(tmp_path / "pics", 2, size=(12, 12), seed=5)  # images of its own: not a class layout
    mixed = check_dataset("imagefolder", root=tmp_path / "data", options={"path": str(tmp_path / "pics")})
    assert mixed.labels is None and len(mixed) == 12
    forced = check_dataset("imagefolder", root=tmp_path / "data",
                           options={"path": str(tmp_path / "pics"), "labels": "folders"})
    assert forced.labels.tolist() == [0] * 5 + [1] * 5  # the top-level images are not in a class
    with pytest.raises(DataError, match="labels=maybe: expected auto, folders or none"):
        check_dataset("imagefolder", root=tmp_path / "data", options={"path": str(tmp_path / "pics"),
                                                                      "labels": "maybe"})


def test_class_sub_folders_train_cgan_through_the_imagefolder_dataset(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_DATA_ROOT", str(tmp_path / "data"))
    for label, name in enumerate(("circles", "squares", "triangles")):
        write_images(tmp_path / "shapes" / name, 100, size=(20, 20), seed=label)
    run = tmp_path / "run"
    result = cli("train", "cgan", "--dataset", "imagefolder", "--data-option", f"path={tmp_path / 'shapes'}",
                 "--data-option", "size=16", "--epochs", "1", "--batch-size", "50", "--no-progress",
                 "--set", "g_features=8", "--set", "d_features=8", "--out", str(run))
    assert result.exit_code == 0, result.output
    assert "300 images (3x16x16)" in result.output and "3 classes from its sub-folders" in result.output
    out = tmp_path / "per_class.pt"
    result = cli("sample", str(run), "--n", "6", "--labels", "0-2", "--out", str(out))
    assert result.exit_code == 0, result.output
    import torch

    assert tuple(torch.load(out).shape) == (6, 3, 16, 16)
    result = cli("sample", str(run), "--n", "1", "--labels", "3", "--out", str(tmp_path / "x.png"))
    assert result.exit_code != 0 and "labels must be in 0-2" in result.output


def test_the_cache_is_hit_and_a_changed_folder_is_decoded_again(tmp_path):
    root = tmp_path / "data"
    paths = write_images(tmp_path / "pics", 6, size=(10, 10))
    load = lambda: load_folder(tmp_path / "pics", root=root, size=None, channels=3, labelled=False)  # noqa: E731
    first = load()
    assert "decoded into the cache" in first.source
    second = load()
    assert "read from the cache" in second.source and bool((first.images == second.images).all())
    Image.fromarray(np.zeros((10, 10, 3), dtype=np.uint8)).save(paths[0])
    os.utime(paths[0], ns=(1, 1))  # a different mtime even on coarse file systems
    third = load()
    assert "decoded into the cache" in third.source and int(third.images[0].sum()) == 0
    assert len(list((root / "cache").glob("imagefolder-*.pt"))) == 1  # the stale cache is gone


def test_unreadable_files_are_skipped_and_counted_in_one_line(tmp_path):
    write_images(tmp_path / "pics", 4, size=(10, 10))
    (tmp_path / "pics" / "broken.png").write_bytes(b"not a png at all")
    data = load_folder(tmp_path / "pics", root=tmp_path / "data", size=8, channels=3, labelled=False)
    assert len(data) == 4 and not data.is_full
    assert data.notice == "skipped 1 unreadable file of 5 (broken.png: UnidentifiedImageError)"
    again = load_folder(tmp_path / "pics", root=tmp_path / "data", size=8, channels=3, labelled=False)
    assert again.notice == data.notice  # still said on a cache hit


def test_empty_folders_mixed_sizes_and_bad_options_are_one_clear_line(tmp_path):
    (tmp_path / "empty").mkdir()
    write_images(tmp_path / "mixed", 1, size=(10, 10))
    write_images(tmp_path / "mixed" / "more", 1, size=(12, 9))
    cases = [({"path": str(tmp_path / "empty")}, "No images (png, jpg, jpeg, webp) found in"),
             ({"path": str(tmp_path / "mixed")}, "have different sizes (img_0000.png is 10x10, "
                                                   "more/img_0000.png is 12x9); pass --data-option size=N"),
             ({"path": str(tmp_path / "nowhere")}, "does not exist"),
             ({}, "needs the folder of images: --data-option path=DIR"),
             ({"path": str(tmp_path / "mixed"), "channels": "4"}, "expected 1 (greyscale) or 3 (RGB)")]
    spec = get_host().datasets.get("imagefolder")
    for options, message in cases:
        with pytest.raises(DataError, match=None) as error:
            spec.load(DataRequest(root=tmp_path / "data", options=options))
        assert message in str(error.value) and "\n" not in str(error.value)
    result = cli("train", "dcgan", "--dataset", "imagefolder", "--data-option", f"path={tmp_path / 'empty'}",
                 "--no-progress", "--out", str(tmp_path / "run"))
    assert result.exit_code == 2 and "No images" in result.output
    assert "Traceback" not in result.output
    mixed = load_folder(tmp_path / "mixed", root=tmp_path / "data", size=8, channels=3, labelled=False)
    assert tuple(mixed.images.shape) == (2, 3, 8, 8)  # with a size they are cropped and resized


# --------------------------------------------------------------------------- CIFAR-10 and CelebA


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def fake_cifar(root: Path, per_batch: int = 12) -> dict[str, str]:
    """torchvision's cifar-10-batches-py with ``per_batch`` images per batch; returns their MD5s."""
    folder = root / cifar.FOLDER
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    sums = {}
    for name in [*cifar.SPLIT_FILES["train"], *cifar.SPLIT_FILES["test"]]:
        batch = {"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
                 "labels": [int(i % 10) for i in range(per_batch)], "batch_label": name}
        (folder / name).write_bytes(pickle.dumps(batch))
        sums[name] = md5(folder / name)
    return sums


def test_cifar10_loads_from_torchvisions_layout_with_md5s_checked(tmp_path, monkeypatch):
    root = tmp_path / "data"
    sums = fake_cifar(root)
    with pytest.raises(DataError, match="is not the official CIFAR-10 file .*expected c99cafc1"):
        check_dataset("cifar10", root=root)  # the fakes fail the real MD5 check
    monkeypatch.setattr(cifar, "OFFICIAL_MD5", {**cifar.OFFICIAL_MD5, **sums})  # accept these fakes
    data = check_dataset("cifar10", root=root, min_images=60)
    assert tuple(data.images.shape) == (60, 3, 32, 32) and data.labels.tolist()[:3] == [0, 1, 2]
    assert "MD5s checked" in data.source and not data.is_full and "not 50,000" in data.notice
    # A cache file must hold the official files' count (the MD5s pin them): the fakes' is theirs.
    monkeypatch.setattr(cifar, "SPLIT_SIZES", {"train": 60, "test": 12})
    assert "read from the cache" in check_dataset("cifar10", root=root).source
    test = check_dataset("cifar10", root=root, split="test")
    assert len(test) == 12


def test_cifar10_and_celeba_say_where_the_files_go_when_absent(tmp_path):
    spec = get_host().datasets
    with pytest.raises(DataError, match=r"data_batch_1, .* missing from .*cifar-10-batches-py \(download "
                                        r"disabled\)\. Put the folder cifar-10-batches-py"):
        spec.get("cifar10").load(DataRequest(root=tmp_path, download=False))
    with pytest.raises(DataError, match=r"CelebA not found in .*celeba \(download disabled\): put the "
                                        r"aligned faces in .*img_align_celeba/"):
        spec.get("celeba").load(DataRequest(root=tmp_path, download=False))


def test_celeba_loads_from_torchvisions_layout_cropped_and_resized_to_64(tmp_path, monkeypatch):
    folder = tmp_path / "data" / celeba.FOLDER
    write_images(folder / celeba.IMAGES, 9, size=(178, 218), suffix=".jpg")
    names = sorted(p.name for p in (folder / celeba.IMAGES).iterdir())
    partition = [f"{name} {0 if i < 6 else 2}" for i, name in enumerate(names)]
    (folder / celeba.PARTITION).write_text("\n".join(partition) + "\n")
    with pytest.raises(DataError, match="is not the official CelebA file"):
        check_dataset("celeba", root=tmp_path / "data")
    monkeypatch.setattr(celeba, "OFFICIAL_MD5", {celeba.PARTITION: md5(folder / celeba.PARTITION)})
    data = check_dataset("celeba", root=tmp_path / "data", min_images=6)
    assert tuple(data.images.shape) == (6, 3, 64, 64) and data.labels is None
    assert "centre-cropped to 178x178 and resized to 64x64" in data.source
    assert len(check_dataset("celeba", root=tmp_path / "data", split="test")) == 3
    assert "read from the cache" in check_dataset("celeba", root=tmp_path / "data").source


def test_cifar10_is_extracted_from_the_official_archive_name(tmp_path, monkeypatch):
    import shutil
    import tarfile

    root = tmp_path / "data"
    sums = fake_cifar(root, per_batch=2)
    archive = root / cifar.ARCHIVE
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(root / cifar.FOLDER, arcname=cifar.FOLDER)
    shutil.rmtree(root / cifar.FOLDER)
    monkeypatch.setattr(cifar, "OFFICIAL_MD5", {**cifar.OFFICIAL_MD5, **sums, cifar.ARCHIVE: md5(archive)})
    assert len(check_dataset("cifar10", root=root)) == 10
    assert (root / cifar.FOLDER / "data_batch_5").is_file()


# --------------------------------------------------------------------------- evaluation


def test_an_evaluator_trained_on_a_folder_scores_its_runs_and_an_unlabelled_folders_as_another_set(
        tmp_path, monkeypatch):
    import json

    monkeypatch.setenv("GANKIT_DATA_ROOT", str(tmp_path / "data"))
    for label, name in enumerate(("circles", "squares", "triangles")):
        write_images(tmp_path / "shapes" / name, 40, size=(16, 16), seed=label)
    write_images(tmp_path / "flat", 64, size=(32, 32), seed=9)
    result = cli("evaluator", "train", "--dataset", "imagefolder", "--data-option", f"path={tmp_path / 'shapes'}",
                 "--epochs", "1", "--out", str(tmp_path / "ev"))
    assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "ev" / "imagefolder.json").read_text())
    assert meta["num_classes"] == 3 and meta["image_shape"] == [3, 16, 16]
    assert "--data-option path=" in meta["command"] and meta["test_accuracy"] is None  # no held-out split
    small = ("--epochs", "1", "--batch-size", "20", "--no-progress", "--set", "g_features=8", "--set", "d_features=8")
    for name, size in (("shapes", "16"), ("flat", "32")):
        result = cli("train", "dcgan", "--dataset", "imagefolder", "--data-option", f"path={tmp_path / name}",
                     "--data-option", f"size={size}", *small, "--out", str(tmp_path / f"run-{name}"))
        assert result.exit_code == 0, result.output
    evaluate = ("--evaluator", str(tmp_path / "ev" / "imagefolder.pt"), "--n", "20")
    result = cli("evaluate", str(tmp_path / "run-shapes"), *evaluate, "--json")
    assert result.exit_code == 0, result.output
    scores = json.loads(result.output[result.output.index("{"):])
    assert scores["fid"] > 0 and "is" in scores and scores["evaluator"]["other_set"] is False
    result = cli("evaluate", str(tmp_path / "run-flat"), *evaluate, "--json")
    assert result.exit_code == 0, result.output
    scores = json.loads(result.output[result.output.index("{"):])
    assert scores["fid"] > 0 and "recall" in scores and "is" not in scores and "modes_covered" not in scores
    assert scores["evaluator"]["other_set"] is True and scores["dataset"] == "imagefolder"
    result = cli("evaluate", str(tmp_path / "run-flat"), *evaluate)
    assert result.exit_code == 0 and "features of an evaluator trained on another set" in result.output
    result = cli("evaluator", "train", "--dataset", "imagefolder", "--data-option", f"path={tmp_path / 'flat'}",
                 "--epochs", "1", "--out", str(tmp_path / "ev2"))
    assert result.exit_code == 2 and "has no labels; an evaluator is a classifier" in result.output


def test_an_evaluator_trains_on_cifar10_from_its_files(tmp_path, monkeypatch):
    from gankit.evaluate.train_evaluator import train_evaluator

    root = tmp_path / "data"
    monkeypatch.setattr(cifar, "OFFICIAL_MD5", {**cifar.OFFICIAL_MD5, **fake_cifar(root, per_batch=30)})
    monkeypatch.setattr(cifar, "SPLIT_SIZES", {"train": 150, "test": 30})  # the fakes' counts
    meta = train_evaluator("cifar10", host=get_host(), out_dir=tmp_path / "ev", data_root=root, epochs=1)
    assert meta["num_classes"] == 10 and meta["image_shape"] == [3, 32, 32]
    assert (tmp_path / "ev" / "cifar10.pt").is_file()


def test_celeba_is_extracted_from_its_zip_with_the_md5_checked(tmp_path, monkeypatch):
    import shutil
    import zipfile

    folder = tmp_path / "data" / celeba.FOLDER
    write_images(folder / celeba.IMAGES, 4, size=(178, 218), suffix=".jpg")
    names = sorted(p.name for p in (folder / celeba.IMAGES).iterdir())
    (folder / celeba.PARTITION).write_text("".join(f"{name} 0\n" for name in names))
    archive = folder / celeba.ZIP
    with zipfile.ZipFile(archive, "w") as opened:
        for name in names:
            opened.write(folder / celeba.IMAGES / name, f"{celeba.IMAGES}/{name}")
    shutil.rmtree(folder / celeba.IMAGES)
    with pytest.raises(DataError, match="img_align_celeba.zip is not the official CelebA file"):
        check_dataset("celeba", root=tmp_path / "data")
    monkeypatch.setattr(celeba, "OFFICIAL_MD5", {celeba.PARTITION: md5(folder / celeba.PARTITION),
                                                 celeba.ZIP: md5(archive)})
    data = check_dataset("celeba", root=tmp_path / "data", min_images=4)
    assert tuple(data.images.shape) == (4, 3, 64, 64) and (folder / celeba.IMAGES / names[0]).is_file()


def test_a_big_decode_goes_through_a_scratch_file_that_is_removed_after(tmp_path, monkeypatch):
    from gankit.data import decode

    write_images(tmp_path / "pics", 6, size=(20, 16))
    in_ram = load_folder(tmp_path / "pics", root=tmp_path / "ram", size=8, channels=3, labelled=False)
    opened = []
    real_open = np.lib.format.open_memmap
    monkeypatch.setattr(np.lib.format, "open_memmap", lambda path, **kw: opened.append(path) or real_open(path, **kw))
    monkeypatch.setattr(decode, "DECODE_TO_DISK_BYTES", 0)  # every decode counts as big
    on_disk = load_folder(tmp_path / "pics", root=tmp_path / "disk", size=8, channels=3, labelled=False)
    assert len(opened) == 1 and str(opened[0]).endswith(".decoding.npy")
    assert torch_equal(in_ram.images, on_disk.images)
    assert [p.suffix for p in (tmp_path / "disk" / "cache").iterdir()] == [".pt"]  # the scratch file is gone


def torch_equal(a, b) -> bool:
    import torch

    return bool(torch.equal(a, b))
