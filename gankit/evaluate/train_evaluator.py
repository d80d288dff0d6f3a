"""``gankit evaluator train``: train an evaluator classifier, reproducibly, on data found offline.

The recipe is fixed per dataset (:data:`RECIPES`) and seeded: AdamW with a one-cycle schedule,
batches of 128, light random affine augmentation (digits: rotation up to 8 degrees, scale
0.92-1.08, shifts up to 2 pixels; clothes: flips, scale 0.95-1.05, shifts), drawn from a generator
seeded by ``--seed``. On top of that, two things make the evaluator's metrics rank sample sets the
way the eye does (docs/metrics.md, "the fidelity suite"):

- **corruptions with the label kept**: noise, blur, salt and pepper, a grey background with less
  contrast and erased squares, each on 20% of the images, so a blurry, noisy but recognisable digit
  lands near its class instead of wherever its features stray (the early-GAN look);
- **outlier exposure** (Hendrycks et al., ICLR 2019): each batch also holds 25% images that show
  no class (Gaussian noise, real images with their pixels shuffled), trained towards the uniform
  distribution, so the evaluator's confidence says when it recognises nothing (``unrecognised``).

The accuracy is measured on the dataset's clean test split, and only when that split is the full,
held-out one; it is written into the weights' metadata with the command that made them, and the
metadata names no folder of the machine that trained them.
"""

from __future__ import annotations

import math
import shlex
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from gankit import runs
from gankit._io import atomic_write, write_json_atomic
from gankit.data.base import to_signed
from gankit.errors import DataError, GankitError
from gankit.evaluate.evaluator import FORMAT, metadata_path, sha256_of
from gankit.evaluate.network import EvaluatorNet
from gankit.host import PluginHost
from gankit.registry import DataRequest, DatasetSpec

BATCH_SIZE = 128
CORRUPT_PROBABILITY = 0.2  # each corruption hits a training image with this probability
OUTLIER_SHARE = 0.25  # outliers added to each batch, as a share of the batch
BLUR_SIGMAS = (0.5, 1.0, 1.5, 2.0)
OUTLIER_WEIGHT = 0.5  # weight of their loss (Hendrycks et al., outlier exposure, ICLR 2019)


@dataclass(frozen=True)
class Recipe:
    """How an evaluator is trained: the geometric augmentation and how many images it sees."""

    images_seen: int  # epochs default to about this many training images in total
    rotate_degrees: float
    scale: float  # +- this share
    shift_pixels: float
    flip: bool  # random horizontal flips (clothes, not digits)
    corrupt_probability: float = CORRUPT_PROBABILITY
    pooled_size: int = 1  # the network's last grid (EvaluatorNet)
    min_epochs: int = 5

    def describe(self) -> str:
        geometry = (f"rotate {self.rotate_degrees:g} deg, " if self.rotate_degrees else "") + \
            f"scale {self.scale:.0%}, shift {self.shift_pixels:g} px" + (", flips" if self.flip else "")
        corruptions = (f"each of noise, blur, salt and pepper, grey background, erased squares on "
                       f"{self.corrupt_probability:.0%} of images (label kept); "
                       if self.corrupt_probability else "no corruptions; ")
        return (f"AdamW lr 3e-3 wd 5e-4, one-cycle; random affine: {geometry}; {corruptions}"
                f"{OUTLIER_SHARE:.0%} outliers per batch (noise, shuffled pixels) trained towards "
                f"uniform, weight {OUTLIER_WEIGHT:g}"
                + (f"; network pooled to {self.pooled_size}x{self.pooled_size}"
                   if self.pooled_size > 1 else ""))


RECIPES = {
    "mnist": Recipe(images_seen=200_000, rotate_degrees=8, scale=0.08, shift_pixels=2, flip=False),
    "fashion-mnist": Recipe(images_seen=600_000, rotate_degrees=0, scale=0.05, shift_pixels=2, flip=True,
                            corrupt_probability=0.0, pooled_size=3),
}
DEFAULT_RECIPE = RECIPES["mnist"]


def recipe_for(dataset: str) -> Recipe:
    return RECIPES.get(dataset, DEFAULT_RECIPE)


