"""The loss plot is redrawn within its time budget, and always holds every epoch at the end."""

from __future__ import annotations

import importlib
from types import SimpleNamespace

from gankit.train import time_budget
from gankit.train.outputs import LossPlot


def test_redrawn_within_its_budget_and_at_the_end(tmp_path, monkeypatch):
    clock, drawn = [0.0], []

    def plot_losses(records, path, title="", steps=None):
        clock[0] += 0.03  # each drawing takes 30 ms
        drawn.append(len(records))

    # The module the callback imports from (sys.modules'), also when a test before put a new one there.
    monkeypatch.setattr(importlib.import_module("gankit.plots"), "plot_losses", plot_losses)
    monkeypatch.setattr(time_budget.time, "perf_counter", lambda: clock[0])
    plot = LossPlot(budget=0.01)
    context = SimpleNamespace(run_dir=tmp_path, variant="vanilla", dataset="mnist", record=None,
                              in_background=lambda job: job())
    plot.on_run_start(context)
    for epoch in range(1, 11):  # 1 s of steps per epoch: 10 ms of drawing allowed per epoch
        context.record = {"event": "epoch", "epoch": epoch, "seconds": 1.0, "d_loss": 1.0, "g_loss": 1.0}
        plot.on_epoch_end(context)
    assert drawn == [1, 3, 6, 9]  # the first epoch, then whenever 30 ms fit in 1% of the steps
    plot.on_run_end(context)
    assert drawn[-1] == 10  # the end draws the epoch not drawn yet
    plot.on_run_end(context)
    assert len(drawn) == 5  # and nothing when every epoch is drawn


def test_a_one_epoch_trial_gets_per_step_curves_and_a_critic_its_own_names(tmp_path):
    from PIL import Image

    from gankit import runs
    from gankit.progress import format_values
    from gankit.train import RunOptions, train

    run = tmp_path / "run"
    train("vanilla", {"epochs": 1, "batch_size": 20, "loss": "wgan-gp"},
          RunOptions(out=run, progress=False, max_images=200, device="cpu"))
    steps = runs.read_metrics(run, runs.STEPS_FILE)
    assert len(steps) == 10 and [w["batch"] for w in steps] == list(range(1, 11))
    (epoch,) = runs.read_metrics(run)
    # A critic's raw mean scores are logged beside the sigmoids that old scripts read ...
    assert {"critic_real", "critic_fake", "d_real", "d_fake"} <= epoch.keys()
    assert 0 < epoch["d_real"] < 1 and "critic_real" in steps[0]
    # ... and shown as C(x), C(G(z)): the sigmoid of a critic's score is no probability.
    line = format_values({k: epoch[k] for k in ("d_loss", "g_loss", "d_real", "d_fake", "critic_real",
                                                "critic_fake")})
    assert "C(x)" in line and "C(G(z))" in line and "D(x)" not in line
    assert Image.open(run / "losses.png").size == (700, 400)


def test_a_classifier_loss_logs_no_critic_scores(tmp_path):
    from gankit import runs
    from gankit.progress import format_values
    from gankit.train import RunOptions, train

    train("vanilla", {"epochs": 1, "batch_size": 50}, RunOptions(out=tmp_path, progress=False,
                                                                 max_images=100, device="cpu"))
    (epoch,) = runs.read_metrics(tmp_path)
    assert "critic_real" not in epoch and "D(x)" in format_values({k: epoch[k] for k in ("d_real", "d_fake")})


def test_the_comparison_plot_gives_each_loss_its_own_axes(tmp_path):
    from PIL import Image

    from gankit import runs
    from gankit.plots import plot_loss_overlay, variant_curve

    def run_with(name, loss, scale):
        run = tmp_path / name
        run.mkdir()
        runs.append_metrics(run, [{"epoch": 1, "batch": b, "batches": 4, "step": b, "d_loss": scale * b,
                                   "g_loss": -scale * b} for b in range(1, 5)], runs.STEPS_FILE)
        return {"name": name, "recipe": {"loss": loss}, "runs": [{"run_dir": str(run)}]}

    variants = [run_with("a", "bce", 1.0), run_with("b", "wgan-gp", 6.8), run_with("c", "bce", 2.0)]
    assert variant_curve(variants[1], "d_loss") == ([1, 2, 3, 4], [6.8, 13.6, 20.4, 27.2])
    plot_loss_overlay({"variants": variants, "seeds": 1}, tmp_path / "losses.png")
    assert Image.open(tmp_path / "losses.png").size == (1100, 720)  # two rows: bce, then wgan-gp
