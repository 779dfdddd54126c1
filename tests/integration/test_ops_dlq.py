"""`sinergi dlq list` shows a parked message; `sinergi dlq replay` moves it back and it is processed."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime

import aio_pika

from shared.consumer import H_ATTEMPT, H_ERROR, H_ERROR_TYPE, H_FAILED_AT, H_QUEUE, H_ROUTING_KEY
from shared.events import EventType, make_event
from tests.conftest import auth, eventually, running
from tests.ops_support import sinergi


def cli_env(settings) -> dict[str, str]:  # noqa: ANN001
    env = {k: v for k, v in os.environ.items() if not k.startswith("SINERGI_")}
    env.update({"SINERGI_RABBITMQ_URL": settings.rabbitmq_url, "SINERGI_MONGODB_URL": settings.mongodb_url,
                "SINERGI_BUS_PREFIX": settings.bus_prefix, "SINERGI_DB_PREFIX": settings.db_prefix,
                "SINERGI_REGION": settings.region, "SINERGI_RETRY_DELAYS": "0.2,0.4"})
    return env


async def _park(settings, queue, event) -> None:  # noqa: ANN001
    """Put an event in the queue's DLQ as the consumer parks one: same body, the failure in headers."""
    connection = await aio_pika.connect(settings.rabbitmq_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        await channel.default_exchange.publish(
            aio_pika.Message(event.to_wire(), content_type="application/cloudevents+json", message_id=event.id,
                             type=event.type, delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                             headers={H_ATTEMPT: 3, H_ERROR: "the partner replica was unreachable",
                                      H_ERROR_TYPE: "ServerSelectionTimeoutError", H_QUEUE: queue.name,
                                      H_ROUTING_KEY: event.routing_key, H_FAILED_AT: datetime.now(UTC).isoformat()}),
            routing_key=queue.dlq_name, mandatory=True,
        )


async def _depth(settings, name: str) -> int:  # noqa: ANN001
    connection = await aio_pika.connect(settings.rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        return (await channel.declare_queue(name, passive=True)).declaration_result.message_count


async def test_a_parked_message_is_listed_then_replayed_and_processed(settings):
    async with running("activities", settings) as (app, activities):
        await eventually(lambda: _ok(activities.get("/readyz")), timeout=10.0)
        queue = next(q for q in app.state.infra.queues if q.name.endswith("activities.partner-replica"))
        now = datetime.now(UTC).isoformat()
        event = make_event(EventType.PARTNER_REGISTERED, region="32.73", service="partners", subject="p-dlq-1",
                           version=1, data={"id": "p-dlq-1", "version": 1, "name": "Karang Taruna Antapani",
                                            "type": "ormas_komunitas", "region": "32.73", "status": "active",
                                            "created_at": now, "updated_at": now})
        await _park(settings, queue, event)

        listed = await asyncio.to_thread(sinergi, "dlq", "list", env=cli_env(settings))
        assert listed.returncode == 0, listed.stderr
        line = next(line for line in listed.stdout.splitlines() if "p-dlq-1" in line)
        assert "sinergi.partner.registered" in line and "unreachable" in line and " 3 " in line
        assert f"sinergi dlq replay {queue.name}" in listed.stdout
        assert await _depth(settings, queue.dlq_name) == 1  # looking removed nothing

        replayed = await asyncio.to_thread(sinergi, "dlq", "replay", queue.name, env=cli_env(settings))
        assert replayed.returncode == 0, replayed.stderr
        assert f"moved 1 message(s) from {queue.dlq_name}" in replayed.stderr

        async def in_replica():
            response = await activities.get("/replica/partners/p-dlq-1", headers=auth("viewer"))
            return response.status_code == 200 and response.json()

        known = await eventually(in_replica, timeout=5.0)
        assert known["name"] == "Karang Taruna Antapani"
        assert await _depth(settings, queue.dlq_name) == 0


async def test_replay_refuses_a_queue_that_is_not_a_consumer_queue(settings):
    result = await asyncio.to_thread(sinergi, "dlq", "replay", "nowhere.queue", env=cli_env(settings))
    assert result.returncode == 1 and "not a consumer queue" in result.stderr


async def _ok(response_coroutine) -> bool:  # noqa: ANN001
    return (await response_coroutine).status_code == 200
