"""The dcgan plugin: sizing from the image shape, the paper's init, every loss, the per-sample-penalty
adaptation (WGAN-GP, R1), the shape check, and a real (tiny) run through the CLI."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

import gankit_dcgan
from gankit import ConfigError, DataInfo, DatasetSpec, GankitWarning, LossSpec, get_loss, hookimpl
from gankit.blocks import count_parameters
from gankit.testing import invoke, plugin_host, using_host
from gankit_dcgan import DCGANConfig, SelfCondConfig, build, supports
from gankit_dcgan.model import build_networks

LOSSES = ["bce", "minimax", "lsgan", "hinge", "wgan-gp"]
R1_FILE_DIR = Path(__file__).resolve().parents[3] / "examples" / "plugins_dir"


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path_factory):
    monkeypatch.setenv("GANKIT_OFFLINE", "1")  # the bundled MNIST subset, no download attempt
    monkeypatch.setenv("GANKIT_DATA_ROOT", str(tmp_path_factory.getbasetemp() / "empty-data-root"))
    with using_host(None):  # a fresh host of the installed plugins for each test
        yield


def networks(shape, **config):
    return build_networks(DCGANConfig(**config), DataInfo("test", shape, None),
                          loss=get_loss(config.get("loss", "bce")))


@pytest.mark.parametrize("shape, g_params, d_params", [
    ((1, 28, 28), 759_681, 138_689),
    ((3, 32, 32), 1_068_931, 663_361),
    # The PyTorch DCGAN example's 64x64 nets (3,576,704 and 2,765,568) plus our output biases.
    ((3, 64, 64), 3_576_707, 2_765_633),
])
def test_networks_are_sized_from_the_image_shape(shape, g_params, d_params):
    generator, discriminator = networks(shape, clusters=0, latent_dim=100)  # the paper's nets
    assert (count_parameters(generator), count_parameters(discriminator)) == (g_params, d_params)
    z = generator.sample_latent(3)
    images = generator(z)
    assert images.shape == (3, *shape)
    assert images.min() >= -1 and images.max() <= 1
    assert discriminator(images).shape == (3,)
    assert generator.num_classes is None and discriminator.num_classes is None


def test_paper_layout_batchnorm_except_at_d_input_and_g_output():
    generator, discriminator = networks((3, 64, 64), r1=0.0)  # --r1 0: the paper's BatchNorm D
    g_layers, d_layers = list(generator.net), list(discriminator.net)
    assert isinstance(g_layers[-1], nn.Tanh) and isinstance(g_layers[-2], nn.ConvTranspose2d)
    assert [type(m) for m in d_layers[:2]] == [nn.Conv2d, nn.LeakyReLU]
    assert d_layers[1].negative_slope == 0.2
    assert sum(isinstance(m, nn.BatchNorm2d) for m in g_layers) == 4
    assert sum(isinstance(m, nn.BatchNorm2d) for m in d_layers) == 3
    strided = [m for m in d_layers if isinstance(m, nn.Conv2d) and m.stride == (2, 2)]
    assert len(strided) == 4 and not any(isinstance(m, (nn.MaxPool2d, nn.Linear)) for m in d_layers)


def test_weights_follow_the_papers_initialisation():
    torch.manual_seed(0)
    modules = [*networks((3, 64, 64))[0].modules(), *networks((3, 64, 64))[1].modules()]
    convs = torch.cat([m.weight.detach().flatten() for m in modules
                       if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))])
    scales = torch.cat([m.weight.detach() for m in modules if isinstance(m, nn.BatchNorm2d)])
    assert abs(convs.mean().item()) < 1e-3 and convs.std().item() == pytest.approx(0.02, rel=0.02)
    assert scales.mean().item() == pytest.approx(1.0, abs=0.01)
    assert scales.std().item() == pytest.approx(0.02, rel=0.2)


@pytest.mark.parametrize("side, ok", [(28, True), (32, True), (64, True), (14, True), (128, True),
                                      (30, False), (7, False), (100, False)])
def test_sides_are_those_of_the_upsampling_plan(side, ok):
    assert (supports(DataInfo("square", (1, side, side), None)) is None) == ok


def test_supports_names_the_shape_and_the_fix():
    assert supports(DataInfo("mnist", (1, 28, 28), 10)) is None
    assert supports(DataInfo("rgb", (3, 64, 64), None)) is None
    for shape in [(1, 30, 30), (3, 32, 64)]:
        reason = supports(DataInfo("odd", shape, None))
        assert "x".join(map(str, shape)) in reason and "vanilla" in reason


def two_training_steps(generator, discriminator, loss_name, config, labels=None):
    """Two D and G steps as the engine takes them; returns the losses seen."""
    loss = plugin_host().losses.get(loss_name).build(config)
    g_opt = torch.optim.Adam(generator.parameters(), lr=config.lr, betas=(config.beta1, config.beta2))
    d_opt = torch.optim.Adam(discriminator.parameters(), lr=config.lr, betas=(config.beta1, config.beta2))
    real = torch.rand(8, *generator.image_shape) * 2 - 1
    before = [p.detach().clone() for p in [*generator.parameters(), *discriminator.parameters()]]
    seen = []
    for _ in range(2):
        fake = generator(generator.sample_latent(8), labels)
        d_out = loss.discriminator_loss(discriminator, real, fake.detach(), labels)
        d_opt.zero_grad()
        d_out.loss.backward()
        d_opt.step()
        discriminator.requires_grad_(False)
        g_loss = loss.generator_loss(discriminator, fake, labels)
        g_opt.zero_grad()
        g_loss.backward()
        g_opt.step()
        discriminator.requires_grad_(True)
        seen += [d_out.loss.item(), g_loss.item()]
    after = [*generator.parameters(), *discriminator.parameters()]
    assert all(torch.isfinite(torch.tensor(seen)))
    assert all(not torch.equal(old, new) for old, new in zip(before, after) if new.dim() > 1)
    return seen


@pytest.mark.parametrize("loss", LOSSES)
def test_every_loss_trains(loss):
    torch.manual_seed(0)
    config = SelfCondConfig(loss=loss, g_features=8, d_features=8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GankitWarning)
        generator, discriminator = build_networks(config, DataInfo("mnist", (1, 28, 28), 10),
                                                  loss=get_loss(loss))
    # The engine hands G and D the real batch's clusters as labels; every weight then learns.
    two_training_steps(generator, discriminator, loss, config, labels=torch.arange(8) * 7)


def test_selfcond_conditions_on_clusters_without_labels_at_sampling():
    shares = (0.7, 0.3) + (0.0,) * 198
    generator, discriminator = build_networks(SelfCondConfig(), DataInfo("mnist", (1, 28, 28), 10, shares))
    assert (count_parameters(generator), count_parameters(discriminator)) == (2_014_081, 151_489)
    assert generator.num_classes is None and generator.latent_dim == 300  # unconditional to the user
    [code] = generator.latent_codes
    assert (code.name, code.index, code.categories) == ("cluster", 100, 200)
    z = generator.sample_latent(4000, generator=torch.Generator().manual_seed(0))
    clusters = z[:, 100:].argmax(1)
    assert torch.equal(z[:, 100:].sum(1), torch.ones(4000))  # one-hot
    assert set(clusters.tolist()) == {0, 1} and abs((clusters == 0).float().mean().item() - 0.7) < 0.03
    assert torch.equal(z, generator.sample_latent(4000, generator=torch.Generator().manual_seed(0)))
    generator.eval()
    with torch.no_grad():  # in training the batch's clusters replace the drawn code
        assert torch.equal(generator(z[:3], torch.tensor([5, 6, 7])),
                           generator(generator.set_latent_codes(z[:3], {"cluster": torch.tensor([5, 6, 7])})))
        images = generator(z[:3])
        by_cluster = [discriminator(images, torch.full((3,), c)) for c in (0, 1)]
    assert not torch.equal(*by_cluster)  # D's per-cluster bias
    assert discriminator(images).shape == (3,)  # scored without clusters: the plain D
    assert discriminator.cluster_bias.weight.std().item() == pytest.approx(0.02, rel=0.1)


@pytest.mark.parametrize("loss", [name for name in LOSSES if name != "wgan-gp"])
def test_other_losses_keep_batchnorm_and_warn_nothing(loss):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, discriminator = networks((1, 28, 28), loss=loss, r1=0.0)
    assert any(isinstance(m, nn.BatchNorm2d) for m in discriminator.modules())


def test_dcgan_is_the_papers_recipe_and_selfcond_the_clustered_one():
    paper, clustered = DCGANConfig(), SelfCondConfig()
    # Radford et al.: batches of 128, Adam 2e-4 with beta1 0.5, a 100-d uniform z, nothing added.
    assert (paper.batch_size, paper.lr, paper.beta1, paper.beta2, paper.optimizer) == (128, 2e-4, 0.5, 0.999, "adam")
    assert (paper.latent_dim, paper.noise, paper.clusters, paper.ema, paper.r1, paper.loss) == \
        (100, "uniform", 0, 0.0, 0.0, "bce")
    assert (paper.leaky_slope, paper.init_std) == (0.2, 0.02)
    assert (clustered.batch_size, clustered.latent_dim, clustered.noise, clustered.clusters, clustered.ema,
            clustered.epochs) == (32, 300, "normal", 200, 0.999, 50)
    generator, discriminator = networks((1, 28, 28))  # the paper's networks, 0.76 M / 0.14 M
    assert (count_parameters(generator), count_parameters(discriminator)) == (759_681, 138_689)
    z = generator.sample_latent(5000, generator=torch.Generator().manual_seed(0))
    assert z.min() >= -1 and z.max() <= 1 and abs(z.mean().item()) < 0.01  # U(-1, 1)
    with pytest.raises(ConfigError, match="clusters must be"):
        SelfCondConfig(clusters=0)


def test_the_default_d_is_the_papers_batchnorm_d_and_r1_swaps_its_norm_saying_so():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing is swapped behind the user's back
        _, discriminator = networks((1, 28, 28))
    assert sum(isinstance(m, nn.BatchNorm2d) for m in discriminator.modules()) == 1
    for r1 in (0.5, 2.0):
        with pytest.warns(GankitWarning, match=f"dcgan with --r1 {r1:g}: the critic uses LayerNorm"):
            _, discriminator = networks((1, 28, 28), r1=r1)
        assert not any(isinstance(m, nn.BatchNorm2d) for m in discriminator.modules())
        assert sum(isinstance(m, nn.GroupNorm) for m in discriminator.modules()) == 1


@pytest.mark.parametrize("n_critic, hint", [(1, True), (5, False)])
def test_wgan_gp_critic_gets_layer_norm_and_a_warning(n_critic, hint):
    with pytest.warns(GankitWarning, match="LayerNorm instead of BatchNorm") as caught:
        generator, discriminator = networks((1, 28, 28), loss="wgan-gp", n_critic=n_critic, r1=0.0)
    assert ("--set n_critic=5" in str(caught[0].message)) == hint
    assert not any(isinstance(m, nn.BatchNorm2d) for m in discriminator.modules())
    norms = [m for m in discriminator.modules() if isinstance(m, nn.GroupNorm)]
    assert len(norms) == 1 and norms[0].num_groups == 1  # one group: LayerNorm over (C, H, W)
    assert any(isinstance(m, nn.BatchNorm2d) for m in generator.modules())  # G keeps its BatchNorm
    # Per sample: a critic's logit no longer depends on the other images in the batch.
    x = torch.rand(4, 1, 28, 28) * 2 - 1
    assert torch.allclose(discriminator(x)[:1], discriminator(x[:1]), atol=1e-5)


def test_per_sample_penalty_losses_get_group_norm_and_others_batch_norm():
    """The swap follows the loss spec's ``per_sample_penalty``, not the loss's name: a loss of any
    name that declares it (R1, below) gets the per-sample norm; a build without a spec keeps BatchNorm."""
    info = DataInfo("mnist", (1, 28, 28), 10)
    per_sample = LossSpec("my-penalty", "a per-sample gradient penalty", lambda c: None, per_sample_penalty=True)
    with pytest.warns(GankitWarning, match="dcgan with --loss my-penalty: the critic uses LayerNorm"):
        _, critic = build(DCGANConfig(loss="my-penalty", r1=0.0), info, loss=per_sample)
    assert any(isinstance(m, nn.GroupNorm) for m in critic.modules())
    assert not any(isinstance(m, nn.BatchNorm2d) for m in critic.modules())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for networks_ in (build(DCGANConfig(r1=0.0), info, loss=get_loss("bce")), build(DCGANConfig(r1=0.0), info)):
            assert any(isinstance(m, nn.BatchNorm2d) for m in networks_.discriminator.modules())
            assert not any(isinstance(m, nn.GroupNorm) for m in networks_.discriminator.modules())


def test_r1_from_the_plugins_dir_declares_a_per_sample_penalty():
    host = plugin_host()
    host.load_plugins_dir(R1_FILE_DIR)
    spec = host.losses.get("r1")
    assert spec.per_sample_penalty
    with pytest.warns(GankitWarning, match="--loss r1"):
        _, critic = build(DCGANConfig(loss="r1"), DataInfo("mnist", (1, 28, 28), 10), loss=spec)
    assert any(isinstance(m, nn.GroupNorm) for m in critic.modules())


@pytest.mark.parametrize("bad, message", [
    ({"g_features": 0}, "g_features must be"),
    ({"leaky_slope": 1.0}, "leaky_slope must be"),
    ({"init_std": 0.0}, "init_std must be"),
    ({"clusters": 100}, r"latent_dim \(100\) must exceed clusters \(100\)"),
])
def test_config_rejects_bad_values_in_one_line(bad, message):
    with pytest.raises(ConfigError, match=message) as caught:
        DCGANConfig(**bad)
    assert "\n" not in str(caught.value)


class OddShapedData:
    """A one-off plugin with a dataset DCGAN cannot size itself for."""

    @hookimpl
    def gankit_register_datasets(self, register):
        register(DatasetSpec("odd", "30x30 images", (1, 30, 30), None, lambda request: None))


def test_unsupported_dataset_is_a_one_line_error_before_any_data_is_read(tmp_path):
    host = plugin_host(gankit_dcgan, OddShapedData())
    result = invoke(["train", "dcgan", "--dataset", "odd", "--out", tmp_path / "run"], host=host)
    assert result.exit_code == 2
    assert "Variant 'dcgan' cannot train on 'odd': its images are 1x30x30" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "run").exists()


def test_a_real_cli_run_then_sample(tmp_path):
    run = tmp_path / "run"
    result = invoke(["train", "selfcond", "--max-images", 200, "--epochs", 1, "--no-progress", "--out", run])
    assert result.exit_code == 0, result.output
    assert (run / "samples/epoch_0001.png").is_file() and (run / "checkpoints/last.pt").is_file()
    result = invoke(["sample", run, "--n", 4, "--out", tmp_path / "s.pt"])
    assert result.exit_code == 0, result.output
    images = torch.load(tmp_path / "s.pt")
    assert images.shape == (4, 1, 28, 28) and images.abs().max() <= 1
    result = invoke(["sample", run, "--labels", 7])
    assert result.exit_code == 2 and "unconditional" in result.output
    # selfcond's cluster code: one cluster on request, the same noise otherwise.
    picked = tmp_path / "picked.pt"
    result = invoke(["sample", run, "--n", 4, "--code", "cluster=3", "--out", picked])
    assert result.exit_code == 0, result.output
    assert not torch.equal(torch.load(picked), images)
    result = invoke(["sample", run, "--code", "cluster=200"])
    assert result.exit_code == 2 and "--code cluster '200': values must be in 0-199" in result.output


def test_train_dcgan_writes_radford_et_als_settings_into_config_json(tmp_path):
    import json

    run = tmp_path / "run"
    result = invoke(["train", "dcgan", "--max-images", 256, "--epochs", 1, "--no-progress", "--out", run])
    assert result.exit_code == 0, result.output
    config = json.loads((run / "config.json").read_text())["config"]
    assert {key: config[key] for key in ("batch_size", "lr", "beta1", "optimizer", "latent_dim", "noise",
                                         "clusters", "ema", "loss")} == \
        {"batch_size": 128, "lr": 2e-4, "beta1": 0.5, "optimizer": "adam", "latent_dim": 100,
         "noise": "uniform", "clusters": 0, "ema": 0.0, "loss": "bce"}


def test_the_old_recipe_spelt_out_for_dcgan_is_selfcond():
    """docs/compatibility.md's spelling of 0.1's `gankit train dcgan` gives selfcond's config."""
    from dataclasses import asdict

    from gankit.testing import variant_config

    spelt_out = variant_config("dcgan", {"clusters": "200", "latent_dim": "300", "noise": "normal",
                                         "ema": "0.999", "batch_size": "32", "epochs": "50"},
                               host=plugin_host(gankit_dcgan))
    assert asdict(spelt_out) == asdict(SelfCondConfig())
