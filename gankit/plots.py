"""The loss plots: a run's ``losses.png`` and a comparison's, from ``steps.jsonl`` and ``metrics.jsonl``.

Both draw with matplotlib's object API on the Agg canvas (no pyplot): safe on servers and on the
engine's writer thread. The curves are per step: the means of the windows the training loop reads
a few times an epoch (``steps.jsonl``), so a one-epoch trial already shows a curve; runs older than
that file show their epoch means alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gankit._io import atomic_path

LOSSES = (("d_loss", "D loss", "C0"), ("g_loss", "G loss", "C1"))
MARKERS_BELOW = 30  # epochs: fewer get a dot per epoch mean


def epoch_position(window: dict[str, Any]) -> float:
    """Where a ``steps.jsonl`` line sits in epochs: 1.5 is half-way through the second epoch."""
    return window["epoch"] - 1 + window["batch"] / window["batches"]


def plot_losses(records: list[dict[str, Any]], path: Path, title: str = "",
                steps: list[dict[str, Any]] | None = None) -> None:
    """D's and G's loss over training: ``steps`` (``steps.jsonl`` lines) as thin per-step curves,
    the epoch means of ``records`` (``metrics.jsonl`` lines) over them."""
    epochs = [r for r in records if r.get("event") == "epoch"]
    steps = steps or []
    if not epochs and not steps:
        return
    figure, axes = _figure((7, 4))
    for key, label, colour in LOSSES:
        windows = [w for w in steps if key in w]
        if windows:
            axes.plot([epoch_position(w) for w in windows], [w[key] for w in windows], color=colour,
                      linewidth=0.9, alpha=0.45 if len(epochs) > 4 else 0.85, label=f"{label} (per step)")
        means = [r for r in epochs if key in r]
        if means:
            axes.plot([r["epoch"] for r in means], [r[key] for r in means], color=colour,
                      marker="o" if len(means) < MARKERS_BELOW else None, markersize=4,
                      linewidth=1.6, label=f"{label} (epoch mean)")
    axes.set_xlabel("epoch")
    axes.set_ylabel("loss")
    axes.set_xlim(left=0)
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    # Fixed margins, not tight_layout(): that lays the figure out by drawing it once more, half
    # the cost of a plot redrawn after every epoch (issue 10).
    figure.subplots_adjust(left=0.11, right=0.98, bottom=0.12, top=0.92)
    _save(figure, path)


def plot_loss_overlay(results: dict[str, Any], path: Path) -> None:
    """A comparison's curves against G's updates: one row per loss (a critic's scale is not BCE's:
    each loss gets its own axes), D's loss on the left and G's on the right, a line per variant
    (the mean over its seeds)."""
    from matplotlib.ticker import MaxNLocator

    families: dict[str, list[dict[str, Any]]] = {}
    for variant in results["variants"]:
        families.setdefault(variant.get("recipe", {}).get("loss", "loss"), []).append(variant)
    figure, axes = _figure((11, 3.6 * len(families)), rows=len(families), columns=2)
    for row, (loss, variants) in enumerate(families.items()):
        for column, (key, label, _) in enumerate(LOSSES):
            axis = axes[row][column]
            for variant in variants:
                x, y = variant_curve(variant, key)
                if x:
                    axis.plot(x, y, label=variant["name"], linewidth=1.1,
                              marker="o" if len(x) < 3 else None)
            axis.xaxis.set_major_locator(MaxNLocator(integer=True))
            axis.set_xlabel("generator updates")
            axis.set_ylabel(label + (" (mean over seeds)" if results["seeds"] > 1 else ""))
            axis.set_title(f"{label}, loss {loss}")
            axis.grid(alpha=0.3)
            axis.legend(fontsize=8)
    figure.tight_layout()
    _save(figure, path)


def variant_curve(variant: dict[str, Any], key: str) -> tuple[list[int], list[float]]:
    """One variant's per-step curve of ``key`` against G's updates, averaged over its runs (they
    share a recipe, so their windows line up); a run without ``steps.jsonl`` gives epoch means."""
    from gankit.runs import METRICS_FILE, STEPS_FILE, read_metrics

    curves = []
    for run in variant["runs"]:
        lines = [w for w in read_metrics(Path(run["run_dir"]), STEPS_FILE) if key in w]
        if not lines:
            lines = [r for r in read_metrics(Path(run["run_dir"]), METRICS_FILE)
                     if r.get("event") == "epoch" and key in r]
        curves.append(lines)
    length = min((len(curve) for curve in curves), default=0)
    if not length:
        return [], []
    x = [curves[0][index]["step"] for index in range(length)]
    y = [sum(curve[index][key] for curve in curves) / len(curves) for index in range(length)]
    return x, y


def _figure(size: tuple[float, float], rows: int = 1, columns: int = 1) -> tuple[Any, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=size, dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, columns, squeeze=rows == 1 and columns == 1)
    return figure, axes


def _save(figure: Any, path: Path) -> None:
    with atomic_path(Path(path)) as temp:
        figure.savefig(temp, format="png")
