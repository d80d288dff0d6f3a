"""The loss plot: D's and G's loss over training, from a run's ``metrics.jsonl``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gankit._io import atomic_path


def plot_losses(records: list[dict[str, Any]], path: Path, title: str = "") -> None:
    """Draw the windowed losses logged during training (or the per-epoch means if that is all)."""
    import matplotlib

    matplotlib.use("Agg")  # no display needed; safe on servers and in tests
    import matplotlib.pyplot as plt

    epochs = [r for r in records if r.get("event") == "epoch"]
    if not epochs:
        return
    figure, axes = plt.subplots(figsize=(7, 4), dpi=100)
    x = [r["epoch"] for r in epochs]
    axes.plot(x, [r["d_loss"] for r in epochs], label="D loss", marker="o" if len(x) < 30 else None)
    axes.plot(x, [r["g_loss"] for r in epochs], label="G loss", marker="o" if len(x) < 30 else None)
    axes.set_xlabel("epoch")
    axes.set_ylabel("loss (epoch mean)")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    with atomic_path(Path(path)) as temp:
        figure.savefig(temp, format="png")
    plt.close(figure)
