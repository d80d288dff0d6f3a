"""The comparison's sample figures, drawn from images, never from generators: the side-by-side
samples (one panel per variant); the loss curves are :func:`gankit.plots.plot_loss_overlay`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gankit._io import atomic_path

PANEL_COLUMNS = 10  # samples per row of a panel
UNCONDITIONAL_ROWS = 10


@dataclass
class Panel:
    """One variant's pictured samples: images in [-1, 1], and how many rows of ``PANEL_COLUMNS``."""

    images: Any
    rows: int
    conditional: bool


def save_side_by_side(panels: dict[str, Panel], path: Path) -> None:
    """One panel per variant, side by side, each a grid of ``PANEL_COLUMNS`` columns drawn as the
    run's own sample grids are (:func:`gankit.images.grid_pixels`: the same light grey separators)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gankit.images import grid_pixels

    figure, axes = plt.subplots(1, len(panels), figsize=(3.4 * len(panels), 3.8), dpi=110,
                                squeeze=False)
    for axis, (label, panel) in zip(axes[0], panels.items()):
        images, rows = panel.images, panel.rows
        grid = grid_pixels(images, PANEL_COLUMNS).numpy()  # the run grids' cells and separators
        axis.imshow(grid, interpolation="nearest")
        axis.set_title(label + (" (one row per class)" if panel.conditional else ""), fontsize=10)
        axis.set_xticks([])
        if panel.conditional:
            cell = grid.shape[0] / rows
            axis.set_yticks([cell * (row + 0.5) for row in range(rows)], [str(r) for r in range(rows)],
                            fontsize=7)
        else:
            axis.set_yticks([])
    figure.tight_layout()
    _save_figure(figure, path)


def _save_figure(figure: Any, path: Path) -> None:
    import matplotlib.pyplot as plt

    with atomic_path(path) as temp:
        figure.savefig(temp, format="png")
    plt.close(figure)
