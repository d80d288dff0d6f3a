"""`gankit timelapse RUN` and `gankit train --timelapse`: a real run's per-epoch grids as a GIF and
an MP4 under a frame budget, each frame labelled with its epoch; runs still training, interrupted
or resumed at another size; bad input as one line."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy
import pytest
from PIL import Image, ImageChops, ImageSequence

from gankit.animation import DEFAULT_FPS, DEFAULT_HOLD_S, caption
from gankit.testing import invoke
from gankit.timelapse import DEFAULT_FRAMES, epoch_label, pick_epochs

TINY = ["--max-images", "100", "--no-progress"]
EPOCHS = 6


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("timelapse") / "run"
    result = invoke(["train", "vanilla", "--epochs", EPOCHS, "--out", out, *TINY])
    assert result.exit_code == 0, result.output
    return out


def copy_of(run: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("timelapse.*", ".lock"))
    return copy


def gif_frames(path: Path) -> list[Image.Image]:
    with Image.open(path) as gif:
        return [frame.convert("RGB") for frame in ImageSequence.Iterator(gif)]


def gif_durations(path: Path) -> list[int]:
    with Image.open(path) as gif:
        return [frame.info["duration"] for frame in ImageSequence.Iterator(gif)]


def mp4_frame_count(path: Path) -> int:
    import imageio.v2 as imageio

    reader = imageio.get_reader(path)
    try:
        return reader.count_frames()
    finally:
        reader.close()


def label_difference(frame: Image.Image, text: str, progress: float) -> float:
    """Mean absolute pixel difference between the frame's bottom strip and ``text`` drawn there."""
    strip = caption(text, frame.width, progress=progress)
    bottom = frame.crop((0, frame.height - strip.height, frame.width, frame.height))
    return float(numpy.asarray(ImageChops.difference(bottom, strip), dtype=float).mean())


def test_a_real_run_becomes_a_gif_and_an_mp4_within_the_frame_budget(run):
    result = invoke(["timelapse", run, "--frames", "4"])
    assert result.exit_code == 0, result.output
    chosen = [1, 2, 4, 6]  # the first, every 2nd, the last: the smallest k that fits 4 frames
    assert pick_epochs(list(range(1, EPOCHS + 1)), frames=4) == chosen
    assert f"4 frames, epochs 1-{EPOCHS} of {EPOCHS}" in result.output
    frames = gif_frames(run / "timelapse.gif")
    assert len(frames) == 4
    durations = gif_durations(run / "timelapse.gif")
    assert durations[:-1] == [round(1000 / DEFAULT_FPS)] * 3 and durations[-1] == round(1000 * DEFAULT_HOLD_S)
    # The MP4 shows the same frames, the last repeated for the hold.
    assert mp4_frame_count(run / "timelapse.mp4") == 3 + round(DEFAULT_HOLD_S * DEFAULT_FPS)
    # Each frame is labelled with its own epoch, and with no other.
    for frame, epoch in zip(frames, chosen):
        own = label_difference(frame, epoch_label(epoch, EPOCHS, "vanilla"), epoch / EPOCHS)
        other = label_difference(frame, epoch_label(epoch % EPOCHS + 1, EPOCHS, "vanilla"),
                                 (epoch % EPOCHS + 1) / EPOCHS)
        assert own < 2 and other > 2 * own + 1, (epoch, own, other)
    # The grids differ from epoch to epoch: the frames show training, not one picture.
    assert ImageChops.difference(frames[0], frames[-1]).getbbox() is not None


def test_the_training_grids_own_label_is_not_drawn_twice(run):
    assert invoke(["timelapse", run, "--format", "gif"]).exit_code == 0
    frame = gif_frames(run / "timelapse.gif")[0]
    with Image.open(run / "samples/epoch_0001.png") as grid:
        # The frame is the grid without its label strip (training's "vanilla, epoch 1") over one caption.
        strip = caption(epoch_label(1, EPOCHS, "vanilla"), grid.width, progress=1 / EPOCHS)
        assert frame.height < grid.height + strip.height and frame.width == grid.width


def test_the_default_budget_and_every_k(run, tmp_path):
    epochs = list(range(1, 201))
    assert pick_epochs(epochs) == [1, *range(5, 201, 5)]  # the tutorial's 200: 41 frames
    for total in (1, 2, 49, 50, 51, 137, 1000):
        for budget in (2, 3, 10, DEFAULT_FRAMES):
            chosen = pick_epochs(list(range(1, total + 1)), frames=budget)
            assert len(chosen) <= budget and chosen[0] == 1 and chosen[-1] == total, (total, budget)
    assert pick_epochs([3, 4, 7, 9], every=2) == [3, 4, 9]  # a run with gaps: the epochs it has
    result = invoke(["timelapse", run, "--every", "3", "--out", tmp_path / "every.gif"])
    assert result.exit_code == 0, result.output
    assert len(gif_frames(tmp_path / "every.gif")) == 3  # epochs 1, 3, 6
    assert not (tmp_path / "every.mp4").exists()  # the .gif suffix chose the format


