"""``--ema DECAY``: an exponential moving average of G's weights, as a training callback.

The averaged generator (Karras et al. 2018; StyleGAN2-ADA, BigGAN) draws cleaner samples than the
last raw weights, whose steps still chase the discriminator. After every G step::

    ema = beta * ema + (1 - beta) * G        (parameters; buffers such as BatchNorm's running
                                              statistics are copied, not averaged)

``DECAY`` is beta per G step once training is under way. As StyleGAN2-ADA does, the average is
kept in *images* and ramped up: DECAY means a half-life of ``H = batch * ln 0.5 / ln DECAY``
images, and while fewer than ``H / RAMP`` images have been seen the half-life is ``RAMP`` times
the images seen (RAMP = 0.05, StyleGAN2-ADA's ``ema_rampup``), so the first, poor weights are
forgotten quickly. beta depends only on the G-step count, which checkpoints keep, so a resumed run
averages bit for bit as an unbroken one.

The averaged weights are this callback's state under ``generator_ema``: checkpoints keep them
beside the raw ones, and :func:`gankit.load_run` (``sample``, ``evaluate``, ``compare``) uses them
unless asked for the raw weights.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch

from gankit.train.events import Callback, TrainingContext

EMA_KEY = "generator_ema"  # the key gankit.loading looks for (kept equal; a test checks it)
RAMP = 0.05  # StyleGAN2-ADA's ema_rampup: half-life at most this fraction of the images seen


def ema_beta(decay: float, step: int, batch_size: int) -> float:
    """beta for the ``step``-th G step (counted from 1) of ``batch_size`` images, with the ramp."""
    half_life = batch_size * math.log(0.5) / math.log(decay)
    half_life = min(half_life, RAMP * step * batch_size)
    return 0.5 ** (batch_size / max(half_life, 1e-8))


class GeneratorEMA(Callback):
    """Keeps :attr:`averaged`, a copy of G whose weights are the moving average."""

    name = "ema"

    def __init__(self, decay: float) -> None:
        self.decay = decay
        self.averaged: torch.nn.Module | None = None
        self._saved: dict[str, Any] | None = None

    def on_run_start(self, context: TrainingContext) -> None:
        self.averaged = copy.deepcopy(context.generator).eval().requires_grad_(False)
        if self._saved is not None:  # resumed: the average so far, not the raw weights
            self.averaged.load_state_dict(self._saved)
            self._saved = None
        context.averaged_generator = self.averaged  # what grids and evaluations draw from

    @torch.no_grad()
    def on_generator_step(self, context: TrainingContext) -> None:
        beta = ema_beta(self.decay, context.step, context.config.batch_size)
        averaged = list(self.averaged.parameters())
        raw = [p.detach() for p in context.generator.parameters()]
        torch._foreach_lerp_(averaged, raw, 1.0 - beta)
        for mine, theirs in zip(self.averaged.buffers(), context.generator.buffers()):
            mine.copy_(theirs)

    def generator(self, context: TrainingContext) -> torch.nn.Module:
        """The averaged G (before the first step: the live one)."""
        return self.averaged if self.averaged is not None else context.generator

    def state_dict(self) -> dict[str, Any] | None:
        if self.averaged is None:
            return None
        return {EMA_KEY: {k: v.detach().clone() for k, v in self.averaged.state_dict().items()},
                "decay": self.decay}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._saved = state.get(EMA_KEY)
