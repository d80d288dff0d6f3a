"""Built-in losses: textbook values, gradients in the right direction, finite at extreme logits."""

from __future__ import annotations

import math

import pytest
import torch

from gankit.host import PluginHost
from gankit.config import TrainConfig

LOSS_NAMES = ["bce", "minimax", "lsgan", "hinge", "wgan-gp", "ragan"]


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
        g = loss.generator_loss(identity_discriminator, fake, real=real)
        (d + g).backward()
        for value in (d, g, real.grad, fake.grad):
            assert torch.isfinite(value).all(), f"{name} not finite at logits {sign * magnitude:g}"


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_a_generator_step_raises_the_fake_logit(host, name):
    """Every G loss must push D's opinion of fakes up: gradient wrt the fake logit is negative."""
    loss = host.losses.get(name).build(TrainConfig())
    fake = torch.zeros(4, 1, requires_grad=True)
    loss.generator_loss(identity_discriminator, fake, real=torch.ones(4, 1)).backward()
    assert (fake.grad < 0).all()
    assert math.isfinite(fake.grad.sum().item())


def test_ragan_matches_the_relativistic_average_formula(host):
    loss = host.losses.get("ragan").build(TrainConfig())
    real, fake = torch.tensor([[2.0], [0.5]]), torch.tensor([[-1.0], [0.3]])
    r, f = real.flatten(), fake.flatten()
    sig = torch.sigmoid
    d = loss.discriminator_loss(identity_discriminator, real, fake).loss
    expected_d = -(torch.log(sig(r - f.mean())).mean() + torch.log(1 - sig(f - r.mean())).mean())
    assert d.item() == pytest.approx(expected_d.item(), rel=1e-6)
    g = loss.generator_loss(identity_discriminator, fake, real=real)
    expected_g = -(torch.log(sig(f - r.mean())).mean() + torch.log(1 - sig(r - f.mean())).mean())
    assert g.item() == pytest.approx(expected_g.item(), rel=1e-6)


def test_ragan_without_the_real_batch_says_what_it_needs(host):
    loss = host.losses.get("ragan").build(TrainConfig())
    with pytest.raises(ValueError, match="real batch"):
        loss.generator_loss(identity_discriminator, torch.zeros(2, 1))


def test_the_engine_hands_real_and_latent_only_to_methods_that_take_them():
    """A loss and auxiliary heads written for gankit 0.1 (no ``real`` / ``latent`` keywords) keep
    working; newer ones get the real batch and the noise."""
    from gankit.losses import Loss, discriminator_step_loss, generator_step_loss
    from gankit.nn import Discriminator, DiscriminatorOutput
    seen = {}

    class OldLoss(Loss):
        def discriminator_loss(self, discriminator, real, fake, labels=None):
            from gankit.losses import DiscriminatorLoss
            r, f = discriminator(real), discriminator(fake)
            return DiscriminatorLoss(f.mean() - r.mean(), r, f)

        def generator_loss(self, discriminator, fake, labels=None):
            return -discriminator(fake).mean()

    class NewLoss(OldLoss):
        def generator_loss(self, discriminator, fake, labels=None, *, real=None):
            seen["real"] = real
            return -discriminator(fake).mean()

    class Heads(Discriminator):
        def __init__(self, takes_latent):
            super().__init__(image_shape=(1, 2, 2))
            self.weight = torch.nn.Parameter(torch.ones(()))
            self.takes_latent = takes_latent

        def forward(self, x, labels=None):
            return DiscriminatorOutput(self.weight * x.flatten(1).mean(1), x.flatten(1))

    class OldHeads(Heads):
        def generator_auxiliary_loss(self, fake, labels):
            seen["old_aux"] = True
            return fake.auxiliary.mean() * 0

    class NewHeads(Heads):
        def discriminator_auxiliary_loss(self, real, fake, labels, *, latent=None):
            seen["d_latent"] = latent
            return None

        def generator_auxiliary_loss(self, fake, labels, *, latent=None):
            seen["g_latent"] = latent
            return None

    real, fake, z = torch.ones(3, 1, 2, 2), torch.zeros(3, 1, 2, 2), torch.randn(3, 5)
    generator_step_loss(OldLoss(), OldHeads(False), fake, real=real, latent=z)
    assert seen == {"old_aux": True}
    discriminator_step_loss(NewLoss(), NewHeads(True), real, fake, latent=z)
    generator_step_loss(NewLoss(), NewHeads(True), fake, real=real, latent=z)
    assert seen["real"] is real and seen["d_latent"] is z and seen["g_latent"] is z
