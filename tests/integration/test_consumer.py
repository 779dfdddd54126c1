"""Consuming on the real broker: failures retried then parked, duplicates without effect."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import aio_pika
import pytest
from pymongo.errors import OperationFailure

from shared.bus import declare_exchanges, make_broker
from shared.consumer import H_ATTEMPT, H_ERROR, H_ERROR_TYPE, EventQueue, ProcessedEvents, idempotent
from shared.events import AnyEvent, EventType, make_event
from shared.settings import Settings
from tests.conftest import eventually
from tests.store_commands import commands_of_every_task


def _event(subject: str, version: int = 1):
    now = datetime.now(UTC).isoformat()
    return make_event(EventType.PARTNER_REGISTERED, region="32.73", service="partners", subject=subject,
                      version=version, data={"id": subject, "name": subject, "created_at": now, "updated_at": now})


async def _publish(settings: Settings, body: bytes, routing_key: str = "3273.partner.registered") -> None:
    connection = await aio_pika.connect_robust(settings.rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange(settings.exchange_name)
        await exchange.publish(aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                               routing_key=routing_key)


async def _dlq(settings: Settings, queue: EventQueue) -> list[aio_pika.abc.AbstractIncomingMessage]:
    connection = await aio_pika.connect_robust(settings.rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        dlq = await channel.get_queue(queue.dlq_name)
        found = []
        while (message := await dlq.get(fail=False)) is not None:
            found.append(message)
            await message.ack()
        return found


@pytest.fixture
async def consumer(settings: Settings, mongo):
    """A queue of a pretend service, with a handler the test controls."""
    broker = make_broker(settings, "test")
    queue = EventQueue.of(settings, "test", "partner-events", ["partner.*"])
    queue.processed = ProcessedEvents(mongo[settings.database_name("test")])
    seen: list[str] = []
    failing: set[str] = set()

    async def handle(event: AnyEvent) -> None:
        seen.append(event.subject)
        if event.subject in failing:
            raise RuntimeError(f"cannot handle {event.subject}")

    await _subscribe(broker, settings, queue, handle)
    await broker.start()
    yield queue, seen, failing
    await broker.stop()


async def _subscribe(broker, settings: Settings, queue: EventQueue, handle) -> None:
    """Subscribe ``handle`` to ``queue`` and declare what it needs, as ``shared.runtime`` does."""
    queue.subscribe(broker, handle)
    await broker.connect()
    await declare_exchanges(broker, settings)
    await queue.open(broker)


async def test_a_message_that_always_fails_is_parked_with_its_error_and_the_queue_flows_on(settings, consumer):
    queue, seen, failing = consumer
    failing.add("bad")
    await _publish(settings, _event("bad").to_wire())
    await _publish(settings, _event("good").to_wire())

    await eventually(lambda: _async("good" in seen), timeout=3)
    # 1 attempt + one per retry delay (0.2 s, 0.4 s), then parked.
    await eventually(lambda: _async(seen.count("bad") == 1 + len(settings.retry_delays)), timeout=5)
    parked = await eventually(lambda: _dlq(settings, queue), timeout=5)
    assert len(parked) == 1
    headers = parked[0].headers
    assert AnyEvent.model_validate_json(parked[0].body).subject == "bad"
    assert headers[H_ERROR] == "cannot handle bad"
    assert headers[H_ERROR_TYPE] == "RuntimeError"
    assert headers[H_ATTEMPT] == 1 + len(settings.retry_delays)
    assert seen.count("good") == 1


async def test_a_redelivered_event_has_no_second_effect(settings, consumer):
    _, seen, _ = consumer
    event = _event("once")
    await _publish(settings, event.to_wire())
    await _publish(settings, event.to_wire())
    await _publish(settings, _event("after").to_wire())
    await eventually(lambda: _async("after" in seen), timeout=3)
    assert seen.count("once") == 1


async def test_a_message_that_is_not_an_event_is_parked_at_once(settings, consumer):
    queue, seen, _ = consumer
    await _publish(settings, b'{"not": "a cloudevent"')
    await _publish(settings, _event("next").to_wire())
    await eventually(lambda: _async("next" in seen), timeout=3)
    parked = await eventually(lambda: _dlq(settings, queue), timeout=3)
    assert parked[0].body == b'{"not": "a cloudevent"'
    assert parked[0].headers[H_ERROR_TYPE] == "PoisonMessage"
    assert parked[0].headers[H_ATTEMPT] == 1


async def _async(value):
    return value


async def test_a_message_reaches_its_handler_without_a_hop_to_a_worker_thread(settings, consumer, monkeypatch):
    """FastDepends found the message for the handler through a sync resolver, which it ran in a
    worker thread: a handoff to a thread and back for every message, ~12 % of the notifications
    process's samples under the pipeline (issue 15). Counted at AnyIO's door to its threads."""
    import anyio.to_thread

    hops: list[object] = []
    run_sync = anyio.to_thread.run_sync

    async def counted(func, *args, **kwargs):
        hops.append(func)
        return await run_sync(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
    _, seen, _ = consumer
    await _publish(settings, _event("no-thread").to_wire())
    await eventually(lambda: _async("no-thread" in seen), timeout=3)
    assert hops == [], f"handed to a worker thread: {hops}"


async def test_one_aggregates_events_are_handled_in_the_order_the_queue_holds_them(settings: Settings):
    """aio-pika hands each delivery to a task of its own, and they reach the handler a few places
    out of order; a read model that ignores older versions would then drop events."""
    versions = 1500
    queue = EventQueue.of(settings.model_copy(update={"prefetch": 64}), "test", "in-order", ["partner.*"])
    handled: list[int] = []

    async def handle(event: AnyEvent) -> None:
        handled.append(event.aggregateversion)
        await asyncio.sleep(0)  # the handler's own awaits let the next deliveries run

    broker = make_broker(settings, "test")
    await _subscribe(broker, settings, queue, handle)
    # The whole backlog is queued first, so the consumer starts with a full prefetch window.
    connection = await aio_pika.connect_robust(settings.rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange(settings.exchange_name)
        for version in range(1, versions + 1):
            await exchange.publish(aio_pika.Message(_event("p-ordered", version).to_wire()),
                                   routing_key="3273.partner.updated")
    await broker.start()
    try:
        await eventually(lambda: _async(len(handled) == versions), timeout=60)
    finally:
        await broker.stop()
    out_of_order = [(a, b) for a, b in zip(handled, handled[1:]) if b < a]
    assert not out_of_order, f"{len(out_of_order)} versions handled after a later one, e.g. {out_of_order[:5]}"


async def test_a_write_the_store_refused_as_busy_is_tried_again_in_place_before_the_next_event(settings, mongo):
    """FerretDB on SQLite refuses a write when writers collide; sent round the retry ladder the event
    would be overtaken by the aggregate's next one, which a read model would then keep."""
    queue = EventQueue.of(settings, "test", "busy", ["partner.*"])
    queue.processed = ProcessedEvents(mongo[settings.database_name("test")])
    handled: list[int] = []
    refusals = {1: 2}  # version 1 is refused twice

    async def handle(event: AnyEvent) -> None:
        if refusals.get(event.aggregateversion):
            refusals[event.aggregateversion] -= 1
            raise OperationFailure("database is locked (5) (SQLITE_BUSY)", code=1)
        handled.append(event.aggregateversion)

    broker = make_broker(settings, "test")
    await _subscribe(broker, settings, queue, handle)
    await broker.start()
    try:
        await _publish(settings, _event("p-busy", 1).to_wire())
        await _publish(settings, _event("p-busy", 2).to_wire())
        await eventually(lambda: _async(len(handled) == 2), timeout=10)
    finally:
        await broker.stop()
    assert handled == [1, 2], "the refused write went round the retry ladder and was overtaken"


