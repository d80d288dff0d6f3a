"""gankit-acgan's own tests: gankit's test kit does most of the work; the rest is what is AC-GAN's."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import gankit_acgan
from gankit import DataInfo, discriminator_step_loss, generator_step_loss, get_loss
from gankit.testing import check_plugin, check_variant, check_variant_loss, invoke, plugin_host, using_host

MNIST = DataInfo("mnist", (1, 28, 28), 10)


@pytest.fixture
def host(monkeypatch, tmp_path):
    """gankit's built-ins plus this plugin only, offline, with an empty data root (so MNIST comes
    from the subset gankit bundles); also the process-wide host, which the CLI and sampler use."""
    monkeypatch.setenv("GANKIT_OFFLINE", "1")
    monkeypatch.setenv("GANKIT_DATA_ROOT", str(tmp_path / "empty-data-root"))
    with using_host(plugin_host(gankit_acgan)) as host:
        yield host


def test_the_kit_passes(host):
    check_variant("acgan", host=host)


@pytest.mark.parametrize("loss", ["bce", "minimax", "lsgan", "hinge", "wgan-gp"])
def test_every_builtin_loss_works(host, loss):
    check_variant_loss("acgan", loss, host=host)


def test_import_and_hooks_are_torch_free():
    assert check_plugin("gankit_acgan") == {"variants": ["acgan"]}


def test_unlabelled_or_odd_sized_data_is_refused_with_a_reason():
    assert "labelled" in gankit_acgan.supports(DataInfo("faces", (3, 64, 64), None))
    assert "divisible by 4" in gankit_acgan.supports(DataInfo("odd", (1, 30, 30), 10))
    assert gankit_acgan.supports(DataInfo("cifar", (3, 32, 32), 10)) is None


def test_both_players_add_the_classifiers_cross_entropy(host):
    torch.manual_seed(0)
    networks = gankit_acgan.build(gankit_acgan.ACGANConfig(class_weight=0.5), MNIST)
    generator, discriminator = networks.generator.eval(), networks.discriminator.eval()
    labels = torch.arange(6) % 10
    real = torch.rand(6, 1, 28, 28) * 2 - 1
    fake = generator(generator.sample_latent(6), labels)
    bce = get_loss("bce").build(None)
    real_out, fake_out = discriminator(real), discriminator(fake)

    d_loss = discriminator_step_loss(bce, discriminator, real, fake, labels).loss
    expected_d = (F.softplus(-real_out.logits).mean() + F.softplus(fake_out.logits).mean()
                  + 0.5 * (F.cross_entropy(real_out.auxiliary, labels)
                           + F.cross_entropy(fake_out.auxiliary, labels)))
    torch.testing.assert_close(d_loss, expected_d)

    g_loss = generator_step_loss(bce, discriminator, fake, labels)
    expected_g = F.softplus(-fake_out.logits).mean() + 0.5 * F.cross_entropy(fake_out.auxiliary, labels)
    torch.testing.assert_close(g_loss, expected_g)


def test_the_classifier_head_learns_the_labels(host):
    # Two classes a linear probe separates at once: bright images are class 1, dark ones class 0.
    torch.manual_seed(0)
    tiny = DataInfo("tiny", (1, 8, 8), 2)
    discriminator = gankit_acgan.build(gankit_acgan.ACGANConfig(dropout=0.0), tiny).discriminator
    labels = torch.arange(32) % 2
    images = (labels.float() * 1.2 - 0.6).view(-1, 1, 1, 1) + 0.2 * torch.randn(32, 1, 8, 8)
    optimizer = torch.optim.Adam(discriminator.parameters(), lr=1e-2)
    for _ in range(20):
        out = discriminator(images)
        loss = discriminator.discriminator_auxiliary_loss(out, out, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    accuracy = (discriminator(images).auxiliary.argmax(1) == labels).float().mean().item()
    assert accuracy == 1.0


def test_train_sample_and_the_plugin_command(host, tmp_path):
    run = tmp_path / "run"
    trained = invoke(["train", "acgan", "--epochs", "1", "--max-images", "128",
                                  "--batch-size", "32", "--out", str(run), "--no-progress"], host=host)
    assert trained.exit_code == 0, trained.output
    sampled = invoke(["sample", str(run), "--n", "10", "--labels", "3",
                                  "--out", str(tmp_path / "threes.png")], host=host)
    assert sampled.exit_code == 0, sampled.output
    assert (tmp_path / "threes.png").stat().st_size > 0

    result = invoke(["acgan-accuracy", str(run), "--n", "50", "--split", "train"], host=host)
    assert result.exit_code == 0, result.output
    assert "real (50 train images" in result.output and "fake (50 samples" in result.output

    listed = invoke(["--help"], host=host, terminal_width=120).output
    assert "Plugin: gankit_acgan" in listed and "acgan-accuracy" in listed

