"""gankit.testing catches the mistakes plugin authors make, each with a message saying what to fix.

Each test registers a tiny variant (8x8 images) with one deliberate mistake and checks the kit's
message; a correct tiny variant, conditional or not, passes every check.
"""

from __future__ import annotations

import math
import re
import types
from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gankit import (DatasetSpec, Discriminator, DiscriminatorLoss, Generator, LogitLoss, LossSpec,
                    Networks, TrainConfig, VariantSpec, hookimpl)
from gankit.testing import (PluginCheckError, check_loss, check_plugin, check_variant,
                            check_variant_loss, plugin_host)

SHAPE = (1, 8, 8)


@dataclass
class TinyConfig(TrainConfig):
    latent_dim: int = 8
    batch_size: int = 8


class TinyGenerator(Generator):
    def __init__(self, *, latent_dim, image_shape, num_classes=None):
        super().__init__(latent_dim=latent_dim, image_shape=image_shape, num_classes=num_classes)
        self.embed = nn.Embedding(num_classes, latent_dim) if num_classes else None
        self.net = nn.Linear(latent_dim, math.prod(image_shape))

    def raw(self, z, labels):
        if self.embed is not None:
            z = z + self.embed(labels)
        return self.net(z).view(z.shape[0], *self.image_shape)

    def forward(self, z, labels=None):
        return torch.tanh(self.raw(z, labels))


class TinyDiscriminator(Discriminator):
    def __init__(self, *, image_shape, num_classes=None):
        super().__init__(image_shape=image_shape, num_classes=num_classes)
        self.net = nn.Linear(math.prod(image_shape), 1)

    def forward(self, x, labels=None):
        return self.net(x.flatten(1)).squeeze(1)


def tiny_host(generator=TinyGenerator, discriminator=TinyDiscriminator, *, conditional=False,
              config_class=TinyConfig, losses=(), supports=None):
    """A host with gankit's built-ins plus one plugin: variant 'tiny' and dataset 'tiny-data'."""

    def build(config, data):
        classes = data.num_classes if conditional else None
        return Networks(generator(latent_dim=config.latent_dim, image_shape=data.image_shape,
                                  num_classes=classes),
                        discriminator(image_shape=data.image_shape, num_classes=classes))

    plugin = types.ModuleType("tiny_plugin")
    plugin.gankit_register_variants = hookimpl(lambda register: register(VariantSpec(
        "tiny", "a tiny test variant", config_class, build, conditional=conditional, supports=supports)))
    plugin.gankit_register_datasets = hookimpl(lambda register: register(DatasetSpec(
        "tiny-data", "8x8 images, 3 classes (never loaded: the kit makes synthetic data)",
        SHAPE, 3, load=None)))
    plugin.gankit_register_losses = hookimpl(lambda register: [register(spec) for spec in losses])
    return plugin_host(plugin)


def check_tiny(host, **kwargs) -> None:
    check_variant("tiny", host=host, dataset="tiny-data", **kwargs)


def message_of(check, *args, **kwargs) -> str:
    with pytest.raises(PluginCheckError) as caught:
        check(*args, **kwargs)
    return str(caught.value)


# -- a correct plugin passes -----------------------------------------------------------------------


@pytest.mark.parametrize("conditional", [False, True])
def test_a_correct_variant_passes_every_check(conditional, tmp_path):
    host = tiny_host(conditional=conditional)
    check_tiny(host, workdir=tmp_path)
    assert (tmp_path / "check-tiny" / "checkpoints" / "last.pt").is_file()
    for loss in host.losses.names():
        check_variant_loss("tiny", loss, host=host, dataset="tiny-data")


def test_the_builtin_losses_pass_the_loss_check():
    host = tiny_host()
    for loss in host.losses.names():
        check_loss(loss, host=host)


# -- the generator -------------------------------------------------------------------------------------


class NoTanh(TinyGenerator):
    def forward(self, z, labels=None):
        return 5 * self.raw(z, labels)


class FlatImages(TinyGenerator):
    def forward(self, z, labels=None):
        return torch.tanh(self.net(z))


class IgnoresNoise(TinyGenerator):
    def forward(self, z, labels=None):
        return torch.tanh(self.raw(torch.ones_like(z), labels))


class IgnoresLabels(TinyGenerator):
    def forward(self, z, labels=None):
        return torch.tanh(self.net(z).view(z.shape[0], *self.image_shape))


class NoisyInEval(TinyGenerator):
    def forward(self, z, labels=None):
        return torch.tanh(self.raw(z + torch.randn_like(z), labels))