def default_epochs(num_images: int, recipe: Recipe = DEFAULT_RECIPE) -> int:
    return max(recipe.min_epochs, math.ceil(recipe.images_seen / num_images))


def augment(images: torch.Tensor, rng: torch.Generator, recipe: Recipe = DEFAULT_RECIPE) -> torch.Tensor:
    """A random small rotation, scaling, shift (and flip) per image (images in [-1, 1])."""
    n = images.shape[0]
    angle = (torch.rand(n, generator=rng) * 2 - 1) * math.radians(recipe.rotate_degrees)
    scale = 1 + (torch.rand(n, generator=rng) * 2 - 1) * recipe.scale
    shift = (torch.rand(n, 2, generator=rng) * 2 - 1) * (recipe.shift_pixels / (images.shape[-1] / 2))
    flip = torch.ones(n)
    if recipe.flip:
        flip = torch.where(torch.rand(n, generator=rng) < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos * flip, -sin, shift[:, 0]], 1),
                         torch.stack([sin * flip, cos, shift[:, 1]], 1)], 1).to(images)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    # Pad with the background value (-1, black) rather than zeros (mid grey).
    return F.grid_sample(images + 1, grid, align_corners=False, padding_mode="zeros") - 1


def corrupt(images: torch.Tensor, rng: torch.Generator,
            probability: float = CORRUPT_PROBABILITY) -> torch.Tensor:
    """Degrade images the way early generators do, each corruption on a random subset.

    Noise, blur, salt and pepper, a grey background with less contrast, and erased squares, at
    random strengths. The label is kept: a blurry, noisy 3 is still a 3, and an evaluator that
    has never seen one calls it whatever class its features stray towards, with full confidence.
    """
    from gankit.evaluate import disturb

    out = images.clone()
    n = images.shape[0]

    def chosen() -> torch.Tensor:
        return (torch.rand(n, generator=rng) < probability).nonzero().flatten()

    def strengths(index: torch.Tensor, low: float, high: float) -> torch.Tensor:
        return (low + (high - low) * torch.rand(len(index), generator=rng)).view(-1, 1, 1, 1)

    def seed() -> int:
        return int(torch.randint(0, 2 ** 31 - 1, (1,), generator=rng))

    index = chosen()  # blur, with one of a few kernels per image
    which = (torch.rand(len(index), generator=rng) * len(BLUR_SIGMAS)).long()
    for kernel, sigma in enumerate(BLUR_SIGMAS):
        part = index[which == kernel]
        if len(part):
            out[part] = disturb.gaussian_blur(out[part], sigma)
    index = chosen()  # grey background, less contrast
    if len(index):
        floor_, top = strengths(index, -1.0, -0.3), strengths(index, 0.3, 1.0)
        out[index] = floor_ + (out[index] + 1) / 2 * (top - floor_)
    index = chosen()  # Gaussian noise
    if len(index):
        alpha = strengths(index, 0.05, 0.5)
        noise = torch.randn(out[index].shape, generator=rng).mul_(0.5).clamp_(-1, 1)
        out[index] = (1 - alpha) * out[index] + alpha * noise
    index = chosen()  # salt and pepper
    if len(index):
        out[index] = disturb.salt_and_pepper(out[index], float(strengths(index, 0.0, 0.15).mean()), seed())
    index = chosen()  # erased squares
    if len(index):
        out[index] = disturb.black_rectangles(out[index], 0.1 + 0.15 * float(torch.rand(1, generator=rng)),
                                              seed(), count=2)
    return out.clamp_(-1, 1)


def outliers(images: torch.Tensor, count: int, rng: torch.Generator) -> torch.Tensor:
    """Images that show no class: Gaussian noise, or a real image's pixels shuffled."""
    half = count // 2
    noise = torch.randn((half, *images.shape[1:]), generator=rng).mul_(0.5).clamp_(-1, 1)
    source = images[torch.randint(0, images.shape[0], (count - half,), generator=rng)].flatten(1)
    shuffled = torch.stack([row[torch.randperm(row.numel(), generator=rng)] for row in source])
    return torch.cat([noise, shuffled.view(count - half, *images.shape[1:])])


