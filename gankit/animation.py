"""Animations from still images: the captions drawn under (or over) a frame, and the frames
written as an endlessly looping GIF (Pillow) or an H.264 MP4 (``gankit[media]``: imageio with the
ffmpeg its wheel ships), atomically (:mod:`gankit._io`). :mod:`gankit.timelapse` makes a run's
frames; compare's side-by-side timelapse (:mod:`gankit.compare.figures`) makes its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gankit._io import atomic_path
from gankit.errors import GankitError

DEFAULT_FPS = 10.0
DEFAULT_HOLD_S = 2.0  # the last frame stays this long, so the result is seen before the loop
MAX_FPS = 50  # browsers play a GIF delay under 20 ms as 100 ms
MEDIA_EXTRA = "pip install 'gankit[media]'"
BACKGROUND = (204, 204, 204)  # gankit.images.SEPARATOR: the grids' own frame colour
INK = (24, 24, 24)  # gankit.images.LABEL_INK
BAR = (70, 110, 180)  # the progress bar under a caption


def font(size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)  # Pillow >= 10.1: the bundled scalable font
    except TypeError:  # an older Pillow: its one bitmap size
        return ImageFont.load_default()


def centred(image: Any, size: tuple[int, int]) -> Any:
    """``image`` in the middle of a ``size`` canvas of the grids' frame grey."""
    from PIL import Image

    if image.size == size:
        return image
    canvas = Image.new("RGB", size, BACKGROUND)
    canvas.paste(image, ((size[0] - image.width) // 2, (size[1] - image.height) // 2))
    return canvas


def scaled(image: Any, width: int | None) -> Any:
    """``image`` at ``width`` px wide (nearest neighbour: a grid's pixels stay sharp)."""
    from PIL import Image

    if width is None or width == image.width:
        return image
    height = max(1, round(image.height * width / image.width))
    return image.resize((width, height), Image.Resampling.NEAREST)


def caption(text: str, width: int, *, progress: float | None = None) -> Any:
    """A strip ``width`` px wide: ``text`` centred, and under it a bar filled to ``progress``."""
    from PIL import Image, ImageDraw

    size = min(28, max(10, width // 20))
    face = font(size)
    while size > 8 and face.getbbox(text)[2] - face.getbbox(text)[0] > width - 2 * size:
        size -= 1
        face = font(size)
    top, bottom = face.getbbox("Ag")[1], face.getbbox("Ag")[3]  # one height whatever the text
    margin = max(3, size // 3)
    bar = 0 if progress is None else max(3, size // 4)
    strip = Image.new("RGB", (width, bottom - top + 2 * margin + (bar + margin if bar else 0)), BACKGROUND)
    draw = ImageDraw.Draw(strip)
    left, _, right, _ = face.getbbox(text)
    draw.text(((width - (right - left)) // 2 - left, margin - top), text, font=face, fill=INK)
    if bar:
        y = bottom - top + 2 * margin
        inset = max(4, width // 30)
        draw.rectangle((inset, y, width - inset - 1, y + bar - 1), fill=(236, 236, 236))
        filled = inset + round((width - 2 * inset) * min(1.0, max(0.0, progress or 0.0)))
        if filled > inset:
            draw.rectangle((inset, y, filled - 1, y + bar - 1), fill=BAR)
    return strip


def stacked(top: Any, bottom: Any) -> Any:
    from PIL import Image

    picture = Image.new("RGB", (max(top.width, bottom.width), top.height + bottom.height), BACKGROUND)
    picture.paste(top, (0, 0))
    picture.paste(bottom, (0, top.height))
    return picture


def _even(frames: list[Any], multiple: int) -> list[Any]:
    """Frames padded to a common size that is a multiple of ``multiple`` (H.264 wants 16)."""
    width = max(frame.width for frame in frames)
    height = max(frame.height for frame in frames)
    size = (-(-width // multiple) * multiple, -(-height // multiple) * multiple)
    return [centred(frame, size) for frame in frames]


def _all_grey(frames: list[Any]) -> bool:
    from PIL import ImageChops

    for frame in frames:
        red, green, blue = frame.split()
        if ImageChops.difference(red, green).getbbox() or ImageChops.difference(red, blue).getbbox():
            return False
    return True


def write_gif(frames: list[Any], path: Path, fps: float = DEFAULT_FPS, hold: float = DEFAULT_HOLD_S) -> None:
    """An endlessly looping GIF; the last frame stays ``hold`` seconds. Grey frames are written
    in grey (a quarter of an RGB palette's bytes); colour ones get a palette each."""
    frames = _even(frames, 1)
    if _all_grey(frames):
        frames = [frame.convert("L") for frame in frames]
    step = max(20, round(1000 / fps))
    durations = [step] * (len(frames) - 1) + [max(step, round(1000 * hold))]
    with atomic_path(Path(path)) as temp:
        frames[0].save(temp, format="GIF", save_all=True, append_images=frames[1:], loop=0,
                       duration=durations if len(frames) > 1 else durations[0])


def mp4_support() -> Any:
    """imageio's v2 API with its ffmpeg, or one line naming the extra that brings them."""
    try:
        import imageio.v2 as imageio
        import imageio_ffmpeg  # noqa: F401  (the ffmpeg binary inside the wheel)
    except ImportError:
        raise GankitError(f"Writing an MP4 needs imageio and imageio-ffmpeg: {MEDIA_EXTRA} "
                          "(or choose --format gif, which needs nothing more).") from None
    return imageio


def write_mp4(frames: list[Any], path: Path, fps: float = DEFAULT_FPS, hold: float = DEFAULT_HOLD_S) -> None:
    """An H.264 MP4 (yuv420p, which every player plays); the last frame repeats for ``hold`` s."""
    import numpy

    imageio = mp4_support()
    frames = _even(frames, 16)
    repeats = [1] * (len(frames) - 1) + [max(1, round(hold * fps))]
    with atomic_path(Path(path)) as temp:
        writer = imageio.get_writer(temp, format="FFMPEG", mode="I", fps=fps, codec="libx264",
                                    pixelformat="yuv420p", macro_block_size=16,
                                    quality=None)  # x264's own CRF 23: 0.5 MB where imageio's 7 made 0.9
        try:
            for frame, count in zip(frames, repeats):
                pixels = numpy.asarray(frame)
                for _ in range(count):
                    writer.append_data(pixels)
        finally:
            writer.close()
