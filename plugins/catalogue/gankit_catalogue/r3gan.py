"""R3GAN: Huang, Gokaslan, Kuleshov & Tompkin, "The GAN is dead; long live the GAN! A Modern GAN
Baseline", NeurIPS 2024 (arXiv:2501.05441).

What it changes: the loss is RpGAN, the relativistic pairing loss, which scores each fake against a
real image (``L_D = softplus(D(fake) - D(real))``, ``L_G = softplus(D(real) - D(fake))``, per pair),
regularised by zero-centred gradient penalties on both sides: R1 on real images and R2 on fakes,
``gamma / 2 ||grad D||^2`` each, which the paper proves makes the game locally convergent. With a
loss that stable, the architecture sheds StyleGAN2's tricks (no mapping network, style
modulation, normalisation, minibatch stddev or path-length regularisation) for a modern ResNet:
inverted-bottleneck residual blocks with grouped 3x3 convs, fix-up style initialisation, low-pass
resampling, no normalisation layers at all.

Followed from the paper and its code (brownvc/R3GAN): the loss and both penalties, summed per pair
and averaged, as its R3GAN/Trainer.py; gamma 0.05 for R1 and R2 (its CIFAR-10 preset, the nearest
resolution); Adam with beta1 0 and lr 2e-4; batches of 512 (its CIFAR-10 command); z ~ N(0, I) of
64; one D step per G step; the block design and initialisation of R3GAN/Networks.py (see
:mod:`gankit_catalogue.nets.r3gan`). The reference anneals lr (2e-4 to 5e-5), beta2 (0.9 to
0.99), gamma (0.05 to 0.005), G's weight average (half-life 0 to 5 M images) and its augmentation
(p 0 to 0.55) by cosine schedules over 20 M images, which a run of this length barely starts: lr,
gamma, averaging (none) and augmentation (none) are held at their starting values, and beta2 at
0.99, the schedule's end and StyleGAN2's.

Adapted: the networks are small, about 0.12 M parameters each on 28x28 digits (the reference's
CIFAR-10 nets are 768 channels wide per stage): widths 64, 32 and 16 at 7x7, 14x14 and 28x28, two
blocks a stage (on a CPU the cost follows the activations' size: width 128 made a step 2.6 times
slower); their smallest map is the image side's 4x4 or 7x7 start (the reference's is 4x4);
G ends in tanh, as gankit's images lie in [-1, 1]. The reference draws separate noise for D's and
G's steps; gankit's G step reuses the D step's fakes.

The ``rpgan`` loss works with every variant; it reads ``r1_gamma`` and ``r2_gamma`` from the run's
config, and a variant without those fields gets the paper's 0.05. gankit's own ``--r1`` would add
a second R1 on top. The networks and the loss are in :mod:`gankit_catalogue.nets.r3gan`.
"""

from __future__ import annotations

from dataclasses import dataclass

from gankit import DataInfo, LossSpec, TrainConfig, VariantSpec, param

PAPER = ("Huang, Gokaslan, Kuleshov & Tompkin, The GAN is dead; long live the GAN! A Modern GAN "
         "Baseline, NeurIPS 2024 (arXiv:2501.05441)")


@dataclass
class R3GANConfig(TrainConfig):
    """The paper's recipe: RpGAN + R1 + R2 with gamma 0.05 each, Adam at lr 2e-4 with betas
    (0, 0.99), one D step per G step, batches of 512, z ~ N(0, I) of 64.
    3 epochs: one epoch of 1,000 digits took 62 s on the shared 2-core development CPU (one
    thread), 8.3 times selfcond's epoch timed alongside, which takes about 7 s per 5,000 digits on
    an idle one (its docstring): so about 60 s per epoch of the 5,000 bundled digits, and 3 minutes
    for a default run. The two penalties' double backward passes make a step about three times a
    plain GAN's, and batches of 512 leave that run 27 G steps: the paper's recipe on this budget,
    not its training length (``--batch-size 64`` gives 234).

    Measured at its defaults (bench/catalogue.py, seed 0, the bundled 5,000 digits, gankit's
    evaluator, n = 2,500; 2026-12-02, a 2-core AMD EPYC without AVX-512, 1 torch thread, load
    4.8-5.1): FID 162.92, 1 of 10 classes, KL 2.299, recall 0.00, after 3 epochs (27 G updates) in
    6.2 CPU minutes (15.4 min of wall clock on the shared machine)."""

    epochs: int = 3
    batch_size: int = 512
    lr: float = 2e-4
    beta1: float = 0.0
    beta2: float = 0.99
    n_critic: int = 1
    latent_dim: int = 64  # the width of z ~ N(0, I)
    loss: str = "rpgan"
    r1_gamma: float = param(0.05, ge=0)  # R1: gamma / 2 * ||grad D(x)||^2 on real images
    r2_gamma: float = param(0.05, ge=0)  # R2: gamma / 2 * ||grad D(G(z))||^2 on fakes
    width: int = param(64, ge=16)  # channels at the smallest map; halved per doubling, down to 16
    blocks: int = param(2, ge=1)  # residual blocks per resolution
    expansion: int = param(2, ge=1)  # the inverted bottleneck's widening of its grouped 3x3 conv


def supports(data: DataInfo) -> str | None:
    channels, height, width = data.image_shape
    if data.upsampling_plan() is None:
        return (f"its images are {channels}x{height}x{width}, but R3GAN needs square images whose side "
                "is 4 or 7 times a power of two (e.g. 28, 32, 64); resize the dataset or use 'vanilla'")
    return None


def build(config: R3GANConfig, data: DataInfo, *, loss: LossSpec | None = None):
    """The networks; D has no normalisation, so a per-sample-penalty ``loss`` needs no swap."""
    from gankit_catalogue.nets.r3gan import build_networks

    return build_networks(config, data)


def build_loss(config):
    from gankit_catalogue.nets.r3gan import RpGANLoss

    return RpGANLoss.from_config(config)


VARIANTS = (
    VariantSpec(
        name="r3gan",
        summary="RpGAN + R1 + R2 loss on a small normalisation-free ResNet, Adam 2e-4 (0, 0.99), batch 512",
        config_class=R3GANConfig,
        build=build,
        supports=supports,
        paper=PAPER,
    ),
)

LOSSES = (
    LossSpec("rpgan", "relativistic pairing loss with R1 and R2 penalties (r1_gamma, r2_gamma; "
             "Huang et al. 2024)", build_loss, per_sample_penalty=True),
)
