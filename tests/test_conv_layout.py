"""Networks with 2-D convolutions train in the channels-last memory layout (gankit.device)."""

from __future__ import annotations

import torch
from torch import nn

from gankit import Callback
from gankit.device import place_network
from gankit.loading import load_run
from gankit.train import RunOptions, train

CPU = torch.device("cpu")


def test_conv_networks_get_channels_last_and_mlps_are_left_alone():
    conv = place_network(nn.Sequential(nn.Conv2d(2, 4, 3), nn.Flatten(), nn.Linear(4 * 6 * 6, 1)), CPU)
    assert conv[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert not conv[0].weight.is_contiguous()
    mlp = place_network(nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 1)), CPU)
    assert all(parameter.is_contiguous() for parameter in mlp.parameters())


class Layouts(Callback):
    name = "layouts"

    def __init__(self):
        self.seen = []

    def on_generator_step(self, context):
        for network in (context.generator, context.discriminator):
            convs = [m for m in network.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
            self.seen.append(all(m.weight.is_contiguous(memory_format=torch.channels_last) for m in convs))


def options(out, **extra):
    return RunOptions(out=out, progress=False, max_images=96, device="cpu", **extra)


def test_a_cgan_run_trains_channels_last_resumes_bit_for_bit_and_loads_as_plain_weights(tmp_path):
    settings = {"batch_size": 32}
    layouts = Layouts()
    train("cgan", {**settings, "epochs": 2}, options(tmp_path / "whole"), callbacks=[layouts])
    assert layouts.seen and all(layouts.seen)
    train("cgan", {**settings, "epochs": 1}, options(tmp_path / "parts"))
    train("cgan", {**settings, "epochs": 2}, options(tmp_path / "parts", resume=True))
    whole, parts = (torch.load(tmp_path / name / "checkpoints/last.pt", weights_only=True)
                    for name in ("whole", "parts"))
    for network in ("generator", "discriminator"):
        for key, value in whole[network].items():
            assert torch.equal(value, parts[network][key]), (network, key)
    loaded = load_run(tmp_path / "whole")  # a plain, contiguous network holds the same values
    for key, value in loaded.generator.state_dict().items():
        assert torch.equal(value, whole["generator"][key]), key
    images = loaded.generator(loaded.generator.sample_latent(4), torch.arange(4))
    assert images.shape[0] == 4 and torch.isfinite(images).all()