@torch.no_grad()
def accuracy(net: EvaluatorNet, images: torch.Tensor, labels: torch.Tensor) -> float:
    net.eval()
    correct = 0
    for batch, target in zip(images.split(500), labels.split(500)):
        correct += int((net(to_signed(batch)).argmax(1) == target).sum())
    return correct / images.shape[0]


def _held_out(train: Any, test: Any) -> str | None:
    """Why ``test`` cannot measure held-out accuracy, or None when it can."""
    if not test.is_full:
        return f"the test split found is not the full one ({test.source})"
    seen = {bytes(image.numpy().tobytes()) for image in train.images}
    overlap = sum(bytes(image.numpy().tobytes()) in seen for image in test.images)
    if overlap:
        return f"{overlap} test images also appear in the training data"
    return None


def train_evaluator(dataset_name: str, *, host: PluginHost, out_dir: Path, data_root: Path | None = None,
                    download: bool = False, epochs: int | None = None, seed: int = 0,
                    max_images: int | None = None, console: Any = None,
                    options: dict[str, str] | None = None) -> dict[str, Any]:
    """Train, measure and save ``out_dir/<dataset>.pt`` and ``.json``; returns the metadata.

    :param options: the dataset's ``--data-option`` values (a folder's ``path=``, ``size=``...).
    """
    say = console.print if console is not None else (lambda *a, **k: None)
    spec = host.datasets.get(dataset_name)
    options = dict(options or {})
    unknown = sorted(set(options) - set(spec.options))
    if unknown:
        raise GankitError(f"Dataset '{dataset_name}' has no option '{unknown[0]}' "
                          f"(its options: {', '.join(spec.options) or 'none'}).")
    train_request = DataRequest(root=data_root, split="train", download=download, options=options)
    data_root = train_request.root  # resolved: the metadata names files relative to it
    train_data, num_classes, images, labels = _training_images(spec, dataset_name, train_request,
                                                               max_images, seed, say)
    image_shape = tuple(int(d) for d in train_data.images.shape[1:])
    recipe = recipe_for(dataset_name)
    epochs = epochs or default_epochs(images.shape[0], recipe)
    if epochs < 1:
        raise GankitError(f"--epochs must be at least 1, got {epochs}.")

    net, seconds = _fit(images, labels, image_shape, num_classes, recipe, epochs, seed, say)
    train_accuracy = accuracy(net, images, labels)
    test_data = spec.load(DataRequest(root=data_root, split="test", download=download, options=options))
    why_not = _held_out(train_data, test_data)
    test_accuracy = None if why_not else accuracy(net, test_data.images, test_data.labels)
    if why_not:
        say(f"[yellow]notice:[/] held-out accuracy not measured: {why_not}. Point --data-root at a "
            "folder with the full test split to measure it.")
    command = ["gankit", "evaluator", "train", "--dataset", dataset_name, "--epochs", str(epochs),
               "--seed", str(seed)] + (["--max-images", str(max_images)] if max_images else []) \
        + [part for key, value in options.items() for part in ("--data-option", f"{key}={value}")]
    meta = {
        "dataset": dataset_name, "architecture": "gankit.evaluate.network.EvaluatorNet",
        "image_shape": list(image_shape), "num_classes": num_classes,
        "data_options": {key: _portable(value, data_root) for key, value in options.items()},
        "pooled_size": recipe.pooled_size,
        "parameters": sum(p.numel() for p in net.parameters()),
        "train_data": _portable(train_data.source, data_root), "train_images": int(images.shape[0]),
        "train_accuracy": round(train_accuracy, 5),
        "test_data": _portable(test_data.source, data_root) if not why_not else None,
        "test_images": int(test_data.images.shape[0]) if not why_not else None,
        "test_accuracy": None if test_accuracy is None else round(test_accuracy, 5),
        "test_not_measured_because": why_not,
        "command": _portable(shlex.join(command), data_root), "seed": seed, "epochs": epochs,
        "batch_size": BATCH_SIZE,
        "recipe": recipe.describe(),
        "train_seconds": round(seconds, 1), "torch_threads": torch.get_num_threads(),
        "versions": runs.versions(), "trained_at": time.strftime("%Y-%m-%d"),
    }
    return _write_weights(net, meta, out_dir / f"{dataset_name}.pt", test_accuracy, say)


