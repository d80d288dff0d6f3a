"""Cluster labels (gankit/data/clusters.py): k-means finds groups of images, the same ones for a
seed, on pooled pixels; a config asking for ``clusters`` trains on them as labels, with their
shares handed to the variant; nothing of the sort happens for a config that does not ask."""

from __future__ import annotations

import pytest
import torch

from gankit.data import clusters
from gankit.data.base import ImageData
from gankit.loading import load_run
from gankit.train import RunOptions, train
from gankit.train.events import Callback


def blobs(per_group: int = 30, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Three groups of noisy 8x8 images: dark, bright, and a bright left half."""
    rng = torch.Generator().manual_seed(seed)
    centres = torch.zeros(3, 1, 8, 8)
    centres[1] += 200
    centres[2, :, :, :4] += 200
    group = torch.arange(3).repeat_interleave(per_group)
    noise = torch.randint(0, 40, (3 * per_group, 1, 8, 8), generator=rng)
    return (centres[group] + noise).to(torch.uint8), group


def same_partition(a: torch.Tensor, b: torch.Tensor) -> bool:
    return all(len(a[b == g].unique()) == 1 for g in b.unique()) and len(a.unique()) == len(b.unique())


def test_kmeans_finds_the_groups_and_is_the_same_for_a_seed():
    images, group = blobs()
    labels = clusters.cluster_labels(images, 3, seed=0)
    assert same_partition(labels, group)
    assert torch.equal(labels, clusters.cluster_labels(images, 3, seed=0))
    assert sorted(clusters.label_shares(labels, 4)) == pytest.approx([0.0, 1 / 3, 1 / 3, 1 / 3])


def test_fitted_on_a_sample_assigned_to_all(monkeypatch):
    images, group = blobs(per_group=200)
    monkeypatch.setattr(clusters, "MAX_FIT", 60)
    monkeypatch.setattr(clusters, "CHUNK", 64)
    labels = clusters.cluster_labels(images, 3, seed=1)
    assert labels.shape == (600,) and same_partition(labels, group)


def test_fewer_images_than_clusters_gives_each_image_its_own():
    images, _ = blobs(per_group=2)
    assert torch.equal(clusters.cluster_labels(images, 10, seed=0), torch.arange(6))


def test_large_images_are_pooled_before_clustering():
    images = torch.randint(0, 256, (5, 3, 64, 64), dtype=torch.uint8)
    points = clusters.pixels(images)
    assert points.shape == (5, 3 * 32 * 32) and points.dtype == torch.float64
    assert points.max() <= 1 and torch.allclose(points[0, 0], images[0, 0, :2, :2].double().mean() / 255)
    assert clusters.pixels(images[:, :, :28, :28]).shape == (5, 3 * 28 * 28)  # small enough: as is


def test_a_hundred_clusters_of_the_bundled_digits_are_mostly_one_digit_each():
    from gankit.host import get_host
    from gankit.registry import DataRequest

    data = get_host().datasets.get("mnist").load(DataRequest(download=False))
    labels = clusters.cluster_labels(data.images, 100, seed=0)
    purity = sum(torch.bincount(data.labels[labels == c]).max().item() for c in labels.unique()) / len(labels)
    assert purity > 0.83  # 0.858 measured (docs/variants.md); the digit labels never reach k-means


def test_a_config_without_clusters_keeps_the_data():
    data = ImageData(*blobs(), source="blobs")
    assert clusters.clustered(object(), data, 0) == (data, None)
    relabelled, shares = clusters.clustered(type("Config", (), {"clusters": 3})(), data, 0)
    assert relabelled.num_classes is None and "3 k-means clusters" in relabelled.source
    assert sum(shares) == pytest.approx(1) and len(shares) == 3


class Batches(Callback):
    def __init__(self):
        self.seen = []

    def on_generator_step(self, context):
        self.seen.append((context.batch.real, context.batch.labels))


def test_dcgan_trains_on_the_clusters_of_its_images_and_keeps_their_shares(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_OFFLINE", "1")
    recorder = Batches()
    settings = {"epochs": 1, "batch_size": 50, "clusters": 7, "g_features": 8, "d_features": 8}
    result = train("dcgan", settings, RunOptions(out=tmp_path / "run", progress=False, max_images=150,
                                                 device="cpu"), callbacks=[recorder])
    real = torch.cat([batch for batch, _ in recorder.seen])
    seen_labels = torch.cat([labels for _, labels in recorder.seen])
    # The labels the engine handed over are the images' own clusters (of the 150 trained on, with
    # the run's seed), not their digits.
    from gankit.host import get_host
    from gankit.registry import DataRequest

    subset = get_host().datasets.get("mnist").load(DataRequest(download=False)).subset(150, 0)
    expected = clusters.cluster_labels(subset.images, 7, seed=0)
    by_image = {bytes(image.numpy()): int(c) for image, c in zip(subset.images, expected)}
    images = real.add(1).mul(127.5).round().to(torch.uint8)
    assert [by_image[bytes(image.numpy())] for image in images] == seen_labels.tolist()
    loaded = load_run(result.run_dir)
    counts = torch.bincount(seen_labels, minlength=7).float()
    assert torch.allclose(loaded.generator.cluster_shares, counts / counts.sum())


def test_a_dcgan_run_saved_before_clusters_existed_loads_without_them(tmp_path, monkeypatch):
    import json

    from gankit.checkpoint import load_checkpoint, save_checkpoint
    from gankit.config import build_config
    from gankit.runs import checkpoint_path
    from gankit_dcgan import DCGANConfig

    monkeypatch.setenv("GANKIT_OFFLINE", "1")
    settings = {"epochs": 1, "batch_size": 50, "clusters": 0, "latent_dim": 100, "g_features": 8,
                "d_features": 8}
    run = train("dcgan", settings, RunOptions(out=tmp_path / "old", progress=False, max_images=100,
                                              device="cpu")).run_dir
    # What gankit wrote before the field existed: no "clusters" anywhere.
    state = load_checkpoint(checkpoint_path(run))
    del state["config"]["clusters"]
    save_checkpoint(state, checkpoint_path(run))
    record = json.loads((run / "config.json").read_text())
    del record["config"]["clusters"]
    (run / "config.json").write_text(json.dumps(record))
    loaded = load_run(run)
    assert loaded.config.clusters == 0 and loaded.generator.latent_codes == ()
    # Only a saved config takes the old value; a new one gets the default, an explicit value wins.
    from gankit_dcgan import SelfCondConfig

    assert build_config(DCGANConfig).clusters == 0 and build_config(SelfCondConfig).clusters == 200
    assert build_config(DCGANConfig, {"clusters": "5"}, base={"epochs": 3}).clusters == 5


def test_a_run_of_the_old_dcgan_default_loads_samples_and_resumes_as_it_trained(tmp_path, monkeypatch):
    """Runs saved before gankit 0.2 have dcgan's clustered default written out, and no ``noise``
    field (their z was N(0, 1)): they rebuild, sample and resume as they trained."""
    import json

    from gankit.checkpoint import load_checkpoint, save_checkpoint
    from gankit.runs import checkpoint_path
    from gankit.testing import invoke

    monkeypatch.setenv("GANKIT_OFFLINE", "1")
    old = {"batch_size": 50, "clusters": 7, "latent_dim": 107, "ema": 0.999, "g_features": 8,
           "d_features": 8, "noise": "normal", "epochs": 2}
    options = {"progress": False, "max_images": 100, "device": "cpu"}
    train("dcgan", old, RunOptions(out=tmp_path / "unbroken", **options))
    run = train("dcgan", {**old, "epochs": 1}, RunOptions(out=tmp_path / "old", **options)).run_dir
    state = load_checkpoint(checkpoint_path(run))  # what gankit 0.1 wrote: no "noise" anywhere
    del state["config"]["noise"]
    save_checkpoint(state, checkpoint_path(run))
    record = json.loads((run / "config.json").read_text())
    del record["config"]["noise"]
    (run / "config.json").write_text(json.dumps(record))

    loaded = load_run(run)
    assert loaded.config.noise == "normal" and loaded.config.clusters == 7 and loaded.ema
    images, _ = loaded.sample(4)
    assert images.shape == (4, 1, 28, 28)
    result = invoke(["train", "dcgan", "--out", run, "--resume", "--epochs", 2, "--no-progress"])
    assert result.exit_code == 0, result.output
    ours, theirs = (load_checkpoint(checkpoint_path(r)) for r in (run, tmp_path / "unbroken"))
    for key, value in theirs["generator"].items():
        assert torch.equal(ours["generator"][key], value), key
