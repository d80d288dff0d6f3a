"""The plugin API a third party needs, on real (tiny) runs: callbacks on the training events,
per-network learning rates and schedules, relativistic losses, latent codes, ``load_run``, dataset
options and shapes reported by the loader."""

from __future__ import annotations

import json
import math
import types
from dataclasses import dataclass

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

import gankit
from gankit import (Callback, CallbackSpec, DatasetSpec, Discriminator, Generator, LatentCode, Networks,
                    TrainConfig, VariantSpec, hookimpl)
from gankit.checkpoint import load_checkpoint
from gankit.cli import build_app
from gankit.errors import ConfigError
from gankit.host import PluginHost, PluginInfo
from gankit.testing import fake_dataset
from gankit.train import Interrupted, RunOptions, train


@dataclass
class TinyConfig(TrainConfig):
    epochs: int = 2
    batch_size: int = 16
    latent_dim: int = 6


class TinyGenerator(Generator):
    """z = [3 noise | a 2-way categorical code 'kind' | 1 continuous code 'width']."""

    latent_codes = (LatentCode("kind", 3, categories=2, summary="which of two shapes"),
                    LatentCode("width", 5, summary="how wide"))

    def __init__(self, shape):
        super().__init__(latent_dim=6, image_shape=shape)
        self.net = nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, math.prod(shape)), nn.Tanh())

    def forward(self, z, labels=None):
        return self.net(z).view(z.shape[0], *self.image_shape)


class TinyDiscriminator(Discriminator):
    def __init__(self, shape):
        super().__init__(image_shape=shape)
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(shape), 32), nn.LeakyReLU(0.2),
                                 nn.Linear(32, 1))

    def forward(self, x, labels=None):
        return self.net(x).squeeze(1)


def build_tiny(config, data):
    return Networks(TinyGenerator(data.image_shape), TinyDiscriminator(data.image_shape))


TINY = VariantSpec("tiny", "two small MLPs", TinyConfig, build_tiny)


def make_host(*plugins, datasets=()):
    host = PluginHost()
    host.load_builtins()
    host.add_plugin(types.SimpleNamespace(gankit_register_variants=hookimpl(lambda register: register(TINY))),
                    PluginInfo("tiny", "loaded"))
    for spec in datasets or [fake_dataset(name="dots", count=64, image_shape=(1, 8, 8), num_classes=None)]:
        host.datasets.register(spec.name, spec, "tests")
    for index, plugin in enumerate(plugins):
        host.add_plugin(plugin, PluginInfo(f"extra{index}", "loaded"))
    return host


def run_options(out, **extra):
    return RunOptions(dataset="dots", out=out, progress=False, device="cpu", **extra)


class Recorder(Callback):
    """Counts events, logs a number per step, and keeps state across --resume."""

    name = "recorder"

    def __init__(self, stop_after_steps=None):
        self.events, self.seen_latent, self.steps_total = [], [], 0
        self.stop_after_steps = stop_after_steps

    def on_run_start(self, context):
        self.events.append("run_start")

    def on_discriminator_step(self, context):
        self.seen_latent.append(context.batch.latent.shape)
        context.log("fake_mean", context.batch.fake.mean())

    def on_generator_step(self, context):
        self.steps_total += 1
        if self.stop_after_steps and context.step == self.stop_after_steps:
            context.request_stop()

    def on_checkpoint(self, context):
        self.events.append("checkpoint")

    def on_epoch_end(self, context):
        self.events.append(f"epoch_end {context.epoch}")
        context.log("epoch_seen", context.epoch)

    def on_run_end(self, context):
        self.events.append("run_end")

    def state_dict(self):
        return {"steps_total": self.steps_total}

    def load_state_dict(self, state):
        self.steps_total = state["steps_total"]


def test_callbacks_see_the_events_in_order_and_their_logs_reach_metrics(tmp_path):
    recorder = Recorder()
    train("tiny", {}, run_options(tmp_path / "run"), host=make_host(), callbacks=[recorder])
    assert recorder.events == ["run_start", "checkpoint", "epoch_end 1", "checkpoint", "epoch_end 2", "run_end"]
    assert recorder.seen_latent[0] == (16, 6) and len(recorder.seen_latent) == 8  # 64 images / 16, twice
    lines = [json.loads(line) for line in (tmp_path / "run/metrics.jsonl").read_text().splitlines()]
    assert [line["epoch_seen"] for line in lines] == [1, 2]
    assert all(math.isfinite(line["fake_mean"]) and -1 <= line["fake_mean"] <= 1 for line in lines)
    assert load_checkpoint(tmp_path / "run/checkpoints/last.pt")["callbacks"] == {"recorder": {"steps_total": 8}}


