"""SAGAN: Zhang, Goodfellow, Metaxas & Odena, "Self-Attention Generative Adversarial Networks",
ICML 2019 (arXiv:1805.08318).

What it changes against DCGAN: a self-attention block in G and in D lets every position of a feature
map draw on every other one (1x1 convs give keys, queries and values of C/8 channels; the result,
scaled by a learnt gamma that starts at 0, is added to the map), so distant parts of an image can
agree; spectral normalisation on G's layers as well as D's; the hinge loss; the two time-scale
update rule (D learns four times faster than G, one D step per G step) with Adam's beta1 at 0;
residual blocks instead of a plain conv stack.

Followed from the paper (sec. 3 and 4, and its implementation details): the attention block (sec. 3,
gamma initialised to 0), spectral norm in both networks, the hinge loss, Adam with beta1 0 and beta2
0.9, G's lr 1e-4 and D's 4e-4, n_critic 1, batches of 256, z of 128, residual blocks as in the
projection-cGAN networks the paper builds on. Adapted: gankit's sagan is unconditional (the paper's
ImageNet model has conditional BatchNorm in G and a projection D; ``projgan`` is that conditioning),
and small, so that it trains on a 2-core CPU: on 28x28 digits two up blocks of 64 to 16 channels in
G, and in D two down blocks and one more of 32 to 128 (0.44 M parameters in G, 0.16 M in D); the
attention sits at 14x14, the middle resolution (the paper compares 8x8 to 64x64 feature maps of its
128x128 model and finds attention on the middle-to-high ones best); no max-pooling of keys and
values (a speed-up in the authors' code that the paper does not describe). This module stays
torch-free: the networks are in :mod:`gankit_catalogue.nets.sagan`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from gankit import DataInfo, LossSpec, TrainConfig, VariantSpec, param

PAPER = ("Zhang, Goodfellow, Metaxas & Odena, Self-Attention Generative Adversarial Networks, "
         "ICML 2019 (arXiv:1805.08318)")


@dataclass
class SAGANConfig(TrainConfig):
    """The paper's recipe (its implementation details): hinge loss, Adam with beta1 0 and
    beta2 0.9, TTUR (G 1e-4, D 4e-4), one D step per G step, batches of 256, z of 128.
    16 epochs, to fit a 4-minute run on the 2-core development CPU: one epoch of 1,000 digits took
    1.8 times as long as selfcond's measured alongside it (under load), which puts an epoch of the
    5,000 bundled digits at about 14 s on the idle machine (selfcond: 7.6 s, docs/variants.md), and
    the default run at about 3.7 minutes. G is narrower than D because G's full-resolution block
    costs the most: g_channels=32 took 3.0 times selfcond's epoch.

    Measured at its defaults (bench/catalogue.py, seed 0, the bundled 5,000 digits, gankit's
    evaluator, n = 2,500; 2026-12-02, a 2-core AMD EPYC without AVX-512, 1 torch thread, load
    3.6-5.1): FID 98.68, 4 of 10 classes, KL 1.400, recall 0.06, after 16 epochs (304 G updates) in
    12.9 CPU minutes (29.8 min of wall clock on the shared machine)."""

    epochs: int = 16
    batch_size: int = 256
    lr: float = 1e-4  # unused while g_lr and d_lr are both set: change those
    g_lr: Optional[float] = param(1e-4, gt=0)
    d_lr: Optional[float] = param(4e-4, gt=0)
    beta1: float = 0.0
    beta2: float = 0.9
    n_critic: int = 1
    latent_dim: int = 128  # the width of z ~ N(0, I)
    loss: str = "hinge"
    g_channels: int = param(16, ge=1)  # channels of G's last block; doubled per block towards z
    d_channels: int = param(32, ge=1)  # channels of D's first block; doubled per block towards the logit
    attention: bool = True  # the self-attention block in G and D (false: the same nets without it)


def supports(data: DataInfo) -> str | None:
    channels, height, width = data.image_shape
    if data.upsampling_plan() is None:
        return (f"its images are {channels}x{height}x{width}, but sagan's networks need square images "
                "whose side is 4 or 7 times a power of two (e.g. 28, 32, 64); resize the dataset or "
                "use 'vanilla'")
    return None


def build(config: SAGANConfig, data: DataInfo, *, loss: LossSpec | None = None):
    """The networks; D has no BatchNorm, so a per-sample-penalty ``loss`` needs no swap."""
    from gankit_catalogue.nets.sagan import build_networks

    return build_networks(config, data)


VARIANTS = (
    VariantSpec(
        name="sagan",
        summary="self-attention in G and D, spectral norm in both, hinge loss, TTUR (G 1e-4, D 4e-4)",
        config_class=SAGANConfig,
        build=build,
        supports=supports,
        paper=PAPER,
    ),
)
