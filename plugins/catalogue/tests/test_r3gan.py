"""R3GAN: the paper's recipe, its small normalisation-free ResNet, the RpGAN pairing and the R1 / R2
penalties against hand computations, and a real tiny run."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gankit import DataInfo
from gankit.blocks import count_parameters
from gankit.testing import invoke
from gankit_catalogue import r3gan
from gankit_catalogue.nets.r3gan import Resample, ResidualBlock, RpGANLoss, build_networks
from gankit_catalogue.r3gan import R3GANConfig, supports

MNIST = DataInfo("mnist", (1, 28, 28), 10)


def test_defaults_are_the_papers_recipe():
    config = R3GANConfig()
    assert (config.loss, config.r1_gamma, config.r2_gamma) == ("rpgan", 0.05, 0.05)
    assert (config.optimizer, config.lr, config.beta1, config.beta2) == ("adam", 2e-4, 0.0, 0.99)
    assert (config.batch_size, config.latent_dim, config.n_critic) == (512, 64, 1)
    # The penalties are the loss's own: no core R1, weight averaging or augmentation on top.
    assert (config.r1, config.ema, config.augment, config.lr_schedule) == (0.0, 0.0, "none", "constant")
    assert (config.width, config.blocks, config.expansion, config.epochs) == (64, 2, 2, 3)
    [spec] = r3gan.LOSSES
    assert spec.name == "rpgan" and spec.per_sample_penalty and RpGANLoss.critic


def test_the_networks_are_a_small_normalisation_free_resnet():
    generator, discriminator = build_networks(R3GANConfig(), MNIST)
    assert (count_parameters(generator), count_parameters(discriminator)) == (118_224, 114_192)
    modules = [*generator.modules(), *discriminator.modules()]
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm)) for m in modules)
    blocks = [m for m in generator.modules() if isinstance(m, ResidualBlock)]
    assert [b.branch[0].in_channels for b in blocks] == [64, 64, 32, 32, 16, 16]
    grouped = [b.branch[2] for b in blocks]  # the inverted bottleneck's grouped 3x3, 16 channels a group
    assert all(c.in_channels == 2 * b.branch[0].in_channels and c.in_channels // c.groups == 16
               for c, b in zip(grouped, blocks))
    x = torch.randn(2, 32, 14, 14)
    assert torch.equal(blocks[2](x), x)  # fix-up: the last layer is zero, each block starts as identity
    z = generator.sample_latent(3)
    images = generator(z)
    assert images.shape == (3, 1, 28, 28) and images.abs().max() <= 1
    assert discriminator(images).shape == (3,)
    assert supports(MNIST) is None and "1x30x30" in supports(DataInfo("odd", (1, 30, 30), None))


def test_resampling_doubles_and_halves_with_the_low_pass_filter():
    flat = torch.ones(1, 3, 8, 8)
    up, down = Resample(up=True)(flat), Resample(up=False)(flat)
    assert up.shape == (1, 3, 16, 16) and down.shape == (1, 3, 4, 4)
    assert torch.allclose(up[..., 1:-1, 1:-1], torch.ones(1, 3, 14, 14))  # a constant stays one
    assert torch.allclose(down[..., 1:-1, 1:-1], torch.ones(1, 3, 2, 2))


class Quadratic(nn.Module):
    """D(v) = w * sum(v^2) / 2 + sum(v): its gradient at v is w * v + 1, known in closed form."""

    def __init__(self, weight: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.tensor(weight))

    def forward(self, x, labels=None):
        return self.weight * x.pow(2).flatten(1).sum(1) / 2 + x.flatten(1).sum(1)


def test_rpgan_pairs_each_real_image_with_one_fake():
    critic = Quadratic(1.0)
    real, fake = torch.randn(4, 1, 2, 2), torch.randn(4, 1, 2, 2)
    r, f = critic(real).detach(), critic(fake).detach()
    loss = RpGANLoss(r1_gamma=0.0, r2_gamma=0.0)
    d_loss = loss.discriminator_loss(critic, real, fake).loss
    assert d_loss.item() == pytest.approx(F.softplus(f - r).mean().item(), rel=1e-6)
    g_loss = loss.generator_loss(critic, fake, real=real)
    assert g_loss.item() == pytest.approx(F.softplus(r - f).mean().item(), rel=1e-6)
    # Pairs, not every real against every fake (nor against the batch mean, as RaGAN's).
    every_pair = F.softplus(f[None, :] - r[:, None]).mean()
    assert d_loss.item() != pytest.approx(every_pair.item(), rel=1e-3)
    with pytest.raises(ValueError, match="pairs"):
        loss.generator_loss(critic, fake)
    with pytest.raises(ValueError, match="4 real and 3 fake"):
        loss.discriminator_loss(critic, real, fake[:3])


def test_r1_on_real_and_r2_on_fake_are_the_gradients_squared_norms():
    critic = Quadratic(2.0)
    real, fake = torch.randn(3, 1, 2, 2), torch.randn(3, 1, 2, 2)
    loss = RpGANLoss(r1_gamma=0.3, r2_gamma=0.7)
    result = loss.discriminator_loss(critic, real, fake)
    r1 = (2.0 * real + 1).flatten(1).pow(2).sum(1)  # ||grad D(x)||^2 = ||w x + 1||^2, per image
    r2 = (2.0 * fake + 1).flatten(1).pow(2).sum(1)
    adversarial = F.softplus(critic(fake) - critic(real)).detach()
    expected = (adversarial + 0.3 / 2 * r1 + 0.7 / 2 * r2).mean()
    assert result.loss.item() == pytest.approx(expected.item(), rel=1e-5)
    # The penalties reach D's weights (a double backward): d/dw of ||w v + 1||^2 is 2 v . (w v + 1).
    result.loss.backward()
    weight = torch.tensor(2.0, requires_grad=True)
    reference = (F.softplus(weight * (fake.pow(2) - real.pow(2)).flatten(1).sum(1) / 2
                            + (fake - real).flatten(1).sum(1))
                 + 0.15 * (weight * real + 1).flatten(1).pow(2).sum(1)
                 + 0.35 * (weight * fake + 1).flatten(1).pow(2).sum(1)).mean()
    reference.backward()
    assert critic.weight.grad.item() == pytest.approx(weight.grad.item(), rel=1e-5)
    built = r3gan.build_loss(R3GANConfig(r1_gamma=0.2, r2_gamma=0.4))
    assert (built.r1_gamma, built.r2_gamma) == (0.2, 0.4)


def test_a_real_cli_run_then_sample(tmp_path):
    run = tmp_path / "run"
    # Batches of 50 (the paper's 512 exceed 200 images) and narrower nets keep it a few seconds.
    result = invoke(["train", "r3gan", "--max-images", 200, "--epochs", 1, "--batch-size", 50,
                     "--set", "width=16", "--set", "blocks=1", "--no-progress", "--out", run])
    assert result.exit_code == 0, result.output
    config = json.loads((run / "config.json").read_text())["config"]
    recipe = (config["loss"], config["beta1"], config["beta2"], config["r1_gamma"], config["r2_gamma"])
    assert recipe == ("rpgan", 0.0, 0.99, 0.05, 0.05)
    result = invoke(["sample", run, "--n", 4, "--out", tmp_path / "s.pt"])
    assert result.exit_code == 0, result.output
    images = torch.load(tmp_path / "s.pt")
    assert images.shape == (4, 1, 28, 28) and images.abs().max() <= 1
