"""User-facing errors.

Anything raised as a :class:`GankitError` is bad input the user can fix: the CLI prints its message
as one line and exits with code 2, without a traceback (``--debug`` or ``GANKIT_DEBUG=1`` shows it).
Messages follow one rule: say what was wrong, what was expected, and what to do.
"""

from __future__ import annotations


class GankitError(Exception):
    """Bad input the user can fix; its message is shown as one line."""


class RegistryError(GankitError):
    """An unknown name, or a name registered twice."""


class ConfigError(GankitError):
    """An unknown config key or a value of the wrong type or range."""


class DataError(GankitError):
    """A dataset that is missing, corrupt or unsuitable for the request."""


class CheckpointError(GankitError):
    """A checkpoint or run folder that is missing, corrupt or built by another variant."""


class TrainingError(GankitError):
    """Training stopped for a reason the user should act on (e.g. a non-finite loss)."""


class GankitWarning(UserWarning):
    """Something the user should know but that does not stop the run (e.g. a loss/variant mix
    that a variant adapted to). The CLI prints each as one line."""
