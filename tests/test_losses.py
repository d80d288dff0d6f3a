"""Built-in losses: textbook values, gradients in the right direction, finite at extreme logits."""

from __future__ import annotations

import math

import pytest
import torch

from gankit.plugins import PluginHost
from gankit.config import TrainConfig

LOSS_NAMES = ["bce", "minimax", "lsgan", "hinge", "wgan-gp"]


@pytest.fixture(scope="module")
def host():
    host = PluginHost()
    host.load_builtins()
    return host


def identity_discriminator(x, labels=None):
    """A 'discriminator' whose logit is the input's mean: lets tests choose the logits."""
    return x.flatten(1).mean(1)


def test_every_builtin_loss_is_registered(host):
    assert host.losses.names() == sorted(LOSS_NAMES)


def test_bce_matches_the_textbook_formula(host):
    loss = host.losses.get("bce").build(TrainConfig())
    real, fake = torch.tensor([[2.0], [0.5]]), torch.tensor([[-1.0], [0.3]])
    d = loss.discriminator_loss(identity_discriminator, real, fake).loss
    sig = torch.sigmoid
    expected = -(torch.log(sig(real)).mean() + torch.log(1 - sig(fake)).mean())
    assert d.item() == pytest.approx(expected.item(), rel=1e-6)
    g = loss.generator_loss(identity_discriminator, fake)
    assert g.item() == pytest.approx(-torch.log(sig(fake)).mean().item(), rel=1e-6)


def test_minimax_generator_loss_is_the_saturating_one(host):
    loss = host.losses.get("minimax").build(TrainConfig())
    fake = torch.tensor([[-1.0], [0.3]])
    expected = torch.log(1 - torch.sigmoid(fake)).mean()
    assert loss.generator_loss(identity_discriminator, fake).item() == pytest.approx(expected.item(), rel=1e-6)


def test_lsgan_and_hinge_values(host):
    real, fake = torch.tensor([[2.0]]), torch.tensor([[-0.5]])
    lsgan = host.losses.get("lsgan").build(TrainConfig())
    assert lsgan.discriminator_loss(identity_discriminator, real, fake).loss.item() == pytest.approx(0.5 * (1 + 0.25))
    hinge = host.losses.get("hinge").build(TrainConfig())
    assert hinge.discriminator_loss(identity_discriminator, real, fake).loss.item() == pytest.approx(0 + 0.5)
    assert hinge.generator_loss(identity_discriminator, fake).item() == pytest.approx(0.5)


def test_wgan_gp_penalty_is_zero_for_a_unit_gradient_critic(host):
    loss = host.losses.get("wgan-gp").build(TrainConfig(gp_weight=10.0))
    # D(x) = sum of pixels / 2 over 4 pixels: gradient norm exactly 1 everywhere.
    critic = lambda x, labels=None: x.flatten(1).sum(1) / 2  # noqa: E731
    real, fake = torch.ones(3, 1, 2, 2), torch.zeros(3, 1, 2, 2)
    out = loss.discriminator_loss(critic, real, fake)
    assert out.loss.item() == pytest.approx(0 - 2.0, abs=1e-5)  # E[D(fake)] - E[D(real)], no penalty
    steep = lambda x, labels=None: x.flatten(1).sum(1) * 2  # noqa: E731  gradient norm 4
    assert loss.discriminator_loss(steep, real, fake).loss.item() == pytest.approx(-8.0 + 10 * 9, rel=1e-4)


@pytest.mark.parametrize("name", LOSS_NAMES)
@pytest.mark.parametrize("magnitude", [1e2, 1e4])
def test_losses_and_gradients_stay_finite_at_extreme_logits(host, name, magnitude):
    loss = host.losses.get(name).build(TrainConfig())
    for sign in (1.0, -1.0):
        real = torch.full((4, 1), sign * magnitude, requires_grad=True)
        fake = torch.full((4, 1), -sign * magnitude, requires_grad=True)
        d = loss.discriminator_loss(identity_discriminator, real, fake).loss
        g = loss.generator_loss(identity_discriminator, fake)
        (d + g).backward()
        for value in (d, g, real.grad, fake.grad):
            assert torch.isfinite(value).all(), f"{name} not finite at logits {sign * magnitude:g}"


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_a_generator_step_raises_the_fake_logit(host, name):
    """Every G loss must push D's opinion of fakes up: gradient wrt the fake logit is negative."""
    loss = host.losses.get(name).build(TrainConfig())
    fake = torch.zeros(4, 1, requires_grad=True)
    loss.generator_loss(identity_discriminator, fake).backward()
    assert (fake.grad < 0).all()
    assert math.isfinite(fake.grad.sum().item())
