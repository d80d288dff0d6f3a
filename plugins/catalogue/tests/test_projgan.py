"""projgan: the authors' recipe (hinge, Adam 2e-4 (0, 0.9), n_dis 5, linear decay) as defaults, the
projection (D's logit is linear(phi) + <embed(y), phi>, so the label changes it), conditional
BatchNorm in G, spectral norm in D only, the sizes, the test kit, and ``sample --labels`` on a real
(tiny) CLI run."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from gankit import DataInfo
from gankit.blocks import count_parameters
from gankit.testing import check_variant, invoke
from gankit_catalogue.nets.projgan import build_networks
from gankit_catalogue.nets.sn_blocks import ConditionalBatchNorm2d
from gankit_catalogue.projgan import VARIANTS, ProjGANConfig, supports

MNIST = DataInfo("mnist", (1, 28, 28), 10)
SMALL = ProjGANConfig(g_channels=8, d_channels=8)


def test_defaults_are_the_authors_recipe():
    config = ProjGANConfig()
    # pfnet-research/sngan_projection, configs/sn_cifar10_conditional.yml: adam alpha 2e-4, beta1 0,
    # beta2 0.9; n_dis 5; loss_type hinge; batchsize 64; dim_z 128; iteration_decay_start 0.
    assert (config.loss, config.optimizer, config.lr, config.beta1, config.beta2, config.n_critic) == \
        ("hinge", "adam", 2e-4, 0.0, 0.9, 5)
    assert config.generator_lr == config.discriminator_lr == 2e-4
    assert (config.batch_size, config.latent_dim, config.lr_schedule) == (64, 128, "linear")
    assert (config.g_channels, config.d_channels, config.ema, config.r1) == (32, 32, 0.0, 0.0)
    assert VARIANTS[0].conditional


def test_the_projection_is_the_inner_product_of_the_label_embedding_with_phi():
    torch.manual_seed(0)
    _, discriminator = build_networks(SMALL, MNIST)
    discriminator.eval()  # spectral norm's power iteration stops: the same weights in every call
    x = torch.rand(10, 1, 28, 28) * 2 - 1
    labels = torch.arange(10)
    with torch.no_grad():
        logits = discriminator(x, labels)
        phi = discriminator.features(x)
        embedding = discriminator.embed.weight  # the spectrally normalised embedding
        assert phi.shape == (10, 8)
        assert torch.allclose(logits, discriminator.linear(phi).squeeze(1) + (embedding[labels] * phi).sum(1),
                              atol=1e-5)
        # Another label changes the logit by exactly <embed(y') - embed(y), phi>.
        other = (labels + 3) % 10
        shift = discriminator(x, other) - logits
        assert torch.allclose(shift, ((embedding[other] - embedding[labels]) * phi).sum(1), atol=1e-5)
        assert shift.abs().min() > 0
        # Without labels, no projection: the unconditional score alone.
        assert torch.allclose(discriminator(x), discriminator.linear(phi).squeeze(1))


def test_g_has_conditional_batchnorm_and_its_label_changes_the_images():
    torch.manual_seed(0)
    generator, _ = build_networks(SMALL, MNIST)
    norms = [m for m in generator.modules() if isinstance(m, ConditionalBatchNorm2d)]
    assert len(norms) == 4  # two per up block, 7x7 -> 14x14 -> 28x28
    for norm in norms:
        assert norm.gain.weight.shape == norm.bias.weight.shape == (10, norm.norm.num_features)
        assert norm.gain.weight.mean().item() == pytest.approx(1.0, abs=0.01)
        assert norm.bias.weight.mean().item() == pytest.approx(0.0, abs=0.01)
        assert not norm.norm.affine  # the class's gain and bias replace BatchNorm's own
    generator.eval()
    z = generator.sample_latent(1).repeat(10, 1)
    with torch.no_grad():
        images = generator(z, torch.arange(10))
    assert images.shape == (10, 1, 28, 28) and images.abs().max() <= 1
    assert all(not torch.allclose(images[0], images[k]) for k in range(1, 10))
    with pytest.raises(ValueError, match="labels"):
        generator(z)


def test_spectral_norm_on_every_d_layer_and_none_in_g():
    torch.manual_seed(0)
    generator, discriminator = build_networks(SMALL, MNIST)
    layers = [m for m in discriminator.modules() if isinstance(m, (nn.Conv2d, nn.Linear, nn.Embedding))]
    assert len(layers) == 12  # 4 blocks of 2 convs, 2 shortcuts (first two blocks), linear, embedding
    assert all(parametrize.is_parametrized(m, "weight") for m in layers)
    assert not any(parametrize.is_parametrized(m) for m in generator.modules())
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in discriminator.modules())
    x, labels = torch.rand(4, 1, 28, 28) * 2 - 1, torch.arange(4)
    for _ in range(10):  # each training-mode forward pass takes one power iteration
        discriminator(x, labels)
    for layer in layers:
        sigma = torch.linalg.matrix_norm(layer.weight.detach().flatten(1), ord=2)
        assert sigma.item() == pytest.approx(1.0, abs=0.03)


@pytest.mark.parametrize("shape, g_params, d_params", [
    ((1, 28, 28), 244_289, 66_528),
    ((3, 32, 32), 129_475, 67_168),
])
def test_small_networks_sized_from_the_image_shape(shape, g_params, d_params):
    generator, discriminator = build_networks(ProjGANConfig(), DataInfo("test", shape, 10))
    assert (count_parameters(generator), count_parameters(discriminator)) == (g_params, d_params)
    assert generator.num_classes == discriminator.num_classes == 10


def test_supports_labelled_square_images_only():
    assert supports(MNIST) is None
    assert "no class labels" in supports(DataInfo("faces", (3, 64, 64), None))
    assert "1x30x30" in supports(DataInfo("odd", (1, 30, 30), 10))


def test_passes_the_kit(host, tmp_path):
    check_variant("projgan", host=host, overrides={"g_channels": 8, "d_channels": 8}, workdir=tmp_path)


def test_a_real_cli_run_then_sample_with_labels(host, tmp_path):
    run = tmp_path / "run"
    # Batches of 20: 10 D steps and, with n_dis 5, two G steps.
    result = invoke(["train", "projgan", "--max-images", 200, "--epochs", 1, "--no-progress", "--out", run,
                     "--batch-size", 20, "--set", "g_channels=8", "--set", "d_channels=8"], host=host)
    assert result.exit_code == 0, result.output
    out = tmp_path / "sevens.pt"
    result = invoke(["sample", run, "--labels", 7, "--n", 4, "--out", out], host=host)
    assert result.exit_code == 0, result.output
    sevens = torch.load(out)
    assert sevens.shape == (4, 1, 28, 28) and sevens.abs().max() <= 1
    result = invoke(["sample", run, "--labels", 2, "--n", 4, "--out", tmp_path / "twos.pt"], host=host)
    assert result.exit_code == 0 and not torch.equal(torch.load(tmp_path / "twos.pt"), sevens)
    result = invoke(["sample", run, "--labels", 10], host=host)
    assert result.exit_code == 2 and "labels must be in 0-9" in result.output
