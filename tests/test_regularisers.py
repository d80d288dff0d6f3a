"""--r1 (a core regulariser with every loss) and dcgan/cgan's spectral_norm option."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from gankit import GankitWarning
from gankit.loading import load_run
from gankit.train import RunOptions, train
from gankit.train.regularisers import r1_penalty


def options(out):
    return RunOptions(out=out, progress=False, max_images=100, device="cpu")


def test_r1_is_the_mean_squared_gradient_norm_at_the_real_images():
    linear = nn.Linear(6, 1, bias=False)
    critic = lambda x, labels=None: linear(x.flatten(1)).view(-1)  # noqa: E731
    real = torch.randn(5, 1, 2, 3)
    penalty = r1_penalty(critic, real, None)
    assert penalty.item() == pytest.approx(linear.weight.pow(2).sum().item(), rel=1e-5)
    penalty.backward()  # the penalty trains D: it has a gradient in D's weights
    assert linear.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("variant, loss", [("cgan", "bce"), ("dcgan", "hinge")])
def test_r1_trains_with_any_loss_and_swaps_batchnorm_for_a_per_sample_norm(tmp_path, variant, loss):
    # Their D has BatchNorm unless R1 asks otherwise, which they say, in training and on loading.
    run = tmp_path / loss
    with pytest.warns(GankitWarning, match=f"{variant}( arch=conv)? with --r1 10: .*R1 penalty is per sample"):
        train(variant, {"batch_size": 50, "epochs": 1, "r1": 10.0, "r1_every": 1, "loss": loss}, options(run))
    line = json.loads((run / "metrics.jsonl").read_text().splitlines()[0])
    assert line["r1"] > 0
    with pytest.warns(GankitWarning, match="R1 penalty is per sample"):
        loaded = load_run(run)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in loaded.discriminator.modules())
    assert any(isinstance(m, nn.GroupNorm) for m in loaded.discriminator.modules())


def test_r1_changes_training_and_zero_is_off(tmp_path):
    train("vanilla", {"batch_size": 50, "epochs": 1}, options(tmp_path / "off"))
    train("vanilla", {"batch_size": 50, "epochs": 1, "r1": 1.0}, options(tmp_path / "on"))
    off = json.loads((tmp_path / "off/metrics.jsonl").read_text().splitlines()[0])
    on = json.loads((tmp_path / "on/metrics.jsonl").read_text().splitlines()[0])
    assert "r1" not in off and on["r1"] > 0 and on["d_loss"] != off["d_loss"]


@pytest.mark.parametrize("variant", ["dcgan", "cgan"])
def test_spectral_norm_bounds_each_d_layer_and_survives_loading(tmp_path, variant):
    run = tmp_path / variant
    train(variant, {"batch_size": 50, "epochs": 1, "spectral_norm": True}, options(run))
    loaded = load_run(run)
    layers = [m for m in loaded.discriminator.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert layers and all(nn.utils.parametrize.is_parametrized(m, "weight") for m in layers)
    for layer in layers:  # the normalised weight's largest singular value is about 1
        sigma = torch.linalg.matrix_norm(layer.weight.flatten(1), ord=2).item()
        assert sigma == pytest.approx(1.0, abs=0.1)
    assert not any(nn.utils.parametrize.is_parametrized(m) for m in loaded.generator.modules())


def test_lazy_r1_acts_on_every_nth_d_step_across_epochs_weighted_n_times(tmp_path, monkeypatch):
    import gankit.train.step as step_module

    d_steps_done, penalised, d_losses, stepped = [0], [], [], []
    plain_loss, plain_scale = step_module.discriminator_step_loss, torch.amp.GradScaler.scale

    def counting_loss(*args, **kwargs):
        out = plain_loss(*args, **kwargs)
        d_losses.append(out.loss.item())
        return out

    def constant_penalty(discriminator, real, labels):
        penalised.append(d_steps_done[0] + 1)  # the D step it is taken in, counted from 1
        return torch.tensor(1.0)

    def recording_scale(self, loss):  # what each step backpropagates: D's, then G's, per batch
        if len(stepped) == 2 * d_steps_done[0]:
            d_steps_done[0] += 1
            stepped.append(loss.item())
        else:
            stepped.append(None)
        return plain_scale(self, loss)

    monkeypatch.setattr(step_module, "discriminator_step_loss", counting_loss)
    monkeypatch.setattr(step_module, "r1_penalty", constant_penalty)
    monkeypatch.setattr(torch.amp.GradScaler, "scale", recording_scale)
    # 100 images in batches of 10: 10 D steps an epoch; the count runs on over the epoch's end.
    train("vanilla", {"batch_size": 10, "epochs": 2, "r1": 0.5, "r1_every": 3}, options(tmp_path / "run"))
    assert penalised == [3, 6, 9, 12, 15, 18]
    added = [round(total - plain, 5) for total, plain in zip(stepped[::2], d_losses)]
    assert added == [0.5 * 3 / 2 if step in penalised else 0.0 for step in range(1, 21)]


def test_lazy_r1_resumes_bit_for_bit_mid_epoch(tmp_path):
    from gankit import Callback
    from gankit.train.run import Interrupted

    class StopAtStep(Callback):
        name = "stop"

        def on_generator_step(self, context):
            if context.step == 7:
                context.request_stop()

    settings = {"batch_size": 10, "r1": 0.5, "r1_every": 3}
    train("vanilla", {**settings, "epochs": 2}, options(tmp_path / "whole"))
    with pytest.raises(Interrupted):  # stopped in epoch 1, after its D step 7 (penalised: 3, 6)
        train("vanilla", {**settings, "epochs": 2}, options(tmp_path / "parts"), callbacks=[StopAtStep()])
    train("vanilla", {**settings, "epochs": 2}, RunOptions(out=tmp_path / "parts", resume=True, progress=False,
                                                           max_images=100, device="cpu"))
    whole, parts = (torch.load(tmp_path / name / "checkpoints/last.pt", weights_only=True)
                    for name in ("whole", "parts"))
    for key, value in whole["discriminator"].items():
        assert torch.equal(value, parts["discriminator"][key]), key
