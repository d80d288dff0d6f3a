"""Built-in GAN losses, all computed from logits.

A :class:`Loss` gets the discriminator itself, not only its outputs, so losses that need more than
one forward pass (gradient penalties) fit the same interface. Most losses are a pair of formulas on
the logits; they subclass :class:`LogitLoss` and implement two methods. Every formula here stays
finite for logits as large as 1e4 in magnitude (``softplus`` instead of ``log(sigmoid(.))``).

The engine calls a loss through :func:`discriminator_step_loss` and :func:`generator_step_loss`,
which add the discriminator's auxiliary terms (see :class:`gankit.nn.DiscriminatorOutput`) to the
loss's own, so a loss never needs to know about auxiliary heads.

``generator_loss`` may take a keyword ``real``: the engine then hands it the step's real batch,
which relativistic losses compare the fakes against. A loss written without it keeps working. A
loss should keep no state between calls: the engine promises the arguments, not the call order.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, NamedTuple

import torch
import torch.nn.functional as F

from gankit.nn import Discriminator, DiscriminatorOutput

DiscriminatorFn = Callable[..., torch.Tensor]


class DiscriminatorLoss(NamedTuple):
    """The D step's loss, and the logits it saw (the engine logs their mean sigmoid)."""

    loss: torch.Tensor
    real_logits: torch.Tensor
    fake_logits: torch.Tensor


class Loss:
    """A GAN objective: one method for D's step and one for G's.

    ``critic`` says what D's outputs are: ``False`` (the default) for a classifier's logits, whose
    sigmoid is D's probability that an image is real (logged as ``d_real``/``d_fake``, shown as
    D(x), D(G(z))); ``True`` for a critic's scores (Wasserstein, hinge, least squares,
    relativistic), whose sigmoid is no probability: the engine then also logs the raw means as
    ``critic_real``/``critic_fake`` and shows those, as C(x), C(G(z)).
    """

    critic = False

    @classmethod
    def from_config(cls, config: Any) -> "Loss":
        return cls()

    def discriminator_loss(self, discriminator: DiscriminatorFn, real: torch.Tensor,
                           fake: torch.Tensor, labels: torch.Tensor | None = None) -> DiscriminatorLoss:
        raise NotImplementedError

    def generator_loss(self, discriminator: DiscriminatorFn, fake: torch.Tensor,
                       labels: torch.Tensor | None = None, *,
                       real: torch.Tensor | None = None) -> torch.Tensor:
        """G's loss on ``fake``; ``real`` is the step's real batch (relativistic losses use it)."""
        raise NotImplementedError


