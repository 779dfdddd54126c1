"""Two faults the steady stream (test_steady_stream.py) revealed, each reduced to its smallest case.

Both are bugs outside tests/faults; they are marked ``xfail(strict=True)`` until fixed, so the
suite stays green and says so the day they are (an unexpected pass fails the run: then drop
the marker, and the ``xfail`` on the stream's matching check).
"""

from __future__ import annotations

import asyncio
import secrets

import httpx
import pytest
from pymongo import AsyncMongoClient

from services.activities.replica import PartnerReplica
from shared.events import EventType
from tests.conftest import auth, eventually
from tests.notifications_support import event, partner, publish

pytestmark = pytest.mark.faults

REPLICA_RACE = (
    "services/activities/replica.py PartnerReplica.apply: the newer-version guard is a conditional "
    "replace_one({_id, version: {$lt: v}}), which FerretDB runs as a read then a write, and the consumer "
    "handles several messages of the queue at once; two events of one partner applied together both pass "
    "the guard and the older one can win. Serialise apply per partner inside the process (a lock per id, "
    "as AggregateCollection.lock and notifications' Snapshots.lock do) and re-check after the write."
)
STUCK_ON_STORE_ERROR = (
    "shared/consumer.py EventQueue.deliver: ProcessedEvents.seen() (and .record()) run outside the "
    "try/except, so a store error there (ServerSelectionTimeoutError during an outage) escapes deliver(); "
    "with AckPolicy.MANUAL nothing acks, nacks or retries the message, and it stays unacknowledged on the "
    "channel until the process restarts. Treat those errors like a handler failure (retry ladder), or nack "
    "with requeue in a catch-all."
)


@pytest.mark.xfail(strict=True, reason=REPLICA_RACE)
async def test_partner_events_applied_at_the_same_time_leave_the_replica_at_the_newest_version(private_store):
    client: AsyncMongoClient = AsyncMongoClient(private_store.url, tz_aware=True)
    try:
        replica = PartnerReplica(client[f"race{secrets.token_hex(4)}_activities"]["partner_replica"])
        for n in range(20):
            snapshot = {"name": f"Komunitas {n}", "status": "active"}
            await replica.apply(f"P{n}", 1, snapshot)
            # After an outage the relay publishes a partner's backlog in one burst, and the
            # consumer takes the burst concurrently (prefetch): versions 2..5 at once.
            await asyncio.gather(*(replica.apply(f"P{n}", v, snapshot) for v in (5, 4, 3, 2)))
        versions = {n: (await replica.get(f"P{n}")).version for n in range(20)}
    finally:
        await client.close()
    assert set(versions.values()) == {5}, f"replica versions after applying 1..5: {versions}"


@pytest.mark.xfail(strict=True, reason=STUCK_ON_STORE_ERROR)
async def test_an_event_taken_from_the_queue_while_the_store_is_down_is_processed_once_it_is_back(
    processes, settings, private_rabbit, private_store
):
    # A ladder longer than the outage: with the bug fixed the event is retried, never parked.
    activities = processes("activities", SINERGI_RETRY_DELAYS="5,10,30")
    await asyncio.to_thread(private_store.stop)
    try:
        await publish(settings, event(EventType.PARTNER_REGISTERED, partner("P-OUTAGE", "KIM Antapani")))
        await asyncio.sleep(5.0)  # hold the outage: the consumer takes the event and fails to reach the store (3 s)
    finally:
        await asyncio.to_thread(private_store.start)

    async def known() -> bool:
        async with httpx.AsyncClient(timeout=5) as client:
            response = await client.get(f"{activities.url}/replica/partners/P-OUTAGE", headers=auth("viewer"))
            return response.status_code == 200

    try:
        await eventually(known, timeout=20, interval=0.5)
    except AssertionError:
        queue = settings.queue_name("activities", "partner-replica")
        ready, unacked = (await asyncio.to_thread(private_rabbit.queues)).get(queue, (0, 0))
        raise AssertionError(f"the event never reached the replica; {queue} holds {ready} ready and {unacked} "
                             "unacknowledged message(s)") from None
