"""Memorisation: are generated images copies of training images?

A generator that returns its training images scores a perfect FID against them, so the
distribution metrics cannot catch it. This check measures, for every generated image, the
distance to its nearest training image, in pixel space (images in [-1, 1], Euclidean) and in the
evaluator's feature space, and compares it with what genuinely new real images get:

- ``near_copies``: the share of generated images closer (in pixels) to a training image than
  ``NEAR_COPY_QUANTILE`` (1%) of real images are. The threshold is the 1st percentile of the
  nearest-other-training-image distances of the training images themselves (leave one out), so it
  needs no held-out data; a generator as novel as real data scores about 1%, a copier 100%.
  ``memorised`` flags a share of ``FLAG_SHARE`` (10%) or more.
- ``copy_ratio_pixel`` and ``copy_ratio_feature``: the median distance from generated images to
  their nearest training image, over the same median for held-out real images (real images the
  generator never trained on, measured against the same training pool). About 1 when generated
  images are as new as unseen real ones, well below 1 when they copy the training set, above 1
  when they are further from any real image than real images are. Needs held-out real images.
- ``closest``: the generated images nearest to a training image, with that image, for a report.

Pixel distances are exact (:func:`nearest_pixels`): the images' 8-bit levels give integer
distances from a matrix product of the levels, and a generated image between levels is settled by
a bound on its rounding and an exact float64 distance to the few training images the bound leaves.
The product is int8 where the CPU has VNNI (5x a float32 product's speed on a 2-core AVX-512 VNNI
CPU: 10,000 generated images against 60,000 training images in about 2.5 s, 2.7x less than the
float32 search gankit used before), and a float32 one of the integer levels elsewhere, exact too
(gankit/evaluate/level_products.py): on AVX2 alone torch's int8 kernel ran 15-23x slower than
float32's (docs/benchmarks.md); the faster of the two is timed once per process. Where it is float32, a
lower bound from the pool's principal directions (gankit/evaluate/pixel_bound.py) first leaves
each generated image a few dozen candidates: 1.7x faster there, the same answer.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import torch
from gankit.data.base import to_signed
from gankit.evaluate import level_products
from gankit.evaluate.level_products import (FLOAT32_DEPTH, LEVEL, _ieee_float32, _integer_products, _levels,
                                            _pool_for, _square_norms)
from gankit.evaluate.pixel_bound import RANK, PixelBound

NEAR_COPY_QUANTILE = 0.01
FLAG_SHARE = 0.10
BLOCK = 1024
CLOSEST = 10  # one row of a compare report panel
YARDSTICK = 2000  # held-out images whose nearest-training distances are the yardstick
# A row may leave at most this many training images for the exact float64 check; a row that leaves
# more (a generated image equidistant from many, such as a flat grey one) is compared with the
# whole pool in float64 instead.
CANDIDATES = 64
# The bound's search (:meth:`_Search.bounded`): pools from this size take it, each row's upper bound
# is its exact distance to the TOP images lowest by the bound, and a row the bound leaves more than
# MAX_PAIRS images for takes the full product (a pair's gathered dot costs ~40x its share of the product).
PRUNE_FROM = 16384
TOP = 4
MAX_PAIRS = 1024


def _flat(images: torch.Tensor) -> torch.Tensor:
    if images.dtype == torch.uint8:
        images = to_signed(images)
    return images.float().flatten(1)


def nearest_pixels(queries: torch.Tensor, pool: torch.Tensor, *,
                   own: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`nearest` for images (uint8, or float in [-1, 1]) in pixel space, exactly.

    ``pool`` must be uint8 (a dataset's images; a float pool takes :func:`nearest`). Each query's
    integer squared distance to every pool image's levels comes from one matrix product of the
    levels (gankit/evaluate/level_products.py), or, where that product is float32, to the few
    images a lower bound leaves (gankit/evaluate/pixel_bound.py); for a uint8 query that is its
    distance. A float query lies ``r`` from its levels, so its true
    distance to an image is within ``r`` of the levels' one, and only the pool images within
    ``min + 2r`` of its levels can be its nearest: their float64 distances settle it. Ties go to
    the lowest pool index. ``own``: each query's own index in ``pool``, left out (leave one out).
    """
    if pool.dtype != torch.uint8:  # float pools (not a dataset's images): the float32 product
        pixels = _with_norms(_flat(pool))
        found = [_nearest_of_block(_flat(queries[start:start + BLOCK]), pixels,
                                   None if own is None else own[start:start + BLOCK])
                 for start in range(0, queries.shape[0], BLOCK)]
        return torch.cat([value for value, _ in found]), torch.cat([index for _, index in found])
    pool_levels, _ = _levels(pool)
    # ||b||^2 - 2 a.b stays in int32 up to this depth (a 215 x 215 RGB image); deeper, int64.
    wide = pool_levels.shape[1] > (2 ** 31 - 1) // (3 * 128 * 128)
    pool_norms = _square_norms(pool_levels).to(torch.int64 if wide else torch.int32)
    # One (BLOCK, M) matrix reused by every block: a fresh one page-faults its ~250 MB each time,
    # which took as long as the int8 product itself (0.18 s against 0.12 s for 1,024 x 60,000).
    buffer = None if wide else torch.empty(min(BLOCK, len(queries)), len(pool), dtype=torch.int32)
    query_levels, rounding = _levels(queries)
    search = _Search(pool, _pool_for(pool_levels), pool_norms, buffer)
    bound = PixelBound.of(pool_levels) if _prunes(pool_levels) else None
    distances, indices = [], []
    for start in range(0, queries.shape[0], BLOCK):
        block = slice(start, start + BLOCK)
        rows, floats = query_levels[block], queries[block].flatten(1)
        skip = None if own is None else own[block]
        if (rounding[block] > 0).any():
            assert own is None, "leave-one-out searches are of a dataset's own (uint8) images"
        if bound is None:
            value, index = search.full(rows, floats, rounding[block], skip)
        else:
            value, index, dense = search.bounded(bound, rows, floats, rounding[block], skip)
            if dense.any():  # rows the bound leaves too many images for: the full product
                value[dense], index[dense] = search.full(rows[dense], floats[dense], rounding[block][dense],
                                                         None if skip is None else skip[dense])
            if dense.double().mean() > 0.5:  # e.g. noise images: the bound does not pay, stop trying
                bound = None
        distances.append(value.float())
        indices.append(index)
    return torch.cat(distances), torch.cat(indices)


