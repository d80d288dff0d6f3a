"""Every installed variant and loss passes gankit's plugin test kit (gankit.testing), timm-style:
the tests are parametrized over the registries, so a newly installed plugin is tested for free.

The examples' plugins (examples/gankit-acgan, loaded from its source unless it is installed, and
the --plugins-dir file examples/plugins_dir/r1.py) are included, so they keep working as the core
changes. The variant x loss grid runs one D and one G step per pair: every loss must work with
every variant.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from gankit.host import BUILTIN_NAME, PluginHost, PluginInfo
from gankit.testing import check_loss, check_plugin, check_variant, check_variant_loss

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def installed_host_with_examples() -> PluginHost:
    host = PluginHost()
    host.load_builtins()
    host.load_entry_points()
    if "acgan" not in host.plugins:  # not pip-installed: load the example from its source folder
        sys.path.insert(0, str(EXAMPLES / "gankit-acgan"))
        module = importlib.import_module("gankit_acgan")
        host.add_plugin(module, PluginInfo("acgan", "loaded", "gankit-acgan", module.__version__))
    host.load_plugins_dir(EXAMPLES / "plugins_dir")
    return host


HOST = installed_host_with_examples()  # built once, at collection: the parameters come from it
PLUGIN_MODULES = sorted(info.module for name, info in HOST.plugins.items()
                        if name != BUILTIN_NAME and info.state in ("loaded", "incompatible")
                        and not info.module.endswith(".py"))  # --plugins-dir files have no module name


def test_the_examples_are_in_the_grid():
    assert HOST.plugins["acgan"].state == "loaded" and "acgan" in HOST.variants
    assert HOST.losses.owner("r1") == "r1"


@pytest.mark.parametrize("variant", HOST.variants.names())
def test_variant_passes_the_kit(variant, tmp_path):
    check_variant(variant, host=HOST, workdir=tmp_path)


# The colour check is of shapes: a variant whose paper network is slow on a CPU trains it narrower
# there (lsgan's D, a 5x5 conv to 320 channels: 8.5 s, narrowed 3.0 s); the MNIST check above keeps
# every variant at its defaults.
NARROW = {"lsgan": {"label_width": 0, "g_features": 16}}


@pytest.mark.parametrize("variant", HOST.variants.names())
def test_variant_passes_the_kit_on_colour_32x32_images(variant, tmp_path):
    """The catalogue's habit (timm's): every variant also trains and samples on 3x32x32 images
    where its networks allow (CIFAR-10's shape; the data is synthetic, nothing is read)."""
    spec = HOST.variants.get(variant)
    colour = HOST.datasets.get("cifar10")
    reason = spec.supports(colour.info) if spec.supports else None
    if reason:
        pytest.skip(f"{variant} refuses 3x32x32: {reason}")
    check_variant(variant, host=HOST, dataset="cifar10", workdir=tmp_path, overrides=NARROW.get(variant))


@pytest.mark.parametrize("loss", HOST.losses.names())
@pytest.mark.parametrize("variant", HOST.variants.names())
def test_variant_works_with_every_loss(variant, loss):
    check_variant_loss(variant, loss, host=HOST)


@pytest.mark.parametrize("loss", HOST.losses.names())
def test_loss_passes_the_kit(loss):
    check_loss(loss, host=HOST)


@pytest.mark.parametrize("module", PLUGIN_MODULES)
def test_plugin_import_and_hooks_are_torch_free(module):
    check_plugin(module)


@pytest.mark.parametrize("variant", HOST.variants.names())
def test_variant_cites_its_paper(variant):
    """A name means its paper: every variant says which (and `gankit list` shows it short)."""
    from gankit.cli.info import short_citation

    paper = HOST.variants.get(variant).paper
    assert paper and any(str(year) in paper for year in range(1990, 2030)), (variant, paper)
    assert short_citation(paper) != "-"
