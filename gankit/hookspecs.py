"""The pluggy hook specifications: the whole surface a plugin implements.

Every hook only *registers*; none may import torch at module level or do work, because all of them
run when the CLI starts (``gankit --help`` must stay fast and torch-free). Implementations may take
fewer arguments than the spec, so arguments can be added later without breaking plugins; an
argument is never renamed.
"""

from __future__ import annotations

from typing import Any, Callable

import pluggy

PROJECT_NAME = "gankit"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def gankit_register_variants(register: Callable[[Any], None]) -> None:
    """Register GAN variants.

    :param register: call ``register(VariantSpec(...))`` once per variant.
    """


@hookspec
def gankit_register_losses(register: Callable[[Any], None]) -> None:
    """Register GAN losses.

    :param register: call ``register(LossSpec(...))`` once per loss.
    """


@hookspec
def gankit_register_datasets(register: Callable[[Any], None]) -> None:
    """Register datasets.

    :param register: call ``register(DatasetSpec(...))`` once per dataset.
    """


@hookspec
def gankit_register_commands(app: Any) -> None:
    """Add commands to the CLI.

    :param app: the ``typer.Typer`` app; add commands with ``@app.command(rich_help_panel=...)``
        so they are listed under the plugin's own panel in ``gankit --help``.
    """
