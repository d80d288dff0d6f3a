"""What a run prints around its numbers (first hour, issues 2-4): no stale progress-bar frames in
piped output, the MNIST-fallback notice as one line once per process with no home path, and a
failed download remembered for a day instead of retried on every run."""

from __future__ import annotations

import io
import os
import time

import pytest
from rich.console import Console

from gankit.data import base, fashion, mnist
from gankit.errors import DataError
from gankit.progress import ProgressBar
from gankit.registry import DataRequest
from gankit.testing import invoke

BAR = "━"  # what every frame of Rich's bar is drawn with


# -- the progress bar ------------------------------------------------------------------------------


def drive(console):
    with ProgressBar(console, "vanilla") as bar:
        for epoch in (1, 2):
            bar.start_epoch(epoch, 2, 10, 0)
            for batch in range(1, 11):
                bar.update(batch, {"d_loss": 1.25, "g_loss": 0.75}, 100.0)
            console.print(f"epoch {epoch}/2  D 1.250  G 0.750")
    return bar


def test_no_bar_is_drawn_when_the_console_is_no_terminal():
    out = io.StringIO()
    bar = drive(Console(file=out, width=100))
    assert bar.bar is None
    assert out.getvalue() == "epoch 1/2  D 1.250  G 0.750\nepoch 2/2  D 1.250  G 0.750\n"


def test_a_terminal_still_gets_the_bar():
    out = io.StringIO()
    bar = drive(Console(file=out, width=100, force_terminal=True))
    assert bar.bar is not None and BAR in out.getvalue()


@pytest.fixture
def data_root(tmp_path, monkeypatch):
    root = tmp_path / "data"
    monkeypatch.setenv("GANKIT_DATA_ROOT", str(root))
    monkeypatch.setenv("GANKIT_OFFLINE", "1")
    return root


def test_piped_training_prints_epoch_lines_and_the_notice_once(data_root, tmp_path):
    """Two runs in one process (as compare makes them), progress on, output not a terminal."""
    outputs = []
    for name in ("first", "second"):
        result = invoke(["train", "vanilla", "--epochs", 1, "--batch-size", 50, "--max-images", 100,
                         "--out", tmp_path / name])
        assert result.exit_code == 0, result.output
        outputs.append(result.output)
    for output in outputs:
        assert BAR not in output and "img/s" in output
        epoch_lines = [line for line in output.splitlines() if "epoch 1/1" in line]
        assert len(epoch_lines) == 1 and epoch_lines[0].startswith("epoch 1/1  D "), output
    notices = [[line for line in output.splitlines() if line.startswith("notice:")] for output in outputs]
    assert len(notices[0]) == 1 and notices[1] == [], notices
    line = notices[0][0].replace(str(data_root / "MNIST" / "raw"), "DIR")
    assert "DIR (download disabled)" in line and "bundled 5,000-digit subset" in line and len(line) < 140


# -- the fallback notice ---------------------------------------------------------------------------


def test_the_notice_shows_the_home_folder_as_a_tilde(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    root = home / ".cache" / "gankit" / "data"
    for split in ("train", "test"):
        notice = mnist.load_mnist(DataRequest(root=root, split=split, download=False)).notice
        assert "~/.cache/gankit/data/MNIST/raw" in notice and str(home) not in notice, notice
        assert "\n" not in notice
    assert base.shown_path(home) == "~" and base.shown_path("/srv/data") == "/srv/data"


def test_the_train_notice_is_given_once_per_data_root_the_test_notice_each_time(tmp_path):
    def notice(root, split):
        return mnist.load_mnist(DataRequest(root=root, split=split, download=False)).notice

    first, other = tmp_path / "a", tmp_path / "b"
    assert notice(first, "train") and notice(first, "train") is None
    assert notice(other, "train")  # another data root: said again
    assert "overlap" in notice(first, "test") and "overlap" in notice(first, "test")  # reports record it


# -- failed downloads ------------------------------------------------------------------------------


@pytest.fixture
def failing_download(monkeypatch):
    """The download always fails, as on a machine without internet; counts the tries."""
    monkeypatch.delenv(base.RETRY_FLAG, raising=False)
    tries = []

    def fetch(class_name, root, split, timeout):
        tries.append(class_name)
        return "URLError: <urlopen error [Errno -3] Temporary failure in name resolution>"

    monkeypatch.setattr(base, "download_with_torchvision", fetch)
    return tries


def test_a_failed_download_is_not_tried_again_for_a_day(tmp_path, failing_download):
    first = mnist.load_mnist(DataRequest(root=tmp_path, split="train", download=True))
    marker = tmp_path / ".download-failed-mnist"
    assert failing_download == ["MNIST"] and marker.is_file()
    assert "name resolution" in marker.read_text()
    assert "download failed: URLError" in first.notice and "GANKIT_RETRY_DOWNLOAD=1" in first.notice
    again = mnist.load_mnist(DataRequest(root=tmp_path, split="test", download=True))
    assert failing_download == ["MNIST"]  # not tried again
    assert "download failed 0 min ago; next try in 24 h, or now with GANKIT_RETRY_DOWNLOAD=1" in again.notice
    assert len(again.images) == 5_000


def test_retry_download_tries_at_once_and_a_day_later_it_is_tried_again(tmp_path, failing_download,
                                                                           monkeypatch):
    request = DataRequest(root=tmp_path, split="test", download=True)
    mnist.load_mnist(request)
    mnist.load_mnist(request)
    assert len(failing_download) == 1
    monkeypatch.setenv(base.RETRY_FLAG, "1")
    mnist.load_mnist(request)
    assert len(failing_download) == 2
    monkeypatch.delenv(base.RETRY_FLAG)
    day_ago = time.time() - 25 * 3600
    os.utime(tmp_path / ".download-failed-mnist", (day_ago, day_ago))
    mnist.load_mnist(request)
    assert len(failing_download) == 3


def test_a_successful_download_forgets_the_failure(tmp_path, monkeypatch):
    monkeypatch.setenv(base.RETRY_FLAG, "1")
    marker = tmp_path / ".download-failed-mnist"
    marker.write_text("2024-01-01T00:00:00 URLError\n")
    monkeypatch.setattr(base, "download_with_torchvision", lambda *args: None)
    assert base.download_unless_failed_lately("MNIST", tmp_path, "train", 1.0, "mnist") is None
    assert not marker.exists()


def test_fashion_mnist_remembers_a_failed_download_too(tmp_path, failing_download, monkeypatch):
    monkeypatch.setattr(fashion, "DEBIAN_DIR", tmp_path / "no-debian-package")
    request = DataRequest(root=tmp_path, split="test", download=True)
    with pytest.raises(DataError, match="download failed: URLError"):
        fashion.load_fashion_mnist(request)
    with pytest.raises(DataError, match="next try in 24 h, or now with GANKIT_RETRY_DOWNLOAD=1"):
        fashion.load_fashion_mnist(request)
    assert failing_download == ["FashionMNIST"] and (tmp_path / ".download-failed-fashion-mnist").is_file()


def test_a_read_only_data_root_just_tries_again(tmp_path, failing_download, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError("read-only")

    monkeypatch.setattr(base.Path, "write_text", refuse)
    request = DataRequest(root=tmp_path, split="test", download=True)
    mnist.load_mnist(request)
    mnist.load_mnist(request)
    assert len(failing_download) == 2
