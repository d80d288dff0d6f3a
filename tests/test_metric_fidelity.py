"""The fidelity suite at small n: the shipped evaluators' metrics rank disturbed and collapsed sets
of held-out real images the way the eye does (bench/metric_fidelity.py runs it at full n).

MNIST's held-out images are the official test split in ../shared/data/mnist; without it the MNIST
ladders are skipped, because the bundled digits are what the MNIST evaluator was trained on (not
held out; on them the contamination and single-class rungs failed at n = 1,000 on a clean clone).
Fashion-MNIST's are its test split (skipped when no Fashion-MNIST is installed).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gankit.errors import DataError
from gankit.evaluate import fidelity, metrics
from gankit.evaluate.disturb import LADDERS, gaussian_blur, gaussian_noise
from gankit.evaluate.evaluator import load_evaluator

OFFICIAL_MNIST_TEST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
N = 400


def _pool(dataset: str, held_out: bool = True) -> fidelity.RealPool:
    try:
        pool = fidelity.held_out_pool(dataset, mnist_test_dir=OFFICIAL_MNIST_TEST)
    except DataError as error:
        pytest.skip(f"no {dataset} here: {str(error).splitlines()[0]}")
    if held_out and dataset == "mnist" and pool.source.startswith("bundled"):
        pytest.skip("no held-out MNIST here: the bundled digits trained the evaluator; put the official "
                    "test split in ../shared/data/mnist")
    return pool


@pytest.fixture(scope="module", params=["mnist", "fashion-mnist"])
def suite(request) -> fidelity.SuiteResult:
    other = {"mnist": "fashion-mnist", "fashion-mnist": "mnist"}[request.param]
    pool, other_pool = _pool(request.param), _pool(other, held_out=False)
    return fidelity.run_suite(load_evaluator(request.param), pool, other_pool.images, N)


def test_every_ladder_was_scored(suite):
    assert suite.n == N
    for name, (_, levels, _) in LADDERS.items():
        assert [row["level"] for row in suite.ladder(name)] == [0, *levels]
    assert [row["level"] for row in suite.ladder("mode dropping")] == [10, 5, 2, 1, fidelity.SINGLE]


@pytest.mark.parametrize("ladder", list(LADDERS))
def test_fid_and_kid_rise_with_every_disturbance(suite, ladder):
    assert [line for line in fidelity.failures(suite) if f" {ladder}:" in line] == []


def test_dropping_modes_rises_fid_and_lowers_recall_coverage_and_modes(suite):
    assert [line for line in fidelity.failures(suite) if "mode dropping" in line or "one repeated" in line] == []
    modes = [row["modes_covered"] for row in suite.ladder("mode dropping")]
    assert modes[0] == 10 and modes[-1] == 1


def test_the_checks_catch_a_ladder_in_the_wrong_order(suite):
    broken = fidelity.SuiteResult(suite.dataset, suite.n, suite.reference_source,
                                  [dict(row) for row in suite.rows])
    noise = broken.ladder("gaussian noise")
    noise[1]["fid"], noise[2]["fid"] = noise[2]["fid"], noise[1]["fid"]
    modes = broken.ladder("mode dropping")
    modes[-1]["recall"] = 1.0
    problems = fidelity.failures(broken)
    assert any("gaussian noise: fid does not rise" in line for line in problems)
    assert any("one repeated image has a better recall" in line for line in problems)


def test_diverse_degraded_digits_beat_one_collapsed_mode():
    """Issue 9's defect in miniature: blurry, noisy, grey-backed but diverse real digits (what a
    1-epoch DCGAN draws) must score better than one sharp image repeated (a collapsed GAN)."""
    pool = _pool("mnist")
    evaluator = load_evaluator("mnist")
    order = torch.randperm(len(pool.images), generator=torch.Generator().manual_seed(3))
    reference = evaluator.features(pool.images[order[:N]])
    real = pool.images[order[N:2 * N]].float().div(127.5).sub(1.0)
    degraded = gaussian_noise(gaussian_blur(real, 1.0), 0.25, seed=1) * 0.7 - 0.2
    collapsed = real[:1].repeat(N, 1, 1, 1)
    good = metrics.score(reference, evaluator.features(degraded))
    bad = metrics.score(reference, evaluator.features(collapsed))
    assert good["fid"] < bad["fid"] and good["kid"] < bad["kid"]
    assert good["modes_covered"] >= 8 and bad["modes_covered"] == 1
    assert good["recall"] > bad["recall"] and good["coverage"] > bad["coverage"]
