"""The one clock helper: now, in UTC, to the millisecond.

BSON keeps milliseconds, so a time taken with :func:`now_ms` (or cut with :func:`utc_ms`) reads back
from the store exactly as a reply showed it. Use cases take a ``Clock`` so tests can set the time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utc_ms(value: datetime) -> datetime:
    """``value`` in UTC, cut to the millisecond."""
    value = value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def now_ms() -> datetime:
    return utc_ms(datetime.now(UTC))
