"""Copies of stored data that a service's only process reads once and keeps current by its own writes.

With one process per service every write of some data passes through that process, so a copy read
once from the store and changed by those writes answers as the store would: the partners' lists
(services/partners/listing.py) and the inboxes' ids and read marks
(services/notifications/inbox_index.py), reads that FerretDB answers by scanning. What makes the
copy true:

- the callers that ask while a key's copy is being read share that one read;
- a write made while the copy is read may or may not be in what the read returns: it is noted and
  applied to the read's result (``apply`` must give the same copy either way);
- a write whose outcome is not known (an error after it may have reached the store) drops the
  copy, and spoils a read in progress: that read still answers the callers who waited for it, but
  is not kept, and the next caller reads again;
- a copy over its bound is not kept, and its key is left to the store from then on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from shared.locks import KeyedLocks

K = TypeVar("K", bound=Hashable)
C = TypeVar("C")  # a copy
W = TypeVar("W")  # a write, as the copy takes it


class KeptCopies(Generic[K, C, W]):
    """One copy per key; ``apply(copy, write)`` changes a copy, ``too_large(copy)`` is its bound."""

    def __init__(self, apply: Callable[[C, W], None], too_large: Callable[[C], bool]) -> None:
        self._apply = apply
        self._too_large = too_large
        self._copies: dict[K, C] = {}
        self._left: set[K] = set()  # keys over the bound: the store answers them
        self._reading = KeyedLocks()
        self._meanwhile: dict[K, list[W]] = {}  # the writes made while a key is being read
        self._spoiled: set[K] = set()  # keys being read when a write of unknown outcome came

    def left_to_store(self, key: K) -> bool:
        return key in self._left

    async def get(self, key: K, read: Callable[[], Awaitable[C]]) -> C | None:
        """The key's copy, read from the store first if none is kept; ``None`` for a key left to the
        store. A read that turns out over the bound still answers this call."""
        if (copy := self._copies.get(key)) is not None or key in self._left:
            return copy
        async with self._reading(key):
            if (copy := self._copies.get(key)) is not None or key in self._left:
                return copy
            self._meanwhile[key] = []
            self._spoiled.discard(key)
            try:
                copy = await read()
                for write in self._meanwhile[key]:
                    self._apply(copy, write)
                if self._too_large(copy):
                    self._left.add(key)
                elif key not in self._spoiled:
                    self._copies[key] = copy
                return copy
            finally:
                del self._meanwhile[key]

    def wrote(self, key: K, write: W) -> None:
        """This write is stored (the store's answer said so)."""
        if key in self._meanwhile:
            self._meanwhile[key].append(write)
        if (copy := self._copies.get(key)) is not None:
            self._apply(copy, write)
            if self._too_large(copy):
                del self._copies[key]
                self._left.add(key)

    def unsure(self, key: K) -> None:
        """A write of the key's data failed after it may have reached the store."""
        self._copies.pop(key, None)
        if key in self._meanwhile:
            self._spoiled.add(key)

    def forget(self, key: K) -> None:
        """The key's data is gone from the store (dropped): read again if asked, whatever its size was."""
        self.unsure(key)
        self._left.discard(key)
