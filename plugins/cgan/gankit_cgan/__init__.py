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

from gankit import ConfigError, DataInfo, TrainConfig, VariantSpec, hookimpl

CONV_START_SIDES = (4, 7)  # the conv form starts from a 4x4 or 7x7 map and doubles
CONV_MAX_DOUBLINGS = 5


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
    dropout: float = 0.3  # drop rate after each hidden layer of the MLP D (mlp only)
    g_features: int = 64  # channels of G's last hidden conv layer, doubled towards z (conv only)
    d_features: int = 64  # channels of D's first conv layer, doubled towards the logit (conv only)
    leaky_slope: float = 0.2  # LeakyReLU slope in D (both forms) and in the MLP G
    init_std: float = 0.02  # std of every weight; norm scales start at N(1, init_std)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        for name in ("g_features", "d_features"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0 <= self.leaky_slope < 1:
            raise ValueError(f"leaky_slope must be in [0, 1), got {self.leaky_slope}")
        if not self.init_std > 0:
            raise ValueError(f"init_std must be positive, got {self.init_std}")


def conv_side_plan(side: int) -> tuple[int, int] | None:
    """``(start_side, doublings)`` with ``start_side * 2**doublings == side``, or None."""
    for start in CONV_START_SIDES:
        for doublings in range(1, CONV_MAX_DOUBLINGS + 1):
            if start * 2 ** doublings == side:
                return start, doublings
    return None


def supports(data: DataInfo) -> str | None:
    if not data.num_classes:
        return "it has no class labels to condition on; pick a labelled dataset such as mnist"
    return None


def build(config: CGANConfig, data: DataInfo):
    if config.arch == "conv":
        channels, height, width = data.image_shape
        if height != width or conv_side_plan(height) is None:
            raise ConfigError(
                f"cgan arch=conv cannot size its networks for {channels}x{height}x{width} images: it "
                "needs square images whose side is 4 or 7 times a power of two (e.g. 28, 32, 64); "
                "use --set arch=mlp")
    from gankit_cgan.model import build_networks

    return build_networks(config, data)


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
