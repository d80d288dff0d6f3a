"""``wgan`` and ``wgan-gp``: the Wasserstein GAN, with weight clipping and with a gradient penalty.

``wgan``: Arjovsky, Chintala & Bottou, "Wasserstein Generative Adversarial Networks", ICML 2017
(arXiv:1701.07875). D becomes a critic whose score difference E[D(x)] - E[D(G(z))] estimates the
Earth-Mover distance when D is Lipschitz; the paper bounds it by clipping every critic weight to
[-c, c] after each critic update. Against plain DCGAN: the loss ``wgan`` (registered here; a
score, no sigmoid, no log), 5 critic steps per G step, RMSProp at lr 5e-5 instead of Adam (the
paper found momentum unstable with this loss), batches of 64, z ~ N(0, I)^100.

Followed (paper Algorithm 1 and martinarjovsky/WassersteinGAN): c = 0.01, n_critic = 5, RMSProp
lr 5e-5 for both networks, m = 64; DCGAN_G/DCGAN_D with BatchNorm in both, no biases, N(0, 0.02)
init; the clip covers every critic parameter (BatchNorm's too, as their ``netD.parameters()``
loop does), is applied once before training, and after every critic update through the critic
optimizer's step hook (:func:`gankit_catalogue.nets.wgan.clipping_optimizers`), so any optimizer
``--set optimizer=...`` picks clips too. Adapted: a 7x7 start for 28-pixel images (their code
takes multiples of 16 only). Left out: their code's warm-up of 100 critic steps for the first 25
G steps and every 500th (not in the paper; gankit's n_critic is constant).

``--loss wgan`` on other variants is the unconstrained critic loss: their critics are not clipped
(only this variant's optimizer clips), so use it there with a Lipschitz device of its own (e.g.
``--set spectral_norm=true`` on dcgan).

``wgan-gp``: Gulrajani, Ahmed, Arjovsky, Dumoulin & Courville, "Improved Training of Wasserstein
GANs", NeurIPS 2017 (arXiv:1704.00028). The clip is replaced by a penalty lambda (||grad D(x_hat)||
- 1)^2 on x_hat = eps x + (1 - eps) G(z), one eps ~ U[0, 1] per sample, so the critic has no
BatchNorm (it would make each score depend on the batch). Uses gankit's core ``wgan-gp`` loss.
Followed: Algorithm 1's defaults lambda = 10, n_critic = 5, Adam lr 1e-4, beta1 = 0, beta2 = 0.9,
m = 64; the MNIST networks of their code (``gan_mnist.py``: DIM 64, z ~ N(0, I)^128, no norm in
G or the critic). Adapted: tanh out for data in [-1, 1] (their sigmoid and [0, 1]); their
``gan_mnist.py`` itself runs beta1 0.5 and batches of 50, the paper's defaults are used instead.
Networks: :mod:`gankit_catalogue.nets.wgan`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gankit import DataInfo, LossSpec, TrainConfig, VariantSpec, param

ARJOVSKY = ("Arjovsky, Chintala & Bottou, Wasserstein Generative Adversarial Networks, ICML 2017 "
            "(arXiv:1701.07875)")
GULRAJANI = ("Gulrajani, Ahmed, Arjovsky, Dumoulin & Courville, Improved Training of Wasserstein GANs, "
             "NeurIPS 2017 (arXiv:1704.00028)")


@dataclass
class WGANConfig(TrainConfig):
    """Arjovsky et al.'s Algorithm 1 defaults: alpha = 5e-5, c = 0.01, m = 64, n_critic = 5, RMSProp.
    The paper trains LSUN for 100k+ G steps; on the bundled 5,000 digits 20 epochs (1,560 critic
    steps, 300 G steps) take about 3 minutes on a 2-core CPU, so the default is 20.

    Measured at its defaults (bench/catalogue.py, seed 0, the bundled 5,000 digits, gankit's
    evaluator, n = 2,500; 2026-12-02, a 2-core AMD EPYC without AVX-512, 1 torch thread, load
    4.4-4.7): FID 72.60, 8 of 10 classes, KL 0.373, recall 0.06, after 20 epochs (300 G updates) in
    4.2 CPU minutes (17.1 min of wall clock on the shared machine)."""

    epochs: int = 20
    batch_size: int = 64  # Algorithm 1's m
    lr: float = 5e-5  # Algorithm 1's alpha
    # Algorithm 1's RMSProp: with a momentum optimizer (Adam) the paper's critic trained unstably
    optimizer: Literal["adam", "adamw", "rmsprop", "sgd"] = "rmsprop"
    latent_dim: int = 100  # their code's nz (z ~ N(0, I))
    loss: str = "wgan"
    n_critic: int = 5  # Algorithm 1's n_critic
    clip: float = param(0.01, ge=0)  # c: critic weights clipped to [-c, c] after each critic step (0: none)
    g_features: int = param(64, ge=1)  # their ngf: channels of G's last hidden layer, doubled towards z
    d_features: int = param(64, ge=1)  # their ndf: channels of the critic's first layer, doubled onwards


@dataclass
class WGANGPConfig(TrainConfig):
    """Gulrajani et al.'s Algorithm 1 defaults: lambda = 10, n_critic = 5, alpha = 1e-4, beta1 = 0,
    beta2 = 0.9, m = 64. Their MNIST script runs 200k G steps; on the bundled 5,000 digits 6 epochs
    (468 critic steps, 90 G steps) take about 3.5 minutes on a 2-core CPU, so the default is 6.

    Measured at its defaults (bench/catalogue.py, seed 0, the bundled 5,000 digits, gankit's
    evaluator, n = 2,500; 2026-12-02, a 2-core AMD EPYC without AVX-512, 1 torch thread, load
    4.4-4.0): FID 137.58, 2 of 10 classes, KL 1.598, recall 0.00, after 6 epochs (90 G updates) in
    5.7 CPU minutes (11.0 min of wall clock on the shared machine)."""

    epochs: int = 6
    batch_size: int = 64  # Algorithm 1's m
    lr: float = 1e-4  # Algorithm 1's alpha
    beta1: float = 0.0  # Algorithm 1's beta1
    beta2: float = 0.9  # Algorithm 1's beta2
    latent_dim: int = 128  # gan_mnist.py's noise width (z ~ N(0, I))
    loss: str = "wgan-gp"
    n_critic: int = 5  # Algorithm 1's n_critic
    gp_weight: float = 10.0  # Algorithm 1's lambda
    dim: int = param(64, ge=1)  # gan_mnist.py's DIM: the critic's widths DIM, 2 DIM, 4 DIM; G mirrors them


def supports_wgan(data: DataInfo) -> str | None:
    channels, height, width = data.image_shape
    if data.upsampling_plan() is None:
        return (f"its images are {channels}x{height}x{width}, but wgan's DCGAN networks need square images "
                "whose side is 4 or 7 times a power of two (e.g. 28, 32, 64); resize the dataset")
    return None


def supports_wgan_gp(data: DataInfo) -> str | None:
    channels, height, width = data.image_shape
    if height % 4 or width % 4:
        return (f"its images are {channels}x{height}x{width}, but wgan-gp's networks need sides divisible "
                "by 4 (e.g. 28 or 32); resize the dataset")
    return None


def build_wgan(config: WGANConfig, data: DataInfo, *, loss: LossSpec | None = None):
    """With a per-sample-penalty loss (or R1) the critic's BatchNorm becomes a LayerNorm, saying so."""
    from gankit_catalogue.nets.wgan import build_wgan_networks

    return build_wgan_networks(config, data, loss=loss)


