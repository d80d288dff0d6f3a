"""Reported faults of the caches, one test each: a decode cache file (gankit/data/decode.py) that
is not what it claims, and a forged evaluation-cache file that kept its key
(gankit/evaluate/cache.py). Each is rebuilt with one warning line, never trusted, never a
traceback. bench/faults.py runs the decode cases through `gankit train`."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from gankit import GankitWarning
from gankit.cli import build_app
from gankit.data import decode
from gankit.data.imagefolder import load_folder


def write_pngs(folder: Path, count: int, size: int, seed: int = 0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for index in range(count):
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(folder / f"{index}.png")


def resealed(contents: dict) -> dict:
    """``contents`` with its checksum made to fit again: only the other checks can catch it."""
    return {**contents, "checksum": decode.payload_checksum(contents)}


def forge(case: str, cache: Path, other: Path) -> None:
    """Replace ``cache`` by a file of the kind ``case`` names (``other``: a 16x16 decode's cache)."""
    stored = dict(torch.load(cache, weights_only=True))
    images, labels = stored["images"], stored["labels"]
    forged = {
        "list": lambda: [1, 2, 3],
        "no images": lambda: {key: value for key, value in stored.items() if key != "images"},
        "float images of 1e30": lambda: {**stored, "images": torch.full(images.shape, 1e30)},
        "edited pixels": lambda: {**stored, "images": images.clone().index_fill_(0, torch.tensor([1]), 7)},
        "labels out of range": lambda: resealed({**stored, "labels": torch.full_like(labels, 7)}),
        "an image fewer": lambda: resealed({**stored, "images": images[1:], "labels": labels[1:]}),
        "16x16 images resealed": lambda: resealed({**stored, "images": torch.load(other, weights_only=True)[
            "images"]}),
        "a foreign object": lambda: {"images": argparse.Namespace()},
    }
    if case == "16x16 images, the file copied":
        shutil.copy(other, cache)
    elif case == "truncated":
        cache.write_bytes(cache.read_bytes()[:500])
    else:
        torch.save(forged[case](), cache)


REASONS = {
    "list": "it holds a list, not a dict",
    "no images": "it has no images",
    "float images of 1e30": "its images are not a uint8 tensor",
    "edited pixels": "its checksum does not match its contents",
    "labels out of range": "its labels are not class indices",
    "an image fewer": "count 11 where 12 is expected",
    "16x16 images, the file copied": "it was written as another cache file",
    "16x16 images resealed": "its images are 16x16, not 32x32",
    "a foreign object": "Weights only load failed",
    "truncated": "",
}


@pytest.mark.parametrize("case", list(REASONS))
def test_a_decode_cache_file_that_is_not_what_it_claims_is_rebuilt_with_one_warning(tmp_path, case):
    for label in ("a", "b"):
        write_pngs(tmp_path / "pics" / label, 6, 40, seed=ord(label))
    root = tmp_path / "data"

    def load(size: int):
        return load_folder(tmp_path / "pics", root=root, size=size, channels=3, labelled=True)

    small = load(16).cache_file
    shutil.move(small, tmp_path / "small.pt")  # else the 32x32 decode removes it as stale
    first = load(32)
    images, labels = first.images.clone(), first.labels.clone()  # the forgery rewrites the mapped file
    forge(case, first.cache_file, tmp_path / "small.pt")
    with pytest.warns(GankitWarning) as caught:
        again = load(32)
    message = str(caught[0].message)
    assert len(caught) == 1 and "\n" not in message
    assert message.startswith(f"The decode cache file '{first.cache_file}' is damaged or not gankit's (")
    assert REASONS[case] in message and message.endswith("); decoding the images again.")
    assert "decoded into the cache" in again.source and torch.equal(again.images, images)
    assert torch.equal(again.labels, labels) and again.images.dtype == torch.uint8
    assert "read from the cache" in load(32).source  # written anew, and trusted now


def test_a_damaged_decode_cache_on_the_command_line_is_one_warning_line(tmp_path):
    write_pngs(tmp_path / "pics", 4, 16)
    root = tmp_path / "data"
    data = load_folder(tmp_path / "pics", root=root, size=None, channels=3, labelled=False)
    torch.save({"images": torch.zeros(4, 3, 16, 16)}, data.cache_file)
    result = CliRunner().invoke(build_app(), [
        "train", "dcgan", "--dataset", "imagefolder", "--data-option", f"path={tmp_path / 'pics'}",
        "--data-root", str(root), "--batch-size", "5", "--no-progress", "--out", str(tmp_path / "run")])
    output = " ".join(result.output.split())
    assert "Traceback" not in result.output and result.exit_code == 2  # the batch check, after the load
    assert f"warning: The decode cache file '{data.cache_file}' is damaged or not gankit's (it has no " in output
    assert "decoding the images again." in output


def test_a_cache_without_labels_or_classes_round_trips_and_is_checked_once_per_process(tmp_path, monkeypatch):
    """What CIFAR-10 and CelebA store: images and labels (or images and skipped files) only."""
    path = tmp_path / "cache" / "cifar10-x-y.pt"
    images, labels = torch.randint(0, 256, (5, 3, 4, 4), dtype=torch.uint8), torch.arange(5)
    decode.save_cache(path, {"images": images, "labels": labels})
    hashed = []
    monkeypatch.setattr(decode, "payload_checksum", lambda c: hashed.append(1) or "x")
    loaded = decode.load_cache(path)
    assert torch.equal(loaded["images"], images) and loaded["skipped"] == [] and not hashed  # just written
    decode._verified.clear()  # another process (a streaming worker) hashes it once
    with pytest.warns(GankitWarning, match="checksum does not match"):
        assert decode.load_cache(path) is None


# -- the evaluation cache ----------------------------------------------------------------------------

N = 60


@pytest.fixture(scope="module")
def evaluator():
    from gankit.evaluate.evaluator import load_evaluator

    return load_evaluator("mnist")


@pytest.mark.parametrize("forgery", ["embeddings doubled", "floor scores edited", "labels shifted"])
def test_a_forged_evaluation_cache_file_that_kept_its_key_is_rebuilt(evaluator, tmp_path, forgery):
    from gankit.evaluate.reference import build_reference
    from gankit.host import get_host

    def reference():
        return build_reference(get_host().datasets.get("mnist"), evaluator, N, data_root=tmp_path, cache=True)

    floor = reference().floor()
    path, = (tmp_path / "cache").glob("eval-reference-*.pt")
    original = torch.load(path, weights_only=True)
    contents = torch.load(path, weights_only=True)
    if forgery == "embeddings doubled":  # same shape, dtype and key: finite, plausible, wrong
        contents["reference"]["embeddings"] = contents["reference"]["embeddings"] * 2
    elif forgery == "floor scores edited":
        contents["floor_scores"] = json.dumps({**json.loads(contents["floor_scores"]), "fid": 0.0})
    else:
        contents["reference"]["labels"] = (contents["reference"]["labels"] + 1) % 10
    torch.save(contents, path)
    with pytest.warns(GankitWarning, match=r"is damaged \(its checksum does not match its contents\); "
                                           r"rebuilding it\.$"):
        rebuilt = reference()
    assert rebuilt.floor() == floor
    stored = torch.load(path, weights_only=True)  # written anew: the true numbers again
    assert stored["checksum"] == original["checksum"] and stored["floor_scores"] == original["floor_scores"]
    for key in ("embeddings", "labels"):
        assert torch.equal(stored["reference"][key], original["reference"][key])
