"""The outbox on the real store and broker: stored changes publish their events, always."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest
from pymongo import AsyncMongoClient
from pymongo.errors import AutoReconnect, DuplicateKeyError

from shared.bus import EventPublisher
from shared.events import EventType, make_event
from shared.outbox import AggregateCollection, OutboxRelay, StaleVersion
from tests.bus import tap
from tests.conftest import eventually
from tests.store_commands import commands_of_every_task, commands_of_this_task


def _event(aggregate_id: str, version: int, name: str):
    now = datetime.now(UTC).isoformat()
    return make_event(EventType.PARTNER_UPDATED, region="32.73", service="partners", subject=aggregate_id,
                      version=version, data={"id": aggregate_id, "version": version, "name": name,
                                             "created_at": now, "updated_at": now})


async def test_a_stored_change_is_published_right_after_the_write(settings, mongo: AsyncMongoClient, broker):
    relay = OutboxRelay(EventPublisher(broker, settings), sweep_seconds=60)  # the sweep cannot be what delivers
    partners = relay.attach(AggregateCollection(mongo[settings.database_name("t")]["partners"]))
    await relay.start()
    try:
        async with tap(settings) as received:
            await partners.insert({"_id": "p1", "version": 1, "name": "KIM Sekarbela"}, [_event("p1", 1, "KIM Sekarbela")])
            await eventually(lambda: _async(len(received) == 1), timeout=2)
        event = received[0]
        assert event["subject"] == "p1" and event["aggregateversion"] == 1
        assert event["_amqp"]["routing_key"] == "3273.partner.updated"
        assert event["_amqp"]["delivery_mode"] == 2, "events must be persistent"
        assert event["_amqp"]["content_type"] == "application/cloudevents+json"
        stored = await eventually(lambda: partners.collection.find_one({"_id": "p1", "_pending": False}))
        assert stored["_outbox"] == []
    finally:
        await relay.stop()


async def test_events_left_by_a_crash_are_published_by_the_next_relay(settings, mongo, broker):
    collection = mongo[settings.database_name("t")]["partners"]
    # The state a crash leaves: the change and its events stored, nothing published.
    crashed = AggregateCollection(collection)
    await crashed.insert({"_id": "p2", "version": 1, "name": "A"}, [_event("p2", 1, "A")])
    await crashed.replace({"_id": "p2", "version": 2, "name": "B"}, 1, [_event("p2", 2, "B")],
                          pending=(await collection.find_one({"_id": "p2"}))["_outbox"])

    async with tap(settings) as received:
        relay = OutboxRelay(EventPublisher(broker, settings), sweep_seconds=0.2)
        relay.attach(AggregateCollection(collection))
        await relay.start()
        try:
            await eventually(lambda: _async(len(received) >= 2), timeout=3)
        finally:
            await relay.stop()
    assert [(e["subject"], e["aggregateversion"]) for e in received] == [("p2", 1), ("p2", 2)]
    assert (await collection.find_one({"_id": "p2"}))["_pending"] is False


async def test_many_new_aggregates_in_one_write_are_published_once_announced(settings, mongo, broker):
    relay = OutboxRelay(EventPublisher(broker, settings), sweep_seconds=60)  # the sweep cannot be what delivers
    partners = relay.attach(AggregateCollection(mongo[settings.database_name("t")]["partners"]))
    await relay.start()
    try:
        async with tap(settings) as received:
            await partners.insert_many(
                ({"_id": f"m{n}", "version": 1, "name": f"KIM {n}"}, [_event(f"m{n}", 1, f"KIM {n}")]) for n in range(3))
            stored = await partners.get("m1")
            assert stored["_pending"] is True and [e["type"] for e in stored["_outbox"]] == ["sinergi.partner.updated"]
            # Recorded, not yet published: the caller announces once its whole batch is in.
            assert await _still(lambda: len(received) == 0, seconds=0.5)
            partners.announce(["m0", "m1", "m2"])
            await eventually(lambda: _async(len(received) == 3), timeout=3)
        assert sorted(e["subject"] for e in received) == ["m0", "m1", "m2"]
        await eventually(lambda: partners.collection.find_one({"_id": "m2", "_pending": False}))
    finally:
        await relay.stop()


async def _still(condition, seconds: float) -> bool:
    """``condition`` holds throughout ``seconds`` (polled): what must not happen did not."""
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        if not condition():
            return False
        await asyncio.sleep(0.05)
    return True


async def test_a_write_on_a_stale_version_changes_nothing(settings, mongo):
    partners = AggregateCollection(mongo[settings.database_name("t")]["partners"])
    await partners.insert({"_id": "p3", "version": 1, "name": "A"}, [])
    await partners.replace({"_id": "p3", "version": 2, "name": "B"}, 1, [])
    with pytest.raises(StaleVersion):
        await partners.replace({"_id": "p3", "version": 2, "name": "C"}, 1, [_event("p3", 2, "C")])
    stored = await partners.get("p3")
    assert stored["name"] == "B" and stored["_outbox"] == []


async def _async(value):
    return value


async def test_published_events_are_kept_in_the_event_log_for_replays(settings, mongo, broker):
    from shared.outbox import EventLog

    db = mongo[settings.database_name("t")]
    log = EventLog(db["event_log"])
    relay = OutboxRelay(EventPublisher(broker, settings), sweep_seconds=60, log=log)
    partners = relay.attach(AggregateCollection(db["partners"]))
    await relay.start()
    try:
        before = datetime.now(UTC)
        event = _event("p4", 1, "A")
        await partners.insert({"_id": "p4", "version": 1, "name": "A"}, [event])
        logged = await eventually(lambda: log.between(before, datetime.now(UTC)), timeout=2)
    finally:
        await relay.stop()
    assert [e["_id"] for e in logged] == [event.id]
    assert logged[0]["routing_key"] == "3273.partner.updated"


async def test_a_write_does_not_wait_for_the_broker_to_confirm_the_previous_event(settings, mongo):
    published: list[tuple[str, int]] = []
    confirm = asyncio.Event()

    async def slow_broker(entry):
        await confirm.wait()  # the confirm of the first event is slow to come
        event = json.loads(entry["body"])
        published.append((event["subject"], event["aggregateversion"]))

    relay = OutboxRelay(slow_broker, sweep_seconds=60)
    partners = relay.attach(AggregateCollection(mongo[settings.database_name("t")]["partners"]))
    await relay.start()
    try:
        await partners.insert({"_id": "p9", "version": 1, "name": "A"}, [_event("p9", 1, "A")])
        await asyncio.sleep(0.2)  # the relay is now waiting on the broker for version 1

        async def write_version_2() -> None:  # as a handler writes: under the aggregate's lock
            async with partners.lock("p9"):
                doc = await partners.get("p9")
                await partners.replace({"_id": "p9", "version": 2, "name": "B"}, 1, [_event("p9", 2, "B")],
                                       pending=doc["_outbox"])

        await asyncio.wait_for(write_version_2(), timeout=5)
        assert published == []
        confirm.set()
        stored = await eventually(lambda: partners.collection.find_one({"_id": "p9", "_pending": False}))
    finally:
        confirm.set()
        await relay.stop()
    assert published == [("p9", 1), ("p9", 2)], "one aggregate's events leave in the order they were written"
    assert stored["_outbox"] == [] and stored["name"] == "B"


async def test_one_process_changes_what_it_wrote_without_reading_it_back_and_publishes_each_event_once(
        settings, mongo, broker):
    """With one process (no leases) a remembered collection loads the document it last wrote from
    memory: a change costs the store its write only. What it hands back is what the store holds, the
    relay's removal of published events included, so no event is published twice."""
    relay = OutboxRelay(EventPublisher(broker, settings), sweep_seconds=60)
    partners = relay.attach(AggregateCollection(mongo[settings.database_name("t")]["partners"], remember=True))
    await relay.start()
    try:
        async with tap(settings) as received:
            await partners.insert({"_id": "p7", "version": 1, "name": "A", "at": datetime.now(UTC)},
                                  [_event("p7", 1, "A")])
            with commands_of_this_task() as sent:  # the changes' own commands; the relay's run in its tasks
                for version in range(2, 6):
                    await eventually(lambda: _async(len(received) == version - 1), timeout=3)  # noqa: B023
                    async with partners.lock("p7"):
                        doc = await partners.get("p7")
                        assert doc["version"] == version - 1
                        await partners.replace({**_fields(doc), "version": version, "name": f"N{version}"},
                                               version - 1, [_event("p7", version, f"N{version}")],
                                               pending=doc["_outbox"], read_under_lock=True)
            await eventually(lambda: _async(len(received) == 5), timeout=3)
            await asyncio.sleep(0.3)  # nothing published twice arrives late
        assert sent[("find", "partners")] == 0, "a change read back what this process had just written"
        assert [e["aggregateversion"] for e in received] == [1, 2, 3, 4, 5]
        stored = await eventually(lambda: partners.collection.find_one({"_id": "p7", "_pending": False}))
        assert await partners.get("p7") == stored, "memory and the store differ (datetimes to the ms, in UTC)"
    finally:
        await relay.stop()


async def test_a_write_that_failed_leaves_the_next_load_to_read_the_store(settings, mongo):
    partners = AggregateCollection(mongo[settings.database_name("t")]["partners"], remember=True)
    await partners.insert({"_id": "p8", "version": 1, "name": "A"}, [])
    with commands_of_this_task() as sent:
        with pytest.raises(DuplicateKeyError):
            await partners.insert({"_id": "p8", "version": 1, "name": "B"}, [])
        assert (await partners.get("p8"))["name"] == "A"
    assert sent[("find", "partners")] == 1


def _fields(doc):
    return {k: v for k, v in doc.items() if k not in ("_outbox", "_pending")}


async def test_one_process_sweeps_only_at_start_while_nothing_failed(settings, mongo, broker):
    """A sweep reads every aggregate of the collection (on FerretDB a whole decode of each one):
    every ``sweep_seconds`` it held the store for tenths of a second once activities were many
    (the pipeline's slowest events, issue 15). With one process and nothing failed, every write was
    handed to the relay and published; after the sweep at start there is nothing to look for."""
    relay = OutboxRelay(EventPublisher(broker, settings), sweep_seconds=0.1)
    partners = relay.attach(AggregateCollection(mongo[settings.database_name("t")]["partners"]))
    await relay.start()
    try:
        async with tap(settings) as received:
            await partners.insert({"_id": "s1", "version": 1, "name": "A"}, [_event("s1", 1, "A")])
            await eventually(lambda: _async(len(received) == 1), timeout=3)
            await asyncio.sleep(0.3)
            with commands_of_every_task() as sent:
                await asyncio.sleep(0.6)  # six sweep periods
        assert sent[("find", "partners")] == 0, "the relay swept with nothing left over"
    finally:
        await relay.stop()


class _AnswerLost:
    """The collection, but an insert is applied and its answer lost (the connection cut)."""

    def __init__(self, collection) -> None:
        self._collection = collection

    def __getattr__(self, name):
        return getattr(self._collection, name)

    async def insert_one(self, document):
        await self._collection.insert_one(document)
        raise AutoReconnect("connection closed")


async def test_events_of_a_write_whose_answer_was_lost_are_swept(settings, mongo, broker):
    relay = OutboxRelay(EventPublisher(broker, settings), sweep_seconds=0.2)
    collection = mongo[settings.database_name("t")]["partners"]
    partners = relay.attach(AggregateCollection(_AnswerLost(collection)))
    await relay.start()
    try:
        async with tap(settings) as received:
            await asyncio.sleep(0.5)  # the sweep at start is done
            with pytest.raises(AutoReconnect):
                await partners.insert({"_id": "s2", "version": 1, "name": "A"}, [_event("s2", 1, "A")])
            await eventually(lambda: _async(len(received) == 1), timeout=3)
        assert received[0]["subject"] == "s2"
        await eventually(lambda: collection.find_one({"_id": "s2", "_pending": False}))
    finally:
        await relay.stop()
