"""The ``gankit`` command line (Typer + Rich), built by :func:`build_app` so each test gets a fresh
app with the plugins it registered.

- :mod:`gankit.cli.app` — the app factory, ``train``, ``sample``, ``list``, ``plugins``;
- :mod:`gankit.cli.evaluation` — ``evaluate``, ``compare``, ``evaluator``;
- :mod:`gankit.cli.scaffold` — ``plugin new``;
- :mod:`gankit.cli.common` — what plugin commands may use too: ``Device``, ``user_errors``, exit codes.
"""

from gankit.cli.app import build_app, main

__all__ = ["build_app", "main"]
