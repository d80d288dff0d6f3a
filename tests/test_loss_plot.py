"""The loss plot is redrawn within its time budget, and always holds every epoch at the end."""

from __future__ import annotations

import importlib
from types import SimpleNamespace

from gankit.train import time_budget
from gankit.train.outputs import LossPlot


def test_redrawn_within_its_budget_and_at_the_end(tmp_path, monkeypatch):
    clock, drawn = [0.0], []

    def plot_losses(records, path, title=""):
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
