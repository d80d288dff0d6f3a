"""The catalogue's tests that reach into the engine (gankit.losses, gankit.train): kept here with the
core's tests, as plugins/ may use only gankit's public surface. WGAN-GP's gradient penalty is per
sample (the recurring bug elsewhere is a norm over the whole batch), and BEGAN's k_t is training
state that checkpoints keep, so a resumed run is the unbroken one."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

import gankit_catalogue
from gankit.checkpoint import load_checkpoint
from gankit.losses import WassersteinGPLoss, gradient_penalty
from gankit.testing import invoke, plugin_host, using_host
from gankit.train import RunOptions, train
from gankit_catalogue.wgan import WGANGPConfig


@pytest.fixture()
def catalogue_host():
    with using_host(plugin_host(gankit_catalogue)) as host:
        yield host


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


def test_core_gradient_penalty_is_per_sample_with_one_epsilon_per_sample():
    torch.manual_seed(0)
    real, fake = torch.rand(6, 1, 2, 2) + 1, -torch.rand(6, 1, 2, 2)  # real > fake everywhere
    critic = LinearCritic(4)  # ||w|| = 1.0: a per-sample penalty is 0, a batch-wide one (sqrt(6) - 1)^2
    assert gradient_penalty(critic, real, fake).item() == pytest.approx(0.0, abs=1e-10)
    with torch.no_grad():
        critic.weight.fill_(1.5)  # ||w|| = 3
    assert gradient_penalty(critic, real, fake).item() == pytest.approx(4.0)  # (3 - 1)^2, per sample
    [points] = critic.seen[-1:]
    epsilon = ((points - fake) / (real - fake)).detach().flatten(1)
    assert torch.allclose(epsilon, epsilon[:, :1].expand_as(epsilon), atol=1e-5)  # one per sample
    assert epsilon.min() >= 0 and epsilon.max() <= 1 and epsilon[:, 0].unique().numel() == 6

    class SquareCritic(nn.Module):  # D(x) = ||x||^2 / 2: grad = x_hat, norms that differ per sample
        def forward(self, x, labels=None):
            self.points = x
            return 0.5 * x.flatten(1).pow(2).sum(1)

    square = SquareCritic()
    penalty = gradient_penalty(square, real, fake)
    expected = (square.points.detach().flatten(1).norm(dim=1) - 1).pow(2).mean()
    assert penalty.item() == pytest.approx(expected.item(), rel=1e-5)


def test_wgan_gp_loss_weighs_the_penalty_by_lambda_10():
    loss = plugin_host(gankit_catalogue).losses.get("wgan-gp").build(WGANGPConfig())
    assert isinstance(loss, WassersteinGPLoss) and loss.gp_weight == 10.0
    critic = LinearCritic(4)
    with torch.no_grad():
        critic.weight.fill_(1.5)
    real, fake = torch.ones(6, 1, 2, 2), -torch.ones(6, 1, 2, 2)
    d_loss = loss.discriminator_loss(critic, real, fake).loss
    assert d_loss.item() == pytest.approx(-6.0 - 6.0 + 10 * 4.0)  # E[D(fake)] - E[D(real)] + 10 (3 - 1)^2


def test_k_t_survives_a_checkpoint_and_a_resumed_run_is_the_unbroken_one(tmp_path, catalogue_host):
    tiny = {"filters": 4, "embedding": 8, "latent_dim": 8, "lambda_k": 0.05, "epochs": 2}

    def options(out, **extra):
        return RunOptions(out=out, progress=False, max_images=48, device="cpu",
                          callbacks=["began-equilibrium"], **extra)
    train("began", tiny, options(tmp_path / "straight"))
    train("began", {**tiny, "epochs": 1}, options(tmp_path / "resumed"))
    middle = load_checkpoint(tmp_path / "resumed/checkpoints/last.pt")["discriminator"]
    assert 0 < middle["equilibrium.k"].item() < 1 and middle["equilibrium.convergence"].item() > 0
    train("began", {"epochs": 2}, options(tmp_path / "resumed", resume=True))
    straight, resumed = (load_checkpoint(tmp_path / run / "checkpoints/last.pt")
                         for run in ("straight", "resumed"))
    for role in ("generator", "discriminator"):
        for key, value in straight[role].items():
            assert torch.equal(resumed[role][key], value), f"{role}.{key}"
    assert straight["discriminator"]["equilibrium.k"] != middle["equilibrium.k"]
    lines = [json.loads(line) for line in (tmp_path / "resumed/metrics.jsonl").read_text().splitlines()]
    assert [line["epoch"] for line in lines] == [1, 2] and all(0 < line["k"] < 1 for line in lines)
    assert all(line["convergence"] > 0 for line in lines)
    assert (tmp_path / "resumed/steps.jsonl").read_text() == (tmp_path / "straight/steps.jsonl").read_text()


def test_the_callback_refuses_a_d_without_an_equilibrium(tmp_path):
    args = ["train", "r3gan", "--max-images", 64, "--epochs", 1, "--batch-size", 16, "--set", "width=16",
            "--set", "blocks=1", "--no-progress", "--callback", "began-equilibrium", "--out", tmp_path / "run"]
    result = invoke(args, host=plugin_host(gankit_catalogue))
    assert result.exit_code != 0 and "variant 'r3gan' has none" in result.output