def wgan_optimizers(config: WGANConfig, networks):
    from gankit_catalogue.nets.wgan import clipping_optimizers

    return clipping_optimizers(config, networks)


def build_wgan_gp(config: WGANGPConfig, data: DataInfo):
    from gankit_catalogue.nets.wgan import build_wgan_gp_networks

    return build_wgan_gp_networks(config, data)


def build_wasserstein_loss(config):
    from gankit_catalogue.nets.wgan import WassersteinLoss

    return WassersteinLoss()


LOSSES = (
    LossSpec("wgan", "Wasserstein critic loss without penalty (Arjovsky et al. 2017; variant wgan clips "
             "the critic)", build_wasserstein_loss),
)

VARIANTS = (
    VariantSpec(
        name="wgan",
        summary="Wasserstein GAN: weight-clipped DCGAN critic (c 0.01), RMSProp 5e-5, 5 critic steps",
        config_class=WGANConfig,
        build=build_wgan,
        supports=supports_wgan,
        paper=ARJOVSKY,
        optimizers=wgan_optimizers,
    ),
    VariantSpec(
        name="wgan-gp",
        summary="WGAN with gradient penalty (lambda 10), Adam 1e-4 betas (0, 0.9), norm-free critic",
        config_class=WGANGPConfig,
        build=build_wgan_gp,
        supports=supports_wgan_gp,
        paper=GULRAJANI,
    ),
)