async def test_a_write_cut_off_by_the_store_stopping_is_tried_again_in_place_before_the_next_event(settings, mongo):
    """A stopping FerretDB cancels the statements in flight ("context canceled"); sent round the retry
    ladder, an activity's scheduled event was overtaken by its cancellation and its notification lost."""
    queue = EventQueue.of(settings, "test", "stopping", ["partner.*"])
    queue.processed = ProcessedEvents(mongo[settings.database_name("test")])
    handled: list[int] = []
    cut = {1: 1}

    async def handle(event: AnyEvent) -> None:
        if cut.get(event.aggregateversion):
            cut[event.aggregateversion] -= 1
            raise OperationFailure("[msg_insert.go:168 handler.(*Handler).MsgInsert] [db.go:134 "
                                   "fsql.(*DB).InTransaction] context canceled", code=1)
        handled.append(event.aggregateversion)

    broker = make_broker(settings, "test")
    await _subscribe(broker, settings, queue, handle)
    await broker.start()
    try:
        await _publish(settings, _event("p-stop", 1).to_wire())
        await _publish(settings, _event("p-stop", 2).to_wire())
        await eventually(lambda: _async(len(handled) == 2), timeout=10)
    finally:
        await broker.stop()
    assert handled == [1, 2], "the cut-off write went round the retry ladder and was overtaken"


