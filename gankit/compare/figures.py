"""The comparison's sample figures, drawn from images, never from generators: the side-by-side
samples (one panel per variant), the side-by-side timelapse of the runs' per-epoch grids (an
animated GIF, :func:`save_side_by_side_animation`); the loss curves are
:func:`gankit.plots.plot_loss_overlay`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gankit._io import atomic_path
from gankit.errors import GankitError

PANEL_COLUMNS = 10  # samples per row of a panel
UNCONDITIONAL_ROWS = 10
ANIMATION = "side_by_side.gif"
# The report embeds the GIF (base64, 4/3 of its bytes): a panel 240 px wide of the tutorial's 4x4
# grids is about 20 KB a frame (measured: two 200-epoch vanilla runs, 35 frames, 1.37 MB of GIF),
# so at most 40 frames keep it under 0.8 MB per variant.
ANIMATION_FRAMES = 40
ANIMATION_PANEL_WIDTH = 240


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


def save_side_by_side_animation(runs: dict[str, Path], path: Path) -> dict[str, Any] | None:
    """Each run's per-epoch grids (``samples/epoch_XXXX.png``) side by side as one GIF: every frame
    shows each variant at the same epoch (a variant with fewer epochs, or none saved at that one,
    holds its latest grid before it), under a frame budget (:data:`ANIMATION_FRAMES`). Returns
    what results.json records of it, or None when no run has a readable grid."""
    from gankit.animation import write_gif
    from gankit.timelapse import GridReader, list_grids, pick_epochs, run_record, samples_folder

    columns: dict[str, tuple[Any, list[Any]]] = {}  # each variant's reader and readable grids
    notes: list[str] = []
    for label, run_dir in runs.items():
        reader = GridReader(run_record(run_dir)[0])
        try:
            grids = reader.newest_readable(list_grids(samples_folder(run_dir)))
        except GankitError:  # a loaded run folder without grids: the still figure still shows it
            grids = []
        if grids:
            columns[label] = reader, grids
        notes += [f"{label}: {note}" for note in reader.notes]
    if not columns:
        return None
    last = max(grids[-1].epoch for _, grids in columns.values())
    epochs = pick_epochs([grid.epoch for _, grids in columns.values() for grid in grids],
                         frames=ANIMATION_FRAMES)
    frames = [_animation_frame(columns, epoch, last) for epoch in epochs]
    write_gif(frames, path)
    return {"file": path.name, "frames": len(frames), "epochs": epochs, "variants": list(columns),
            "notes": notes}


def _animation_frame(columns: dict[str, tuple[Any, list[Any]]], epoch: int, last: int) -> Any:
    """One frame: each variant's latest readable grid at ``epoch`` (its first if it starts later),
    captioned with the variant and the epoch it shows, side by side over the frame's epoch."""
    from PIL import Image

    from gankit.animation import BACKGROUND, caption, scaled, stacked
    from gankit.timelapse import epoch_label

    panels = []
    for label, (reader, grids) in columns.items():
        grid, image = _grid_at(grids, reader, epoch)
        picture = scaled(image, ANIMATION_PANEL_WIDTH)
        panels.append(stacked(caption(f"{label}, epoch {grid.epoch}", picture.width), picture))
    gap = 8
    width = sum(panel.width for panel in panels) + gap * (len(panels) + 1)
    height = max(panel.height for panel in panels)
    row = Image.new("RGB", (width, height + gap), BACKGROUND)
    x = gap
    for panel in panels:
        row.paste(panel, (x, gap + (height - panel.height) // 2))
        x += panel.width + gap
    return stacked(row, caption(epoch_label(epoch, last), width, progress=epoch / last))


def _grid_at(grids: list[Any], reader: Any, epoch: int) -> tuple[Any, Any]:
    """The latest readable grid at or before ``epoch``, else the earliest readable after it (the
    newest is readable: :meth:`GridReader.newest_readable`)."""
    before = [grid for grid in grids if grid.epoch <= epoch][::-1]
    after = [grid for grid in grids if grid.epoch > epoch]
    for grid in before + after:
        image = reader.read(grid)
        if image is not None:
            return grid, image
    raise AssertionError("newest_readable keeps a readable grid last")
