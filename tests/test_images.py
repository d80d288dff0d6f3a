"""The PNG grids (gankit.images): upscaled by a whole nearest-neighbour factor to be seen, cells'
pixels exact, light grey separators shared with compare's side-by-side, an optional label strip."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gankit.images import MIN_WIDTH, PADDING, SEPARATOR, grid_pixels, save_grid


def images_of_levels(count, channels=1, size=28, seed=0):
    """Images in [-1, 1] whose cells must read back as ``levels`` (uint8) exactly."""
    generator = torch.Generator().manual_seed(seed)
    levels = torch.randint(0, 256, (count, channels, size, size), generator=generator, dtype=torch.uint8)
    return levels.float() / 127.5 - 1, levels


def read(path):
    from PIL import Image

    with Image.open(path) as picture:
        assert picture.mode == "RGB"
        return np.asarray(picture).copy()


def cell(pixels, index, columns, size, scale, top=0):
    """Cell ``index`` of a grid read back, sampled once per upscaled pixel block; each block one colour."""
    y = top + (PADDING + (index // columns) * (size + PADDING)) * scale
    x = (PADDING + (index % columns) * (size + PADDING)) * scale
    block = pixels[y:y + size * scale, x:x + size * scale]
    sampled = block[::scale, ::scale]
    assert np.array_equal(np.repeat(np.repeat(sampled, scale, 0), scale, 1), block)
    return sampled


def test_a_4x4_mnist_grid_is_upscaled_to_at_least_360_px_and_its_cells_stay_exact(tmp_path):
    images, levels = images_of_levels(16)
    save_grid(images, tmp_path / "grid.png", 4)
    pixels = read(tmp_path / "grid.png")
    native = 4 * (28 + PADDING) + PADDING  # 122 px before the upscaling
    height, width, _ = pixels.shape
    assert width >= MIN_WIDTH and width == height and width % native == 0
    scale = width // native
    assert scale == 3
    for index in range(16):
        got = cell(pixels, index, 4, 28, scale)
        assert np.array_equal(got, levels[index, 0, :, :, None].expand(-1, -1, 3).numpy()), index


def test_the_separators_are_light_grey_and_compare_draws_the_same_cells(tmp_path):
    images, _ = images_of_levels(6, seed=1)
    save_grid(images, tmp_path / "grid.png", 3)
    pixels = read(tmp_path / "grid.png")
    scale = pixels.shape[1] // (3 * (28 + PADDING) + PADDING)
    grey = np.array([SEPARATOR] * 3)
    assert 180 <= SEPARATOR <= 230  # light on MNIST's black, yet not white (a frame on white pages)
    for band in (pixels[:PADDING * scale], pixels[-PADDING * scale:], pixels[:, :PADDING * scale],
                 pixels[:, (PADDING + 28) * scale:(2 * PADDING + 28) * scale]):  # edges, a gap
        assert (band == grey).all()
    # compare's side-by-side panels are the same pixels, before matplotlib scales them.
    native = grid_pixels(images, 3).numpy()
    assert np.array_equal(pixels[::scale, ::scale], native)


def test_compare_side_by_side_uses_the_grid_pixels(tmp_path, monkeypatch):
    from gankit.compare import figures

    shown = []
    import matplotlib.axes

    real_imshow = matplotlib.axes.Axes.imshow
    monkeypatch.setattr(matplotlib.axes.Axes, "imshow",
                        lambda self, data, **kw: shown.append(data) or real_imshow(self, data, **kw))
    images, _ = images_of_levels(20, seed=2)
    figures.save_side_by_side({"a": figures.Panel(images, 2, True)}, tmp_path / "side.png")
    assert (tmp_path / "side.png").is_file()
    assert np.array_equal(shown[0], grid_pixels(images, figures.PANEL_COLUMNS).numpy())
    assert (shown[0][:PADDING] == SEPARATOR).all()


def test_a_label_draws_a_strip_above_the_grid_and_no_label_draws_none(tmp_path):
    images, _ = images_of_levels(16, seed=3)
    save_grid(images, tmp_path / "plain.png", 4)
    save_grid(images, tmp_path / "labelled.png", 4, label="vanilla · epoch 12/200")
    plain, labelled = read(tmp_path / "plain.png"), read(tmp_path / "labelled.png")
    strip = labelled.shape[0] - plain.shape[0]
    assert labelled.shape[1] == plain.shape[1] and strip >= 10
    assert np.array_equal(labelled[strip:], plain)  # the grid below, untouched
    top = labelled[:strip]
    assert (top < SEPARATOR - 60).any()  # dark ink: the label's text, not the grid
    assert (top == SEPARATOR).mean() > 0.5  # on the separators' grey
    # Without a label the top rows are the grid's own separator border.
    scale = plain.shape[1] // (4 * (28 + PADDING) + PADDING)
    assert (plain[:PADDING * scale] == SEPARATOR).all()
    assert not (plain[PADDING * scale:(PADDING + 28) * scale, PADDING * scale] == SEPARATOR).all()


def test_colour_images_keep_their_colours(tmp_path):
    images, levels = images_of_levels(8, channels=3, size=32, seed=4)
    save_grid(images, tmp_path / "colour.png", 4, label="epoch 1")
    plain = tmp_path / "plain.png"
    save_grid(images, plain, 4)
    pixels = read(plain)
    native = 4 * (32 + PADDING) + PADDING  # 138 px
    assert pixels.shape[1] >= MIN_WIDTH and pixels.shape[1] % native == 0
    scale = pixels.shape[1] // native
    for index in range(8):
        assert np.array_equal(cell(pixels, index, 4, 32, scale), levels[index].permute(1, 2, 0).numpy())
    assert read(tmp_path / "colour.png").shape[1] == pixels.shape[1]


def test_a_single_image_and_a_wide_grid(tmp_path):
    images, levels = images_of_levels(1, seed=5)
    save_grid(images, tmp_path / "one.png", 4, label="epoch 1")  # fewer images than columns
    save_grid(images[0], tmp_path / "chw.png", 1)  # (C, H, W) is one image
    pixels = read(tmp_path / "chw.png")
    scale = pixels.shape[1] // (28 + 2 * PADDING)
    assert pixels.shape[:2] == ((28 + 2 * PADDING) * scale,) * 2 and pixels.shape[1] >= MIN_WIDTH
    assert np.array_equal(cell(pixels, 0, 1, 28, scale)[..., 0], levels[0, 0].numpy())
    assert read(tmp_path / "one.png").shape[1] == pixels.shape[1]
    wide, _ = images_of_levels(14, size=28, seed=6)  # 14 x 30 + 2 = 422 px: already wide enough
    save_grid(wide, tmp_path / "wide.png", 14)
    assert read(tmp_path / "wide.png").shape[:2] == (28 + 2 * PADDING, 14 * (28 + PADDING) + PADDING)


def test_values_outside_the_range_are_clamped_and_odd_channels_refused(tmp_path):
    pixels = grid_pixels(torch.tensor([[[[-3.0, 3.0]]]]), 1).numpy()
    assert pixels[PADDING, PADDING, 0] == 0 and pixels[PADDING, PADDING + 1, 0] == 255
    with pytest.raises(ValueError, match="2 channels"):
        grid_pixels(torch.zeros(1, 2, 4, 4), 1)
    with pytest.raises(ValueError, match="no images"):
        grid_pixels(torch.zeros(0, 1, 4, 4), 1)
