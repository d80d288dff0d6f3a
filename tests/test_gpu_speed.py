"""The GPU path's settings (TF32 for training only) and bench/gpu_speed.py, checked on a CPU."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gankit.train.precision import Precision

ROOT = Path(__file__).resolve().parents[1]


def test_training_allows_tf32_on_cuda_only(monkeypatch):
    calls = []
    monkeypatch.setattr(torch, "set_float32_matmul_precision", calls.append)
    Precision("fp32", torch.device("cpu"))
    Precision("fp32", torch.device("cuda"), tf32=False)  # drawing samples for sample / evaluate
    assert calls == []
    Precision("bf16", torch.device("cuda"))
    assert calls == ["high"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_tf32_is_on_after_a_cuda_precision_is_made():
    Precision("fp32", torch.device("cuda"))
    assert torch.get_float32_matmul_precision() == "high"


def test_gpu_speed_bench_runs_tiny_on_a_cpu(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GANKIT_OFFLINE": "1", "GANKIT_DATA_ROOT": str(tmp_path)}
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_speed.py"), "--tiny", "--images", "300",
                           "--variants", "vanilla", "--device", "cpu"],
                          capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "random stand-in of 300 images" in done.stdout
    row = next(line for line in done.stdout.splitlines() if line.startswith("| vanilla |"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[1] == "100" and float(cells[3]) > 0 and cells[5].endswith(" s")
