"""The evaluation cache: work that is the same for every run scored, kept on disk.

Scoring a run needs the real reference and floor sets' features and the real-vs-real floor, and
(for the memorisation check) the features of every training image. None of these depend on the
run, so they are computed once and stored in ``<data root>/cache/``:

- ``eval-reference-<key hash>.pt``: the reference and floor sets' features, the floor scores and
  what the metrics derive from the reference set alone (``FeatureSet.memo``: KID's within-real
  kernel sums, the real k-NN radii);
- ``eval-training-<key hash>.pt``: the train split's features, the near-copy threshold, the
  held-out yardsticks of memorisation's copy ratios and, where the pixel search takes one, its
  bound (gankit/evaluate/pixel_bound.py).

The key is everything the stored numbers depend on: the evaluator's sha256, the feature kind, the
device type the features were computed on, the dataset, its options and source, a sha256 of the
very images (and labels) used, the split, n and the seed, gankit's :data:`CACHE_FORMAT`, and the
torch and torchmetrics versions. A changed key is another file name, so it is computed anew. The
key is also stored inside the file, with a sha256 of everything else in it (:func:`payload_digest`:
every tensor's shape, dtype and bytes, every other value as JSON), and both are checked on load,
then every tensor's shape and dtype: a file that does not match (truncated, damaged, edited or
written by other code, even one that kept its key) is rebuilt with a warning, never trusted. Files
are written atomically (gankit._io) and read with ``weights_only=True``.

Turn the cache off with ``--no-cache`` (evaluate, compare) or ``GANKIT_NO_EVAL_CACHE=1``; a folder
that cannot be written is a warning, never a failed evaluation.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path
from typing import Any

import torch

from gankit._io import atomic_write, env_flag
from gankit.checkpoint import safe_load
from gankit.errors import GankitWarning
from gankit.evaluate.evaluator import FeatureSet

# Bump when what is stored, or how it is computed, changes (4: channels-last features, the memo;
# 5: exact pixel distances for the near-copy threshold and the yardsticks).
CACHE_FORMAT = "gankit-eval-cache/5"
DISABLE_FLAG = "GANKIT_NO_EVAL_CACHE"


def enabled(asked: bool = True) -> bool:
    """Whether to use the cache: asked for, and not turned off by ``GANKIT_NO_EVAL_CACHE``."""
    return asked and not env_flag(DISABLE_FLAG)


def fingerprint(*tensors: torch.Tensor | None) -> str:
    """A sha256 of the tensors' bytes, shapes and dtypes (None counts as a marker)."""
    digest = hashlib.sha256()
    for tensor in tensors:
        if tensor is None:
            digest.update(b"none;")
            continue
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{tuple(tensor.shape)}{tensor.dtype};".encode())
        # reshape(-1): a 0-dim tensor (a yardstick's median) cannot be viewed as bytes directly;
        # the bytes of any other tensor are unchanged, so existing digests still match.
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def payload_digest(value: Any) -> str:
    """A sha256 of a stored value: dicts by sorted key, lists in order, tensors by
    :func:`fingerprint`, anything else as JSON (so 1, 1.0 and True differ)."""
    digest = hashlib.sha256()

    def feed(item: Any) -> None:
        if isinstance(item, torch.Tensor):
            digest.update(f"tensor:{fingerprint(item)};".encode())
        elif isinstance(item, dict):
            digest.update(f"dict:{len(item)}{{".encode())
            for key in sorted(item, key=str):
                digest.update(f"{json.dumps(str(key))}:{type(key).__name__}=".encode())
                feed(item[key])
            digest.update(b"}")
        elif isinstance(item, (list, tuple)):
            digest.update(f"{type(item).__name__}:{len(item)}[".encode())
            for element in item:
                feed(element)
            digest.update(b"]")
        else:
            digest.update(f"{type(item).__name__}:{json.dumps(item)};".encode())

    feed(value)
    return digest.hexdigest()


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {"torch": torch.__version__}
    try:
        found["torchmetrics"] = version("torchmetrics")
    except PackageNotFoundError:  # pragma: no cover - a dependency of gankit
        pass
    return found


