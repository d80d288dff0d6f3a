"""The loss check: a loss's formulas on a one-parameter critic."""

from __future__ import annotations

from typing import Any

import torch

from gankit.config import TrainConfig
from gankit.host import PluginHost, get_host
from gankit.testing._common import check_scalar, fail, isolated


class _LinearCritic(torch.nn.Module):
    """logits = weight * mean(x): on images of +1 (real) and -1 (fake), weight > 0 scores real above
    fake, and the logits' size is set by the weight."""

    def __init__(self, weight: float) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.tensor(float(weight)))

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.weight * x.flatten(1).mean(1)


def check_loss(name: str, *, host: PluginHost | None = None, config: Any = None) -> None:
    """Check a registered loss on a one-parameter critic: both losses are finite scalars; D's is
    lower when D scores real images above fakes, G's is no higher when D scores fakes as real; both
    stay finite, with finite gradients, for logits of magnitude 1e4."""
    from gankit.losses import DiscriminatorLoss, generator_step_loss

    host = host or get_host()
    subject = f"loss '{name}'"
    loss = host.losses.get(name).build(config if config is not None else TrainConfig())
    real = torch.ones(4, 1, 8, 8)
    fake = -torch.ones(4, 1, 8, 8)
    right, wrong = _LinearCritic(2.0), _LinearCritic(-2.0)

    with isolated():
        d_right = loss.discriminator_loss(right, real, fake, None)
        if not isinstance(d_right, DiscriminatorLoss):
            fail(subject, f"discriminator_loss returned {type(d_right).__name__}", "Return "
                  "gankit.DiscriminatorLoss(loss, real_logits, fake_logits)")
        d_wrong = loss.discriminator_loss(wrong, real, fake, None)
        for what, value in (("D's loss", d_right.loss), ("D's loss", d_wrong.loss)):
            check_scalar(value, subject, what)
        if not d_right.loss < d_wrong.loss:
            fail(subject, f"D's loss is {d_right.loss.item():.4g} when D scores real above fake but "
                  f"{d_wrong.loss.item():.4g} when it scores fake above real", "Check the signs: D's "
                  "loss must fall as real logits rise and fake logits fall")
        g_fooled = generator_step_loss(loss, wrong, fake, None, real=real)  # D scores fakes as real
        g_caught = generator_step_loss(loss, right, fake, None, real=real)
        for value in (g_fooled, g_caught):
            check_scalar(value, subject, "G's loss")
        # Not strictly lower: a G loss may aim at the decision boundary (LSGAN with c = 0).
        if g_fooled > g_caught:
            fail(subject, f"G's loss is {g_fooled.item():.4g} when D takes the fakes for real but "
                  f"{g_caught.item():.4g} when D spots them", "Check the signs: G's loss must not "
                  "rise as D's logits on fakes rise")

        for weight in (1e4, -1e4):
            critic = _LinearCritic(weight)
            d_loss = loss.discriminator_loss(critic, real, fake, None).loss
            g_loss = generator_step_loss(loss, critic, fake, None, real=real)
            for what, value in (("D's loss", d_loss), ("G's loss", g_loss)):
                check_scalar(value, f"{subject} at logits of {weight:+.0e}", what)
                critic.zero_grad(set_to_none=True)
                value.backward(retain_graph=True)
                if critic.weight.grad is None or not torch.isfinite(critic.weight.grad):
                    fail(f"{subject} at logits of {weight:+.0e}", f"{what} has a NaN, Inf or missing "
                          "gradient", "Use softplus/logsigmoid forms, which stay finite")
