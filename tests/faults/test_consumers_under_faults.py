"""Two faults the steady stream (test_steady_stream.py) found in the consumers, each as its smallest case.

Both were bugs in ``shared/consumer.py`` (fixed in 2600b46); these keep them fixed.

- A burst of one partner's events (the relay publishes a partner's backlog at once after an
  outage) was handled concurrently, and on FerretDB the replica's "newer version only" guard is
  a read then a write: an older version could overwrite a newer one. Now one aggregate's
  events are handled one at a time in a process.
- An event taken from the queue while the store was down failed in the dedupe lookup, outside
  the handler's error handling: with manual acks nothing acked, retried or nacked it, and it
  sat unacknowledged until the process restarted. Now it is retried until the store is back.
"""

from __future__ import annotations

import asyncio

import pytest

from shared.events import EventType
from tests.conftest import auth, eventually, running
from tests.notifications_support import event, partner, publish

pytestmark = pytest.mark.faults


async def test_a_burst_of_one_partners_events_leaves_the_replica_at_the_newest_version(settings):
    async with running("activities", settings) as (app, client):
        await eventually(lambda: app.state.infra.broker_ready(), timeout=30)
        ids = [f"P-BURST-{n}" for n in range(40)]
        # Each partner's versions back to back, newest first after the first, as a consumer
        # with prefetch takes them: all in flight at once.
        burst = [event(EventType.PARTNER_REGISTERED if v == 1 else EventType.PARTNER_UPDATED,
                       partner(pid, f"Komunitas {pid}", notes=f"v{v}"), version=v)
                 for pid in ids for v in (1, 5, 4, 3, 2)]
        await publish(settings, *burst)

        async def replica() -> dict[str, int]:
            response = await client.get("/replica/partners", params={"limit": 500}, headers=auth("viewer"))
            return {p["id"]: p["version"] for p in response.json()["items"]}

        await eventually(lambda: _all_known(replica, ids), timeout=30, interval=0.5)
        await eventually(lambda: _consumed(app, len(burst)), timeout=30, interval=0.2)
        assert await replica() == {pid: 5 for pid in ids}


async def _all_known(replica, ids) -> bool:
    return set(await replica()) >= set(ids)


async def _consumed(app, count: int) -> bool:
    (queue,) = [q for q in app.state.infra.queues if q.name.endswith(".partner-replica")]
    return sum(queue.stats.values()) - queue.stats["retried"] >= count


async def test_an_event_taken_from_the_queue_while_the_store_is_down_is_processed_once_it_is_back(
    settings, private_rabbit, private_store
):
    # A ladder longer than the outage: the event is retried, never parked.
    patient = settings.model_copy(update={"retry_delays": [5.0, 10.0, 30.0]})
    async with running("activities", patient) as (app, client):
        await eventually(lambda: app.state.infra.broker_ready(), timeout=30)
        await asyncio.to_thread(private_store.stop)
        try:
            await publish(settings, event(EventType.PARTNER_REGISTERED, partner("P-OUTAGE", "KIM Antapani")))
            await asyncio.sleep(5.0)  # hold the outage: the consumer takes the event and fails to reach the store (3 s)
        finally:
            await asyncio.to_thread(private_store.start)

        async def known() -> bool:
            response = await client.get("/replica/partners/P-OUTAGE", headers=auth("viewer"))
            return response.status_code == 200

        try:
            await eventually(known, timeout=30, interval=0.5)
        except AssertionError:
            queue = settings.queue_name("activities", "partner-replica")
            ready, unacked = (await asyncio.to_thread(private_rabbit.queues)).get(queue, (0, 0))
            raise AssertionError(f"the event never reached the replica; {queue} holds {ready} ready and {unacked} "
                                 "unacknowledged message(s)") from None
