"""dragan: the reference code's settings, its penalty (perturbed real data only, one alpha per
sample, the norm per sample, lambda 10), the loss with other variants, the MLPs, a real CLI run."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import gankit_catalogue
import gankit_dcgan
from gankit import DataInfo, GankitWarning
from gankit.blocks import count_parameters
from gankit.testing import check_loss, check_variant, check_variant_loss, invoke, plugin_host
from gankit_catalogue.dragan import DRAGANConfig
from gankit_catalogue.nets.dragan import DRAGANLoss, build_networks


@pytest.fixture(scope="module")
def host():
    return plugin_host(gankit_catalogue, gankit_dcgan)


def test_defaults_are_the_reference_codes(host):
    config = DRAGANConfig()
    # DRAGAN.ipynb: Adam(1e-4, beta1 0.5, beta2 0.9), mb_size 128, z_dim 100 (uniform), lambd 10, h_dim 128.
    assert (config.optimizer, config.lr, config.beta1, config.beta2) == ("adam", 1e-4, 0.5, 0.9)
    assert (config.batch_size, config.latent_dim) == (128, 100)
    assert (config.loss, config.gp_weight, config.perturbation, config.hidden, config.n_critic) == \
        ("dragan", 10.0, 0.5, 128, 1)
    loss = host.losses.get("dragan").build(config)
    assert isinstance(loss, DRAGANLoss) and (loss.gp_weight, loss.perturbation) == (10.0, 0.5)
    assert host.losses.get("dragan").per_sample_penalty and not loss.critic  # a classifier's logits
    check_loss("dragan", host=host)


def test_the_mlps_on_mnist():
    generator, discriminator = build_networks(DRAGANConfig(), DataInfo("mnist", (1, 28, 28), 10))
    assert (count_parameters(generator), count_parameters(discriminator)) == (114_064, 100_609)
    z = generator.sample_latent(4000)
    assert z.min() >= -1 and z.max() <= 1 and abs(z.mean().item()) < 0.01
    images = generator(z[:3])
    assert images.shape == (3, 1, 28, 28) and images.abs().max() <= 1 and discriminator(images).shape == (3,)
    first = generator.net[0].weight
    assert first.std().item() == pytest.approx((2 / 100) ** 0.5, rel=0.05)  # xavier_init: 1/sqrt(fan_in/2)


class LinearCritic(nn.Module):
    """D(x) = <w, x>, recording what it scores: its gradient is w at every point, so the per-sample
    norm is ||w|| (a norm over the whole batch would be sqrt(N) ||w||)."""

    def __init__(self, features: int, weight: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.full((features,), weight))
        self.seen = []

    def forward(self, x, labels=None):
        self.seen.append(x.detach().clone())
        return x.flatten(1) @ self.weight


def test_the_penalty_is_at_perturbed_real_data_only():
    real = torch.rand(5, 1, 2, 2) * 2 - 1
    loss = DRAGANLoss(gp_weight=10.0, perturbation=0.5)
    points = []
    for fake in (torch.zeros(5, 1, 2, 2), torch.ones(5, 1, 2, 2) * 7):
        critic = LinearCritic(4, 1.5)
        torch.manual_seed(3)
        result = loss.discriminator_loss(critic, real, fake)
        _, _, penalised = critic.seen  # D(real), D(fake), then the penalty's points
        points.append(penalised)
        # ||w|| = 3 for every sample: BCE plus lambda (3 - 1)^2
        bce = F.softplus(-critic(real)).mean() + F.softplus(critic(fake)).mean()
        assert result.loss.item() == pytest.approx(bce.item() + 10 * 4.0, rel=1e-5)
    assert torch.equal(*points)  # the fakes have no say in where the penalty is taken
    # The reference's points: x + alpha (x_p - x), x_p = x + 0.5 std(x) U[0, 1]; one alpha per sample.
    torch.manual_seed(3)
    alpha = torch.rand(5, 1, 1, 1)
    expected = real + alpha * (0.5 * real.std(correction=0) * torch.rand_like(real))
    assert torch.allclose(points[0], expected)
    offset = points[0] - real
    assert offset.min() >= 0 and offset.max() <= 0.5 * real.std(correction=0) + 1e-6


def test_the_gradient_norm_is_per_sample():
    class SquareCritic(nn.Module):  # D(x) = ||x||^2 / 2: grad = x, a different norm per sample
        def forward(self, x, labels=None):
            self.points = x
            return 0.5 * x.flatten(1).pow(2).sum(1)

    from gankit_catalogue.nets.dragan import dragan_penalty

    critic = SquareCritic()
    penalty = dragan_penalty(critic, torch.rand(6, 1, 3, 3) * 2 - 1, None)
    expected = (critic.points.detach().flatten(1).norm(dim=1) - 1).pow(2).mean()
    assert penalty.item() == pytest.approx(expected.item(), rel=1e-5)


def test_the_loss_gives_dcgan_a_per_sample_norm(host):
    with pytest.warns(GankitWarning, match="dcgan with --loss dragan: the critic uses LayerNorm"):
        check_variant_loss("dcgan", "dragan", host=host, overrides={"g_features": 8, "d_features": 8})


def test_variant_passes_the_kit(host, tmp_path):
    check_variant("dragan", host=host, workdir=tmp_path)


def test_a_real_cli_run_then_sample(host, tmp_path):
    run = tmp_path / "run"
    result = invoke(["train", "dragan", "--max-images", 200, "--epochs", 1, "--no-progress", "--out", run],
                    host=host)
    assert result.exit_code == 0, result.output
    assert (run / "samples/epoch_0001.png").is_file()
    result = invoke(["sample", run, "--n", 4, "--out", tmp_path / "s.pt"], host=host)
    assert result.exit_code == 0, result.output
    images = torch.load(tmp_path / "s.pt")
    assert images.shape == (4, 1, 28, 28) and images.abs().max() <= 1