def test_request_stop_checkpoints_and_resume_restores_callback_state_bit_for_bit(tmp_path):
    host = make_host()
    train("tiny", {}, run_options(tmp_path / "straight"), host=host, callbacks=[Recorder()])
    with pytest.raises(Interrupted):
        train("tiny", {}, run_options(tmp_path / "stopped"), host=host, callbacks=[Recorder(stop_after_steps=3)])
    resumed = Recorder()
    train("tiny", {}, run_options(tmp_path / "stopped", resume=True), host=host, callbacks=[resumed])
    assert resumed.steps_total == 8  # 3 before the stop, restored, plus 5 after
    straight = load_checkpoint(tmp_path / "straight/checkpoints/last.pt")
    stopped = load_checkpoint(tmp_path / "stopped/checkpoints/last.pt")
    for key in straight["generator"]:
        assert torch.equal(straight["generator"][key], stopped["generator"][key])


def test_a_plugin_callback_is_enabled_per_run_by_name_and_kept_on_resume(tmp_path):
    built = []

    def build(config):
        built.append(Recorder())
        return built[-1]

    plugin = types.SimpleNamespace(gankit_register_callbacks=hookimpl(
        lambda register: register(CallbackSpec("recorder", "records events", build))))
    host = make_host(plugin)
    app = build_app(host)
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", "tiny", "--dataset", "dots", "--epochs", "1", "--out", str(out),
                                      "--no-progress", "--callback", "recorder"])
    assert result.exit_code == 0, result.output
    assert len(built) == 1 and built[0].events[-1] == "run_end"
    assert json.loads((out / "config.json").read_text())["callbacks"] == ["recorder"]
    result = CliRunner().invoke(app, ["train", "tiny", "--epochs", "2", "--out", str(out), "--resume",
                                      "--no-progress"])
    assert result.exit_code == 0, result.output
    assert len(built) == 2 and built[1].steps_total == 8
    unknown = CliRunner().invoke(app, ["train", "tiny", "--dataset", "dots", "--out", str(tmp_path / "x"),
                                       "--callback", "recordr"])
    assert unknown.exit_code == 2 and "Unknown callback 'recordr'. Did you mean 'recorder'?" in unknown.output
    assert "recorder" in CliRunner().invoke(app, ["list"], terminal_width=200).output


def test_ttur_learning_rates_are_used_and_recorded(tmp_path):
    result = CliRunner().invoke(build_app(make_host()), [
        "train", "tiny", "--dataset", "dots", "--epochs", "1", "--out", str(tmp_path / "run"), "--no-progress",
        "--set", "g_lr=1e-3", "--set", "d_lr=2e-4"])
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "run/config.json").read_text())["config"]
    assert (config["g_lr"], config["d_lr"], config["lr"]) == (1e-3, 2e-4, 2e-4)
    state = load_checkpoint(tmp_path / "run/checkpoints/last.pt")
    assert state["g_optimizer"]["param_groups"][0]["lr"] == 1e-3
    assert state["d_optimizer"]["param_groups"][0]["lr"] == 2e-4


class LearningRates(Callback):
    def __init__(self):
        self.seen = []

    def on_epoch_end(self, context):
        self.seen.append((context.g_optimizer.param_groups[0]["lr"], context.d_optimizer.param_groups[0]["lr"]))


@pytest.mark.parametrize("schedule, factors", [("linear", [0.5, 0.0]), ("cosine", [0.5, 0.0]),
                                               ("constant", [1.0, 1.0])])
def test_lr_schedules_decay_per_epoch_and_optimizers_are_chosen_by_config(tmp_path, schedule, factors):
    rates = LearningRates()
    train("tiny", {"lr_schedule": schedule, "optimizer": "rmsprop", "epochs": 2, "g_lr": 1e-3},
          run_options(tmp_path / "run", max_images=32), host=make_host(), callbacks=[rates])
    assert rates.seen == [pytest.approx((1e-3 * f, 2e-4 * f)) for f in factors]
    state = load_checkpoint(tmp_path / "run/checkpoints/last.pt")
    assert "alpha" in state["g_optimizer"]["param_groups"][0]  # RMSprop's own setting
    assert "g_scheduler" in state if schedule != "constant" else "g_scheduler" not in state


