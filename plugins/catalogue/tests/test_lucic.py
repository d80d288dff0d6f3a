"""lucic: the study's shared setup, its InfoGAN-style networks, D's norm under every kind of loss
(per-sample penalties get a per-sample norm), the shape check, and a real CLI run under another loss."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from gankit import DataInfo, GankitWarning
from gankit.blocks import count_parameters
from gankit.testing import check_variant_loss, invoke
from gankit_catalogue.lucic import LucicConfig, supports
from gankit_catalogue.nets.lucic import build_networks


def networks(host, shape=(1, 28, 28), **config):
    config = LucicConfig(**config)
    return build_networks(config, DataInfo("test", shape, None), loss=host.losses.get(config.loss))


def test_defaults_are_the_studys_shared_setup():
    config = LucicConfig()
    # compare_gan v1: BATCH_SIZE 64, z_dim 64 (U(-1, 1)); params.py's wide-range defaults: Adam lr 1e-4,
    # beta1 0.5, disc_iters 1, discriminator BatchNorm on; the NS GAN loss.
    assert (config.batch_size, config.latent_dim) == (64, 64)
    assert (config.optimizer, config.lr, config.beta1, config.beta2) == ("adam", 1e-4, 0.5, 0.999)
    assert (config.n_critic, config.loss, config.d_norm, config.g_leaky_slope, config.ema, config.r1) == \
        (1, "bce", "batch", 0.0, 0.0, 0.0)


def test_the_networks_on_mnist_and_cifar_shapes(host):
    generator, discriminator = networks(host)
    assert (count_parameters(generator), count_parameters(discriminator)) == (6_642_241, 6_559_169)
    linears = [(m.in_features, m.out_features) for m in generator.modules() if isinstance(m, nn.Linear)]
    assert linears == [(64, 1024), (1024, 7 * 7 * 128)]
    assert [type(m) for m in generator.deconv] == \
        [nn.ConvTranspose2d, nn.BatchNorm2d, nn.ReLU, nn.ConvTranspose2d, nn.Tanh]
    assert sum(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) for m in generator.modules()) == 3
    convs = [m for m in discriminator.modules() if isinstance(m, nn.Conv2d)]
    assert [(m.out_channels, m.kernel_size, m.stride) for m in convs] == \
        [(64, (4, 4), (2, 2)), (128, (4, 4), (2, 2))]
    fully_connected = [m for m in discriminator.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in fully_connected] == [(7 * 7 * 128, 1024), (1024, 1)]
    norms = [m for m in discriminator.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(norms) == 2 and norms[0].eps == 1e-3  # after conv 2 and FC 1024, compare_gan's epsilon
    assert {m.negative_slope for m in discriminator.modules() if isinstance(m, nn.LeakyReLU)} == {0.2}
    z = generator.sample_latent(4000)
    assert z.min() >= -1 and z.max() <= 1 and abs(z.mean().item()) < 0.01  # U(-1, 1)
    generator, discriminator = networks(host, (3, 32, 32))  # an 8x8 start
    images = generator(generator.sample_latent(3))
    assert images.shape == (3, 3, 32, 32) and images.abs().max() <= 1 and discriminator(images).shape == (3,)


@pytest.mark.parametrize("loss, per_sample", [("bce", False), ("lsgan", False), ("wgan", False),
                                              ("wgan-gp", True), ("dragan", True)])
def test_d_keeps_batchnorm_unless_the_loss_penalises_per_sample(host, loss, per_sample):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, discriminator = networks(host, loss=loss)
    said = [str(w.message) for w in caught if issubclass(w.category, GankitWarning)]
    assert bool(said) == per_sample and all(f"lucic with --loss {loss}" in line for line in said)
    assert any(isinstance(m, nn.BatchNorm2d) for m in discriminator.modules()) != per_sample
    if per_sample:  # one image's score no longer depends on the rest of the batch
        x = torch.rand(4, 1, 28, 28) * 2 - 1
        assert torch.allclose(discriminator(x)[:1], discriminator(x[:1]), atol=1e-5)


@pytest.mark.parametrize("loss", ["lsgan", "wgan-gp", "dragan"])
def test_losses_train_on_the_shared_networks(host, loss):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GankitWarning)
        check_variant_loss("lucic", loss, host=host)


def test_the_studys_other_norms_and_codes_activation(host):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a chosen norm is not swapped, whatever the loss
        _, plain = networks(host, d_norm="none", loss="wgan-gp")
        _, layer = networks(host, d_norm="layer")
        _, spectral = networks(host, d_norm="spectral")
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) for m in plain.modules())
    assert sum(isinstance(m, nn.GroupNorm) and m.num_groups == 1 for m in layer.modules()) == 2
    assert sum(hasattr(m, "parametrizations") for m in spectral.modules()) == 4  # both convs, both FCs
    generator, _ = networks(host, g_leaky_slope=0.2)  # compare_gan's code
    assert {m.negative_slope for m in generator.modules() if isinstance(m, nn.LeakyReLU)} == {0.2}


@pytest.mark.parametrize("shape, ok", [((1, 28, 28), True), ((3, 32, 32), True), ((3, 64, 48), True),
                                       ((1, 30, 30), False), ((1, 4, 4), False)])
def test_supports_says_why_in_one_line(shape, ok):
    reason = supports(DataInfo("d", shape, None))
    assert (reason is None) == ok
    assert reason is None or ("x".join(map(str, shape)) in reason and "\n" not in reason)


def test_a_real_cli_run_under_another_loss_then_sample(host, tmp_path):
    run = tmp_path / "run"
    # The whole life of a run (tests/test_all_variants.py runs gankit.testing.check_variant on it too).
    result = invoke(["train", "lucic", "--loss", "lsgan", "--max-images", 64, "--batch-size", 32,
                     "--epochs", 1, "--no-progress", "--out", run], host=host)
    assert result.exit_code == 0, result.output
    assert (run / "samples/epoch_0001.png").is_file()
    result = invoke(["sample", run, "--n", 4, "--out", tmp_path / "s.pt"], host=host)
    assert result.exit_code == 0, result.output
    images = torch.load(tmp_path / "s.pt")
    assert images.shape == (4, 1, 28, 28) and images.abs().max() <= 1
