"""DCGAN (Radford, Metz & Chintala, 2015) and the self-conditioned GAN on its networks (Liu et al. 2020).

``dcgan`` is the paper's recipe: strided transposed convolutions in G (BatchNorm + ReLU, tanh out),
strided convolutions in D (LeakyReLU 0.2, BatchNorm on every layer but the first, logits out),
weights N(0, 0.02), BatchNorm scales N(1, 0.02), a 100-d uniform z, mini-batches of 128, Adam with
lr 2e-4 and beta1 0.5, no weight averaging. The networks are sized from the dataset's image shape
(``DataInfo.upsampling_plan()``: a 4x4 or 7x7 start, doubled). Measured on the bundled digits:
docs/variants.md.

``selfcond`` is the recipe that measured best on those digits (dcgan's default until gankit 0.2):
the same networks conditioned on 200 k-means clusters of the training pixels (no labels are used;
G draws a cluster by its share when sampling), batches of 32, G's weights averaged (EMA 0.999), 50
epochs. Its name is its own because it is not DCGAN: it is a self-conditioned GAN.

This module stays torch-free; the networks live in :mod:`gankit_dcgan.model`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from gankit import ConfigError, DataInfo, LossSpec, TrainConfig, VariantSpec, hookimpl, param

RADFORD = ("Radford, Metz & Chintala, Unsupervised Representation Learning with Deep "
           "Convolutional Generative Adversarial Networks, ICLR 2016 (arXiv:1511.06434)")
LIU = ("Liu, Wang, Torralba, Zhu et al., Diverse Image Generation via Self-Conditioned GANs, "
       "CVPR 2020 (arXiv:2006.10728)")


@dataclass
class DCGANConfig(TrainConfig):
    """Radford et al.'s recipe (Section 4, "Details of adversarial training"): mini-batches of 128,
    weights N(0, 0.02), LeakyReLU slope 0.2, Adam at lr 2e-4 with beta1 0.5, z of 100 drawn
    uniformly (Figure 1). The paper gives no epoch count for digits: 25 is the PyTorch DCGAN
    example's. Measured at these defaults (bench/catalogue.py, seed 0, the bundled digits, n =
    2,500; 2026-12-02, a 2-core AMD EPYC, load 1-2): FID 28.92, 9 of 10 classes, KL 0.126, recall
    0.68, 975 G updates, 6.1 min of wall clock (9.2 CPU min). Until gankit 0.2 dcgan's defaults
    were the clustered recipe now named ``selfcond``;
    runs saved then load and resume as they trained (docs/compatibility.md)."""

    epochs: int = 25
    ema: float = param(0.0, ge=0, lt=1)
    r1: float = param(0.0, ge=0)
    r1_every: int = param(16, ge=1)
    batch_size: int = 128
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    latent_dim: int = 100  # the width of z (with `clusters`: the noise, then the one-hot cluster code)
    noise: Literal["uniform", "normal"] = "uniform"  # z's noise: U(-1, 1) (the paper's) or N(0, 1)
    loss: str = "bce"
    g_features: int = param(64, ge=1)  # channels of G's last hidden layer; doubled towards z
    d_features: int = param(64, ge=1)  # channels of D's first layer; doubled towards the logit
    leaky_slope: float = param(0.2, ge=0, lt=1)  # D's LeakyReLU slope
    init_std: float = param(0.02, gt=0)  # std of every conv weight, and of BatchNorm scales around 1
    spectral_norm: bool = False  # spectral normalisation of D's weights (Miyato et al. 2018)
    # G and D conditioned on k-means clusters of the training images (no labels used; 0: none, the
    # paper's; `selfcond` is the recipe built on them): gankit/data/clusters.py, docs/variants.md
    clusters: int = param(0, ge=0)
    # What runs saved before a field existed had: no clusters, and N(0, 1) noise.
    added_fields: ClassVar[dict[str, Any]] = {"clusters": 0, "noise": "normal"}

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.clusters and self.latent_dim <= self.clusters:
            raise ConfigError(f"latent_dim ({self.latent_dim}) must exceed clusters ({self.clusters}): "
                              "z holds the noise and then the one-hot cluster code; raise latent_dim")


@dataclass
class SelfCondConfig(DCGANConfig):
    """The self-conditioned recipe on DCGAN's networks: 200 k-means clusters of the training pixels
    as G's and D's conditioning (Liu et al. 2020 cluster D's features and re-cluster as training
    goes; here the clusters are of the pixels, fixed before training), batches of 32 (four times
    the paper's updates per epoch), EMA 0.999, N(0, 1) noise, 50 epochs: about 6 minutes on an idle
    2-core CPU. Measured on the bundled digits (docs/variants.md): gankit's FID 0.45, 10 of 10
    classes, KL 0.008 (seed 0, n = 2,500; 2026-11-29, as dcgan's default, on an idle 2-core Xeon:
    6.3 min). Rerun as ``selfcond`` by bench/catalogue.py on 2026-12-02 (a 2-core AMD EPYC without
    AVX-512, shared with other jobs at load 4-7): FID 0.48, 10 of 10 classes, KL 0.007, recall 0.70,
    7,800 G updates, 54.6 min of wall clock (42.6 CPU min, 2 threads)."""

    epochs: int = 50
    ema: float = param(0.999, ge=0, lt=1)
    batch_size: int = 32
    latent_dim: int = 300  # the width of z: 100 noise columns, then the `clusters`-way one-hot code
    noise: Literal["uniform", "normal"] = "normal"
    clusters: int = param(200, ge=1)  # k-means clusters of the training pixels G and D are conditioned on
    added_fields: ClassVar[dict[str, Any]] = {}


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
        summary="deep convolutional GAN, the paper's recipe (batch 128, Adam 2e-4, beta1 0.5, uniform z)",
        config_class=DCGANConfig,
        build=build,
        supports=supports,
        paper=RADFORD,
    ))
    register(VariantSpec(
        name="selfcond",
        summary="self-conditioned GAN: DCGAN's networks conditioned on k-means clusters of the images",
        config_class=SelfCondConfig,
        build=build,
        supports=supports,
        paper=f"{LIU}; networks from {RADFORD}",
    ))
