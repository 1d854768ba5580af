"""A table of implementations keyed by name: the one shape every per-op backend table has.

A backend (the hls4ml converter, the RTL generator, ...) keeps one ``Registry`` and each of
its per-op modules adds its entry under the op's name. Registering a name twice is a
programming error and refused at import; asking for a name nobody registered is the user's
model reaching a backend that cannot take it, refused by name with the names it can take.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from adderflow.errors import ModelFormatError

T = TypeVar("T")


class DuplicateRegistration(RuntimeError):
    """Two modules registered the same name in one registry."""


class Registry(Generic[T]):
    """Entries of one kind (``what``, e.g. "hls4ml layer mapping") by name."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._entries: dict[str, T] = {}

    def add(self, name: str, entry: T) -> T:
        if name in self._entries:
            raise DuplicateRegistration(f"{self.what} '{name}' is registered twice")
        self._entries[name] = entry
        return entry

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form of ``add``."""
        return lambda entry: self.add(name, entry)

    def get(self, name: str, where: str = "") -> T:
        """The entry for ``name``; an unregistered one is refused naming ``where`` (a node)."""
        if name not in self._entries:
            prefix = f"{where}: " if where else ""
            raise ModelFormatError(
                f"{prefix}op '{name}' has no {self.what} (known: {', '.join(self.names())})"
            )
        return self._entries[name]

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)