def test_a_variant_may_bring_its_own_optimizers(tmp_path):
    def optimizers(config, networks):
        return gankit.Optimizers(torch.optim.SGD(networks.generator.parameters(), lr=0.05),
                                 torch.optim.SGD(networks.discriminator.parameters(), lr=0.01))

    spec = VariantSpec("tiny-sgd", "tiny with SGD", TinyConfig, build_tiny, optimizers=optimizers)
    host = make_host(types.SimpleNamespace(gankit_register_variants=hookimpl(lambda register: register(spec))))
    train("tiny-sgd", {"epochs": 1}, run_options(tmp_path / "run"), host=host)
    state = load_checkpoint(tmp_path / "run/checkpoints/last.pt")
    assert [state[k]["param_groups"][0]["lr"] for k in ("g_optimizer", "d_optimizer")] == [0.05, 0.01]

    wrong = VariantSpec("tiny-bad", "returns a tuple", TinyConfig, build_tiny,
                        optimizers=lambda config, networks: (1, 2))
    host = make_host(types.SimpleNamespace(gankit_register_variants=hookimpl(lambda register: register(wrong))))
    with pytest.raises(ConfigError, match="return gankit.Optimizers"):
        train("tiny-bad", {"epochs": 1}, run_options(tmp_path / "bad"), host=host)


@pytest.mark.parametrize("variant", ["vanilla", "dcgan", "cgan"])
def test_the_relativistic_loss_trains_every_builtin_variant(tmp_path, variant):
    result = train(variant, {"loss": "ragan", "epochs": 1, "batch_size": 50},
                   RunOptions(out=tmp_path / "run", progress=False, device="cpu", max_images=150,
                              download=False, data_root=tmp_path / "empty"))
    record = result.epoch_metrics[0]
    assert math.isfinite(record["d_loss"]) and math.isfinite(record["g_loss"])


def test_load_run_rebuilds_both_networks_and_prefers_ema_weights(tmp_path):
    host = make_host()
    train("tiny", {"epochs": 1}, run_options(tmp_path / "run"), host=host)
    loaded = gankit.load_run(tmp_path / "run", host=host)
    assert (loaded.variant, loaded.dataset, loaded.epoch, loaded.ema) == ("tiny", "dots", 1, False)
    assert loaded.metadata["dataset"]["image_shape"] == [1, 8, 8] and not loaded.generator.training
    images = loaded.generator(loaded.generator.sample_latent(3))
    assert images.shape == (3, 1, 8, 8) and loaded.discriminator(images).shape == (3,)

    state = load_checkpoint(tmp_path / "run/checkpoints/last.pt")
    state["generator_ema"] = {key: torch.zeros_like(value) for key, value in state["generator"].items()}
    torch.save(state, tmp_path / "run/checkpoints/last.pt")
    averaged = gankit.load_run(tmp_path / "run", host=host)
    assert averaged.ema and all(float(p.detach().abs().sum()) == 0 for p in averaged.generator.parameters())
    assert not gankit.load_run(tmp_path / "run", host=host, ema=False).ema


def test_sample_sets_declared_latent_codes_as_a_grid(tmp_path):
    host = make_host()
    train("tiny", {"epochs": 1}, run_options(tmp_path / "run"), host=host)
    app = build_app(host)
    out = tmp_path / "codes.pt"
    result = CliRunner().invoke(app, ["sample", str(tmp_path / "run"), "--n", "6", "--out", str(out),
                                      "--code", "kind=0-1", "--code", "width=-1:1:3"])
    assert result.exit_code == 0, result.output
    loaded = gankit.load_run(tmp_path / "run", host=host)
    z = loaded.generator.sample_latent(6, generator=torch.Generator().manual_seed(0))
    z[:, 3:5] = torch.tensor([[1.0, 0.0], [0.0, 1.0]] * 3)  # kind 0,1,0,1,0,1: fastest along a row
    z[:, 5] = torch.tensor([-1.0, -1.0, 0.0, 0.0, 1.0, 1.0])  # one row per width
    with torch.no_grad():
        expected = loaded.generator(z).clamp(-1, 1)
    assert torch.allclose(torch.load(out), expected)
    bad = CliRunner().invoke(app, ["sample", str(tmp_path / "run"), "--code", "colour=1"])
    assert bad.exit_code == 2 and "NAME one of kind, width" in bad.output


