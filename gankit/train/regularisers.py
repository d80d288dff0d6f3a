"""``--r1 GAMMA``: the R1 penalty (Mescheder, Geiger & Nowozin, ICML 2018), with every loss.

R1 adds ``GAMMA / 2 * E ||grad_x D(x)||^2`` over *real* images to D's loss: D is kept flat on the
data, which makes training converge locally where the plain objective may circle. It is a
regulariser of D's step, not a loss of its own, so it combines with ``--loss`` of any kind (the
``r1`` loss of ``examples/plugins_dir/r1.py`` is the same penalty tied to the non-saturating loss).

The norm is per image, so a D with batch statistics breaks it: dcgan and cgan swap D's BatchNorm
for a per-sample norm when ``r1 > 0`` (:func:`gankit.blocks.critic_norm_for_loss`), as for WGAN-GP.
With ``--augment`` the gradient is taken through the augmentation, at the un-augmented image.

``--set r1_every=N`` is lazy R1 (Karras et al. 2020, StyleGAN2, which uses 16): the penalty is
taken on every N-th D step only, counted across epochs, weighted N times, so D feels the same
average pull for about 1/N of the penalty's cost (an extra forward and a double backward through D).

``--set bcr=LAMBDA`` is balanced consistency regularisation (bCR; Zhao, Zhang, Chen, Singh & Zhang,
"Improved Consistency Regularization for GANs", AAAI 2021, arXiv:2002.04724): D's output on an image
and on the same image changed (shifted by up to 1/8 of its side, and flipped left-right with
``bcr_flip``: the paper's flip-and-translate) must agree, on the real batch and on the fakes alike:
``LAMBDA * (E (D(x) - D(T(x)))^2 + E (D(G(z)) - D(T(G(z))))^2)`` is added to D's loss (the paper's
lambda_real = lambda_fake = 10). Only D's step feels it; G's loss is untouched, as in the paper.
"""

from __future__ import annotations

from typing import Any

import torch

from gankit.nn import DiscriminatorOutput


def r1_penalty(discriminator: Any, real: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    """``E ||grad_x D(x)||^2`` over the batch ``real`` (a graph that backpropagates into D)."""
    real = real.detach().requires_grad_(True)
    logits = discriminator(real, labels)
    if isinstance(logits, DiscriminatorOutput):
        logits = logits.logits
    (gradients,) = torch.autograd.grad(logits.float().sum(), real, create_graph=True)
    return gradients.flatten(1).pow(2).sum(1).mean()


def consistency_penalty(discriminator: Any, real: torch.Tensor, fake: torch.Tensor,
                        labels: torch.Tensor | None, real_logits: torch.Tensor,
                        fake_logits: torch.Tensor, flip: bool = False) -> torch.Tensor:
    """bCR's ``E (D(x) - D(T(x)))^2`` over the real batch plus the same over the (detached) fakes,
    against the logits D gave them in this step; a fresh change T per image."""
    from gankit.train.augment import translation

    def changed(x: torch.Tensor) -> torch.Tensor:
        x = translation(x)
        if flip:  # each image flipped with probability 1/2
            mirrored = torch.rand(x.shape[0], 1, 1, 1, device=x.device) < 0.5
            x = torch.where(mirrored, x.flip(3), x)
        return x

    penalty = real.new_zeros((), dtype=torch.float32)
    for images, logits in ((real, real_logits), (fake, fake_logits)):
        out = discriminator(changed(images.detach()), labels)
        if isinstance(out, DiscriminatorOutput):
            out = out.logits
        penalty = penalty + (logits.float() - out.float()).pow(2).mean()
    return penalty
