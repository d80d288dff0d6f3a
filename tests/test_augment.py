"""--augment diffaug|ada: D's inputs are augmented (real and fake, D and G steps), G's outputs are not,
and G's gradient flows through the augmentation; ada's probability follows D's real logits, is
logged and checkpointed, and a resumed run goes on bit for bit."""

from __future__ import annotations

import torch

from gankit.losses import may_mix_batches, _module
from gankit.train import RunOptions, train
from gankit.checkpoint import load_checkpoint
from gankit.runs import checkpoint_path, read_metrics
from gankit.train.augment import (ADA_INTERVAL, ADA_SPEED, AdaptiveProbability, AugmentedDiscriminator,
                                  augmented, colour, cutout, diff_augment, translation)
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
    fake = networks.generator(networks.generator.sample_latent(8))
    logits = augmented(networks.discriminator, "diffaug")(fake)
    logits.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in networks.generator.parameters()
               if p.requires_grad)


def test_ada_raises_p_while_d_is_sure_of_the_real_images_and_lowers_it_after():
    ada = AdaptiveProbability()
    sure, unsure = torch.full((50,), 3.0), torch.cat([torch.full((25,), 3.0), torch.full((25,), -3.0)])
    for _ in range(ADA_INTERVAL - 1):
        ada.observe(sure)
    assert float(ada.p) == 0.0  # p moves every ADA_INTERVAL D steps, not before
    ada.observe(sure)
    step = ADA_INTERVAL * 50 / ADA_SPEED
    assert float(ada.p) == step
    for _ in range(3 * ADA_INTERVAL):
        ada.observe(sure)
    assert abs(float(ada.p) - 4 * step) < 1e-12
    for _ in range(2 * ADA_INTERVAL):  # r = 0 < 0.6: D is not overfitting; p comes down
        ada.observe(unsure)
    assert abs(float(ada.p) - 2 * step) < 1e-12
    for _ in range(10 * ADA_INTERVAL):
        ada.observe(unsure)
    assert float(ada.p) == 0.0  # and never below 0
    again = AdaptiveProbability()
    again.load_state_dict(ada.state_dict())
    assert again.state_dict() == ada.state_dict()


def test_ada_augments_nothing_at_p_0_and_each_operation_at_p_1():
    class Seen(torch.nn.Module):
        def forward(self, x, labels=None):
            self.x = x
            return x.flatten(1).sum(1)

    x = torch.rand(16, 1, 28, 28) * 2 - 1
    seen, ada = Seen(), AdaptiveProbability()
    wrapper = AugmentedDiscriminator(seen, "ada", ada)
    wrapper(x)
    assert torch.equal(seen.x, x)
    ada.p = torch.tensor(1.0, dtype=torch.float64)
    torch.manual_seed(0)
    wrapper(x)
    torch.manual_seed(0)  # the same draws as DiffAugment's pipeline, each op applied to every image
    expected = x
    for operation in (colour, translation, cutout):
        torch.rand(x.shape[0], 1, 1, 1)
        expected = operation(expected)
    assert torch.equal(seen.x, expected) and not torch.equal(seen.x, x)


def test_a_run_with_ada_logs_p_keeps_it_in_the_checkpoint_and_resumes_bit_for_bit(tmp_path):
    settings = {"batch_size": 50, "augment": "ada", "epochs": 2}
    options = dict(progress=False, max_images=400, device="cpu", seed=4)
    train("dcgan", settings, RunOptions(out=tmp_path / "whole", **options))
    train("dcgan", {**settings, "epochs": 1}, RunOptions(out=tmp_path / "split", **options))
    train("dcgan", settings, RunOptions(out=tmp_path / "split", resume=True, **options))
    p = [line["ada_p"] for line in read_metrics(tmp_path / "whole")]
    assert 0 < p[0] < p[1]  # a young D is sure of the real digits: p rises from 0
    whole, split = (load_checkpoint(checkpoint_path(tmp_path / name)) for name in ("whole", "split"))
    assert whole["callbacks"]["ada"]["p"] == split["callbacks"]["ada"]["p"] and round(whole["callbacks"]["ada"]["p"], 6) == p[1]
    for key, value in whole["discriminator"].items():
        assert torch.equal(split["discriminator"][key], value), key
