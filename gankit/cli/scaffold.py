"""``gankit plugin new NAME``: a working plugin distribution to start from.

It writes a package with one variant (two small MLPs), its config, a README and tests through
``gankit.testing``; ``pip install -e`` it and ``gankit train NAME`` runs. Nothing existing is
overwritten.
"""

from __future__ import annotations

import keyword
import re
from pathlib import Path
from typing import Annotated, Optional

import typer

from gankit.cli.common import PlainHelpGroup, user_errors
from gankit.errors import GankitError

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")

PYPROJECT = '''[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "gankit-{name}"
version = "0.1.0"
description = "{name}: a GAN variant for gankit"
requires-python = ">=3.10"
dependencies = ["gankit>=0.1,<0.2"]  # gankit checks this range at start-up too

[project.optional-dependencies]
dev = ["pytest>=8"]

# How gankit finds the plugin: entry point group `gankit`, name = the plugin's name.
[project.entry-points.gankit]
{name} = "gankit_{name}"

[tool.setuptools]
packages = ["gankit_{name}"]

[tool.pytest.ini_options]
testpaths = ["tests"]
pythonpath = ["."]
'''

INIT = '''"""{name}: a GAN variant for gankit.

This module is imported every time gankit starts, so it must not import torch: the networks live
in ``gankit_{name}.model``, imported inside ``build``.
"""

from __future__ import annotations

from dataclasses import dataclass

from gankit import DataInfo, TrainConfig, VariantSpec, hookimpl, param


@dataclass
class {title}Config(TrainConfig):
    """The variant's recipe: every field can be set with ``gankit train {name} --set KEY=VALUE``."""

    epochs: int = 20
    batch_size: int = 64
    lr: float = 2e-4
    hidden: int = param(256, ge=1)  # width of both networks' hidden layers
    leaky_slope: float = param(0.2, ge=0, lt=1)


def build(config: {title}Config, data: DataInfo):
    from gankit_{name}.model import build_networks

    return build_networks(config, data)


@hookimpl
def gankit_register_variants(register):
    register(VariantSpec(
        name="{name}",
        summary="{name}: two small MLPs (edit me)",
        config_class={title}Config,
        build=build,
    ))
'''

MODEL = '''"""{name}'s networks."""

from __future__ import annotations

import math

import torch
from torch import nn

from gankit import DataInfo, Discriminator, Generator, Networks


class {title}Generator(Generator):
    def __init__(self, *, latent_dim: int, image_shape: tuple[int, int, int], hidden: int,
                 leaky_slope: float) -> None:
        super().__init__(latent_dim=latent_dim, image_shape=image_shape)
        self.net = nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.LeakyReLU(leaky_slope),
            nn.Linear(hidden, math.prod(image_shape)), nn.Tanh(),  # images in [-1, 1]
        )

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(z).view(z.shape[0], *self.image_shape)


class {title}Discriminator(Discriminator):
    def __init__(self, *, image_shape: tuple[int, int, int], hidden: int, leaky_slope: float) -> None:
        super().__init__(image_shape=image_shape)
        self.net = nn.Sequential(
            nn.Linear(math.prod(image_shape), hidden), nn.LeakyReLU(leaky_slope),
            nn.Linear(hidden, 1),  # a logit: never a sigmoid, the losses work from logits
        )

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x.flatten(1)).squeeze(1)


def build_networks(config, data: DataInfo) -> Networks:
    return Networks(
        {title}Generator(latent_dim=config.latent_dim, image_shape=data.image_shape,
                         hidden=config.hidden, leaky_slope=config.leaky_slope),
        {title}Discriminator(image_shape=data.image_shape, hidden=config.hidden,
                             leaky_slope=config.leaky_slope),
    )
'''

TESTS = '''"""gankit-{name}'s tests: gankit's kit checks the whole life of the variant."""

import pytest

import gankit_{name}
from gankit.testing import check_plugin, check_variant, check_variant_loss, plugin_host


@pytest.fixture(scope="module")
def host():
    return plugin_host(gankit_{name})


def test_importing_the_plugin_stays_torch_free():
    assert check_plugin("gankit_{name}") == {{"variants": ["{name}"]}}


def test_the_variant_passes_the_kit(host):
    check_variant("{name}", host=host)


@pytest.mark.parametrize("loss", ["bce", "hinge", "lsgan", "wgan-gp", "ragan"])
def test_every_builtin_loss_works(host, loss):
    check_variant_loss("{name}", loss, host=host)
'''

README = '''# gankit-{name}

A GAN variant for [gankit](https://github.com/), as a plugin.

```bash
pip install -e '.[dev]'          # gankit finds it through the `gankit` entry point
gankit list                      # {name} is listed, with this plugin as its source
gankit train {name} --epochs 1   # a run folder under runs/
pytest                           # the kit's checks
```

Edit `gankit_{name}/model.py` (the networks) and `gankit_{name}/__init__.py` (the recipe).
'''


def write_plugin(name: str, out: Path) -> Path:
    """Write the skeleton of plugin ``name`` into ``out/gankit-NAME``; returns that folder."""
    if not NAME_PATTERN.match(name) or keyword.iskeyword(name):
        raise GankitError(f"Plugin name '{name}' must be lower case letters, digits and _ , starting "
                          "with a letter (it becomes the module gankit_NAME); e.g. 'mygan'.")
    root = Path(out) / f"gankit-{name}"
    if root.exists():
        raise GankitError(f"'{root}' already exists; pass another --out or remove it first.")
    title = "".join(part.capitalize() for part in name.split("_"))
    files = {
        "pyproject.toml": PYPROJECT, f"gankit_{name}/__init__.py": INIT, f"gankit_{name}/model.py": MODEL,
        f"tests/test_{name}.py": TESTS, "README.md": README,
    }
    for relative, template in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(name=name, title=title), encoding="utf-8")
    return root


def add_commands(app: typer.Typer) -> None:
    """Add the ``plugin`` group (``gankit plugin new NAME``) to ``app``."""
    plugin_app = typer.Typer(no_args_is_help=True, cls=PlainHelpGroup, rich_markup_mode=None,
                             help="Write and check plugins.")
    plugin_app.command("new")(new)
    app.add_typer(plugin_app, name="plugin")


@user_errors
def new(
    name: Annotated[str, typer.Argument(help="The variant's name, e.g. mygan (module gankit_mygan).")],
    out: Annotated[Optional[Path], typer.Option(help="Where to create gankit-NAME/ [default: .].")] = None,
) -> None:
    """Write a working plugin distribution (a variant, its config, tests) to start from."""
    root = write_plugin(name, out or Path("."))
    typer.echo(f"Wrote {root}. Next: pip install -e '{root}[dev]' && gankit train {name} --epochs 1 "
               f"&& (cd {root} && pytest)")
