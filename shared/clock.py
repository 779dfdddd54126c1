"""The one clock helper: now, in UTC, to the millisecond.

BSON keeps milliseconds, so a time taken with :func:`now_ms` (or cut with :func:`utc_ms`) reads back
from the store exactly as a reply showed it. Use cases take a ``Clock`` so tests can set the time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator

Clock = Callable[[], datetime]


def _with_offset(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("give the time with its offset, e.g. 2026-11-01T00:00:00+07:00")
    return value


# An instant a client sends (a query's from/to): without an offset it could be any of three zones.
Instant = Annotated[datetime, AfterValidator(_with_offset)]


def utc_ms(value: datetime) -> datetime:
    """``value`` in UTC, cut to the millisecond."""
    value = value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def now_ms() -> datetime:
    return utc_ms(datetime.now(UTC))
