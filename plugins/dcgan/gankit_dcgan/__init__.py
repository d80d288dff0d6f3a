"""DCGAN (Radford, Metz & Chintala, 2015) as a gankit variant.

The paper's recipe: strided transposed convolutions in G (BatchNorm + ReLU, tanh out), strided
convolutions in D (LeakyReLU 0.2, BatchNorm on every layer but the first, logits out), weights
N(0, 0.02), BatchNorm scales N(1, 0.02), Adam with lr 2e-4 and beta1 0.5. The networks are sized
from the dataset's image shape (``DataInfo.upsampling_plan()``: a 4x4 or 7x7 start, doubled). This module stays torch-free; the
networks live in :mod:`gankit_dcgan.model`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from gankit import ConfigError, DataInfo, LossSpec, TrainConfig, VariantSpec, hookimpl, param


@dataclass
class DCGANConfig(TrainConfig):
    """The paper's networks and Adam, with what measured better on the 5,000-digit subset
    (docs/variants.md): batches of 32 (the paper's are 128: four times the steps per epoch for a
    little more time), G's weights averaged (EMA 0.999), and G and D conditioned on 200 k-means
    clusters of the training images (``clusters``; no labels are used, and G draws a cluster by its
    share when sampling; z is 100 noise columns and the 200-way code), 50 epochs: about 6 minutes
    on an idle 2-core CPU. R1 (``--r1``) is off: with the clusters it scored worse.
    ``--set clusters=0 --set latent_dim=100 --ema 0`` is the paper."""

    epochs: int = 50
    ema: float = param(0.999, ge=0, lt=1)
    r1: float = param(0.0, ge=0)
    r1_every: int = param(16, ge=1)
    batch_size: int = 32
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    latent_dim: int = 300  # the width of z: noise, then the `clusters`-way one-hot cluster code
    loss: str = "bce"
    g_features: int = param(64, ge=1)  # channels of G's last hidden layer; doubled towards z
    d_features: int = param(64, ge=1)  # channels of D's first layer; doubled towards the logit
    leaky_slope: float = param(0.2, ge=0, lt=1)  # D's LeakyReLU slope
    init_std: float = param(0.02, gt=0)  # std of every conv weight, and of BatchNorm scales around 1
    spectral_norm: bool = False  # spectral normalisation of D's weights (Miyato et al. 2018)
    # G and D conditioned on k-means clusters of the training images (no labels used; 0: none):
    # gankit/data/clusters.py, docs/variants.md
    clusters: int = param(200, ge=0)
    # Runs saved before `clusters` existed had none: they load as they trained.
    added_fields: ClassVar[dict[str, Any]] = {"clusters": 0}

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.latent_dim <= self.clusters:
            raise ConfigError(f"latent_dim ({self.latent_dim}) must exceed clusters ({self.clusters}): "
                              "z holds the noise and then the one-hot cluster code; raise latent_dim")


def supports(data: DataInfo) -> str | None:
    channels, height, width = data.image_shape
    if data.upsampling_plan() is None:
        return (f"its images are {channels}x{height}x{width}, but DCGAN needs square images whose side is "
                "4 or 7 times a power of two (e.g. 28, 32, 64); resize the dataset or use 'vanilla'")
    return None


def build(config: DCGANConfig, data: DataInfo, *, loss: LossSpec | None = None):
    """The networks; with a ``loss`` whose penalty is per sample (WGAN-GP, R1) D's BatchNorm
    becomes a per-sample LayerNorm."""
    from gankit_dcgan.model import build_networks

    return build_networks(config, data, loss=loss)


@hookimpl
def gankit_register_variants(register):
    register(VariantSpec(
        name="dcgan",
        summary="deep convolutional GAN, conditioned on k-means clusters of the images (no labels needed)",
        config_class=DCGANConfig,
        build=build,
        supports=supports,
        paper="Radford, Metz & Chintala, Unsupervised Representation Learning with Deep "
              "Convolutional Generative Adversarial Networks, ICLR 2016 (arXiv:1511.06434)",
    ))
