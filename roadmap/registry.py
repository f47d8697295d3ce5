"""Named registries: the one helper behind every "choose by name" in the tool.

A `Registry` maps names to entries (functions, classes or small records) in registration
order. Entries register themselves next to their definition, so adding one is one decorated
function; nothing else lists the names::

    FUSIONS = Registry("fusion")

    @FUSIONS.register("add")
    def add_fusion(...): ...

``FUSIONS.lookup(name)`` returns the entry or raises the registry's one-line error naming the
known names. A registry is a read-only mapping (``in``, iteration, ``len``, ``get`` with a
default), so code that held a ``dict`` or a tuple of names keeps working.

Plain Python (no torch): the spec, the CLI and the search import it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Generic, TypeVar

from roadmap.errors import RoadmapError

__all__ = ["Registry"]

T = TypeVar("T")
UnknownName = Callable[[str, tuple[str, ...]], Exception]


def _default_unknown(kind: str) -> UnknownName:
    def unknown(name: str, known: tuple[str, ...]) -> Exception:
        return RoadmapError(f"unknown {kind} {name!r} (choose from {', '.join(known)})")

    return unknown


class Registry(Mapping[str, T], Generic[T]):
    """The entries of one ``kind`` (e.g. ``"latency backend"``) by name, in registration order.

    ``unknown(name, known_names)`` builds the exception `lookup` raises for a name that is not
    registered (default: ``RoadmapError("unknown <kind> 'x' (choose from a, b)")``); a caller
    whose message is part of the interface passes its own wording.
    """

    def __init__(self, kind: str, unknown: UnknownName | None = None) -> None:
        self.kind = kind
        self._unknown = unknown or _default_unknown(kind)
        self._entries: dict[str, T] = {}

    def add(self, name: str, entry: T) -> T:
        """Register ``entry`` as ``name`` and return it; a name registers once (`ValueError`)."""
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} registered twice")
        self._entries[name] = entry
        return entry

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: register the decorated function or class as ``name`` (see `add`)."""

        def deco(entry: T) -> T:
            return self.add(name, entry)

        return deco

    def names(self) -> tuple[str, ...]:
        """The registered names, in registration order."""
        return tuple(self._entries)

    def lookup(self, name: str) -> T:
        """The entry registered as ``name``; the registry's one-line error when there is none."""
        try:
            return self._entries[name]
        except (KeyError, TypeError):  # TypeError: an unhashable value read from a file
            raise self._unknown(name, self.names()) from None

    def __getitem__(self, name: str) -> T:
        return self._entries[name]

    def __contains__(self, name: object) -> bool:
        try:
            return name in self._entries
        except TypeError:  # an unhashable value is no name, as with a tuple of names
            return False

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {list(self._entries)})"
