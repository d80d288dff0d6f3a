"""The app factory: :func:`build_app` assembles gankit's commands and the plugins' over one host;
:func:`main` is the console script.

The commands live one group to a module (:mod:`gankit.cli.train`, :mod:`~gankit.cli.sample`,
:mod:`~gankit.cli.info`, :mod:`~gankit.cli.evaluation`, :mod:`~gankit.cli.scaffold`,
:mod:`~gankit.cli.plugin_commands`). Start-up stays torch-free: commands import the engine inside
their bodies. Errors the user can fix (:class:`gankit.GankitError`) print one line and exit 2;
``--debug`` or ``GANKIT_DEBUG=1`` shows the traceback instead.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from typer.core import TyperCommand

from gankit._version import __version__
from gankit.cli import evaluation, info, sample, scaffold, train
from gankit.cli.common import EXIT_INTERRUPTED, EXIT_USAGE, PlainHelpCommand, PlainHelpGroup, fail
from gankit.cli.context import AppHost, command_host, running
from gankit.cli.plugin_commands import add_plugin_commands
from gankit.errors import GankitError
from gankit.host import PluginHost, get_host


class AppGroup(PlainHelpGroup):
    """The app's root group: each invocation runs with the host the app was built over known to
    its commands (:func:`gankit.cli.context.command_host`)."""

    def invoke(self, ctx: Any) -> Any:
        with running(ctx.obj):
            return super().invoke(ctx)


def build_app(host: PluginHost | None = None) -> typer.Typer:
    """A fresh Typer app over ``host``'s registries (the process-wide host by default)."""
    get = (lambda: host) if host is not None else get_host
    app = typer.Typer(
        name="gankit", no_args_is_help=True, add_completion=False, cls=AppGroup, rich_markup_mode=None,
        help="Train, sample and compare GAN variants. Every variant is a plugin.",
        context_settings={"help_option_names": ["-h", "--help"], "obj": AppHost(get)},
    )
    app.callback()(root)
    for group in (train, sample, info, evaluation, scaffold):  # in this order in `gankit --help`
        group.add_commands(app)
    add_plugin_commands(app, get())
    plain_help_pages(app)
    return app


def plain_help_pages(app: typer.Typer) -> None:
    """Give every command that kept Typer's own class, in ``app`` and its sub-apps (the plugins'
    too), :class:`~gankit.cli.common.PlainHelpCommand`: help in option panels, free of Python types."""
    for command in app.registered_commands:
        if command.cls is None or command.cls is TyperCommand:
            command.cls = PlainHelpCommand
    for group in app.registered_groups:
        if group.typer_instance is not None:
            plain_help_pages(group.typer_instance)


def show_version(value: bool) -> None:
    if value:
        typer.echo(f"gankit {__version__}")
        raise typer.Exit()


def root(
    version: Annotated[bool, typer.Option("--version", callback=show_version, is_eager=True,
                                          help="Show the version and exit.")] = False,
    plugins_dir: Annotated[Optional[Path], typer.Option(
        metavar="DIR", help="Also load one-off plugins: every *.py file in DIR.")] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
) -> None:
    # The options before the command (a comment, not a docstring: `gankit --help` shows build_app's help).
    if debug:
        os.environ["GANKIT_DEBUG"] = "1"
    if plugins_dir is not None:
        try:
            current = command_host()
            if plugins_dir.resolve() not in current.loaded_dirs:
                current.load_plugins_dir(plugins_dir)
        except GankitError as error:
            fail(str(error), EXIT_USAGE)


def _plugins_dir_from_argv(argv: list[str]) -> Path | None:
    # Plugin commands must exist before Typer parses the command line, so look ahead for the option.
    for index, arg in enumerate(argv):
        if arg == "--plugins-dir" and index + 1 < len(argv):
            return Path(argv[index + 1])
        if arg.startswith("--plugins-dir="):
            return Path(arg.split("=", 1)[1])
    return None


def main() -> None:
    """The console script."""
    try:
        host = get_host(plugins_dir=_plugins_dir_from_argv(sys.argv[1:]))
    except GankitError as error:
        Console(stderr=True, highlight=False).print(f"[bold red]Error:[/] {error}")
        sys.exit(EXIT_USAGE)
    except KeyboardInterrupt:  # Ctrl-C while plugins load: before any command could write
        Console(stderr=True, highlight=False).print(
            "[yellow]Interrupted[/] while loading plugins, before the command started; nothing was written.")
        sys.exit(EXIT_INTERRUPTED)
    build_app(host)(prog_name="gankit")
