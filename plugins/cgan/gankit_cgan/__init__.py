"""Conditional GAN (Mirza & Osindero, 2014) as a gankit variant.

G and D both see the class label: ``gankit sample RUN --labels 7`` draws sevens. Two forms share
one config: ``arch=conv`` (the default) is a conditional DCGAN, the one-hot label joined to z and,
as constant maps, to the image's channels; ``arch=mlp`` has the sizes of the tutorial's 4-layer
MLPs, the one-hot label joined to z and to the flattened image as in the paper, and LeakyReLU plus
BatchNorm in G (with the tutorial's ReLU nets G collapsed to one digit; see docs/variants.md).
This module stays torch-free; the networks live in :mod:`gankit_cgan.model`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gankit import ConfigError, DataInfo, LossSpec, TrainConfig, VariantSpec, hookimpl, param


@dataclass
class CGANConfig(TrainConfig):
    """Defaults chosen so the default run draws the asked-for digit on a CPU in minutes: on the
    5,000-digit subset, batches of 32 give twice the steps of 64 for about the same time per epoch,
    and 50 epochs reach 97.96% asked-label accuracy (docs/variants.md has the measurements)."""

    arch: Literal["mlp", "conv"] = "conv"
    epochs: int = 50
    batch_size: int = 32
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    latent_dim: int = 100
    loss: str = "bce"
    dropout: float = param(0.3, ge=0, lt=1)  # drop rate after each hidden layer of the MLP D (mlp only)
    g_features: int = param(64, ge=1)  # channels of G's last hidden conv layer, doubled towards z (conv)
    d_features: int = param(64, ge=1)  # channels of D's first conv layer, doubled towards the logit (conv)
    leaky_slope: float = param(0.2, ge=0, lt=1)  # LeakyReLU slope in D (both forms) and in the MLP G
    init_std: float = param(0.02, gt=0)  # std of every weight; norm scales start at N(1, init_std)
    spectral_norm: bool = False  # spectral normalisation of D's weights (Miyato et al. 2018)


def supports(data: DataInfo) -> str | None:
    if not data.num_classes:
        return "it has no class labels to condition on; pick a labelled dataset such as mnist"
    return None


def build(config: CGANConfig, data: DataInfo, *, loss: LossSpec | None = None):
    """The networks; with arch=conv and a ``loss`` whose penalty is per sample (WGAN-GP, R1) D's
    BatchNorm becomes a per-sample LayerNorm."""
    if config.arch == "conv" and data.upsampling_plan() is None:
        shape = "x".join(map(str, data.image_shape))
        raise ConfigError(
            f"cgan arch=conv cannot size its networks for {shape} images: it needs square images "
            "whose side is 4 or 7 times a power of two (e.g. 28, 32, 64); use --set arch=mlp")
    from gankit_cgan.model import build_networks

    return build_networks(config, data, loss=loss)


@hookimpl
def gankit_register_variants(register):
    register(VariantSpec(
        name="cgan",
        summary="conditional GAN: G and D see the class label; conv (default) or the tutorial's MLPs",
        config_class=CGANConfig,
        build=build,
        conditional=True,
        supports=supports,
        paper="Mirza & Osindero, Conditional Generative Adversarial Nets, arXiv:1411.1784 (2014)",
    ))
