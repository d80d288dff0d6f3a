"""Timelapses: a run's per-epoch sample grids (``samples/epoch_XXXX.png``, drawn from the same
fixed noise every epoch) as one animated GIF and/or MP4, with the epoch drawn under each frame.

The frames are chosen under a budget (:func:`pick_epochs`): the first epoch, every k-th, and the
last, with the smallest k that keeps the count within ``frames``. ``DEFAULT_FRAMES`` is 50: a frame
of the tutorial's 4x4 digits is about 35 KB of GIF at the grids' 366 px (measured: the 200-epoch
vanilla run, 41 frames, 1.45 MB; its MP4 0.5 MB), so 50 frames keep the GIF under 2 MB, and at
``DEFAULT_FPS`` they play for 5 s before the last frame holds for ``DEFAULT_HOLD_S``.

A run that is still training, or was interrupted, is read as it is: the grids present are used,
and a grid that cannot be read (one being written by a process that does not write atomically, a
damaged file) is skipped with a note, never an error. Grids of different sizes (a run resumed by
another gankit) are centred on the largest. Files are written atomically (:mod:`gankit._io`).
The MP4 needs ``gankit[media]`` (imageio and its bundled ffmpeg); the GIF needs only Pillow.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gankit.animation import (DEFAULT_FPS, DEFAULT_HOLD_S, MAX_FPS, caption, centred, mp4_support, scaled,
                              stacked, write_gif, write_mp4)
from gankit.errors import GankitError
from gankit.runs import CONFIG_FILE, SAMPLES_DIR

DEFAULT_FRAMES = 50  # see the module's docstring: under 2 MB of GIF for the tutorial's grids
FORMATS = ("gif", "mp4", "both")
GRID_NAME = re.compile(r"epoch_(\d+)\.png")


@dataclass(frozen=True)
class Grid:
    """One epoch's sample grid in a run folder."""

    epoch: int
    path: Path