def test_out_names_a_folder_or_a_file_and_format_chooses(run, tmp_path):
    assert invoke(["timelapse", run, "--out", tmp_path, "--format", "mp4"]).exit_code == 0
    assert (tmp_path / "timelapse.mp4").is_file() and not (tmp_path / "timelapse.gif").exists()
    assert invoke(["timelapse", run, "--out", tmp_path / "both", "--width", "122"]).exit_code == 0
    assert gif_frames(tmp_path / "both.gif")[0].width == 122 and (tmp_path / "both.mp4").is_file()
    assert not list(tmp_path.glob(".*"))  # no temporary file left


def test_a_run_still_training_with_a_half_written_newest_grid(run, tmp_path):
    copy = copy_of(run, tmp_path)
    for epoch in (5, 6):
        (copy / f"samples/epoch_{epoch:04d}.png").unlink()
    newest = copy / "samples/epoch_0005.png"
    newest.write_bytes((copy / "samples/epoch_0004.png").read_bytes()[:300])  # cut off mid-write
    (copy / "samples/.epoch_0006.x1y2.tmp.png").write_bytes(b"")  # another writer's temp file
    result = invoke(["timelapse", copy, "--format", "gif"])
    assert result.exit_code == 0, result.output
    assert "skipped epoch_0005.png" in result.output and f"epochs 1-4 of {EPOCHS}" in result.output
    frames = gif_frames(copy / "timelapse.gif")
    assert len(frames) == 4
    # The planned epochs come from config.json: the last frame says 4 of 6, its bar two thirds full.
    assert label_difference(frames[-1], epoch_label(4, EPOCHS, "vanilla"), 4 / EPOCHS) < 2


def test_grids_of_different_sizes_are_centred_on_the_largest(run, tmp_path):
    copy = copy_of(run, tmp_path)
    grid = copy / "samples/epoch_0003.png"
    with Image.open(grid) as image:
        size = image.size
        image.resize((size[0] + 40, size[1] + 20)).save(grid)
    result = invoke(["timelapse", copy, "--format", "gif"])
    assert result.exit_code == 0, result.output
    frames = gif_frames(copy / "timelapse.gif")
    assert len(frames) == EPOCHS and {frame.size for frame in frames} == {frames[0].size}
    assert frames[0].width == size[0] + 40


def test_without_gankit_media_the_gif_is_written_and_the_mp4_is_one_line(run, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # `import imageio_ffmpeg` fails
    result = invoke(["timelapse", run, "--out", tmp_path / "t"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "t.gif").is_file() and not (tmp_path / "t.mp4").exists()
    assert "no MP4" in result.output and "pip install 'gankit[media]'" in result.output
    result = invoke(["timelapse", run, "--out", tmp_path / "only.mp4"])
    assert result.exit_code == 2 and "pip install 'gankit[media]'" in result.output
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "only.mp4").exists()


@pytest.mark.parametrize("args, message", [
    (["--frames", "1"], "--frames must be at least 2"),
    (["--every", "0"], "--every must be a whole number"),
    (["--frames", "3", "--every", "2"], "not both"),
    (["--format", "webm"], "expected gif, mp4 or both"),
    (["--out", "x.gif", "--format", "mp4"], "is a .gif file but --format is mp4"),
    (["--fps", "0"], "--fps must be above 0"),
    (["--width", "4"], "--width must be 16 to 4096"),
])
def test_bad_options_are_one_line(run, args, message):
    result = invoke(["timelapse", run, *args])
    assert result.exit_code == 2 and message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1


def test_no_samples_or_no_run_folder_is_one_line(run, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "fresh").mkdir()
    shutil.copy(run / "config.json", tmp_path / "fresh/config.json")  # started, no epoch ended yet
    (tmp_path / "file").write_text("x")
    (tmp_path / "damaged/samples").mkdir(parents=True)
    (tmp_path / "damaged/samples/epoch_0001.png").write_bytes(b"not a png")
    for folder, message in (("missing", "does not exist"), ("empty", "is not a run folder"),
                            ("fresh", "has no sample grids yet"), ("file", "is a file, not a run folder"),
                            ("damaged", "None of the 1 sample grids")):
        result = invoke(["timelapse", tmp_path / folder])
        assert result.exit_code == 2 and message in result.output, (folder, result.output)
        assert len(result.output.strip().splitlines()) == 1, result.output


def test_train_timelapse_writes_both_at_the_end(tmp_path):
    out = tmp_path / "run"
    result = invoke(["train", "vanilla", "--epochs", "2", "--out", out, "--timelapse", *TINY])
    assert result.exit_code == 0, result.output
    assert "Timelapse:" in result.output and "2 frames, epochs 1-2 of 2" in result.output
    assert len(gif_frames(out / "timelapse.gif")) == 2
    assert mp4_frame_count(out / "timelapse.mp4") == 1 + round(DEFAULT_HOLD_S * DEFAULT_FPS)
    # The run folder stays a run folder: it resumes, and the timelapse is no leftover.
    result = invoke(["train", "vanilla", "--epochs", "3", "--out", out, "--resume", *TINY])
    assert result.exit_code == 0, result.output
    assert (out / "samples/epoch_0003.png").is_file() and (out / "timelapse.gif").is_file()


def test_a_timelapse_imports_no_torch(run, tmp_path):
    code = ("import sys; from pathlib import Path; from gankit.timelapse import make_timelapse; "
            f"made = make_timelapse(Path({str(run)!r}), out=Path({str(tmp_path / 't.gif')!r})); "
            "print(len(made.epochs), 'torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(EPOCHS), "False"]
