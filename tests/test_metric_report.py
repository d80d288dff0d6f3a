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


def test_a_tie_as_the_table_shows_it_is_not_marked():
    # IS 1.0031 and 1.0012 both read 1.00: marking one best would point at a difference nobody sees.
    results = {"variants": [_variant("a", {"is": 1.0031, "fid": 70.0}), _variant("b", {"is": 1.0012, "fid": 80.0})],
               "floor": {}, "num_classes": 10}
    _, rows, best = table(results)
    marked = {row[0]: index for row, index in zip(rows, best)}
    assert marked[METRICS["is"].label] is None and marked[METRICS["fid"].label] == 0


def test_budget_rows_and_the_recipe_table_show_what_each_variant_was_given():
    from gankit.compare.report import recipe_table

    recipe = {"loss": "wgan-gp", "optimizer": "adam", "g_lr": 1e-4, "d_lr": 4e-4, "betas": [0.0, 0.9],
              "batch_size": 64, "n_critic": 5, "latent_dim": 64, "ema": 0.0, "precision": "fp32",
              "g_params": 1234, "d_params": 5678}
    variant = {**_variant("critic", {"fid": 50.0}), "epochs": [5], "g_steps": [50], "images_seen": [16000],
               "recipe": recipe}
    _, rows, _ = table({"variants": [variant], "floor": {}, "num_classes": 10})
    shown = {row[0]: row[2] for row in rows}
    assert (shown["epochs trained"], shown["generator updates"], shown["real images seen by D"]) == \
        ("5", "50", "16,000")
    header, rows = recipe_table({"variants": [variant]})
    shown = {row[0]: row[1] for row in rows}
    assert header == ["recipe", "critic"]
    assert shown["learning rate"] == "G 0.0001, D 0.0004" and shown["D steps per G step"] == "5"
    assert shown["z width"] == "64" and shown["G weight averaging (EMA)"] == "off"
    assert shown["D parameters"] == "5,678" and shown["loss"] == "wgan-gp"
