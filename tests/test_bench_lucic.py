"""bench/lucic.py's model table and flags, checked without training anything."""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from gankit.host import get_host

ROOT = Path(__file__).resolve().parents[1]


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_lucic", ROOT / "bench" / "lucic.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def test_every_model_maps_to_a_registered_variant_and_loss():
    bench, host = load_bench(), get_host()
    assert [m.key for m in bench.MODELS] == ["mm", "ns", "lsgan", "wgan", "wgan-gp", "dragan", "began"]
    for model in bench.MODELS:
        variant = host.variants.get(model.variant)
        loss = model.overrides.get("loss", variant.config_class().loss)
        assert loss in host.losses.names(), model.key
        assert variant.config_class(**{k: v for k, v in model.overrides.items()}).batch_size == 64
    assert {m.key: m.overrides.get("loss") for m in bench.MODELS if m.variant == "lucic"} == {
        "mm": "minimax", "ns": None, "lsgan": "lsgan", "wgan": "wgan", "wgan-gp": "wgan-gp", "dragan": "dragan"}
    assert [m.key for m in bench.MODELS if m.clipped] == ["wgan"] and bench.wgan_clip() == 0.01


def test_models_and_seeds_parse_and_refuse_unknown_names():
    bench = load_bench()
    assert [m.key for m in bench.parse_models("wgan-gp, ns")] == ["ns", "wgan-gp"]
    assert bench.parse_seeds("3") == [0, 1, 2] and bench.parse_seeds("4,1") == [1, 4]
    with pytest.raises(argparse.ArgumentTypeError, match="unknown model 'foo'; choose from mm, ns"):
        bench.parse_models("ns,foo")
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "lucic.py"), "--models", "nsgan"],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == ("lucic.py: error: argument --models: unknown model "
                                                      "'nsgan'; choose from mm, ns, lsgan, wgan, wgan-gp, "
                                                      "dragan, began")


def test_a_short_budget_says_it_is_not_like_for_like():
    bench = load_bench()
    assert bench.budget_warning(bench.parse_args([]), None) is None
    warning = bench.budget_warning(bench.parse_args(["--epochs", "1", "--n", "1000"]), 23.5)
    assert warning.startswith("**Not like-for-like with the paper**") and "FID 23.50" in warning
