"""Settings for gankit-infogan's tests."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def _one_cpu_thread():
    # The tests' tensors are tiny: one thread is as fast, and several per process thrash a shared
    # CPU (CI runners, pytest -n).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
