"""Base classes for a variant's networks.

A :class:`Generator` maps noise ``z`` (and labels, if conditional) to images in [-1, 1] of shape
(N, C, H, W). A :class:`Discriminator` maps images (and labels) to **logits** of shape (N,), never
probabilities: every loss works from logits, which keeps it finite where a sigmoid would saturate.

A discriminator with auxiliary heads (AC-GAN's classifier, for one) returns a
:class:`DiscriminatorOutput` instead: the losses still see only its adversarial logits, and the
discriminator's own ``discriminator_auxiliary_loss`` / ``generator_auxiliary_loss`` turn the other
heads' outputs into extra terms that the engine adds to D's and G's loss. Any registered loss thus
works with any variant, auxiliary heads or not. Those methods may also take a keyword ``latent``:
the engine then hands them the noise the fakes were made from, which is what InfoGAN's Q loss needs.

A generator whose noise carries meaningful codes (InfoGAN's categorical and continuous codes)
declares them as :class:`LatentCode` objects; ``gankit sample RUN --code NAME=VALUES`` then sets
them, exactly as ``--labels`` sets a conditional variant's class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, NamedTuple, Sequence

import torch
from torch import nn


@dataclass(frozen=True)
class LatentCode:
    """A named part of a generator's noise that a user may set at sample time.

    :param name: what ``--code NAME=...`` calls it.
    :param index: where it starts in z (a column of the (N, latent_dim) noise).
    :param categories: for a categorical code, how many values; it occupies that many columns as a
        one-hot vector. ``None`` for a continuous code, which occupies one column.
    :param summary: one line saying what it controls (for the variant's docs).
    """

    name: str
    index: int
    categories: int | None = None
    summary: str = ""

    @property
    def width(self) -> int:
        return self.categories or 1


class Generator(nn.Module):
    """Noise (and optional labels) -> images in [-1, 1].

    Subclasses call ``super().__init__(latent_dim=..., image_shape=..., num_classes=...)`` and
    implement ``forward(z, labels=None)``. The engine draws z with :meth:`sample_latent` for every
    training step, every sample grid and every evaluation, so a variant with another prior (or
    with latent codes) overrides that one method. ``latent_dim`` must equal ``config.latent_dim``
    and be the width of what ``sample_latent`` returns.
    """

    #: The codes in z that ``gankit sample --code`` may set (see :class:`LatentCode`).
    latent_codes: Sequence[LatentCode] = ()

    def __init__(self, *, latent_dim: int, image_shape: tuple[int, int, int],
                 num_classes: int | None = None) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.image_shape = tuple(image_shape)
        self.num_classes = num_classes

    @property
    def conditional(self) -> bool:
        return self.num_classes is not None

    def sample_latent(self, n: int, *, device: torch.device | str | None = None,
                      generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` noise vectors z ~ N(0, I); override for another prior."""
        return torch.randn(n, self.latent_dim, device=device, generator=generator)

    def set_latent_codes(self, z: torch.Tensor, values: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """A copy of ``z`` with the named codes set: a categorical code from class indices (N,), a
        continuous one from values (N,). Names not in :attr:`latent_codes` raise ``KeyError``."""
        codes = {code.name: code for code in self.latent_codes}
        z = z.clone()
        for name, value in values.items():
            code = codes[name]
            value = value.to(z.device)
            if code.categories:
                z[:, code.index:code.index + code.categories] = \
                    torch.nn.functional.one_hot(value.long(), code.categories).to(z.dtype)
            else:
                z[:, code.index] = value.to(z.dtype)
        return z

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError


class DiscriminatorOutput(NamedTuple):
    """What a discriminator with auxiliary heads returns instead of bare logits.

    :param logits: the adversarial logits, shape (N,): all that a loss ever sees.
    :param auxiliary: whatever the other heads produce (e.g. class logits (N, num_classes)); the
        engine hands it, untouched, to the discriminator's auxiliary-loss methods.
    """

    logits: torch.Tensor
    auxiliary: Any = None


class Discriminator(nn.Module):
    """Images (and optional labels) -> logits of shape (N,), or a :class:`DiscriminatorOutput`.

    The engine scores a real and a fake batch in one forward pass when D keeps no batch
    statistics; it looks for BatchNorm to tell. A D whose output for one image depends on the others
    in its batch in another way sets ``batch_statistics = True``.
    """

    #: Whether an image's logit depends on the rest of its batch; ``None``: any BatchNorm says yes.
    batch_statistics: bool | None = None

    def __init__(self, *, image_shape: tuple[int, int, int], num_classes: int | None = None) -> None:
        super().__init__()
        self.image_shape = tuple(image_shape)
        self.num_classes = num_classes

    def forward(self, x: torch.Tensor,
                labels: torch.Tensor | None = None) -> "torch.Tensor | DiscriminatorOutput":
        raise NotImplementedError

    def discriminator_auxiliary_loss(self, real: DiscriminatorOutput, fake: DiscriminatorOutput,
                                     labels: torch.Tensor | None, *,
                                     latent: torch.Tensor | None = None) -> torch.Tensor | None:
        """An extra term for D's loss, from this discriminator's outputs on the real batch and on
        the (detached) fakes; ``None`` (the default) adds nothing. Override it with auxiliary heads.
        ``latent`` is the noise the fakes were made from (an override may leave the keyword out)."""
        return None

    def generator_auxiliary_loss(self, fake: DiscriminatorOutput, labels: torch.Tensor | None, *,
                                 latent: torch.Tensor | None = None) -> torch.Tensor | None:
        """An extra term for G's loss, from this discriminator's output on the fakes; ``None`` (the
        default) adds nothing. ``latent`` is the noise the fakes were made from."""
        return None


class Networks(NamedTuple):
    """What a variant's ``build(config, data_info)`` returns."""

    generator: Generator
    discriminator: Discriminator


def truncated_normal_(module: nn.Module, std: float = 0.02) -> None:
    """Weights ~ N(0, std) truncated at two std, biases 0 (the tutorial's initialisation)."""
    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d, nn.Embedding)):
            nn.init.trunc_normal_(layer.weight, std=std, a=-2 * std, b=2 * std)
            if getattr(layer, "bias", None) is not None:
                nn.init.zeros_(layer.bias)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


class Dropout(nn.Dropout):
    """``nn.Dropout`` with a cheaper mask on the CPU: one uniform draw per element, kept where it
    falls below the keep probability (as TF1's ``tf.nn.dropout``, the tutorial's, does). torch's
    CPU kernel draws its mask with ``bernoulli_``, about twice the cost (docs/benchmarks.md, issue
    10); elsewhere, and in eval mode, it is ``nn.Dropout`` itself. Same parameters (none), same
    state dict, same expectation; the drawn masks differ from ``nn.Dropout``'s."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or x.device.type != "cpu" or self.inplace or not 0 < self.p < 1:
            return super().forward(x)
        keep = 1.0 - self.p
        mask = torch.rand(x.shape, dtype=torch.float32, device=x.device).lt_(keep).mul_(1.0 / keep)
        return x * mask.to(x.dtype)
