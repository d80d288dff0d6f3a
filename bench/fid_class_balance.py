"""How much FID class imbalance alone costs, in the shipped evaluator's feature space.

FID in the MNIST classifier's features (what ``gankit evaluate`` reports) sees the class
proportions of the samples: its features form one cluster per digit, so a generator whose digits
are perfect but whose classes come in the wrong proportions still scores above the real-vs-real
floor. This bench measures that part with real digits only: the floor set (real digits not in the
reference) resampled so that its classes follow other proportions, scored against the reference.

- ``--strengths``: random class weights ``1 + s * N(0, 1)`` (clamped at 0.05) for each strength s,
  ``--draws`` of them each; prints each draw's KL to uniform and FID, so FID can be read off
  against the KL that ``gankit evaluate`` prints for a run.
- ``--run RUN`` (repeatable): the run's own class histogram (its generator's n samples, classed by
  the evaluator as ``gankit evaluate`` does), imposed on the real digits: the FID the run would
  score with its class balance and real digits, next to its actual FID. The rest of its FID is the
  digits themselves.

    python bench/fid_class_balance.py [--n 2500] [--strengths 0.1,0.2,0.3,0.5] [--draws 3] [--run RUN]

Resampling draws with replacement, which alone adds a little (the ``s = 0`` row measures it).
"""

from __future__ import annotations

import argparse
import os
import statistics
from pathlib import Path

import torch

from gankit.evaluate.evaluator import FeatureSet, load_evaluator
from gankit.evaluate.metrics import frechet_distance, mode_coverage, recognised
from gankit.evaluate.reference import build_reference
from gankit.evaluate.score import fixed_inputs, generate_in
from gankit.loading import load_run
from gankit.plugins import get_host


def resampled(pool: FeatureSet, weights: torch.Tensor, n: int, generator: torch.Generator) -> FeatureSet:
    """``n`` of ``pool``'s images drawn with replacement, each with its class's weight."""
    classes = pool.logits.argmax(1)
    per_image = weights[classes]
    return pool.take(torch.multinomial(per_image / per_image.sum(), n, replacement=True, generator=generator))


def class_shares(features: FeatureSet, num_classes: int) -> torch.Tensor:
    """The share of each class among the recognised images, as ``gankit evaluate``'s KL counts them."""
    classes = features.logits.argmax(1)[recognised(features)]
    return torch.bincount(classes, minlength=num_classes).double() / max(len(classes), 1)


def run_features(path: Path, evaluator, n: int) -> FeatureSet:
    """The features of ``n`` images of a run's generator, drawn as ``gankit evaluate`` draws them."""
    loaded = load_run(path)
    z, labels = fixed_inputs(loaded.generator, n, 0)
    return evaluator.features(generate_in("fp32", loaded.generator, z, labels), labels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2500)
    parser.add_argument("--strengths", default="0,0.1,0.2,0.3,0.5")
    parser.add_argument("--draws", type=int, default=3)
    parser.add_argument("--run", action="append", type=Path, default=[])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"load average at start: {os.getloadavg()[0]:.2f}")

    host = get_host()
    evaluator = load_evaluator("mnist")
    reference = build_reference(host.datasets.get("mnist"), evaluator, args.n, seed=0, extras=())
    real, pool = reference.reference, reference.floor_set
    num_classes = int(pool.logits.shape[1])
    print(f"n = {reference.n}; floor (real vs real) FID {frechet_distance(real, pool):.3f}")
    generator = torch.Generator().manual_seed(0)

    print("\nstrength  draw  KL to uniform  FID")
    for strength in (float(s) for s in args.strengths.split(",")):
        fids = []
        for draw in range(args.draws):
            weights = (1 + strength * torch.randn(num_classes, generator=generator)).clamp(min=0.05)
            skewed = resampled(pool, weights, reference.n, generator)
            fids.append(frechet_distance(real, skewed))
            print(f"{strength:8.2f}  {draw:4d}  {mode_coverage(skewed)['kl_to_uniform']:13.4f}  {fids[-1]:.3f}")
        print(f"{strength:8.2f}  mean  {'':13}  {statistics.mean(fids):.3f}")

    for path in args.run:
        fake = run_features(path, evaluator, reference.n)
        shares = class_shares(fake, num_classes)
        # Weights that turn the real pool's class shares into the run's.
        weights = (shares / class_shares(pool, num_classes).clamp(min=1e-9)).float()
        fids = [frechet_distance(real, resampled(pool, weights, reference.n, generator)) for _ in range(args.draws)]
        print(f"\n{path}: FID {frechet_distance(real, fake):.3f}, KL to uniform "
              f"{mode_coverage(fake)['kl_to_uniform']:.4f}; real digits in its class proportions: FID "
              f"{statistics.mean(fids):.3f} (mean of {args.draws} draws: "
              f"{', '.join(f'{fid:.3f}' for fid in fids)})")
    print(f"\nload average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
