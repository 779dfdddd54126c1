"""Which notifications each inbox holds and which are unread, as this process knows them, when it is
the service's only process.

An inbox page shows the newest notifications and the unread count. FerretDB sorts by ``_id`` in Go
over every notification of the inbox for the page (a sort is never given to SQLite) and reads them
all again for the count: two scans of an inbox that, for a staff member, holds thousands. With one
process every write of an inbox passes through :class:`~services.notifications.store.Inboxes` (a new
notification, a read mark; the delivery copies change neither), so the ids and read marks, read once
per inbox, stay exact; a page then reads its notifications by ``_id``. A write whose outcome is not
certain drops the inbox's index, and the next page reads it again (shared/kept.py). With several
processes the store answers every page (docs/reliability.md).
"""

from __future__ import annotations

import bisect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from shared.kept import KeptCopies

Read = Callable[[], Awaitable[list[dict[str, Any]]]]  # the inbox's notifications: ``_id`` and ``read_at``


@dataclass
class Inbox:
    ids: list[str] = field(default_factory=list)  # ascending: notification ids are time-ordered
    unread: set[str] = field(default_factory=set)

    def added(self, notification_id: str) -> None:
        if not _holds(self.ids, notification_id):
            bisect.insort(self.ids, notification_id)
            self.unread.add(notification_id)

    def newest(self, limit: int, before: str | None, unread: bool) -> tuple[list[str], bool]:
        """Up to ``limit`` ids, newest first, older than ``before``; and whether more follow."""
        end = bisect.bisect_left(self.ids, before) if before is not None else len(self.ids)
        chosen: list[str] = []
        for i in range(end - 1, -1, -1):
            if unread and self.ids[i] not in self.unread:
                continue
            chosen.append(self.ids[i])
            if len(chosen) > limit:
                return chosen[:limit], True
        return chosen, False


def _holds(ids: list[str], notification_id: str) -> bool:
    i = bisect.bisect_left(ids, notification_id)
    return i < len(ids) and ids[i] == notification_id


class InboxIndex:
    """Up to ``MOST`` notifications an inbox (~150 bytes each); a larger one is left to the store."""

    MOST = 20_000

    def __init__(self) -> None:
        # A write is (added, notification id): added unread, or marked read.
        self._kept: KeptCopies[str, Inbox, tuple[bool, str]] = KeptCopies(
            _apply, lambda inbox: len(inbox.ids) > self.MOST)

    async def of(self, recipient_id: str, read: Read) -> Inbox | None:
        """The inbox's index, read first if need be; ``None`` for an inbox left to the store (over ``MOST``)."""
        async def index() -> Inbox:
            docs = await read()
            return Inbox(sorted(doc["_id"] for doc in docs), {doc["_id"] for doc in docs if doc.get("read_at") is None})

        return await self._kept.get(recipient_id, index)

    def added(self, recipient_id: str, notification_id: str) -> None:
        """A new notification is stored (unread)."""
        self._kept.wrote(recipient_id, (True, notification_id))

    def read(self, recipient_id: str, notification_id: str) -> None:
        """The notification is stored as read (or was already)."""
        self._kept.wrote(recipient_id, (False, notification_id))

    def unsure(self, recipient_id: str) -> None:
        """A write to the inbox failed after it may have reached the store."""
        self._kept.unsure(recipient_id)

    def forget(self, recipient_id: str) -> None:
        """The inbox is dropped."""
        self._kept.forget(recipient_id)


def _apply(inbox: Inbox, write: tuple[bool, str]) -> None:
    added, notification_id = write
    if added:
        inbox.added(notification_id)
    else:
        inbox.unread.discard(notification_id)
