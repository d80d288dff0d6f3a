"""``lucic``: the shared networks of Lucic, Kurach, Michalski, Gelly & Bousquet, "Are GANs Created
Equal? A Large-Scale Study", NeurIPS 2018 (arXiv:1711.10337), for comparing losses on equal terms.

The study trains every loss on one architecture, InfoGAN's for MNIST and Fashion-MNIST, with a
64-d uniform z and batches of 64, and finds that with enough tuning most losses reach similar
scores. ``gankit train lucic --loss NAME`` does the same here: every registered loss runs on
these networks (a loss with a per-sample gradient penalty, ``wgan-gp`` or ``dragan``, gets a
per-sample LayerNorm for D's BatchNorm, and says so in one line).

Against plain DCGAN (``dcgan``): G and D each have a 1024-wide fully connected layer next to the
H/4 x W/4 x 128 map (DCGAN has none), z is 64-d, batches are 64, Adam's learning rate is 1e-4.

Followed: the layers, widths, kernels, strides and BatchNorm placement (compare_gan v1,
``src/gans/abstract_gan.py``, the code the paper's experiments ran on); its initialisation
(``ops.py``: N(0, 0.02), conv weights truncated at 2 std, zero biases) and BatchNorm epsilon
1e-3; z ~ U(-1, 1)^64; batch 64; the study's shared defaults (``params.py``, wide range): Adam
lr 1e-4, beta1 0.5, one D step per G step, BatchNorm in D; the non-saturating loss (the study's
"NS GAN") as the default ``--loss``. D's norm is the study's ``discriminator_batchnorm``
hyper-parameter (``--set d_norm=none``; the study's WGAN-GP and DRAGAN narrow-range runs had none),
with the layer and spectral norms compare_gan's later ``discriminator_normalization`` offers.

Adapted: tanh out and data in [-1, 1] instead of compare_gan's sigmoid and [0, 1] (gankit's image
range; tanh(x) = 2 sigmoid(2x) - 1, so the model class is the same). G's hidden activation is ReLU
as in the paper's architecture table; compare_gan's code uses LeakyReLU 0.2 there
(``--set g_leaky_slope=0.2``). BatchNorm's running averages use torch's momentum 0.1, not
compare_gan's decay 0.999: a default run here takes about a thousand steps, not the study's 15,600,
and averages that slow would still hold mostly their initial values when G samples in eval mode.
The study tunes every hyper-parameter per loss (and overrides some per model in ``params.py``, e.g.
lr 5e-5 and beta1 0 for NS GAN); the shared defaults are what every loss starts from, so they are
this variant's. Networks: :mod:`gankit_catalogue.nets.lucic`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gankit import DataInfo, LossSpec, TrainConfig, VariantSpec, param

LUCIC = ("Lucic, Kurach, Michalski, Gelly & Bousquet, Are GANs Created Equal? A Large-Scale Study, "
         "NeurIPS 2018 (arXiv:1711.10337)")


@dataclass
class LucicConfig(TrainConfig):
    """The study's shared setup (compare_gan v1: ``generate_tasks_lib.py`` for z and the batch,
    ``params.py`` for the optimizer). The study trains 20 epochs of MNIST's 50,000 training digits
    (15,600 steps of 64); on the bundled 5,000 digits 10 epochs (780 steps) take about 4
    minutes on a 2-core CPU, so the default is 10.

    Measured at its defaults (bench/catalogue.py, seed 0, the bundled 5,000 digits, gankit's
    evaluator, n = 2,500; 2026-12-02, a 2-core AMD EPYC without AVX-512, 1 torch thread, load
    5.1-3.1): FID 37.16, 10 of 10 classes, KL 0.143, recall 0.51, after 10 epochs (780 G updates) in
    5.7 CPU minutes (9.5 min of wall clock on the shared machine)."""

    epochs: int = 10
    batch_size: int = 64  # the study's BATCH_SIZE
    lr: float = 1e-4  # the study's default learning rate (params.py, wide range)
    beta1: float = 0.5
    beta2: float = 0.999  # TF's Adam default, which compare_gan does not change
    latent_dim: int = 64  # the study's z_dim (z ~ U(-1, 1))
    loss: str = "bce"  # the study's NS GAN; every registered loss runs on these networks
    n_critic: int = 1  # the study's default disc_iters
    # D's norm after its second conv and first FC layer (the study's discriminator_batchnorm, on/off):
    # batch (BatchNorm; a per-sample LayerNorm under a per-sample-penalty loss), layer, spectral, none
    d_norm: Literal["batch", "layer", "spectral", "none"] = "batch"
    g_leaky_slope: float = param(0.0, ge=0, lt=1)  # G's LeakyReLU slope: 0 (ReLU) paper's, 0.2 the code's


def supports(data: DataInfo) -> str | None:
    channels, height, width = data.image_shape
    if height % 4 or width % 4 or min(height, width) < 8:
        return (f"its images are {channels}x{height}x{width}, but lucic needs sides divisible by 4 "
                "(e.g. 28 or 32: a 7x7 or 8x8 map under two stride-2 layers); resize the dataset")
    return None


def build(config: LucicConfig, data: DataInfo, *, loss: LossSpec | None = None):
    from gankit_catalogue.nets.lucic import build_networks

    return build_networks(config, data, loss=loss)


VARIANTS = (
    VariantSpec(
        name="lucic",
        summary="the InfoGAN-style networks Lucic et al. compare every loss on (z 64 uniform, batch 64)",
        config_class=LucicConfig,
        build=build,
        supports=supports,
        paper=LUCIC,
    ),
)
