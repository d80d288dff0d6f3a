"""Numeric precision for training: autocast around the forward passes, fp32 master weights.

``bf16`` runs the networks' matrix products in bfloat16 (fast where the hardware has it: CPUs with
AVX512-BF16 or AMX, CUDA GPUs of compute capability 8.0 and newer); ``fp16`` does the same in
float16 with a gradient scaler, on CUDA only. Weights, optimizer states and losses stay float32.

``auto`` (training's default) picks bf16 where the hardware runs it natively (:func:`native_bf16`)
and fp32 elsewhere: bf16's quality check (docs/benchmarks.md: its mean FID within the spread of
three fp32 seeds, vanilla and dcgan, on a CPU with AVX512-BF16) held, and there it trains the
tutorial 1.8-2.5x faster, while a CPU with AVX2 only runs bf16 8-20x *slower*. The precision a
run trained in is recorded in config.json and kept on ``--resume``; an explicit ``--precision``
wins. Prefer ``--precision fp32`` for runs that must match bit for bit across machines.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any, ContextManager

import torch

from gankit.errors import ConfigError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


AUTO_ENV = "GANKIT_AUTO_PRECISION"


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` multiplies bfloat16 natively: a CPU with AVX512-BF16 or AMX, a CUDA GPU
    of compute capability 8.0+ (Ampere and newer). Elsewhere bf16 is emulated, and slow."""
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.get_device_capability(device) >= (8, 0)
    if device.type == "cpu":
        checks = (getattr(torch.cpu, "_is_avx512_bf16_supported", None),
                  getattr(torch.cpu, "_is_amx_tile_supported", None))
        return any(check() for check in checks if check is not None)
    return False


def resolve_precision(name: str, device: torch.device) -> str:
    """``auto`` -> bf16 where ``device`` runs it natively, else fp32 (``$GANKIT_AUTO_PRECISION``,
    fp32 or bf16, pins it, in child processes too); an explicit choice is checked against the device."""
    if name not in PRECISIONS:
        raise ConfigError(f"Unknown precision '{name}'. Use {', '.join(PRECISIONS)}.")
    if name == "auto":
        pinned = os.environ.get(AUTO_ENV, "").strip().lower()
        if pinned in ("fp32", "bf16"):  # e.g. fp32 for the same numbers on every machine
            return pinned
        return "bf16" if native_bf16(device) else "fp32"
    if name == "fp16" and device.type != "cuda":
        raise ConfigError("--precision fp16 needs a CUDA GPU (it relies on a gradient scaler); "
                          "use bf16 or fp32 here.")
    return name


def allow_tf32(device: torch.device) -> None:
    """Let fp32 matrix products on a CUDA device use TF32 tensor cores (compute capability 8.0+).

    PyTorch keeps fp32 matmuls in full fp32 by default (convolutions already use TF32 through
    cuDNN), which keeps an fp32 run's linear layers (all of vanilla's) off the tensor cores of an
    A100/H100-class GPU. TF32 rounds only the products' inputs to a 10-bit mantissa, with fp32
    accumulation: far below the noise of GAN training (issue 10). A process-wide setting, so it is
    set for training only, not when evaluating (whose features stay full fp32).
    """
    if device.type == "cuda":
        torch.set_float32_matmul_precision("high")


class Precision:
    """The autocast context for forward passes, and a gradient scaler per optimizer: enabled for
    fp16 only, so that in fp32 and bf16 ``scaler.scale(loss).backward(); scaler.step(optimizer)``
    is exactly ``loss.backward(); optimizer.step()`` (nanoGPT's ``GradScaler(enabled=...)``).

    ``tf32``: allow TF32 matmuls on CUDA (:func:`allow_tf32`); training's default, while drawing
    samples for ``sample`` and ``evaluate`` passes False.
    """

    def __init__(self, name: str, device: torch.device, tf32: bool = True) -> None:
        self.name, self.device = name, device
        if tf32:
            allow_tf32(device)
        self.dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(name)
        scaled, where = name == "fp16", ("cuda" if name == "fp16" else device.type)
        self.d_scaler = torch.amp.GradScaler(where, enabled=scaled)
        self.g_scaler = torch.amp.GradScaler(where, enabled=scaled)

    def autocast(self) -> ContextManager[Any]:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def scalers(self) -> dict[str, torch.amp.GradScaler]:
        """The enabled scalers by optimizer (``{}`` in fp32 and bf16): what checkpoints keep."""
        both = {"g": self.g_scaler, "d": self.d_scaler}
        return {key: scaler for key, scaler in both.items() if scaler.is_enabled()}

    def state_dict(self) -> dict[str, Any]:
        return {key: scaler.state_dict() for key, scaler in self.scalers().items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key, scaler in self.scalers().items():
            if key in state:
                scaler.load_state_dict(state[key])


def resumed_precision(saved: dict[str, Any], asked: str) -> str:
    """A run resumes in the precision it trained in (bit for bit); asking for another is an error."""
    trained = saved.get("precision", "fp32")  # runs of gankit 0.1 trained in fp32
    if asked not in ("auto", trained):
        raise ConfigError(f"Cannot change --precision when resuming (the run trains in {trained}); "
                          "start a new run with another --out instead.")
    return trained