@pytest.mark.parametrize("attempt", ["many", -10, True, 2.5])
async def test_a_message_with_a_retry_header_not_of_ours_is_parked_and_holds_up_nothing(settings, consumer, attempt):
    """Only our retries write the attempt header, always a whole number from 0; -10 used to index the
    ladder from its end and leave the message unacknowledged, holding up the queue behind it."""
    queue, seen, failing = consumer
    failing.add("odd-header")  # were it handled, it would go round the ladder with that attempt
    connection = await aio_pika.connect_robust(settings.rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange(settings.exchange_name)
        await exchange.publish(aio_pika.Message(_event("odd-header").to_wire(), headers={H_ATTEMPT: attempt}),
                               routing_key="3273.partner.registered")
    await _publish(settings, _event("after-odd").to_wire())
    await eventually(lambda: _async("after-odd" in seen), timeout=2)
    parked = await eventually(lambda: _dlq(settings, queue), timeout=3)
    assert [AnyEvent.model_validate_json(m.body).subject for m in parked] == ["odd-header"]
    assert H_ATTEMPT in parked[0].headers[H_ERROR] and parked[0].headers[H_ERROR_TYPE] == "PoisonMessage"
    assert "odd-header" not in seen, "a message with a retry header not of ours was handled"


async def test_a_queue_is_consumed_at_its_own_prefetch(settings: Settings):
    """Each queue is consumed on the channel declared for it, so it holds its own prefetch of
    messages, not the broker's default channel's (32)."""
    queue = EventQueue.of(settings.model_copy(update={"prefetch": 5}), "test", "prefetch", ["partner.*"])
    started: list[str] = []
    release = asyncio.Event()

    async def handle(event: AnyEvent) -> None:
        started.append(event.subject)
        await release.wait()

    broker = make_broker(settings, "test")
    await _subscribe(broker, settings, queue, handle)
    for n in range(12):
        await _publish(settings, _event(f"p-{n}").to_wire())
    await broker.start()
    try:
        connection = await aio_pika.connect_robust(settings.rabbitmq_url)
        async with connection:
            channel = await connection.channel()

            async def five_held_seven_waiting() -> bool:
                ready = (await channel.declare_queue(queue.name, passive=True)).declaration_result.message_count
                return len(started) == 5 and ready == 7

            await eventually(five_held_seven_waiting, timeout=5)
        release.set()
        await eventually(lambda: _async(len(started) == 12), timeout=5)
    finally:
        release.set()
        await broker.stop()


async def test_two_queues_of_one_service_each_handle_their_events_without_waiting(settings: Settings):
    """On one shared channel each queue's delivery tags had gaps (the other queue's), and every
    message waited out the ordering's patience (10 s) for a tag that was never its own."""
    broker = make_broker(settings, "test")
    handled: dict[str, list[str]] = {"replica": [], "rules": []}
    for purpose in handled:
        queue = EventQueue.of(settings, "test", purpose, ["partner.*"])

        async def handle(event: AnyEvent, seen: list[str] = handled[purpose]) -> None:
            seen.append(event.subject)

        queue.subscribe(broker, handle)
        if purpose == "replica":
            await broker.connect()
            await declare_exchanges(broker, settings)
        await queue.open(broker)
    await broker.start()
    try:
        subjects = [f"p-two-{n}" for n in range(6)]
        for subject in subjects:
            await _publish(settings, _event(subject).to_wire())
        await eventually(lambda: _async(all(seen == subjects for seen in handled.values())), timeout=3)
    finally:
        await broker.stop()


async def test_an_event_handled_in_one_shard_is_known_as_processed_in_another(settings, mongo):
    """``sinergi broker migrate`` re-hashes waiting messages when K changes: an event handled just
    before, whose acknowledgement was lost, comes back in another shard and must not be handled again."""
    from shared.shards import ShardedQueue

    sharded = ShardedQueue.of(settings.model_copy(update={"shards": 2}),
                              EventQueue.of(settings, "test", "ledger", ["partner.*"]))
    sharded.processed = ProcessedEvents(mongo[settings.database_name("test")])
    handled: list[str] = []

    async def handle(event: AnyEvent) -> None:
        handled.append(event.id)

    event = _event("p-moved", 1)
    first, second = sharded.shards
    await first._handle(event, handle, maybe_seen=True)
    await second._handle(event, handle, maybe_seen=True)  # redelivered, now hashed to the other shard
    assert handled == [event.id]
    assert second.stats["duplicates"] == 1


async def test_events_a_few_ms_apart_are_recorded_processed_in_shared_writes_and_each_acked(settings, mongo):
    """Each event an idempotent handler handled was recorded by an insert of its own when events came
    a few ms apart (a staff member's requests, a paced stream): a store round trip per event and
    consumer (issue 15). Recorded after its turn, it waits for others to share the write; every event
    is still recorded, and acked only once it is."""
    queue = EventQueue.of(settings, "test", "linger", ["partner.*"])
    queue.processed = ProcessedEvents(mongo[settings.database_name("test")])
    handled: list[str] = []

    @idempotent
    async def handle(event: AnyEvent) -> None:
        handled.append(event.id)

    async def ready_in_queue() -> int:
        connection = await aio_pika.connect_robust(settings.rabbitmq_url)
        async with connection:
            return (await (await connection.channel()).declare_queue(queue.name, passive=True)
                    ).declaration_result.message_count

    async def all_recorded() -> bool:
        recorded = await mongo[settings.database_name("test")]["processed_events"].count_documents(
            {"_id": {"$in": [f"{queue.name}:{e.id}" for e in events]}})
        return recorded == len(events)

    broker = make_broker(settings, "test")
    await _subscribe(broker, settings, queue, handle)
    await broker.start()
    events = [_event(f"p-linger-{n}") for n in range(12)]
    try:
        with commands_of_every_task() as commands:
            connection = await aio_pika.connect_robust(settings.rabbitmq_url)
            async with connection:
                exchange = await (await connection.channel()).get_exchange(settings.exchange_name)
                for event in events:
                    await exchange.publish(aio_pika.Message(event.to_wire()), routing_key="3273.partner.registered")
                    await asyncio.sleep(0.01)
            await eventually(all_recorded, timeout=10)
            await asyncio.sleep(0.2)  # the acks follow the records
            await broker.stop()  # a message not acked goes back to the queue now
    finally:
        await broker.stop()
    assert await ready_in_queue() == 0, "a message was not acked"
    assert handled == [e.id for e in events]
    writes = commands[("insert", "processed_events")]
    assert writes <= len(events) // 2, f"{len(events)} events 10 ms apart took {writes} writes of their records"