class LogitLoss(Loss):
    """A loss that is a function of D's logits on the real and the fake batch."""

    def d_loss_from_logits(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def g_loss_from_logits(self, fake_logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def discriminator_loss(self, discriminator, real, fake, labels=None):
        real_logits = discriminator(real, labels)
        fake_logits = discriminator(fake, labels)
        return DiscriminatorLoss(self.d_loss_from_logits(real_logits, fake_logits),
                                 real_logits, fake_logits)

    def generator_loss(self, discriminator, fake, labels=None, *, real=None):
        return self.g_loss_from_logits(discriminator(fake, labels))


class NonSaturatingLoss(LogitLoss):
    """BCE for D; G maximises log D(G(z)). ``-log sigmoid(x) == softplus(-x)``, finite everywhere."""

    def d_loss_from_logits(self, real_logits, fake_logits):
        return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()

    def g_loss_from_logits(self, fake_logits):
        return F.softplus(-fake_logits).mean()


class MinimaxLoss(NonSaturatingLoss):
    """The paper's saturating form: G minimises ``log(1 - D(G(z))) == -softplus(x)``."""

    def g_loss_from_logits(self, fake_logits):
        return -F.softplus(fake_logits).mean()


class LeastSquaresLoss(LogitLoss):
    """LSGAN with targets a=0 (fake), b=1 (real), c=1 (what G wants D to say)."""

    critic = True

    def d_loss_from_logits(self, real_logits, fake_logits):
        return 0.5 * ((real_logits - 1).pow(2).mean() + fake_logits.pow(2).mean())

    def g_loss_from_logits(self, fake_logits):
        return 0.5 * (fake_logits - 1).pow(2).mean()


class HingeLoss(LogitLoss):
    critic = True

    def d_loss_from_logits(self, real_logits, fake_logits):
        return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()

    def g_loss_from_logits(self, fake_logits):
        return -fake_logits.mean()


class WassersteinGPLoss(LogitLoss):
    """Critic maximises E[D(x)] - E[D(G(z))], plus ``gp_weight * (||grad D(x_hat)|| - 1)^2`` on
    random interpolates of real and fake images."""

    critic = True

    def __init__(self, gp_weight: float = 10.0) -> None:
        self.gp_weight = gp_weight

    @classmethod
    def from_config(cls, config: Any) -> "WassersteinGPLoss":
        return cls(gp_weight=getattr(config, "gp_weight", 10.0))

    def d_loss_from_logits(self, real_logits, fake_logits):
        return fake_logits.mean() - real_logits.mean()

    def g_loss_from_logits(self, fake_logits):
        return -fake_logits.mean()

    def discriminator_loss(self, discriminator, real, fake, labels=None):
        result = super().discriminator_loss(discriminator, real, fake, labels)
        if self.gp_weight == 0:
            return result
        penalty = gradient_penalty(discriminator, real, fake, labels)
        return result._replace(loss=result.loss + self.gp_weight * penalty)


class RelativisticAverageLoss(Loss):
    """RaGAN (Jolicoeur-Martineau 2019): D judges whether a real image is more realistic than the
    average fake, and the reverse; G gets the mirrored objective, so it needs the real batch too."""

    critic = True

    def discriminator_loss(self, discriminator, real, fake, labels=None):
        real_logits, fake_logits = discriminator(real, labels), discriminator(fake, labels)
        loss = (F.softplus(-(real_logits - fake_logits.mean())).mean()
                + F.softplus(fake_logits - real_logits.mean()).mean())
        return DiscriminatorLoss(loss, real_logits, fake_logits)

    def generator_loss(self, discriminator, fake, labels=None, *, real=None):
        if real is None:
            raise ValueError("the relativistic loss needs the real batch: call generator_loss(..., real=...)")
        real_logits, fake_logits = discriminator(real, labels), discriminator(fake, labels)
        return (F.softplus(real_logits - fake_logits.mean()).mean()
                + F.softplus(-(fake_logits - real_logits.mean())).mean())


def gradient_penalty(discriminator: DiscriminatorFn, real: torch.Tensor, fake: torch.Tensor,
                     labels: torch.Tensor | None = None) -> torch.Tensor:
    """Mean of ``(||grad_x D(x)|| - 1)^2`` over random interpolates of ``real`` and ``fake``."""
    alpha = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)
    interpolates = (alpha * real + (1 - alpha) * fake.detach()).requires_grad_(True)
    logits = discriminator(interpolates, labels)
    (gradients,) = torch.autograd.grad(logits.sum(), interpolates, create_graph=True)
    norms = gradients.flatten(1).norm(2, dim=1)
    return (norms - 1).pow(2).mean()


class AdversarialView:
    """A discriminator as a loss sees it during one step: it returns only the adversarial logits,
    and keeps each full output by input so the auxiliary terms reuse the same forward pass."""

    def __init__(self, discriminator: DiscriminatorFn) -> None:
        self.discriminator = discriminator
        self._outputs: list[tuple[torch.Tensor, DiscriminatorOutput]] = []

    def __call__(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        output = self.discriminator(x, labels)
        if isinstance(output, DiscriminatorOutput):
            self._outputs.append((x, output))
            output = output.logits
        return output.float()  # losses in float32, also when D ran under bf16/fp16 autocast

    def output_for(self, x: torch.Tensor, labels: torch.Tensor | None) -> DiscriminatorOutput:
        """The full output on ``x``: the one the loss already computed, else a fresh forward pass
        (a loss that scored a transformed copy of ``x``, e.g. augmented, did not see ``x`` itself)."""
        for seen, output in self._outputs:
            if seen is x:
                return output
        output = self.discriminator(x, labels)
        return output if isinstance(output, DiscriminatorOutput) else DiscriminatorOutput(output)


def _module(discriminator: Any) -> Any:
    # DistributedDataParallel keeps the model in ``.module``, torch.compile in ``._orig_mod``,
    # gankit.train.augment's wrapper in ``.unwrapped``.
    while not isinstance(discriminator, Discriminator):
        inner = getattr(discriminator, "_orig_mod", None) or getattr(discriminator, "unwrapped", None)
        if inner is None and isinstance(discriminator, torch.nn.parallel.DistributedDataParallel):
            inner = discriminator.module
        if inner is None:
            return discriminator
        discriminator = inner
    return discriminator


def _overrides(discriminator: Any, method: str) -> bool:
    return isinstance(discriminator, Discriminator) and \
        getattr(type(discriminator), method) is not getattr(Discriminator, method)


@functools.lru_cache(maxsize=None)
def _takes(function: Callable[..., Any], keyword: str) -> bool:
    """Whether ``function`` accepts ``keyword=`` (by name or through ``**kwargs``). Methods written
    against gankit 0.1 lack the newer keywords; they are simply not passed."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == keyword and p.kind is not p.POSITIONAL_ONLY or p.kind is p.VAR_KEYWORD
               for p in parameters)


def _call(method: Callable[..., Any], *args: Any, **optional: Any) -> Any:
    function = getattr(method, "__func__", method)
    return method(*args, **{key: value for key, value in optional.items() if _takes(function, key)})


def may_mix_batches(discriminator: Any) -> bool:
    """Whether D can score real and fake images in one forward pass: it keeps no batch statistics
    (a :class:`gankit.Discriminator` may say so with ``batch_statistics``; else any BatchNorm means
    it does) and has no auxiliary heads."""
    module = _module(discriminator)
    declared = getattr(module, "batch_statistics", None)
    if declared is None:
        declared = any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in module.modules())
    return not declared and not _overrides(module, "discriminator_auxiliary_loss")


def discriminator_step_loss(loss: Loss, discriminator: DiscriminatorFn, real: torch.Tensor,
                            fake: torch.Tensor, labels: torch.Tensor | None = None, *,
                            latent: torch.Tensor | None = None,
                            mixed_batch: bool = False) -> DiscriminatorLoss:
    """D's loss for one step: ``loss``'s, plus the discriminator's auxiliary term if it has one.

    :param latent: the noise ``fake`` was made from, handed to an auxiliary loss that takes it.
    :param mixed_batch: score ``cat(real, fake)`` in one forward pass when the loss is a plain
        :class:`LogitLoss` (the caller checks :func:`may_mix_batches`); one larger matrix product
        instead of two is faster, and the loss is the same.
    """
    if mixed_batch and isinstance(loss, LogitLoss) and \
            type(loss).discriminator_loss is LogitLoss.discriminator_loss:
        both_labels = None if labels is None else torch.cat([labels, labels])
        logits = AdversarialView(discriminator)(torch.cat([real, fake]), both_labels)
        real_logits, fake_logits = logits.split([real.shape[0], fake.shape[0]])
        return DiscriminatorLoss(loss.d_loss_from_logits(real_logits, fake_logits), real_logits, fake_logits)
    view = AdversarialView(discriminator)
    result = loss.discriminator_loss(view, real, fake, labels)
    module = _module(discriminator)
    if _overrides(module, "discriminator_auxiliary_loss"):
        extra = _call(module.discriminator_auxiliary_loss, view.output_for(real, labels),
                      view.output_for(fake, labels), labels, latent=latent)
        if extra is not None:
            result = result._replace(loss=result.loss + extra)
    return result


def generator_step_loss(loss: Loss, discriminator: DiscriminatorFn, fake: torch.Tensor,
                        labels: torch.Tensor | None = None, *, real: torch.Tensor | None = None,
                        latent: torch.Tensor | None = None) -> torch.Tensor:
    """G's loss for one step: ``loss``'s, plus the discriminator's auxiliary term if it has one.

    :param real: the step's real batch, handed to a loss whose ``generator_loss`` takes ``real``.
    :param latent: the noise ``fake`` was made from, handed to an auxiliary loss that takes it.
    """
    view = AdversarialView(discriminator)
    result = _call(loss.generator_loss, view, fake, labels, real=real)
    module = _module(discriminator)
    if _overrides(module, "generator_auxiliary_loss"):
        extra = _call(module.generator_auxiliary_loss, view.output_for(fake, labels), labels,
                      latent=latent)
        if extra is not None:
            result = result + extra
    return result
