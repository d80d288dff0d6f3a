"""Building blocks for GANs: DCGAN's stacks and initialisation, one-hot labels, and the MLP
tutorial's pieces (its dropout and truncated-normal initialisation; ``count_parameters``).

The stacks are DCGAN's (Radford, Metz & Chintala, "Unsupervised Representation Learning with Deep
Convolutional Generative Adversarial Networks", ICLR 2016, arXiv:1511.06434): strided transposed
convolutions with a norm and ReLU in G, tanh out; strided convolutions with LeakyReLU in D, a norm
on every layer but the first, one logit out; no pooling and no fully connected hidden layers.

Both are sized by a plan ``(start_side, doublings)`` from :meth:`gankit.DataInfo.upsampling_plan`:
G grows a ``start_side`` map ``doublings`` times to the image side, and D shrinks it back. The
``features`` are the channels next to the image (G's last hidden layer, D's first), doubled per
layer towards z or the logit. ``extra_channels`` widen the input for conditioning (a one-hot label
joined to z, or one constant map per class joined to the image).

This module imports torch; a plugin imports it from its model file, never at its top level, so
that ``gankit --help`` stays torch-free. Each stack is an ``nn.Sequential``: keep it as
``self.net`` and the state-dict keys are ``net.0.weight``, ``net.1.weight``, ...
"""

from __future__ import annotations

import warnings
from functools import partial
from typing import TYPE_CHECKING, Callable

import torch
import torch.nn.functional as F
from torch import nn

from gankit.errors import GankitWarning
from gankit.nn import Dropout, count_parameters, truncated_normal_

if TYPE_CHECKING:
    from gankit.registry import LossSpec

Norm = Callable[[int], nn.Module]  # channels -> a norm layer over them

__all__ = ["Norm", "up_stack", "down_stack", "critic_norm", "critic_norm_for_loss", "dcgan_init_", "one_hot",
           "spectral_norm_", "Dropout", "truncated_normal_", "count_parameters"]


def up_stack(*, plan: tuple[int, int], latent_dim: int, image_channels: int, features: int,
             extra_channels: int = 0, norm: Norm = nn.BatchNorm2d) -> nn.Sequential:
    """G's stack: ``(N, latent_dim + extra_channels, 1, 1)`` -> ``(N, image_channels, S, S)`` in
    [-1, 1], with ``S = start_side * 2**doublings``.

    A transposed conv with a ``start_side`` kernel "projects and reshapes" z; each further one
    halves the channels and doubles the side; the last one gives the image channels, with tanh.
    """
    start, doublings = _checked(plan)
    widths = [features * 2 ** i for i in reversed(range(doublings))]
    layers: list[nn.Module] = [
        nn.ConvTranspose2d(latent_dim + extra_channels, widths[0], start, 1, 0, bias=False),
        norm(widths[0]), nn.ReLU(inplace=True),
    ]
    for wide, narrow in zip(widths, widths[1:]):
        layers += [nn.ConvTranspose2d(wide, narrow, 4, 2, 1, bias=False), norm(narrow),
                   nn.ReLU(inplace=True)]
    layers += [nn.ConvTranspose2d(widths[-1], image_channels, 4, 2, 1), nn.Tanh()]
    return nn.Sequential(*layers)


def down_stack(*, plan: tuple[int, int], image_channels: int, features: int,
               extra_channels: int = 0, leaky_slope: float = 0.2,
               norm: Norm = nn.BatchNorm2d) -> nn.Sequential:
    """D's stack: ``(N, image_channels + extra_channels, S, S)`` -> ``(N, 1, 1, 1)`` logits.

    Strided convs halve the side ``doublings`` times (no norm on the first); a last conv with a
    ``start_side`` kernel covers the whole remaining map.
    """
    start, doublings = _checked(plan)
    widths = [features * 2 ** i for i in range(doublings)]
    layers: list[nn.Module] = [nn.Conv2d(image_channels + extra_channels, widths[0], 4, 2, 1),
                               nn.LeakyReLU(leaky_slope, inplace=True)]
    for narrow, wide in zip(widths, widths[1:]):
        layers += [nn.Conv2d(narrow, wide, 4, 2, 1, bias=False), norm(wide),
                   nn.LeakyReLU(leaky_slope, inplace=True)]
    layers += [nn.Conv2d(widths[-1], 1, start, 1, 0)]
    return nn.Sequential(*layers)


