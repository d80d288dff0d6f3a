"""The Parzen-window log-likelihood of Goodfellow et al. 2014 (Table 1), an opt-in metric.

The GAN paper estimated how likely the MNIST test set is under the generator by placing an
isotropic Gaussian of width sigma on each of 10,000 generated images (pixels scaled to [0, 1]) and
averaging the test images' log-density under that mixture; sigma was chosen by cross-validation
on a validation split. Its GAN scored 225 +- 2 nats (the +- is the standard error over test
images). This module computes the same estimate:

    log p(x) = logsumexp_i(-|x - s_i|^2 / (2 sigma^2)) - log N - (D / 2) log(2 pi sigma^2)

in nats per image, with sigma picked from :data:`SIGMAS` on the validation images and the
likelihood reported on the test images.

It is opt-in because it is a weak metric (Theis, van den Oord & Bethge, *A note on the evaluation
of generative models*, ICLR 2016): in 784 dimensions a Parzen estimate from 10,000 samples is far
from the true likelihood, it ranks models differently from the likelihood it approximates, and
the k-means centroids of the training set, or the training set itself, beat real generative
models on it. docs/metrics.md shows what gankit's generators and the training data score.
"""

from __future__ import annotations

import math
from typing import Any

import torch

SIGMAS = tuple(float(s) for s in torch.logspace(math.log10(0.05), math.log10(0.5), 19))
BLOCK = 512


def _unit(images: torch.Tensor) -> torch.Tensor:
    """Flattened images with pixels in [0, 1] (the paper's scale), in float64."""
    if images.dtype == torch.uint8:
        return images.double().div(255.0).flatten(1)
    return images.double().add(1.0).div(2.0).clamp(0.0, 1.0).flatten(1)


def log_likelihoods(samples: torch.Tensor, queries: torch.Tensor,
                    sigmas: tuple[float, ...] = SIGMAS) -> torch.Tensor:
    """(len(sigmas), M): each query's Parzen log-density under ``samples`` for each sigma, nats."""
    centres, points = _unit(samples), _unit(queries)
    dims = centres.shape[1]
    out = []
    for start in range(0, points.shape[0], BLOCK):
        squared = torch.cdist(points[start:start + BLOCK], centres).pow_(2)  # (B, N)
        out.append(torch.stack([torch.logsumexp(squared / (-2 * sigma ** 2), dim=1) for sigma in sigmas]))
    sigma = torch.tensor(sigmas, dtype=torch.float64).view(-1, 1)
    constant = math.log(centres.shape[0]) + dims / 2 * torch.log(2 * math.pi * sigma ** 2)
    return torch.cat(out, dim=1) - constant


def parzen(samples: torch.Tensor, validation: torch.Tensor, test: torch.Tensor,
           sigmas: tuple[float, ...] = SIGMAS) -> dict[str, Any]:
    """The paper's estimate: sigma chosen on ``validation``, mean log-likelihood on ``test``.

    Returns ``parzen`` (mean nats per test image), ``parzen_se`` (its standard error, the
    paper's +-), ``parzen_sigma`` and the number of samples the window was fitted to.
    """
    on_validation = log_likelihoods(samples, validation, sigmas).mean(dim=1)
    best = int(on_validation.argmax())
    scores = log_likelihoods(samples, test, (sigmas[best],))[0]
    return {"parzen": float(scores.mean()),
            "parzen_se": float(scores.std() / math.sqrt(scores.numel())),
            "parzen_sigma": sigmas[best], "parzen_samples": int(samples.shape[0]),
            "parzen_sigma_at_edge": best in (0, len(sigmas) - 1)}
