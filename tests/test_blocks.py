"""gankit.blocks: the DCGAN stacks' shapes and layouts for 28/32/64 sides, conditioning channels,
the critic norm, the initialisation (every layer kind it covers) and one_hot."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from gankit import DataInfo, GankitWarning, LossSpec
from gankit.blocks import critic_norm, critic_norm_for_loss, dcgan_init_, down_stack, one_hot, up_stack
from gankit.nn import count_parameters


def plan(side: int) -> tuple[int, int]:
    return DataInfo("test", (1, side, side), None).upsampling_plan()


@pytest.mark.parametrize("side, channels", [(28, 1), (32, 3), (64, 3)])
@pytest.mark.parametrize("extra", [0, 10])
def test_stacks_map_z_to_images_and_images_to_one_logit(side, channels, extra):
    g = up_stack(plan=plan(side), latent_dim=16, image_channels=channels, features=8, extra_channels=extra)
    d = down_stack(plan=plan(side), image_channels=channels, features=8, extra_channels=extra)
    images = g(torch.randn(3, 16 + extra, 1, 1))
    assert images.shape == (3, channels, side, side)
    assert images.min() >= -1 and images.max() <= 1
    assert d(torch.randn(3, channels + extra, side, side)).shape == (3, 1, 1, 1)


@pytest.mark.parametrize("side, g_widths, d_widths", [
    (28, [128, 64], [64, 128]),  # a 7x7 start, two doublings
    (32, [256, 128, 64], [64, 128, 256]),  # 4x4, three
    (64, [512, 256, 128, 64], [64, 128, 256, 512]),  # 4x4, four: the paper's stacks
])
def test_widths_double_away_from_the_image(side, g_widths, d_widths):
    g = up_stack(plan=plan(side), latent_dim=100, image_channels=3, features=64)
    d = down_stack(plan=plan(side), image_channels=3, features=64)
    assert [m.out_channels for m in g if isinstance(m, nn.ConvTranspose2d)] == [*g_widths, 3]
    assert [m.out_channels for m in d if isinstance(m, nn.Conv2d)] == [*d_widths, 1]
    assert g[0].kernel_size == (plan(side)[0],) * 2 and d[-1].kernel_size == (plan(side)[0],) * 2


def test_the_papers_layout_on_64x64():
    g = up_stack(plan=(4, 4), latent_dim=100, image_channels=3, features=64)
    d = down_stack(plan=(4, 4), image_channels=3, features=64, leaky_slope=0.2)
    # The PyTorch DCGAN example's nets (3,576,704 and 2,765,568) plus the two output biases.
    assert (count_parameters(g), count_parameters(d)) == (3_576_707, 2_765_633)
    assert isinstance(g[-1], nn.Tanh) and sum(isinstance(m, nn.BatchNorm2d) for m in g) == 4
    assert [type(m) for m in d[:2]] == [nn.Conv2d, nn.LeakyReLU] and d[1].negative_slope == 0.2
    assert sum(isinstance(m, nn.BatchNorm2d) for m in d) == 3  # all but the first layer


def test_conditioning_channels_widen_only_the_input():
    plain = down_stack(plan=(7, 2), image_channels=1, features=64)
    conditioned = down_stack(plan=(7, 2), image_channels=1, features=64, extra_channels=10)
    assert conditioned[0].in_channels == 11
    assert count_parameters(conditioned) - count_parameters(plain) == 10 * 64 * 4 * 4
    g = up_stack(plan=(7, 2), latent_dim=100, image_channels=1, features=64, extra_channels=10)
    assert g[0].in_channels == 110


@pytest.mark.parametrize("bad", [None, (0, 2), (7, 0)])
def test_a_missing_plan_is_a_clear_error(bad):
    with pytest.raises(ValueError, match="upsampling_plan"):
        up_stack(plan=bad, latent_dim=8, image_channels=1, features=8)


def test_critic_norm_per_sample_is_a_layer_norm_over_the_map():
    assert isinstance(critic_norm(per_sample=False)(32), nn.BatchNorm2d)
    norm = critic_norm(per_sample=True)(32)
    assert isinstance(norm, nn.GroupNorm) and (norm.num_groups, norm.num_channels) == (1, 32)
    d = down_stack(plan=(7, 2), image_channels=1, features=8, norm=critic_norm(per_sample=True)).eval()
    x = torch.randn(4, 1, 28, 28)
    assert torch.allclose(d(x)[:1], d(x[:1]), atol=1e-5)  # a logit ignores the rest of the batch


def test_critic_norm_for_loss_follows_the_spec_and_warns_in_one_line():
    per_sample = LossSpec("gp", "a per-sample penalty", lambda config: None, per_sample_penalty=True)
    with pytest.warns(GankitWarning, match="mine with --loss gp: the critic uses LayerNorm") as caught:
        assert critic_norm_for_loss(per_sample, variant="mine", n_critic=1)(8).num_groups == 1
    assert "\n" not in str(caught[0].message) and "n_critic" not in str(caught[0].message)
    wgan_gp = LossSpec("wgan-gp", "WGAN-GP", lambda config: None, per_sample_penalty=True)
    with pytest.warns(GankitWarning, match="add --set n_critic=5"):  # its paper's recipe: a hint
        critic_norm_for_loss(wgan_gp, variant="mine", n_critic=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plain = LossSpec("bce", "no penalty", lambda config: None)
        assert critic_norm_for_loss(plain, variant="mine", n_critic=1) is nn.BatchNorm2d
        assert critic_norm_for_loss(None, variant="mine", n_critic=1) is nn.BatchNorm2d


@pytest.mark.parametrize("n_critic, hint", [(1, True), (5, False)])
def test_a_variant_whose_defaults_use_r1_tells_a_per_sample_loss_that_r1_stacks_on_it(n_critic, hint):
    wgan_gp = LossSpec("wgan-gp", "WGAN-GP", lambda config: None, per_sample_penalty=True)
    with pytest.warns(GankitWarning, match="mine with --loss wgan-gp: its default R1 penalty .0.5. adds "
                                           "to the loss's own gradient penalty; add --r1 0") as caught:
        norm = critic_norm_for_loss(wgan_gp, variant="mine", n_critic=n_critic, r1=0.5, r1_by_default=True)
    assert len(caught) == 1 and ("--set n_critic=5" in str(caught[0].message)) == hint
    assert "BatchNorm" not in str(caught[0].message) and norm(8).num_groups == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # its own default: nothing swapped, nothing said
        assert critic_norm_for_loss(None, variant="mine", n_critic=1, r1=0.5, r1_by_default=True)(8).num_groups == 1


def test_dcgan_init_covers_every_layer_kind():
    torch.manual_seed(0)
    weighted = [nn.Conv2d(16, 64, 4), nn.ConvTranspose2d(64, 16, 4), nn.Linear(256, 256), nn.Embedding(512, 64)]
    norms = [nn.BatchNorm1d(2048), nn.BatchNorm2d(2048), nn.GroupNorm(1, 2048)]
    untouched = nn.PReLU()
    before = untouched.weight.detach().clone()
    model = nn.ModuleList([*weighted, *norms, untouched])
    assert dcgan_init_(model, std=0.05) is model
    for layer in weighted:
        w = layer.weight.detach()
        assert abs(w.mean().item()) < 0.005 and w.std().item() == pytest.approx(0.05, rel=0.05), layer
    for layer in norms:
        scale = layer.weight.detach()
        assert scale.mean().item() == pytest.approx(1.0, abs=0.01), layer
        assert scale.std().item() == pytest.approx(0.05, rel=0.1), layer
    for layer in [*weighted[:3], *norms]:
        assert torch.count_nonzero(layer.bias) == 0, layer
    assert torch.equal(untouched.weight, before)


def test_dcgan_init_skips_norms_without_parameters():
    model = nn.Sequential(nn.BatchNorm2d(4, affine=False), nn.Conv2d(4, 4, 3, bias=False))
    dcgan_init_(model)  # the default std is the paper's 0.02
    assert model[1].weight.std().item() == pytest.approx(0.02, rel=0.5)


def test_one_hot_rows_in_the_like_tensors_dtype():
    rows = one_hot(torch.tensor([0, 3, 2]), 4, like=torch.zeros(1, dtype=torch.float64))
    assert rows.dtype == torch.float64
    assert rows.tolist() == [[1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]]
    assert one_hot(torch.tensor([1], dtype=torch.int32), 2, like=torch.zeros(1)).dtype == torch.float32
