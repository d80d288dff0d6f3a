"""The loss plot: D's and G's loss over training, from a run's ``metrics.jsonl``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gankit._io import atomic_path


def plot_losses(records: list[dict[str, Any]], path: Path, title: str = "") -> None:
    """Draw D's and G's loss per epoch. Uses matplotlib's object API with the Agg canvas (no
    pyplot): safe on servers and on the engine's writer thread."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    epochs = [r for r in records if r.get("event") == "epoch"]
    if not epochs:
        return
    figure = Figure(figsize=(7, 4), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    x = [r["epoch"] for r in epochs]
    axes.plot(x, [r["d_loss"] for r in epochs], label="D loss", marker="o" if len(x) < 30 else None)
    axes.plot(x, [r["g_loss"] for r in epochs], label="G loss", marker="o" if len(x) < 30 else None)
    axes.set_xlabel("epoch")
    axes.set_ylabel("loss (epoch mean)")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend()
    # Fixed margins, not tight_layout(): that lays the figure out by drawing it once more, half
    # the cost of a plot redrawn after every epoch (issue 10).
    figure.subplots_adjust(left=0.11, right=0.98, bottom=0.12, top=0.92)
    with atomic_path(Path(path)) as temp:
        figure.savefig(temp, format="png")


def plot_loss_overlay(results: dict[str, Any], path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    from gankit.runs import read_metrics

    figure = Figure(figsize=(11, 4), dpi=100)
    FigureCanvasAgg(figure)
    d_axis, g_axis = figure.subplots(1, 2)
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
    with atomic_path(Path(path)) as temp:
        figure.savefig(temp, format="png")
