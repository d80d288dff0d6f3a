"""sagan: the paper's recipe (TTUR, Adam (0, 0.9), hinge, batch 256) as defaults, the self-attention
block (gamma starts at 0, so the block starts as the identity; sec. 3's formulas otherwise), its place at
14x14 in G and D, spectral norm on every layer of both, the sizes, the test kit, a tiny CLI run."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from gankit import DataInfo
from gankit.blocks import count_parameters
from gankit.testing import check_variant, invoke
from gankit_catalogue.nets.sagan import build_networks
from gankit_catalogue.nets.sn_blocks import SelfAttention
from gankit_catalogue.sagan import SAGANConfig

MNIST = DataInfo("mnist", (1, 28, 28), 10)


def test_defaults_are_the_papers_recipe():
    config = SAGANConfig()
    # Sec. 5: hinge loss, Adam beta1 0 and beta2 0.9, TTUR with G at 1e-4 and D at 4e-4, 1:1 steps.
    assert (config.loss, config.optimizer, config.beta1, config.beta2, config.n_critic) == \
        ("hinge", "adam", 0.0, 0.9, 1)
    assert (config.generator_lr, config.discriminator_lr) == (1e-4, 4e-4)
    assert (config.batch_size, config.latent_dim, config.attention) == (256, 128, True)
    assert (config.ema, config.r1, config.lr_schedule) == (0.0, 0.0, "constant")


def test_attention_starts_as_the_identity_and_follows_the_papers_formulas():
    torch.manual_seed(0)
    block = SelfAttention(64)
    assert block.gamma.item() == 0.0 and block.gamma.requires_grad
    assert [layer.out_channels for layer in (block.key, block.query, block.value)] == [8, 8, 8]  # C/8
    assert block.out.in_channels == 8 and block.out.out_channels == 64
    x = torch.randn(2, 64, 5, 6)
    assert torch.equal(block(x), x)  # gamma = 0: exactly the identity

    with torch.no_grad():
        block.gamma.fill_(0.5)
    block.eval()  # spectral norm's power iteration stops: the same weights in every call below
    beta = block.attention(x)
    assert beta.shape == (2, 30, 30) and torch.allclose(beta.sum(-1), torch.ones(2, 30))
    keys, queries, values = (conv(x).flatten(2) for conv in (block.key, block.query, block.value))
    # beta[j, i] = softmax_i(f(x_i) . g(x_j)); o_j = v(sum_i beta[j, i] h(x_i)); y = x + gamma * o.
    expected_beta = torch.softmax(torch.einsum("nci,ncj->nji", keys, queries), dim=-1)
    mixed = torch.einsum("nji,nci->ncj", expected_beta, values).reshape(2, 8, 5, 6)
    assert torch.allclose(beta, expected_beta, atol=1e-6)
    assert torch.allclose(block(x), x + 0.5 * block.out(mixed), atol=1e-5)


def attention_inputs(module: nn.Module, run) -> list[tuple[int, ...]]:
    shapes = []
    hooks = [m.register_forward_hook(lambda m, args, out: shapes.append(tuple(args[0].shape[1:])))
             for m in module.modules() if isinstance(m, SelfAttention)]
    run()
    for hook in hooks:
        hook.remove()
    return shapes


def test_one_attention_block_at_14x14_in_g_and_in_d_and_the_nets_start_without_it():
    torch.manual_seed(0)
    generator, discriminator = build_networks(SAGANConfig(), MNIST)
    z = generator.sample_latent(4)
    images = generator(z)
    assert attention_inputs(generator, lambda: generator(z)) == [(32, 14, 14)]
    assert attention_inputs(discriminator, lambda: discriminator(images)) == [(32, 14, 14)]
    plain_g, plain_d = build_networks(SAGANConfig(attention=False), MNIST)
    assert not any(isinstance(m, SelfAttention) for m in [*plain_g.modules(), *plain_d.modules()])
    # Same weights but the attention: gamma = 0 makes the first forward pass the plain nets'.
    plain_g.load_state_dict({k: v for k, v in generator.state_dict().items() if "attention" not in k})
    generator.eval()
    plain_g.eval()
    with torch.no_grad():
        assert torch.allclose(generator(z), plain_g(z), atol=1e-6)


def test_spectral_norm_on_every_layer_of_g_and_d():
    torch.manual_seed(0)
    generator, discriminator = build_networks(SAGANConfig(g_channels=8, d_channels=8), MNIST)
    images = generator(generator.sample_latent(4)).detach()
    for _ in range(10):  # each training-mode forward pass takes one power iteration
        generator(generator.sample_latent(4))
        discriminator(images)
    for network in (generator, discriminator):
        layers = [m for m in network.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
        assert layers and all(parametrize.is_parametrized(m, "weight") for m in layers)
        for layer in layers:
            sigma = torch.linalg.matrix_norm(layer.weight.detach().flatten(1), ord=2)
            assert sigma.item() == pytest.approx(1.0, abs=0.03)
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in discriminator.modules())


@pytest.mark.parametrize("shape, g_params, d_params", [
    ((1, 28, 28), 442_786, 159_234),
    ((3, 32, 32), 422_084, 635_778),
])
def test_small_networks_sized_from_the_image_shape(shape, g_params, d_params):
    generator, discriminator = build_networks(SAGANConfig(), DataInfo("test", shape, None))
    assert (count_parameters(generator), count_parameters(discriminator)) == (g_params, d_params)
    images = generator(generator.sample_latent(2))
    assert images.shape == (2, *shape) and images.abs().max() <= 1
    assert discriminator(images).shape == (2,)


def test_passes_the_kit(host, tmp_path):
    check_variant("sagan", host=host, overrides={"g_channels": 8, "d_channels": 8}, workdir=tmp_path)


def test_a_real_cli_run_then_sample(host, tmp_path):
    run = tmp_path / "run"
    result = invoke(["train", "sagan", "--max-images", 200, "--epochs", 1, "--no-progress", "--out", run],
                    host=host)
    assert result.exit_code == 2 and "batch_size 256 is larger than the dataset (200 images)" in result.output
    result = invoke(["train", "sagan", "--max-images", 200, "--epochs", 1, "--no-progress", "--out", run,
                     "--batch-size", 50, "--set", "g_channels=8", "--set", "d_channels=8"], host=host)
    assert result.exit_code == 0, result.output
    result = invoke(["sample", run, "--n", 4, "--out", tmp_path / "s.pt"], host=host)
    assert result.exit_code == 0, result.output
    images = torch.load(tmp_path / "s.pt")
    assert images.shape == (4, 1, 28, 28) and images.abs().max() <= 1
