"""The pluggy hook specifications: the whole surface a plugin implements.

Every hook only *registers*; none may import torch at module level or do work, because all of them
run when the CLI starts (``gankit --help`` must stay fast and torch-free). Implementations may take
fewer arguments than the spec, so arguments can be added later without breaking plugins; an
argument is never renamed. ``docs/plugins/hooks.md`` documents each hook with this exact signature
(a test checks it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import pluggy

if TYPE_CHECKING:
    import typer

    from gankit.registry import CallbackSpec, DatasetSpec, LossSpec, VariantSpec

PROJECT_NAME = "gankit"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def gankit_register_variants(register: Callable[[VariantSpec], None]) -> None:
    """Register GAN variants (``gankit train NAME``).

    :param register: call ``register(VariantSpec(...))`` once per variant. A name another plugin
        already registered fails this plugin, with an error naming both.
    """


@hookspec
def gankit_register_losses(register: Callable[[LossSpec], None]) -> None:
    """Register GAN losses (``gankit train VARIANT --loss NAME``); each must work with every variant.

    :param register: call ``register(LossSpec(...))`` once per loss.
    """


@hookspec
def gankit_register_datasets(register: Callable[[DatasetSpec], None]) -> None:
    """Register datasets (``gankit train VARIANT --dataset NAME``).

    :param register: call ``register(DatasetSpec(...))`` once per dataset.
    """


@hookspec
def gankit_register_callbacks(register: Callable[[CallbackSpec], None]) -> None:
    """Register training callbacks (``gankit train VARIANT --callback NAME``).

    :param register: call ``register(CallbackSpec(...))`` once per callback.
    """


# PluginHost is gankit.host.PluginHost, not imported: importing it here would make an import circle.
@hookspec
def gankit_register_commands(app: typer.Typer, host: PluginHost) -> None:  # noqa: F821
    """Add commands to the CLI.

    :param app: the ``typer.Typer`` app being built; add commands with ``@app.command()`` (or
        ``app.add_typer(...)``). They are listed under a help panel named ``Plugin: NAME`` unless
        they pass their own ``rich_help_panel``. A command name that is already taken fails the
        plugin. Import heavy modules inside the command's body, not here.
    :param host: the plugin host that built the app: its ``variants``, ``losses``, ``datasets``
        and ``callbacks`` registries are the ones this CLI uses (pass it on, e.g. to
        ``gankit.load_run(path, host=host)``).
    """
