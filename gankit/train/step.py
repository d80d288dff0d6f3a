"""The math of one batch: a D step, and every ``n_critic``-th batch a G step.

With ``n_critic == 1`` the G step reuses the D step's fakes (one z per iteration, as the tutorial
does); otherwise it draws fresh noise. D's weights need no gradient during the G step. The loss is
handed the real batch for G's step (relativistic losses use it) and auxiliary heads get the noise
the fakes came from (InfoGAN's Q). Nothing here reads a value back from the device: the logged
numbers stay tensors in a :class:`LossAccumulator` until the loop reads them a few times an epoch.
Forward passes run under the run's precision (autocast; weights and losses stay float32), and a D
without batch statistics scores the real and the fake batch in one forward pass.
"""

from __future__ import annotations

from typing import Any

import torch

from gankit.losses import discriminator_step_loss, generator_step_loss, may_mix_batches
from gankit.train.augment import AdaptiveProbability, augmented
from gankit.train.distributed import SINGLE, Distributed
from gankit.train.events import Batch, CallbackList, TrainingContext
from gankit.train.precision import Precision
from gankit.train.regularisers import r1_penalty


class TrainStep:
    """Runs batches for one run's networks, loss and optimizers."""

    def __init__(self, context: TrainingContext, loss: Any, callbacks: CallbackList,
                 precision: Precision, compile: bool = False, distributed: Distributed = SINGLE, *,
                 batches_per_epoch: int) -> None:
        self.context, self.loss, self.callbacks, self.precision = context, loss, callbacks, precision
        self.distributed = distributed
        self.n_critic = context.config.n_critic
        self.mixed_batch = may_mix_batches(context.discriminator)
        # Compiled wrappers run the forward passes; the context keeps the plain modules, so state
        # dicts (checkpoints) hold plain weight names and callbacks see the networks they know.
        self.generator, self.discriminator = context.generator, context.discriminator
        if compile:
            mode = "reduce-overhead" if context.device.type == "cuda" else None  # CUDA graphs
            self.generator = torch.compile(context.generator, mode=mode)
            self.discriminator = torch.compile(context.discriminator, mode=mode)
        # Several processes: G and D each in their own DDP wrapper, which averages their gradients.
        # The G step scores its fakes with D's plain module: D's weights need no gradient there, and
        # a DDP forward whose backward reaches none of its parameters would leave DDP's reducer
        # waiting ("Expected to have finished reduction in the prior iteration") at the next D
        # step. StyleGAN2-ADA likewise runs plain modules (and all-reduces gradients itself);
        # StudioGAN wraps D in DDP for both steps with find_unused_parameters for its extra heads.
        # For the same reason the D step's fakes come through DDP(G) only when the G step reuses
        # them (n_critic == 1); otherwise from G's plain module.
        policy = getattr(context.config, "augment", "none")
        plain_generator, plain_discriminator = self.generator, self.discriminator
        self.generator = distributed.wrap(self.generator, context.device)
        self.discriminator = distributed.wrap(self.discriminator, context.device)
        # --augment: D scores augmented real and fake images in both steps (gankit.train.augment);
        # with ada, at a probability the run's "ada" callback tunes from D's real logits.
        self.adaptive = next((c for c in callbacks.callbacks if isinstance(c, AdaptiveProbability)), None)
        self.discriminator = augmented(self.discriminator, policy, self.adaptive)
        self.frozen_discriminator = augmented(plain_discriminator, policy, self.adaptive) \
            if distributed.active else self.discriminator
        self.fakes_generator = self.generator if self.n_critic == 1 else plain_generator
        self.r1 = getattr(context.config, "r1", 0.0)
        # Lazy R1 (Karras et al. 2020, StyleGAN2): the penalty, a double backward through D, on
        # every r1_every-th D step, weighted r1_every times: the same pull on D for less compute.
        self.r1_every = getattr(context.config, "r1_every", 1)
        self.batches_per_epoch = batches_per_epoch  # to count D steps across epochs

    def __call__(self, real: torch.Tensor, labels: torch.Tensor | None, batch_number: int) -> None:
        """Train on one batch; ``batch_number`` counts from 1 within the epoch."""
        context = self.context
        generator, discriminator = self.generator, self.discriminator
        size = real.shape[0]

        # D step: real batch vs. fresh fakes (detached: no gradient flows into G here).
        z = self.noise(size)
        with self.precision.autocast():
            fake = self.fakes_generator(z, labels)
            d_out = discriminator_step_loss(self.loss, discriminator, real, fake.detach(), labels,
                                            latent=z, mixed_batch=self.mixed_batch)
            d_loss = d_out.loss
            d_steps = context.epoch * self.batches_per_epoch + batch_number  # this one included
            if self.r1 and d_steps % self.r1_every == 0:
                penalty = r1_penalty(discriminator, real, labels)
                d_loss = d_loss + self.r1 * self.r1_every / 2 * penalty
                context.log("r1", penalty.detach())
        context.d_optimizer.zero_grad(set_to_none=True)
        self.precision.step("d", d_loss, context.d_optimizer)
        if self.adaptive is not None:
            self.adaptive.observe(d_out.real_logits)
        with torch.no_grad():
            context.log("d_loss", d_out.loss.detach())
            context.log("d_real", torch.sigmoid(d_out.real_logits.detach().float()).mean())
            context.log("d_fake", torch.sigmoid(d_out.fake_logits.detach().float()).mean())
        if self.callbacks.listens("discriminator_step"):
            context.batch = Batch(real, fake.detach().float(), z, labels)
            self.callbacks.emit("discriminator_step", context)

        if batch_number % self.n_critic != 0:
            return
        discriminator.requires_grad_(False)
        try:
            with self.precision.autocast():
                if self.n_critic > 1:
                    z = self.noise(size)
                    fake = generator(z, labels)
                g_loss = generator_step_loss(self.loss, self.frozen_discriminator, fake, labels,
                                             real=real, latent=z)
            context.g_optimizer.zero_grad(set_to_none=True)
            self.precision.step("g", g_loss, context.g_optimizer)
        finally:
            discriminator.requires_grad_(True)
        context.log("g_loss", g_loss.detach())
        context.step += 1
        if self.callbacks.listens("generator_step"):
            context.batch = Batch(real, fake.detach().float(), z, labels)
            self.callbacks.emit("generator_step", context)
        context.batch = None

    def noise(self, size: int) -> torch.Tensor:
        """The step's noise: with several processes, drawn for the global batch on every rank (the
        same numbers everywhere) and sliced, so N processes see the noise one process would."""
        generator, device = self.context.generator, self.context.device
        if not self.distributed.active:
            return generator.sample_latent(size, device=device)
        return self.distributed.slice(generator.sample_latent(size * self.distributed.world, device=device))


