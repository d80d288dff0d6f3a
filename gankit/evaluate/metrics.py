"""Sample-quality metrics in an evaluator's feature space.

Each function takes :class:`~gankit.evaluate.evaluator.FeatureSet` objects (features extracted
once per image set) and returns plain floats:

- FID, KID and the classifier Inception Score are torchmetrics' formulas, computed here in float64
  (KID batched over its subsets, its kernel values in float32 and summed in float64,
  :func:`kernel_distance`); tests hold them to torchmetrics' own numbers.
  Each image set goes through the evaluator once and its features serve every metric.
- What depends on the real set alone (KID's within-real kernel sums, the real k-NN radii) is kept
  in the real :class:`FeatureSet`'s ``memo`` (and with it in the evaluation cache), so the runs
  scored after the first against one real set pay only for their own images.
- Precision and recall (k-NN manifolds, k = 3; Kynkäänniemi et al., NeurIPS 2019) and density and
  coverage (k = 5; Naeem et al., ICML 2020) are computed here on ``torch.cdist``, in blocks.
- Mode coverage, the unrecognised share and label accuracy come from the evaluator's predicted
  classes and their confidence.

Random draws (KID's subsets, IS's split order) are seeded and never touch the global RNG, so
evaluating during training cannot change what training does next.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from gankit.evaluate.evaluator import FeatureSet

PRECISION_RECALL_K = 3
DENSITY_COVERAGE_K = 5
KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000
# Subsets whose kernel matrices are computed at once: 5 x 1000^2 floats (20 MB) stay in a server
# CPU's last-level cache while they are cubed and summed; 10 (40 MB) took 1.5x longer on a 2-core
# Xeon with 48 MB of L3 (0.44-0.45 s against 0.65-0.74 s for 2 x 10,000 features, alternated).
KID_BATCH = 5
IS_SPLITS = 10
MODE_SHARE = 0.2  # a class counts as covered if it gets at least a fifth of its uniform share
# Rows of a distance matrix computed at once (BLOCK x N floats): 512 x 10,000 (20 MB) stay in the
# last-level cache for the four passes over them; 1,024 took 1.4x longer (0.75-0.83 s against
# 1.09-1.12 s for precision/recall/density/coverage of 2 x 10,000 points, alternated, 48 MB L3).
BLOCK = 512


@dataclass(frozen=True)
class MetricInfo:
    label: str
    better: str  # which way is better, in words
    format: str
    # Whether the best value alone marks the better generator. Not for precision or density: a
    # collapsed generator (one image, or noise the evaluator maps to one place) scores precision 1.
    ranks: bool = True
    about: str = ""  # one line for reports; docs/metrics.md explains each at length


# The metrics in the order tables show them.
METRICS = {
    "fid": MetricInfo("FID", "lower", "{:.2f}", about="distance between Gaussians fitted to the real "
                      "and the generated features: quality and diversity in one number (biased: "
                      "falls as n grows)"),
    "kid": MetricInfo("KID", "lower", "{:.4g}", about="kernel (MMD) distance between the real and the "
                      "generated features; unbiased, so the floor is about 0"),
    "is": MetricInfo("Inception Score", "higher", "{:.2f}", about="how confidently and evenly the "
                     "evaluator classifies the samples; never looks at real images"),
    "precision": MetricInfo("precision (k=3)", "higher", "{:.3f}", ranks=False, about="share of samples "
                            "inside the real images' manifold (fidelity); a collapsed generator scores 1"),
    "recall": MetricInfo("recall (k=3)", "higher", "{:.3f}", about="share of real images inside the "
                         "samples' manifold (diversity)"),
    "density": MetricInfo("density (k=5)", "near 1", "{:.3f}", ranks=False, about="how many real "
                          "neighbourhoods hold each sample, over k: about 1 for real data"),
    "coverage": MetricInfo("coverage (k=5)", "higher", "{:.3f}", about="share of real images with a "
                           "sample in their neighbourhood (diversity, robust to outliers)"),
    "modes_covered": MetricInfo("modes covered", "higher", "{:d}", about="classes that get at least a "
                                "fifth of their fair share of the recognised samples"),
    "kl_to_uniform": MetricInfo("KL to uniform", "lower", "{:.3f}", about="KL divergence of the "
                                "samples' class histogram to the uniform one, in nats"),
    "unrecognised": MetricInfo("unrecognised", "lower", "{:.1%}", ranks=False, about="share of samples "
                               "in which the evaluator recognises no class"),
    "label_accuracy": MetricInfo("label accuracy", "higher", "{:.1%}", about="conditional runs: share "
                                 "of samples classified as the label they were drawn for"),
    # Scores from RealReference.extra_scores (memorisation.py, parzen.py), when asked for.
    "near_copies": MetricInfo("near-copies of training images", "lower", "{:.1%}", about="share of "
                              "samples closer to a training image than 1% of training images are "
                              "to their nearest other one"),
    "copy_ratio_pixel": MetricInfo("nearest-train distance vs real's (pixels)", "near 1; < 1 copies",
                                   "{:.3f}", ranks=False, about="median distance of samples to their "
                                   "nearest training image, over held-out real images' (pixels)"),
    "copy_ratio_feature": MetricInfo("nearest-train distance vs real's (features)",
                                     "near 1; < 1 copies", "{:.3f}", ranks=False, about="the same "
                                     "ratio in the evaluator's feature space"),
    "parzen": MetricInfo("Parzen log-likelihood, nats", "higher", "{:.1f}", ranks=False, about="log-"
                         "likelihood of the test set under a Gaussian Parzen window on the samples "
                         "(Goodfellow et al. 2014's Table 1)"),
}


class _Precomputed(nn.Module):
    """A torchmetrics feature module whose 'images' are already features: lets tests and bench/
    run torchmetrics' own metrics on the evaluator's features, the reference these are held to."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features


