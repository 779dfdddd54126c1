"""The time the rules see: real time, shifted or frozen for tests.

Leases and timestamps of attempts use real time (they are about processes being alive);
due instants, reminders and digests use this clock.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta


class Clock:
    def __init__(self, offset: timedelta = timedelta(0)) -> None:
        self.offset = offset
        self.frozen: datetime | None = None
        self._listeners: list[Callable[[], None]] = []

    def now(self) -> datetime:
        return self.frozen if self.frozen is not None else datetime.now(UTC) + self.offset

    def freeze(self, at: datetime) -> None:
        """Stop the clock at ``at`` (aware)."""
        self.frozen = at.astimezone(UTC)
        self._changed()

    def travel(self, to: datetime) -> None:
        """Jump to ``to`` and let time run on from there."""
        self.frozen = None
        self.offset = to.astimezone(UTC) - datetime.now(UTC)
        self._changed()

    def on_change(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def _changed(self) -> None:
        for listener in self._listeners:
            listener()
