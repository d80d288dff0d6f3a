"""Which gankit versions a plugin declares it supports, and whether this one is among them.

A packaged plugin declares them as an ordinary dependency (``dependencies = ["gankit>=0.1,<0.2"]``,
read from its ``Requires-Dist``); a ``--plugins-dir`` file as ``GANKIT_REQUIRES = ">=0.1,<0.2"``.
"""

from __future__ import annotations

from typing import Any

from gankit._version import __version__
from gankit.errors import GankitError

BUILTIN_NAME = "gankit"
REQUIRES_ATTRIBUTE = "GANKIT_REQUIRES"  # what a --plugins-dir file sets to declare its gankit range


def distribution_requirement(dist: Any) -> str | None:
    """The version specifier of the distribution's own dependency on gankit, if any."""
    if dist is None or (dist.metadata["Name"] or "").lower() == BUILTIN_NAME:
        return None
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    for line in dist.requires or []:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue  # pip would not have installed it; not ours to judge
        if canonicalize_name(requirement.name) != BUILTIN_NAME:
            continue
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        return str(requirement.specifier) or None
    return None


def module_requirement(module: object) -> str | None:
    declared = getattr(module, REQUIRES_ATTRIBUTE, None)
    if declared is None:
        return None
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    try:
        return str(SpecifierSet(str(declared)))
    except InvalidSpecifier:
        raise GankitError(f"{REQUIRES_ATTRIBUTE} = {declared!r} is not a version specifier; "
                          "write e.g. '>=0.1,<0.2'") from None


def mismatch(requires: str | None) -> bool:
    """Whether the running gankit is outside ``requires`` (a version specifier)."""
    if not requires:
        return False
    from packaging.specifiers import SpecifierSet

    return not SpecifierSet(requires).contains(__version__, prereleases=True)
