"""``gankit plugin new NAME``: a working plugin distribution to start from.

It writes a package with one variant (two small MLPs), its config, a README and tests through
``gankit.testing``; ``pip install -e`` it and ``gankit train NAME`` runs. Nothing existing is
overwritten, and a name an installed variant or plugin already has is refused.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from gankit._io import atomic_folder
from gankit.cli.common import PlainHelpGroup, user_errors
from gankit.errors import GankitError

# NAME is the variant's and the entry point's (the plugin's) name; the package is gankit_ + NAME
# with _ for -, so every name that matches makes a valid module name (a keyword too: gankit_class).
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")

PYPROJECT = '''[build-system]
requires = ["setuptools>=77"]
build-backend = "setuptools.build_meta"

[project]
name = "gankit-{name}"
version = "0.1.0"
description = "{name}: a GAN variant for gankit"
requires-python = ">=3.10"
# license = "MIT"  # your licence, as an SPDX expression (the form setuptools>=77 reads)
dependencies = ["gankit>=0.1,<0.2"]  # gankit checks this range at start-up too

[project.optional-dependencies]
dev = ["pytest>=8"]

# How gankit finds the plugin: entry point group `gankit`, name = the plugin's name.
[project.entry-points.gankit]
{name} = "{module}"

[tool.setuptools]
packages = ["{module}"]

[tool.pytest.ini_options]
testpaths = ["tests"]
pythonpath = ["."]
'''

INIT = '''"""{name}: a GAN variant for gankit.

This module is imported every time gankit starts, so it must not import torch: the networks live
in ``{module}.model``, imported inside ``build``.
"""

from __future__ import annotations

from dataclasses import dataclass

from gankit import DataInfo, TrainConfig, VariantSpec, hookimpl, param


@dataclass
class {title}Config(TrainConfig):
    """The recipe: each field can be set with ``gankit train {name} --set KEY=VALUE``."""

    epochs: int = 20
    batch_size: int = 64
    lr: float = 2e-4
    hidden: int = param(256, ge=1)  # width of both networks' hidden layers
    leaky_slope: float = param(0.2, ge=0, lt=1)


def build(config: {title}Config, data: DataInfo):
    from {module}.model import build_networks

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

# No continuation line is aligned under a bracket that follows a name made from the plugin's (a
# class name): aligned for one name, it is off for every other.
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
    shared = {{"image_shape": data.image_shape, "hidden": config.hidden,
              "leaky_slope": config.leaky_slope}}
    return Networks(
        {title}Generator(latent_dim=config.latent_dim, **shared),
        {title}Discriminator(**shared),
    )
'''

TESTS = '''"""gankit-{name}'s tests: gankit's kit checks the whole life of the variant."""

import pytest

import {module}
from gankit.testing import check_plugin, check_variant, check_variant_loss, plugin_host

# Every loss the installed gankit registers (and this plugin's own), asked when pytest collects:
# a loss a later gankit adds is tested with the variant without editing this file.
LOSSES = plugin_host({module}).losses.names()


@pytest.fixture(scope="module")
def host():
    return plugin_host({module})


def test_importing_the_plugin_stays_torch_free():
    assert check_plugin("{module}") == {{"variants": ["{name}"]}}


def test_the_variant_passes_the_kit(host):
    check_variant("{name}", host=host)


@pytest.mark.parametrize("loss", LOSSES)
def test_every_loss_works(host, loss):
    check_variant_loss("{name}", loss, host=host)
'''

README = '''# gankit-{name}

A GAN variant for gankit, as a plugin.

```bash
{commands}
```

Edit `{module}/model.py` (the networks) and
`{module}/__init__.py` (the recipe).
'''


def _readme_commands(name: str) -> str:
    """The README's commands with their comments in one column, whatever the name's length."""
    commands = [("pip install -e '.[dev]'", "gankit finds it through the `gankit` entry point"),
                ("gankit list", f"{name} is listed, with this plugin as its source"),
                (f"gankit train {name} --epochs 1", "a run folder under runs/"),
                ("pytest", "the kit's checks")]
    width = max(len(command) for command, _ in commands) + 2
    return "\n".join(f"{command:<{width}}# {comment}" for command, comment in commands)


def module_name(name: str) -> str:
    """The package plugin ``name`` is written as: ``gankit_`` + the name with ``_`` for ``-``."""
    return "gankit_" + name.replace("-", "_")


def check_name(name: str) -> None:
    """Refuse a name that cannot be a variant's, an entry point's and (``gankit_NAME``) a module's."""
    if not NAME_PATTERN.fullmatch(name):  # match() would take "mygan\n": $ matches before a last \n
        raise GankitError(f"Plugin name {name!r} must be lower case letters and digits, starting with a "
                          "letter, words joined by single - or _ (it names the variant, and the module "
                          "gankit_NAME with _ for -); e.g. 'mygan' or 'my-gan'.")


