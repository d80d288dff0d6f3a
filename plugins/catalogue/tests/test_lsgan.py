"""lsgan: the authors' settings for their 28x28 network, the 0-1 least-squares loss, the network
(Figure 3(b) without its labels), the per-sample-penalty adaptation, and a real CLI run."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gankit import DataInfo, GankitWarning
from gankit.blocks import count_parameters
from gankit.testing import invoke
from gankit_catalogue.lsgan import LSGANConfig, supports
from gankit_catalogue.nets.lsgan import build_networks

MNIST = DataInfo("mnist", (1, 28, 28), 10)


def test_defaults_are_the_authors_settings(host):
    config = LSGANConfig()
    # train_chn.py: Adam, learning_rate 0.0002, beta1 0.5, batch_size 64, z_dim 1024 (uniform).
    assert (config.optimizer, config.lr, config.beta1, config.beta2) == ("adam", 2e-4, 0.5, 0.999)
    assert (config.batch_size, config.latent_dim) == (64, 1024)
    assert (config.loss, config.n_critic, config.ema, config.r1, config.label_width, config.g_features) == \
        ("lsgan", 1, 0.0, 0.0, 256, 128)
    loss = host.losses.get(config.loss).build(config)  # a = 0, b = 1, c = 1
    assert type(loss).__name__ == "LeastSquaresLoss"  # the core's `lsgan` loss, a = 0, b = 1, c = 1
    ones, zeros = torch.ones(3), torch.zeros(3)
    assert loss.d_loss_from_logits(ones, zeros).item() == 0.0 and loss.g_loss_from_logits(ones).item() == 0.0
    assert loss.d_loss_from_logits(zeros, ones).item() == 1.0  # 0.5 (0 - 1)^2 + 0.5 (1 - 0)^2


def test_the_network_on_mnist():
    torch.manual_seed(0)
    generator, discriminator = build_networks(LSGANConfig(), MNIST)
    assert (count_parameters(generator), count_parameters(discriminator)) == (6_854_529, 18_124_059)
    convs = [m for m in discriminator.modules() if isinstance(m, nn.Conv2d)]
    assert [(m.out_channels, m.kernel_size, m.stride) for m in convs] == \
        [(257, (5, 5), (2, 2)), (320, (5, 5), (2, 2))]
    assert sum(isinstance(m, nn.BatchNorm2d) for m in discriminator.modules()) == 2  # conv 2 and the FC 1024
    deconvs = [m for m in generator.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [(m.out_channels, m.kernel_size) for m in deconvs] == [(128, (5, 5)), (1, (5, 5))]
    z = generator.sample_latent(4000)
    assert z.shape == (4000, 1024) and z.min() >= -1 and z.max() <= 1 and abs(z.mean().item()) < 0.01
    images = generator(z[:3])
    assert images.shape == (3, 1, 28, 28) and images.abs().max() <= 1 and discriminator(images).shape == (3,)
    weights = torch.cat([m.weight.detach().flatten() for m in convs])
    # N(0, 0.02) truncated at 2 std: std 0.0176
    assert weights.abs().max() <= 0.04 and weights.std().item() == pytest.approx(0.0176, rel=0.05)


@pytest.mark.parametrize("loss", ["wgan-gp", "dragan"])
def test_a_per_sample_penalty_gets_a_per_sample_norm_in_d(host, loss):
    with pytest.warns(GankitWarning, match=f"lsgan with --loss {loss}: the critic uses LayerNorm"):
        _, discriminator = build_networks(LSGANConfig(label_width=8), MNIST, loss=host.losses.get(loss))
    assert not any(isinstance(m, nn.BatchNorm2d) for m in discriminator.modules())
    x = torch.rand(4, 1, 28, 28) * 2 - 1
    assert torch.allclose(discriminator(x)[:1], discriminator(x[:1]), atol=1e-5)


@pytest.mark.parametrize("shape, ok", [((1, 28, 28), True), ((3, 32, 32), True), ((1, 30, 30), False),
                                       ((1, 4, 4), False)])
def test_supports_says_why_in_one_line(shape, ok):
    reason = supports(DataInfo("d", shape, None))
    assert (reason is None) == ok
    assert reason is None or ("x".join(map(str, shape)) in reason and "\n" not in reason)


def test_a_real_cli_run_then_sample(host, tmp_path):
    """The whole life of a run, on narrow networks (gankit.testing.check_variant runs on every variant
    at its defaults in tests/test_all_variants.py)."""
    run = tmp_path / "run"
    result = invoke(["train", "lsgan", "--max-images", 200, "--epochs", 1, "--set", "label_width=8",
                     "--set", "g_features=16", "--no-progress", "--out", run], host=host)
    assert result.exit_code == 0, result.output
    assert (run / "samples/epoch_0001.png").is_file() and (run / "checkpoints/last.pt").is_file()
    result = invoke(["sample", run, "--n", 4, "--out", tmp_path / "s.pt"], host=host)
    assert result.exit_code == 0, result.output
    images = torch.load(tmp_path / "s.pt")
    assert images.shape == (4, 1, 28, 28) and images.abs().max() <= 1