class LossAccumulator:
    """Sums of logged values, kept on the device until read: a window (since the last read, for
    the progress bar) and the epoch's total (for ``metrics.jsonl``). With several processes,
    ``distributed`` averages each window's sums over the ranks as it is read."""

    def __init__(self, device: torch.device, distributed: Distributed = SINGLE) -> None:
        self.device, self.distributed = device, distributed
        self.window: dict[str, torch.Tensor] = {}
        self.window_counts: dict[str, int] = {}
        self.totals: dict[str, float] = {}
        self.counts: dict[str, int] = {}

    @classmethod
    def resume(cls, device: torch.device, sums: dict[str, Any],
               distributed: Distributed = SINGLE) -> "LossAccumulator":
        """Continue an epoch interrupted half-way (``sums`` from :meth:`carry`)."""
        accumulator = cls(device, distributed)
        accumulator.totals = dict(sums.get("totals", {}))
        accumulator.counts = {key: int(value) for key, value in sums.get("counts", {}).items()}
        return accumulator

    def add(self, name: str, value: Any) -> None:
        if name not in self.window:
            self.window[name] = torch.zeros((), dtype=torch.float64, device=self.device)
            self.window_counts[name] = 0
        value = value.detach() if isinstance(value, torch.Tensor) else value
        self.window[name] += value
        self.window_counts[name] += 1

    def read_window(self) -> dict[str, float]:
        """The window's means, moved into the totals; the only host sync."""
        if self.distributed.active:  # every rank's sums and counts added up (a rank-0 callback may log)
            names, values, counts = self.distributed.sum_logged(self.window, self.window_counts, self.device)
        elif not self.window:
            return {}
        else:
            names, counts = list(self.window), self.window_counts
            values = torch.stack([self.window[name] for name in names]).tolist()
        means = {}
        for name, value in zip(names, values):
            count = counts[name]
            self.totals[name] = self.totals.get(name, 0.0) + value
            self.counts[name] = self.counts.get(name, 0) + count
            if count:
                means[name] = value / count
        self.window.clear()
        self.window_counts.clear()
        return means

    def means(self) -> dict[str, float]:
        self.read_window()
        return {name: total / self.counts[name] for name, total in self.totals.items() if self.counts[name]}

    def carry(self) -> dict[str, Any]:
        """What a mid-epoch checkpoint keeps, so the resumed epoch's means are the unbroken ones."""
        self.read_window()
        return {"totals": dict(self.totals), "counts": dict(self.counts)}
