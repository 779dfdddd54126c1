"""Two processes of the notifications service writing one inbox notification on the embedded store.

FerretDB runs an update as a read then a write, so when two processes update one notification at
once, the later write can put back what the earlier one changed: a delivery's status copied onto
the notification by one process (the e-mail ``sent``) undone by another's write of the same
notification (marking it read, or another channel's copy), and the notification shows ``pending``
for good (issue 15; seen in the two-processes steady-stream fault test). Each "process" here is a
client and an :class:`Inboxes` of its own (its own in-process locks), as ``SINERGI_PROCESSES=2`` runs
them; with the write leases that setting turns on, every write to a notification is kept."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from pymongo import AsyncMongoClient

from services.notifications.store import Inboxes
from shared.outbox import WriteLeases

T0 = datetime(2030, 11, 6, 2, 0, tzinfo=UTC)
N = 30


def _note(nid: str) -> dict:
    return {"_id": nid, "recipient_id": "R1", "read_at": None, "version": 1, "updated_at": T0,
            "delivery": {"inbox": {"status": "sent", "attempts": 1, "last_error": None},
                         "email": {"id": f"{nid}-email", "status": "pending", "attempts": 0, "last_error": None,
                                   "version": 1},
                         "webhook": {"id": f"{nid}-webhook", "status": "pending", "attempts": 0,
                                     "last_error": None, "version": 1}}}


def _sent(nid: str, channel: str) -> dict:
    return {"id": f"{nid}-{channel}", "status": "sent", "attempts": 1, "last_error": None, "version": 3}


async def test_a_delivery_status_and_a_mark_read_from_two_processes_are_both_kept(settings, servers):
    clients = [AsyncMongoClient(servers.mongodb_url, tz_aware=True) for _ in range(2)]
    try:
        dbs = [client[settings.database_name("notifications")] for client in clients]
        first, second = (Inboxes(db, leases=WriteLeases(db["write_leases"])) for db in dbs)
        ids = [f"N{n:03d}" for n in range(N)]
        await first.of("R1").insert_many([_note(nid) for nid in ids])
        at = T0 + timedelta(minutes=1)
        # One process copies the e-mail's outcome (a single channel: not read back), the other the
        # webhook's, while the recipient marks the notification read through the other's API.
        await asyncio.gather(*(write for nid in ids for write in (
            first.set_delivery("R1", nid, "email", _sent(nid, "email"), at, verify=False),
            second.set_delivery("R1", nid, "webhook", _sent(nid, "webhook"), at, verify=False),
            second.mark_read("R1", nid, at))))
        stored = {doc["_id"]: doc for doc in await first.of("R1").find({}).to_list()}
        lost = {nid: (doc["delivery"]["email"]["status"], doc["delivery"]["webhook"]["status"], doc["read_at"])
                for nid, doc in stored.items()
                if doc["delivery"]["email"]["status"] != "sent" or doc["delivery"]["webhook"]["status"] != "sent"
                or doc["read_at"] is None}
        assert not lost, f"writes lost between the processes (e-mail, webhook, read at): {dict(list(lost.items())[:5])}"
        assert await dbs[0]["write_leases"].count_documents({}) == 0, "every lease was let go"
    finally:
        for client in clients:
            await client.close()
