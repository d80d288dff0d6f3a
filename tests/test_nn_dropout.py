"""gankit.nn.Dropout: nn.Dropout's behaviour with a cheaper mask on the CPU (issue 10)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gankit.nn import Dropout


def test_is_an_nn_dropout_without_state():
    layer = Dropout(0.7)
    assert isinstance(layer, nn.Dropout) and layer.p == 0.7
    assert layer.state_dict() == {} and list(layer.parameters()) == []


def test_eval_mode_and_p_zero_are_the_identity():
    x = torch.randn(50, 20)
    assert torch.equal(Dropout(0.7).eval()(x), x)
    assert torch.equal(Dropout(0.0)(x), x)


@pytest.mark.parametrize("p", [0.7, 0.5, 0.1])
def test_keeps_each_element_with_probability_one_minus_p_and_scales_it(p):
    torch.manual_seed(0)
    x = torch.rand(1000, 1000) + 1  # no zeros of its own
    y = Dropout(p)(x)
    kept = y != 0
    rate = kept.float().mean().item()
    assert abs(rate - (1 - p)) < 5 * ((p * (1 - p)) / x.numel()) ** 0.5  # five standard errors
    torch.testing.assert_close(y[kept], x[kept] / (1 - p))
    assert abs(y.mean().item() - x.mean().item()) < 0.01  # the expectation is kept


def test_gradient_is_the_same_mask_and_scale():
    torch.manual_seed(1)
    x = torch.randn(64, 32, requires_grad=True)
    y = Dropout(0.7)(x)
    y.sum().backward()
    mask = (y != 0).float() / 0.3
    torch.testing.assert_close(x.grad, mask)


def test_masks_follow_the_seed():
    layer = Dropout(0.7)
    x = torch.ones(10, 100)
    torch.manual_seed(3)
    first, second = layer(x), layer(x)
    torch.manual_seed(3)
    assert torch.equal(layer(x), first) and not torch.equal(first, second)


def test_keeps_the_input_dtype_under_bf16():
    x = torch.randn(8, 16, dtype=torch.bfloat16)
    assert Dropout(0.5)(x).dtype == torch.bfloat16
