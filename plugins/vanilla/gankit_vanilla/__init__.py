"""The reference plugin: the tutorial's GAN (Goodfellow et al., 2014) as a gankit variant.

This file is also the worked example of the plugin API: a config dataclass holding the recipe,
a ``build`` that imports torch only when called, and one hook that registers the variant.
"""

from __future__ import annotations

from dataclasses import dataclass

from gankit import DataInfo, TrainConfig, VariantSpec, hookimpl, param


@dataclass
class VanillaConfig(TrainConfig):
    """The tutorial's recipe. Its TF1 code passes 0.3 as ``tf.nn.dropout``'s *keep* probability,
    so the drop rate it trained with is 0.7; ``dropout`` is the drop rate, as in PyTorch."""

    epochs: int = 200
    batch_size: int = 100
    lr: float = 2e-4
    beta1: float = 0.9  # TF1's AdamOptimizer default, which the tutorial used
    beta2: float = 0.999
    latent_dim: int = 100
    loss: str = "bce"
    dropout: float = param(0.7, ge=0, lt=1)  # D's drop rate after each hidden layer
    init_std: float = param(0.02, gt=0)  # truncated normal std for every weight; biases start at 0


def build(config: VanillaConfig, data: DataInfo):
    from gankit_vanilla.model import build_networks

    return build_networks(config, data)


@hookimpl
def gankit_register_variants(register):
    register(VariantSpec(
        name="vanilla",
        summary="the tutorial's GAN: 4-layer MLPs, 100-d noise, dropout 0.7 in D",
        config_class=VanillaConfig,
        build=build,
        paper="Goodfellow et al., Generative Adversarial Nets, NeurIPS 2014",
    ))
