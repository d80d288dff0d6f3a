"""What every catalogue test runs under: offline (the bundled MNIST subset, no download), one torch
thread (tiny tensors: more threads only thrash a shared CPU, as gankit's test kit finds), a fresh
process-wide host of the installed plugins, and ``host``: the catalogue's own, with gankit's."""

from __future__ import annotations

import pytest
import torch

import gankit_catalogue
from gankit.testing import plugin_host, using_host


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path_factory):
    monkeypatch.setenv("GANKIT_OFFLINE", "1")
    monkeypatch.setenv("GANKIT_DATA_ROOT", str(tmp_path_factory.getbasetemp() / "empty-data-root"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with using_host(None):
        yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def host():
    return plugin_host(gankit_catalogue)
