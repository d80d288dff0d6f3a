"""The reference plugin is exactly the tutorial's model and recipe."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gankit import ConfigError, DataInfo, get_variant
from gankit.blocks import count_parameters
from gankit.testing import variant_config

MNIST = DataInfo("mnist", (1, 28, 28), 10)


@pytest.fixture
def networks():
    spec = get_variant("vanilla")
    return spec.build(variant_config(spec), MNIST)


def test_defaults_are_the_tutorials_recipe():
    config = variant_config("vanilla")
    assert (config.epochs, config.batch_size, config.lr, config.latent_dim, config.loss) == (200, 100, 2e-4, 100, "bce")
    assert (config.beta1, config.beta2) == (0.9, 0.999)  # TF1 AdamOptimizer's defaults
    assert config.dropout == 0.7  # the tutorial's keep_prob 0.3
    assert config.n_critic == 1


def test_parameter_counts_match_the_tutorial(networks):
    assert count_parameters(networks.generator) == 1_486_352
    assert count_parameters(networks.discriminator) == 1_460_225


def test_layer_sizes_and_activations(networks):
    g_linear = [m for m in networks.generator.modules() if isinstance(m, nn.Linear)]
    d_linear = [m for m in networks.discriminator.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in g_linear] == [(100, 256), (256, 512), (512, 1024), (1024, 784)]
    assert [(m.in_features, m.out_features) for m in d_linear] == [(784, 1024), (1024, 512), (512, 256), (256, 1)]
    dropouts = [m.p for m in networks.discriminator.modules() if isinstance(m, nn.Dropout)]
    assert dropouts == [0.7, 0.7, 0.7]


def test_weights_are_truncated_normal_and_biases_zero(networks):
    for module in (networks.generator, networks.discriminator):
        for layer in module.modules():
            if isinstance(layer, nn.Linear):
                assert layer.weight.abs().max() <= 0.04 + 1e-7
                assert 0.01 < layer.weight.std() < 0.02
                assert torch.count_nonzero(layer.bias) == 0


def test_shapes_range_and_logits(networks):
    images = networks.generator(torch.randn(5, 100) * 10)
    assert images.shape == (5, 1, 28, 28)
    assert images.min() >= -1 and images.max() <= 1
    logits = networks.discriminator(images)
    assert logits.shape == (5,)


def test_dropout_is_configurable():
    spec = get_variant("vanilla")
    networks = spec.build(variant_config(spec, {"dropout": "0.3"}), MNIST)
    assert [m.p for m in networks.discriminator.modules() if isinstance(m, nn.Dropout)] == [0.3, 0.3, 0.3]


@pytest.mark.parametrize("key, value, message", [
    ("dropout", "1", "dropout must be"), ("dropout", "-0.1", "dropout must be"), ("init_std", "0", "init_std must be"),
])
def test_out_of_range_values_are_one_line_config_errors(key, value, message):
    with pytest.raises(ConfigError, match=message) as caught:
        variant_config("vanilla", {key: value})
    assert "\n" not in str(caught.value)