def frechet_distance(real: FeatureSet, fake: FeatureSet) -> float:
    """FID (Heusel et al., NeurIPS 2017) between the two feature sets.

    torchmetrics' ``FrechetInceptionDistance`` formula, in float64 (tests/test_metric_fid_is.py
    holds the two within 1e-9), written out here because importing torchmetrics costs ~3.8 s, which
    every ``gankit evaluate`` paid (docs/benchmarks.md).
    """
    if len(real) < 2 or len(fake) < 2:
        raise ValueError("FID needs at least 2 images in each set.")
    if min(len(real), len(fake)) < real.embeddings.shape[1]:
        return _low_rank_frechet(real.embeddings.double(), fake.embeddings.double())
    (mean_real, cov_real), (mean_fake, cov_fake) = _mean_and_covariance(real), _mean_and_covariance(fake)
    distance = (mean_real - mean_fake).square().sum()
    traces = cov_real.trace() + cov_fake.trace()
    return float(distance + traces - 2 * root_trace(cov_real, cov_fake))


def root_trace(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """Tr(sqrt(S1 S2)) of two covariances. The eigenvalues of S1 S2 are those of the symmetric
    sqrt(S1) S2 sqrt(S1), real and >= 0 up to rounding, so two symmetric eigendecompositions give
    them: at 2,048 features (Inception) several times faster than the general ``eigvals`` of S1 S2
    torchmetrics runs, with the same numbers (rounding below zero counts as 0, as its complex
    roots' real parts do)."""
    values, vectors = torch.linalg.eigh(first)
    root = (vectors * values.clamp(min=0).sqrt()) @ vectors.T
    return torch.linalg.eigvalsh(root @ second @ root).clamp(min=0).sqrt().sum()


def _low_rank_frechet(real: torch.Tensor, fake: torch.Tensor) -> float:
    """FID when a set has fewer points than features (Inception's 2,048 at n < 2,048), from the
    centred points X, Y instead of the d x d covariances: with S1 = X'X / (m - 1), S2 = Y'Y / (k - 1),
    the non-zero eigenvalues of S1 S2 are the squared singular values of Y X' / sqrt((m-1)(k-1)), so
    Tr(sqrt(S1 S2)) is that k x m matrix's nuclear norm: no d x d decomposition at all."""
    centred_real, centred_fake = real - real.mean(dim=0), fake - fake.mean(dim=0)
    scale_real, scale_fake = len(real) - 1, len(fake) - 1
    distance = (real.mean(dim=0) - fake.mean(dim=0)).square().sum()
    traces = centred_real.square().sum() / scale_real + centred_fake.square().sum() / scale_fake
    root = torch.linalg.svdvals(centred_fake @ centred_real.T).sum() / math.sqrt(scale_real * scale_fake)
    return float(distance + traces - 2 * root)


def _mean_and_covariance(features: FeatureSet) -> tuple[torch.Tensor, torch.Tensor]:
    points = features.embeddings.double()
    count, mean = points.shape[0], points.mean(dim=0)
    covariance = (points.T @ points - count * torch.outer(mean, mean)) / (count - 1)
    return mean, covariance


def kernel_distance(real: FeatureSet, fake: FeatureSet, seed: int = 0) -> tuple[float, float]:
    """KID (Binkowski et al., ICLR 2018): mean and std over random subsets.

    The same numbers as torchmetrics' ``KernelInceptionDistance`` (cubic polynomial kernel, the
    same subsets drawn in the same order from the same seed; within 1e-6, tests/test_metric_kid.py),
    but the subsets' kernel matrices are batched matrix products, ``KID_BATCH`` subsets at a time,
    instead of a Python loop over them. The real subsets' within-set sums depend only on ``real``,
    ``len(fake)`` and the seed: they are computed once per real set (``real.memo``).
    """
    subset = min(KID_SUBSET_SIZE, len(real), len(fake))
    # When a subset is a whole set, every subset is the same: one is enough (and its std is 0).
    subsets = 1 if subset == len(real) == len(fake) else KID_SUBSETS
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        picks = [(torch.randperm(len(real))[:subset], torch.randperm(len(fake))[:subset])
                 for _ in range(subsets)]
    real_index = torch.stack([pick[0] for pick in picks])
    fake_index = torch.stack([pick[1] for pick in picks])
    real_points, fake_points = real.embeddings.float(), fake.embeddings.float()
    memo_key = f"kid_within/{len(fake)}/{subset}/{seed}"
    if memo_key not in real.memo:
        real.memo[memo_key] = torch.cat([_kernel_sums(real_points[real_index[start:start + KID_BATCH]])
                                         for start in range(0, subsets, KID_BATCH)])
    real_within = real.memo[memo_key]
    values = torch.cat([_polynomial_mmd(real_points[real_index[start:start + KID_BATCH]],
                                        fake_points[fake_index[start:start + KID_BATCH]],
                                        real_within[start:start + KID_BATCH])
                        for start in range(0, subsets, KID_BATCH)])
    return float(values.mean()), 0.0 if subsets == 1 else float(values.std(unbiased=False))


def _kernel_sums(a: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
    """Sum of the kernel (a.b / D + 1)^3 over every pair, per subset of a batch (B, m, D), in
    float64; with ``b`` None, over the pairs of ``a`` with itself, leaving out the diagonal.

    The kernel values are float32, cubed in place and summed along rows in float32 (pairwise
    summation over 1,000 terms), and only the row sums are added in float64: 3x less CPU time than
    summing every value in float64, the sums within 4e-9 of float64 throughout (bench/eval_speed.py
    --parts kid; tests/test_metric_kid.py holds KID to torchmetrics' within 1e-6).
    """
    other = a if b is None else b
    k = torch.baddbmm(torch.ones(1, 1, 1, dtype=a.dtype), a, other.transpose(1, 2), alpha=1.0 / a.shape[2])
    k.pow_(3)
    total = k.sum(dim=2).double().sum(dim=1)
    return total if b is not None else total - k.diagonal(dim1=1, dim2=2).double().sum(dim=1)


def _polynomial_mmd(x: torch.Tensor, y: torch.Tensor, x_within: torch.Tensor) -> torch.Tensor:
    """Unbiased MMD^2 with the kernel (x.y / D + 1)^3, for each of a batch of subsets (B, m, D);
    ``x_within``: :func:`_kernel_sums` of ``x`` with itself."""
    m = x.shape[1]
    within = (x_within + _kernel_sums(y)) / (m * (m - 1))
    return within - 2 * _kernel_sums(x, y) / (m ** 2)


def inception_score(fake: FeatureSet, seed: int = 0) -> tuple[float, float]:
    """The Inception Score (Salimans et al., NeurIPS 2016) with the evaluator as classifier:
    torchmetrics' ``InceptionScore`` computation (the logits shuffled, then ``IS_SPLITS`` splits),
    in float64, from a seeded shuffle that leaves the global RNG alone."""
    logits = fake.logits.double()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        logits = logits[torch.randperm(logits.shape[0])]
    splits = min(IS_SPLITS, len(fake))
    scores = []
    for probs, log_probs in zip(logits.softmax(dim=1).chunk(splits), logits.log_softmax(dim=1).chunk(splits)):
        marginal = probs.mean(dim=0, keepdim=True)
        scores.append((probs * (log_probs - marginal.log())).sum(dim=1).mean().exp())
    score = torch.stack(scores)
    std = float(score.std()) if len(scores) > 1 else 0.0
    return float(score.mean()), 0.0 if math.isnan(std) else std


def _kth_neighbour_radii(points: torch.Tensor, ks: tuple[int, ...]) -> torch.Tensor:
    """(N, len(ks)): each point's distance to its k-th nearest other point, for each k."""
    deepest = max(ks)
    radii = []
    for block in points.split(BLOCK):
        nearest = torch.cdist(block, points).topk(deepest + 1, dim=1, largest=False).values
        radii.append(nearest[:, list(ks)])  # column 0 is the point itself, at distance 0
    return torch.cat(radii)


def manifold_metrics(real: FeatureSet, fake: FeatureSet) -> dict[str, float]:
    """Precision, recall (k = 3), density and coverage (k = 5), in one pass over the distances.

    A k-NN manifold is the union of balls around each point reaching its k-th nearest neighbour.
    Precision: the share of fakes inside the real manifold. Recall: the share of reals inside the
    fake manifold. Density: how many real balls (k = 5) hold each fake, over k; about 1 for a
    perfect generator, and unbounded. Coverage: the share of reals whose ball holds a fake.
    """
    real_points, fake_points = real.embeddings.float(), fake.embeddings.float()
    memo_key = f"knn_radii/{PRECISION_RECALL_K},{DENSITY_COVERAGE_K}"  # the real set's alone: kept
    if memo_key not in real.memo:
        real.memo[memo_key] = _kth_neighbour_radii(real_points, (PRECISION_RECALL_K, DENSITY_COVERAGE_K))
    real_radii = real.memo[memo_key]
    real_pr, real_dc = real_radii[:, 0], real_radii[:, 1]
    fake_pr = _kth_neighbour_radii(fake_points, (PRECISION_RECALL_K,))[:, 0]

    # Each block's reductions are the cheapest of their kind on a CPU: a bool matrix read as uint8
    # by amax (2x faster than any() down columns), counted in int32 (1.8x faster than the default
    # int64 sum), the minimum without its index (3x faster than min()). The same counts; the whole
    # function 1.5x faster for 2 x 10,000 points of 128 features (docs/benchmarks.md).
    in_real_manifold = torch.zeros(len(fake), dtype=torch.bool)
    balls_holding = torch.zeros(len(fake), dtype=torch.int32)
    real_reached = torch.zeros(len(real), dtype=torch.uint8)  # recall: inside some fake ball
    nearest_fake = torch.full((len(real),), math.inf)  # coverage: distance to the nearest fake
    for start in range(0, len(fake), BLOCK):
        block = slice(start, start + BLOCK)
        distances = torch.cdist(fake_points[block], real_points)  # (block, N_real)
        in_real_manifold[block] = (distances <= real_pr[None, :]).any(dim=1)
        balls_holding[block] = (distances <= real_dc[None, :]).sum(dim=1, dtype=torch.int32)
        real_reached |= (distances <= fake_pr[block, None]).view(torch.uint8).amax(dim=0)
        torch.minimum(nearest_fake, distances.amin(dim=0), out=nearest_fake)
    return {
        "precision": float(in_real_manifold.float().mean()),
        "recall": float(real_reached.float().mean()),
        "density": float(balls_holding.double().sum() / (DENSITY_COVERAGE_K * len(fake))),
        "coverage": float((nearest_fake <= real_dc).float().mean()),
    }


def recognised(fake: FeatureSet) -> torch.Tensor:
    """Which samples the evaluator recognises: top-class probability at least the evaluator's
    ``recognised_confidence`` (0.5 for digits, 0.9 for clothes; docs/metrics.md). The evaluators
    were trained to spread their probability over all classes for images that show none (noise,
    shuffled pixels), so an unrecognisable blur is no class."""
    return fake.logits.float().softmax(dim=1).max(dim=1).values >= fake.recognised_confidence


def mode_coverage(fake: FeatureSet) -> dict[str, float]:
    """Classes hit, the KL divergence (nats) of the predicted-class histogram to uniform, and the
    share of samples recognised as no class.

    Only recognised samples count for a class (see :func:`recognised`). A class is hit when at
    least ``MODE_SHARE`` of its uniform share of *all* samples is recognised as it (2% of the
    samples for 10 classes), so neither a few stray predictions nor a mass of unrecognisable
    images count as modes. The KL is over the recognised samples' classes: 0 for a perfectly
    balanced histogram, log(K) (2.30 for 10 classes) when every sample falls in one class or no
    sample is recognised.
    """
    num_classes = fake.logits.shape[1]
    known = recognised(fake)
    counts = torch.bincount(fake.logits.argmax(dim=1)[known], minlength=num_classes).double()
    kl = math.log(num_classes)
    if counts.sum() > 0:
        shares = counts / counts.sum()
        nonzero = shares[shares > 0]
        kl = float((nonzero * (nonzero * num_classes).log()).sum())
    return {"modes_covered": int((counts / len(fake) >= MODE_SHARE / num_classes).sum()),
            "kl_to_uniform": max(kl, 0.0),
            "unrecognised": float(1 - known.double().mean())}


def label_accuracy(fake: FeatureSet) -> float:
    """The share of images the evaluator classifies as the label they were generated for."""
    if fake.labels is None:
        raise ValueError("label accuracy needs the labels the images were generated for")
    return float((fake.logits.argmax(dim=1) == fake.labels).double().mean())


def score(real: FeatureSet, fake: FeatureSet, *, seed: int = 0) -> dict[str, Any]:
    """Every metric for ``fake`` against ``real``; ``label_accuracy`` when ``fake`` has labels."""
    kid, kid_std = kernel_distance(real, fake, seed)
    scores: dict[str, Any] = {"fid": frechet_distance(real, fake), "kid": kid, "kid_std": kid_std}
    if fake.logits.shape[1] == 0:  # a feature network without classes (TF-FID's Inception)
        return {**scores, **manifold_metrics(real, fake)}
    inception, inception_std = inception_score(fake, seed)
    scores.update({"is": inception, "is_std": inception_std, **manifold_metrics(real, fake),
                   **mode_coverage(fake)})
    if fake.labels is not None:
        scores["label_accuracy"] = label_accuracy(fake)
    return scores
