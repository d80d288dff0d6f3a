"""Precision, recall, density and coverage, held to their papers' definitions written out plainly."""

import pytest
import torch

from gankit.evaluate import metrics
from gankit.evaluate.evaluator import FeatureSet


def _plain(real: torch.Tensor, fake: torch.Tensor) -> dict[str, float]:
    """Kynkäänniemi et al.'s precision and recall (k = 3) and Naeem et al.'s density and coverage
    (k = 5), from the whole distance matrices, one definition per line."""
    def kth(points: torch.Tensor, k: int) -> torch.Tensor:
        return torch.cdist(points, points).sort(dim=1).values[:, k]  # column 0: the point itself

    distances = torch.cdist(fake, real)  # (fake, real)
    real_3, real_5, fake_3 = kth(real, 3), kth(real, 5), kth(fake, 3)
    return {
        "precision": (distances <= real_3[None, :]).any(dim=1).double().mean().item(),
        "recall": (distances <= fake_3[:, None]).any(dim=0).double().mean().item(),
        "density": (distances <= real_5[None, :]).sum().item() / (5 * len(fake)),
        "coverage": (distances.min(dim=0).values <= real_5).double().mean().item(),
    }


@pytest.mark.parametrize("spread", [0.9, 1.0, 1.3])
def test_the_blocked_reductions_give_the_plain_definitions(spread, monkeypatch):
    generator = torch.Generator().manual_seed(0)
    real = torch.randn(700, 16, generator=generator)
    fake = torch.randn(650, 16, generator=generator) * spread + 0.2
    monkeypatch.setattr(metrics, "BLOCK", 96)  # several blocks, the last one short
    got = metrics.manifold_metrics(FeatureSet(real, torch.zeros(700, 3)),
                                   FeatureSet(fake, torch.zeros(650, 3)))
    want = _plain(real, fake)
    assert got.keys() == want.keys()
    for key, value in want.items():
        assert got[key] == pytest.approx(value, abs=1e-6), key
    assert 0 < want["precision"] < 1 and 0 < want["coverage"] < 1  # not a degenerate case
