"""WGAN's and WGAN-GP's networks, the Wasserstein loss, and the critic optimizer that clips.

``wgan`` (Arjovsky et al., martinarjovsky/WassersteinGAN ``models/dcgan.py``): DCGAN_G and
DCGAN_D, no biases anywhere, BatchNorm in both, 4x4 kernels, LeakyReLU 0.2 in the critic and a last
conv over the whole remaining map with no sigmoid. Their code needs sides that are multiples of 16
(a 4x4 start); here the stacks are sized by ``DataInfo.upsampling_plan()`` (28 -> a 7x7 start),
with their width rule (64 channels next to the image, doubled per layer away from it). On MNIST:
G 759,680 and D 138,624 parameters.

``wgan-gp`` (Gulrajani et al., igul222/improved_wgan_training ``gan_mnist.py``, DIM = 64): G is
FC 128 -> 4x4x256, ReLU, 5x5 deconvs stride 2 to 128 (cropped to 7x7 for 28-pixel images), 64 and
the image channels, tanh out (their sigmoid, for gankit's [-1, 1] images); the critic is three 5x5
stride-2 convs (64, 128, 256) with LeakyReLU 0.2 and a linear layer to one score. No norm
anywhere: the paper rules BatchNorm out of a penalised critic (suggesting layer norm), and this
MNIST script uses none. tflib's initialisation (uniform, He-style for the convs, Glorot for the
linear layers), zero biases. On MNIST: G 1,554,177 and D 1,030,145 parameters.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from gankit import DataInfo, Discriminator, Generator, LogitLoss, LossSpec, Networks, Optimizers
from gankit.blocks import Norm, critic_norm_for_loss, dcgan_init_


class WassersteinLoss(LogitLoss):
    """The critic maximises E[D(x)] - E[D(G(z))]; G maximises E[D(G(z))]. No penalty: the critic's
    Lipschitz bound is the variant's business (``wgan`` clips its weights)."""

    critic = True

    def d_loss_from_logits(self, real_logits, fake_logits):
        return fake_logits.mean() - real_logits.mean()

    def g_loss_from_logits(self, fake_logits):
        return -fake_logits.mean()


# --- wgan: Arjovsky et al.'s DCGAN networks ------------------------------------------------------

def arjovsky_generator_stack(plan: tuple[int, int], latent_dim: int, channels: int,
                             features: int) -> nn.Sequential:
    start, doublings = plan
    widths = [features * 2 ** i for i in reversed(range(doublings))]
    layers: list[nn.Module] = [nn.ConvTranspose2d(latent_dim, widths[0], start, 1, 0, bias=False),
                               nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True)]
    for wide, narrow in zip(widths, widths[1:]):
        layers += [nn.ConvTranspose2d(wide, narrow, 4, 2, 1, bias=False), nn.BatchNorm2d(narrow),
                   nn.ReLU(inplace=True)]
    return nn.Sequential(*layers, nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1, bias=False), nn.Tanh())


def arjovsky_critic_stack(plan: tuple[int, int], channels: int, features: int, norm: Norm) -> nn.Sequential:
    start, doublings = plan
    widths = [features * 2 ** i for i in range(doublings)]
    layers: list[nn.Module] = [nn.Conv2d(channels, widths[0], 4, 2, 1, bias=False),
                               nn.LeakyReLU(0.2, inplace=True)]
    for narrow, wide in zip(widths, widths[1:]):
        layers += [nn.Conv2d(narrow, wide, 4, 2, 1, bias=False), norm(wide), nn.LeakyReLU(0.2, inplace=True)]
    return nn.Sequential(*layers, nn.Conv2d(widths[-1], 1, start, 1, 0, bias=False))  # a score: no sigmoid


class StackGenerator(Generator):
    """z ~ N(0, I) as a 1x1 map through ``net``."""

    def __init__(self, *, latent_dim: int, image_shape: tuple[int, int, int], net: nn.Module) -> None:
        super().__init__(latent_dim=latent_dim, image_shape=image_shape)
        self.net = net

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(z.view(z.shape[0], -1, 1, 1))


class StackCritic(Discriminator):
    def __init__(self, *, image_shape: tuple[int, int, int], net: nn.Module) -> None:
        super().__init__(image_shape=image_shape)
        self.net = net

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x).view(x.shape[0])


def build_wgan_networks(config, data: DataInfo, *, loss: LossSpec | None = None) -> Networks:
    plan = data.upsampling_plan()
    if plan is None:  # supports() refuses these first
        raise ValueError(f"wgan cannot size its networks for {data.image_shape} images")
    channels = data.image_shape[0]
    norm = critic_norm_for_loss(loss, variant="wgan", n_critic=config.n_critic, r1=config.r1)
    stack = arjovsky_generator_stack(plan, config.latent_dim, channels, config.g_features)
    generator = StackGenerator(latent_dim=config.latent_dim, image_shape=data.image_shape, net=stack)
    critic = StackCritic(image_shape=data.image_shape,
                         net=arjovsky_critic_stack(plan, channels, config.d_features, norm))
    dcgan_init_(generator)  # their weights_init: conv N(0, 0.02), BatchNorm scales N(1, 0.02)
    dcgan_init_(critic)
    if config.clip:  # their loop clamps before the first critic update too
        clip_(critic.parameters(), config.clip)
    return Networks(generator, critic)


@torch.no_grad()
def clip_(parameters: Any, bound: float) -> None:
    """Every parameter into [-bound, bound], in place (BatchNorm's scales and shifts too, as
    Arjovsky et al.'s ``netD.parameters()`` loop does)."""
    for parameter in parameters:
        parameter.clamp_(-bound, bound)


