"""The in-repo plugins' tests: the same pin as tests/conftest.py, so they compute the same numbers
on every machine (``--precision auto`` is bf16 only where a CPU or GPU has it natively)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _fp32_everywhere(monkeypatch):
    import gankit.train.precision

    monkeypatch.setattr(gankit.train.precision, "native_bf16", lambda device: False)