def test_dataset_options_reach_the_loader_and_the_shape_comes_from_the_data(tmp_path):
    seen = {}

    def load(request):
        seen.update(request.options)
        side = int(request.options.get("side", "8"))
        return fake_dataset(count=32, image_shape=(1, side, side), num_classes=None).load(request)

    spec = DatasetSpec("sized", "side chosen by an option", None, None, load,
                       options={"side": "the images' side in pixels"})
    host = make_host(datasets=[spec])
    app = build_app(host)
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", "tiny", "--dataset", "sized", "--data-option", "side=12",
                                      "--epochs", "1", "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert seen == {"side": "12"}
    recorded = json.loads((out / "config.json").read_text())["dataset"]
    assert recorded["image_shape"] == [1, 12, 12] and recorded["options"] == {"side": "12"}
    assert gankit.load_run(out, host=host).generator.image_shape == (1, 12, 12)
    bad = CliRunner().invoke(app, ["train", "tiny", "--dataset", "sized", "--data-option", "colour=red",
                                   "--out", str(tmp_path / "bad")])
    assert bad.exit_code == 2 and "has no option 'colour' (its options: side)" in bad.output
    assert not (tmp_path / "bad").exists()


def test_a_loader_that_contradicts_its_declared_shape_is_named(tmp_path):
    liar = DatasetSpec("liar", "declares 8x8, loads 10x10", (1, 8, 8), None,
                       fake_dataset(count=32, image_shape=(1, 10, 10), num_classes=None).load)
    with pytest.raises(gankit.DataError, match=r"declares images of shape \(1, 8, 8\).*returned \(1, 10, 10\)"):
        train("tiny", {}, RunOptions(dataset="liar", out=tmp_path / "run", progress=False, device="cpu"),
              host=make_host(datasets=[liar]))


LEGACY_PLUGIN = '''
"""A plugin as written for gankit 0.1: old import paths, old method signatures, no new keywords."""
from gankit import LossSpec, hookimpl
from gankit.plugins import PluginHost  # the host's 0.1 module name


def build(config):
    from gankit import Loss, DiscriminatorLoss

    class HingeOld(Loss):
        def discriminator_loss(self, discriminator, real, fake, labels=None):
            r, f = discriminator(real, labels), discriminator(fake, labels)
            return DiscriminatorLoss((1 - r).clamp(min=0).mean() + (1 + f).clamp(min=0).mean(), r, f)

        def generator_loss(self, discriminator, fake, labels=None):
            return -discriminator(fake, labels).mean()

    return HingeOld()


@hookimpl
def gankit_register_losses(register):
    register(LossSpec("hinge-old", "hinge, 0.1 style", build))


@hookimpl
def gankit_register_commands(app):
    @app.command("legacy-sample")
    def legacy_sample(run: str) -> None:
        from gankit.sample import draw_samples, load_generator

        images, _ = draw_samples(load_generator(run), 2, seed=0)
        print(tuple(images.shape))
'''


def test_a_plugin_written_for_gankit_0_1_keeps_working(tmp_path):
    directory = tmp_path / "plugins"
    directory.mkdir()
    (directory / "legacy.py").write_text(LEGACY_PLUGIN)
    host = make_host()
    host.load_plugins_dir(directory)
    assert host.plugins["legacy"].state == "loaded" and host.plugins["legacy"].problems == []
    from gankit.host import set_host

    set_host(host)  # load_generator uses the process-wide host, as 0.1 plugins expect
    try:
        app = build_app(host)
        out = tmp_path / "run"
        result = CliRunner().invoke(app, ["train", "tiny", "--dataset", "dots", "--loss", "hinge-old",
                                          "--epochs", "1", "--out", str(out), "--no-progress"])
        assert result.exit_code == 0, result.output
        assert json.loads((out / "config.json").read_text())["loss_plugin"] == "legacy"
        result = CliRunner().invoke(app, ["legacy-sample", str(out)])
        assert result.exit_code == 0 and result.output.strip() == "(2, 1, 8, 8)", result.output
    finally:
        set_host(None)


def test_precision_is_recorded_kept_on_resume_and_bf16_trains(tmp_path):
    host = make_host()
    train("tiny", {"epochs": 1}, run_options(tmp_path / "run", precision="bf16"), host=host)
    assert json.loads((tmp_path / "run/config.json").read_text())["precision"] == "bf16"
    assert load_checkpoint(tmp_path / "run/checkpoints/last.pt")["precision"] == "bf16"
    with pytest.raises(ConfigError, match="Cannot change --precision when resuming"):
        train("tiny", {"epochs": 2}, run_options(tmp_path / "run", resume=True, precision="fp32"), host=host)
    result = train("tiny", {"epochs": 2}, run_options(tmp_path / "run", resume=True), host=host)
    assert result.epochs_done == 2 and math.isfinite(result.epoch_metrics[0]["d_loss"])
    with pytest.raises(ConfigError, match="fp16 needs a CUDA GPU"):
        train("tiny", {}, run_options(tmp_path / "half", precision="fp16"), host=host)


