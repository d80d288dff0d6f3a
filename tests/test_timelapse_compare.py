"""`gankit compare`'s moving side by side: one GIF in which each frame holds every variant's
per-epoch grid at the same epoch (a variant with fewer epochs holds its last), written beside the
still grids, linked from report.md and shown in report.html, as a headless Chromium renders it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy
import pytest
from PIL import Image, ImageChops, ImageSequence

from gankit.animation import caption
from gankit.compare.figures import ANIMATION, ANIMATION_PANEL_WIDTH
from gankit.testing import invoke

TINY = ["--max-images", "100", "--no-progress"]
GAP = 8  # px around the panels (gankit.compare.figures._animation_frame)
# results.json's keys before the animation: kept as they were, the animation's added beside them.
RESULTS_KEYS = {"gankit_version", "created", "dataset", "data_options", "n", "noise_seed", "seeds", "budget",
                "real", "evaluator", "num_classes", "floor", "variants", "notes", "ranking"}


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    """vanilla trained by compare for 3 epochs beside a loaded vanilla run of 1 epoch, seed 0 both."""
    base = tmp_path_factory.mktemp("compare-timelapse")
    short = base / "short"
    result = invoke(["train", "vanilla", "--epochs", "1", "--out", short, *TINY])
    assert result.exit_code == 0, result.output
    out = base / "report"
    result = invoke(["compare", "vanilla", short, "--epochs", "3", "--n", "300", "--out", out, *TINY])
    assert result.exit_code == 0, result.output
    assert f"{ANIMATION}, " in result.output
    return out


def frames_of(path: Path) -> list[Image.Image]:
    with Image.open(path) as gif:
        return [frame.convert("RGB") for frame in ImageSequence.Iterator(gif)]


def panel(frame: Image.Image, index: int, *, grid_only: bool = False) -> Image.Image:
    """The ``index``-th variant's panel in a frame: its caption and grid, or the grid alone."""
    left = GAP + index * (ANIMATION_PANEL_WIDTH + GAP)
    footer = caption("epoch 1 / 3", frame.width, progress=1 / 3).height
    top = GAP + (caption("vanilla, epoch 1", ANIMATION_PANEL_WIDTH).height if grid_only else 0)
    return frame.crop((left, top, left + ANIMATION_PANEL_WIDTH, frame.height - footer))


def same(a: Image.Image, b: Image.Image) -> bool:
    return ImageChops.difference(a, b).getbbox() is None


def test_each_frame_shows_every_variant_at_the_same_epoch(report):
    results = json.loads((report / "results.json").read_text())
    assert RESULTS_KEYS <= set(results)
    animation = results["animation"]
    assert animation["file"] == ANIMATION and animation["frames"] == 3 and animation["epochs"] == [1, 2, 3]
    assert animation["variants"] == ["vanilla", "short"]
    frames = frames_of(report / ANIMATION)
    assert len(frames) == 3
    # vanilla trains on: its panel changes every epoch. The loaded run has 1 epoch: it holds it.
    assert not same(panel(frames[0], 0), panel(frames[1], 0))
    assert not same(panel(frames[1], 0), panel(frames[2], 0))
    assert same(panel(frames[0], 1), panel(frames[1], 1)) and same(panel(frames[1], 1), panel(frames[2], 1))
    # Same noise, same epoch: at epoch 1 both runs are the same training (vanilla, seed 0, the same
    # 100 images), so their grids, under their captions, are the same pixels.
    assert same(panel(frames[0], 0, grid_only=True), panel(frames[0], 1, grid_only=True))
    assert not same(panel(frames[2], 0, grid_only=True), panel(frames[2], 1, grid_only=True))


def test_the_reports_show_the_animation_beside_the_still_grids(report):
    markdown = (report / "report.md").read_text()
    still, moving = markdown.index("](side_by_side.png)"), markdown.index(f"]({ANIMATION})")
    assert still < moving < markdown.index("## Metrics")
    html = (report / "report.html").read_text()
    assert html.count("data:image/gif;base64,") == 1 and html.count("data:image/png;base64,") == 3
    assert html.index("side by side samples") < html.index("id='timelapse'") < html.index("<h2>Metrics")


def test_a_comparison_whose_runs_have_no_grids_has_no_animation(report, tmp_path):
    run = tmp_path / "bare"
    shutil.copytree(report / "runs/vanilla-seed0", run, ignore=shutil.ignore_patterns(".lock"))
    shutil.rmtree(run / "samples")
    out = tmp_path / "report"
    result = invoke(["compare", run, "--n", "300", "--out", out, "--no-progress"])
    assert result.exit_code == 0, result.output
    assert not (out / ANIMATION).exists()
    assert "animation" not in json.loads((out / "results.json").read_text())
    assert ANIMATION not in (out / "report.md").read_text()


# -- in a browser -----------------------------------------------------------------------------------

CHROMIUM = shutil.which("chromium")
WIDTH = 1200  # px: the window, the same for the probe and the screenshot (the page centres its body)
PROBE = """<script>
window.addEventListener('load', () => {
  const img = document.getElementById('timelapse'), box = img.getBoundingClientRect();
  const probe = document.createElement('pre');
  probe.id = 'probe';
  probe.textContent = JSON.stringify({complete: img.complete, width: img.naturalWidth,
    height: img.naturalHeight, left: box.left, top: box.top, shown: box.width});
  document.body.appendChild(probe);
});
</script>"""


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--force-device-scale-factor=1", f"--user-data-dir={tmp_path / 'profile'}",
         *args], capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(CHROMIUM is None, reason="needs chromium (.ci/run installs it)")
def test_report_html_shows_the_animation_in_a_headless_browser(report, tmp_path):
    # A copy of the report with a probe that records, once the page has loaded, whether the
    # animation's <img> decoded and where it sits; the screenshot is of the report itself.
    probe_page = tmp_path / "probe.html"
    probe_page.write_text((report / "report.html").read_text().replace("</body>", PROBE + "</body>"))
    dumped = chromium(tmp_path, f"--window-size={WIDTH},900", "--virtual-time-budget=5000", "--dump-dom",
                      probe_page.as_uri())
    found = re.search(r"<pre id=\"probe\">(.*?)</pre>", dumped.stdout)
    assert found, dumped.stdout[-2000:] + dumped.stderr[-2000:]
    seen = json.loads(found.group(1).replace("&quot;", '"'))
    gif = frames_of(report / ANIMATION)
    assert seen["complete"] and (seen["width"], seen["height"]) == gif[0].size, seen
    assert seen["shown"] == gif[0].width  # shown at its own size, not squeezed

    left, top = round(seen["left"]), round(seen["top"])
    shot = tmp_path / "report.png"
    done = chromium(tmp_path, f"--screenshot={shot}", f"--window-size={WIDTH},{top + gif[0].height + 40}",
                    (report / "report.html").as_uri())
    assert shot.is_file(), done.stderr[-2000:]
    with Image.open(shot) as image:
        region = image.convert("RGB").crop((left, top, left + gif[0].width, top + gif[0].height))
    # Where the animation sits, the screenshot shows one of its frames (not a blank or a broken
    # image's icon): pixel for pixel up to the browser's colour handling.
    errors = [float(numpy.abs(numpy.asarray(region, float) - numpy.asarray(frame, float)).mean())
              for frame in gif]
    assert min(errors) < 3, errors
    blank = Image.new("RGB", region.size, (255, 255, 255))
    assert float(numpy.abs(numpy.asarray(blank, float) - numpy.asarray(gif[0], float)).mean()) > 30
