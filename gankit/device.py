"""Choosing the device a run uses: ``auto`` prefers CUDA, then Apple's MPS, then the CPU."""

from __future__ import annotations

import torch

from gankit.errors import ConfigError


def resolve_device(name: str) -> torch.device:
    """``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps`` -> a device that exists here."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name not in ("cpu", "cuda", "mps") and not name.startswith("cuda:"):
        raise ConfigError(f"Unknown device '{name}'. Use auto, cpu, cuda, cuda:N or mps.")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {name} was asked for, but torch sees no CUDA GPU. "
                          "Use --device cpu or auto.")
    if name == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("--device mps was asked for, but MPS is not available here. "
                          "Use --device cpu or auto.")
    return torch.device(name)


def place_network(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """``module`` moved to ``device``, in place; a network with 2-D convolutions also gets the
    channels-last memory layout, which oneDNN (CPU) and cuDNN run faster: 1.06-1.11x (dcgan) and
    1.06-1.13x (cgan) per epoch on a 2-core CPU (``bench/conv_layout.py``, docs/benchmarks.md). Only the
    layout changes: state dicts load into and from either, and a resumed run is laid out as the
    unbroken one was, so it stays bit for bit."""
    module.to(device)
    if any(isinstance(layer, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)) for layer in module.modules()):
        module.to(memory_format=torch.channels_last)
    return module
