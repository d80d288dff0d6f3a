"""DRAGAN's loss and its reference networks (kodalinaveen3/DRAGAN, ``DRAGAN.ipynb``).

The loss is the non-saturating GAN loss plus ``lambda * E[(||grad D(x_hat)|| - k)^2]`` at points
near the real data only: x_p = x + c * std(x) * U[0, 1] (one std over the whole real batch, uniform
noise per pixel, c = 0.5), x_hat = x + alpha (x_p - x) with one alpha ~ U[0, 1] per sample, k = 1,
the gradient's norm taken per sample. Fakes play no part in the penalty (that is what sets it
apart from WGAN-GP's).

The networks are the notebook's MLPs: G z (100, U(-1, 1)) -> 128, ReLU -> the image, tanh (their
sigmoid, for gankit's [-1, 1] images); D image -> 128, ReLU -> 1 logit. Weights N(0, sqrt(2 /
fan_in)) (their ``xavier_init``: 1 / sqrt(fan_in / 2)), biases 0. On MNIST: G 114,064 and D
100,609 parameters.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from gankit import DataInfo, Discriminator, DiscriminatorLoss, Generator, Loss, Networks
from gankit_catalogue.nets.lucic import uniform_latent


def perturbed_real(real: torch.Tensor, scale: float) -> torch.Tensor:
    """x + scale * std(x) * U[0, 1], as the reference's ``get_perturbed_batch`` (numpy's std: over
    the whole batch, population form). Fresh noise each call; nothing of the fakes is used."""
    return real + scale * real.std(correction=0) * torch.rand_like(real)


def dragan_penalty(discriminator, real: torch.Tensor, labels: torch.Tensor | None, *,
                   scale: float = 0.5, target: float = 1.0) -> torch.Tensor:
    """Mean over the batch of (||grad_x D(x_hat)||_2 - target)^2, the norm per sample, at x_hat
    between each real image and its perturbed copy (one alpha per sample)."""
    real = real.detach()
    alpha = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)
    points = (real + alpha * (perturbed_real(real, scale) - real)).requires_grad_(True)
    (gradients,) = torch.autograd.grad(discriminator(points, labels).sum(), points, create_graph=True)
    return (gradients.flatten(1).norm(2, dim=1) - target).pow(2).mean()


class DRAGANLoss(Loss):
    """BCE (non-saturating for G) plus the DRAGAN penalty on D."""

    def __init__(self, gp_weight: float = 10.0, perturbation: float = 0.5) -> None:
        self.gp_weight, self.perturbation = gp_weight, perturbation

    @classmethod
    def from_config(cls, config) -> "DRAGANLoss":
        return cls(gp_weight=getattr(config, "gp_weight", 10.0),
                   perturbation=getattr(config, "perturbation", 0.5))

    def discriminator_loss(self, discriminator, real, fake, labels=None):
        real_logits, fake_logits = discriminator(real, labels), discriminator(fake, labels)
        loss = F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
        if self.gp_weight:
            penalty = dragan_penalty(discriminator, real, labels, scale=self.perturbation)
            loss = loss + self.gp_weight * penalty
        return DiscriminatorLoss(loss, real_logits, fake_logits)

    def generator_loss(self, discriminator, fake, labels=None, *, real=None):
        return F.softplus(-discriminator(fake, labels)).mean()


class MLPGenerator(Generator):
    def __init__(self, *, latent_dim: int, image_shape: tuple[int, int, int], hidden: int) -> None:
        super().__init__(latent_dim=latent_dim, image_shape=image_shape)
        self.net = nn.Sequential(nn.Linear(latent_dim, hidden), nn.ReLU(inplace=True),
                                 nn.Linear(hidden, math.prod(image_shape)), nn.Tanh())

    def sample_latent(self, n, *, device=None, generator=None):
        return uniform_latent(n, self.latent_dim, device=device, generator=generator)  # their sample_z

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(z).view(z.shape[0], *self.image_shape)


class MLPDiscriminator(Discriminator):
    def __init__(self, *, image_shape: tuple[int, int, int], hidden: int) -> None:
        super().__init__(image_shape=image_shape)
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(image_shape), hidden),
                                 nn.ReLU(inplace=True), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x).view(x.shape[0])


@torch.no_grad()
def reference_init_(module: nn.Module) -> nn.Module:
    """The notebook's ``xavier_init`` (std 1 / sqrt(fan_in / 2)) for weights, zero biases."""
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            layer.weight.normal_(0.0, 1 / math.sqrt(layer.in_features / 2))
            layer.bias.zero_()
    return module


def build_networks(config, data: DataInfo) -> Networks:
    generator = MLPGenerator(latent_dim=config.latent_dim, image_shape=data.image_shape,
                             hidden=config.hidden)
    discriminator = MLPDiscriminator(image_shape=data.image_shape, hidden=config.hidden)
    return Networks(reference_init_(generator), reference_init_(discriminator))