class HiddenState(TinyGenerator):
    """Keeps a random tensor as a plain attribute: it is not in state_dict, so not in checkpoints."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.offset = torch.randn(self.latent_dim)

    def forward(self, z, labels=None):
        return torch.tanh(self.raw(z + self.offset, labels))


@pytest.mark.parametrize("generator, conditional, expected", [
    (NoTanh, False, r"outside \[-1, 1\] .* End G with tanh\."),
    (FlatImages, False, r"returned shape \(8, 64\), expected \(8, 1, 8, 8\) .* Reshape G's output"),
    (IgnoresNoise, False, r"G gives the same images for different z\. Feed z into G's first layer"),
    (IgnoresLabels, True, r"G ignores its labels: .* Feed the labels into G"),
    (NoisyInEval, False, r"G in eval mode gives different images for the same z\. Draw no randomness"),
    (HiddenState, False, r"restored from its checkpoint .*self\.register_buffer"),
])
def test_generator_mistakes(generator, conditional, expected):
    message = message_of(check_tiny, tiny_host(generator, conditional=conditional))
    assert message.startswith("variant 'tiny': ")
    assert re.search(expected, message), message


# -- the discriminator -----------------------------------------------------------------------------------


class ColumnLogits(TinyDiscriminator):
    def forward(self, x, labels=None):
        return self.net(x.flatten(1))


class Probabilities(TinyDiscriminator):
    def forward(self, x, labels=None):
        return torch.sigmoid(self.net(x.flatten(1))).view(-1)


class DetachesInput(TinyDiscriminator):
    def forward(self, x, labels=None):
        return self.net(x.detach().flatten(1)).squeeze(1)


class Exploding(TinyDiscriminator):
    def forward(self, x, labels=None):
        return self.net(x.flatten(1)).squeeze(1) / 0.0


@pytest.mark.parametrize("discriminator, expected", [
    (ColumnLogits, r"D returned logits of shape \(8, 1\), expected \(8,\)\. Squeeze"),
    (Probabilities, r"D returns probabilities \(its output ends in a sigmoid\)\. Return raw logits"),
    (DetachesInput, r"G's loss gives G no gradient\. G's images must reach D's logits"),
    (Exploding, r"D returned NaN or Inf logits"),
])
def test_discriminator_mistakes(discriminator, expected):
    message = message_of(check_tiny, tiny_host(discriminator=discriminator))
    assert re.search(expected, message), message


# -- the spec and its config ----------------------------------------------------------------------------


@dataclass
class NotATrainConfig:
    latent_dim: int = 8


@dataclass
class UnknownLossConfig(TinyConfig):
    loss: str = "wassersteim"


def test_config_mistakes():
    assert "is not a dataclass subclassing gankit.TrainConfig" in message_of(
        check_tiny, tiny_host(config_class=NotATrainConfig))
    message = message_of(check_tiny, tiny_host(config_class=UnknownLossConfig))
    assert "its default loss 'wassersteim' is not registered" in message and "bce" in message


def test_a_config_the_variant_refuses_is_named():
    message = message_of(check_tiny, tiny_host(), overrides={"batch_size": 0})
    assert "the check's config {'batch_size': 0, 'epochs': 1} was refused" in message
    assert "batch_size must be at least 1" in message


def test_an_unsupported_dataset_is_named_with_the_reason():
    host = tiny_host(supports=lambda data: f"{data.name} is too small")
    message = message_of(check_variant, "tiny", host=host)
    assert "it supports none of the datasets tried (mnist: mnist is too small;" in message


# -- losses --------------------------------------------------------------------------------------------


class BackwardsLoss(LogitLoss):
    """Rewards D for calling fakes real: a sign error."""

    def d_loss_from_logits(self, real_logits, fake_logits):
        return F.softplus(real_logits).mean() + F.softplus(-fake_logits).mean()

    def g_loss_from_logits(self, fake_logits):
        return F.softplus(-fake_logits).mean()


class LogOfSigmoidLoss(LogitLoss):
    """Textbook BCE written with log(sigmoid(.)): -inf once a logit passes about -100 in float32."""

    def d_loss_from_logits(self, real_logits, fake_logits):
        return -(torch.log(torch.sigmoid(real_logits)).mean() + torch.log(1 - torch.sigmoid(fake_logits)).mean())

    def g_loss_from_logits(self, fake_logits):
        return -torch.log(torch.sigmoid(fake_logits)).mean()


class TupleLoss(LogitLoss):
    """Returns a plain tuple where the engine expects a DiscriminatorLoss."""

    def discriminator_loss(self, discriminator, real, fake, labels=None):
        real_logits, fake_logits = discriminator(real, labels), discriminator(fake, labels)
        return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean(), real_logits, fake_logits

    def g_loss_from_logits(self, fake_logits):
        return F.softplus(-fake_logits).mean()


@pytest.mark.parametrize("loss_class, expected", [
    (BackwardsLoss, r"D's loss is .* when D scores real above fake but .* Check the signs"),
    (LogOfSigmoidLoss, r"loss 'custom' at logits of [+-]1e\+04: .* is (-?inf|nan).* softplus"),
    (TupleLoss, r"discriminator_loss returned tuple\. Return gankit.DiscriminatorLoss"),
])
def test_loss_mistakes(loss_class, expected):
    host = tiny_host(losses=[LossSpec("custom", "a loss under test", build=lambda config: loss_class())])
    message = message_of(check_loss, "custom", host=host)
    assert re.search(expected, message), message


def test_a_correct_plugin_loss_passes_with_every_variant():
    from gankit.losses import NonSaturatingLoss

    host = tiny_host(losses=[LossSpec("copy", "bce again", build=lambda config: NonSaturatingLoss())])
    check_loss("copy", host=host)
    check_variant_loss("tiny", "copy", host=host, dataset="tiny-data")
    assert isinstance(NonSaturatingLoss().discriminator_loss(
        TinyDiscriminator(image_shape=SHAPE), torch.zeros(2, *SHAPE), torch.zeros(2, *SHAPE)),
        DiscriminatorLoss)


# -- importing a plugin ---------------------------------------------------------------------------------


def test_check_plugin_catches_torch_imported_at_module_level(tmp_path, monkeypatch):
    (tmp_path / "eager_plugin.py").write_text(
        "import torch\nfrom gankit import LossSpec, hookimpl\n\n@hookimpl\n"
        "def gankit_register_losses(register):\n    register(LossSpec('eager', 'x', build=print))\n")
    (tmp_path / "lazy_plugin.py").write_text(
        "from gankit import LossSpec, hookimpl\n\n@hookimpl\n"
        "def gankit_register_losses(register):\n    register(LossSpec('lazy', 'x', build=print))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    message = message_of(check_plugin, "eager_plugin")
    assert message.startswith("plugin module 'eager_plugin': importing it imports torch. Import torch")
    assert check_plugin("lazy_plugin") == {"losses": ["lazy"]}


def test_check_plugin_catches_a_command_that_imports_torch_where_it_is_defined(tmp_path, monkeypatch):
    (tmp_path / "heavy_command.py").write_text(
        "from gankit import hookimpl\n\n"
        "@hookimpl\n"
        "def gankit_register_commands(app):\n"
        "    import torch  # should be inside the command's body\n\n"
        "    @app.command()\n"
        "    def heavy() -> None:\n"
        "        \"\"\"Needs torch.\"\"\"\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PluginCheckError, match="building its commands or showing their help imports torch"):
        check_plugin("heavy_command")


def test_check_plugin_catches_a_misspelt_hook(tmp_path, monkeypatch):
    (tmp_path / "misspelt_hook.py").write_text(
        "from gankit import LossSpec, hookimpl\n\n"
        "@hookimpl\n"
        "def gankit_register_loss(register):\n"
        "    register(LossSpec('x', 'x', print))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PluginCheckError, match="gankit_register_loss is not a gankit hook"):
        check_plugin("misspelt_hook")


def test_check_dataset_passes_a_good_loader_and_names_what_is_wrong_with_a_bad_one():
    from gankit.data import ImageData
    from gankit.testing import check_dataset, fake_dataset, plugin_host

    host = plugin_host()
    good = fake_dataset(name="dots", count=20, image_shape=(3, 8, 8), num_classes=4)
    host.datasets.register("dots", good, "tests")
    data = check_dataset("dots", host=host)
    assert data.images.shape == (20, 3, 8, 8) and int(data.labels.max()) == 3

    def mislabelled(request):
        return ImageData(torch.zeros(4, 1, 8, 8, dtype=torch.uint8), torch.tensor([0, 1, 2, 9]), "four zeros")

    def float_images(request):
        return ImageData(torch.zeros(4, 1, 8, 8), None, "floats")

    host.datasets.register("mislabelled", DatasetSpec("mislabelled", "bad labels", (1, 8, 8), 3, mislabelled), "t")
    host.datasets.register("floats", DatasetSpec("floats", "float images", (1, 8, 8), None, float_images), "t")
    host.datasets.register("wrong-shape", DatasetSpec("wrong-shape", "x", (1, 9, 9), 4, good.load), "t")
    with pytest.raises(PluginCheckError, match=r"labels span 0\.\.9, outside 0\.\.2"):
        check_dataset("mislabelled", host=host)
    with pytest.raises(PluginCheckError, match="Return a uint8 tensor"):
        check_dataset("floats", host=host)
    with pytest.raises(PluginCheckError, match=r"images are \(3, 8, 8\), but it declares \(1, 9, 9\)"):
        check_dataset("wrong-shape", host=host)
    with pytest.raises(PluginCheckError, match="option 'side' is not declared"):
        check_dataset("dots", host=host, options={"side": "4"})
