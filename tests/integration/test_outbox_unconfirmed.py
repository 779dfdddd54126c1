"""A publish the broker does not confirm stays in the outbox and is sent again (issue 15 point 4).

RabbitMQ nacks a publish when a queue it is routed to refuses it: a quorum queue whose leader was
just lost, or here, deterministically, a full queue that rejects new messages
(``x-overflow: reject-publish``, ``x-max-length: 0``; a classic one: a quorum queue lets one more in)."""

from __future__ import annotations

import aio_pika

from shared.bus import EventPublisher
from shared.outbox import AggregateCollection, OutboxRelay
from tests.bus import tap
from tests.conftest import eventually
from tests.integration.test_outbox import _event


async def _true(value: bool) -> bool:
    return value


async def test_a_nacked_publish_stays_in_the_outbox_and_is_sent_again(settings, mongo, broker):
    connection = await aio_pika.connect(settings.rabbitmq_url)
    async with connection, tap(settings) as received:
        channel = await connection.channel()
        full = await channel.declare_queue(f"{settings.bus_prefix}full", durable=True, arguments={
            "x-queue-type": "classic", "x-max-length": 0, "x-overflow": "reject-publish"})
        await full.bind(settings.exchange_name, routing_key="#")
        relay = OutboxRelay(EventPublisher(broker, settings), sweep_seconds=0.3)
        partners = relay.attach(AggregateCollection(mongo[settings.database_name("t")]["partners"]))
        await relay.start()
        try:
            await partners.insert({"_id": "p1", "version": 1, "name": "KIM Sekarbela"},
                                  [_event("p1", 1, "KIM Sekarbela")])
            # Nacked, so not taken out of the outbox: sent again at each sweep.
            await eventually(lambda: _true(len(received) >= 2), timeout=10)
            assert (await partners.get("p1"))["_pending"] is True
            assert relay.published == 0, "a nacked publish is not counted as published"

            await full.delete(if_unused=False, if_empty=False)
            stored = await eventually(lambda: partners.collection.find_one({"_id": "p1", "_pending": False}),
                                      timeout=10)
            assert stored["_outbox"] == []
            assert relay.published == 1
        finally:
            await relay.stop()
    assert {(e["subject"], e["aggregateversion"]) for e in received} == {("p1", 1)}
