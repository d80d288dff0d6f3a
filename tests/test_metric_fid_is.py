"""FID and the Inception Score, computed in gankit, give torchmetrics' numbers (the reference)."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
import torch

from gankit.evaluate import metrics
from gankit.evaluate.evaluator import FeatureSet

pytestmark = pytest.mark.filterwarnings("ignore:.*will save all extracted features")


def feature_set(n: int, shift: float, seed: int, dims: int = 16, classes: int = 10) -> FeatureSet:
    generator = torch.Generator().manual_seed(seed)
    mixing = torch.randn(dims, dims, generator=generator) / dims ** 0.5  # correlated features
    embeddings = torch.randn(n, dims, generator=generator) @ mixing + shift
    logits = 3 * torch.randn(n, classes, generator=generator)
    return FeatureSet(embeddings, logits)


@pytest.mark.parametrize("n_real, n_fake, shift", [(500, 500, 0.0), (400, 700, 0.3), (50, 20, 2.0)])
def test_fid_matches_torchmetrics(n_real, n_fake, shift):
    from torchmetrics.image.fid import FrechetInceptionDistance

    real, fake = feature_set(n_real, 0.0, 1), feature_set(n_fake, shift, 2)
    metric = FrechetInceptionDistance(feature=metrics._Precomputed(16), sync_on_compute=False)
    metric.update(real.embeddings.double(), real=True)
    metric.update(fake.embeddings.double(), real=False)
    expected = float(metric.compute())
    assert metrics.frechet_distance(real, fake) == pytest.approx(expected, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("n_real, n_fake", [(40, 30), (30, 200), (64, 64)])
def test_fid_with_fewer_images_than_features_matches_torchmetrics(n_real, n_fake):
    """Below 64 images in a set of 64 features (Inception's 2,048 at n < 2,048) the FID comes from
    the points' nuclear norm; torchmetrics' eigenvalues of a singular S1 S2 round near zero."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    real, fake = feature_set(n_real, 0.0, 1, dims=64), feature_set(n_fake, 0.5, 2, dims=64)
    metric = FrechetInceptionDistance(feature=metrics._Precomputed(64), sync_on_compute=False)
    metric.update(real.embeddings.double(), real=True)
    metric.update(fake.embeddings.double(), real=False)
    assert metrics.frechet_distance(real, fake) == pytest.approx(float(metric.compute()), rel=1e-6)


def test_fid_of_a_set_with_itself_is_zero_and_one_image_is_refused():
    real = feature_set(300, 0.0, 3)
    assert abs(metrics.frechet_distance(real, real)) < 1e-8
    with pytest.raises(ValueError, match="at least 2 images"):
        metrics.frechet_distance(real, feature_set(1, 0.0, 4))


@pytest.mark.parametrize("n", [1000, 37, 5, 1])
def test_inception_score_matches_torchmetrics_and_leaves_the_global_rng_alone(n):
    from torchmetrics.image.inception import InceptionScore

    fake = feature_set(n, 0.0, 5)
    metric = InceptionScore(feature=metrics._Precomputed(10), splits=min(metrics.IS_SPLITS, n),
                            sync_on_compute=False)
    metric.update(fake.logits.double())
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(7)
        expected_mean, expected_std = (float(value) for value in metric.compute())
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    mean, std = metrics.inception_score(fake, seed=7)
    assert torch.rand(1).item() == before.item()
    assert mean == pytest.approx(expected_mean, rel=1e-9)
    assert std == pytest.approx(0.0 if math.isnan(expected_std) else expected_std, rel=1e-9, abs=1e-12)


def test_scoring_does_not_import_torchmetrics():
    # Importing torchmetrics took ~3.8 s, paid by every `gankit evaluate` while FID and IS came from it.
    code = ("import sys, torch; from gankit.evaluate import metrics; "
            "from gankit.evaluate.evaluator import FeatureSet; "
            "s = FeatureSet(torch.randn(50, 8), torch.randn(50, 10)); "
            "metrics.frechet_distance(s, s); metrics.inception_score(s); metrics.kernel_distance(s, s); "
            "print(any(name.startswith('torchmetrics') for name in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
