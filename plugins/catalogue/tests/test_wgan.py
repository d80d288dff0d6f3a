"""wgan and wgan-gp: the papers' defaults, the clip after every critic update, the core gradient
penalty taken per sample with one epsilon per sample and lambda 10, the networks, a real CLI run."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from gankit import DataInfo, GankitWarning, Networks
from gankit.blocks import count_parameters
from gankit.testing import check_loss, check_variant, invoke
from gankit_catalogue.nets.wgan import WassersteinLoss
from gankit_catalogue.wgan import WGANConfig, WGANGPConfig, supports_wgan, supports_wgan_gp


def networks(host, name, shape=(1, 28, 28), **config):
    spec = host.variants.get(name)
    config = spec.config_class(**config)
    built = spec.build_networks(config, DataInfo("test", shape, None), host.losses.get(config.loss))
    return spec, config, built


def test_wgan_defaults_are_algorithm_1():
    config = WGANConfig()
    # Arjovsky et al., Algorithm 1: alpha 5e-5, c 0.01, m 64, n_critic 5, RMSProp; their code's nz 100.
    assert (config.lr, config.clip, config.batch_size, config.n_critic, config.optimizer) == \
        (5e-5, 0.01, 64, 5, "rmsprop")
    assert (config.loss, config.latent_dim) == ("wgan", 100)  # the loss has no penalty: gp_weight is unused
    assert (config.g_features, config.d_features, config.ema, config.r1) == (64, 64, 0.0, 0.0)


def test_wgan_gp_defaults_are_algorithm_1():
    config = WGANGPConfig()
    # Gulrajani et al., Algorithm 1: lambda 10, n_critic 5, alpha 1e-4, beta1 0, beta2 0.9, m 64.
    assert (config.gp_weight, config.n_critic, config.lr, config.beta1, config.beta2, config.batch_size) == \
        (10.0, 5, 1e-4, 0.0, 0.9, 64)
    assert (config.optimizer, config.loss, config.latent_dim, config.dim) == ("adam", "wgan-gp", 128, 64)


def test_network_sizes_and_layouts_on_mnist(host):
    _, _, (generator, critic) = networks(host, "wgan")
    assert (count_parameters(generator), count_parameters(critic)) == (759_680, 138_624)
    convs = [m for m in critic.modules() if isinstance(m, nn.Conv2d)]
    assert convs and all(m.bias is None for m in convs)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in critic.modules()) == 1  # DCGAN_D: none on the first
    assert not any(isinstance(m, nn.Sigmoid) for m in critic.modules())
    _, _, (generator, critic) = networks(host, "wgan-gp")
    assert (count_parameters(generator), count_parameters(critic)) == (1_554_177, 1_030_145)
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm)) for m in critic.modules())
    for shape in [(1, 28, 28), (3, 32, 32)]:
        _, _, (generator, critic) = networks(host, "wgan-gp", shape)
        images = generator(generator.sample_latent(3))  # 28: the 8x8 map cropped to 7x7
        assert images.shape == (3, *shape) and critic(images).shape == (3,)


def test_critic_is_clipped_after_every_update(host):
    spec, config, (generator, critic) = networks(host, "wgan", lr=0.5)
    assert all(p.abs().max() <= 0.01 for p in critic.parameters())  # clipped before the first step too
    optimizers = spec.optimizers(config, Networks(generator, critic))
    assert isinstance(optimizers.discriminator, torch.optim.RMSprop)
    for _ in range(2):  # a huge step throws every weight out of the box; the step's hook puts it back
        critic(torch.randn(8, 1, 28, 28)).mean().backward()
        optimizers.discriminator.step()
        parameters = torch.cat([p.detach().flatten() for p in critic.parameters()])
        assert parameters.abs().max() <= 0.01 and (parameters.abs() == 0.01).float().mean() > 0.5
    before = [p.detach().clone() for p in generator.parameters()]
    generator(generator.sample_latent(8)).mean().backward()
    optimizers.generator.step()  # G is not clipped
    assert any(p.abs().max() > 0.01 for p in generator.parameters())
    assert not all(torch.equal(a, b) for a, b in zip(before, generator.parameters()))


def test_clip_zero_leaves_the_critic_alone(host):
    spec, config, (generator, critic) = networks(host, "wgan", clip=0.0)
    assert any(p.abs().max() > 0.01 for p in critic.parameters())


def test_a_trained_critic_is_within_the_clip(host, tmp_path):
    run = tmp_path / "run"
    # 10 batches of 20: 10 critic steps, 2 G steps.
    result = invoke(["train", "wgan", "--max-images", 200, "--batch-size", 20, "--epochs", 1,
                     "--no-progress", "--out", run], host=host)
    assert result.exit_code == 0, result.output
    state = torch.load(run / "checkpoints/last.pt", weights_only=False)["discriminator"]
    weights = {key: value for key, value in state.items()
               if "running" not in key and "num_batches" not in key}  # BatchNorm's statistics: no weights
    assert weights and all(value.abs().max() <= 0.01 for value in weights.values())
    result = invoke(["sample", run, "--n", 4, "--out", tmp_path / "s.pt"], host=host)
    assert result.exit_code == 0, result.output
    images = torch.load(tmp_path / "s.pt")
    assert images.shape == (4, 1, 28, 28) and images.abs().max() <= 1


def test_wasserstein_loss_has_no_penalty(host):
    check_loss("wgan", host=host)
    loss = host.losses.get("wgan").build(WGANConfig())
    assert isinstance(loss, WassersteinLoss) and loss.critic
    assert not host.losses.get("wgan").per_sample_penalty
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([-2.0, 0.0])
    assert loss.d_loss_from_logits(real, fake).item() == -3.0  # E[D(G(z))] - E[D(x)]
    assert loss.g_loss_from_logits(fake).item() == 1.0


class LinearCritic(nn.Module):
    """D(x) = <w, x>: its gradient is w for every sample, so a per-sample norm is ||w|| while the
    norm over the whole batch (the recurring bug) is sqrt(N) ||w||. It records what it scores."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.full((features,), 0.5))
        self.seen = []

    def forward(self, x, labels=None):
        self.seen.append(x)
        return x.flatten(1) @ self.weight


