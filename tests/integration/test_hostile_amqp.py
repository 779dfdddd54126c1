"""Hostile AMQP messages on every consumer queue: malformed, wrongly typed, oversized → parked in
``<queue>.dlq`` at once, nothing stored, and the consumer keeps going (a good event after them is
processed)."""

from __future__ import annotations

import json

import aio_pika
import pytest

from tests.conftest import eventually, running
from tests.notifications_support import event, partner, publish, subscribed
from shared.events import EventType

SERVICES_WITH_QUEUES = ["activities", "notifications"]  # partners consumes nothing


def _valid_shape() -> dict:
    return json.loads(event(EventType.PARTNER_REGISTERED, partner("p-shape")).to_wire())


def malformed_bodies() -> dict[str, bytes]:
    shaped = _valid_shape()
    wrong_types = {**shaped, "id": "01HOSTILE0000000000000001", "specversion": 1, "source": ["x"], "time": "yesterday"}
    no_data = {k: v for k, v in shaped.items() if k != "data"} | {"id": "01HOSTILE0000000000000004"}
    return {
        "empty": b"",
        "not JSON": b"nama=KIM Sekarbela",
        "invalid UTF-8": b'{"specversion": "1.0", "id": "\xff\xfe"}',
        "JSON null": b"null",
        "JSON list": b"[1, 2, 3]",
        "JSON but not a CloudEvent": b'{"hello": "world"}',
        "wrong types": json.dumps(wrong_types).encode(),
        "no data": json.dumps(no_data).encode(),
        "deeply nested": b"[" * 50_000 + b"]" * 50_000,
        "oversized garbage (5 MiB)": b'{"specversion": "' + b"x" * (5 << 20) + b'"}',
    }


def wrongly_shaped_data() -> dict[str, bytes]:
    shaped = _valid_shape()
    wrong = {**shaped, "id": "01HOSTILE0000000000000002", "data": {"id": 5, "name": {"$gt": ""}, "status": ["active"]}}
    return {"data of the wrong shape, with a $ key": json.dumps(wrong).encode()}


def oversized_event() -> dict[str, bytes]:
    shaped = _valid_shape()
    big = {**shaped, "id": "01HOSTILE0000000000000005", "data": {**shaped["data"], "name": "x" * (5 << 20)}}
    return {"well-formed event of 5 MiB": json.dumps(big).encode()}


async def _depth(channel: aio_pika.abc.AbstractChannel, name: str) -> int:
    return (await channel.declare_queue(name, passive=True)).declaration_result.message_count


async def _counts(db) -> dict[str, int]:  # noqa: ANN001
    names = sorted(n for n in await db.list_collection_names() if not n.startswith("system."))
    return {name: await db[name].count_documents({}) for name in names}


async def _hostile(service: str, settings, bodies: dict[str, bytes], timeout: float = 60.0) -> None:  # noqa: ANN001
    async with running(service, settings) as (app, _client):
        await eventually(lambda: subscribed(app), timeout=30.0)
        queues = app.state.infra.queues
        assert queues, f"{service} declares no consumer queue"
        db = app.state.infra.db
        before = await _counts(db)
        connection = await aio_pika.connect(settings.rabbitmq_url)
        async with connection:
            channel = await connection.channel(publisher_confirms=True)
            for queue in queues:
                for name, body in bodies.items():
                    await channel.default_exchange.publish(
                        aio_pika.Message(body, content_type="application/cloudevents+json", message_id=name,
                                         delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                        routing_key=queue.name, mandatory=True,
                    )

            async def all_parked() -> bool:
                depths = [await _depth(channel, q.dlq_name) for q in queues]
                print("depths", depths, [q.stats for q in queues])  # noqa: T201 - shown on failure
                # the consumer counts a parked message just after the broker has it: wait for both
                counted = all(q.stats["dead"] >= len(bodies) for q in queues)
                return all(d >= len(bodies) for d in depths) and counted and depths

            depths = await eventually(all_parked, timeout=timeout, interval=0.2)
            assert depths == [len(bodies)] * len(queues), depths  # each once: parked, not retried
            for queue in queues:
                assert queue.stats["dead"] == len(bodies), queue.stats
                assert queue.stats["retried"] == 0, f"a hostile message was retried as if transient: {queue.stats}"
                assert queue.stats["processed"] == 0, queue.stats
            assert await _counts(db) == before, "a hostile message changed the data"

            # the consumer is still alive: a good event after them is processed on every queue
            await publish(settings, event(EventType.PARTNER_REGISTERED, partner("p-after-hostile")))

            async def processed() -> bool:
                return all(q.stats["processed"] >= 1 for q in queues)

            await eventually(processed, timeout=60.0, interval=0.2)
            for queue in queues:
                assert await _depth(channel, queue.name) == 0
                assert await _depth(channel, queue.dlq_name) == len(bodies)  # nothing more parked
                parked = await channel.declare_queue(queue.dlq_name, passive=True)
                sample = await parked.get(no_ack=False, timeout=10)
                assert sample is not None and sample.headers  # the failure is recorded in the headers
                await sample.nack(requeue=True)


@pytest.mark.parametrize("service", SERVICES_WITH_QUEUES)
async def test_malformed_messages_are_dead_lettered_and_the_consumer_keeps_going(service, settings):
    await _hostile(service, settings, malformed_bodies())


@pytest.mark.parametrize("service", SERVICES_WITH_QUEUES)
async def test_an_event_whose_data_breaks_its_schema_is_parked_at_once(service, settings):
    await _hostile(service, settings, wrongly_shaped_data(), timeout=20.0)


@pytest.mark.parametrize("service", SERVICES_WITH_QUEUES)
async def test_an_oversized_well_formed_event_is_parked(service, settings):
    await _hostile(service, settings, oversized_event(), timeout=20.0)
