"""One small registry class for every seam: backbones, backends, camera sources, quantization methods,
data layouts, locators.

An entry is added in one place (its own module) and everything else (CLI choices, help text, doctor's
checks, bench options) is derived by iterating the registry. A second entry under a taken name is refused,
as torchvision's ``register_model`` does: two entries silently shadowing each other is a bug.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Generic, Iterator, TypeVar

from edgetl.errors import EdgetlError

T = TypeVar("T")


class DuplicateEntryError(ValueError):
    """A registry already holds an entry of that name (a programming error, not a user error)."""


class Registry(Generic[T]):
    """Named entries of one kind, in registration order."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T) -> T:
        """Add ``entry`` under ``name``; refuse a name that is taken."""
        if name in self._entries:
            raise DuplicateEntryError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = entry
        return entry

    def decorator(self, name: str) -> Callable[[T], T]:
        """``@registry.decorator("name")`` registers the decorated object."""
        return lambda entry: self.register(name, entry)

    def unregister(self, name: str) -> T:
        return self._entries.pop(name)

    @contextlib.contextmanager
    def temporarily(self, name: str, entry: T) -> Iterator[T]:
        """Register ``entry`` for the duration of a ``with`` block (tests, plugins tried once)."""
        self.register(name, entry)
        try:
            yield entry
        finally:
            self._entries.pop(name, None)

    def get(self, name: str) -> T:
        """The entry, or a one-line user error listing the names there are."""
        try:
            return self._entries[name]
        except KeyError:
            raise EdgetlError(f"unknown {self.kind} {name!r}: use one of {', '.join(self._entries)}") from None

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def items(self) -> list[tuple[str, T]]:
        return list(self._entries.items())

    def values(self) -> list[T]:
        return list(self._entries.values())

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {list(self._entries)})"
