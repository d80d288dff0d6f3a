"""``dragan``: Kodali, Abernethy, Hays & Kira, "On Convergence and Stability of GANs" (DRAGAN),
arXiv:1705.07215, 2017.

The paper reads GAN training as regret minimisation and traces mode collapse to sharp gradients
of D around the real data; its fix is a gradient penalty in a small region around the real
samples only: lambda E[(||grad D(x + delta)|| - k)^2]. Against plain GAN/DCGAN: that penalty
(the loss ``dragan``, registered here, usable with any variant) added to D's cross entropy, Adam
with betas (0.5, 0.9) at lr 1e-4. Against WGAN-GP: the points penalised lie near the real data,
not between real and fake images, and the objective stays the cross entropy.

Followed (the authors' reference code, kodalinaveen3/DRAGAN ``DRAGAN.ipynb``): x_p = x + 0.5 *
std(x) * U[0, 1], with std over the whole real batch and one uniform per pixel; penalised points
x + alpha (x_p - x) with one alpha ~ U[0, 1] per sample; the gradient of D's logit, its norm per
sample; lambda = 10, k = 1; Adam lr 1e-4, betas (0.5, 0.9); batches of 128; z ~ U(-1, 1)^100; the
notebook's MLPs (one hidden layer of 128 in G and in D, ReLU) and their initialisation. The
paper writes the perturbation as delta ~ N(0, cI); the code's one-sided uniform noise scaled by
the batch's std is what its experiments ran, and is what ``perturbation`` (c) scales here.

Adapted: tanh out and data in [-1, 1] (their sigmoid and [0, 1]); the perturbation scales with
std(x), so it covers the same share of the data's spread. compare_gan's later DRAGAN (centred
noise, clipped to the data range, the penalty on D's probability) is not this one. The notebook
runs 200k G steps. Networks and loss: :mod:`gankit_catalogue.nets.dragan`.
"""

from __future__ import annotations

from dataclasses import dataclass

from gankit import DataInfo, LossSpec, TrainConfig, VariantSpec, param

KODALI = ("Kodali, Abernethy, Hays & Kira, On Convergence and Stability of GANs (DRAGAN), "
          "arXiv:1705.07215, 2017")


@dataclass
class DRAGANConfig(TrainConfig):
    """The reference notebook's settings: Adam lr 1e-4, betas (0.5, 0.9), batches of 128, z of 100
    drawn uniformly, lambda 10, k 1, one D step per G step. On the bundled 5,000 digits 200 epochs
    (7,800 steps of these small MLPs) take about 3 minutes on a 2-core CPU, so the default is 200.

    Measured at its defaults (bench/catalogue.py, seed 0, the bundled 5,000 digits, gankit's
    evaluator, n = 2,500; 2026-12-02, a 2-core AMD EPYC without AVX-512, 1 torch thread, load
    4.4-3.6): FID 51.18, 10 of 10 classes, KL 0.151, recall 0.38, after 200 epochs (7,800 G updates)
    in 2.0 CPU minutes (4.0 min of wall clock on the shared machine)."""

    epochs: int = 200
    batch_size: int = 128  # the notebook's mb_size
    lr: float = 1e-4  # the notebook's Adam learning rate
    beta1: float = 0.5
    beta2: float = 0.9
    latent_dim: int = 100  # the notebook's z_dim (z ~ U(-1, 1))
    loss: str = "dragan"
    gp_weight: float = 10.0  # the paper's lambda
    perturbation: float = param(0.5, gt=0)  # c: real x moved by c * std(batch) * U[0, 1] (the code's 0.5)
    hidden: int = param(128, ge=1)  # the notebook's h_dim: the hidden width of G's and D's MLPs


def build(config: DRAGANConfig, data: DataInfo):
    from gankit_catalogue.nets.dragan import build_networks

    return build_networks(config, data)


def build_dragan_loss(config):
    from gankit_catalogue.nets.dragan import DRAGANLoss

    return DRAGANLoss.from_config(config)


LOSSES = (
    LossSpec("dragan", "BCE plus a gradient penalty around perturbed real data, lambda 10 "
             "(Kodali et al. 2017)", build_dragan_loss, per_sample_penalty=True),
)

VARIANTS = (
    VariantSpec(
        name="dragan",
        summary="DRAGAN: BCE plus a gradient penalty near the real data; the authors' MNIST MLPs",
        config_class=DRAGANConfig,
        build=build,
        paper=KODALI,
    ),
)
