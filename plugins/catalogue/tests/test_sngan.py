"""sngan: the paper's recipe as defaults, Table 3's networks (exactly on 32x32, one doubling fewer on
28x28), spectral norm on every D layer holding its largest singular value at 1, the test kit, and
a real (tiny) CLI run."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from gankit import DataInfo, LossSpec
from gankit.blocks import count_parameters
from gankit.testing import check_variant, invoke
from gankit_catalogue.nets.sngan import build_networks
from gankit_catalogue.sngan import SNGANConfig, build, supports

MNIST = DataInfo("mnist", (1, 28, 28), 10)
CIFAR = DataInfo("cifar10", (3, 32, 32), 10)
SMALL = {"g_features": 8, "d_features": 8}  # the same layout, narrow: for the slower checks


def test_defaults_are_the_papers_recipe():
    config = SNGANConfig()
    # Hinge loss (eq. 17); Adam, Table 1's setting C: alpha 2e-4, beta1 0.5, beta2 0.999, n_dis 1.
    assert (config.loss, config.optimizer, config.lr, config.beta1, config.beta2, config.n_critic) == \
        ("hinge", "adam", 2e-4, 0.5, 0.999, 1)
    assert config.generator_lr == config.discriminator_lr == 2e-4  # no TTUR in SN-GAN
    # Batches of 64, z ~ N(0, I) of 128, LeakyReLU 0.1, nothing the paper does not have.
    assert (config.batch_size, config.latent_dim, config.leaky_slope) == (64, 128, 0.1)
    assert (config.ema, config.r1, config.augment, config.lr_schedule) == (0.0, 0.0, "none", "constant")
    assert (config.g_features, config.d_features) == (64, 64)


def layer_shapes(module: nn.Module) -> list[tuple]:
    # Spectral norm makes a layer a ParametrizedConv2d: its name without the prefix is the layer's.
    return [(type(m).__name__.removeprefix("Parametrized"), m.in_channels, m.out_channels, m.kernel_size[0],
             m.stride[0])
            if not isinstance(m, nn.Linear) else ("Linear", m.in_features, m.out_features)
            for m in module.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]


def test_on_32x32_the_networks_are_table_3():
    generator, discriminator = build_networks(SNGANConfig(), CIFAR)
    assert layer_shapes(generator) == [
        ("Linear", 128, 4 * 4 * 512), ("ConvTranspose2d", 512, 256, 4, 2),
        ("ConvTranspose2d", 256, 128, 4, 2), ("ConvTranspose2d", 128, 64, 4, 2), ("Conv2d", 64, 3, 3, 1)]
    assert layer_shapes(discriminator) == [
        ("Conv2d", 3, 64, 3, 1), ("Conv2d", 64, 64, 4, 2), ("Conv2d", 64, 128, 3, 1),
        ("Conv2d", 128, 128, 4, 2), ("Conv2d", 128, 256, 3, 1), ("Conv2d", 256, 256, 4, 2),
        ("Conv2d", 256, 512, 3, 1), ("Linear", 4 * 4 * 512, 1)]
    assert sum(isinstance(m, nn.BatchNorm2d) for m in generator.modules()) == 4  # dense + 3 deconvs
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in discriminator.modules())
    slopes = {m.negative_slope for m in discriminator.modules() if isinstance(m, nn.LeakyReLU)}
    assert slopes == {0.1}
    assert (count_parameters(generator), count_parameters(discriminator)) == (3_804_739, 2_935_873)


def test_on_28x28_the_start_map_is_7x7_with_one_doubling_fewer():
    generator, discriminator = build_networks(SNGANConfig(), MNIST)
    assert layer_shapes(generator)[:2] == [("Linear", 128, 7 * 7 * 256), ("ConvTranspose2d", 256, 128, 4, 2)]
    assert layer_shapes(discriminator)[-2:] == [("Conv2d", 128, 256, 3, 1), ("Linear", 7 * 7 * 256, 1)]
    assert (count_parameters(generator), count_parameters(discriminator)) == (2_262_465, 710_081)
    images = generator(generator.sample_latent(3))
    assert images.shape == (3, 1, 28, 28) and images.abs().max() <= 1
    assert discriminator(images).shape == (3,)


def test_spectral_norm_on_every_d_layer_holds_its_largest_singular_value_at_one():
    torch.manual_seed(0)
    generator, discriminator = build_networks(SNGANConfig(**SMALL), MNIST)
    layers = [m for m in discriminator.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert len(layers) == 6 and all(parametrize.is_parametrized(m, "weight") for m in layers)
    assert not any(parametrize.is_parametrized(m) for m in generator.modules())  # G: the paper's, no SN
    with torch.no_grad():  # whatever scale the learnt weights take (3 here), the layers' is 1
        for layer in layers:
            original = layer.parametrizations.weight.original
            original.mul_(3.0 / torch.linalg.matrix_norm(original.flatten(1), ord=2))
    x = torch.rand(16, 1, 28, 28) * 2 - 1
    for _ in range(5):  # each training-mode forward pass takes one power iteration
        discriminator(x)
    for layer in layers:
        sigma = torch.linalg.matrix_norm(layer.weight.detach().flatten(1), ord=2)
        assert sigma.item() == pytest.approx(1.0, abs=0.02)


def test_every_loss_takes_d_as_is():
    """No BatchNorm in D: a per-sample-penalty loss needs no swap, and nothing warns."""
    penalty = LossSpec("penalty", "a per-sample gradient penalty", lambda c: None, per_sample_penalty=True)
    _, discriminator = build(SNGANConfig(**SMALL), MNIST, loss=penalty)
    x = torch.rand(4, 1, 28, 28)
    discriminator.eval()
    assert torch.allclose(discriminator(x)[:1], discriminator(x[:1]), atol=1e-6)


def test_supports_square_sides_of_the_plan_only():
    assert supports(MNIST) is None and supports(CIFAR) is None
    reason = supports(DataInfo("odd", (1, 30, 30), None))
    assert "1x30x30" in reason and "vanilla" in reason


def test_passes_the_kit(host, tmp_path):
    check_variant("sngan", host=host, overrides=SMALL, workdir=tmp_path)


def test_a_real_cli_run_then_sample(host, tmp_path):
    run = tmp_path / "run"
    result = invoke(["train", "sngan", "--max-images", 200, "--epochs", 1, "--no-progress", "--out", run,
                     "--set", "g_features=16", "--set", "d_features=16"], host=host)
    assert result.exit_code == 0, result.output
    assert "C(x)" in result.output  # hinge is a critic loss: raw scores are shown
    config = json.loads((run / "config.json").read_text())["config"]
    assert (config["loss"], config["lr"], config["beta1"], config["batch_size"]) == ("hinge", 2e-4, 0.5, 64)
    result = invoke(["sample", run, "--n", 4, "--out", tmp_path / "s.pt"], host=host)
    assert result.exit_code == 0, result.output
    images = torch.load(tmp_path / "s.pt")
    assert images.shape == (4, 1, 28, 28) and images.abs().max() <= 1
