"""The callables the training step runs: G and D wrapped once per run for torch.compile, DDP and
augmentation, and the frozen-D view the G step scores its fakes with.

The context keeps the plain modules, so state dicts (checkpoints) hold plain weight names and
callbacks see the networks they know; only the step calls the wrappers.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch

from gankit.train.augment import AdaptiveProbability, augmented
from gankit.train.distributed import SINGLE, Distributed
from gankit.train.events import TrainingContext


class StepNetworks(NamedTuple):
    """What :class:`gankit.train.step.TrainStep` calls in each step.

    :ivar generator: G for the G step (compiled, in DDP with several processes).
    :ivar discriminator: D for the D step (compiled, DDP, augmented).
    :ivar fakes_generator: G for the D step's fakes: ``generator`` when the G step reuses them
        (``n_critic == 1``), else G's plain (compiled) module.
    :ivar frozen_discriminator: D for the G step: with several processes D's plain module, not DDP's.
    """

    generator: Any
    discriminator: Any
    fakes_generator: Any
    frozen_discriminator: Any


def wrap_networks(context: TrainingContext, *, compile: bool = False, distributed: Distributed = SINGLE,
                  adaptive: AdaptiveProbability | None = None) -> StepNetworks:
    """Wrap ``context``'s G and D for the step; ``adaptive``: ``--augment ada``'s p (its callback)."""
    generator, discriminator = context.generator, context.discriminator
    if compile:
        mode = "reduce-overhead" if context.device.type == "cuda" else None  # CUDA graphs
        generator = torch.compile(generator, mode=mode)
        discriminator = torch.compile(discriminator, mode=mode)
    # Several processes: G and D each in their own DDP wrapper, which averages their gradients.
    # The G step scores its fakes with D's plain module: D's weights need no gradient there, and
    # a DDP forward whose backward reaches none of its parameters would leave DDP's reducer
    # waiting ("Expected to have finished reduction in the prior iteration") at the next D step.
    # StyleGAN2-ADA likewise runs plain modules (and all-reduces gradients itself); StudioGAN
    # wraps D in DDP for both steps with find_unused_parameters for its extra heads. For the same
    # reason the D step's fakes come through DDP(G) only when the G step reuses them.
    plain_generator, plain_discriminator = generator, discriminator
    generator = distributed.wrap(generator, context.device)
    discriminator = distributed.wrap(discriminator, context.device)
    # --augment: D scores augmented real and fake images in both steps (gankit.train.augment).
    policy = getattr(context.config, "augment", "none")
    discriminator = augmented(discriminator, policy, adaptive)
    frozen = augmented(plain_discriminator, policy, adaptive) if distributed.active else discriminator
    fakes_generator = generator if context.config.n_critic == 1 else plain_generator
    return StepNetworks(generator, discriminator, fakes_generator, frozen)
