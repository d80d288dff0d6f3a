"""``--augment diffaug|ada``: differentiable augmentation of everything D sees (Zhao et al. 2020;
Karras et al. 2020).

With few training images D memorises them and its feedback to G degrades. DiffAugment ("Differentiable
Augmentation for Data-Efficient GAN Training", NeurIPS 2020, arXiv:2006.10738) transforms *both*
the real and the fake images D scores, in D's step *and* in G's, with operations that are
differentiable in the image, so G's gradient flows back through them; G itself never learns to
produce augmented images, because the real ones are augmented the same way.

The policy is the paper's ``color,translation,cutout``, in [-1, 1] image space, drawn per image:

- colour: brightness + U(-0.5, 0.5); saturation x U(0, 2) around the channel mean; contrast
  x U(0.5, 1.5) around the image mean (saturation does nothing on one channel);
- translation: a shift by up to 1/8 of the side in each direction, zero-padded;
- cutout: a square of half the side, at a random centre, set to zero.

``ada`` (StyleGAN2-ADA, "Training Generative Adversarial Networks with Limited Data", NeurIPS
2020, arXiv:2006.06676) applies each of the three operations to an image only with probability p,
and tunes p as training goes: every ``ADA_INTERVAL`` D steps it looks at r = E[sign(D(x))] over
the real images since the last look (D's overfitting heuristic, r_t in the paper), and moves p up
when r is above ``ADA_TARGET`` (0.6), down when below, by the images seen over ``ADA_SPEED`` (p can
go from 0 to 1 in 500,000 images). p starts at 0, stays on the device (no host sync), is kept in
the checkpoint (the ``ada`` callback's state) and logged as ``ada_p`` in each epoch's metrics line.
Under torchrun each rank tunes p from its own real images. The operations are DiffAugment's, not
ADA's 18 (no rotations, scalings or flips, which would be wrong for digits anyway).

Everything runs batched on the images' device with the global RNG (which checkpoints keep, so
resumed runs stay bit for bit); the random numbers drawn do not depend on p.
:class:`AugmentedDiscriminator` wraps D for the step only: the run's context and checkpoints keep
the plain D.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from gankit.train.events import Callback, TrainingContext

POLICIES = ("none", "diffaug", "ada")
ADA_TARGET = 0.6  # the paper's target for r = E[sign(D(real))]
ADA_INTERVAL = 4  # D steps between adjustments of p (the paper's)
ADA_SPEED = 500_000  # images over which p may go from 0 to 1 (the paper's)
TRANSLATION = 0.125  # the paper's: shift by up to 1/8 of the side
CUTOUT = 0.5  # the paper's: a square of half the side


def _uniform(x: torch.Tensor, low: float, high: float) -> torch.Tensor:
    return torch.rand(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype) * (high - low) + low


def colour(x: torch.Tensor) -> torch.Tensor:
    x = x + _uniform(x, -0.5, 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * _uniform(x, 0.0, 2.0) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * _uniform(x, 0.5, 1.5) + mean


def translation(x: torch.Tensor, ratio: float = TRANSLATION) -> torch.Tensor:
    n, c, h, w = x.shape
    max_y, max_x = int(h * ratio + 0.5), int(w * ratio + 0.5)
    shift_y = torch.randint(-max_y, max_y + 1, (n, 1, 1), device=x.device)
    shift_x = torch.randint(-max_x, max_x + 1, (n, 1, 1), device=x.device)
    rows = torch.arange(h, device=x.device).view(1, h, 1) - shift_y  # the source pixel of each one
    cols = torch.arange(w, device=x.device).view(1, 1, w) - shift_x
    inside = ((rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)).unsqueeze(1)
    index = (rows.clamp(0, h - 1) * w + cols.clamp(0, w - 1)).view(n, 1, h * w).expand(n, c, h * w)
    moved = x.reshape(n, c, h * w).gather(2, index).view(n, c, h, w)
    return moved * inside.to(x.dtype)


def cutout(x: torch.Tensor, ratio: float = CUTOUT) -> torch.Tensor:
    n, _, h, w = x.shape
    size_y, size_x = int(h * ratio + 0.5), int(w * ratio + 0.5)
    top = torch.randint(0, h + (1 - size_y % 2), (n, 1, 1), device=x.device) - size_y // 2
    left = torch.randint(0, w + (1 - size_x % 2), (n, 1, 1), device=x.device) - size_x // 2
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    hole = (rows >= top) & (rows < top + size_y) & (cols >= left) & (cols < left + size_x)
    return x * (~hole).unsqueeze(1).to(x.dtype)


def diff_augment(x: torch.Tensor) -> torch.Tensor:
    """The paper's ``color,translation,cutout`` policy, a fresh draw per image."""
    return cutout(translation(colour(x)))


