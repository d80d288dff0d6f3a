"""Exact products of images' 8-bit levels, by the kernel this CPU runs faster.

The exact pixel search (gankit/evaluate/memorisation.py) needs, for every generated image and every
training image, the integer dot product of their levels. Two kernels give it exactly:
``torch._int_mm`` (int8, int32 accumulation: 5x a float32 product with VNNI) and a float32 product
of the same integers, exact while every partial sum stays within 2^24 (:data:`FLOAT32_DEPTH`). On
a CPU with AVX2 alone the int8 kernel ran 15-23x slower than float32's, so
:func:`_int8_products_faster` times the two once per process and :func:`_pool_for` hands the search
the pool in the faster one's form. Both give the same numbers.
"""

from __future__ import annotations

import contextlib
import functools
import time
from typing import Any

import torch

LEVEL = 2.0 / 255.0  # one 8-bit level in [-1, 1] units
INT32_DEPTH = (2 ** 31 - 1) // (128 * 128)  # shifted levels' products summed per int32 product
# Shifted levels' products a float32 product sums exactly: every partial sum is an integer of at most
# 1,024 x 128 x 128 = 2^24, which float32 holds exactly (one pass for 28 x 28 images).
FLOAT32_DEPTH = 2 ** 24 // (128 * 128)
LEVELS_AT_ONCE = 256  # float rows turned into levels at a time (:func:`_levels`)


def _levels(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each row's nearest 8-bit levels, shifted to int8 (-128..127: distances do not change under a
    shift), and how far (Euclidean, [-1, 1] units) the row lies from them: 0 for uint8 images."""
    if images.dtype == torch.uint8:
        flat = images.flatten(1)
        # x - 128 as int8 is x with its top bit flipped: 25x faster than through int16.
        return flat.bitwise_xor(128).view(torch.int8), torch.zeros(flat.shape[0], dtype=torch.float64)
    flat = images.flatten(1)
    levels = torch.empty(flat.shape, dtype=torch.int8)
    rounding = torch.empty(flat.shape[0], dtype=torch.float64)
    # LEVELS_AT_ONCE rows at a time, so each step's temporaries stay in cache: 4.5x faster than the
    # whole batch at once (10,000 Fashion-MNIST-sized images: 0.05 s against 0.25 s), the same values.
    for start in range(0, flat.shape[0], LEVELS_AT_ONCE):
        rows = flat[start:start + LEVELS_AT_ONCE]
        # The levels in float32 (integers, exact; 2x faster than float64): a pixel halfway between
        # two may take either, which the bound allows, since ``rounding`` is measured in float64
        # from the levels taken.
        taken = ((rows.float() + 1) * (1 / LEVEL)).round_().clamp_(0, 255)
        rounding[start:start + LEVELS_AT_ONCE] = (rows.double() - (taken.double() * LEVEL - 1)).norm(dim=1)
        levels[start:start + LEVELS_AT_ONCE] = taken.sub_(128)
    return levels, rounding


def _square_norms(levels: torch.Tensor) -> torch.Tensor:
    """Each row's sum of squared levels, exactly, as int64: a float32 sum of integers is exact while
    every partial sum stays below 2^24 (depth <= 1,024), float64 beyond. 4x faster than an int64 sum."""
    dtype = torch.float32 if levels.shape[1] * 128 * 128 < 2 ** 24 else torch.float64
    return levels.to(dtype).pow_(2).sum(dim=1).long()


def _integer_products(rows: torch.Tensor, pool: torch.Tensor,
                      out: torch.Tensor | None = None) -> torch.Tensor:
    """rows @ pool.T of int8 levels, exactly: int32 products (into ``out`` when given) over slices of
    the depth short enough not to overflow, summed in int64 when there are several. ``pool`` is the
    levels as int8 (``torch._int_mm``) or as float32 (:func:`_float32_product`): see :func:`_pool_for`."""
    depth = rows.shape[1]
    if depth <= INT32_DEPTH:
        return _int32_product(rows, pool, out)
    return sum(_int32_product(rows[:, start:start + INT32_DEPTH], pool[:, start:start + INT32_DEPTH]).long()
               for start in range(0, depth, INT32_DEPTH))


def _int32_product(rows: torch.Tensor, pool: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    if pool.dtype == torch.float32:
        return _float32_product(rows, pool, out)
    return torch._int_mm(rows, pool.T) if out is None else torch._int_mm(rows, pool.T, out=out)


def _float32_product(rows: torch.Tensor, pool: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """rows (int8) @ pool (float32 levels).T as int32, exactly: float32 products of at most
    ``FLOAT32_DEPTH`` levels, whose sums are exact integers, written in place over ``out``'s own
    memory (an int32 and a float32 are both 4 bytes) and turned into int32 there."""
    out = torch.empty(len(rows), len(pool), dtype=torch.int32) if out is None else out
    scratch = out.view(torch.float32)
    with _ieee_float32():
        for start in range(0, rows.shape[1], FLOAT32_DEPTH):
            depth = slice(start, start + FLOAT32_DEPTH)
            if start == 0:
                out.copy_(torch.mm(rows[:, depth].float(), pool[:, depth].T, out=scratch))
            else:  # deeper images (RGB): each slice exact, their sum taken in int32
                out.add_(torch.mm(rows[:, depth].float(), pool[:, depth].T).to(torch.int32))
    return out


@contextlib.contextmanager
def _ieee_float32():
    """Full float32 products while the search runs: ``torch.set_float32_matmul_precision("medium")``
    (a user's, for training) lets oneDNN compute a CPU float32 product in bf16, which is not exact."""
    matmul = getattr(torch.backends.mkldnn, "matmul", None)
    previous = getattr(matmul, "fp32_precision", None)
    if previous is None or previous == "ieee":
        yield
        return
    matmul.fp32_precision = "ieee"
    try:
        yield
    finally:
        matmul.fp32_precision = previous


@functools.cache
def _int8_products_faster() -> bool:
    """Whether this CPU's int8 product (``torch._int_mm``) outruns a float32 product of the same
    levels. With VNNI it ran 3-5x a float32 one; on AVX2 alone 23x slower (5 against 115 G/s, 2 cores),
    which would make an evaluation minutes long. Timed once per process on a 256 x 1,024 x 784 product,
    after a first call that sets the kernel up (0.2 s at worst); a build without the int8 kernel takes
    float32."""
    generator = torch.Generator().manual_seed(0)
    rows, pool = (torch.randint(-128, 128, (size, 784), dtype=torch.int8, generator=generator)
                  for size in (256, 1024))
    try:
        int8 = _seconds(lambda: torch._int_mm(rows, pool.T))
    except (RuntimeError, AttributeError):
        return False
    floats, pool_floats = rows.float(), pool.float()
    return int8 < _seconds(lambda: torch.mm(floats, pool_floats.T))


def _seconds(work: Any) -> float:
    work()  # the first call sets the kernel up: not timed
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def _pool_for(pool_levels: torch.Tensor) -> torch.Tensor:
    """The pool's int8 levels in the form this CPU multiplies fastest, exactly (int8 or float32)."""
    return pool_levels if _int8_products_faster() else pool_levels.float()
