"""Scoring a generator, or a trained run, against real images from fixed noise.

The noise is drawn from a generator seeded by ``seed`` (0 by default), so two runs with the same
latent size are scored on exactly the same z; a conditional generator is asked for the labels
0, 1, ..., K-1, 0, 1, ... in turn, the same for every run. The result is one flat dict: the
metrics, their real-vs-real ``floor``, and what produced them (evaluator sha256, n, real split).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from gankit.errors import GankitError
from gankit.evaluate.evaluator import Evaluator, load_evaluator
from gankit.evaluate.metrics import METRICS, score
from gankit.evaluate.reference import RealReference, build_reference
from gankit.host import PluginHost, get_host
from gankit.runs import recorded_names
from gankit.noise import fixed_noise, generate  # generate: re-exported for callers of 0.1



def fixed_inputs(generator: Any, n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The noise (n, latent_dim) and, for a conditional generator, the labels i mod K."""
    return fixed_noise(generator, n, seed=seed)


def score_generator(generator: Any, evaluator: Evaluator, reference: RealReference,
                    seed: int = 0, precision: str = "fp32") -> dict[str, Any]:
    """Every metric for ``reference.n`` images of ``generator``, next to the real-vs-real floor.

    ``precision`` (gankit/train/precision.py) is the generator's autocast when drawing the images;
    the features are always extracted in fp32, so scores stay comparable with the floor and the cache.
    """
    expected = tuple(evaluator.meta.get("image_shape", generator.image_shape))
    resized = evaluator.other_set and generator.image_shape[0] == expected[0]  # features only
    if tuple(generator.image_shape) != expected and not resized:
        raise GankitError(f"The generator makes images of shape {tuple(generator.image_shape)}, but "
                          f"the '{evaluator.dataset}' evaluator expects {expected}.")
    z, labels = fixed_inputs(generator, reference.n, seed)
    images = generate_in(precision, generator, z, labels)
    fake = evaluator.features(images, labels)
    scores = {**score(reference.reference, fake, seed=seed), **reference.extra_scores(images, fake)}
    # Another set's classes (or ImageNet's, for Inception): only what their features say is kept.
    scores = {key: value for key, value in scores.items() if key not in evaluator.scores_left_out()}
    floor = reference.floor()
    return {
        **scores,
        "floor": {key: floor[key] for key in scores if key in floor},
        "n_fake": reference.n, **reference.record(),
        "noise_seed": seed, "conditional": labels is not None,
        "num_classes": int(fake.logits.shape[1]),
        "evaluator": evaluator.record(),
        "protocol": protocol(evaluator, reference, seed),
    }


def protocol(evaluator: Any, reference: RealReference, seed: int) -> dict[str, Any]:
    """What a number depends on, stored beside it so it is set only beside numbers of the same
    protocol (as Mimicry's and StudioGAN's tables do): features, network file, n, split, resize."""
    record, real = evaluator.record(), reference.record()
    return {"features": record.get("features", "evaluator"), "network": record.get("network", "gankit"),
            "file": record.get("file"), "sha256": record.get("sha256"),
            "official": record.get("official_weights"),
            "resize": record.get("resize", "to the evaluator's own size when it differs"),
            "feature_precision": record.get("precision", "fp32"), "n_fake": reference.n,
            "n_real": real["n_real"], "real_split": real["real_split"], "noise_seed": seed}


def evaluate_run(path: Path, *, n: int = 10_000, seed: int = 0, host: PluginHost | None = None,
                 data_root: Path | None = None, download: bool = False, evaluator_path: Path | None = None,
                 device: str = "cpu", console: Any = None,
                 extras: tuple[str, ...] = ("memorisation",), features: str = "evaluator",
                 inception_weights: Path | None = None, cache: bool = True,
                 precision: str = "fp32", ema: bool = True,
                 feature_precision: str | None = None) -> dict[str, Any]:
    """Score the generator of a run folder or checkpoint file (``gankit evaluate``).

    ``extras``: the opt-in scores to add (see :meth:`RealReference.extra_scores`).
    ``features``: "evaluator" (gankit's classifier) or "inception" (gankit/evaluate/inception.py,
    weights from ``inception_weights``; no extras: the train split's features would take hours).
    ``cache``: reuse the real sets' features and floor (gankit/evaluate/cache.py).
    ``ema``: score the averaged G when the run kept one (``"ema"`` in the result says which was).
    ``feature_precision``: Inception's autocast ("fp32", "bf16" or "auto": bf16 where native;
    None: fp32, which papers' numbers can stand beside).
    """
    from gankit.device import resolve_device
    from gankit.loading import load_run

    host = host or get_host()
    target = resolve_device(device)
    loaded = load_run(Path(path), host=host, device=target, ema=ema)
    metadata = getattr(loaded, "metadata", None) or {}
    pins = recorded_names(metadata)[0] if metadata else {}  # the dataset the run was made with
    dataset = host.datasets.get(loaded.dataset, pinned=pins.get("dataset"))
    recorded = metadata.get("dataset") or {}
    # The set has no evaluator of its own.
    unlabelled = "num_classes" in recorded and not recorded["num_classes"]
    if features == "inception":
        from gankit.evaluate.inception import load_inception

        evaluator = load_inception(inception_weights, device=target, precision=feature_precision)
        extras = ()
    else:
        evaluator = load_evaluator(dataset.name, evaluator_path, device=target, other_set_ok=unlabelled)
        # e.g. a flat folder scored by a class folder's
        evaluator.other_set = evaluator.other_set or unlabelled
    reference = build_reference(dataset, evaluator, n, data_root=data_root, download=download, seed=seed,
                                extras=extras, options=recorded.get("options") or {}, cache=cache)
    show_notices(reference, console)
    result = score_generator(loaded.generator, evaluator, reference, seed, precision)
    return {"run": str(path), "variant": loaded.variant, "dataset": dataset.name,
            "epoch": loaded.epoch, "ema": bool(loaded.ema), **result}


