"""gankit-infogan's own tests: gankit's test kit, then what is InfoGAN's own: the codes' layout in z,
Q's loss reaching both players through gankit's ``latent=`` interface, and Q learning the codes."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F

import gankit
import gankit_infogan
from gankit import (ConfigError, DataInfo, DataRequest, GankitWarning, discriminator_step_loss,
                    generator_step_loss, get_dataset, get_loss)
from gankit.testing import check_plugin, check_variant, check_variant_loss, invoke, plugin_host, using_host
from gankit_infogan.traverse import traversal

MNIST = DataInfo("mnist", (1, 28, 28), 10)
# Narrow networks for the tests that train: the paper's widths (6.7M parameters each) take ~0.4 s
# a step on one CPU thread; these take a few milliseconds and learn the same way.
SMALL = dict(g_hidden=128, g_features=16, d_features=16, d_hidden=128, q_hidden=32)


@pytest.fixture
def host(monkeypatch, tmp_path):
    """gankit's built-ins plus this plugin only, offline, with an empty data root (so MNIST comes
    from the subset gankit bundles); also the process-wide host, which the CLI and sampler use."""
    monkeypatch.setenv("GANKIT_OFFLINE", "1")
    monkeypatch.setenv("GANKIT_DATA_ROOT", str(tmp_path / "empty-data-root"))
    with using_host(plugin_host(gankit_infogan)) as host:
        yield host


# -- gankit's kit ----------------------------------------------------------------------------------


def test_the_kit_passes(host, tmp_path):
    check_variant("infogan", host=host, workdir=tmp_path)


@pytest.mark.filterwarnings("ignore:infogan with --loss wgan-gp")
@pytest.mark.parametrize("loss", ["bce", "hinge", "lsgan", "wgan-gp", "ragan"])
def test_every_builtin_loss_works(host, loss):
    check_variant_loss("infogan", loss, host=host)


def test_import_and_hooks_are_torch_free():
    registered = check_plugin("gankit_infogan")
    assert registered["variants"] == ["infogan"]
    assert registered.get("callbacks", ["infogan-q"]) == ["infogan-q"]


# -- config and shapes -----------------------------------------------------------------------------


def test_the_defaults_are_the_papers_mnist_recipe():
    config = gankit_infogan.InfoGANConfig()
    assert (config.generator_lr, config.discriminator_lr, config.beta1) == (1e-3, 2e-4, 0.5)
    assert (config.latent_dim, config.noise_dim, config.batch_size) == (74, 62, 64)
    assert (config.categorical_codes, config.categories, config.continuous_codes) == (1, 10, 2)
    assert (config.info_weight, config.learn_std, config.init_std) == (1.0, False, 0.02)


def test_bad_settings_are_refused_in_one_line():
    config = gankit_infogan.InfoGANConfig
    with pytest.raises(ConfigError, match="info_weight must be at least 0"):
        config(info_weight=-1)
    with pytest.raises(ConfigError, match="latent_dim 10 is too small"):
        config(latent_dim=10)
    with pytest.raises(ConfigError, match="at least one latent code"):
        config(categorical_codes=0, continuous_codes=0)


def test_only_28x28_grey_images_are_supported():
    assert gankit_infogan.supports(MNIST) is None
    assert "need 1x28x28" in gankit_infogan.supports(DataInfo("cifar", (3, 32, 32), 10))


def test_a_per_sample_gradient_penalty_gets_layer_norm_in_d(host):
    config = gankit_infogan.InfoGANConfig(loss="wgan-gp", **SMALL)
    with pytest.warns(GankitWarning, match="LayerNorm instead of BatchNorm"):
        discriminator = gankit_infogan.build(config, MNIST, loss=get_loss("wgan-gp")).discriminator
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in discriminator.modules())
    bce = gankit_infogan.build(gankit_infogan.InfoGANConfig(**SMALL), MNIST).discriminator
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in bce.shared)


# -- the codes in z --------------------------------------------------------------------------------


def test_the_codes_are_declared_where_the_prior_puts_them():
    generator = gankit_infogan.build(gankit_infogan.InfoGANConfig(**SMALL), MNIST).generator
    layout = [(code.name, code.index, code.categories) for code in generator.latent_codes]
    assert layout == [("digit", 62, 10), ("c1", 72, None), ("c2", 73, None)]

    z = generator.sample_latent(500, generator=torch.Generator().manual_seed(0))
    one_hot = z[:, 62:72]
    assert torch.equal(one_hot.sum(1), torch.ones(500)) and set(one_hot.unique().tolist()) == {0.0, 1.0}
    assert len(one_hot.argmax(1).unique()) == 10  # every digit value is drawn
    assert z[:, :62].abs().max() <= 1 and z[:, 72:].abs().max() <= 1  # uniform in [-1, 1]
    assert z[:, 72:].min() < -0.9 and z[:, 72:].max() > 0.9

    again = generator.sample_latent(500, generator=torch.Generator().manual_seed(0))
    assert torch.equal(z, again)  # all randomness from the torch.Generator passed


def test_set_latent_codes_writes_the_one_hot_and_continuous_columns():
    generator = gankit_infogan.build(gankit_infogan.InfoGANConfig(**SMALL), MNIST).generator
    z = generator.sample_latent(4, generator=torch.Generator().manual_seed(1))
    digits, c1 = torch.tensor([0, 3, 9, 3]), torch.tensor([-2.0, -0.5, 0.5, 2.0])
    coded = generator.set_latent_codes(z, {"digit": digits, "c1": c1})
    assert torch.equal(coded[:, 62:72], F.one_hot(digits, 10).float())
    assert torch.equal(coded[:, 72], c1)
    assert torch.equal(coded[:, :62], z[:, :62]) and torch.equal(coded[:, 73], z[:, 73])  # rest kept
    assert not torch.equal(coded, z)  # a copy: z itself is untouched


def test_more_codes_are_laid_out_one_after_another():
    config = gankit_infogan.InfoGANConfig(latent_dim=40, categorical_codes=2, categories=5,
                                          continuous_codes=3, **SMALL)
    networks = gankit_infogan.build(config, MNIST)
    layout = [(code.name, code.index, code.categories) for code in networks.generator.latent_codes]
    assert layout == [("digit", 27, 5), ("cat2", 32, 5), ("c1", 37, None), ("c2", 38, None),
                      ("c3", 39, None)]
    z = networks.generator.sample_latent(6)
    out = networks.discriminator(networks.generator(z))
    assert [tuple(t.shape) for t in out.auxiliary.categorical] == [(6, 5), (6, 5)]
    assert tuple(out.auxiliary.mean.shape) == tuple(out.auxiliary.log_std.shape) == (6, 3)


# -- Q's loss through gankit's interface ----------------------------------------------------------


def _expected_info_loss(q, z, *, weight, continuous_weight):
    cross_entropy = F.cross_entropy(q.categorical[0], z[:, 62:72].argmax(1))
    std = q.log_std.exp()
    nll = -torch.distributions.Normal(q.mean, std).log_prob(z[:, 72:74]).sum(1).mean()
    return weight * (cross_entropy + continuous_weight * nll)


@pytest.mark.filterwarnings("ignore:infogan with --loss wgan-gp")
@pytest.mark.parametrize("loss_name, learn_std", [("bce", False), ("bce", True), ("wgan-gp", False)])
def test_the_auxiliary_losses_get_exactly_the_z_the_fakes_came_from(host, loss_name, learn_std):
    torch.manual_seed(0)
    config = gankit_infogan.InfoGANConfig(info_weight=0.7, continuous_weight=0.5, loss=loss_name,
                                          learn_std=learn_std, **SMALL)
    generator, discriminator = gankit_infogan.build(config, MNIST)
    log_std = discriminator(generator(generator.sample_latent(4))).auxiliary.log_std
    assert (log_std.abs().sum() > 0) == learn_std  # a fixed std is 1: log-std 0
    loss = get_loss(loss_name).build(config)
    real = torch.rand(16, 1, 28, 28) * 2 - 1
    z = generator.sample_latent(16)
    fake = generator(z)

    # Record what the engine's step helpers hand the discriminator's auxiliary losses.
    seen = {}
    for method in ("discriminator_auxiliary_loss", "generator_auxiliary_loss"):
        original = getattr(discriminator, method)

        def spy(*args, _original=original, _method=method, **kwargs):
            seen[_method] = kwargs["latent"]
            return _original(*args, **kwargs)

        setattr(discriminator, method, spy)

    # D step: Q and the body it shares with D learn from Q's loss on the (detached) fakes.
    discriminator.eval()  # BatchNorm in eval mode, so a second forward pass gives the same outputs
    d_step = discriminator_step_loss(loss, discriminator, real, fake.detach(), None, latent=z)
    assert seen["discriminator_auxiliary_loss"] is z
    q = discriminator(fake.detach()).auxiliary
    expected_q = _expected_info_loss(q, z, weight=0.7, continuous_weight=0.5)
    without_q = loss.discriminator_loss(lambda x, y=None: discriminator(x).logits, real, fake.detach())
    if loss_name == "bce":  # wgan-gp's penalty draws random interpolates: compare only bce exactly
        torch.testing.assert_close(d_step.loss, without_q.loss + expected_q)
    assert torch.isfinite(expected_q) and expected_q > 0
    discriminator.zero_grad(set_to_none=True)
    d_step.loss.backward()
    q_grad = [p.grad for p in discriminator.q.parameters()]
    assert all(g is not None and g.abs().sum() > 0 for g in q_grad), "Q learns in D's step"
    assert all(p.grad is None for p in generator.parameters()), "fakes are detached in D's step"

    # G step: G learns to make the codes readable; the gradient reaches G's first layer.
    discriminator.requires_grad_(False)
    g_loss = generator_step_loss(loss, discriminator, fake, None, real=real, latent=z)
    assert seen["generator_auxiliary_loss"] is z
    adversarial = loss.generator_loss(lambda x, y=None: discriminator(x).logits, fake)
    torch.testing.assert_close(g_loss, adversarial + _expected_info_loss(
        discriminator(fake).auxiliary, z, weight=0.7, continuous_weight=0.5))
    # Q's term on its own reaches G's first layer (through D's frozen body and Q) ...
    q_term = discriminator.generator_auxiliary_loss(discriminator(fake), None, latent=z)
    (q_grad_g,) = torch.autograd.grad(q_term, generator.project[0].weight, retain_graph=True)
    assert torch.isfinite(q_grad_g).all() and q_grad_g.abs().sum() > 0
    g_loss.backward()  # ... and so does G's whole loss
    assert generator.project[0].weight.grad.abs().sum() > 0


def test_without_the_latent_the_q_loss_says_what_is_missing():
    networks = gankit_infogan.build(gankit_infogan.InfoGANConfig(**SMALL), MNIST)
    out = networks.discriminator(torch.rand(4, 1, 28, 28))
    with pytest.raises(ValueError, match="latent=z"):
        networks.discriminator.generator_auxiliary_loss(out, None)


@pytest.mark.parametrize("info_weight", [1.0, 0.0])
def test_q_learns_to_read_the_categorical_code_back(host, info_weight):
    """160 steps of InfoGAN on real digits: Q names the digit value G was given far more often than
    chance (10%). Measured (batch 32, one CPU thread, seeds 0-4): 72-89% after 160 steps (9-13%
    before); with lambda = 0 (no Q loss: the control) it stays at 9%."""
    torch.manual_seed(0)
    config = gankit_infogan.InfoGANConfig(batch_size=32, info_weight=info_weight, **SMALL)
    generator, discriminator = gankit_infogan.build(config, MNIST)
    data = get_dataset("mnist").load(DataRequest(split="train", download=False))
    images = data.images.float().div(127.5).sub(1.0)
    loss = get_loss("bce").build(config)
    betas = (config.beta1, config.beta2)
    g_opt = torch.optim.Adam(generator.parameters(), lr=config.generator_lr, betas=betas)
    d_opt = torch.optim.Adam(discriminator.parameters(), lr=config.discriminator_lr, betas=betas)

    def q_accuracy() -> float:
        generator.eval(), discriminator.eval()
        with torch.no_grad():
            z = generator.sample_latent(500, generator=torch.Generator().manual_seed(123))
            guess = discriminator(generator(z)).auxiliary.categorical[0].argmax(1)
        generator.train(), discriminator.train()
        return (guess == z[:, 62:72].argmax(1)).float().mean().item()

    before = q_accuracy()
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))
    for step in range(160):  # the engine's step, as gankit.train's TrainStep does it
        real = images[order[(step * 32) % len(images):][:32]]
        z = generator.sample_latent(len(real))
        fake = generator(z)
        d_loss = discriminator_step_loss(loss, discriminator, real, fake.detach(), None, latent=z).loss
        d_opt.zero_grad(set_to_none=True)
        d_loss.backward()
        d_opt.step()
        discriminator.requires_grad_(False)
        g_loss = generator_step_loss(loss, discriminator, fake, None, real=real, latent=z)
        g_opt.zero_grad(set_to_none=True)
        g_loss.backward()
        g_opt.step()
        discriminator.requires_grad_(True)
    after = q_accuracy()
    assert math.isfinite(d_loss.item()) and math.isfinite(g_loss.item())
    assert before < 0.2, before
    if info_weight:
        assert after > 0.5, (before, after)
    else:
        assert after < 0.2, (before, after)


# -- the CLI ---------------------------------------------------------------------------------------


def test_train_load_sample_by_code_and_traverse(host, tmp_path):
    run = tmp_path / "run"
    trained = invoke(["train", "infogan", "--epochs", "1", "--max-images", "300",
                                  "--callback", "infogan-q", "--no-progress", "--out", str(run)], host=host)
    assert trained.exit_code == 0, trained.output
    # The plugin's callback logged Q's own numbers next to gankit's.
    epoch = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()][0]
    assert 0 <= epoch["q_accuracy"] <= 1 and math.isfinite(epoch["info_loss"]), epoch
    metadata = json.loads((run / "config.json").read_text())
    config = metadata.get("config", metadata)
    assert (config["g_lr"], config["d_lr"], config["latent_dim"]) == (1e-3, 2e-4, 74)

    # gankit.load_run gives the trained G back; it samples, and draws the codes it is given.
    loaded = gankit.load_run(run, host=host)
    assert loaded.variant == "infogan" and loaded.config.g_lr == 1e-3
    generator = loaded.generator
    assert [code.name for code in generator.latent_codes] == ["digit", "c1", "c2"]
    with torch.no_grad():
        images = generator(generator.sample_latent(5))
    assert images.shape == (5, 1, 28, 28) and torch.isfinite(images).all()

    # gankit sample --code: digit 0-9 along each row, c1 from -1 to 1 down the five rows.
    sampled = invoke(["sample", str(run), "--n", "50", "--code", "digit=0-9",
                                  "--code", "c1=-1:1:5", "--out", str(tmp_path / "codes.pt")], host=host)
    assert sampled.exit_code == 0, sampled.output
    drawn = torch.load(tmp_path / "codes.pt")
    z = generator.sample_latent(50, generator=torch.Generator().manual_seed(0))  # sample's seed 0
    z = generator.set_latent_codes(z, {"digit": torch.arange(50) % 10,
                                       "c1": torch.linspace(-1, 1, 5).repeat_interleave(10)})
    with torch.no_grad():
        torch.testing.assert_close(drawn, generator(z).clamp(-1, 1))
    wrong = invoke(["sample", str(run), "--code", "c9=1"], host=host)
    assert wrong.exit_code != 0 and "digit, c1, c2" in wrong.output

    # The plugin's own command: Fig. 2 of the paper, digit down the rows, c2 across.
    grid = tmp_path / "traverse.png"
    traversed = invoke(["infogan-traverse", str(run), "--code", "c2", "--columns", "7",
                                    "--out", str(grid)], host=host)
    assert traversed.exit_code == 0, traversed.output
    assert "10 rows x 7 columns" in traversed.output and grid.stat().st_size > 0
    refused = invoke(["infogan-traverse", str(run), "--code", "digit"], host=host)
    assert refused.exit_code == 2 and "not a continuous code" in refused.output
    listed = invoke(["--help"], host=host, terminal_width=120).output
    assert "Plugin: gankit_infogan" in listed and "infogan-traverse" in listed


def test_the_traversal_varies_only_the_codes_it_names():
    generator = gankit_infogan.build(gankit_infogan.InfoGANConfig(**SMALL), MNIST).generator.eval()
    seen = []
    original = generator.forward
    generator.forward = lambda z, labels=None: seen.append(z) or original(z, labels)
    images, shape = traversal(generator, continuous="c1", low=-2, high=2, columns=5)
    assert shape == (10, 5) and images.shape == (50, 1, 28, 28)
    (z,) = seen
    assert torch.equal(z[:, 62:72].argmax(1), torch.arange(10).repeat_interleave(5))
    assert torch.equal(z[:, 72], torch.linspace(-2, 2, 5).repeat(10))
    assert torch.equal(z[:, 73], torch.zeros(50))  # the other continuous code held at 0
    assert torch.equal(z[:, :62], z[:1, :62].expand(50, -1))  # one noise vector for the grid
