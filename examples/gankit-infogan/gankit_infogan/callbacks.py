"""``gankit train infogan --callback infogan-q``: log how well Q reads the codes back.

On G steps 1, 11, 21, ... it scores that step's fakes with Q (D in eval mode, no gradient: training
is untouched) and logs ``q_accuracy`` (the share of fakes whose first categorical code Q names;
chance is 1/categories) and ``info_loss`` (Q's loss, lambda included). They reach
``metrics.jsonl`` (epoch means) and the progress bar like gankit's own numbers.
"""

from __future__ import annotations

import torch

from gankit import Callback

EVERY = 10  # G steps between two measurements: one extra D forward pass on a batch each time


class QMetrics(Callback):
    name = "infogan-q"

    def on_generator_step(self, context) -> None:
        discriminator = context.discriminator
        codes = getattr(discriminator, "categorical", None)
        if (context.step - 1) % EVERY or codes is None or not hasattr(discriminator, "info_loss"):
            return
        batch = context.batch
        training = discriminator.training
        discriminator.eval()
        try:
            with torch.no_grad():
                q = discriminator(batch.fake).auxiliary
                context.log("info_loss", discriminator.info_loss(q, batch.latent))
                if codes:
                    first = codes[0]
                    target = batch.latent[:, first.index:first.index + first.categories].argmax(1)
                    context.log("q_accuracy", (q.categorical[0].argmax(1) == target).float().mean())
        finally:
            discriminator.train(training)


def build(config) -> QMetrics:
    return QMetrics()
