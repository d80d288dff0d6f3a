"""--tensorboard: event files in RUN/tb with the epoch's scalars and the sample grid, read back."""

from __future__ import annotations

import sys

import pytest
from typer.testing import CliRunner

from gankit.cli.app import build_app
from gankit.train import RunOptions, train


def test_scalars_and_grids_are_written_and_read_back(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    train("dcgan", {"batch_size": 50, "epochs": 2, "ema": 0.9},
          RunOptions(out=run, progress=False, max_images=100, device="cpu", tensorboard=True))
    events = EventAccumulator(str(run / "tb"), size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    tags = events.Tags()
    for name in ("d_loss", "g_loss", "d_real", "d_fake", "images_per_s", "seconds"):
        assert name in tags["scalars"], name
        assert [e.step for e in events.Scalars(name)] == [1, 2]
    assert all(0 < e.value < 1 for e in events.Scalars("d_real"))
    images = events.Images("samples")
    assert [image.step for image in images] == [1, 2] and images[0].width > 28 * 4


def test_missing_tensorboard_is_one_line_before_anything_is_written(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # import tensorboard -> ImportError
    out = tmp_path / "run"
    result = CliRunner().invoke(build_app(), ["train", "dcgan", "--epochs", "1", "--max-images", "100",
                                              "--out", str(out), "--tensorboard", "--no-progress"])
    assert result.exit_code == 2
    assert "pip install 'gankit[tensorboard]'" in result.output and "Traceback" not in result.output
    assert not out.exists()


def test_a_resume_purges_the_events_of_the_epochs_it_trains_again(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from gankit.train import Callback

    class Kill(Callback):  # a kill -9 in epoch 4: epochs 1-3 logged, the checkpoint is epoch 2's
        def on_discriminator_step(self, context):
            if context.epoch == 3:
                raise KeyError("killed")

    run = tmp_path / "run"
    options = dict(out=run, progress=False, max_images=100, device="cpu", tensorboard=True, checkpoint_every=2)
    with pytest.raises(KeyError):
        train("vanilla", {"batch_size": 50, "epochs": 4}, RunOptions(**options), callbacks=[Kill()])
    train("vanilla", {}, RunOptions(**options, resume=True))
    events = EventAccumulator(str(run / "tb"), size_guidance={"scalars": 0})
    events.Reload()
    assert [e.step for e in events.Scalars("d_loss")] == [1, 2, 3, 4]
