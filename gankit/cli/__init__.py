"""The ``gankit`` command line (Typer + Rich), built by :func:`build_app` so each test gets a fresh
app with the plugins it registered.

- :mod:`gankit.cli.app` — the app factory and the console script;
- :mod:`gankit.cli.train` — ``train``;
- :mod:`gankit.cli.sample` — ``sample``;
- :mod:`gankit.cli.info` — ``list``, ``plugins``;
- :mod:`gankit.cli.evaluation` — ``evaluate``, ``compare``, ``evaluator``;
- :mod:`gankit.cli.scaffold` — ``plugin new``;
- :mod:`gankit.cli.plugin_commands` — the plugins' commands, their name clashes and help panels;
- :mod:`gankit.cli.options` — checks of options gankit's own commands share (``--seed``, ...);
- :mod:`gankit.cli.context` — the host of the running command (the one the app was built over);
- :mod:`gankit.cli.common` — what plugin commands may use too: ``Device``, ``user_errors``, exit codes.
"""

from gankit.cli.app import build_app, main

__all__ = ["build_app", "main"]