def check_name_free(name: str, host: Any) -> None:
    """Refuse a name an installed variant or plugin already has (spelt with - or _ alike, as
    distribution names are): the two would clash, and ``gankit train NAME`` mean only one."""
    def same(other: str) -> bool:
        return other.lower().replace("-", "_") == name.replace("-", "_")

    variants = [r for r in host.variants.registrations() if same(r.name)]
    plugins = [plugin for plugin in host.plugins if same(plugin)]
    if variants:
        what = f"a variant, from the installed plugin '{variants[0].owner}'"
        why = f"`gankit train {name}` could not mean both"
    elif plugins:
        what = f"the name of an installed plugin ('{plugins[0]}' in `gankit plugins`)"
        why = f"in `gankit plugins`, GANKIT_DISABLE_PLUGINS and qualified names {plugins[0]}:NAME"
    else:
        return
    suggestion = f"my{'_' if '_' in name else '-'}{name}"
    raise GankitError(f"'{name}' is already {what}; a new plugin of that name would clash with it ({why}). "
                      f"Pick another name, e.g. '{suggestion}'.")


def write_plugin(name: str, out: Path, host: Any = None) -> Path:
    """Write the skeleton of plugin ``name`` into ``out/gankit-NAME``; returns that folder.
    ``host``: refuse a name its variants or plugins already have (see :func:`check_name_free`)."""
    check_name(name)
    if host is not None:
        check_name_free(name, host)
    root = Path(out) / f"gankit-{name}"
    if root.exists():
        raise GankitError(f"'{root}' already exists; pass another --out or remove it first.")
    module = module_name(name)
    title = "".join(part.capitalize() for part in re.split(r"[-_]", name))
    files = {
        "pyproject.toml": PYPROJECT, f"{module}/__init__.py": INIT, f"{module}/model.py": MODEL,
        f"tests/test_{module.removeprefix('gankit_')}.py": TESTS, "README.md": README,
    }
    # Written in a temporary folder renamed into place: a failed write leaves nothing a retry refuses.
    with atomic_folder(root) as temp:
        for relative, template in files.items():
            path = temp / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                path.write_text(template.format(name=name, module=module, title=title,
                                                commands=_readme_commands(name)), encoding="utf-8")
            except OSError as error:  # a failed write() names no file
                error.filename = error.filename or str(path)
                raise
    return root


def add_commands(app: typer.Typer) -> None:
    """Add the ``plugin`` group (``gankit plugin new NAME``) to ``app``."""
    plugin_app = typer.Typer(no_args_is_help=True, cls=PlainHelpGroup, rich_markup_mode=None,
                             help="Write a new plugin project to start from (plugin new).")
    plugin_app.command("new")(new)
    app.add_typer(plugin_app, name="plugin")


@user_errors
def new(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(
        help="The variant's name, e.g. mygan or my-gan (module gankit_mygan, gankit_my_gan).")],
    out: Annotated[Optional[Path], typer.Option(help="Where to create gankit-NAME/ [default: .].")] = None,
) -> None:
    """Write a working plugin distribution (a variant, its config, tests) to start from."""
    # build_app puts the host it was built over in the root context (gankit.cli.context.AppHost):
    # the installed variants and plugins a new name must not clash with.
    root = write_plugin(name, out or Path("."), host=ctx.find_root().obj.get())
    typer.echo(f"Wrote {root}. Next: pip install -e '{root}[dev]' && gankit train {name} --epochs 1 "
               f"&& (cd {root} && pytest)")
