"""The evaluators and metrics on known cases, `gankit evaluate`, and `gankit train --eval-every`."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from gankit import GankitError
from gankit.checkpoint import load_checkpoint
from gankit.cli import build_app
from gankit.data import ImageData, load_bundled_mnist
from gankit.evaluate import metrics
from gankit.evaluate.evaluator import (FeatureSet, load_evaluator, metadata_path, sha256_of,
                                       weights_path)
from gankit.evaluate.reference import build_reference
from gankit.host import PluginHost
from gankit.registry import DatasetSpec
from gankit.train import RunOptions, train

OFFICIAL_MNIST_TEST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
N = 500


@pytest.fixture(scope="module")
def evaluator():
    return load_evaluator("mnist")


@pytest.fixture(scope="module")
def digits():
    images, labels = load_bundled_mnist()
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))
    return images[order], labels[order]


@pytest.fixture(scope="module")
def real_sets(evaluator, digits):
    images, labels = digits
    return (evaluator.features(images[:N], labels[:N]),
            evaluator.features(images[N:2 * N], labels[N:2 * N]))


@pytest.fixture(scope="module")
def floor(real_sets):
    return metrics.score(*real_sets)


def test_shipped_evaluators_are_small_checked_and_documented():
    for dataset in ("mnist", "fashion-mnist"):
        path = weights_path(dataset)
        meta = json.loads(metadata_path(path).read_text())
        assert path.stat().st_size < 2_000_000
        assert meta["sha256"] == sha256_of(path)
        assert meta["command"].startswith(f"gankit evaluator train --dataset {dataset}")
        assert meta["test_images"] == 10_000 and meta["test_accuracy"] is not None
    assert json.loads(metadata_path(weights_path("mnist")).read_text())["test_accuracy"] >= 0.98
    assert json.loads(metadata_path(weights_path("fashion-mnist")).read_text())["test_accuracy"] >= 0.91


def test_shipped_evaluators_name_no_folder_of_the_machine_that_trained_them():
    for dataset in ("mnist", "fashion-mnist"):
        path = weights_path(dataset)
        for text in (metadata_path(path).read_text(),
                     json.dumps(torch.load(path, weights_only=True)["meta"])):
            for machine_path in ("/tmp", "/home", "/root", "/work", "/Users"):
                assert machine_path not in text, (dataset, machine_path)


def test_training_metadata_names_the_data_root_not_its_path(tmp_path):
    from gankit.evaluate.train_evaluator import _portable

    root = tmp_path / "data"
    source = f"IDX files in {root}/MNIST/raw (full MNIST test split, 10,000 images)"
    assert _portable(source, root) == "IDX files in the data root/MNIST/raw (full MNIST test split, 10,000 images)"


@pytest.mark.skipif(not OFFICIAL_MNIST_TEST.is_dir(), reason="official MNIST test set not present")
def test_mnist_evaluator_accuracy_on_official_test_digits(evaluator):
    from gankit.data import read_idx_images, read_idx_labels

    images = read_idx_images(OFFICIAL_MNIST_TEST / "t10k-images-idx3-ubyte.gz")[:2000]
    labels = read_idx_labels(OFFICIAL_MNIST_TEST / "t10k-labels-idx1-ubyte.gz")[:2000]
    features = evaluator.features(images.reshape(-1, 1, 28, 28), labels)
    assert metrics.label_accuracy(features) >= 0.97


def test_features_do_not_depend_on_how_images_are_batched(evaluator, monkeypatch):
    """The CPU batch (250) and any other give the same features bit for bit, the short last batch
    included: the cache's real features and a run's are then comparable whatever the device."""
    from gankit.evaluate import evaluator as module

    images = torch.randint(0, 256, (613, 1, 28, 28), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0))
    batched = evaluator.features(images)
    monkeypatch.setattr(module, "CPU_BATCH_SIZE", 1000)  # one batch
    whole = evaluator.features(images)
    assert len(batched) == 613 and torch.equal(batched.embeddings, whole.embeddings)
    assert torch.equal(batched.logits, whole.logits)


def test_a_damaged_evaluator_is_refused(tmp_path):
    copy = tmp_path / "mnist.pt"
    shutil.copy(weights_path("mnist"), copy)
    shutil.copy(metadata_path(weights_path("mnist")), tmp_path / "mnist.json")
    data = bytearray(copy.read_bytes())
    data[-100] ^= 0xFF
    copy.write_bytes(bytes(data))
    with pytest.raises(GankitError, match="sha256"):
        load_evaluator("mnist", copy)
    with pytest.raises(GankitError, match="gankit evaluator train --dataset cifar"):
        load_evaluator("cifar")


def test_real_vs_real_sits_at_the_floor(floor, real_sets):
    assert floor["fid"] < 5 and abs(floor["kid"]) < 0.5  # noise: FID ~1,100, KID ~1,900
    assert floor["precision"] > 0.6 and floor["recall"] > 0.6 and floor["coverage"] > 0.8
    assert 0.7 < floor["density"] < 1.3
    assert floor["modes_covered"] == 10 and floor["kl_to_uniform"] < 0.05
    assert floor["is"] > 8  # near 10 classes, each predicted confidently
    assert floor["label_accuracy"] > 0.95  # real digits with their true labels


def test_noise_scores_far_from_the_floor(evaluator, floor, real_sets):
    noise = torch.rand(N, 1, 28, 28, generator=torch.Generator().manual_seed(1)) * 2 - 1
    scores = metrics.score(real_sets[0], evaluator.features(noise))
    assert scores["fid"] > 50 * floor["fid"] and scores["kid"] > 100 * abs(floor["kid"])
    # The evaluator recognises no class in noise, so noise covers no mode.
    assert scores["unrecognised"] > 0.95 and floor["unrecognised"] < 0.01
    assert scores["modes_covered"] == 0 and scores["is"] < 1.1
    assert scores["recall"] < 0.05 and scores["coverage"] < 0.05 and scores["density"] < 0.5
    # ...and maps it all to one place: like a single repeated image, noise can sit inside the real
    # manifold, so precision alone says nothing (docs/metrics.md).


def test_one_repeated_image_collapses_mode_coverage(evaluator, digits, real_sets):
    images, labels = digits
    repeated = images[-1:].repeat(N, 1, 1, 1)  # a digit in neither real set
    scores = metrics.score(real_sets[0], evaluator.features(repeated))
    assert scores["modes_covered"] == 1
    assert scores["kl_to_uniform"] == pytest.approx(math.log(10), abs=1e-6)
    # One point can only sit in the balls of its few nearest real neighbours.
    assert scores["recall"] < 0.02 and scores["coverage"] < 0.05
    assert scores["is"] == pytest.approx(1.0, abs=0.01)


def test_shuffled_labels_score_chance_label_accuracy(real_sets):
    real = real_sets[1]
    shuffled = real.labels[torch.randperm(len(real), generator=torch.Generator().manual_seed(2))]
    assert metrics.label_accuracy(FeatureSet(real.embeddings, real.logits, shuffled)) == \
        pytest.approx(0.10, abs=0.04)
    assert metrics.label_accuracy(real) > 0.95


def test_reference_and_floor_sets_are_disjoint_and_n_fits_the_data(evaluator, digits):
    images, labels = digits
    small = images[:300]

    def load(request):  # 300 distinct images for both splits: n can be at most 150
        return ImageData(small, labels[:300], source=f"test data, {request.split}", is_full=False)

    spec = DatasetSpec("tiny", "300 digits", (1, 28, 28), 10, load)
    reference = build_reference(spec, evaluator, 200, data_root=Path("unused"))
    assert reference.n == 150 and reference.n_requested == 200 and "lowered" in reference.notice
    rows = {tuple(row.tolist()) for row in reference.reference.embeddings}
    assert not rows & {tuple(row.tolist()) for row in reference.floor_set.embeddings}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "vanilla"
    options = RunOptions(out=out, progress=False, max_images=100, device="cpu", download=False,
                         data_root=tmp_path_factory.getbasetemp() / "empty-data-root")
    train("vanilla", {"epochs": 1, "batch_size": 50}, options, host=_host())
    return out


def _host():
    host = PluginHost()
    host.load_builtins()
    host.load_entry_points()
    return host


def test_evaluate_prints_one_json_object_with_every_metric_and_its_provenance(tiny_run):
    result = CliRunner().invoke(build_app(_host()), ["evaluate", str(tiny_run), "--n", "300", "--json"])
    assert result.exit_code == 0, result.output
    scores = json.loads(result.stdout)
    for key in ("fid", "kid", "is", "precision", "recall", "density", "coverage", "modes_covered",
                "kl_to_uniform"):
        assert isinstance(scores[key], (int, float)) and key in scores["floor"]
    assert "label_accuracy" not in scores  # vanilla is unconditional
    assert scores["n_fake"] == scores["n_real"] == 300 and scores["real_split"].startswith("test split")
    assert scores["evaluator"]["sha256"] == sha256_of(weights_path("mnist"))
    assert scores["fid"] > scores["floor"]["fid"]  # two steps of training do not make digits

    table = CliRunner().invoke(build_app(_host()), ["evaluate", str(tiny_run), "--n", "300"])
    assert table.exit_code == 0 and "real vs real" in table.output and "equal n" in table.output


def test_evaluate_rejects_a_folder_that_is_not_a_run(tmp_path):
    result = CliRunner().invoke(build_app(_host()), ["evaluate", str(tmp_path)])
    assert result.exit_code == 2 and "checkpoints/last.pt" in result.output


def test_eval_every_logs_scores_keeps_best_and_does_not_change_training(tmp_path):
    common = dict(progress=False, max_images=100, device="cpu", download=False,
                  data_root=tmp_path / "empty")
    config = {"epochs": 2, "batch_size": 50}
    train("vanilla", config, RunOptions(out=tmp_path / "plain", **common), host=_host())
    from gankit.evaluate.in_training import EvaluationCallback

    train("vanilla", config, RunOptions(out=tmp_path / "scored", **common), host=_host(),
          callbacks=[EvaluationCallback(every=1, n=300)])
    lines = [json.loads(line) for line in (tmp_path / "scored/metrics.jsonl").read_text().splitlines()]
    evals = [line for line in lines if line["event"] == "eval"]
    assert [line["epoch"] for line in evals] == [1, 2]
    for line in evals:
        assert line["modes_covered"] >= 0 and line["kl_to_uniform"] >= 0 and line["n_fake"] == 300
        assert 0 <= line["unrecognised"] <= 1
        assert line["floor"]["fid"] < line["fid"]
    best = load_checkpoint(tmp_path / "scored/checkpoints/best.pt")
    assert best["eval"]["fid"] == min(line["fid"] for line in evals)
    plain = load_checkpoint(tmp_path / "plain/checkpoints/last.pt")["generator"]
    scored = load_checkpoint(tmp_path / "scored/checkpoints/last.pt")["generator"]
    assert all(torch.equal(plain[key], scored[key]) for key in plain)


def test_evaluator_train_writes_weights_with_their_metadata(tmp_path):
    result = CliRunner().invoke(build_app(_host()), [
        "evaluator", "train", "--dataset", "mnist", "--epochs", "1", "--max-images", "256",
        "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "mnist.json").read_text())
    assert meta["sha256"] == sha256_of(tmp_path / "mnist.pt") and meta["train_images"] == 256
    assert meta["command"] == "gankit evaluator train --dataset mnist --epochs 1 --seed 0 --max-images 256"
    # The bundled subset is both the train and the test fallback, so nothing is held out.
    assert meta["test_accuracy"] is None and "not the full one" in meta["test_not_measured_because"]
    assert load_evaluator("mnist", tmp_path / "mnist.pt").sha256 == meta["sha256"]
