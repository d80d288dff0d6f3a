"""A lower bound on pixel distances from a few principal directions: what lets the exact pixel
search (gankit/evaluate/memorisation.py) skip most training images where its full product is slow.

For two images a and b (their 8-bit levels, centred on the pool's mean), an orthonormal basis P of
the pool's top ``RANK`` principal directions, ``p = P^T x`` and ``rho = ||x - P p||`` (what P
leaves of x):

    ||a - b||^2 = ||p_a - p_b||^2 + ||(a - P p_a) - (b - P p_b)||^2 >= ||p_a - p_b||^2 + (rho_a - rho_b)^2

(Pythagoras, then the triangle inequality on what P leaves). With ``m = ||p||^2 + rho^2`` the bound
is ``m_a + m_b - 2 (p_a . p_b + rho_a rho_b)``: one float32 product of depth ``RANK + 2`` for a block
against the whole pool, 6x less arithmetic than the levels' own product (depth 784). A pool image
whose bound exceeds what a row's nearest can be is not its nearest.

The bound is computed in float32; :meth:`PixelBound.within` keeps every image whose bound is within
``MARGIN (m_a + m_b)`` of the limit. The product's own error is at most about ``(RANK + 5) u (m_a +
2 m_b)``, u = 2^-24 float32's unit roundoff: 1.6e-5 (m_a + m_b), a sixth of the margin. The rest
(mean, basis, p, rho) is float64, whose errors are 1e-12 of these.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from gankit.evaluate.level_products import _square_norms

RANK = 128  # principal directions: on Fashion-MNIST a median of 26 candidates per generated image
MARGIN = 1e-4  # of m_a + m_b: what the float32 bound may be off by, six times over
SAMPLE = 4096  # pool images the directions are found from (a seeded sample: any basis is valid)
CHUNK = 8192  # pool images projected at a time (float64)


@dataclass
class PixelBound:
    """The pool's side of the bound, computed once per pool (``of``)."""

    mean: torch.Tensor  # (D,) float64
    basis: torch.Tensor  # (D, RANK) float64, orthonormal columns
    pool_side: torch.Tensor  # (M, RANK + 2) float32: [p_b, rho_b, (1 - MARGIN) m_b]

    @classmethod
    def of(cls, pool_levels: torch.Tensor) -> PixelBound:
        """The bound for a pool of int8 levels (M, D), D > RANK."""
        chosen = torch.randperm(len(pool_levels), generator=torch.Generator().manual_seed(0))[:SAMPLE]
        mean = pool_levels.sum(dim=0, dtype=torch.int64).double() / len(pool_levels)  # the sum is exact
        centred = pool_levels[chosen].double() - mean
        basis = torch.linalg.eigh(centred.T @ centred).eigenvectors[:, -RANK:].contiguous()
        bound = cls(mean, basis, torch.empty(0))
        sides = [bound._side(chunk) for chunk in pool_levels.split(CHUNK)]
        bound.pool_side = torch.cat([torch.cat([p, rho[:, None], ((1 - MARGIN) * m)[:, None]], dim=1).float()
                                     for p, rho, m in sides])
        return bound

    def record(self) -> dict[str, torch.Tensor]:
        """What the evaluation cache stores of the bound (gankit/evaluate/reference.py)."""
        return {"mean": self.mean, "basis": self.basis, "pool_side": self.pool_side}

    @classmethod
    def from_record(cls, record: object, pool_size: int, depth: int) -> PixelBound:
        """A stored bound for a pool of ``pool_size`` images of ``depth`` levels, checked: ValueError
        unless every part has its dtype, shape and finite values (the key and checksum already tie it
        to these very images; a stored basis whose columns are not orthonormal is refused too, since
        the bound holds only for one that is)."""
        shapes = {"mean": ((depth,), torch.float64), "basis": ((depth, RANK), torch.float64),
                  "pool_side": ((pool_size, RANK + 2), torch.float32)}
        if not isinstance(record, dict) or set(record) != set(shapes):
            raise ValueError("the pixel bound is not a mean, a basis and the pool's side")
        for name, (shape, dtype) in shapes.items():
            value = record[name]
            if not isinstance(value, torch.Tensor) or value.dtype != dtype or tuple(value.shape) != shape \
                    or not torch.isfinite(value).all():
                raise ValueError(f"the pixel bound's {name} is not {shape} finite {dtype}")
        basis = record["basis"]
        if not torch.allclose(basis.T @ basis, torch.eye(RANK, dtype=torch.float64), atol=1e-9):
            raise ValueError("the pixel bound's basis is not orthonormal")
        return cls(record["mean"], basis, record["pool_side"])

    def _side(self, levels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """p, rho and m = ||p||^2 + rho^2 of rows of levels, in float64, from one product with the
        basis and the mean beside it (no centred copy): ||x - mean||^2 = ||x||^2 - 2 x.mean + ||mean||^2."""
        products = levels.double() @ torch.cat([self.basis, self.mean[:, None]], dim=1)
        p = products[:, :-1] - self.mean @ self.basis
        centred = _square_norms(levels).double() - 2 * products[:, -1] + self.mean.pow(2).sum()
        projected = p.pow(2).sum(dim=1)
        rho = (centred - projected).clamp_min(0).sqrt()
        return p, rho, projected + rho.pow(2)

    def lower(self, rows: torch.Tensor, out: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """For rows of int8 levels (B, D): the (B, M) float32 matrix ``(1 - MARGIN) m_b - 2 (p_a . p_b
        + rho_a rho_b)`` (the bound, less ``m_a`` and ``MARGIN m_b``; into ``out`` when given), and
        the rows' m_a (float64). Ordered like the bound along a row, up to the margin."""
        p, rho, m = self._side(rows)
        side = torch.cat([-2 * p, -2 * rho[:, None], torch.ones(len(rows), 1, dtype=torch.float64)], dim=1)
        return torch.mm(side.float(), self.pool_side.T, out=out), m

    @staticmethod
    def within(lower: torch.Tensor, row_m: torch.Tensor, squared: torch.Tensor) -> torch.Tensor:
        """(B, M) bool: the pool images that may lie within ``squared`` (a row's squared distance, in
        levels) of each row: every one whose bound is at most that, and some more."""
        # bound <= squared + MARGIN (m_a + m_b)  <=>  lower <= squared - (1 - MARGIN) m_a; the float32
        # comparison is given a little more (its limit's own rounding, and one level^2).
        limit = squared - (1 - MARGIN) * row_m
        limit = limit + 1e-6 * (squared.abs() + row_m) + 1
        return lower <= limit.float()[:, None]
