"""The app factory: :func:`build_app` assembles gankit's commands and the plugins' over one host;
:func:`main` is the console script.

The commands live one group to a module (:mod:`gankit.cli.train`, :mod:`~gankit.cli.sample`,
:mod:`~gankit.cli.info`, :mod:`~gankit.cli.evaluation`, :mod:`~gankit.cli.scaffold`,
:mod:`~gankit.cli.plugin_commands`). Start-up stays torch-free: commands import the engine inside
their bodies. Errors the user can fix (:class:`gankit.GankitError`) print one line and exit 2;
``--debug`` or ``GANKIT_DEBUG=1`` shows the traceback instead.

Every command runs with stdout and stderr guarded (a closed pipe is dropped, never an exit;
:func:`gankit.progress.guarded_streams`) and SIGTERM raised as :class:`~gankit.cli.common.Terminated`
(exit 130, one line). The console script alone, at its end, does not wait for threads a plugin
left running: it names them and exits (:func:`end_despite_threads`).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from typer.core import TyperCommand

from gankit._io import env_flag
from gankit._version import __version__
from gankit.cli import evaluation, export, info, sample, scaffold, timelapse, train, zoo
from gankit.cli.common import (EXIT_INTERRUPTED, EXIT_SYSTEM, EXIT_USAGE, PlainHelpCommand, PlainHelpGroup,
                               fail, interrupted_line, sigterm_as_interrupt, system_error_line)
from gankit.cli.context import AppHost, command_host, running
from gankit.cli.plugin_commands import add_plugin_commands
from gankit.errors import GankitError
from gankit.host import PluginHost, get_host
from gankit.progress import guarded_streams

THREAD_GRACE_S = 1.0  # how long the console script waits for threads still running at its end


class AppGroup(PlainHelpGroup):
    """The app's root group: each invocation runs with the host the app was built over known to
    its commands (:func:`gankit.cli.context.command_host`), stdout and stderr guarded against a
    reader that went away, and SIGTERM stopping it as Ctrl-C does. What a command's own
    ``user_errors`` did not turn into a line (a plugin's command, the options) is one line here."""

    def invoke(self, ctx: Any) -> Any:
        with running(ctx.obj), guarded_streams(), sigterm_as_interrupt():
            try:
                try:
                    return super().invoke(ctx)
                finally:
                    _flush_output()  # what print() left buffered fails here, not after the exit code
            except KeyboardInterrupt as error:
                Console(stderr=True, highlight=False, soft_wrap=True).print(interrupted_line(error))
                raise typer.Exit(EXIT_INTERRUPTED) from None
            except OSError as error:  # stdout on a full disk (`> file`), or a plugin command's
                if env_flag("GANKIT_DEBUG"):
                    traceback.print_exc()
                fail(system_error_line(error), EXIT_SYSTEM)


def _flush_output() -> None:
    sys.stdout.flush()  # an OSError names the file (gankit.progress.ClosedPipeGuard)
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.flush()


def build_app(host: PluginHost | None = None) -> typer.Typer:
    """A fresh Typer app over ``host``'s registries (the process-wide host by default)."""
    get = (lambda: host) if host is not None else get_host
    app = typer.Typer(
        name="gankit", no_args_is_help=True, add_completion=False, cls=AppGroup, rich_markup_mode=None,
        help="Train, sample and compare GAN variants. Every variant is a plugin.",
        context_settings={"help_option_names": ["-h", "--help"], "obj": AppHost(get)},
    )
    app.callback()(root)
    # In this order in `gankit --help`.
    for group in (train, sample, export, timelapse, info, evaluation, zoo, scaffold):
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


class _TerminatedWhileLoading(BaseException):
    """SIGTERM while plugins load: no Exception nor KeyboardInterrupt, which the host counts as
    the failure of the plugin being imported (and goes on to the next)."""


def main() -> None:
    """The console script."""
    before = set(threading.enumerate())
    host = None
    try:
        host = _load_plugins()
        with sigterm_as_interrupt():
            build_app(host)(prog_name="gankit")
        code: Any = 0
    except SystemExit as exit:
        code = exit.code
    end_despite_threads(code, before, host)


def _load_plugins() -> PluginHost:
    try:
        with sigterm_as_interrupt(_TerminatedWhileLoading):
            return get_host(plugins_dir=_plugins_dir_from_argv(sys.argv[1:]))
    except GankitError as error:
        Console(stderr=True, highlight=False, soft_wrap=True).print(f"[bold red]Error:[/] {error}")
        sys.exit(EXIT_USAGE)
    except (KeyboardInterrupt, _TerminatedWhileLoading) as error:  # before any command could write
        what = "Terminated (SIGTERM)" if isinstance(error, _TerminatedWhileLoading) else "Interrupted"
        Console(stderr=True, highlight=False, soft_wrap=True).print(  # one line, not wrapped at 80
            f"[yellow]{what}[/] while loading plugins, before the command started; nothing was written.")
        sys.exit(EXIT_INTERRUPTED)


def _hard_exit(status: int) -> None:  # tests replace it: the test process must go on
    os._exit(status)


def end_despite_threads(code: Any, before: set[threading.Thread], host: PluginHost | None) -> None:
    """Exit with ``code`` (a ``SystemExit`` code). Python would first wait for every non-daemon
    thread, forever for one a plugin started and never stops ("Done", then no exit): those not
    in ``before`` still running after :data:`THREAD_GRACE_S` are named, one line each, and the
    process ends without them (``os._exit`` once stdout and stderr are flushed)."""
    lingering = _lingering(before)
    if not lingering:
        raise SystemExit(code)
    for thread in lingering:
        plugin = host.plugin_of_thread(thread) if host is not None else None
        owner = f" (started by plugin '{plugin}')" if plugin else ""
        print(f"gankit: thread '{thread.name}'{owner} was still running when the command ended; exiting "
              "without waiting for it. Make it a daemon thread, or stop it when its work is done."
              + (f" Disable the plugin with GANKIT_DISABLE_PLUGINS={plugin}." if plugin else ""),
              file=sys.stderr)
    status = code if isinstance(code, int) else 0 if code is None else 1
    if not isinstance(code, (int, type(None))):
        print(code, file=sys.stderr)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    _hard_exit(status)
    raise SystemExit(code)  # where _hard_exit returns (a test)


def _lingering(before: set[threading.Thread]) -> list[threading.Thread]:
    def alive() -> list[threading.Thread]:
        return [thread for thread in threading.enumerate() if thread not in before and thread.is_alive()
                and not thread.daemon and thread is not threading.current_thread()]

    deadline = time.monotonic() + THREAD_GRACE_S
    for thread in alive():
        thread.join(max(0.0, deadline - time.monotonic()))
    return alive()