def _training_images(spec: DatasetSpec, dataset_name: str, request: DataRequest, max_images: int | None,
                     seed: int, say: Any) -> tuple[Any, int, torch.Tensor, torch.Tensor]:
    """Load the labelled train split; returns it, its number of classes and the images and labels
    to fit on (a seeded draw of ``max_images`` of them when that is fewer)."""
    train_data = spec.load(request)
    say(f"[bold]train data:[/] {train_data.source}")
    num_classes = spec.num_classes or train_data.num_classes  # a folder's classes are counted on loading
    if not num_classes or train_data.labels is None:
        raise DataError(f"Dataset '{dataset_name}' has no labels; an evaluator is a classifier and needs "
                        "a labelled dataset (a folder with class sub-folders, cifar10, ...). To score runs "
                        "on an unlabelled set, pass --evaluator with one trained on another set.")
    images, labels = train_data.images, train_data.labels
    if max_images is not None and max_images < images.shape[0]:
        keep = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(seed))[:max_images]
        images, labels = images[keep], labels[keep]
    return train_data, num_classes, images, labels


def _fit(images: torch.Tensor, labels: torch.Tensor, image_shape: tuple[int, ...], num_classes: int,
         recipe: Recipe, epochs: int, seed: int, say: Any) -> tuple[EvaluatorNet, float]:
    """Train a seeded :class:`EvaluatorNet` by the recipe; returns it and the seconds it took."""
    torch.manual_seed(seed)
    rng = torch.Generator().manual_seed(seed)
    net = EvaluatorNet(in_channels=image_shape[0], num_classes=num_classes,
                       pooled_size=recipe.pooled_size)
    steps_per_epoch = max(1, images.shape[0] // BATCH_SIZE)
    optimizer = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=5e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3,
                                                   total_steps=epochs * steps_per_epoch)
    scaled = to_signed(images)
    started = time.perf_counter()
    for epoch in range(1, epochs + 1):
        net.train()
        order = torch.randperm(images.shape[0], generator=rng)
        total = 0.0
        for step in range(steps_per_epoch):
            index = order[step * BATCH_SIZE:(step + 1) * BATCH_SIZE]
            batch = corrupt(augment(scaled[index], recipe=recipe, rng=rng), rng, recipe.corrupt_probability)
            strange = outliers(scaled, max(1, round(OUTLIER_SHARE * len(index))), rng)
            logits = net(torch.cat([batch, strange]))
            # Outliers are pushed towards the uniform distribution: cross-entropy to uniform.
            loss = F.cross_entropy(logits[:len(index)], labels[index]) \
                - OUTLIER_WEIGHT * logits[len(index):].log_softmax(dim=1).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item()
        say(f"epoch {epoch}/{epochs}  loss {total / steps_per_epoch:.4f}  "
            f"{time.perf_counter() - started:.0f}s")
    return net, time.perf_counter() - started


def _write_weights(net: EvaluatorNet, meta: dict[str, Any], weights: Path, test_accuracy: float | None,
                   say: Any) -> dict[str, Any]:
    """Save the weights and their metadata (with the file's checksum) side by side; returns that."""
    weights.parent.mkdir(parents=True, exist_ok=True)
    _save_atomic({"format": FORMAT, "state_dict": net.state_dict(), "meta": meta}, weights)
    meta = {**meta, "file": weights.name, "sha256": sha256_of(weights),
            "size_bytes": weights.stat().st_size}
    write_json_atomic(metadata_path(weights), meta)
    shown = "not measured" if test_accuracy is None else f"{test_accuracy:.2%}"
    say(f"[green]Wrote[/] {weights} (held-out accuracy {shown}, sha256 {meta['sha256'][:12]}...)")
    return meta


def _portable(source: str, data_root: Path) -> str:
    """``source`` without this machine's data-root path: shipped metadata names no local folder."""
    for path in {str(Path(data_root).expanduser().resolve()), str(data_root)}:
        source = source.replace(path, "the data root")
    return source.replace(str(Path.home()), "~")


def _save_atomic(state: dict[str, Any], path: Path) -> None:
    with atomic_write(path) as file:
        torch.save(state, file)