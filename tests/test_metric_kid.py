"""KID, batched over its subsets, gives torchmetrics' KernelInceptionDistance's numbers."""

from __future__ import annotations

import pytest
import torch

from gankit.evaluate import metrics
from gankit.evaluate.evaluator import FeatureSet

pytestmark = pytest.mark.filterwarnings("ignore:.*will save all extracted features")


def torchmetrics_kid(real: FeatureSet, fake: FeatureSet, seed: int, subsets: int, size: int):
    """What gankit computed before KID was batched: torchmetrics' loop over the subsets."""
    from torchmetrics.image.kid import KernelInceptionDistance

    metric = KernelInceptionDistance(feature=metrics._Precomputed(real.embeddings.shape[1]),
                                     subsets=subsets, subset_size=size)
    metric.update(real.embeddings.double(), real=True)
    metric.update(fake.embeddings.double(), real=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return float(mean), float(std)


def _features(n: int, shift: float, seed: int) -> FeatureSet:
    generator = torch.Generator().manual_seed(seed)
    embeddings = torch.randn(n, 128, generator=generator) + shift
    return FeatureSet(embeddings.float(), torch.zeros(n, 10))


@pytest.mark.parametrize("n_real, n_fake, shift, seed", [(400, 300, 0.0, 0), (400, 350, 0.3, 3), (150, 150, 1.0, 1)])
def test_batched_kid_matches_torchmetrics_within_1e_6(monkeypatch, n_real, n_fake, shift, seed):
    monkeypatch.setattr(metrics, "KID_SUBSET_SIZE", 100)
    monkeypatch.setattr(metrics, "KID_SUBSETS", 23)  # not a multiple of KID_BATCH: a short last batch
    real, fake = _features(n_real, 0.0, seed), _features(n_fake, shift, seed + 10)
    mean, std = metrics.kernel_distance(real, fake, seed)
    expected_mean, expected_std = torchmetrics_kid(real, fake, seed, 23, 100)
    assert abs(mean - expected_mean) < 1e-6 and abs(std - expected_std) < 1e-6
    assert (mean > 0.01) == (shift > 0)  # the shifted sets are told apart


def test_kid_of_whole_sets_is_one_subset_with_no_spread():
    real, fake = _features(50, 0.0, 0), _features(50, 0.5, 1)
    mean, std = metrics.kernel_distance(real, fake)
    assert std == 0.0 and abs(mean - torchmetrics_kid(real, fake, 0, 1, 50)[0]) < 1e-6


def test_kid_leaves_the_global_rng_alone():
    torch.manual_seed(5)
    expected = torch.rand(1)
    torch.manual_seed(5)
    metrics.kernel_distance(_features(200, 0.0, 0), _features(200, 0.0, 1))
    assert torch.equal(torch.rand(1), expected)
