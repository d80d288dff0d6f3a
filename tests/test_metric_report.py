"""The comparison report marks a best value only where that value alone means a better generator
(issue 9: a collapsed run's precision of 1.000 was marked best)."""

from __future__ import annotations

from gankit.compare.report import HIGHLIGHT_RULE, table
from gankit.evaluate.metrics import METRICS


def _variant(name, scores):
    return {"name": name, "mean": scores, "std": {key: 0.0 for key in scores}, "runs": [{}],
            "epochs": [1], "seconds_per_epoch": None, "images_per_s": None}


def test_a_collapsed_runs_precision_and_recognition_are_not_marked_best():
    collapsed = {"fid": 161.0, "precision": 1.0, "recall": 0.0, "density": 0.2, "unrecognised": 0.0,
                 "modes_covered": 1, "near_copies": 0.0, "parzen": -50.0}
    diverse = {"fid": 66.4, "precision": 0.72, "recall": 0.06, "density": 0.52, "unrecognised": 0.255,
               "modes_covered": 10, "near_copies": 0.01, "parzen": -60.0}
    results = {"variants": [_variant("vanilla", collapsed), _variant("dcgan", diverse)],
               "floor": {}, "num_classes": 10}
    _, rows, best = table(results)
    marked = {row[0]: index for row, index in zip(rows, best)}
    label = {key: info.label for key, info in METRICS.items()}
    assert marked[label["fid"]] == 1 and marked[label["recall"]] == 1 and marked[label["modes_covered"]] == 1
    assert marked[label["near_copies"]] == 0  # fewer copies of training images is better on its own
    for key in ("precision", "density", "unrecognised", "parzen"):
        assert marked[label[key]] is None, key
    assert "never precision" in HIGHLIGHT_RULE