def test_wgan_with_a_per_sample_penalty_loss_swaps_the_critics_batchnorm(host):
    with pytest.warns(GankitWarning, match="wgan with --loss wgan-gp: the critic uses LayerNorm"):
        _, _, (_, critic) = networks(host, "wgan", loss="wgan-gp")
    assert not any(isinstance(m, nn.BatchNorm2d) for m in critic.modules())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the paper's critic: nothing swapped, nothing said
        _, _, (_, critic) = networks(host, "wgan")
    assert any(isinstance(m, nn.BatchNorm2d) for m in critic.modules())


@pytest.mark.parametrize("shape, wgan_ok, wgan_gp_ok", [
    ((1, 28, 28), True, True), ((3, 32, 32), True, True), ((1, 30, 30), False, False),
    ((1, 24, 24), False, True),
])
def test_supports_says_why_in_one_line(shape, wgan_ok, wgan_gp_ok):
    for supports, ok in ((supports_wgan, wgan_ok), (supports_wgan_gp, wgan_gp_ok)):
        reason = supports(DataInfo("d", shape, None))
        assert (reason is None) == ok
        assert reason is None or ("x".join(map(str, shape)) in reason and "\n" not in reason)


@pytest.mark.parametrize("name", ["wgan", "wgan-gp"])
def test_variant_passes_the_kit(host, name, tmp_path):
    check_variant(name, host=host, workdir=tmp_path, overrides={"dim": 8} if name == "wgan-gp" else
                  {"g_features": 8, "d_features": 8})


def test_a_real_wgan_gp_run_then_sample(host, tmp_path):
    run = tmp_path / "run"
    result = invoke(["train", "wgan-gp", "--max-images", 200, "--batch-size", 20, "--epochs", 1,
                     "--set", "dim=16", "--no-progress", "--out", run], host=host)
    assert result.exit_code == 0, result.output
    assert (run / "samples/epoch_0001.png").is_file()
    result = invoke(["sample", run, "--n", 4, "--out", tmp_path / "s.pt"], host=host)
    assert result.exit_code == 0, result.output
    assert torch.load(tmp_path / "s.pt").shape == (4, 1, 28, 28)
