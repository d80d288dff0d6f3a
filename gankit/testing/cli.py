"""Running gankit as a user would, inside a plugin's tests: the CLI in-process, the process-wide
plugin host swapped for a test's own, and a variant's config as ``--set`` would make it."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, Iterator, Sequence

if TYPE_CHECKING:
    from typer.testing import Result

    from gankit.host import PluginHost
    from gankit.registry import VariantSpec


def invoke(args: Sequence[Any], *, host: PluginHost | None = None, **options: Any) -> Result:
    """Run ``gankit ARGS...`` in-process on a fresh app over ``host`` (default: the process-wide
    host, see :func:`using_host`); returns typer.testing's ``Result`` (``exit_code``, ``output``
    with stderr mixed in, ``exception``). Arguments are turned into strings (paths, numbers);
    ``options`` go to ``CliRunner.invoke`` (``input=``, ``env=``, ``terminal_width=``)."""
    from typer.testing import CliRunner

    from gankit.cli.app import build_app

    return CliRunner().invoke(build_app(host), [str(arg) for arg in args], **options)


@contextlib.contextmanager
def using_host(host: PluginHost | None) -> Iterator[PluginHost | None]:
    """Make ``host`` (e.g. :func:`gankit.testing.plugin_host`'s) the one that ``gankit.get_variant``,
    ``gankit.load_run`` and the CLI use, and put the previous one back afterwards. ``None``: a fresh
    host of the installed plugins, loaded on first use (what a new ``gankit`` process sees)."""
    import gankit.host as hosting

    previous = hosting._host
    hosting.set_host(host)
    try:
        yield host
    finally:
        hosting.set_host(previous)


def variant_config(variant: str | VariantSpec, overrides: dict[str, Any] | None = None, *,
                   host: PluginHost | None = None) -> Any:
    """The config ``gankit train VARIANT --set KEY=VALUE ...`` would train with: the variant's
    defaults with ``overrides`` applied (strings are parsed as ``--set`` parses them; a bad key or
    value raises :class:`gankit.ConfigError`). ``variant``: a name (looked up in ``host``, default
    the process-wide one) or a :class:`gankit.VariantSpec`."""
    from gankit.config import build_config
    from gankit.host import get_host

    spec = (host or get_host()).variants.get(variant) if isinstance(variant, str) else variant
    return build_config(spec.config_class, overrides)
