"""The cgan plugin: both architectures' shapes, that the label really conditions G and D, every
loss, the WGAN-GP adaptation, bad shapes and unlabelled data, and ``gankit sample --labels`` on a
real (tiny) trained run."""

from __future__ import annotations

import warnings

import pytest
import torch
from PIL import Image
from torch import nn

import gankit_cgan
from gankit import ConfigError, DataInfo, DatasetSpec, GankitWarning, get_loss, hookimpl, load_run
from gankit.blocks import count_parameters
from gankit.testing import invoke, plugin_host, using_host
from gankit_cgan import CGANConfig, build, supports
from gankit_cgan.model import build_networks

LOSSES = ["bce", "minimax", "lsgan", "hinge", "wgan-gp"]
MNIST = DataInfo("mnist", (1, 28, 28), 10)


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path_factory):
    monkeypatch.setenv("GANKIT_OFFLINE", "1")  # the bundled MNIST subset, no download attempt
    monkeypatch.setenv("GANKIT_DATA_ROOT", str(tmp_path_factory.getbasetemp() / "empty-data-root"))
    with using_host(None):  # a fresh host of the installed plugins for each test
        yield


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A one-epoch cgan run on 200 digits, trained through the CLI."""
    run = tmp_path_factory.mktemp("cgan") / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GANKIT_OFFLINE", "1")
        patch.setenv("GANKIT_DATA_ROOT", str(tmp_path_factory.getbasetemp() / "empty-data-root"))
        with using_host(None):
            result = invoke(["train", "cgan", "--max-images", 200, "--epochs", 1, "--no-progress", "--out", run])
    assert result.exit_code == 0, result.output
    return run


@pytest.mark.parametrize("arch, shape, g_params, d_params", [
    ("mlp", (1, 28, 28), 1_490_448, 1_470_465),  # the tutorial's sizes + 10 one-hot inputs each
    ("mlp", (3, 32, 32), 3_835_648, 3_813_377),
    ("conv", (1, 28, 28), 822_401, 148_929),
    ("conv", (3, 32, 32), 1_109_891, 673_601),
    ("conv", (3, 64, 64), 3_658_627, 2_775_873),
])
def test_networks_are_sized_from_the_image_shape(arch, shape, g_params, d_params):
    generator, discriminator = build_networks(CGANConfig(arch=arch), DataInfo("test", shape, 10))
    assert (count_parameters(generator), count_parameters(discriminator)) == (g_params, d_params)
    assert generator.num_classes == discriminator.num_classes == 10
    labels = torch.tensor([0, 3, 9])
    images = generator(generator.sample_latent(3), labels)
    assert images.shape == (3, *shape)
    assert images.min() >= -1 and images.max() <= 1
    assert discriminator(images, labels).shape == (3,)


@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_the_label_changes_what_g_draws_and_what_d_says(arch):
    torch.manual_seed(0)
    generator, discriminator = build_networks(CGANConfig(arch=arch), MNIST)
    generator.eval()
    discriminator.eval()  # no dropout or batch statistics: only the label differs below
    z = generator.sample_latent(1).repeat(10, 1)
    digits = torch.arange(10)
    with torch.no_grad():
        images = generator(z, digits)
        logits = discriminator(images[:1].repeat(10, 1, 1, 1), digits)
    assert all(not torch.allclose(images[0], images[k]) for k in range(1, 10))
    assert logits.unique().numel() == 10
    with pytest.raises(ValueError, match="labels"):
        generator(z)


@pytest.mark.parametrize("arch", ["mlp", "conv"])
@pytest.mark.parametrize("loss", LOSSES)
def test_every_loss_trains(arch, loss):
    torch.manual_seed(0)
    config = CGANConfig(arch=arch, loss=loss, g_features=8, d_features=8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GankitWarning)
        generator, discriminator = build_networks(config, MNIST, loss=get_loss(loss))
    objective = plugin_host().losses.get(loss).build(config)
    g_opt = torch.optim.Adam(generator.parameters(), lr=config.lr, betas=(config.beta1, config.beta2))
    d_opt = torch.optim.Adam(discriminator.parameters(), lr=config.lr, betas=(config.beta1, config.beta2))
    real, labels = torch.rand(8, 1, 28, 28) * 2 - 1, torch.arange(8)
    before = [p.detach().clone() for p in [*generator.parameters(), *discriminator.parameters()]]
    for _ in range(2):  # two D and G steps, as the engine takes them
        fake = generator(generator.sample_latent(8), labels)
        d_out = objective.discriminator_loss(discriminator, real, fake.detach(), labels)
        d_opt.zero_grad()
        d_out.loss.backward()
        d_opt.step()
        discriminator.requires_grad_(False)
        g_loss = objective.generator_loss(discriminator, fake, labels)
        g_opt.zero_grad()
        g_loss.backward()
        g_opt.step()
        discriminator.requires_grad_(True)
        assert torch.isfinite(d_out.loss) and torch.isfinite(g_loss)
    after = [*generator.parameters(), *discriminator.parameters()]
    assert all(not torch.equal(old, new) for old, new in zip(before, after) if new.dim() > 1)


def test_conv_wgan_gp_critic_gets_layer_norm_and_a_warning():
    with pytest.warns(GankitWarning, match="cgan arch=conv with --loss wgan-gp: the critic uses LayerNorm"):
        _, discriminator = build_networks(CGANConfig(arch="conv", loss="wgan-gp"), MNIST,
                                          loss=get_loss("wgan-gp"))
    assert not any(isinstance(m, nn.BatchNorm2d) for m in discriminator.modules())
    assert any(isinstance(m, nn.GroupNorm) and m.num_groups == 1 for m in discriminator.modules())


@pytest.mark.parametrize("config", [CGANConfig(arch="mlp", loss="wgan-gp"), CGANConfig(arch="conv")])
def test_no_warning_where_nothing_is_adapted(config):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        build(config, MNIST, loss=get_loss(config.loss))


@pytest.mark.parametrize("bad, message", [
    ({"dropout": 1.0}, "dropout must be"),
    ({"d_features": 0}, "d_features must be"),
    ({"leaky_slope": -0.1}, "leaky_slope must be"),
    ({"init_std": 0.0}, "init_std must be"),
])
def test_config_rejects_bad_values_in_one_line(bad, message):
    with pytest.raises(ConfigError, match=message) as caught:
        CGANConfig(**bad)
    assert "\n" not in str(caught.value)


def test_shapes_and_labels_it_cannot_use_are_clear_errors():
    assert supports(MNIST) is None
    assert "no class labels" in supports(DataInfo("faces", (3, 64, 64), None))
    odd = DataInfo("odd", (1, 30, 30), 10)
    assert build(CGANConfig(arch="mlp", latent_dim=4), odd).generator.image_shape == (1, 30, 30)
    with pytest.raises(ConfigError, match="arch=conv cannot size its networks for 1x30x30.*arch=mlp"):
        build(CGANConfig(arch="conv"), odd)


class UnlabelledData:
    """A one-off plugin with a dataset that has no labels."""

    @hookimpl
    def gankit_register_datasets(self, register):
        register(DatasetSpec("faces", "unlabelled", (1, 28, 28), None, lambda request: None))


def test_unlabelled_dataset_is_a_one_line_error(tmp_path):
    host = plugin_host(gankit_cgan, UnlabelledData())
    result = invoke(["train", "cgan", "--dataset", "faces", "--out", tmp_path / "r"], host=host)
    assert result.exit_code == 2
    assert "Variant 'cgan' cannot train on 'faces': it has no class labels" in result.output


def test_arch_is_checked_when_set_from_the_cli(tmp_path):
    result = invoke(["train", "cgan", "--set", "arch=resnet", "--out", tmp_path / "r"])
    assert result.exit_code == 2 and "arch must be one of mlp, conv; got 'resnet'" in result.output


def test_the_epoch_grid_has_one_row_per_class(trained_run):
    with Image.open(trained_run / "samples/epoch_0001.png") as grid:
        # 10 x 10 digits of 28 px with 2 px separators (302 px), drawn twice as large (at least
        # 360 px wide), under a strip that names the epoch
        assert grid.size[0] == 2 * (10 * 30 + 2) and grid.size[1] > grid.size[0]


@pytest.mark.parametrize("labels, n, expected", [
    ("7", 3, [7, 7, 7]),
    ("0-9", 10, list(range(10))),
    ("1,4,4", 5, [1, 4, 4, 1, 4]),  # cycled over --n
])
def test_sample_labels_draws_the_asked_classes(trained_run, tmp_path, labels, n, expected):
    out = tmp_path / "samples.pt"
    result = invoke(["sample", trained_run, "--labels", labels, "--n", n, "--seed", 3, "--out", out])
    assert result.exit_code == 0, result.output
    loaded = load_run(trained_run)
    z = loaded.generator.sample_latent(n, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        wanted = loaded.generator(z, torch.tensor(expected)).clamp(-1, 1)
    assert torch.allclose(torch.load(out), wanted)


def test_sample_labels_out_of_range_is_a_clear_error(trained_run):
    result = invoke(["sample", trained_run, "--labels", 10])
    assert result.exit_code == 2 and "labels must be in 0-9" in result.output


def test_a_real_conv_cli_run(tmp_path):
    result = invoke(["train", "cgan", "--set", "arch=conv", "--max-images", 200, "--epochs", 1, "--no-progress",
                     "--out", tmp_path / "run"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "run/samples/epoch_0001.png").is_file()
