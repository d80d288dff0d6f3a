"""InfoGAN's networks for MNIST (Chen et al. 2016, appendix C.1, table 1), and Q's loss.

z = [noise | one-hot of each categorical code | each continuous code]; with the defaults
[62 | 10 ("digit") | 2 ("c1", "c2")], 74 columns. The noise and the continuous codes are
uniform in [-1, 1] (as in the authors' released code), a categorical code uniform over its values.

G: FC 1024, BN, ReLU -> FC 7x7x128, BN, ReLU -> 4x4 up-conv 64 stride 2, BN, ReLU -> 4x4 up-conv 1
stride 2, tanh (the paper has a sigmoid; gankit's images are in [-1, 1]).
D: 4x4 conv 64 stride 2, LeakyReLU 0.1 -> 4x4 conv 128 stride 2, BN, LeakyReLU -> FC 1024, BN,
LeakyReLU: the features D and Q share. D's head: FC -> 1 logit. Q's head: FC 128, BN, LeakyReLU ->
FC to each categorical code's logits and each continuous code's mean (and log-std, with
``learn_std``; else the std is 1, as in the authors' code).

Weights start N(0, 0.02) (DCGAN's initialisation; ``init_std``).
With a per-sample gradient penalty (``--loss wgan-gp``), the shared body's BatchNorm becomes a
per-sample LayerNorm, so the penalty means what it should.
"""

from __future__ import annotations

import math
import warnings
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from gankit import (DataInfo, Discriminator, DiscriminatorOutput, GankitError, GankitWarning, Generator,
                    Networks, get_loss)
from gankit.blocks import dcgan_init_
from gankit import LatentCode

LOG_STD_RANGE = (-5.0, 2.0)  # keeps Q's Gaussian NLL bounded below


def latent_codes(config) -> tuple[LatentCode, ...]:
    """Where each code sits in z: the categorical codes after the noise, then the continuous ones."""
    codes = []
    index = config.noise_dim
    for i in range(config.categorical_codes):
        name = "digit" if i == 0 else f"cat{i + 1}"
        codes.append(LatentCode(name, index, config.categories,
                                f"{config.categories}-way categorical (one-hot), uniform; learns the "
                                "digit class on MNIST" if i == 0 else
                                f"{config.categories}-way categorical (one-hot), uniform"))
        index += config.categories
    for i in range(config.continuous_codes):
        codes.append(LatentCode(f"c{i + 1}", index, None,
                                "continuous, uniform in [-1, 1] in training; on MNIST it learns "
                                "rotation or width (try -2 to 2)"))
        index += 1
    return tuple(codes)


class QOutput(NamedTuple):
    """What Q says about an image's codes: ``categorical`` holds one (N, categories) logit tensor
    per categorical code; ``mean`` and ``log_std`` are (N, continuous codes)."""

    categorical: tuple[torch.Tensor, ...]
    mean: torch.Tensor
    log_std: torch.Tensor


class InfoGANGenerator(Generator):
    def __init__(self, *, latent_dim: int, image_shape: tuple[int, int, int],
                 codes: tuple[LatentCode, ...], hidden: int, features: int) -> None:
        super().__init__(latent_dim=latent_dim, image_shape=image_shape)
        self.latent_codes = codes
        self.noise_dim = min(code.index for code in codes)
        self.start = (2 * features, 7, 7)
        self.project = nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
            nn.Linear(hidden, math.prod(self.start)), nn.BatchNorm1d(math.prod(self.start)),
            nn.ReLU(inplace=True),
        )
        self.net = nn.Sequential(
            nn.ConvTranspose2d(2 * features, features, 4, 2, 1), nn.BatchNorm2d(features),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(features, image_shape[0], 4, 2, 1), nn.Tanh(),
        )

    def sample_latent(self, n: int, *, device: torch.device | str | None = None,
                      generator: torch.Generator | None = None) -> torch.Tensor:
        """The prior: noise and continuous codes uniform in [-1, 1], each categorical code a
        uniformly drawn one-hot. All randomness comes from ``generator`` when one is given."""
        z = torch.rand(n, self.latent_dim, device=device, generator=generator) * 2 - 1
        values = {}
        for code in self.latent_codes:
            if code.categories:
                values[code.name] = torch.randint(code.categories, (n,), device=device, generator=generator)
        return self.set_latent_codes(z, values)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(self.project(z).view(z.shape[0], *self.start))


