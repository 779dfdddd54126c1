"""The time the rules see: real time (``shared.clock``), shifted or frozen for tests.

Leases and timestamps of attempts use real time (they are about processes being alive);
due instants, reminders and digests use this clock. A clock can follow a file holding its
offset in seconds (``SINERGI_NOTIFY_CLOCK_FILE``), so that a test or a rehearsal moves the
time of several processes at once.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from shared.clock import now_ms

FILE_CHECK_SECONDS = 0.1


class Clock:
    def __init__(self, offset: timedelta = timedelta(0), offset_file: Path | None = None) -> None:
        self.offset = offset
        self.frozen: datetime | None = None
        self._file = offset_file
        self._file_seen: float | None = None
        self._file_checked = 0.0
        self._listeners: list[Callable[[], None]] = []

    def now(self) -> datetime:
        if self._file is not None:
            self._follow_file()
        return self.frozen if self.frozen is not None else now_ms() + self.offset

    def freeze(self, at: datetime) -> None:
        """Stop the clock at ``at`` (aware)."""
        self.frozen = at.astimezone(UTC)
        self._changed()

    def on_change(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def _changed(self) -> None:
        for listener in self._listeners:
            listener()

    def _follow_file(self) -> None:
        assert self._file is not None
        if time.monotonic() - self._file_checked < FILE_CHECK_SECONDS:
            return
        self._file_checked = time.monotonic()
        try:
            changed = os.stat(self._file).st_mtime_ns
            if changed != self._file_seen:
                self._file_seen = changed
                self.offset = timedelta(seconds=float(self._file.read_text().strip() or 0))
        except (OSError, ValueError):
            pass
