"""A notification's copy of its deliveries' outcomes, on the real store: only a newer state of a
delivery replaces what the notification shows, and the scheduler's repair (on archiving a sent
delivery, and for a dead one) writes a lost copy again, once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.notifications import store
from services.notifications.domain import summary
from services.notifications.store import Deliveries, Inboxes
from shared.events import EventType
from shared.outbox import OUTBOX, PENDING, AggregateCollection
from tests.conftest import auth, running
from tests.notifications_support import (  # noqa: F401 - smtp is a fixture
    add_recipient,
    event,
    fast,
    inbox,
    partner,
    publish,
    smtp,
    soon,
    subscribed,
)

STAFF = "R-STAFF"
T0 = datetime(2030, 11, 6, 2, 0, tzinfo=UTC)


@pytest.fixture
def db(mongo, settings):
    return mongo[f"{settings.db_prefix}notifications"]


def delivery(nid: str, version: int, status: str, channel: str = "email", recipient_id: str | None = STAFF,
             last_error: str | None = None) -> dict[str, Any]:
    return {"_id": f"{nid}-{channel}", "notification_id": nid, "recipient_id": recipient_id, "channel": channel,
            "status": status, "attempts": max(version - 1, 0), "last_error": last_error, "version": version,
            "updated_at": T0 + timedelta(seconds=version)}


def notification(nid: str, *shown: dict[str, Any]) -> dict[str, Any]:
    return {"_id": nid, "recipient_id": STAFF, "read_at": None, "version": 1, "updated_at": T0,
            "delivery": {"inbox": {"status": "sent", "attempts": 1, "last_error": None},
                         **{d["channel"]: summary(d) for d in shown}}}


async def test_an_older_state_of_a_delivery_never_replaces_a_newer_one_on_its_notification(db):
    inboxes = Inboxes(db)
    await inboxes.add(STAFF, notification("N1", delivery("N1", 1, "pending")))
    sent, unknown = delivery("N1", 4, "sent"), delivery("N1", 3, "dead", last_error="outcome unknown")

    await inboxes.set_delivery(STAFF, "N1", "email", summary(sent), sent["updated_at"], verify=False)
    # The "unknown" outcome a slow process recorded before the real one arrives late, verified or not.
    for verify in (False, True):
        await inboxes.set_delivery(STAFF, "N1", "email", summary(unknown), unknown["updated_at"], verify=verify)
    note = await inboxes.get(STAFF, "N1")
    assert note["delivery"]["email"] == summary(sent) and note["version"] == 2

    await inboxes.set_delivery(STAFF, "N1", "email", summary(sent), sent["updated_at"], verify=True)
    assert (await inboxes.get(STAFF, "N1"))["version"] == 2, "the same copy again wrote the notification again"


async def test_the_repair_writes_only_what_a_notification_lacks_and_a_second_one_writes_nothing(db):
    inboxes = Inboxes(db)
    behind, current = delivery("N1", 4, "sent"), delivery("N2", 3, "dead", last_error="HTTP 503")
    webhook = delivery("N1", 2, "sent", channel="webhook")
    legacy = delivery("N3", 2, "sent")
    await inboxes.add(STAFF, notification("N1", delivery("N1", 1, "pending"), webhook))
    await inboxes.add(STAFF, notification("N2", current))
    # Written before summaries carried the delivery's version.
    old = notification("N3")
    old["delivery"]["email"] = {"id": legacy["_id"], "status": "pending", "attempts": 0, "last_error": None}
    await inboxes.add(STAFF, old)
    contact = delivery("N4", 2, "sent", recipient_id=None)  # a partner contact's e-mail: no notification
    removed = delivery("N5", 2, "sent", recipient_id="R-GONE")  # its recipient and inbox are gone

    assert await inboxes.show([behind, current, webhook, legacy, contact, removed]) == 2
    notes = {n["_id"]: n for n in await inboxes.of(STAFF).find({}).to_list()}
    assert notes["N1"]["delivery"]["email"] == summary(behind)
    assert notes["N1"]["delivery"]["webhook"] == summary(webhook), "the other channel's state was touched"
    assert notes["N1"]["updated_at"].replace(tzinfo=UTC) == behind["updated_at"]
    assert notes["N3"]["delivery"]["email"] == summary(legacy)
    assert notes["N2"]["version"] == 1

    assert await inboxes.show([behind, current, webhook, legacy]) == 0
    again = {n["_id"]: n["version"] for n in await inboxes.of(STAFF).find({}).to_list()}
    assert again == {nid: n["version"] for nid, n in notes.items()}
    assert not await db.list_collection_names(filter={"name": "inbox_R-GONE"})


async def test_a_sent_delivery_moves_to_the_log_only_once_its_notification_shows_it(db):
    inboxes = Inboxes(db)
    deliveries = Deliveries(AggregateCollection(db["deliveries"]), db["delivery_log"])
    sent = delivery("N1", 4, "sent")
    await inboxes.add(STAFF, notification("N1", delivery("N1", 2, "sending")))
    await db["deliveries"].insert_one({**sent, OUTBOX: [], PENDING: False})

    async def store_away(docs: list[dict[str, Any]]) -> None:
        raise ConnectionError("the store went away")

    with pytest.raises(ConnectionError):
        await deliveries.archive([sent], show=store_away)
    assert await db["deliveries"].count_documents({}) == 1 and await db["delivery_log"].count_documents({}) == 0

    assert await deliveries.archive([sent], show=inboxes.show) == 1
    assert (await inboxes.get(STAFF, "N1"))["delivery"]["email"] == summary(sent)
    assert await db["deliveries"].count_documents({}) == 0
    assert (await db["delivery_log"].find_one({"_id": sent["_id"]}))["status"] == "sent"


async def test_a_delivery_moved_to_the_log_while_a_rerun_stores_it_again_stays_in_the_log(db, monkeypatch):
    """A rerun of a cause stores its deliveries unless the log has them; the scheduler moves a sent
    one there by an insert, then a delete from the working set. Moved between the rerun's look and
    its insert, the delivery was at work again: attempted again under a spent claim, it ended dead
    (and with the claim taken for free, went out twice)."""
    deliveries = Deliveries(AggregateCollection(db["deliveries"]), db["delivery_log"])
    sent = delivery("N1", 4, "sent")
    await db["deliveries"].insert_one({**sent, OUTBOX: [], PENDING: False})
    look = store.find_by_ids
    moved: list[str] = []

    async def shown(docs: list[dict[str, Any]]) -> int:
        return 0

    async def moved_meanwhile(collection, ids, projection=None):
        found = await look(collection, ids, projection)
        if collection.name == "delivery_log" and not moved:  # the rerun has looked: now the move
            moved.append(sent["_id"])
            assert await deliveries.archive([sent], show=shown) == 1
        return found

    monkeypatch.setattr(store, "find_by_ids", moved_meanwhile)
    assert await deliveries.add_new([delivery("N1", 1, "pending")], check_log=True) == set()
    assert moved and await db["deliveries"].count_documents({}) == 0, "the sent delivery is at work again"
    assert (await db["delivery_log"].find_one({"_id": sent["_id"]}))["status"] == "sent"


async def test_a_dead_email_whose_copy_onto_the_notification_was_lost_shows_dead_after_all(settings, smtp, monkeypatch):
    fast(monkeypatch)
    smtp.refuse.add("gone@kpu-bandung.go.id")
    lost: list[dict[str, Any]] = []
    set_delivery = Inboxes.set_delivery

    async def loses_the_dead_outcome(self, recipient_id, notification_id, channel, state, *args, **kwargs):
        if state["status"] == "dead" and not lost:
            lost.append(state)
            raise ConnectionError("the store went away between the delivery's write and its notification's")
        return await set_delivery(self, recipient_id, notification_id, channel, state, *args, **kwargs)

    monkeypatch.setattr(Inboxes, "set_delivery", loses_the_dead_outcome)
    async with running("notifications", settings.model_copy(update={"smtp_url": smtp.url})) as (app, client):
        await soon(lambda: subscribed(app))
        staff = await add_recipient(client, name="Gone", email="gone@kpu-bandung.go.id")
        await publish(settings, event(EventType.PARTNER_REGISTERED, partner("P-1")))

        async def shown() -> dict[str, Any] | None:
            notes = await inbox(client, staff["id"])
            return notes and notes[0]["delivery"]["email"]["status"] == "dead" and notes[0]["delivery"]["email"]
        email = await soon(shown)
        assert lost, "the dead outcome's own copy was not the one lost"
        found = (await client.get(f"/deliveries/{email['id']}", headers=auth("operator"))).json()
        assert email == {"id": found["id"], "status": "dead", "attempts": found["attempts"],
                         "last_error": found["last_error"], "version": found["version"]}
