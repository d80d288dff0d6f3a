"""Names: one kind's registry (variants, losses, datasets or callbacks), qualified names and the
rule that settles a name two plugins register.

Every registration answers to ``PLUGIN:NAME``; the bare name means the one third-party plugin that
registered it, else gankit's own. So gankit can grow a built-in name without taking it from a plugin
a user installed, and a run records the qualified names it was made with (``config.json``
``qualified_names``) so that a later install never changes what it rebuilds.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Generic, Iterator, TypeVar

from gankit.errors import RegistryError

T = TypeVar("T")

QUALIFIER = ":"  # PLUGIN:NAME


def split_name(name: str) -> tuple[str | None, str]:
    """``("extras", "ragan")`` for ``"extras:ragan"``, ``(None, "ragan")`` for a bare name."""
    qualifier, colon, bare = name.rpartition(QUALIFIER)
    return (qualifier if colon else None), bare


def _canonical(qualifier: str) -> str:
    # A distribution is spelt gankit-extras, gankit_extras or Gankit.Extras: all one name (PEP 503).
    return qualifier.lower().replace("-", "_").replace(".", "_")


@dataclass(frozen=True)
class Registration(Generic[T]):
    """One plugin's spec under one name.

    :param owner: the plugin's name, as ``gankit plugins`` shows it: ``OWNER:NAME`` reaches it.
    :param first_party: registered by gankit itself or a plugin its own distribution ships; a
        third-party plugin's spec of the same name takes the bare name from it.
    :param aliases: other qualifiers that reach it (the owner's distribution, e.g. ``gankit``).
    """

    name: str
    owner: str
    spec: T
    first_party: bool = False
    aliases: tuple[str, ...] = ()

    @property
    def qualified(self) -> str:
        return f"{self.owner}{QUALIFIER}{self.name}"

    def answers_to(self, qualifier: str) -> bool:
        return _canonical(qualifier) in {_canonical(q) for q in (self.owner, *self.aliases)}


@dataclass
class Registry(Generic[T]):
    """Specs by name, remembering which plugin registered each.

    Several plugins may register one name; each is reachable as ``PLUGIN:NAME``. The bare name means
    the one third-party plugin that registered it, else gankit's own; with two third-party plugins
    it is an error at use that names both choices (what a user installed keeps its name when gankit
    grows, and gankit's stays reachable).
    """

    kind: str  # "variant", "loss", "dataset", "callback": used in error messages
    _by_name: dict[str, list[Registration[T]]] = field(default_factory=dict)

    def register(self, name: str, item: T, owner: str, *, first_party: bool = False,
                 aliases: tuple[str, ...] = ()) -> None:
        if QUALIFIER in name:
            raise RegistryError(f"{self.kind.capitalize()} name '{name}' contains '{QUALIFIER}', which "
                                f"separates a plugin from a name ('{owner}:NAME'); drop it from the name.")
        if any(r.owner == owner for r in self._by_name.get(name, [])):
            raise RegistryError(f"{self.kind.capitalize()} '{name}' is registered twice by '{owner}'; "
                                "register each name once.")
        self._by_name.setdefault(name, []).append(Registration(name, owner, item, first_party, aliases))

    def resolve(self, name: str) -> Registration[T]:
        """The registration ``name`` (bare or ``PLUGIN:NAME``) means; a clear error if none or several."""
        qualifier, bare = split_name(name)
        candidates = self._by_name.get(bare, [])
        if qualifier is not None:
            candidates = [r for r in candidates if r.answers_to(qualifier)]
        elif len(candidates) > 1:
            candidates = [r for r in candidates if not r.first_party] or candidates
        if len(candidates) == 1:
            return candidates[0]
        if not candidates:
            raise RegistryError(self.unknown_message(name))
        choices = " or ".join(f"'{r.qualified}'" for r in candidates)
        raise RegistryError(f"{self.kind.capitalize()} '{name}' is registered by {len(candidates)} plugins "
                            f"({', '.join(r.owner for r in candidates)}); say which: {choices}.")

    def get(self, name: str, *, pinned: str | None = None, strict: bool = False) -> T:
        """The spec ``name`` means. ``pinned``: the qualified name a run recorded for it, which wins,
        so a plugin installed later never changes what a run rebuilds; ``strict``: a pinned name
        that is no longer registered is an error rather than a fallback to ``name``."""
        chosen = self.pinned_name(name, pinned)
        if strict and pinned and chosen != pinned and split_name(name)[0] is None \
                and split_name(pinned)[1] == name:
            owner = split_name(pinned)[0]
            raise RegistryError(f"The run was made with {self.kind} '{pinned}', but plugin '{owner}' is not "
                                f"installed or no longer registers it; install it again to rebuild the run.")
        return self.resolve(chosen).spec

    def registration_of(self, spec: T) -> Registration[T]:
        """The registration holding ``spec`` itself (a spec built outside the registry: its name's)."""
        for registration in self._by_name.get(getattr(spec, "name", ""), []):
            if registration.spec is spec:
                return registration
        return self.resolve(getattr(spec, "name"))

    def pinned_name(self, name: str, pinned: str | None) -> str:
        """``pinned`` when ``name`` is its bare name and it is registered, else ``name`` (a name
        typed with its plugin means that plugin, whatever a run recorded)."""
        if pinned and split_name(name)[0] is None and split_name(pinned)[1] == name and pinned in self:
            return pinned
        return name

    def unknown_message(self, name: str) -> str:
        qualifier, bare = split_name(name)
        if qualifier is not None and bare in self._by_name:
            owners = ", ".join(f"'{r.qualified}'" for r in self._by_name[bare])
            return (f"Unknown {self.kind} '{name}': no plugin '{qualifier}' registers '{bare}'. "
                    f"Registered: {owners}")
        available = ", ".join(self.names()) or "(none registered)"
        close = difflib.get_close_matches(bare, self.names(), n=1, cutoff=0.6)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        return f"Unknown {self.kind} '{name}'.{hint} Available: {available}"

    def owner(self, name: str) -> str:
        """The plugin that ``name`` (bare or qualified) means."""
        return self.resolve(name).owner

    def qualified(self, name: str) -> str:
        """``PLUGIN:NAME`` of what ``name`` means now: what a run records."""
        return self.resolve(name).qualified

    def names(self) -> list[str]:
        """The bare names, each once."""
        return sorted(self._by_name)

    def registrations(self) -> list[Registration[T]]:
        """Every registration, by name, then gankit's own before third parties'."""
        return [r for name in self.names() for r in self._by_name[name]]

    def shown_name(self, registration: Registration[T]) -> str:
        """The shortest name that reaches ``registration``: bare if that means it, else qualified."""
        try:
            if self.resolve(registration.name) is registration:
                return registration.name
        except RegistryError:
            pass
        return registration.qualified

    def unregister_owner(self, owner: str) -> None:
        """Forget every spec ``owner`` registered (a plugin that failed half-way keeps nothing)."""
        for name in list(self._by_name):
            kept = [r for r in self._by_name[name] if r.owner != owner]
            if kept:
                self._by_name[name] = kept
            else:
                del self._by_name[name]

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        qualifier, bare = split_name(name)
        return any(qualifier is None or r.answers_to(qualifier) for r in self._by_name.get(bare, []))

    def __iter__(self) -> Iterator[T]:
        return iter(r.spec for r in self.registrations())

    def __len__(self) -> int:
        return sum(len(found) for found in self._by_name.values())