def clipping_optimizers(config, networks) -> Optimizers:
    """The config's optimizers; the critic's clips its weights after each of its steps (Algorithm 1:
    ``w <- clip(w, -c, c)`` right after the RMSProp update) through torch's step post-hook, so every
    critic update the engine makes, in any D step, is followed by the clip."""
    generator = _optimizer(config, networks.generator.parameters(), config.generator_lr)
    critic = _optimizer(config, networks.discriminator.parameters(), config.discriminator_lr)
    if config.clip:
        def clip_after_step(optimizer, args, kwargs) -> None:
            clip_((p for group in optimizer.param_groups for p in group["params"]), config.clip)

        critic.register_step_post_hook(clip_after_step)
    return Optimizers(generator, critic, _schedule(config, generator), _schedule(config, critic))


def _optimizer(config, parameters, lr: float) -> torch.optim.Optimizer:
    # The engine's choices for `optimizer` (docs/plugins/config.md), which a variant that builds
    # its own optimizers must honour (--set optimizer=adam is the comparison the WGAN paper reports).
    betas, decay = (config.beta1, config.beta2), config.weight_decay
    if config.optimizer == "rmsprop":  # torch's defaults (alpha 0.99), as their PyTorch code
        return torch.optim.RMSprop(parameters, lr=lr, weight_decay=decay)
    if config.optimizer == "adam":
        return torch.optim.Adam(parameters, lr=lr, betas=betas, weight_decay=decay)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(parameters, lr=lr, betas=betas, weight_decay=decay)
    return torch.optim.SGD(parameters, lr=lr, momentum=config.beta1, weight_decay=decay)


def _schedule(config, optimizer: torch.optim.Optimizer) -> Any:
    epochs = config.epochs
    if config.lr_schedule == "linear":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: max(0.0, 1 - epoch / epochs))
    if config.lr_schedule == "cosine":
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda epoch: 0.5 * (1 + math.cos(math.pi * min(epoch, epochs) / epochs)))
    return None


# --- wgan-gp: Gulrajani et al.'s MNIST networks --------------------------------------------------

def deconv5(wide: int, narrow: int) -> nn.ConvTranspose2d:
    """A 5x5 transposed conv doubling the side (TF's conv2d_transpose, SAME padding)."""
    return nn.ConvTranspose2d(wide, narrow, 5, 2, padding=2, output_padding=1)


class GulrajaniGenerator(Generator):
    """z ~ N(0, I)^128 -> FC to (4 DIM, S/8, S/8) -> three deconvs, each doubling the side; the first
    map is cropped to S/4 when S/4 is odd (28 -> 7, as ``output[:, :, :7, :7]``)."""

    def __init__(self, *, latent_dim: int, image_shape: tuple[int, int, int], dim: int) -> None:
        super().__init__(latent_dim=latent_dim, image_shape=image_shape)
        channels, height, width = image_shape
        self.start = (4 * dim, math.ceil(height / 8), math.ceil(width / 8))
        self.crop = (height // 4, width // 4)
        self.fc = nn.Sequential(nn.Linear(latent_dim, math.prod(self.start)), nn.ReLU(inplace=True))
        self.up = nn.Sequential(deconv5(4 * dim, 2 * dim), nn.ReLU(inplace=True))
        self.out = nn.Sequential(deconv5(2 * dim, dim), nn.ReLU(inplace=True), deconv5(dim, channels),
                                 nn.Tanh())

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = self.up(self.fc(z).view(z.shape[0], *self.start))
        return self.out(h[:, :, :self.crop[0], :self.crop[1]])


class GulrajaniCritic(Discriminator):
    def __init__(self, *, image_shape: tuple[int, int, int], dim: int) -> None:
        super().__init__(image_shape=image_shape)
        channels, height, width = image_shape
        side = (math.ceil(height / 8), math.ceil(width / 8))  # three SAME stride-2 convs: 28 -> 14 -> 7 -> 4
        self.net = nn.Sequential(
            nn.Conv2d(channels, dim, 5, 2, 2), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(dim, 2 * dim, 5, 2, 2), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(2 * dim, 4 * dim, 5, 2, 2), nn.LeakyReLU(0.2, inplace=True),
            nn.Flatten(), nn.Linear(4 * dim * math.prod(side), 1))

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x).view(x.shape[0])


@torch.no_grad()
def tflib_init_(module: nn.Module) -> nn.Module:
    """tflib's initialisation, in place: uniform weights of std sqrt(4 / (fan_in + fan_out)) for
    convs (``he_init``; a stride-2 layer counts a quarter of the positions on its wide side),
    sqrt(2 / (fan_in + fan_out)) for linear layers (Glorot), zero biases."""
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d):
            fan_in, fan_out = layer.in_channels * 25, layer.out_channels * 25 / 4
            std = math.sqrt(4 / (fan_in + fan_out))
        elif isinstance(layer, nn.ConvTranspose2d):
            fan_in, fan_out = layer.in_channels * 25 / 4, layer.out_channels * 25
            std = math.sqrt(4 / (fan_in + fan_out))
        elif isinstance(layer, nn.Linear):
            std = math.sqrt(2 / (layer.in_features + layer.out_features))
        else:
            continue
        layer.weight.uniform_(-std * math.sqrt(3), std * math.sqrt(3))
        layer.bias.zero_()
    return module


def build_wgan_gp_networks(config, data: DataInfo) -> Networks:
    generator = GulrajaniGenerator(latent_dim=config.latent_dim, image_shape=data.image_shape,
                                   dim=config.dim)
    critic = GulrajaniCritic(image_shape=data.image_shape, dim=config.dim)
    return Networks(tflib_init_(generator), tflib_init_(critic))
