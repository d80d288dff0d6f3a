"""DCGAN (Radford, Metz & Chintala, 2015) as a gankit variant.

The paper's recipe: strided transposed convolutions in G (BatchNorm + ReLU, tanh out), strided
convolutions in D (LeakyReLU 0.2, BatchNorm on every layer but the first, logits out), weights
N(0, 0.02), BatchNorm scales N(1, 0.02), Adam with lr 2e-4 and beta1 0.5. The networks are sized
from the dataset's image shape (see :func:`image_side_plan`). This module stays torch-free; the
networks live in :mod:`gankit_dcgan.model`.
"""

from __future__ import annotations

from dataclasses import dataclass

from gankit import DataInfo, TrainConfig, VariantSpec, hookimpl

# G starts from a 4x4 map (the paper's) or a 7x7 one (MNIST's 28 = 7 * 2 * 2) and doubles.
START_SIDES = (4, 7)
MAX_DOUBLINGS = 5


@dataclass
class DCGANConfig(TrainConfig):
    """The paper's recipe, except the batch size (the paper's is 128): on the 5,000-digit subset,
    batches of 32 take four times the paper's steps per epoch for a little more time, and 30 epochs
    give digits of all ten classes in a few CPU minutes (docs/variants.md has the measurements)."""

    epochs: int = 30
    batch_size: int = 32
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    latent_dim: int = 100
    loss: str = "bce"
    g_features: int = 64  # channels of G's last hidden layer; doubled per layer towards z
    d_features: int = 64  # channels of D's first layer; doubled per layer towards the logit
    leaky_slope: float = 0.2  # D's LeakyReLU slope
    init_std: float = 0.02  # std of every conv weight, and of BatchNorm scales around 1

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("g_features", "d_features"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0 <= self.leaky_slope < 1:
            raise ValueError(f"leaky_slope must be in [0, 1), got {self.leaky_slope}")
        if not self.init_std > 0:
            raise ValueError(f"init_std must be positive, got {self.init_std}")


def image_side_plan(side: int) -> tuple[int, int] | None:
    """``(start_side, doublings)`` with ``start_side * 2**doublings == side``, or None."""
    for start in START_SIDES:
        for doublings in range(1, MAX_DOUBLINGS + 1):
            if start * 2 ** doublings == side:
                return start, doublings
    return None


def supports(data: DataInfo) -> str | None:
    channels, height, width = data.image_shape
    if height != width or image_side_plan(height) is None:
        return (f"its images are {channels}x{height}x{width}, but DCGAN needs square images whose side is "
                "4 or 7 times a power of two (e.g. 28, 32, 64); resize the dataset or use 'vanilla'")
    return None


def build(config: DCGANConfig, data: DataInfo):
    from gankit_dcgan.model import build_networks

    return build_networks(config, data)


@hookimpl
def gankit_register_variants(register):
    register(VariantSpec(
        name="dcgan",
        summary="deep convolutional GAN: strided (transposed) convs, BatchNorm, LeakyReLU D",
        config_class=DCGANConfig,
        build=build,
        supports=supports,
        paper="Radford, Metz & Chintala, Unsupervised Representation Learning with Deep "
              "Convolutional Generative Adversarial Networks, ICLR 2016 (arXiv:1511.06434)",
    ))
