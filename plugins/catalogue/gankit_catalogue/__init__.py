"""The catalogue: the classic GAN variants, each as its paper defines it.

Each module here holds one paper's variants (``VARIANTS``, a tuple of :class:`gankit.VariantSpec`),
if the paper brings its own objective, its losses (``LOSSES``), and any training callbacks it
logs its own signals with (``CALLBACKS``). A module's config class holds
the paper's recipe as its defaults (loss, optimizer and betas, learning rates, n_critic,
regularisers); its docstring cites the paper, says what it changes and what it measured at on the
bundled digits (bench/catalogue.py). Networks live in :mod:`gankit_catalogue.nets` and are imported
by ``build`` only, so importing the plugin stays torch-free.

Modules are found, not listed: a new paper is a new module, and nothing else changes.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

from gankit import hookimpl

__version__ = "0.1.0"


def paper_modules() -> list[ModuleType]:
    """The catalogue's modules, in name order (``nets`` and private modules are not papers)."""
    names = sorted(info.name for info in pkgutil.iter_modules(__path__)
                   if not info.name.startswith("_") and info.name != "nets")
    return [importlib.import_module(f"{__name__}.{name}") for name in names]


@hookimpl
def gankit_register_variants(register):
    for module in paper_modules():
        for spec in getattr(module, "VARIANTS", ()):
            register(spec)


@hookimpl
def gankit_register_losses(register):
    for module in paper_modules():
        for spec in getattr(module, "LOSSES", ()):
            register(spec)


@hookimpl
def gankit_register_callbacks(register):
    for module in paper_modules():  # a paper's own training signals (BEGAN's k_t and M_global)
        for spec in getattr(module, "CALLBACKS", ()):
            register(spec)
