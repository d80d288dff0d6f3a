"""``lsgan``: Mao, Li, Xie, Lau, Wang & Smolley, "Least Squares Generative Adversarial Networks",
ICCV 2017 (arXiv:1611.04076).

D is trained with a least-squares loss instead of the sigmoid cross entropy: D pushes real scores
to b = 1 and fake ones to a = 0, G pushes its fakes' scores to c = 1 (the paper's 0-1 coding,
gankit's core ``lsgan`` loss). A fake far on the right side of the decision boundary is still
penalised, so G keeps getting gradients where the cross entropy saturates. Against plain DCGAN:
that loss; a 1024-d uniform z; batches of 64; the paper's small-image networks, which have a fully
connected layer in G and two in D (DCGAN has none).

Followed: the loss (a = 0, b = 1, c = 1); Adam with lr 2e-4 and beta1 0.5, batches of 64, z ~
U(-1, 1)^1024 (the authors' ``train_chn.py``, which trains the 28x28 network of Figure 3(b)); that
network's layers, kernels, widths, BatchNorm placement and initialisation (``mcgan.py``, ``ops.py``).

Adapted: the paper has two architectures, Figure 3(a) for 112x112 LSUN scenes and Figure 3(b), a
class-conditional network for 28x28 handwritten Chinese characters (3,740 classes). Digits are
28x28 too, so this is Figure 3(b) without its conditioning: the label's linear embedding joined to
z and to D's layers is dropped, the layer widths are kept. tanh out and data in [-1, 1] instead of
their sigmoid and [0, 1]. Their loss sums over the batch (``tf.nn.l2_loss``) where gankit's
averages; Adam's steps do not depend on that scale. Networks: :mod:`gankit_catalogue.nets.lsgan`.
"""

from __future__ import annotations

from dataclasses import dataclass

from gankit import DataInfo, LossSpec, TrainConfig, VariantSpec, param

MAO = ("Mao, Li, Xie, Lau, Wang & Smolley, Least Squares Generative Adversarial Networks, ICCV 2017 "
       "(arXiv:1611.04076)")


@dataclass
class LSGANConfig(TrainConfig):
    """The authors' settings for their 28x28 network (``train_chn.py``): Adam, lr 2e-4, beta1 0.5,
    batches of 64, z of 1024 drawn uniformly. They train up to a million steps; on the bundled 5,000
    digits an epoch (78 steps) takes about 2 minutes on a 2-core CPU (D's 5x5 conv to 320 channels
    is most of the cost), so the default is 2.

    Measured at its defaults (bench/catalogue.py, seed 0, the bundled 5,000 digits, gankit's
    evaluator, n = 2,500; 2026-12-02, a 2-core AMD EPYC without AVX-512, 1 torch thread, load
    4.7-5.0): FID 193.75, 0 of 10 classes, KL 2.303, recall 0.00, after 2 epochs (156 G updates) in
    7.5 CPU minutes (18.7 min of wall clock on the shared machine)."""

    epochs: int = 2
    batch_size: int = 64  # train_chn.py's batch_size
    lr: float = 2e-4  # train_chn.py's rate for the character network (lsun's is 1e-3)
    beta1: float = 0.5  # "following DCGAN" (sec. 4.1)
    beta2: float = 0.999  # TF's Adam default, which they do not change
    latent_dim: int = 1024  # train_chn.py's z_dim (z ~ U(-1, 1))
    loss: str = "lsgan"  # a = 0, b = 1, c = 1 (the paper's 0-1 coding)
    # mcgan.py's y_size, kept in D's conv widths (C + 256 and 64 + 256) though no label is joined
    label_width: int = param(256, ge=0)
    g_features: int = param(128, ge=1)  # channels of G's first map and of its hidden deconv (mcgan.py's 128)


def supports(data: DataInfo) -> str | None:
    channels, height, width = data.image_shape
    if height % 4 or width % 4 or min(height, width) < 8:
        return (f"its images are {channels}x{height}x{width}, but lsgan's networks need sides divisible "
                "by 4 (e.g. 28 or 32: a 7x7 or 8x8 map under two stride-2 layers); resize the dataset")
    return None


def build(config: LSGANConfig, data: DataInfo, *, loss: LossSpec | None = None):
    """With a per-sample-penalty loss (or R1) D's BatchNorm becomes a LayerNorm, saying so."""
    from gankit_catalogue.nets.lsgan import build_networks

    return build_networks(config, data, loss=loss)


VARIANTS = (
    VariantSpec(
        name="lsgan",
        summary="least-squares GAN on the paper's 28x28 network (z 1024 uniform, Adam 2e-4, beta1 0.5)",
        config_class=LSGANConfig,
        build=build,
        supports=supports,
        paper=MAO,
    ),
)
