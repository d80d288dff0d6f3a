"""Cluster labels: k-means clusters of the training images, as labels for label-free conditioning.

A conditional GAN draws cleaner digits than an unconditional one because each label confines G to
one part of the data. With no labels, clusters of the images can stand in (self-conditioned GANs,
Liu et al. 2020; Sage et al. 2018): G and D are conditioned on the cluster of each real image, and
a generated image's cluster is drawn with the cluster's share of the data, so the proportions of
the data are kept by construction. With many small clusters each holds mostly one kind of image
(200 clusters of MNIST's pixels: 89% of each cluster is one digit); the evaluation never sees them.

A variant asks for them with a config field ``clusters`` (dcgan's default is 200); the engine then
replaces the batches' labels by cluster ids (:func:`with_cluster_labels`) and hands the variant
their shares in ``DataInfo.label_shares`` (``num_classes`` stays the dataset's).

k-means (k-means++ seeding, Lloyd iterations) runs in float64 on pixels average-pooled to at most
32 x 32, fitted on a seeded sample of at most 10,000 images and assigned to all: a few seconds,
and the same labels for the same images and seed, so ``--resume`` trains on the labels it began with.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

    from gankit.data.base import ImageData

MAX_FIT = 10_000  # images the centroids are fitted on (all images are then assigned)
MAX_SIDE = 32  # larger images are average-pooled to this side first
ITERATIONS = 30  # Lloyd iterations (MNIST's assignments stop changing well before)
CHUNK = 4096  # images per distance computation


def pixels(images: "torch.Tensor") -> "torch.Tensor":
    """uint8 (N, C, H, W) -> float64 (N, D) in [0, 1], pooled to at most MAX_SIDE on a side."""
    import torch
    import torch.nn.functional as F

    side = (min(images.shape[2], MAX_SIDE), min(images.shape[3], MAX_SIDE))
    parts = []
    for chunk in images.split(CHUNK):  # pooled a chunk at a time: large colour sets stay small
        chunk = chunk.float().div(255.0)
        if tuple(chunk.shape[2:]) != side:
            chunk = F.adaptive_avg_pool2d(chunk, side)
        parts.append(chunk.flatten(1).double())
    return torch.cat(parts)


def _squared_distances(points: "torch.Tensor", centroids: "torch.Tensor") -> "torch.Tensor":
    return (points.pow(2).sum(1, keepdim=True) - 2 * points @ centroids.T
            + centroids.pow(2).sum(1)).clamp_(min=0)


def kmeans(points: "torch.Tensor", k: int, *, seed: int, iterations: int = ITERATIONS) -> "torch.Tensor":
    """The (k, D) centroids of ``points`` (N, D): k-means++ seeding, then Lloyd iterations. A
    cluster left empty keeps its centroid."""
    import torch

    rng = torch.Generator().manual_seed(seed)
    centroids = points.new_empty(k, points.shape[1])
    centroids[0] = points[torch.randint(len(points), (1,), generator=rng)]
    nearest = _squared_distances(points, centroids[:1]).squeeze(1)
    for i in range(1, k):  # each next seed far from the chosen ones (D^2 sampling)
        weights = nearest / nearest.sum() if nearest.sum() > 0 else torch.ones_like(nearest)
        centroids[i] = points[torch.multinomial(weights, 1, generator=rng)]
        nearest = torch.minimum(nearest, _squared_distances(points, centroids[i:i + 1]).squeeze(1))
    for _ in range(iterations):
        labels = _squared_distances(points, centroids).argmin(1)
        counts = torch.bincount(labels, minlength=k)
        sums = points.new_zeros(k, points.shape[1]).index_add_(0, labels, points)
        filled = counts > 0
        centroids[filled] = sums[filled] / counts[filled, None]
    return centroids


def cluster_labels(images: "torch.Tensor", k: int, *, seed: int) -> "torch.Tensor":
    """Each image's cluster (int64, (N,)) among ``k`` k-means clusters of the images' pixels."""
    import torch

    if k >= len(images):  # a quick trial on a few images: each its own cluster, the rest empty
        return torch.arange(len(images))
    fit = images
    if len(images) > MAX_FIT:
        fit = images[torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:MAX_FIT]]
    centroids = kmeans(pixels(fit), k, seed=seed)
    return torch.cat([_squared_distances(pixels(chunk), centroids).argmin(1)
                      for chunk in images.split(CHUNK)])


def label_shares(labels: "torch.Tensor", k: int) -> tuple[float, ...]:
    """Each label's share of ``labels``."""
    import torch

    counts = torch.bincount(labels, minlength=k).double()
    return tuple(float(share) for share in counts / counts.sum())


def with_cluster_labels(data: "ImageData", k: int, seed: int) -> "ImageData":
    """``data`` with its labels (if any) replaced by ``k`` k-means cluster ids of its images. Its
    ``num_classes`` stays the dataset's: what is evaluated is the images, not the clusters."""
    return dataclasses.replace(data, labels=cluster_labels(data.images, k, seed=seed),
                               source=f"{data.source}; labels: {k} k-means clusters of the pixels")


def clustered(config: object, data: "ImageData", seed: int) -> "tuple[ImageData, tuple[float, ...] | None]":
    """What the engine trains on for ``config``: when it asks for ``clusters`` (a variant's config
    field; 0 or absent: none), ``data`` with cluster labels and their shares, else ``data`` and None."""
    k = int(getattr(config, "clusters", 0) or 0)
    if not k:
        return data, None
    data = with_cluster_labels(data, k, seed)
    return data, label_shares(data.labels, k)
