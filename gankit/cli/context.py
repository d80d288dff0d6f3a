"""The host of the running command: which plugin host the app being invoked was built over.

:func:`gankit.cli.build_app` puts an :class:`AppHost` in its root context (click's ``ctx.obj``),
and the app's root group makes it known for the length of one invocation (:func:`running`), so a
command, gankit's or a plugin's, and :func:`gankit.cli.common.user_errors` ask the host the app
was built with rather than a process-wide one.
"""

from __future__ import annotations

import contextlib
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Callable, Iterator

from gankit.host import PluginHost, get_host, loaded_host


@dataclass(frozen=True)
class AppHost:
    """The host an app was built over, as its root context's ``obj``: ``get()`` returns it
    (the process-wide host, loaded on first use, for an app built without one)."""

    get: Callable[[], PluginHost]


_running: ContextVar[AppHost | None] = ContextVar("gankit_app_host", default=None)


@contextlib.contextmanager
def running(app_host: object) -> Iterator[None]:
    """Inside: :func:`command_host` is ``app_host``'s host (when it is an :class:`AppHost`)."""
    token = _running.set(app_host if isinstance(app_host, AppHost) else None)
    try:
        yield
    finally:
        _running.reset(token)


def command_host() -> PluginHost:
    """The host of the app whose command runs now; outside an app built by ``build_app``, the
    process-wide one."""
    app_host = _running.get()
    return app_host.get() if app_host is not None else get_host()


def host_to_blame() -> PluginHost | None:
    """The host whose plugins an error line may name: the running app's, else the process-wide
    host if it is loaded (an error path loads no plugins)."""
    app_host = _running.get()
    return app_host.get() if app_host is not None else loaded_host()
