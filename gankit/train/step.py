"""The math of one batch: a D step, and every ``n_critic``-th batch a G step.

With ``n_critic == 1`` the G step reuses the D step's fakes (one z per iteration, as the tutorial
does); otherwise it draws fresh noise. D's weights need no gradient during the G step. The loss is
handed the real batch for G's step (relativistic losses use it) and auxiliary heads get the noise
the fakes came from (InfoGAN's Q). Nothing here reads a value back from the device: the logged
numbers stay tensors in a :class:`LossAccumulator` until the loop reads them a few times an epoch.
Forward passes run under the run's precision (autocast; weights and losses stay float32), and a D
without batch statistics scores the real and the fake batch in one forward pass. Features reach the
step through its events (``discriminator_step``, ``generator_step``): EMA, ADA's p, a plugin's
callbacks; the networks come wrapped (compile, DDP, augmentation) from gankit.train.wrapping.
"""

from __future__ import annotations

from typing import Any

import torch

from gankit.losses import discriminator_step_loss, generator_step_loss, may_mix_batches
from gankit.train.distributed import SINGLE, Distributed
from gankit.train.events import Batch, CallbackList, TrainingContext
from gankit.train.precision import Precision
from gankit.train.regularisers import consistency_penalty, r1_penalty
from gankit.train.wrapping import StepNetworks


class TrainStep:
    """Runs batches for one run: its networks (ready to call: :mod:`gankit.train.wrapping`), loss,
    optimizers (in ``context``), precision and the callbacks that listen to the step's events."""

    def __init__(self, *, context: TrainingContext, loss: Any, networks: StepNetworks,
                 callbacks: CallbackList, precision: Precision, batches_per_epoch: int,
                 distributed: Distributed = SINGLE) -> None:
        self.context, self.loss, self.networks, self.callbacks = context, loss, networks, callbacks
        self.precision, self.distributed = precision, distributed
        self.n_critic = context.config.n_critic
        self.mixed_batch = may_mix_batches(context.discriminator)
        self.critic = bool(getattr(loss, "critic", False))  # a third-party Loss may predate it
        self.r1 = getattr(context.config, "r1", 0.0)
        # Lazy R1 (Karras et al. 2020, StyleGAN2): the penalty, a double backward through D, on
        # every r1_every-th D step, weighted r1_every times: the same pull on D for less compute.
        self.r1_every = getattr(context.config, "r1_every", 1)
        # bCR (Zhao et al. 2021): a config may predate the fields (a plugin's own TrainConfig copy)
        self.bcr = getattr(context.config, "bcr", 0.0)
        self.bcr_flip = getattr(context.config, "bcr_flip", False)
        self.batches_per_epoch = batches_per_epoch  # to count D steps across epochs

    def __call__(self, real: torch.Tensor, labels: torch.Tensor | None, batch_number: int) -> None:
        """Train on one batch; ``batch_number`` counts from 1 within the epoch."""
        context, nets, precision = self.context, self.networks, self.precision
        size = real.shape[0]

        # D step: the real batch against fresh fakes, detached so that no gradient reaches G.
        z = self.noise(size)
        with precision.autocast():
            fake = nets.fakes_generator(z, labels)
            d_out = discriminator_step_loss(self.loss, nets.discriminator, real, fake.detach(), labels,
                                            latent=z, mixed_batch=self.mixed_batch)
            d_loss = d_out.loss
            d_steps = context.epoch * self.batches_per_epoch + batch_number  # this one included
            if self.r1 and d_steps % self.r1_every == 0:
                penalty = r1_penalty(nets.discriminator, real, labels)
                d_loss = d_loss + self.r1 * self.r1_every / 2 * penalty
                context.log("r1", penalty.detach())
            if self.bcr:  # bCR: D's outputs must not change when the images are shifted
                consistency = consistency_penalty(nets.discriminator, real, fake, labels, d_out.real_logits,
                                                  d_out.fake_logits, flip=self.bcr_flip)
                d_loss = d_loss + self.bcr * consistency
                context.log("bcr", consistency.detach())
        context.d_optimizer.zero_grad(set_to_none=True)
        precision.d_scaler.scale(d_loss).backward()  # fp32 and bf16: a disabled scaler, no branch
        precision.d_scaler.step(context.d_optimizer)
        precision.d_scaler.update()
        self.log_discriminator(d_out)
        self.emit("discriminator_step", Batch(real, fake, z, labels, d_out.real_logits))

        if batch_number % self.n_critic != 0:
            return
        # G step, every n_critic-th batch: D's weights need no gradient, but G's flows through D.
        context.discriminator.requires_grad_(False)
        try:
            with precision.autocast():
                if self.n_critic > 1:  # else it scores the D step's fakes again, not detached
                    z = self.noise(size)
                    fake = nets.generator(z, labels)
                g_loss = generator_step_loss(self.loss, nets.frozen_discriminator, fake, labels,
                                             real=real, latent=z)
            context.g_optimizer.zero_grad(set_to_none=True)
            precision.g_scaler.scale(g_loss).backward()
            precision.g_scaler.step(context.g_optimizer)
            precision.g_scaler.update()
        finally:
            context.discriminator.requires_grad_(True)
        context.log("g_loss", g_loss.detach())
        context.step += 1
        self.emit("generator_step", Batch(real, fake, z, labels))

    def log_discriminator(self, d_out: Any) -> None:
        """D's loss and its mean sigmoid on the real and the fake batch (on the device: no sync);
        for a critic loss also its mean raw outputs, which are what its numbers mean."""
        with torch.no_grad():
            real, fake = d_out.real_logits.detach().float(), d_out.fake_logits.detach().float()
            self.context.log("d_loss", d_out.loss.detach())
            self.context.log("d_real", torch.sigmoid(real).mean())
            self.context.log("d_fake", torch.sigmoid(fake).mean())
            if self.critic:
                self.context.log("critic_real", real.mean())
                self.context.log("critic_fake", fake.mean())

    def emit(self, event: str, batch: Batch) -> None:
        """``event`` with ``context.batch`` set (detached), only when a callback listens to it."""
        if not self.callbacks.listens(event):
            return
        self.context.batch = batch._replace(
            fake=batch.fake.detach().float(),
            real_logits=None if batch.real_logits is None else batch.real_logits.detach())
        try:
            self.callbacks.emit(event, self.context)
        finally:
            self.context.batch = None

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
        for name, value in sums.get("window", {}).items():  # the open window, cut by the stop
            accumulator.window[name] = torch.tensor(value, dtype=torch.float64, device=device)
            accumulator.window_counts[name] = int(sums["window_counts"][name])
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
        """What a mid-epoch checkpoint keeps, so the resumed epoch's means are the unbroken ones;
        in one process the open window too (float64 sums round-trip exactly), so the resumed run
        logs the very windows the unbroken one does. Several processes close it: a rank keeps only
        its own sums, and the resumed run's next window is then a short one."""
        if self.distributed.active:
            self.read_window()
            return {"totals": dict(self.totals), "counts": dict(self.counts)}
        sums = torch.stack(list(self.window.values())).tolist() if self.window else []
        window = dict(zip(self.window, sums))
        return {"totals": dict(self.totals), "counts": dict(self.counts),
                "window": window, "window_counts": dict(self.window_counts)}
