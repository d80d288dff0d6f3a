"""The comparison's figures, drawn from images and metrics, never from generators: the side-by-side
samples (one panel per variant) and the overlaid loss curves."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gankit._io import atomic_path
from gankit.runs import read_metrics

PANEL_COLUMNS = 10  # samples per row of a panel
UNCONDITIONAL_ROWS = 10


@dataclass
class Panel:
    """One variant's pictured samples: images in [-1, 1], and how many rows of ``PANEL_COLUMNS``."""

    images: Any
    rows: int
    conditional: bool


def save_side_by_side(panels: dict[str, Panel], path: Path) -> None:
    """One panel per variant, side by side, each a grid of ``PANEL_COLUMNS`` columns."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from torchvision.utils import make_grid

    figure, axes = plt.subplots(1, len(panels), figsize=(3.4 * len(panels), 3.8), dpi=110,
                                squeeze=False)
    for axis, (label, panel) in zip(axes[0], panels.items()):
        images, rows = panel.images, panel.rows
        grid = make_grid(images, nrow=PANEL_COLUMNS, normalize=True, value_range=(-1, 1),
                         padding=2, pad_value=1.0)
        axis.imshow(grid.permute(1, 2, 0).numpy(), interpolation="nearest")
        axis.set_title(label + (" (one row per class)" if panel.conditional else ""), fontsize=10)
        axis.set_xticks([])
        if panel.conditional:
            cell = grid.shape[1] / rows
            axis.set_yticks([cell * (row + 0.5) for row in range(rows)], [str(r) for r in range(rows)],
                            fontsize=7)
        else:
            axis.set_yticks([])
    figure.tight_layout()
    _save_figure(figure, path)


def save_loss_overlay(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    figure, (d_axis, g_axis) = plt.subplots(1, 2, figsize=(11, 4), dpi=100)
    for variant in results["variants"]:
        curves: dict[int, list[tuple[float, float]]] = {}
        for run in variant["runs"]:
            for record in read_metrics(Path(run["run_dir"])):
                if record.get("event") == "epoch":
                    curves.setdefault(record["epoch"], []).append((record["d_loss"], record["g_loss"]))
        epochs = sorted(curves)
        if not epochs:
            continue
        marker = "o" if len(epochs) < 30 else None
        for axis, index in ((d_axis, 0), (g_axis, 1)):
            means = [sum(pair[index] for pair in curves[e]) / len(curves[e]) for e in epochs]
            axis.plot(epochs, means, label=variant["name"], marker=marker)
    for axis, name in ((d_axis, "D loss"), (g_axis, "G loss")):
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.set_xlabel("epoch")
        axis.set_ylabel(f"{name} (epoch mean" + (", mean over seeds)" if results["seeds"] > 1 else ")"))
        axis.set_title(name)
        axis.grid(alpha=0.3)
        axis.legend()
    figure.tight_layout()
    _save_figure(figure, path)


def _save_figure(figure: Any, path: Path) -> None:
    import matplotlib.pyplot as plt

    with atomic_path(path) as temp:
        figure.savefig(temp, format="png")
    plt.close(figure)
