"""Store commands counted as ``bench/costs.py`` counts them: a PyMongo ``CommandListener`` that keeps
(command, collection) pairs (and, in ``scans``, per collection the commands FerretDB answers by
reading all of it), either of one watched task (a request's own commands, not the relay's)
or of the whole process (a consumer's, which run in tasks of FastStream's).

PyMongo has no way to unregister a global listener, and a client hears only listeners registered
before it was made: one listener for the test session, registered on import, idle unless counting.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from pymongo import monitoring

_ALL = object()  # counting every task's commands


def _scans(event: monitoring.CommandStartedEvent) -> bool:
    """Whether FerretDB/SQLite answers the command by decoding every document of the collection:
    any filter but ``_id`` alone equal to one value (``$in`` included) is evaluated in Go."""
    command = event.command
    filters = {"find": [command.get("filter")], "count": [command.get("query")],
               "findAndModify": [command.get("query")],
               "update": [u.get("q") for u in command.get("updates", [])],
               "delete": [d.get("q") for d in command.get("deletes", [])]}.get(event.command_name)
    if filters is None:
        return event.command_name == "aggregate"
    return any(set(f or {}) != {"_id"} or isinstance((f or {}).get("_id"), dict) for f in filters)


class Commands(Counter[tuple[str, str]]):
    """(command, collection) → how many; ``scans``: collection → how many read all of it."""

    def __init__(self) -> None:
        super().__init__()
        self.scans: Counter[str] = Counter()


class _StoreCommands(monitoring.CommandListener):
    def __init__(self) -> None:
        self.watching: object | None = None  # a task, _ALL, or None (idle)
        self.counts = Commands()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if self.watching is None:
            return
        if self.watching is not _ALL:
            try:
                if asyncio.current_task() is not self.watching:
                    return
            except RuntimeError:  # a thread without a loop: not the watched task
                return
        target = event.command.get(event.command_name)
        self.counts[(event.command_name, target if isinstance(target, str) else "")] += 1
        if _scans(event):
            self.counts.scans[target if isinstance(target, str) else ""] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


_LISTENER = _StoreCommands()
monitoring.register(_LISTENER)


@contextmanager
def _counting(watching: object) -> Iterator[Commands]:
    _LISTENER.counts = Commands()
    _LISTENER.watching = watching
    try:
        yield _LISTENER.counts
    finally:
        _LISTENER.watching = None


def commands_of_this_task() -> Iterator[Commands]:  # type: ignore[misc]
    """The commands the current task sends inside the block."""
    return _counting(asyncio.current_task())


def commands_of_every_task() -> Iterator[Commands]:  # type: ignore[misc]
    """The commands any task of this process sends inside the block (a consumer's included)."""
    return _counting(_ALL)