def generate_in(precision: str, generator: Any, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    """:func:`generate` under the autocast of ``precision`` (fp32, bf16, fp16 or auto)."""
    from gankit.train.precision import Precision, resolve_precision

    device = next(generator.parameters()).device
    with Precision(resolve_precision(precision, device), device, tf32=False).autocast():
        return generate(generator, z, labels)


def show_notices(reference: RealReference, console: Any) -> None:
    if console is None:
        return
    for notice in (reference.data_notice, reference.notice):
        if notice:
            console.print(f"[yellow]notice:[/] {notice}")


def format_value(key: str, value: Any, num_classes: int | None = None) -> str:
    if value is None:
        return "-"
    if key == "modes_covered":
        return f"{value}/{num_classes}" if num_classes else str(value)
    return METRICS[key].format.format(value)


def print_scores(result: dict[str, Any], console: Any) -> None:
    """A Rich table: each metric, its real-vs-real floor, and which way is better."""
    from rich.table import Table

    classes = result.get("num_classes")
    weights = " (EMA generator)" if result.get("ema") else ""
    title = f"{result['variant']} on {result['dataset']}, epoch {result['epoch']}{weights}"
    table = Table(title=title, title_justify="left")
    for column, justify in (("metric", "left"), ("value", "right"), ("real vs real", "right"),
                            ("better", "left")):
        table.add_column(column, justify=justify)
    for key, info in METRICS.items():
        if key in result:
            table.add_row(info.label, format_value(key, result[key], classes),
                          format_value(key, result["floor"].get(key), classes), info.better)
    console.print(table)
    if "near_copies" in result:
        flag = "[bold red]MEMORISED[/]: " if result["memorised"] else ""
        console.print(f"{flag}{result['near_copies']:.1%} of the samples are near-copies of a training "
                      f"image (pixel distance <= {result['near_copy_threshold']:.2f}: 1% of training "
                      "images are that close to another one).")
    console.print(f"n = {result['n_fake']:,} generated vs {result['n_real']:,} real "
                  f"({result['real_split']}); FID depends on n: compare only at equal n.")
    evaluator = result["evaluator"]
    accuracy = evaluator["test_accuracy"]
    if evaluator.get("features") == "inception":
        print_inception(evaluator, console)
        return
    console.print(f"evaluator: {evaluator['dataset']} classifier, sha256 {evaluator['sha256'][:16]}..., "
                  f"held-out accuracy {'not measured' if accuracy is None else f'{accuracy:.2%}'}")
    if evaluator.get("other_set"):
        console.print(f"[yellow]These are distances in the features of an evaluator trained on another set "
                      f"('{evaluator['dataset']}', images resized to its size), not of {result['dataset']}'s "
                      "own: compare them only with scores from the same evaluator; class-based scores are "
                      "left out.[/]")


def print_inception(evaluator: dict[str, Any], console: Any) -> None:
    """Which Inception made the features, and whether papers' FIDs can stand beside them."""
    tf_fid = evaluator.get("network", "torch-fidelity") == "tf-fid"
    official = ("the TF-FID network papers use" if tf_fid else "the official torch-fidelity file") \
        if evaluator["official_weights"] else \
        "[yellow]not the official file: not comparable with papers' FIDs[/]"
    console.print(f"features: InceptionV3 pool3 (2,048), {evaluator['file']} sha256 "
                  f"{evaluator['sha256'][:16]}..., {official}; {evaluator.get('precision', 'fp32')}"
                  f"{'; ' + evaluator['resize'] if tf_fid else ''}")
