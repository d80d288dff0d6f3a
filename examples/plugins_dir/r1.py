"""A one-off gankit plugin in a single file: the R1-regularised non-saturating loss.

R1 (Mescheder, Geiger & Nowozin, "Which Training Methods for GANs do actually Converge?", ICML 2018)
adds ``gamma / 2 * E ||grad_x D(x)||^2`` over *real* images to D's non-saturating loss: D is kept
flat on the data, which makes training converge locally where the plain loss may circle. ``gamma``
is the run's ``gp_weight`` (default 10).

No packaging needed: every ``*.py`` file in the folder passed to ``--plugins-dir`` is a plugin named
after the file::

    gankit --plugins-dir examples/plugins_dir train dcgan --loss r1 --epochs 1 --max-images 300

Like any plugin, it imports torch only inside ``build``, so ``gankit --help`` stays fast.
"""

from __future__ import annotations

from gankit import LossSpec, hookimpl

__version__ = "1.0"  # shown by `gankit plugins` and recorded in checkpoints
GANKIT_REQUIRES = ">=0.1"  # the gankit versions this file works with


def build(config):
    import torch
    import torch.nn.functional as F

    from gankit import LogitLoss

    class R1Loss(LogitLoss):
        def __init__(self, gamma: float) -> None:
            self.gamma = gamma

        def d_loss_from_logits(self, real_logits, fake_logits):
            return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()

        def g_loss_from_logits(self, fake_logits):
            return F.softplus(-fake_logits).mean()

        def discriminator_loss(self, discriminator, real, fake, labels=None):
            # One forward pass on the real batch serves both the loss and the penalty's gradient.
            real = real.detach().requires_grad_(True)
            result = super().discriminator_loss(discriminator, real, fake, labels)
            (gradients,) = torch.autograd.grad(result.real_logits.sum(), real, create_graph=True)
            penalty = gradients.flatten(1).pow(2).sum(1).mean()
            return result._replace(loss=result.loss + self.gamma / 2 * penalty)

    return R1Loss(gamma=config.gp_weight)


@hookimpl
def gankit_register_losses(register):
    # per_sample_penalty: the penalty is on each real image's own gradient, so variants swap
    # D's BatchNorm (which mixes a batch's samples) for a per-sample norm, as for WGAN-GP.
    register(LossSpec("r1", "non-saturating loss with R1 penalty on real data (Mescheder et al. 2018)",
                      build, per_sample_penalty=True))
