"""The latent traversal behind ``gankit infogan-traverse`` (Chen et al. 2016, Fig. 2)."""

from __future__ import annotations

from pathlib import Path

import torch

from gankit import GankitError, load_run


@torch.no_grad()
def traversal(generator, *, continuous: str = "c1", categorical: str | None = None,
              low: float = -2.0, high: float = 2.0, columns: int = 9, seed: int = 0):
    """Images (rows * columns, C, H, W), row-major: row r has categorical value r, column j the
    continuous code at ``linspace(low, high, columns)[j]``. One noise vector for the whole grid;
    the other continuous codes are 0, the other categorical codes value 0."""
    codes = {code.name: code for code in getattr(generator, "latent_codes", ())}
    kinds = [code for code in codes.values() if code.categories]
    if continuous not in codes or codes[continuous].categories:
        names = [name for name, code in codes.items() if not code.categories]
        raise GankitError(f"'{continuous}' is not a continuous code of this generator; it has "
                          f"{', '.join(names) or 'none'}.")
    if categorical is None and kinds:
        categorical = kinds[0].name
    if categorical is not None and (categorical not in codes or not codes[categorical].categories):
        raise GankitError(f"'{categorical}' is not a categorical code of this generator; it has "
                          f"{', '.join(code.name for code in kinds) or 'none'}.")
    rows = codes[categorical].categories if categorical else 1
    n = rows * columns
    device = next(generator.parameters()).device
    z = generator.sample_latent(1, generator=torch.Generator().manual_seed(seed)).repeat(n, 1)
    values = {name: torch.zeros(n) for name in codes}  # others: value 0 (continuous 0, class 0)
    values[continuous] = torch.linspace(low, high, columns).repeat(rows)
    if categorical:
        values[categorical] = torch.arange(rows).repeat_interleave(columns)
    z = generator.set_latent_codes(z, values).to(device)
    return generator(z), (rows, columns)


def traverse(run: Path, out: Path, *, host=None, **options) -> tuple[int, int]:
    from torchvision.utils import save_image

    loaded = load_run(run, host=host)
    if not getattr(loaded.generator, "latent_codes", ()):
        raise GankitError(f"'{run}' is a '{loaded.variant}' run, whose generator declares no latent codes.")
    images, shape = traversal(loaded.generator, **options)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_image(images.float().cpu(), out, nrow=shape[1], normalize=True, value_range=(-1, 1), padding=2)
    return shape
