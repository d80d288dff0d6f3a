"""What every check shares: the error type, the one-line failure, and an isolated RNG and thread."""

from __future__ import annotations

import contextlib
from typing import Any, Iterator, NoReturn

import torch

from gankit.registry import DataInfo

BATCH = 8  # images per batch in every check: small, but enough for BatchNorm
SEED = 0


class PluginCheckError(AssertionError):
    """A plugin check failed; the message says what is wrong and what to change."""


def fail(subject: str, problem: str, fix: str) -> NoReturn:
    raise PluginCheckError(f"{subject}: {problem}. {fix}.")


@contextlib.contextmanager
def isolated() -> Iterator[None]:
    """Leave the caller's RNG state alone, and use one CPU thread: the checks' tensors are tiny,
    and several threads per test process thrash a shared CPU (CI runners, pytest -n)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(SEED)
            yield
    finally:
        torch.set_num_threads(threads)


def labels_for(info: DataInfo, conditional: bool, n: int) -> torch.Tensor | None:
    if not conditional:
        return None
    return torch.arange(n) % int(info.num_classes)


def check_scalar(value: Any, subject: str, what: str) -> None:
    if not isinstance(value, torch.Tensor) or value.dim() != 0:
        shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
        fail(subject, f"{what} is {shape}, not a scalar tensor", "Reduce it with .mean()")
    if not torch.isfinite(value):
        fail(subject, f"{what} is {value.item()}", "Compute it from logits with softplus/logsigmoid "
              "rather than log(sigmoid(.)), and check D returns finite logits")


def no_gradient(subject: str, role: str, what: str) -> NoReturn:
    hint = ("G's images must reach D's logits: no .detach() or torch.no_grad() in G.forward or "
            "D.forward") if role == "G" else "D's logits must depend on its parameters"
    fail(subject, f"{what} gives {role} no gradient", hint)


def backward(value: torch.Tensor, subject: str, role: str, what: str) -> None:
    if not value.requires_grad:
        no_gradient(subject, role, what)
    value.backward()


def check_gradients(module: Any, subject: str, role: str, what: str) -> None:
    gradients = [p.grad for p in module.parameters() if p.requires_grad and p.grad is not None]
    if not gradients or not any(bool(g.abs().sum() > 0) for g in gradients):
        no_gradient(subject, role, what)
    if not all(bool(torch.isfinite(g).all()) for g in gradients):
        fail(subject, f"{what} gives {role} NaN or Inf gradients", "Check the loss and the "
              "networks' numerics (e.g. log of zero, division by a norm)")

def check_images(images: Any, n: int, info: DataInfo, subject: str, call: str) -> None:
    expected = (n, *info.image_shape)
    if not isinstance(images, torch.Tensor):
        fail(subject, f"{call} returned {type(images).__name__}", "Return a tensor of images")
    if tuple(images.shape) != expected:
        fail(subject, f"{call} returned shape {tuple(images.shape)}, expected {expected} "
              "(batch, channels, height, width)", "Reshape G's output to (n, *data_info.image_shape), "
              "e.g. .view(z.shape[0], *self.image_shape)")
    if not images.is_floating_point():
        fail(subject, f"{call} returned {images.dtype}", "Return float images in [-1, 1]")
    if not torch.isfinite(images).all():
        fail(subject, f"{call} returned NaN or Inf", "Check G's layers and initialisation")
    low, high = images.min().item(), images.max().item()
    if low < -1 - 1e-5 or high > 1 + 1e-5:
        fail(subject, f"{call} returned values in [{low:.3g}, {high:.3g}], outside [-1, 1] (the range "
              "the data is scaled to)", "End G with tanh")