@dataclass
class Timelapse:
    """What :func:`make_timelapse` wrote: the files, the epochs shown, and notes for the user."""

    paths: list[Path]
    epochs: list[int]
    total_epochs: int
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line: the files, and which epochs their frames show."""
        count = len(self.epochs)
        return (f"{', '.join(str(path) for path in self.paths)}: {count} frame{'s' if count != 1 else ''}, "
                f"epochs {self.epochs[0]}-{self.epochs[-1]} of {self.total_epochs}")


# -- finding and choosing the grids -----------------------------------------------------------

def samples_folder(run_dir: Path) -> Path:
    """The folder of ``run_dir``'s grids (``RUN/samples``; ``RUN/samples`` itself is taken too);
    a missing or wrong folder is one line."""
    run_dir = Path(run_dir)
    if not run_dir.exists():
        raise GankitError(f"'{run_dir}' does not exist; pass a run folder (the --out of gankit train).")
    if not run_dir.is_dir():
        raise GankitError(f"'{run_dir}' is a file, not a run folder; pass the folder gankit train wrote.")
    if (run_dir / SAMPLES_DIR).is_dir():
        return run_dir / SAMPLES_DIR
    if any(GRID_NAME.fullmatch(path.name) for path in run_dir.iterdir()):
        return run_dir
    if not (run_dir / CONFIG_FILE).is_file():
        raise GankitError(f"'{run_dir}' is not a run folder: it has no {CONFIG_FILE} and no {SAMPLES_DIR}/. "
                          "Pass the folder gankit train wrote (its --out).")
    raise GankitError(f"'{run_dir}' has no sample grids yet ({SAMPLES_DIR}/epoch_XXXX.png, written at "
                      "the end of each epoch): train at least one epoch first.")


def list_grids(folder: Path) -> list[Grid]:
    """The grids in ``folder`` by epoch; temporary files of a write in progress are not grids."""
    grids = [Grid(int(match.group(1)), path) for path in folder.iterdir()
             if (match := GRID_NAME.fullmatch(path.name)) and path.is_file()]
    return sorted(grids, key=lambda grid: grid.epoch)


def pick_epochs(epochs: list[int], *, frames: int | None = None, every: int | None = None) -> list[int]:
    """The epochs shown: the first, each multiple of k, and the last. ``every`` sets k; else k is
    the smallest that keeps the count within ``frames`` (:data:`DEFAULT_FRAMES`)."""
    epochs = sorted(set(epochs))
    if not epochs:
        return []
    if every is None:
        budget = max(2, frames or DEFAULT_FRAMES)
        every = 1
        while len(_every_kth(epochs, every)) > budget:
            every += 1
    return _every_kth(epochs, every)


def _every_kth(epochs: list[int], k: int) -> list[int]:
    chosen = {epochs[0], epochs[-1], *(epoch for epoch in epochs if epoch % k == 0)}
    return sorted(chosen)


def run_record(run_dir: Path) -> tuple[str | None, int | None]:
    """The run's variant and the epochs it was started for, from its ``config.json`` (beside
    ``samples/``, or above it), as far as it says; a timelapse needs neither."""
    for folder in (Path(run_dir), Path(run_dir).parent):
        try:
            saved = json.loads((folder / CONFIG_FILE).read_text())
        except (OSError, ValueError):
            continue
        variant, epochs = saved.get("variant"), (saved.get("config") or {}).get("epochs")
        return (variant if isinstance(variant, str) else None,
                epochs if isinstance(epochs, int) and epochs > 0 else None)
    return None, None


# -- reading the grids ------------------------------------------------------------------------

class GridReader:
    """Opens grids once each; one that cannot be read is remembered with a note, never raised.
    Given the run's ``variant``, a grid's own label ("VARIANT, epoch N", drawn by training) is
    cut off where it is exactly that label, so that a frame's caption says it once."""

    def __init__(self, variant: str | None = None) -> None:
        self.variant = variant
        self.images: dict[Path, Any] = {}
        self.notes: list[str] = []

    def read(self, grid: Grid) -> Any | None:
        from PIL import Image

        if grid.path not in self.images:
            try:
                with Image.open(grid.path) as image:
                    image.load()  # a truncated file fails here, not later while drawing
                    self.images[grid.path] = self.unlabelled(image.convert("RGB"), grid.epoch)
            except (OSError, ValueError, SyntaxError) as error:  # PIL's errors for a bad file
                self.images[grid.path] = None
                self.notes.append(f"skipped {grid.path.name}: it could not be read ({error}); a grid "
                                  "still being written is read on the next run.")
        return self.images[grid.path]

    def unlabelled(self, image: Any, epoch: int) -> Any:
        """``image`` without its label strip, if its top is the strip training drew for ``epoch``
        (rendered again here, pixel for pixel; anything else, an older grid, is kept whole)."""
        from PIL import ImageChops

        from gankit.images import _label_strip  # the one drawing of a grid's label

        if self.variant is None:
            return image
        strip = _label_strip(f"{self.variant}, epoch {epoch}", image.width)
        if strip.height >= image.height:
            return image
        top = image.crop((0, 0, image.width, strip.height))
        if ImageChops.difference(top, strip.convert("RGB")).getbbox() is not None:
            return image
        return image.crop((0, strip.height, image.width, image.height))

    def newest_readable(self, grids: list[Grid]) -> list[Grid]:
        """``grids`` up to the newest one that can be read (a half-written newest is dropped)."""
        end = len(grids)
        while end and self.read(grids[end - 1]) is None:
            end -= 1
        return grids[:end]


# -- drawing the frames -----------------------------------------------------------------------

def epoch_label(epoch: int, total: int, variant: str | None = None) -> str:
    return (f"{variant}, " if variant else "") + f"epoch {epoch} / {total}"


def run_frames(images: list[Any], epochs: list[int], total: int, *, variant: str | None = None,
               width: int | None = None) -> list[Any]:
    """One frame per grid: the grid (centred on the largest, scaled to ``width``) over its
    caption, the epoch of ``total`` and a bar filled that far."""
    size = (max(image.width for image in images), max(image.height for image in images))
    frames = []
    for image, epoch in zip(images, epochs):
        grid = scaled(centred(image, size), width)
        label = caption(epoch_label(epoch, total, variant), grid.width, progress=epoch / total)
        frames.append(stacked(grid, label))
    return frames


# -- the command's whole job ------------------------------------------------------------------

