"""SN-GAN: Miyato, Kataoka, Koyama & Yoshida, "Spectral Normalization for Generative Adversarial
Networks", ICLR 2018 (arXiv:1802.05957).

What it changes against DCGAN: every weight of D is divided by its largest singular value (estimated
by one power iteration per training step), which bounds D's Lipschitz constant with no BatchNorm in
D at all; D is the paper's deeper "standard CNN" (3x3 stride-1 convs between the 4x4 strided ones,
LeakyReLU 0.1, a dense logit); the loss is the hinge loss (the paper's eq. 17, its best standard-CNN
results); z is 128-d and normal.

Followed from the paper: Table 3's networks (G: dense, three 4x4 stride-2 deconvs with BatchNorm and
ReLU, a 3x3 conv, tanh; D: 64-64-128-128-256-256-512 convs with LeakyReLU 0.1, spectral norm on
every layer, dense), z ~ N(0, I) of 128, the hinge loss, batches of 64, and Adam's setting C of
Table 1 (alpha 2e-4, beta1 0.5, beta2 0.999, n_dis 1: the DCGAN setting, which the authors' lab also
runs its SN-DCGAN with: pfnet-research/chainer-gan-lib, example.sh), weights N(0, 0.02) as that
code's DCGAN nets, BatchNorm and ReLU after G's dense layer as there. Adapted: the networks are
sized from the image shape; on 28x28 digits the start map is 7x7 and G and D have one doubling fewer
(32x32 gives Table 3 exactly); the default epoch count fits a 4-minute CPU budget, far shorter than
the paper's training. This module stays torch-free: the networks are in
:mod:`gankit_catalogue.nets.sngan`.
"""

from __future__ import annotations

from dataclasses import dataclass

from gankit import DataInfo, LossSpec, TrainConfig, VariantSpec, param

PAPER = ("Miyato, Kataoka, Koyama & Yoshida, Spectral Normalization for Generative Adversarial "
         "Networks, ICLR 2018 (arXiv:1802.05957)")


@dataclass
class SNGANConfig(TrainConfig):
    """The paper's recipe for its standard CNN: hinge loss, Adam (alpha 2e-4, beta1 0.5, beta2
    0.999: Table 1's setting C) with one D step per G step, batches of 64, z ~ N(0, I) of 128.
    6 epochs, to fit a 4-minute run on the 2-core development CPU: one epoch of 1,000 digits took
    4.2-4.8 times as long as selfcond's measured alongside it (under load), which puts an epoch of
    the 5,000 bundled digits at about 34 s on the idle machine (selfcond: 7.6 s, docs/variants.md),
    and the default run at about 3.4 minutes. The paper's widths are the default; --set
    g_features=32 --set d_features=32 is about four times faster.

    Measured at its defaults (bench/catalogue.py, seed 0, the bundled 5,000 digits, gankit's
    evaluator, n = 2,500; 2026-12-02, a 2-core AMD EPYC without AVX-512, 1 torch thread, load
    4.0-4.5): FID 29.51, 10 of 10 classes, KL 0.161, recall 0.55, after 6 epochs (468 G updates) in
    10.0 CPU minutes (24.1 min of wall clock on the shared machine)."""

    epochs: int = 6
    batch_size: int = 64
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    n_critic: int = 1
    latent_dim: int = 128  # the width of z ~ N(0, I)
    loss: str = "hinge"
    g_features: int = param(64, ge=1)  # channels of G's last hidden layer; doubled towards z
    d_features: int = param(64, ge=1)  # channels of D's first conv; doubled after each strided conv
    leaky_slope: float = param(0.1, ge=0, lt=1)  # D's LeakyReLU slope (Table 3: 0.1)
    init_std: float = param(0.02, gt=0)  # std of G's and D's initial weights; BatchNorm scales N(1, std)


def supports(data: DataInfo) -> str | None:
    channels, height, width = data.image_shape
    if data.upsampling_plan() is None:
        return (f"its images are {channels}x{height}x{width}, but SN-GAN's standard CNN needs square "
                "images whose side is 4 or 7 times a power of two (e.g. 28, 32, 64); resize the "
                "dataset or use 'vanilla'")
    return None


def build(config: SNGANConfig, data: DataInfo, *, loss: LossSpec | None = None):
    """The networks; D has no BatchNorm, so a per-sample-penalty ``loss`` needs no swap."""
    from gankit_catalogue.nets.sngan import build_networks

    return build_networks(config, data)


VARIANTS = (
    VariantSpec(
        name="sngan",
        summary="spectrally normalised D (the paper's standard CNN), hinge loss, Adam 2e-4 (0.5, 0.999)",
        config_class=SNGANConfig,
        build=build,
        supports=supports,
        paper=PAPER,
    ),
)
