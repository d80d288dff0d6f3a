"""The opt-in Parzen-window log-likelihood (Goodfellow et al. 2014): its formula, its sigma
selection on a validation split, and its known weakness."""

from __future__ import annotations

import math

import pytest
import torch

from gankit.data import load_bundled_mnist
from gankit.evaluate.disturb import gaussian_noise
from gankit.evaluate.parzen import SIGMAS, log_likelihoods, parzen


@pytest.fixture(scope="module")
def digits():
    images, _ = load_bundled_mnist()
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))
    return images[order]


def test_the_log_density_is_the_gaussian_mixtures():
    rng = torch.Generator().manual_seed(0)
    samples = torch.randint(0, 256, (3, 1, 2, 2), generator=rng, dtype=torch.uint8)
    query = torch.randint(0, 256, (1, 1, 2, 2), generator=rng, dtype=torch.uint8)
    sigma = 0.3
    centres, point = samples.double().div(255).flatten(1), query.double().div(255).flatten(1)
    densities = torch.distributions.Normal(centres, sigma).log_prob(point).sum(dim=1)
    expected = float(torch.logsumexp(densities, dim=0) - math.log(3))
    assert float(log_likelihoods(samples, query, (sigma,))[0, 0]) == pytest.approx(expected, rel=1e-9)
    # Images in [-1, 1] are the same images as uint8 in 0..255.
    scaled = samples.float().div(127.5).sub(1)
    assert float(log_likelihoods(scaled, query, (sigma,))[0, 0]) == pytest.approx(expected, rel=1e-5)


def test_sigma_is_chosen_on_the_validation_split(digits):
    samples, validation, test = digits[:600], digits[600:800], digits[800:1000]
    result = parzen(samples, validation, test)
    on_validation = log_likelihoods(samples, validation).mean(dim=1)
    assert result["parzen_sigma"] == SIGMAS[int(on_validation.argmax())]
    assert not result["parzen_sigma_at_edge"]
    assert result["parzen_se"] > 0 and result["parzen_samples"] == 600


def test_real_digits_beat_noisy_ones_but_the_score_is_not_a_likelihood_of_quality(digits):
    samples, validation, test = digits[:600], digits[600:800], digits[800:1000]
    real = parzen(samples, validation, test)["parzen"]
    noisy = parzen(gaussian_noise(samples.float().div(127.5).sub(1), 0.25, seed=1), validation, test)["parzen"]
    assert real > noisy
    # Theis et al. 2016: one image per test image, copied from the test set itself, is "perfect"
    # to a Parzen window, far beyond any generator; the estimate rewards copying.
    copied = parzen(test, validation, test)["parzen"]
    assert copied > real + 100
