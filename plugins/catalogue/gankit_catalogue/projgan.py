"""The projection discriminator: Miyato & Koyama, "cGANs with Projection Discriminator", ICLR 2018
(arXiv:1802.05637).

What it changes against DCGAN (and against cgan, which joins the label to D's input): D's logit is
``linear(phi(x)) + <embed(y), phi(x)>``, an unconditional score plus the inner product of the
label's learnt embedding with D's features of the image (the form the optimal D takes when the class
posteriors are log-linear in phi, sec. 3); G's BatchNorms are conditional (a gain and a bias per
class); D is spectrally normalised and has no BatchNorm; residual networks; hinge loss; Adam with
beta1 0 and five D steps per G step.

Followed from the paper and the authors' code (pfnet-research/sngan_projection): the projection
(with spectral norm on the embedding too, as their SNEmbedID), conditional BatchNorm in G (gains
near 1, biases near 0: theirs start at exactly 1 and 0), the ResNet blocks and layout of their
CIFAR-10 networks (configs/sn_cifar10_conditional.yml: G with 3 up blocks, D with 4 blocks of which
the first two downsample, global sum pooling, Glorot init), hinge loss, Adam at 2e-4 with betas (0,
0.9), n_dis 5, batches of 64, z of 128, and the learning rate decayed linearly to 0 over the run
(that config's iteration_decay_start: 0). Adapted: a small ResNet rather than SN-GAN's standard CNN,
because the paper's networks and the authors' CIFAR-10 configs are ResNets; 32 channels in G and D
where CIFAR-10's have 256 and 128, and on 28x28 digits a 7x7 start with 2 up blocks (32x32 gives
their 4x4 start and 3), so that it trains on a 2-core CPU; the fakes of a step carry the real
batch's labels, as gankit's engine hands them (the authors' code draws the fakes' labels uniformly;
the digits' classes are near-equal in size, so both give each class about its share). This module
stays torch-free: the networks are in :mod:`gankit_catalogue.nets.projgan`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gankit import DataInfo, LossSpec, TrainConfig, VariantSpec, param

PAPER = ("Miyato & Koyama, cGANs with Projection Discriminator, ICLR 2018 (arXiv:1802.05637)")


@dataclass
class ProjGANConfig(TrainConfig):
    """The authors' recipe: hinge loss, Adam at 2e-4 with betas (0, 0.9), 5 D steps per G step,
    batches of 64, z of 128, the learning rate decayed linearly to 0. 22 epochs, to fit a 4-minute
    run on the 2-core development CPU: one epoch of 1,000 digits took 1.3 times as long as
    selfcond's measured alongside it (under load), which puts an epoch of the 5,000 bundled digits
    at about 10 s on the idle machine (selfcond: 7.6 s, docs/variants.md), and the default run at
    about 3.6 minutes.

    Measured at its defaults (bench/catalogue.py, seed 0, the bundled 5,000 digits, gankit's
    evaluator, n = 2,500; 2026-12-02, a 2-core AMD EPYC without AVX-512, 1 torch thread, load
    4.6-2.0): FID 67.70, 9 of 10 classes, KL 0.264, recall 0.24, after 22 epochs (330 G updates) in
    8.8 CPU minutes (11.8 min of wall clock on the shared machine)."""

    epochs: int = 22
    batch_size: int = 64
    lr: float = 2e-4
    beta1: float = 0.0
    beta2: float = 0.9
    n_critic: int = 5
    lr_schedule: Literal["constant", "linear", "cosine"] = "linear"
    latent_dim: int = 128  # the width of z ~ N(0, I)
    loss: str = "hinge"
    g_channels: int = param(32, ge=1)  # channels of every block of G (the authors' CIFAR-10 G: 256)
    d_channels: int = param(32, ge=1)  # channels of every block of D and of phi(x) (their CIFAR-10 D: 128)


def supports(data: DataInfo) -> str | None:
    channels, height, width = data.image_shape
    if not data.num_classes:
        return "it has no class labels to condition on; pick a labelled dataset such as mnist"
    if data.upsampling_plan() is None:
        return (f"its images are {channels}x{height}x{width}, but projgan's generator needs square "
                "images whose side is 4 or 7 times a power of two (e.g. 28, 32, 64); resize the "
                "dataset or use 'cgan --set arch=mlp'")
    return None


def build(config: ProjGANConfig, data: DataInfo, *, loss: LossSpec | None = None):
    """The networks; D has no BatchNorm, so a per-sample-penalty ``loss`` needs no swap."""
    from gankit_catalogue.nets.projgan import build_networks

    return build_networks(config, data)


VARIANTS = (
    VariantSpec(
        name="projgan",
        summary="conditional: projection D (linear + <embed(y), phi(x)>), conditional BatchNorm in G, hinge",
        config_class=ProjGANConfig,
        build=build,
        conditional=True,
        supports=supports,
        paper=PAPER,
    ),
)
