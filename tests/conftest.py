"""Test-wide settings: offline, an empty data root (so the bundled MNIST subset is used), and a
fresh plugin host per test so no test sees another's registrations."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from gankit.host import set_host

# A plugin's own folder with its own tests: tests/test_compatibility.py installs it and runs them.
collect_ignore_glob = ["fixtures/*"]

# The test models are tiny: one thread runs them as fast as two, and two threads thrash badly
# when anything else shares a small machine (measured here: 96 s vs 14 s for the same files).
torch.set_num_threads(1)


def pytest_configure(config):
    """The same pins as :func:`_offline_and_isolated`, for the whole process and before any
    fixture: module-scoped fixtures run before that function-scoped one, and on a CPU with
    AVX512-BF16 they trained in bf16, and looked for data in the user's data root."""
    import os
    import tempfile

    os.environ["GANKIT_OFFLINE"] = "1"
    os.environ["GANKIT_AUTO_PRECISION"] = "fp32"
    os.environ["GANKIT_DATA_ROOT"] = tempfile.mkdtemp(prefix="gankit-test-empty-data-root-")


@pytest.fixture(autouse=True)
def _offline_and_isolated(monkeypatch, tmp_path_factory):
    # `--precision auto` is bf16 on a CPU with AVX512-BF16 and fp32 elsewhere: the suite pins fp32
    # so that it computes the same numbers on every CI machine (bf16 has tests of its own).
    import gankit.train.precision

    monkeypatch.setattr(gankit.train.precision, "native_bf16", lambda device: False)
    monkeypatch.setenv("GANKIT_AUTO_PRECISION", "fp32")  # and in the processes tests start
    monkeypatch.setenv("GANKIT_OFFLINE", "1")
    monkeypatch.setenv("GANKIT_DATA_ROOT", str(tmp_path_factory.getbasetemp() / "empty-data-root"))
    for name in ("GANKIT_LOAD_PLUGINS", "GANKIT_DISABLE_PLUGINS", "GANKIT_STRICT_PLUGINS", "GANKIT_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    set_host(None)
    yield
    set_host(None)


@pytest.fixture
def forget_modules_from():
    """``forget(folder, before)``: drop the modules imported since ``before`` (a set of names) from
    files under ``folder``, so that no other test imports a test's own plugin or snippet. Other new
    modules stay: torch's C++ registrations (torch._inductor's test operators, say) cannot run twice
    in one process, and importing them again after a delete fails."""
    def forget(folder: Path, before: set[str]) -> None:
        for name in set(sys.modules) - before:
            module = sys.modules[name]
            places = [getattr(module, "__file__", None), *(getattr(module, "__path__", None) or [])]
            if any(place and Path(place).is_relative_to(folder) for place in places):
                del sys.modules[name]
    return forget