class AugmentedDiscriminator(nn.Module):
    """D with its inputs augmented: what the training step scores real and fake images with.

    ``unwrapped`` is the plain D (``gankit.losses`` looks through the wrapper for auxiliary heads)."""

    def __init__(self, discriminator: Any, policy: str = "diffaug",
                 adaptive: "AdaptiveProbability | None" = None) -> None:
        super().__init__()
        if policy not in POLICIES[1:]:
            raise ValueError(f"unknown augmentation policy {policy!r}; known: {', '.join(POLICIES[1:])}")
        if (policy == "ada") != (adaptive is not None):
            raise ValueError("the ada policy needs its AdaptiveProbability, and only it takes one")
        self.unwrapped = discriminator
        self.policy = policy
        self.adaptive = adaptive

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> Any:
        if self.adaptive is None:
            return self.unwrapped(diff_augment(x), labels)
        p = self.adaptive.probability(x)
        for operation in (colour, translation, cutout):  # each on its own with probability p
            chosen = torch.rand(x.shape[0], 1, 1, 1, device=x.device) < p
            x = torch.where(chosen, operation(x), x)
        return self.unwrapped(x, labels)


class AdaptiveProbability(Callback):
    """ADA's augmentation probability p, tuned from D's real logits (see the module docstring),
    which it observes after each D step (the ``discriminator_step`` event)."""

    name = "ada"
    all_ranks = True  # every rank's D augments its own images

    def __init__(self, target: float = ADA_TARGET) -> None:
        self.target = target
        self.p = torch.zeros((), dtype=torch.float64)
        self.signs = torch.zeros((), dtype=torch.float64)  # sum of sign(D(x)) since the last look
        self.seen = self.steps = 0

    def _move_to(self, device: torch.device) -> None:
        # Created (or loaded from a checkpoint) on the CPU; kept beside the images from then on.
        if self.p.device != device:
            self.p, self.signs = self.p.to(device), self.signs.to(device)

    def probability(self, x: torch.Tensor) -> torch.Tensor:
        """p, on ``x``'s device."""
        self._move_to(x.device)
        return self.p

    def observe(self, real_logits: torch.Tensor) -> None:
        logits = real_logits.detach().reshape(-1)
        self._move_to(logits.device)
        self.signs = self.signs + logits.sign().sum(dtype=torch.float64)
        self.seen += logits.numel()
        self.steps += 1
        if self.steps % ADA_INTERVAL == 0:
            direction = torch.sign(self.signs / self.seen - self.target)
            self.p = (self.p + direction * (self.seen / ADA_SPEED)).clamp(0.0, 1.0)
            self.signs = torch.zeros_like(self.signs)
            self.seen = 0

    def on_discriminator_step(self, context: TrainingContext) -> None:
        self.observe(context.batch.real_logits)

    def on_epoch_end(self, context: TrainingContext) -> None:
        context.log("ada_p", round(float(self.p), 6))

    def state_dict(self) -> dict[str, Any]:
        return {"p": float(self.p), "signs": float(self.signs), "seen": self.seen, "steps": self.steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.p = torch.tensor(float(state["p"]), dtype=torch.float64)
        self.signs = torch.tensor(float(state["signs"]), dtype=torch.float64)
        self.seen, self.steps = int(state["seen"]), int(state["steps"])


def adaptive_augment(config: Any) -> list[AdaptiveProbability]:
    """The ``ada`` callback a run with ``augment=ada`` needs (an empty list otherwise)."""
    return [AdaptiveProbability()] if getattr(config, "augment", "none") == "ada" else []


def augmented(discriminator: Any, policy: str, adaptive: AdaptiveProbability | None = None) -> Any:
    """``discriminator`` wrapped for ``policy`` (``"none"``: as it is)."""
    return discriminator if policy == "none" else AugmentedDiscriminator(discriminator, policy, adaptive)
