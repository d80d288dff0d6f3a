"""Streaming batches from the cache (gankit/train/streaming.py): the same batches as the in-memory
path, batch for batch, the same weights after a run, an exact mid-epoch resume, the memory budget,
and a cache that is memory-mapped rather than read whole."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from gankit.data import ImageData
from gankit.data.imagefolder import load_folder
from gankit.errors import ConfigError
from gankit.train import Interrupted, RunOptions, train
from gankit.train import loop as train_module
from gankit.train.batches import InMemoryBatches, batch_source, parse_memory_budget
from gankit.train.streaming import StreamingBatches

from gankit.checkpoint import load_checkpoint

TINY = {"batch_size": 16, "epochs": 2, "g_features": 8, "d_features": 8}


def write_images(folder: Path, count: int, seed: int) -> None:
    """``count`` 16x16 RGB PNGs of random colours."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for index in range(count):
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(folder / f"{index:03d}.png")


def weights(path: Path) -> dict[str, torch.Tensor]:
    state = load_checkpoint(path)
    return {**{f"G.{k}": v for k, v in state["generator"].items()},
            **{f"D.{k}": v for k, v in state["discriminator"].items()}}


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), f"{key} differs"


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """96 small RGB PNGs in two class sub-folders."""
    base = tmp_path_factory.mktemp("pictures")
    for label in range(2):
        write_images(base / f"class_{label}", 48, seed=label)
    return base


@pytest.mark.parametrize("workers", [0, 2])
def test_streaming_gives_the_in_memory_batches_batch_for_batch(folder, tmp_path, workers):
    data = load_folder(folder, root=tmp_path, size=None, channels=3, labelled=True)
    assert data.cache_file is not None and data.num_classes == 2
    memory = InMemoryBatches(data.to_signed(), data.labels)
    streaming = StreamingBatches(data, torch.device("cpu"), labelled=True, workers=workers)
    assert (streaming.num_images, streaming.has_labels) == (96, True)
    order = torch.randperm(96, generator=torch.Generator().manual_seed(3))
    for first in (0, 3):
        pairs = list(zip(memory.batches(order, 10, first), streaming.batches(order, 10, first), strict=True))
        assert len(pairs) == 9 - first  # the partial last batch is dropped by both
        for (images, labels), (streamed, streamed_labels) in pairs:
            assert streamed.dtype == torch.float32 and torch.equal(images, streamed)
            assert torch.equal(labels, streamed_labels)


def test_a_worker_reopens_the_cache_file_instead_of_receiving_the_pixels(folder, tmp_path):
    import pickle

    data = load_folder(folder, root=tmp_path, size=None, channels=3, labelled=False)
    dataset = StreamingBatches(data, torch.device("cpu"), labelled=False, workers=0).dataset
    sent = pickle.loads(pickle.dumps(dataset))
    assert sent.images is None and len(pickle.dumps(dataset)) < 1000
    images, labels = sent.__getitems__([5, 1])
    assert labels is None and torch.equal(images, data.images[[5, 1]])


def test_a_worker_gets_the_labels_it_was_given_not_the_cache_files(folder, tmp_path):
    import pickle

    from gankit.data.clusters import with_cluster_labels

    data = load_folder(folder, root=tmp_path, size=None, channels=3, labelled=True)
    relabelled = with_cluster_labels(data, 5, seed=0)  # what a run with `clusters` trains on
    assert relabelled.cache_file == data.cache_file and not torch.equal(relabelled.labels, data.labels)
    dataset = StreamingBatches(relabelled, torch.device("cpu"), labelled=True, workers=0).dataset
    sent = pickle.loads(pickle.dumps(dataset))
    assert sent.images is None
    _, labels = sent.__getitems__([5, 1, 60])
    assert torch.equal(labels, relabelled.labels[[5, 1, 60]])


def test_the_cache_is_memory_mapped_not_read_whole(folder, tmp_path):
    maps = Path("/proc/self/maps")
    if not maps.is_file():
        pytest.skip("no /proc/self/maps on this system to see memory-mapped files in")
    data = load_folder(folder, root=tmp_path, size=None, channels=3, labelled=False)
    again = load_folder(folder, root=tmp_path, size=None, channels=3, labelled=False)
    assert "read from the cache" in again.source
    assert str(data.cache_file) in maps.read_text()  # both the decode's reload and the cache hit map it
    assert torch.equal(data.images, again.images)


def test_the_memory_budget_picks_the_path_and_bad_sizes_are_one_line():
    assert parse_memory_budget("2GB") == 2_000_000_000 and parse_memory_budget("1.5 GiB") == 3 * 2 ** 29
    assert parse_memory_budget("0") == 0 and parse_memory_budget(None) is None
    for bad in ("lots", "2 parsecs", "-1GB"):
        with pytest.raises(ConfigError, match="expected a size such as 2GB, 500MB or 0"):
            parse_memory_budget(bad)
    data = ImageData(torch.zeros(10, 1, 4, 4, dtype=torch.uint8), None, source="zeros")  # 640 bytes as float
    cpu = torch.device("cpu")
    assert isinstance(batch_source(data, cpu, labelled=False, budget="640"), InMemoryBatches)
    assert isinstance(batch_source(data, cpu, labelled=False, budget="639"), StreamingBatches)
    assert isinstance(batch_source(data, cpu, labelled=False), InMemoryBatches)  # the default: half the RAM


def options(folder, out, **extra):
    return RunOptions(dataset="imagefolder", data_options={"path": str(folder)}, out=out, progress=False,
                      device="cpu", **extra)


def test_a_streamed_run_ends_with_the_in_memory_runs_weights_and_resumes_mid_epoch_exactly(
        folder, tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_DATA_ROOT", str(tmp_path / "data"))
    train("cgan", TINY, options(folder, tmp_path / "memory"))
    train("cgan", TINY, options(folder, tmp_path / "streamed", memory_budget="0"))
    assert_same_weights(weights(tmp_path / "memory/checkpoints/last.pt"),
                        weights(tmp_path / "streamed/checkpoints/last.pt"))

    class StopAfterThreeSteps(train_module.StopOnSigint):
        checks = 0

        @property
        def requested(self):
            StopAfterThreeSteps.checks += 1
            return StopAfterThreeSteps.checks == 3

        @requested.setter
        def requested(self, value):
            pass

    monkeypatch.setattr(train_module, "StopOnSigint", StopAfterThreeSteps)
    with pytest.raises(Interrupted):
        train("cgan", TINY, options(folder, tmp_path / "stopped", memory_budget="0"))
    monkeypatch.undo()
    monkeypatch.setenv("GANKIT_DATA_ROOT", str(tmp_path / "data"))
    train("cgan", {}, options(folder, tmp_path / "stopped", resume=True, memory_budget="0"))
    assert_same_weights(weights(tmp_path / "memory/checkpoints/last.pt"),
                        weights(tmp_path / "stopped/checkpoints/last.pt"))
    config = json.loads((tmp_path / "streamed/config.json").read_text())
    assert config["dataset"]["num_classes"] == 2 and config["dataset"]["image_shape"] == [3, 16, 16]


def test_a_bad_memory_budget_on_the_command_line_is_one_line(folder, tmp_path):
    from typer.testing import CliRunner

    from gankit.cli import build_app

    result = CliRunner().invoke(build_app(), ["train", "dcgan", "--dataset", "imagefolder", "--data-option",
                                              f"path={folder}", "--memory-budget", "lots", "--no-progress",
                                              "--out", str(tmp_path / "run")])
    assert result.exit_code == 2 and "--memory-budget lots: expected a size" in result.output
    assert not (tmp_path / "run").exists()
