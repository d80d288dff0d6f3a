"""AC-GAN (Odena, Olah & Shlens, 2017) as a gankit plugin.

G draws an image of a requested class, as in a conditional GAN. D gets no label: it has two heads,
one saying real or fake (the adversarial logits every gankit loss scores) and one classifying the
image. Both players also minimise the classifier's cross-entropy on the requested labels (D on real
and fake images, G on its fakes), on top of whatever adversarial loss ``--loss`` picks.

This module is what gankit imports at start-up, so it stays torch-free: the networks live in
:mod:`gankit_acgan.model` and the extra command in :mod:`gankit_acgan.commands`, both imported only
when used.
"""

from __future__ import annotations

from dataclasses import dataclass

from gankit import DataInfo, TrainConfig, VariantSpec, hookimpl

__version__ = "0.1.0"


@dataclass
class ACGANConfig(TrainConfig):
    """A small convolutional AC-GAN for 28x28 digits; Adam settings as in DCGAN."""

    epochs: int = 10
    batch_size: int = 64
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    latent_dim: int = 100
    loss: str = "bce"
    class_weight: float = 1.0  # weight of the classifier's cross-entropy in D's and G's loss
    g_features: int = 64  # channels of G's last hidden layer (its first one has twice as many)
    d_features: int = 32  # channels of D's first layer (its second one has twice as many)
    dropout: float = 0.25  # after each of D's conv layers

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.class_weight < 0:
            raise ValueError(f"class_weight must be >= 0, got {self.class_weight}")
        for name in ("g_features", "d_features"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


def supports(data: DataInfo) -> str | None:
    """AC-GAN needs labels, and G upsamples twice by 2, so the sides must be multiples of 4."""
    channels, height, width = data.image_shape
    if not data.num_classes or data.num_classes < 2:
        return "AC-GAN's discriminator classifies the images, so it needs a labelled dataset"
    if height % 4 or width % 4:
        return f"its images are {height}x{width}; AC-GAN's generator needs sides divisible by 4"
    return None


def build(config: ACGANConfig, data: DataInfo):
    from gankit_acgan.model import build_networks

    return build_networks(config, data)


@hookimpl
def gankit_register_variants(register):
    register(VariantSpec(
        name="acgan",
        summary="auxiliary classifier GAN: D says real/fake and which class; conv nets",
        config_class=ACGANConfig,
        build=build,
        conditional=True,
        supports=supports,
        paper="Odena, Olah & Shlens, Conditional Image Synthesis with Auxiliary Classifier GANs, "
              "ICML 2017 (arXiv:1610.09585)",
    ))


@hookimpl
def gankit_register_commands(app):
    from gankit_acgan.commands import add_commands

    add_commands(app)