def _prunes(pool_levels: torch.Tensor) -> bool:
    """Whether the search takes the bound (gankit/evaluate/pixel_bound.py) first: where the levels'
    product is float32 (int8 is 2x faster than the bound's float32 product of depth 130 with VNNI),
    the images are 28 x 28 or so (a pair's exact float32 dot needs depth <= 1,024), and the pool is
    large enough for the full product to cost more than finding the pool's directions."""
    depth = pool_levels.shape[1]
    return (PRUNE_FROM <= len(pool_levels) and 2 * RANK < depth <= FLOAT32_DEPTH
            and not level_products._int8_products_faster())


@dataclass
class _Search:
    """One pool, searched block by block: by the full product of the levels (:meth:`full`) or,
    first, by the bound (:meth:`bounded`). Both give the same answer."""

    pool: torch.Tensor  # uint8 images
    product: torch.Tensor  # the levels as the faster product takes them (int8 or float32)
    norms: torch.Tensor  # squared norms of the levels
    buffer: torch.Tensor | None  # a reused (BLOCK, M) int32 matrix

    def full(self, rows: torch.Tensor, floats: torch.Tensor, rounding: torch.Tensor,
             skip: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Each row's nearest pool image: the levels' distances to every image, then :func:`_settle`."""
        out = None if self.buffer is None else self.buffer[:len(rows)]
        partial = _integer_products(rows, self.product, out).to(self.norms.dtype)  # the buffer, unless narrow
        value, index = _nearest_in_block(partial, rows, self.norms, skip)
        if (rounding > 0).any():
            _settle(floats.double(), rounding, value, index, partial, _square_norms(rows), self.pool)
        return value, index

    def bounded(self, bound: PixelBound, rows: torch.Tensor, floats: torch.Tensor, rounding: torch.Tensor,
                skip: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """:meth:`full`'s answer from the images the bound leaves, and which rows it left more than
        ``MAX_PAIRS`` for (their answer is not set: the caller takes :meth:`full` for them)."""
        out = None if self.buffer is None else self.buffer[:len(rows)].view(torch.float32)
        lower, row_m = bound.lower(rows, out)
        if skip is not None:
            lower[torch.arange(len(rows)), skip] = float("inf")
        row_norms = _square_norms(rows)
        # Each row's nearest is at most its exact distance to the few images lowest by the bound;
        # the images its settling could need lie within that distance's reach.
        top = lower.topk(min(TOP, lower.shape[1]), dim=1, largest=False).indices
        tops = self._squares(rows, row_norms, torch.arange(len(rows)).repeat_interleave(top.shape[1]),
                             top.flatten()).view(top.shape)
        if skip is not None:  # a row's own image is no bound on its nearest other one
            tops[top == skip[:, None]] = 2 ** 40  # beyond any image's distance: every image is kept
        upper = tops.amin(dim=1)
        reach = _reach_squared(upper.double().sqrt() * LEVEL, rounding)
        row, column, dense = _pairs(bound.within(lower, row_m, reach.double()))
        squared = self._squares(rows, row_norms, row, column)
        least, index = _first_minimum(row, column, squared.double(), len(rows))
        value = least.sqrt() * LEVEL
        between = (rounding > 0) & ~dense
        if between.any():
            within = between[row] & (squared <= _reach_squared(value, rounding)[row])
            _settle_pairs(floats.double(), between, value, index, row[within], column[within], self.pool)
        return value, index, dense

    def _squares(self, rows: torch.Tensor, row_norms: torch.Tensor, row: torch.Tensor,
                 column: torch.Tensor) -> torch.Tensor:
        """Exact squared distances (int64, levels) of the pairs (row, column), ``row`` ascending:
        float32 dots of integer levels, exact at depth <= 1,024, one pool gather per row."""
        counts = torch.bincount(row, minlength=len(rows)).tolist()
        floats = rows.float()
        with _ieee_float32():
            dots = torch.cat([self.product.index_select(0, columns) @ floats[position]
                              for position, columns in enumerate(column.split(counts))])
        return row_norms[row] + self.norms[column].long() - 2 * dots.round().long()


def _pairs(kept: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The (row, column) pairs of a (B, M) bool matrix, by row and columns ascending, but of the rows
    with more than ``MAX_PAIRS`` (``dense``, returned too). A sixteenth of the columns, counted, finds
    the rows far beyond it first, so the pairs found stay few: counting every entry took twice as
    long as finding the pairs."""
    sampled = kept[:, ::16].view(torch.uint8).sum(dim=1, dtype=torch.int32) * 16
    dense = sampled > 2 * MAX_PAIRS
    if dense.any():
        kept[dense] = False
    row, column = torch.nonzero(kept, as_tuple=True)
    counts = torch.bincount(row, minlength=len(kept))
    dense |= (counts > MAX_PAIRS) | (counts == 0)  # none: cannot happen (a row keeps its upper bound's image)
    keep = ~dense[row]
    return row[keep], column[keep], dense


def _reach_squared(value: torch.Tensor, rounding: torch.Tensor) -> torch.Tensor:
    """The squared distance (levels, int64) within which a row ``value`` from its levels' nearest
    and ``rounding`` from its levels can find its true nearest: (value + 2 rounding)^2, rounded up,
    with a margin for float64's rounding."""
    reach = (value + 2 * rounding) / LEVEL
    return (reach.pow(2) * (1 + 1e-9)).floor().long() + 1


def _nearest_in_block(partial: torch.Tensor, levels: torch.Tensor, pool_norms: torch.Tensor,
                      skip: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Turns the block's products a.b into ||b||^2 - 2 a.b in place (exact, integer) and returns the
    float64 distances ([-1, 1] units) and indices of each row's nearest pool image of its levels."""
    torch.sub(pool_norms, partial, alpha=2, out=partial)  # one pass, where mul_ and add_ took two
    if skip is not None:
        partial[torch.arange(levels.shape[0]), skip] = torch.iinfo(partial.dtype).max
    least, index = partial.min(dim=1)  # the first of equal minima: the lowest index
    return (least.long() + _square_norms(levels)).double().sqrt() * LEVEL, index


def _settle(rows: torch.Tensor, rounding: torch.Tensor, value: torch.Tensor, index: torch.Tensor,
            partial: torch.Tensor, row_norms: torch.Tensor, pool: torch.Tensor) -> None:
    """Replaces, in ``value`` and ``index``, the levels' answer of each float row that lies between
    levels by its exact nearest pool image, among the candidates its rounding leaves."""
    between = rounding > 0
    bound = _reach_squared(value, rounding) - row_norms
    bound[~between] = torch.iinfo(partial.dtype).min  # rows on the levels are settled already
    bound = bound.clamp(max=torch.iinfo(partial.dtype).max).to(partial.dtype)  # past it: every image
    # Most rows leave one candidate, their levels' nearest: only rows whose second nearest is
    # within reach need the (row, pool) pairs found (a third of the search's time when all did).
    unique = _second_least(partial, index) > bound
    pairs = [torch.stack([torch.nonzero(unique & between).flatten(), index[unique & between]])]
    wider = torch.nonzero(~unique & between).flatten()
    if len(wider):
        within = torch.nonzero(partial[wider] <= bound[wider, None], as_tuple=True)
        pairs.append(torch.stack([wider[within[0]], within[1]]))
    _settle_pairs(rows, between, value, index, *torch.cat(pairs, dim=1), pool)


def _settle_pairs(rows: torch.Tensor, between: torch.Tensor, value: torch.Tensor, index: torch.Tensor,
                  row: torch.Tensor, column: torch.Tensor, pool: torch.Tensor) -> None:
    """:func:`_settle` from the (row, pool image) pairs within each ``between`` row's reach: their
    float64 distances, or the whole pool's for a row with more than ``CANDIDATES`` of them."""
    many = torch.bincount(row, minlength=len(rows)) > CANDIDATES
    kept = ~many[row]
    if kept.any():
        row, column = row[kept], column[kept]
        squared = (rows[row] - _signed64(pool[column])).pow(2).sum(dim=1)
        least, first = _first_minimum(row, column, squared, len(rows))
        settled = between & ~many
        value[settled], index[settled] = least[settled].sqrt(), first[settled]
    for position in torch.nonzero(many).flatten().tolist():  # rare: compared with the whole pool
        squared = torch.cat([(rows[position] - _signed64(chunk)).pow(2).sum(dim=1)
                             for chunk in pool.split(4096)])
        least, first = squared.min(dim=0)
        value[position], index[position] = least.sqrt(), first


def _second_least(partial: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Each row's least entry but the one at ``index`` (its least): read with it set aside."""
    rows = torch.arange(len(partial))
    least = partial[rows, index].clone()
    partial[rows, index] = torch.iinfo(partial.dtype).max
    second = partial.amin(dim=1)
    partial[rows, index] = least
    return second


def _signed64(images: torch.Tensor) -> torch.Tensor:
    """uint8 images as float64 rows in [-1, 1]: the levels' own values, as the bounds assume."""
    return images.flatten(1).double() / 127.5 - 1


def _first_minimum(row: torch.Tensor, column: torch.Tensor, squared: torch.Tensor,
                   rows: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row of (row, column, squared) triples: the least squared value and, among its equals,
    the lowest column."""
    least = torch.full((rows,), float("inf"), dtype=torch.float64).scatter_reduce(0, row, squared, "amin")
    at_least = squared == least[row]
    first = torch.full((rows,), torch.iinfo(torch.int64).max).scatter_reduce(
        0, row[at_least], column[at_least], "amin")
    return least, first


def nearest(queries: torch.Tensor, pool: torch.Tensor, *, exclude_self: bool = False,
            with_index: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Distance from each query row to its nearest pool row, and that row's index (None without
    ``with_index``: the minimum alone is a 3x cheaper pass over each block).

    With ``exclude_self`` the queries are the pool itself and each row's own entry is skipped.
    """
    distances, indices = [], []
    pool_with_norms = _with_norms(pool)
    buffer = torch.empty(min(BLOCK, len(queries)), len(pool), dtype=pool.dtype)  # reused, see nearest_pixels
    for start in range(0, queries.shape[0], BLOCK):
        rows = queries[start:start + BLOCK]
        skip = torch.arange(start, start + rows.shape[0]) if exclude_self else None
        value, index = _nearest_of_block(rows, pool_with_norms, skip, buffer[:len(rows)], with_index)
        distances.append(value)
        indices.append(index)
    return torch.cat(distances), torch.cat(indices) if with_index else None


def _with_norms(pool: torch.Tensor) -> torch.Tensor:
    """``pool`` with each row's squared norm as one more column: against rows ``[-2 a, 1]``
    (:func:`_scaled_with_one`) one matrix product gives ||b||^2 - 2 a.b, where adding ||b||^2 to
    the product's block cost one more pass over it (a quarter of the search's time, 10,000 x
    60,000 rows of 128 features)."""
    return torch.cat([pool, pool.pow(2).sum(dim=1, keepdim=True)], dim=1)


def _scaled_with_one(rows: torch.Tensor) -> torch.Tensor:
    """``[-2 a, 1]`` for each row a: the other side of :func:`_with_norms` (-2 a is exact)."""
    return torch.cat([rows * -2, torch.ones(len(rows), 1, dtype=rows.dtype)], dim=1)


def _nearest_of_block(rows: torch.Tensor, pool_with_norms: torch.Tensor, skip: torch.Tensor | None,
                      out: torch.Tensor | None = None,
                      with_index: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
    """||a - b||^2 = ||a||^2 + ||b||^2 - 2 a.b, minimised over b before ||a||^2 is added and the root
    taken: one matrix product (the norms inside it, :func:`_with_norms`) and one pass over the
    block, where ``torch.cdist`` (the same formula) also takes every entry's root."""
    partial = torch.mm(_scaled_with_one(rows), pool_with_norms.T, out=out)  # ||b||^2 - 2 a.b
    if skip is not None:
        partial[torch.arange(rows.shape[0]), skip] = float("inf")
    value, index = partial.min(dim=1) if with_index else (partial.amin(dim=1), None)
    return (value + rows.pow(2).sum(dim=1)).clamp_min(0).sqrt(), index


@dataclass
class TrainingSet:
    """The training images, their features, and the near-copy threshold derived from them."""

    images: torch.Tensor  # (M, C, H, W), uint8 or float in [-1, 1]
    embeddings: torch.Tensor | None = None  # (M, D) evaluator features
    _threshold: float | None = None
    # The held-out yardsticks, by "kind/sha256 of the held-out rows": the same for every run scored
    # against one reference set, so computed once (2,000 x M pixel distances) and kept in the
    # evaluation cache beside the features.
    yardsticks: dict[str, torch.Tensor] = field(default_factory=dict)

    def yardstick(self, kind: str, heldout: torch.Tensor, pool: torch.Tensor,
                  search: Any = None) -> torch.Tensor:
        """The median nearest-``pool`` distance of (at most ``YARDSTICK``) ``heldout`` rows, by
        ``search`` (:func:`nearest` unless given)."""
        from gankit.evaluate.cache import fingerprint

        key = f"{kind}/{fingerprint(heldout)}"
        if key not in self.yardsticks:
            chosen = torch.randperm(heldout.shape[0], generator=torch.Generator().manual_seed(0))[:YARDSTICK]
            search = search or functools.partial(nearest, with_index=False)
            self.yardsticks[key] = search(heldout[chosen], pool)[0].median()
        return self.yardsticks[key]

    def threshold(self) -> float:
        """The pixel distance below which a generated image counts as a near-copy."""
        if self._threshold is None:
            # A seeded sample of 5,000 training images is plenty for a 1st percentile.
            sample = torch.randperm(len(self.images), generator=torch.Generator().manual_seed(0))[:5000]
            distances = nearest_pixels(self.images[sample], self.images, own=sample)[0]
            self._threshold = float(torch.quantile(distances, NEAR_COPY_QUANTILE))
        return self._threshold


def _ratio(to_train: torch.Tensor, yardstick: torch.Tensor) -> float:
    """Median nearest-training distance of the generated images (``to_train``) over that of
    held-out real images (:meth:`TrainingSet.yardstick`), against the same training pool."""
    return float(to_train.median() / yardstick) if yardstick > 0 else float("nan")


def memorisation(fake_images: torch.Tensor, train: TrainingSet, *,
                 fake_embeddings: torch.Tensor | None = None,
                 heldout_images: torch.Tensor | None = None,
                 heldout_embeddings: torch.Tensor | None = None) -> dict[str, Any]:
    """The memorisation scores of ``fake_images`` against ``train`` (see the module docstring)."""
    distance, index = nearest_pixels(fake_images, train.images)
    threshold = train.threshold()
    share = float((distance <= threshold).double().mean())
    order = distance.argsort()[:CLOSEST]
    result: dict[str, Any] = {
        "near_copies": share,
        "memorised": share >= FLAG_SHARE,
        "near_copy_threshold": threshold,
        "nearest_train_pixel_median": float(distance.median()),
        "closest": {"fake_index": order.tolist(), "train_index": index[order].tolist(),
                    "pixel_distance": distance[order].tolist()},
    }
    if heldout_images is not None:
        result["copy_ratio_pixel"] = _ratio(distance, train.yardstick("pixel", heldout_images, train.images,
                                                                      nearest_pixels))
    if heldout_embeddings is not None and fake_embeddings is not None and train.embeddings is not None:
        features = train.embeddings.float()
        result["copy_ratio_feature"] = _ratio(
            nearest(fake_embeddings.float(), features, with_index=False)[0],
            train.yardstick("feature", heldout_embeddings.float(), features))
    return result