class EvalCache:
    """One kind of cache entry (``kind``) in ``folder``, for one key (a JSON-able dict)."""

    def __init__(self, folder: Path, kind: str, key: dict[str, Any]) -> None:
        self.key = json.dumps({"format": CACHE_FORMAT, "kind": kind, **_versions(), **key},
                              sort_keys=True, default=str)
        name = hashlib.sha256(self.key.encode()).hexdigest()[:24]
        self.path = Path(folder) / f"eval-{kind}-{name}.pt"

    def load(self, check: Any) -> Any:
        """``check(contents)``: what ``check`` makes of the stored contents; None when there are
        none, or when ``check`` raises on contents it does not trust (rebuilt, with a warning)."""
        if not self.path.is_file():
            return None
        try:
            contents = safe_load(self.path)  # weights_only, however torch.load was patched
            if not isinstance(contents, dict) or contents.get("key") != self.key:
                raise ValueError("its stored key does not match")
            payload = {name: value for name, value in contents.items() if name not in ("key", "checksum")}
            if contents.get("checksum") != payload_digest(payload):
                raise ValueError("its checksum does not match its contents")
            checked = check(payload)
        except Exception as error:  # noqa: BLE001 - anything unreadable is rebuilt, never trusted
            first = (str(error).strip().splitlines() or [type(error).__name__])[0][:160]
            warnings.warn(f"The evaluation cache file '{self.path}' is damaged ({first}); "
                          "rebuilding it.", GankitWarning, stacklevel=2)
            return None
        return checked

    def save(self, contents: dict[str, Any]) -> None:
        """Store ``contents`` (tensors, str, numbers) with the key and the checksum of ``contents``
        (:func:`payload_digest`); a failed write is a warning."""
        try:
            with atomic_write(self.path) as file:
                torch.save({**contents, "key": self.key, "checksum": payload_digest(contents)}, file)
        except OSError as error:
            warnings.warn(f"Cannot write the evaluation cache '{self.path}' ({error.strerror or error}); "
                          "continuing without it.", GankitWarning, stacklevel=2)


def features_record(features: FeatureSet) -> dict[str, Any]:
    return {"embeddings": features.embeddings, "logits": features.logits, "labels": features.labels,
            "confidence": float(features.recognised_confidence), "memo": dict(features.memo)}


def features_from(record: Any, n: int, labelled: bool) -> FeatureSet:
    """A stored feature set, checked: n rows of float32 features and logits, integer labels if any."""
    if not isinstance(record, dict):
        raise ValueError("a feature set is missing")
    embeddings, logits, labels = record.get("embeddings"), record.get("logits"), record.get("labels")
    for name, tensor in (("embeddings", embeddings), ("logits", logits)):
        if not isinstance(tensor, torch.Tensor) or tensor.dtype != torch.float32 \
                or tensor.dim() != 2 or tensor.shape[0] != n:
            raise ValueError(f"{name} are not {n} rows of float32")
        if not torch.isfinite(tensor).all():
            raise ValueError(f"{name} hold non-finite values")
    if labelled != (labels is not None) or (labels is not None and (
            not isinstance(labels, torch.Tensor) or labels.is_floating_point() or labels.shape != (n,))):
        raise ValueError("labels do not match")
    confidence = record.get("confidence")
    if not isinstance(confidence, float) or not 0 <= confidence <= 1:
        raise ValueError("the recognition confidence is not a probability")
    return FeatureSet(embeddings, logits, labels, confidence, memo_from(record.get("memo", {}), n))


# What each kind of memo entry (metrics.py names them "kind/parameters") must look like.
_MEMO_SHAPES = {"kid_within": (torch.float64, 1), "knn_radii": (torch.float32, 2)}


def memo_from(memo: Any, n: int) -> dict[str, torch.Tensor]:
    """A stored :attr:`FeatureSet.memo`, checked: known kinds, their dtypes and ranks, finite
    values, and one non-negative k-NN radius row per point."""
    if not isinstance(memo, dict):
        raise ValueError("the metrics' memo is not a dict")
    for name, tensor in memo.items():
        kind = str(name).split("/")[0]
        if kind not in _MEMO_SHAPES or not isinstance(tensor, torch.Tensor):
            raise ValueError(f"the memo holds an unknown entry {str(name)[:40]!r}")
        dtype, rank = _MEMO_SHAPES[kind]
        if tensor.dtype != dtype or tensor.dim() != rank or (kind == "knn_radii" and tensor.shape[0] != n):
            raise ValueError(f"the memo's {name!r} has the wrong shape or dtype")
        if not torch.isfinite(tensor).all() or (kind == "knn_radii" and (tensor < 0).any()):
            raise ValueError(f"the memo's {name!r} holds values no kernel sum or distance can take")
    return dict(memo)


def scores_from(text: Any) -> dict[str, Any]:
    """Stored scores (a JSON object of numbers and booleans), checked."""
    scores = json.loads(text) if isinstance(text, str) else None
    if not isinstance(scores, dict) or not all(
            isinstance(value, (int, float, bool)) for value in scores.values()):
        raise ValueError("the stored scores are not a JSON object of numbers")
    return scores
