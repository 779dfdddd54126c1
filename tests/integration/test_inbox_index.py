"""Inbox pages and unread counts with one notifications process (services/notifications/inbox_index.py).

FerretDB sorted every notification of an inbox for each page and read them all again for the unread
count: two scans of an inbox that, for a staff member, holds thousands. With one process every new
notification and read mark passes through :class:`Inboxes`, so it keeps each inbox's ids and read
marks, read once. What the staff member notices: each page and count is the store's, at once.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pymongo.errors import AutoReconnect

from services.notifications.inbox_index import InboxIndex
from services.notifications.store import Inboxes
from tests.store_commands import commands_of_this_task

AT = datetime(2030, 11, 6, 2, 0, tzinfo=UTC)


def _note(nid: str) -> dict:
    return {"_id": nid, "recipient_id": "R1", "subject": f"Mitra baru {nid}", "read_at": None, "version": 1,
            "updated_at": AT, "delivery": {"inbox": {"status": "sent", "attempts": 1, "last_error": None}}}


def ids(docs: list[dict]) -> list[str]:
    return [doc["_id"] for doc in docs]


async def test_pages_and_unread_counts_show_every_change_without_reading_the_whole_inbox(settings, mongo):
    inboxes = Inboxes(mongo[settings.database_name("notifications")])  # one process: no leases
    for n in range(5):
        assert await inboxes.add("R1", _note(f"N{n:03d}"))
    assert ids((await inboxes.page("R1", False, 2, None))[0]) == ["N004", "N003"]  # reads the inbox once

    with commands_of_this_task() as sent:
        assert await inboxes.add("R1", _note("N005"))
        assert not await inboxes.add("R1", _note("N005")), "a redelivered event adds nothing"
        await inboxes.mark_read("R1", "N004", AT)
        first, cursor = await inboxes.page("R1", False, 3, None)
        rest, end = await inboxes.page("R1", False, 3, cursor)
        unread, _ = await inboxes.page("R1", True, 10, None)
        counted = await inboxes.unread("R1")
        marked = await inboxes.mark_all_read("R1", AT)
        left = await inboxes.unread("R1")
        none_unread, _ = await inboxes.page("R1", True, 10, None)
    assert ids(first) == ["N005", "N004", "N003"] and ids(rest) == ["N002", "N001", "N000"] and end is None
    assert first[1]["read_at"] is not None and first[0]["subject"] == "Mitra baru N005"
    assert ids(unread) == ["N005", "N003", "N002", "N001", "N000"] and counted == 5
    assert marked == 5 and left == 0 and none_unread == []
    assert sent.scans["inbox_R1"] == 0, f"the whole inbox was read: {dict(sent)}"


async def test_after_a_read_mark_whose_answer_was_lost_the_count_is_the_stores(settings, mongo, monkeypatch):
    inboxes = Inboxes(mongo[settings.database_name("notifications")])
    for n in range(3):
        await inboxes.add("R1", _note(f"N{n:03d}"))
    assert await inboxes.unread("R1") == 3

    marked_read = Inboxes._marked_read

    async def stored_then_cut(inbox, notification_id, at):  # the store applies it; its answer is lost
        await marked_read(inbox, notification_id, at)
        raise AutoReconnect("connection closed")

    monkeypatch.setattr(Inboxes, "_marked_read", staticmethod(stored_then_cut))
    try:
        await inboxes.mark_read("R1", "N001", AT)
    except AutoReconnect:
        pass
    monkeypatch.undo()
    assert await inboxes.unread("R1") == 2
    assert ids((await inboxes.page("R1", True, 10, None))[0]) == ["N002", "N000"]


async def test_an_inbox_over_the_bound_is_paged_by_the_store(settings, mongo, monkeypatch):
    monkeypatch.setattr(InboxIndex, "MOST", 3)
    inboxes = Inboxes(mongo[settings.database_name("notifications")])
    for n in range(3):
        await inboxes.add("R1", _note(f"N{n:03d}"))
    assert await inboxes.unread("R1") == 3  # kept: within the bound
    await inboxes.add("R1", _note("N003"))  # over it: no longer kept
    with commands_of_this_task() as sent:
        newest, _ = await inboxes.page("R1", False, 2, None)
        counted = await inboxes.unread("R1")
    assert ids(newest) == ["N003", "N002"] and counted == 4
    assert sent.scans["inbox_R1"] == 2, "the store answers the page and the count"