def critic_norm(*, per_sample: bool) -> Norm:
    """D's norm: BatchNorm2d, or with ``per_sample=True`` GroupNorm with one group (a LayerNorm over
    (C, H, W)), so that a logit does not depend on the rest of the batch. Use the latter when the
    loss penalises D's gradient per sample (``LossSpec.per_sample_penalty``: WGAN-GP, R1);
    Gulrajani et al. 2017, sec. 4."""
    return partial(nn.GroupNorm, 1) if per_sample else nn.BatchNorm2d


def critic_norm_for_loss(loss: LossSpec | None, *, variant: str, n_critic: int, r1: float = 0.0,
                         r1_by_default: bool = False) -> Norm:
    """:func:`critic_norm` for the run's loss (the ``loss=`` a variant's ``build`` is handed) and
    R1 weight (``config.r1``: the core R1 penalty is per sample too), with one warning line naming
    ``variant`` when the norm is swapped. ``r1_by_default``: the variant's own defaults use R1, so
    its documented critic is the per-sample one: nothing is swapped, and a per-sample loss is told
    instead that R1 stacks on its penalty."""
    per_sample = loss is not None and loss.per_sample_penalty
    designed = bool(r1) and r1_by_default
    # A hint only, not behaviour: WGAN-GP's recipe takes 5 critic steps (R1's does not).
    steps = ("5 critic steps per G step: add --set n_critic=5"
             if per_sample and n_critic == 1 and loss.name == "wgan-gp" else "")
    if designed and per_sample:
        warnings.warn(f"{variant} with --loss {loss.name}: its default R1 penalty ({r1:g}) adds to the "
                      f"loss's own gradient penalty; add --r1 0 for the loss alone"
                      f"{'; WGAN-GP critics also take ' + steps if steps else ''}", GankitWarning,
                      stacklevel=3)
    elif r1 and not per_sample and not designed:
        warnings.warn(f"{variant} with --r1 {r1:g}: the critic uses LayerNorm instead of BatchNorm, "
                      "because the R1 penalty is per sample (Mescheder et al. 2018)",
                      GankitWarning, stacklevel=3)
    elif per_sample:
        warnings.warn(f"{variant} with --loss {loss.name}: the critic uses LayerNorm instead of BatchNorm, "
                      f"because the gradient penalty is per sample (Gulrajani et al. 2017)"
                      f"{'; they also take ' + steps if steps else ''}", GankitWarning, stacklevel=3)
    return critic_norm(per_sample=per_sample or bool(r1))


def spectral_norm_(module: nn.Module) -> nn.Module:
    """Spectral normalisation (Miyato et al. 2018) on every conv and linear weight of ``module``
    (D's), in place: each layer's largest singular value is held near 1 by one power iteration per
    forward pass, which bounds D's Lipschitz constant. Call it after the weights are initialised.
    Returns ``module``."""
    for layer in list(module.modules()):
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            nn.utils.parametrizations.spectral_norm(layer)
    return module


_WEIGHTS = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.Embedding)
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm)


def dcgan_init_(module: nn.Module, *, std: float = 0.02) -> nn.Module:
    """DCGAN's initialisation, in place: conv, linear and embedding weights N(0, std), norm scales
    N(1, std), their biases 0. Other layers keep theirs. Returns ``module``."""
    for layer in module.modules():
        if isinstance(layer, _WEIGHTS):
            nn.init.normal_(layer.weight, 0.0, std)
        elif isinstance(layer, _NORMS) and layer.weight is not None:
            nn.init.normal_(layer.weight, 1.0, std)
        else:
            continue
        if getattr(layer, "bias", None) is not None:
            nn.init.zeros_(layer.bias)
    return module


def one_hot(labels: torch.Tensor, num_classes: int, *, like: torch.Tensor) -> torch.Tensor:
    """``(N,)`` class indices -> ``(N, num_classes)`` one-hot rows in ``like``'s dtype (z's or the
    images'), on the labels' device."""
    return F.one_hot(labels.long(), num_classes).to(like.dtype)


def _checked(plan: tuple[int, int] | None) -> tuple[int, int]:
    if plan is None or len(plan) != 2 or min(plan) < 1:
        raise ValueError(f"expected a plan (start_side, doublings) with both at least 1, got {plan!r}; "
                         "DataInfo.upsampling_plan() returns None for sides it cannot reach")
    return plan[0], plan[1]