def test_one_forward_over_real_and_fake_gives_the_two_forward_loss():
    from gankit.losses import NonSaturatingLoss, discriminator_step_loss, may_mix_batches

    torch.manual_seed(0)
    discriminator = TinyDiscriminator((1, 8, 8))
    real, fake = torch.rand(5, 1, 8, 8), torch.rand(7, 1, 8, 8)
    two = discriminator_step_loss(NonSaturatingLoss(), discriminator, real, fake)
    one = discriminator_step_loss(NonSaturatingLoss(), discriminator, real, fake, mixed_batch=True)
    assert torch.allclose(one.loss, two.loss) and torch.allclose(one.fake_logits, two.fake_logits)
    assert may_mix_batches(discriminator)
    assert not may_mix_batches(nn.Sequential(nn.BatchNorm1d(3)))
    declared = TinyDiscriminator((1, 8, 8))
    declared.batch_statistics = True  # e.g. minibatch-stddev: the logit depends on the batch
    assert not may_mix_batches(declared)


def test_background_writes_keep_order_and_skip_what_follows_a_failure(tmp_path):
    from gankit.train.background import BackgroundWriter, detached_copy

    writer, done = BackgroundWriter(), []
    writer.submit(lambda: done.append(1))
    writer.submit(lambda: (_ for _ in ()).throw(OSError("disk full")))
    writer.submit(lambda: done.append(3))
    with pytest.raises(OSError, match="disk full"):
        writer.close()
    assert done == [1]
    inline, done = BackgroundWriter(threaded=False), []
    inline.submit(lambda: done.append(1))
    with pytest.raises(OSError, match="disk full"):  # at once, in the caller's thread
        inline.submit(lambda: (_ for _ in ()).throw(OSError("disk full")))
    inline.submit(lambda: done.append(3))
    assert done == [1]
    live = {"w": torch.ones(2), "nested": [torch.zeros(1)]}
    snapshot = detached_copy(live)
    live["w"].add_(1)
    assert snapshot["w"].tolist() == [1.0, 1.0] and snapshot["nested"][0] is not live["nested"][0]


def test_auto_precision_is_bf16_only_where_the_hardware_has_it(monkeypatch):
    import gankit.train.precision as precision

    monkeypatch.undo()  # the conftest's pin of native_bf16: this test asks the real one, torch mocked
    monkeypatch.delenv("GANKIT_AUTO_PRECISION")  # the conftest's process-wide pin of auto
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    for avx512, amx, expected in ((True, False, "bf16"), (False, True, "bf16"), (False, False, "fp32")):
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512)
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
        assert precision.resolve_precision("auto", cpu) == expected, (avx512, amx)
        assert precision.resolve_precision("fp32", cpu) == "fp32"  # an explicit choice wins
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    for capability, expected in (((8, 0), "bf16"), ((9, 0), "bf16"), ((7, 5), "fp32")):
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
        assert precision.resolve_precision("auto", cuda) == expected, capability
    assert precision.resolve_precision("auto", torch.device("mps")) == "fp32"
    monkeypatch.setenv("GANKIT_AUTO_PRECISION", "fp32")  # pinned: the same numbers on every machine
    assert precision.resolve_precision("auto", cuda) == "fp32"
    monkeypatch.setenv("GANKIT_AUTO_PRECISION", "bf16")
    assert precision.resolve_precision("auto", torch.device("cpu")) == "bf16"


def test_auto_records_what_it_picked_and_a_resume_keeps_it(tmp_path, monkeypatch):
    import gankit.train.precision as precision

    host = make_host()
    monkeypatch.delenv("GANKIT_AUTO_PRECISION")  # the conftest's pin: this test is about the hardware
    monkeypatch.setattr(precision, "native_bf16", lambda device: True)  # a CPU with AVX512-BF16
    train("tiny", {"epochs": 1}, run_options(tmp_path / "native"), host=host)
    assert json.loads((tmp_path / "native/config.json").read_text())["precision"] == "bf16"
    monkeypatch.setattr(precision, "native_bf16", lambda device: False)  # resumed on an AVX2 CPU
    train("tiny", {"epochs": 2}, run_options(tmp_path / "native", resume=True), host=host)
    assert load_checkpoint(tmp_path / "native/checkpoints/last.pt")["precision"] == "bf16"
    train("tiny", {"epochs": 1}, run_options(tmp_path / "plain"), host=host)
    assert json.loads((tmp_path / "plain/config.json").read_text())["precision"] == "fp32"
