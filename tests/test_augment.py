"""--augment diffaug: D's inputs are augmented (real and fake, D and G steps), G's outputs are not,
and G's gradient flows through the augmentation."""

from __future__ import annotations

import torch

from gankit.losses import may_mix_batches, _module
from gankit.train import RunOptions, train
from gankit.train.augment import AugmentedDiscriminator, augmented, colour, cutout, diff_augment, translation
from gankit.train.events import Callback


def test_each_operation_changes_images_per_sample_and_passes_gradients():
    torch.manual_seed(0)
    x = torch.rand(64, 1, 28, 28) * 2 - 1
    for operation in (colour, translation, cutout, diff_augment):
        source = x.clone().requires_grad_(True)
        out = operation(source)
        assert out.shape == x.shape and not torch.equal(out, x), operation.__name__
        out.sum().backward()
        assert source.grad is not None and source.grad.abs().sum() > 0, operation.__name__
    # Translation moves pixels (zero-padded), never invents them; cutout zeroes a half-side square.
    moved = translation(torch.ones(64, 1, 28, 28))
    assert set(moved.unique().tolist()) <= {0.0, 1.0} and (moved == 0).any(dim=(1, 2, 3)).float().mean() > 0.5
    holes = (cutout(torch.ones(64, 1, 28, 28)) == 0).sum(dim=(1, 2, 3))
    assert holes.max() == 14 * 14 and holes.min() > 0
    # Every image gets its own draw.
    same = torch.zeros(8, 3, 16, 16)
    drawn = diff_augment(same + 0.3)
    assert not torch.equal(drawn[0], drawn[1])


def test_the_wrapper_keeps_the_plain_discriminator_visible():
    from gankit_dcgan import DCGANConfig, build
    from gankit import DataInfo

    networks = build(DCGANConfig(), DataInfo("mnist", (1, 28, 28), None))
    wrapped = augmented(networks.discriminator, "diffaug")
    assert isinstance(wrapped, AugmentedDiscriminator) and _module(wrapped) is networks.discriminator
    assert augmented(networks.discriminator, "none") is networks.discriminator
    assert may_mix_batches(wrapped) == may_mix_batches(networks.discriminator)


class Recorder(Callback):
    """Keeps what D was fed and what G made, for one step of each kind."""

    def __init__(self):
        self.seen, self.batches = [], []

    def on_run_start(self, context):
        context.discriminator.register_forward_pre_hook(lambda module, args: self.seen.append(args[0].detach()))

    def on_generator_step(self, context):
        self.batches.append(context.batch)


def run_recorded(tmp_path, augment):
    recorder = Recorder()
    train("dcgan", {"batch_size": 50, "epochs": 1, "augment": augment, "r1": 0.0},
          RunOptions(out=tmp_path / augment, progress=False, max_images=100, device="cpu"),
          callbacks=[recorder])
    return recorder


def test_training_feeds_d_augmented_images_and_g_plain_ones(tmp_path):
    plain, augmented_run = run_recorded(tmp_path, "none"), run_recorded(tmp_path, "diffaug")
    # With --r1 0 dcgan's D has BatchNorm: real and fake go in separately, in the D step and the G step.
    for recorder in (plain, augmented_run):
        assert len(recorder.seen) == 3 * len(recorder.batches)
    batch = augmented_run.batches[0]
    d_real, d_fake, g_fake = augmented_run.seen[:3]
    assert not torch.equal(d_real, batch.real) and not torch.equal(d_fake, batch.fake)
    assert not torch.equal(g_fake, batch.fake)
    # Without augmentation D sees exactly the real batch and G's images.
    assert torch.equal(plain.seen[0], plain.batches[0].real) and torch.equal(plain.seen[2], plain.batches[0].fake)
    # G's outputs are the same images with or without augmenting D: same seed, same first step.
    assert torch.equal(plain.batches[0].real, batch.real)
    # The generator's images themselves stay in [-1, 1] (tanh), un-augmented.
    assert batch.fake.abs().max() <= 1


def test_g_gets_gradient_through_the_augmentation():
    from gankit_dcgan import DCGANConfig, build
    from gankit import DataInfo

    networks = build(DCGANConfig(), DataInfo("mnist", (1, 28, 28), None))
    z = torch.randn(8, 100)
    fake = networks.generator(z)
    logits = augmented(networks.discriminator, "diffaug")(fake)
    logits.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in networks.generator.parameters()
               if p.requires_grad)
