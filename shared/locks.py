"""In-process locks by key, for what must not run twice at once on one aggregate.

FerretDB runs a conditional update as a read then a write, so writers of one document in one
process take that document's lock; across processes the condition remains the guard.
"""

from __future__ import annotations

import asyncio
from weakref import WeakValueDictionary


class KeyedLocks:
    """One asyncio lock per key, forgotten once nobody holds it or waits for it."""

    def __init__(self) -> None:
        self._locks: WeakValueDictionary[str, asyncio.Lock] = WeakValueDictionary()

    def __call__(self, key: str) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock
