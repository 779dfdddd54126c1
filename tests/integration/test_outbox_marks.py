"""Published events leave the outbox with the aggregate's next write, on the real store and broker.

Removing what the relay published was a write of its own per event: on FerretDB a read and a
rewrite of the aggregate, one of the eight store commands a scheduled activity cost (issue 15).
With one process remembering its aggregates it now rides on the aggregate's next write; what the
event log holds is not published again, after a crash either.
"""

from __future__ import annotations

import asyncio

import pytest

from shared.bus import EventPublisher
from shared.outbox import AggregateCollection, EventLog, OutboxRelay
from tests.bus import tap
from tests.conftest import eventually
from tests.integration.test_outbox import _async, _event, _fields
from tests.store_commands import commands_of_every_task


def _relay(settings, broker, mongo, sweep_seconds: float = 60.0) -> tuple[OutboxRelay, AggregateCollection]:
    db = mongo[settings.database_name("t")]
    relay = OutboxRelay(EventPublisher(broker, settings), sweep_seconds=sweep_seconds, log=EventLog(db["event_log"]))
    return relay, relay.attach(AggregateCollection(db["partners"], remember=True))


async def _change(partners: AggregateCollection, aggregate_id: str, version: int) -> None:
    async with partners.lock(aggregate_id):
        doc = await partners.get(aggregate_id)
        await partners.replace({**_fields(doc), "version": version, "name": f"N{version}"}, version - 1,
                               [_event(aggregate_id, version, f"N{version}")], pending=doc["_outbox"],
                               read_under_lock=True)


async def test_each_change_is_one_write_and_its_published_event_leaves_with_the_next(settings, mongo, broker):
    relay, partners = _relay(settings, broker, mongo)
    await relay.start()
    try:
        async with tap(settings) as received:
            with commands_of_every_task() as sent:
                await partners.insert({"_id": "d1", "version": 1, "name": "A"}, [_event("d1", 1, "A")])
                for version in range(2, 6):
                    await eventually(lambda: _async(len(received) == version - 1), timeout=3)  # noqa: B023
                    await _change(partners, "d1", version)
                await eventually(lambda: _async(len(received) == 5), timeout=3)
                await asyncio.sleep(0.3)  # nothing published twice arrives late
        assert [e["aggregateversion"] for e in received] == [1, 2, 3, 4, 5]
        assert sent[("update", "partners")] == 4, f"a write of its own removed each published event: {dict(sent)}"
        stored = await partners.collection.find_one({"_id": "d1"})
        assert [e["id"] for e in stored["_outbox"]] == [received[-1]["id"]], "only the last waits for a next write"
        assert (await partners.get("d1"))["_outbox"] == [], "a caller would write a published event back"
    finally:
        await relay.stop()
    stored = await partners.collection.find_one({"_id": "d1"})
    assert stored["_outbox"] == [] and stored["_pending"] is False, "a stop leaves published events in the store"


async def test_a_sweep_after_a_crash_publishes_only_what_the_event_log_does_not_hold(settings, mongo, broker):
    db = mongo[settings.database_name("t")]
    # What a crash leaves: version 1's event published and logged, still listed; version 2's not published.
    crashed = AggregateCollection(db["partners"])
    first, second = _event("d2", 1, "A"), _event("d2", 2, "B")
    await crashed.insert({"_id": "d2", "version": 1, "name": "A"}, [first])
    await crashed.replace({"_id": "d2", "version": 2, "name": "B"}, 1, [second],
                          pending=(await db["partners"].find_one({"_id": "d2"}))["_outbox"])
    await EventLog(db["event_log"]).record((await db["partners"].find_one({"_id": "d2"}))["_outbox"][:1])

    async with tap(settings) as received:
        relay, _ = _relay(settings, broker, mongo, sweep_seconds=0.2)
        await relay.start()
        try:
            await eventually(lambda: _async(len(received) >= 1), timeout=3)
            await asyncio.sleep(0.5)  # a second publish of version 1 would be in by now
        finally:
            await relay.stop()
    assert [e["id"] for e in received] == [second.id], "an event the log holds was published again"
    stored = await db["partners"].find_one({"_id": "d2"})
    assert stored["_outbox"] == [] and stored["_pending"] is False


async def test_past_the_bound_the_longest_waiting_are_removed_from_the_store(settings, mongo, broker, monkeypatch):
    monkeypatch.setattr(AggregateCollection, "WAITING_MOST", 2)
    relay, partners = _relay(settings, broker, mongo, sweep_seconds=0.1)
    await relay.start()
    try:
        async with tap(settings) as received:
            for n in range(4):
                await partners.insert({"_id": f"b{n}", "version": 1, "name": f"B{n}"}, [_event(f"b{n}", 1, f"B{n}")])
                await eventually(lambda: _async(len(received) == n + 1), timeout=3)  # noqa: B023 - in order

            async def emptied(aggregate_id: str) -> bool:
                return (await partners.collection.find_one({"_id": aggregate_id}))["_outbox"] == []

            await eventually(lambda: emptied("b1"), timeout=3)
            assert await emptied("b0")
            assert sorted(partners.unmarked) == ["b2", "b3"], "the most recent wait for their next write"
            assert not await emptied("b3")
    finally:
        await relay.stop()
