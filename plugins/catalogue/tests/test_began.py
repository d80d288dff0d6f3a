"""BEGAN: the paper's recipe, its networks, the equilibrium controller and its loss, k_t kept by
checkpoints (a resumed run is the unbroken one), the logging callback, and a real tiny run."""

from __future__ import annotations

import json
import types

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gankit import DataInfo, GankitWarning
from gankit.blocks import count_parameters
from gankit.testing import invoke
from gankit_catalogue.began import BEGANConfig, supports
from gankit_catalogue.nets.began import (BEGANDiscriminator, BEGANLoss, Equilibrium, build_networks,
                                         equilibrium_of)

MNIST = DataInfo("mnist", (1, 28, 28), 10)


def test_defaults_are_the_papers_recipe():
    config = BEGANConfig()
    assert (config.loss, config.diversity_ratio, config.lambda_k) == ("began", 0.5, 0.001)
    assert (config.optimizer, config.lr, config.beta1, config.beta2) == ("adam", 1e-4, 0.9, 0.999)
    assert (config.batch_size, config.latent_dim, config.embedding, config.repeats) == (16, 64, 64, 2)
    assert (config.n_critic, config.r1, config.ema, config.augment, config.lr_schedule) == \
        (1, 0.0, 0.0, "none", "constant")
    assert (config.filters, config.epochs) == (32, 6)
    assert Equilibrium().k.item() == 0.0  # k_0


def test_networks_are_the_papers_autoencoder():
    generator, discriminator = build_networks(BEGANConfig(), MNIST)
    assert (count_parameters(generator), count_parameters(discriminator)) == (157_697, 717_665)
    convs = [m for m in discriminator.encoder if isinstance(m, nn.Conv2d)]
    # n, then n, 2n, 3n per scale (28, 14, 7) with a stride-2 conv between scales
    assert [c.out_channels for c in convs] == [32, 32, 32, 32, 64, 64, 64, 96, 96]
    assert [c.stride[0] for c in convs].count(2) == 2 and all(c.kernel_size == (3, 3) for c in convs)
    assert discriminator.encoder[-1].out_features == 64  # the linear bottleneck h
    modules = [*generator.modules(), *discriminator.modules()]
    assert sum(isinstance(m, nn.ELU) for m in modules) == 6 + 9 + 6  # every conv but the last ones
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.ConvTranspose2d, nn.Dropout)) for m in modules)
    assert all(m.mode == "nearest" for m in modules if isinstance(m, nn.Upsample))
    z = generator.sample_latent(2000, generator=torch.Generator().manual_seed(0))
    assert z.min() >= -1 and z.max() <= 1 and abs(z.mean().item()) < 0.02  # U(-1, 1)
    rgb = build_networks(BEGANConfig(filters=8), DataInfo("rgb", (3, 64, 64), None))
    assert rgb.generator.decoder.start == 8  # the paper's 8x8 bottleneck map
    assert supports(MNIST) is None and "1x30x30" in supports(DataInfo("odd", (1, 30, 30), None))


def test_d_scores_minus_its_reconstruction_error():
    _, discriminator = build_networks(BEGANConfig(filters=8), MNIST)
    x = torch.rand(3, 1, 28, 28) * 2 - 1
    error = (x - discriminator.reconstruct(x)).abs().mean(dim=(1, 2, 3))
    assert torch.allclose(discriminator(x), -error) and (discriminator(x) <= 0).all()


def test_the_controller_steps_and_clips_k():
    state = Equilibrium()
    state.update(torch.tensor(0.4), torch.tensor(0.1), diversity_ratio=0.5, lambda_k=0.001)
    assert state.k.item() == pytest.approx(0.001 * (0.5 * 0.4 - 0.1))
    assert state.convergence.item() == pytest.approx(0.4 + abs(0.5 * 0.4 - 0.1))  # M_global
    state.update(torch.tensor(0.1), torch.tensor(0.9), diversity_ratio=0.5, lambda_k=0.001)
    assert state.k.item() == 0.0  # clipped at 0
    state.update(torch.tensor(5.0), torch.tensor(0.0), diversity_ratio=1.0, lambda_k=1.0)
    assert state.k.item() == 1.0  # and at 1


def test_the_loss_on_begans_d_uses_k_t_then_updates_it_in_ds_buffer():
    _, discriminator = build_networks(BEGANConfig(filters=8), MNIST)
    discriminator.equilibrium.k.fill_(0.25)
    real, fake = torch.rand(4, 1, 28, 28) * 2 - 1, torch.rand(4, 1, 28, 28) * 2 - 1
    loss = BEGANLoss(diversity_ratio=0.5, lambda_k=0.01)
    with torch.no_grad():
        real_energy, fake_energy = -discriminator(real).mean(), -discriminator(fake).mean()
    result = loss.discriminator_loss(discriminator, real, fake)
    assert result.loss.item() == pytest.approx((real_energy - 0.25 * fake_energy).item(), rel=1e-5)
    assert discriminator.equilibrium.k.item() == \
        pytest.approx(0.25 + 0.01 * (0.5 * real_energy - fake_energy).item(), rel=1e-5)
    assert loss.own is None  # the state is D's, not the loss's
    g_loss = loss.generator_loss(discriminator, fake, real=real)
    assert g_loss.item() == pytest.approx(fake_energy.item(), rel=1e-5)  # L_G = L(G(z))
    wrapped = types.SimpleNamespace(discriminator=types.SimpleNamespace(unwrapped=discriminator))
    assert equilibrium_of(wrapped) is discriminator.equilibrium  # through the engine's wrappers


def test_the_loss_on_any_other_d_takes_softplus_energies_and_keeps_k_itself():
    layer = nn.Linear(4, 1)

    def critic(x, labels=None):  # a plain D: one logit per image, no autoencoder
        return layer(x.flatten(1)).flatten()

    real, fake = torch.randn(8, 1, 2, 2), torch.randn(8, 1, 2, 2)
    loss = BEGANLoss(lambda_k=0.1)
    with pytest.warns(GankitWarning, match="k_t is kept outside the checkpoint"):
        result = loss.discriminator_loss(critic, real, fake)
    with torch.no_grad():
        real_energy, fake_energy = F.softplus(-critic(real)).mean(), F.softplus(-critic(fake)).mean()
    assert result.loss.item() == pytest.approx(real_energy.item(), rel=1e-5)  # k_0 = 0
    assert loss.own.k.item() == pytest.approx(max(0.0, 0.1 * (0.5 * real_energy - fake_energy).item()))
    assert loss.generator_loss(critic, fake).item() == pytest.approx(fake_energy.item(), rel=1e-5)


def test_a_real_cli_run_then_sample(tmp_path):
    run = tmp_path / "run"
    result = invoke(["train", "began", "--max-images", 200, "--epochs", 1, "--set", "filters=8",
                     "--no-progress", "--out", run])
    assert result.exit_code == 0, result.output
    config = json.loads((run / "config.json").read_text())["config"]
    assert (config["loss"], config["batch_size"], config["lr"]) == ("began", 16, 1e-4)
    result = invoke(["sample", run, "--n", 4, "--out", tmp_path / "s.pt"])
    assert result.exit_code == 0, result.output
    images = torch.load(tmp_path / "s.pt")
    assert images.shape == (4, 1, 28, 28) and images.abs().max() <= 1
    assert isinstance(__import__("gankit").load_run(run).discriminator, BEGANDiscriminator)