class InfoGANDiscriminator(Discriminator):
    def __init__(self, *, image_shape: tuple[int, int, int], codes: tuple[LatentCode, ...],
                 features: int, hidden: int, q_hidden: int, leaky_slope: float,
                 info_weight: float, continuous_weight: float, learn_std: bool = False,
                 layer_norm: bool = False) -> None:
        super().__init__(image_shape=image_shape)
        self.codes = codes
        self.categorical = tuple(code for code in codes if code.categories)
        self.continuous = tuple(code for code in codes if not code.categories)
        self.info_weight, self.continuous_weight = info_weight, continuous_weight
        self.learn_std = learn_std
        norm2d = (lambda width: nn.GroupNorm(1, width)) if layer_norm else nn.BatchNorm2d
        norm1d = nn.LayerNorm if layer_norm else nn.BatchNorm1d
        self.shared = nn.Sequential(
            nn.Conv2d(image_shape[0], features, 4, 2, 1), nn.LeakyReLU(leaky_slope, inplace=True),
            nn.Conv2d(features, 2 * features, 4, 2, 1), norm2d(2 * features),
            nn.LeakyReLU(leaky_slope, inplace=True), nn.Flatten(),
            nn.Linear(2 * features * 7 * 7, hidden), norm1d(hidden), nn.LeakyReLU(leaky_slope, inplace=True),
        )
        self.adversarial = nn.Linear(hidden, 1)
        q_outputs = sum(code.categories for code in self.categorical) \
            + (2 if learn_std else 1) * len(self.continuous)
        self.q = nn.Sequential(
            nn.Linear(hidden, q_hidden), norm1d(q_hidden), nn.LeakyReLU(leaky_slope, inplace=True),
            nn.Linear(q_hidden, q_outputs),
        )

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> DiscriminatorOutput:
        h = self.shared(x)
        q = self.q(h)
        widths = [code.categories for code in self.categorical] \
            + [len(self.continuous)] * (2 if self.learn_std else 1)
        parts = torch.split(q, widths, dim=1)
        if self.learn_std:
            *categorical, mean, log_std = parts
            log_std = log_std.clamp(*LOG_STD_RANGE)
        else:  # std 1: log-std 0
            *categorical, mean = parts
            log_std = torch.zeros_like(mean)
        return DiscriminatorOutput(self.adversarial(h).squeeze(1),
                                   QOutput(tuple(categorical), mean, log_std))

    def info_loss(self, q: QOutput, latent: torch.Tensor) -> torch.Tensor:
        """lambda * (cross-entropy of each categorical code + continuous_weight * Gaussian NLL of
        each continuous code), batch means summed over codes: the negative of the paper's
        variational lower bound L_I, up to the codes' (constant) entropy."""
        loss = latent.new_zeros(())
        for code, logits in zip(self.categorical, q.categorical):
            target = latent[:, code.index:code.index + code.categories].argmax(1)
            loss = loss + F.cross_entropy(logits, target)
        if self.continuous:
            target = latent[:, [code.index for code in self.continuous]]
            nll = (0.5 * ((target - q.mean) * torch.exp(-q.log_std)).pow(2) + q.log_std
                   + 0.5 * math.log(2 * math.pi))
            loss = loss + self.continuous_weight * nll.sum(1).mean()
        return self.info_weight * loss

    def discriminator_auxiliary_loss(self, real, fake, labels, *, latent=None):
        # D's step: Q (and the body it shares with D) learns to read the codes off the fakes.
        return self.info_loss(fake.auxiliary, _required(latent))

    def generator_auxiliary_loss(self, fake, labels, *, latent=None):
        # G's step: G learns to draw the codes so that Q can read them.
        return self.info_loss(fake.auxiliary, _required(latent))


def _required(latent: torch.Tensor | None) -> torch.Tensor:
    if latent is None:
        raise ValueError("InfoGAN's Q loss needs the noise the fakes were made from: call the "
                         "auxiliary losses with latent=z (gankit's engine does)")
    return latent


def _per_sample_penalty(config, loss) -> bool:
    if loss is not None:
        return bool(getattr(loss, "per_sample_penalty", False))
    try:  # built without the run's loss (e.g. when loading a checkpoint): look it up by name
        return bool(get_loss(config.loss).per_sample_penalty)
    except GankitError:
        return False


def build_networks(config, data: DataInfo, loss=None) -> Networks:
    layer_norm = _per_sample_penalty(config, loss)
    if layer_norm:
        warnings.warn(f"infogan with --loss {config.loss}: D's shared layers use LayerNorm instead "
                      "of BatchNorm, because the gradient penalty is per sample", GankitWarning,
                      stacklevel=2)
    codes = latent_codes(config)
    generator = InfoGANGenerator(latent_dim=config.latent_dim, image_shape=data.image_shape,
                                 codes=codes, hidden=config.g_hidden, features=config.g_features)
    discriminator = InfoGANDiscriminator(
        image_shape=data.image_shape, codes=codes, features=config.d_features, hidden=config.d_hidden,
        q_hidden=config.q_hidden, leaky_slope=config.leaky_slope, info_weight=config.info_weight,
        continuous_weight=config.continuous_weight, learn_std=config.learn_std, layer_norm=layer_norm)
    # DCGAN's initialisation. With PyTorch's default one, G learns to write the codes into
    # high-frequency noise that Q reads perfectly, and never draws digits.
    dcgan_init_(generator, std=config.init_std)
    dcgan_init_(discriminator, std=config.init_std)
    return Networks(generator, discriminator)
