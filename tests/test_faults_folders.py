"""Reported faults of image folders (gankit/data/imagefolder.py, gankit/data/decode.py), one test
each: an unbounded size, symlink loops, 16-bit PNGs, unreadable folders and files, a stale skip
after a fix, decompression bombs, and a read-only data root. bench/faults.py runs the same cases
through `gankit train`."""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from gankit.cli import build_app
from gankit.data import decode
from gankit.data.imagefolder import MAX_SIZE, load_folder
from gankit.errors import DataError

POSIX = pytest.mark.skipif(os.name != "posix", reason="symlinks, file modes and SIGALRM as on POSIX")
SMALL = ["--epochs", "1", "--batch-size", "4", "--no-progress", "--set", "g_features=4",
         "--set", "d_features=4"]


def write_pngs(folder: Path, count: int, size: int = 16, seed: int = 0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = [folder / f"img_{index}.png" for index in range(count)]
    for path in paths:
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path)
    return paths


def png_bytes(width: int, height: int, depth: int, colour: int, rows: list[bytes]) -> bytes:
    """A PNG file of ``rows`` (filter byte 0 prepended to each): what PIL cannot write itself."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    packer = zlib.compressobj(9)
    data = b"".join(packer.compress(b"\0" + row) for row in rows) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def bomb(path: Path, side: int = 10_000) -> None:
    """A valid 1-bit black PNG declaring side x side pixels: about 12 KB on disk."""
    row = bytes((side + 7) // 8)
    path.write_bytes(png_bytes(side, side, 1, 0, [row] * side))


def train(folder: Path, out: Path, *extra: str):
    return CliRunner().invoke(build_app(), ["train", "dcgan", "--dataset", "imagefolder", "--data-option",
                                            f"path={folder}", *SMALL, *extra, "--out", str(out)])


@contextlib.contextmanager
def deadline(seconds: int):
    """Fail instead of hanging (the old scan of a link loop never ended)."""
    def stop(*_):
        raise TimeoutError(f"still running after {seconds} s")
    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def refuse(monkeypatch, name: str, error: int = errno.EACCES) -> None:
    """Make the folder or file ``name`` unreadable: ``chmod 000`` does not stop root, so the listing
    (os.scandir) or the open (PIL) raises what the kernel would raise."""
    real_scandir, real_open = os.scandir, Image.open

    def scandir(path="."):
        if Path(path).name == name:
            raise PermissionError(error, os.strerror(error), str(path))
        return real_scandir(path)

    def open_image(path, *args, **kwargs):
        if Path(path).name == name:
            raise PermissionError(error, os.strerror(error), str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "scandir", scandir)
    monkeypatch.setattr(Image, "open", open_image)


# 1 ------------------------------------------------------------------------------------------------

def test_size_is_bounded_and_a_decode_that_does_not_fit_is_refused_before_it_starts(tmp_path, monkeypatch):
    write_pngs(tmp_path / "pics", 4)
    root = tmp_path / "data"
    result = train(tmp_path / "pics", tmp_path / "run", "--data-root", str(root), "--data-option", "size=100000")
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert f"size=100000 is too large: at most {MAX_SIZE} pixels a side" in lines[0] and "30.0 GB" in lines[0]
    assert "size from 4 to 1024" in lines[0] and not root.exists() and not (tmp_path / "run").exists()
    monkeypatch.setattr(decode, "DECODE_TO_DISK_BYTES", 0)  # every decode goes to a scratch file
    monkeypatch.setattr(decode, "_free_disk", lambda folder: 1000)  # and the disk has 1 kB free
    for size in (16, None):  # with a size, before any file is read; without, after the first
        with pytest.raises(DataError, match=r"^Decoding 4 images of 3x16x16 needs 6,144 bytes of free "
                                            r"space at .*/cache, but there is 1,000 bytes; ") as error:
            load_folder(tmp_path / "pics", root=root, size=size, channels=3, labelled=False)
        assert "--data-option size" in str(error.value) and "--data-root" in str(error.value)
    assert not list(root.rglob("*.*"))  # no scratch file, no cache file


# 2 ------------------------------------------------------------------------------------------------

@POSIX
def test_symlink_loops_end_and_each_real_folder_is_read_once(tmp_path):
    pics = tmp_path / "pics"
    write_pngs(pics, 3)
    write_pngs(pics / "a", 2, seed=1)
    write_pngs(pics / "b", 2, seed=2)
    (pics / "self").symlink_to(".")  # `ln -s . self`: 41 copies of every image before
    (pics / "a" / "up").symlink_to("..")  # two branches back up: the old walk never ended
    (pics / "b" / "up").symlink_to("..")
    (pics / "a" / "twin.png").symlink_to("img_0.png")  # a second name for a file already read
    with deadline(20):
        data = load_folder(pics, root=tmp_path / "data", size=None, channels=3, labelled=False)
    assert len(data) == 7 and data.is_full
    assert data.notice == ("skipped 4 duplicate links to a folder or file already read "
                           "(a/twin.png, a/up, b/up, ...)")


# 3 ------------------------------------------------------------------------------------------------

def test_16_bit_pngs_are_scaled_to_8_bits_not_clipped(tmp_path):
    pics = tmp_path / "pics"
    pics.mkdir()
    levels = (np.arange(32 * 32, dtype=np.uint16).reshape(32, 32) * 64)  # 0 .. 65472
    Image.fromarray(levels).save(pics / "grey16.png")  # PIL opens it as I;16
    assert Image.open(pics / "grey16.png").mode == "I;16"
    expected = (levels.astype(np.int64) * 255 + 32767) // 65535
    for channels in (1, 3):
        data = load_folder(pics, root=tmp_path / f"data{channels}", size=None, channels=channels,
                           labelled=False)
        assert abs(float(data.images.float().mean()) - expected.mean()) < 0.01  # was 254.8
        assert np.array_equal(data.images[0, 0].numpy(), expected)
    big_endian = Image.frombytes("I;16B", (32, 32), levels.astype(">u2").tobytes())
    wide = Image.fromarray(levels.astype(np.int32))  # mode I, as other readers give 16-bit data
    for image in (big_endian, wide):
        assert np.array_equal(np.asarray(decode.to_mode(image, "L")), expected), image.mode
    rgb16 = [b"".join(struct.pack(">HHH", v, v, 65535 - v) for v in row) for row in levels.tolist()]
    (pics / "grey16.png").unlink()
    (pics / "rgb16.png").write_bytes(png_bytes(32, 32, 16, 2, rgb16))
    data = load_folder(pics, root=tmp_path / "data-rgb", size=None, channels=3, labelled=False)
    assert np.abs(data.images[0, 0].numpy().astype(int) - expected).max() <= 1
    assert np.abs(data.images[0, 2].numpy().astype(int) - (255 - expected)).max() <= 1


# 4 ------------------------------------------------------------------------------------------------

@POSIX
def test_every_skipped_folder_and_file_is_counted_and_named_in_one_line(tmp_path, monkeypatch):
    pics = tmp_path / "pics"
    write_pngs(pics, 4)
    write_pngs(pics / "locked", 2, seed=1)
    (pics / "gone.png").symlink_to("nowhere.png")
    (pics / "broken.png").write_bytes(b"not a png")
    refuse(monkeypatch, "locked")
    data = load_folder(pics, root=tmp_path / "data", size=None, channels=3, labelled=False)
    assert len(data) == 4 and not data.is_full  # what config.json records as dataset.is_full
    assert data.notice == ("skipped 1 unreadable folder and 2 unreadable files of 5 (locked/: PermissionError; "
                           "gone.png: broken link; broken.png: UnidentifiedImageError)")
    only = tmp_path / "only"
    write_pngs(only / "locked", 2)
    with pytest.raises(DataError, match=r"No images .* in it or its sub-folders; skipped 1 unreadable "
                                        r"folder \(locked/: PermissionError\)\.$"):
        load_folder(only, root=tmp_path / "data", size=None, channels=3, labelled=False)


# 5 ------------------------------------------------------------------------------------------------

@POSIX
def test_a_file_skipped_for_permissions_is_read_again_once_they_are_fixed(tmp_path, monkeypatch):
    pics = tmp_path / "pics"
    paths = write_pngs(pics, 3)
    paths[1].chmod(0o000)
    with monkeypatch.context() as patched:
        if os.geteuid() == 0:  # root reads a 000 file: the open refuses it as the kernel would
            refuse(patched, paths[1].name)
        first = load_folder(pics, root=tmp_path / "data", size=None, channels=3, labelled=False)
    assert len(first) == 2 and first.notice == "skipped 1 unreadable file of 3 (img_1.png: PermissionError)"
    paths[1].chmod(0o644)  # the fix: content and mtime unchanged
    fixed = load_folder(pics, root=tmp_path / "data", size=None, channels=3, labelled=False)
    assert len(fixed) == 3 and fixed.notice is None and fixed.is_full
    assert "decoded into the cache" in fixed.source
    again = load_folder(pics, root=tmp_path / "data", size=None, channels=3, labelled=False)
    assert "read from the cache" in again.source and len(again) == 3


# 6 ------------------------------------------------------------------------------------------------

def test_an_image_declaring_too_many_pixels_is_skipped_before_it_is_decoded(tmp_path, monkeypatch):
    from PIL import PngImagePlugin

    pics = tmp_path / "pics"
    write_pngs(pics, 2)
    bomb(pics / "huge.png")
    assert (pics / "huge.png").stat().st_size < 20_000
    loaded = []
    real_load = PngImagePlugin.PngImageFile.load
    monkeypatch.setattr(PngImagePlugin.PngImageFile, "load",
                        lambda self: loaded.append(self.size) or real_load(self))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = load_folder(pics, root=tmp_path / "data", size=8, channels=3, labelled=False)
    assert [str(w.message) for w in caught] == []  # no DecompressionBombWarning
    assert (10_000, 10_000) not in loaded and len(data) == 2 and not data.is_full
    assert data.notice == ("skipped 1 oversized image of 3 (huge.png: too large (10000x10000, "
                           "over 67,108,864 pixels))")


# 7 ------------------------------------------------------------------------------------------------

def read_only(monkeypatch, root: Path) -> None:
    """Refuse every write under ``root`` with EROFS, as a read-only mount does (root ignores modes)."""
    real_open, real_mkdir = os.open, os.mkdir
    writes = os.O_WRONLY | os.O_RDWR | os.O_CREAT

    def under(path) -> bool:
        return Path(os.fsdecode(path)).absolute().is_relative_to(root)

    def open_(path, flags, *args, **kwargs):
        if flags & writes and under(path):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fsdecode(path))
        return real_open(path, flags, *args, **kwargs)

    def mkdir(path, *args, **kwargs):
        if under(path):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fsdecode(path))
        return real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", open_)
    monkeypatch.setattr(os, "mkdir", mkdir)


def test_a_read_only_data_root_decodes_in_memory_with_one_notice(tmp_path, monkeypatch):
    pics = tmp_path / "pics"
    write_pngs(pics, 4)
    root = tmp_path / "data"
    root.mkdir()
    read_only(monkeypatch, root)
    data = load_folder(pics, root=root, size=None, channels=3, labelled=False)
    assert len(data) == 4 and data.cache_file is None and "decoded in memory (not cached)" in data.source
    assert data.notice.startswith(f"the data root {root} cannot be written (Read-only file system)")
    assert "--data-root" in data.notice and "--out" not in data.notice
    # Through the CLI the load used to end the run (exit 74, advice naming --out) after the decode;
    # now the run gets past it to its next check (bench/faults.py trains on a read-only mount).
    result = train(pics, tmp_path / "run", "--data-root", str(root), "--batch-size", "5")
    assert result.exit_code == 2 and "batch_size 5 is larger than the dataset (4 images)" in result.output
    assert list(root.iterdir()) == [] and not (tmp_path / "run").exists()
