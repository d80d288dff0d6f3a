"""BEGAN's networks, its equilibrium state and its loss (Berthelot, Schumm & Metz 2017).

D is an autoencoder. Its encoder is a 3x3 conv, then per scale ``repeats`` 3x3 convs with ELU at
``n * (scale + 1)`` channels (the filters grow linearly) and a stride-2 3x3 conv between scales,
then a fully connected map, with no non-linearity, to the embedding h. Its decoder, and G, map h
(z for G) through a fully connected layer to an ``n``-channel map of the smallest scale, then per
scale ``repeats`` 3x3 convs with ELU and a nearest-neighbour doubling between scales, and a last
3x3 conv to the image channels. That is carpedm20/BEGAN-tensorflow's models.py (the code the paper
links), its TF-slim initialisation included (Glorot-uniform weights, zero biases). G ends in tanh
here (gankit's images lie in [-1, 1]; the reference's G is linear); D's decoder stays linear.

D's output, the score every gankit loss sees, is ``-L(v)``, minus the per-image mean absolute
reconstruction error ``L(v) = mean |v - D(v)|``: higher means "more like the data", as for any
critic, and at most 0. The ``began`` loss reads the energy back as ``-score``.

k_t, the equilibrium's control variable, is training state: it lives in an :class:`Equilibrium`
held by BEGAN's D (buffers ``equilibrium.k`` and ``equilibrium.convergence``), so checkpoints keep
it and ``--resume`` continues bit for bit; the ``began`` loss updates it in every D step.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from gankit import (Callback, ConfigError, DataInfo, Discriminator, DiscriminatorLoss, GankitWarning,
                    Generator, Loss, Networks)

# The attributes a wrapped D keeps its inner D in: the loss's view of D (gankit.losses), --augment's
# wrapper, torch.compile's module and DDP's. The loss looks through them for D's Equilibrium.
_WRAPPERS = ("discriminator", "unwrapped", "_orig_mod", "module")


class Equilibrium(nn.Module):
    """k_t and the last D step's convergence measure M_global, as buffers (so checkpoints keep them).

    ``update`` is the paper's control step, ``k <- clip(k + lambda_k (gamma L(x) - L(G(z))),
    0, 1)``, and M_global = ``L(x) + |gamma L(x) - L(G(z))|``, both from the step's
    mean energies before D's update, as the reference computes them.
    """

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("k", torch.zeros(()))  # k_0 = 0 (the paper's)
        self.register_buffer("convergence", torch.zeros(()))

    @torch.no_grad()
    def update(self, real_energy: torch.Tensor, fake_energy: torch.Tensor, *, diversity_ratio: float,
               lambda_k: float) -> None:
        balance = diversity_ratio * real_energy - fake_energy
        self.k.copy_((self.k + lambda_k * balance).clamp(0.0, 1.0))
        self.convergence.copy_(real_energy + balance.abs())


def equilibrium_of(discriminator: Any) -> Equilibrium | None:
    """The :class:`Equilibrium` of ``discriminator`` or of the D it wraps; ``None`` if it has none."""
    for _ in range(len(_WRAPPERS) + 2):
        state = getattr(discriminator, "equilibrium", None)
        if isinstance(state, Equilibrium):
            return state
        inner = next((getattr(discriminator, name) for name in _WRAPPERS
                      if getattr(discriminator, name, None) is not None), None)
        if inner is None:
            return None
        discriminator = inner
    return None


def _conv(inputs: int, outputs: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(inputs, outputs, 3, stride, 1)


class Decoder(nn.Module):
    """h -> a ``filters``-channel ``start`` x ``start`` map -> ``scales`` scales of ``repeats`` convs
    (ELU), doubled by nearest neighbour between them -> a 3x3 conv to ``channels``."""

    def __init__(self, *, embedding: int, filters: int, channels: int, start: int, scales: int,
                 repeats: int) -> None:
        super().__init__()
        self.filters, self.start = filters, start
        self.fc = nn.Linear(embedding, filters * start * start)
        layers: list[nn.Module] = []
        for scale in range(scales):
            for _ in range(repeats):
                layers += [_conv(filters, filters), nn.ELU()]
            if scale < scales - 1:
                layers.append(nn.Upsample(scale_factor=2, mode="nearest"))
        self.body = nn.Sequential(*layers, _conv(filters, channels))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.body(self.fc(h).view(h.shape[0], self.filters, self.start, self.start))


def encoder(*, embedding: int, filters: int, channels: int, start: int, scales: int,
            repeats: int) -> nn.Sequential:
    """Image -> h: a 3x3 conv, then per scale ``repeats`` convs at ``filters * (scale + 1)``
    channels (ELU) and a stride-2 conv between scales, then a linear map to h."""
    layers: list[nn.Module] = [_conv(channels, filters), nn.ELU()]
    width = filters
    for scale in range(scales):
        wider = filters * (scale + 1)
        for _ in range(repeats):
            layers += [_conv(width, wider), nn.ELU()]
            width = wider
        if scale < scales - 1:
            layers += [_conv(width, width, stride=2), nn.ELU()]
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(width * start * start, embedding))


class BEGANGenerator(Generator):
    """z ~ U(-1, 1)^Nz -> the decoder's architecture (its own weights) -> tanh."""

    def __init__(self, *, latent_dim: int, image_shape: tuple[int, int, int], **sizes: int) -> None:
        super().__init__(latent_dim=latent_dim, image_shape=image_shape)
        self.decoder = Decoder(embedding=latent_dim, channels=image_shape[0], **sizes)

    def sample_latent(self, n: int, *, device: torch.device | str | None = None,
                      generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.rand(n, self.latent_dim, device=device, generator=generator).mul_(2).sub_(1)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return torch.tanh(self.decoder(z))


class BEGANDiscriminator(Discriminator):
    """An autoencoder scoring each image by ``-L(v)``, minus its mean absolute reconstruction error."""

    batch_statistics = False  # each image is reconstructed on its own

    def __init__(self, *, image_shape: tuple[int, int, int], embedding: int, **sizes: int) -> None:
        super().__init__(image_shape=image_shape)
        self.encoder = encoder(embedding=embedding, channels=image_shape[0], **sizes)
        self.decoder = Decoder(embedding=embedding, channels=image_shape[0], **sizes)
        self.equilibrium = Equilibrium()

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return -(x - self.reconstruct(x)).abs().flatten(1).mean(1)


def tf_slim_init_(module: nn.Module) -> nn.Module:
    """TF-slim's defaults, the reference's: Glorot-uniform conv and dense weights, zero biases."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)
    return module


def build_networks(config: Any, data: DataInfo) -> Networks:
    plan = data.upsampling_plan(start_sides=(8, 7))  # the paper keeps an 8x8 map at the bottleneck
    if plan is None:  # supports() rejects these before any network is built
        raise ValueError(f"BEGAN cannot size its networks for {data.image_shape} images")
    start, doublings = plan
    sizes = {"filters": config.filters, "start": start, "scales": doublings + 1, "repeats": config.repeats}
    generator = BEGANGenerator(latent_dim=config.latent_dim, image_shape=data.image_shape, **sizes)
    discriminator = BEGANDiscriminator(image_shape=data.image_shape, embedding=config.embedding, **sizes)
    return Networks(tf_slim_init_(generator), tf_slim_init_(discriminator))


class BEGANLoss(Loss):
    """L_D = L(x) - k_t L(G(z)), L_G = L(G(z)), and k_t's control step.

    On a D holding an :class:`Equilibrium` (BEGAN's), the energy is ``L(v) = -D(v)`` and k_t is the
    D's. On any other D, a logit is no reconstruction error, and ``-D(v)`` has no floor (D would
    push real scores up for ever, k_t pinned at 0): the energy is then ``softplus(-D(v))``, the
    BCE of calling ``v`` real, which is non-negative and 0 for an image D is sure of, as an
    autoencoder's error is; k_t then lives in this loss, which checkpoints do not keep (a warning
    says so once): ``--resume`` restarts it at 0.
    """

    critic = True

    def __init__(self, diversity_ratio: float = 0.5, lambda_k: float = 0.001) -> None:
        self.diversity_ratio, self.lambda_k = diversity_ratio, lambda_k
        self.own: Equilibrium | None = None

    @classmethod
    def from_config(cls, config: Any) -> "BEGANLoss":
        return cls(getattr(config, "diversity_ratio", 0.5), getattr(config, "lambda_k", 0.001))

    def own_state(self, device: torch.device) -> Equilibrium:
        """The k_t of a D without an :class:`Equilibrium`, kept here (warned once)."""
        if self.own is None:
            warnings.warn("--loss began on a D that is not BEGAN's autoencoder: its energy is "
                          "softplus(-logit), and k_t is kept outside the checkpoint (--resume "
                          "restarts it at 0)", GankitWarning, stacklevel=4)
            self.own = Equilibrium()
        self.own = self.own.to(device)
        return self.own

    @staticmethod
    def energy(scores: torch.Tensor, autoencoder: bool) -> torch.Tensor:
        return -scores if autoencoder else F.softplus(-scores)

    def discriminator_loss(self, discriminator, real, fake, labels=None):
        state = equilibrium_of(discriminator)
        autoencoder = state is not None
        if autoencoder:  # no batch statistics in BEGAN's D: both batches in one pass, as the reference
            both_labels = None if labels is None else torch.cat([labels, labels])
            both = discriminator(torch.cat([real, fake]), both_labels)
            real_logits, fake_logits = both.split([real.shape[0], fake.shape[0]])
        else:
            real_logits, fake_logits = discriminator(real, labels), discriminator(fake, labels)
            state = self.own_state(real_logits.device)
        real_energy = self.energy(real_logits, autoencoder).mean()
        fake_energy = self.energy(fake_logits, autoencoder).mean()
        k = state.k.detach().clone()  # k_t, before this step's update (which is in place)
        loss = real_energy - k * fake_energy
        state.update(real_energy.detach(), fake_energy.detach(), diversity_ratio=self.diversity_ratio,
                     lambda_k=self.lambda_k)
        return DiscriminatorLoss(loss, real_logits, fake_logits)

    def generator_loss(self, discriminator, fake, labels=None, *, real=None):
        autoencoder = equilibrium_of(discriminator) is not None
        return self.energy(discriminator(fake, labels), autoencoder).mean()


class EquilibriumLog(Callback):
    """Logs BEGAN's k_t (``k``) and M_global (``convergence``) after every D step, from D's buffers:
    their means per window and per epoch go to steps.jsonl and metrics.jsonl (no host sync)."""

    name = "began-equilibrium"

    def on_run_start(self, context) -> None:
        self.state = equilibrium_of(context.discriminator)
        if self.state is None:
            raise ConfigError("--callback began-equilibrium logs BEGAN's k_t and M_global, which live "
                              f"in BEGAN's discriminator; variant '{context.variant}' has none")

    def on_discriminator_step(self, context) -> None:
        context.log("k", self.state.k)
        context.log("convergence", self.state.convergence)