def output_paths(run_dir: Path, out: Path | None, formats: str | None) -> list[Path]:
    """Where the files go: ``RUN/timelapse.gif`` and ``.mp4`` by default; ``--out`` a folder, or a
    file whose ``.gif`` / ``.mp4`` suffix also sets the format when ``formats`` is not given."""
    if formats is not None and formats not in FORMATS:
        raise GankitError(f"--format {formats}: expected gif, mp4 or both.")
    base = Path(run_dir) / "timelapse"
    if out is not None:
        out = Path(out)
        base = out / "timelapse" if out.is_dir() else out
    suffix = base.suffix.lower().lstrip(".")
    if suffix in ("gif", "mp4"):
        if formats not in (None, "both", suffix):
            raise GankitError(f"--out {out} is a .{suffix} file but --format is {formats}; "
                              f"drop one, or name the file .{formats}.")
        formats = formats or suffix
        base = base.with_suffix("")
    chosen = ("gif", "mp4") if formats in (None, "both") else (formats,)
    return [base.with_name(f"{base.name}.{kind}") for kind in chosen]


def check_settings(frames: int | None, every: int | None, fps: float, hold: float,
                   width: int | None) -> None:
    """The timelapse options, each checked with what to pass instead."""
    if frames is not None and every is not None:
        raise GankitError("Pass --frames N (a budget) or --every K (every K-th epoch), not both.")
    if frames is not None and frames < 2:
        raise GankitError(f"--frames must be at least 2 (the first epoch and the last), got {frames}.")
    if every is not None and every < 1:
        raise GankitError(f"--every must be a whole number of epochs, 1 or more; got {every}.")
    if not 0 < fps <= MAX_FPS:
        raise GankitError(f"--fps must be above 0 and at most {MAX_FPS} (browsers slow faster GIFs "
                          f"down), got {fps:g}.")
    if not 0 <= hold <= 60:
        raise GankitError(f"--hold must be 0 to 60 seconds, got {hold:g}.")
    if width is not None and not 16 <= width <= 4096:
        raise GankitError(f"--width must be 16 to 4096 px, got {width}.")


def make_timelapse(run_dir: Path, *, out: Path | None = None, formats: str | None = None,
                   frames: int | None = None, every: int | None = None, fps: float = DEFAULT_FPS,
                   hold: float = DEFAULT_HOLD_S, width: int | None = None) -> Timelapse:
    """The run's grids as a GIF and/or MP4 (see the module's docstring). Without ``gankit[media]``
    and no explicit ``formats``, the GIF is written and a note says how to get the MP4."""
    check_settings(frames, every, fps, hold, width)
    paths = output_paths(run_dir, out, formats)
    if [path.suffix for path in paths] == [".mp4"]:
        mp4_support()  # asked for the MP4 alone: say what is missing before reading anything
    variant, planned = run_record(run_dir)
    reader = GridReader(variant)
    folder = samples_folder(run_dir)
    grids = list_grids(folder)
    if not grids:
        raise GankitError(f"'{run_dir}' has no sample grids yet ({SAMPLES_DIR}/epoch_XXXX.png, written "
                          "at the end of each epoch): train at least one epoch first.")
    readable = reader.newest_readable(grids)
    if not readable:
        raise GankitError(f"None of the {len(grids)} sample grids in '{folder}' could be read: "
                          f"{reader.notes[0]}")
    by_epoch = {grid.epoch: grid for grid in readable}
    chosen = [by_epoch[epoch] for epoch in pick_epochs(list(by_epoch), frames=frames, every=every)]
    shown = [(grid.epoch, image) for grid in chosen if (image := reader.read(grid)) is not None]
    last = shown[-1][0]
    total = max(planned or last, last)
    pictures = run_frames([image for _, image in shown], [epoch for epoch, _ in shown], total,
                          variant=variant, width=width)
    written, notes = write_formats(pictures, paths, fps, hold)
    return Timelapse(written, [epoch for epoch, _ in shown], total, reader.notes + notes)


def write_formats(frames: list[Any], paths: list[Path], fps: float,
                  hold: float) -> tuple[list[Path], list[str]]:
    """Write each path's format; an MP4 without ``gankit[media]`` is an error when it is all that
    was asked for, else a note beside the GIF."""
    written, notes = [], []
    for path in paths:
        if path.suffix == ".mp4":
            try:
                mp4_support()
            except GankitError as error:
                if len(paths) == 1:
                    raise
                notes.append(f"no MP4: {error}")
                continue
            write_mp4(frames, path, fps, hold)
        else:
            write_gif(frames, path, fps, hold)
        written.append(path)
    return written, notes
