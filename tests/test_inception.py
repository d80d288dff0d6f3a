"""``gankit evaluate --features inception``: FID/KID in InceptionV3's features (gankit/evaluate/inception.py).

The official weights cannot be downloaded on every machine (and gankit never tries while scoring),
so the end-to-end test on them skips without them; the plumbing is tested on an InceptionV3 with
random weights (its numbers mean nothing, and the output says the file is not the official one),
and a missing file, package or damaged file is one clear line.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from gankit.cli import build_app
from gankit.errors import GankitError
from gankit.evaluate import inception
from gankit.train import RunOptions, train

fidelity = pytest.importorskip("torch_fidelity", reason="torch-fidelity is not installed "
                               "(pip install 'gankit[inception]'): the Inception path cannot run")
OFFICIAL = os.environ.get(inception.WEIGHTS_ENV)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "vanilla"
    train("vanilla", {"batch_size": 50, "epochs": 1},
          RunOptions(out=out, progress=False, max_images=100, device="cpu"))
    return out


@pytest.fixture(scope="module")
def random_weights(tmp_path_factory) -> Path:
    """An InceptionV3 state dict with random weights, shaped like the official file."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    empty = tmp_path_factory.mktemp("w") / "empty.pt"
    torch.save({}, empty)
    original = FeatureExtractorInceptionV3.load_state_dict
    FeatureExtractorInceptionV3.load_state_dict = lambda self, state: None  # keep the random init
    try:
        torch.manual_seed(0)
        net = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(empty))
    finally:
        FeatureExtractorInceptionV3.load_state_dict = original
    path = empty.parent / "random_inception.pth"
    torch.save(net.state_dict(), path)
    return path


def cli(*args: str):
    return CliRunner().invoke(build_app(), list(args))


def test_without_weights_it_is_one_line_naming_the_file_and_never_a_download(run, monkeypatch):
    monkeypatch.delenv(inception.WEIGHTS_ENV, raising=False)
    result = cli("evaluate", str(run), "--features", "inception", "--n", "10")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "needs the InceptionV3 weights file" in result.output and "--inception-weights PATH" in result.output
    assert inception.OFFICIAL_NAME in result.output
    result = cli("evaluate", str(run), "--features", "inception", "--inception-weights", "/nowhere/x.pth")
    assert result.exit_code == 2 and "do not exist" in result.output
    result = cli("evaluate", str(run), "--features", "alexnet")
    assert result.exit_code == 2 and "expected evaluator or inception" in result.output


def test_a_damaged_weights_file_or_a_missing_package_is_one_line(tmp_path, monkeypatch):
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(GankitError, match="Cannot read InceptionV3 weights .*bad.pth"):
        inception.load_inception(bad)
    torch.save({"something": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(GankitError, match="not an InceptionV3 state dict"):
        inception.load_inception(tmp_path / "other.pth")
    import torchmetrics.utilities.imports as imports

    monkeypatch.setattr(imports, "_TORCH_FIDELITY_AVAILABLE", False)
    with pytest.raises(GankitError, match=r"needs the torch-fidelity package: pip install 'gankit\[inception\]'"):
        inception.load_inception(bad)


def test_inception_features_score_a_run_and_say_the_weights_are_not_the_official_ones(run, random_weights):
    result = cli("evaluate", str(run), "--features", "inception", "--inception-weights", str(random_weights),
                 "--n", "10", "--json")
    assert result.exit_code == 0, result.output
    scores = json.loads(result.output[result.output.index("{"):])
    assert scores["fid"] >= 0 and scores["kid"] == scores["kid"] and "is" in scores and "recall" in scores
    assert "modes_covered" not in scores and "near_copies" not in scores
    assert scores["evaluator"]["features"] == "inception" and scores["evaluator"]["official_weights"] is False
    from io import StringIO

    from rich.console import Console

    from gankit.evaluate.score import print_scores

    shown = StringIO()
    print_scores(scores, Console(file=shown, width=200))
    assert "InceptionV3 pool3" in shown.getvalue() and "not the official file" in shown.getvalue()


@pytest.mark.skipif(not OFFICIAL or not Path(OFFICIAL).is_file(),
                    reason=f"the official InceptionV3 weights are absent: set {inception.WEIGHTS_ENV} to "
                           f"{inception.OFFICIAL_NAME} (from {inception.URL}) to run this test")
def test_the_official_weights_score_real_images_close_to_real_ones(run):
    extractor = inception.load_inception(None)
    assert extractor.official
    result = cli("evaluate", str(run), "--features", "inception", "--n", "50", "--json")
    assert result.exit_code == 0, result.output
    scores = json.loads(result.output[result.output.index("{"):])
    assert scores["floor"]["fid"] < scores["fid"]  # real vs real beats a 1-epoch vanilla GAN
