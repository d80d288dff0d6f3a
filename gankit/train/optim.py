"""Optimizers and learning-rate schedules: the config's choice, or the variant's own.

By default both networks get ``config.optimizer`` (Adam, as the tutorial) with their own learning
rate (``g_lr`` / ``d_lr``, each falling back to ``lr``: TTUR, Heusel et al. 2017, is
``--set g_lr=1e-4 --set d_lr=4e-4``), and ``lr_schedule`` decays both to 0 over the run, stepped
once per epoch. A variant whose recipe needs more sets ``VariantSpec.optimizers``.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch

from gankit.errors import ConfigError


class Optimizers(NamedTuple):
    """What ``VariantSpec.optimizers(config, networks)`` returns. A scheduler, if given, is stepped
    once at the end of every epoch, and saved in checkpoints."""

    generator: torch.optim.Optimizer
    discriminator: torch.optim.Optimizer
    generator_scheduler: Any = None
    discriminator_scheduler: Any = None


def build_optimizers(variant: Any, config: Any, networks: Any) -> Optimizers:
    if variant.optimizers is not None:
        built = variant.optimizers(config, networks)
        if not isinstance(built, Optimizers):
            raise ConfigError(f"Variant '{variant.name}': its optimizers(config, networks) returned "
                              f"{type(built).__name__}; return "
                              "gankit.Optimizers(g_optimizer, d_optimizer, ...).")
        return built
    generator = _optimizer(config, networks.generator.parameters(), config.generator_lr)
    discriminator = _optimizer(config, networks.discriminator.parameters(), config.discriminator_lr)
    return Optimizers(generator, discriminator, _schedule(config, generator),
                      _schedule(config, discriminator))


def _optimizer(config: Any, parameters: Any, lr: float) -> torch.optim.Optimizer:
    betas = (config.beta1, config.beta2)
    decay = config.weight_decay
    if config.optimizer == "adam":  # fused: one kernel for all parameters (measured in docs/benchmarks.md)
        return torch.optim.Adam(parameters, lr=lr, betas=betas, weight_decay=decay, fused=True)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(parameters, lr=lr, betas=betas, weight_decay=decay, fused=True)
    if config.optimizer == "rmsprop":  # WGAN's original choice
        return torch.optim.RMSprop(parameters, lr=lr, weight_decay=decay)
    if config.optimizer == "sgd":  # beta1 serves as the momentum
        return torch.optim.SGD(parameters, lr=lr, momentum=config.beta1, weight_decay=decay)
    raise ConfigError(f"Unknown optimizer '{config.optimizer}'. Use adam, adamw, rmsprop or sgd.")


def _schedule(config: Any, optimizer: torch.optim.Optimizer) -> Any:
    epochs = config.epochs
    if config.lr_schedule == "constant":
        return None
    if config.lr_schedule == "linear":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: max(0.0, 1 - epoch / epochs))
    if config.lr_schedule == "cosine":
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda epoch: 0.5 * (1 + math.cos(math.pi * min(epoch, epochs) / epochs)))
    raise ConfigError(f"Unknown lr_schedule '{config.lr_schedule}'. Use constant, linear or cosine.")
