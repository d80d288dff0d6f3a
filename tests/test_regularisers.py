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


def test_bcr_penalises_a_d_that_changes_its_mind_when_the_image_shifts():
    from gankit.train.regularisers import consistency_penalty

    torch.manual_seed(0)
    real, fake = torch.rand(64, 1, 16, 16) * 2 - 1, torch.rand(64, 1, 16, 16) * 2 - 1
    constant = lambda x, labels=None: x.new_zeros(x.shape[0])  # noqa: E731
    assert consistency_penalty(constant, real, fake, None, constant(real), constant(fake)).item() == 0
    weight = nn.Parameter(torch.ones(()))
    corner = lambda x, labels=None: weight * x[:, 0, 0, 0]  # noqa: E731  # sees where things are
    penalty = consistency_penalty(corner, real, fake, None, corner(real), corner(fake))
    assert penalty.item() > 0.1  # most images moved: the corner pixel changed
    penalty.backward()
    assert weight.grad.abs() > 0  # it trains D
    # A D that only sees the image's mirror-symmetric part does not mind flips: with translation
    # off the penalty is then exactly zero.
    import gankit.train.augment as augment

    symmetric = lambda x, labels=None: (x + x.flip(3)).sum((1, 2, 3))  # noqa: E731
    original = augment.translation
    augment.translation = lambda x: x
    try:
        assert consistency_penalty(symmetric, real, fake, None, symmetric(real), symmetric(fake),
                                   flip=True).item() == pytest.approx(0, abs=1e-6)
        assert consistency_penalty(corner, real, fake, None, corner(real), corner(fake), flip=True) > 0
    finally:
        augment.translation = original


def test_bcr_trains_logs_and_resumes_bit_for_bit(tmp_path):
    from gankit.checkpoint import load_checkpoint
    from gankit.runs import checkpoint_path, read_metrics

    settings = {"bcr": 10.0, "batch_size": 50, "epochs": 2}
    train("vanilla", settings, options(tmp_path / "whole"))
    train("vanilla", {**settings, "epochs": 1}, options(tmp_path / "split"))
    train("vanilla", {"epochs": 2}, RunOptions(out=tmp_path / "split", progress=False, device="cpu",
                                               resume=True))
    whole, split = (load_checkpoint(checkpoint_path(tmp_path / r)) for r in ("whole", "split"))
    for key, value in whole["discriminator"].items():
        assert torch.equal(split["discriminator"][key], value), key
    epochs = [r for r in read_metrics(tmp_path / "whole") if r.get("event") == "epoch"]
    assert all(r["bcr"] > 0 for r in epochs)
    train("vanilla", {"batch_size": 50, "epochs": 1}, options(tmp_path / "off"))
    (off,) = read_metrics(tmp_path / "off")
    assert "bcr" not in off  # off by default: the step is the one it was
    plain = load_checkpoint(checkpoint_path(tmp_path / "off"))
    assert not all(torch.equal(plain["discriminator"][k], v) for k, v in split["discriminator"].items())
