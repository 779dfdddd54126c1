"""Test-side helpers on the real broker: a queue that records what reaches it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aio_pika

from shared.settings import Settings


@asynccontextmanager
async def tap(settings: Settings, binding: str = "#", durable: bool = False) -> AsyncIterator[list[dict[str, Any]]]:
    """Bind a queue to this test's ``sinergi.events`` and collect every event body, as an
    outside subscriber (a provincial dashboard) would. ``durable`` keeps the queue across a
    broker restart, as a real subscriber's queue does; it is deleted at the end."""
    connection = await aio_pika.connect_robust(settings.rabbitmq_url)
    received: list[dict[str, Any]] = []
    try:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(
            settings.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True,
            arguments={"alternate-exchange": f"{settings.bus_prefix}sinergi.unrouted"},
        )
        if durable:
            queue = await channel.declare_queue(f"{settings.bus_prefix}tap.{id(received)}", durable=True)
        else:
            queue = await channel.declare_queue(exclusive=True)
        await queue.bind(exchange, routing_key=binding)

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            async with message.process():
                body = json.loads(message.body)
                body["_amqp"] = {"routing_key": message.routing_key, "content_type": message.content_type,
                                 "delivery_mode": int(message.delivery_mode or 0), "message_id": message.message_id}
                received.append(body)

        await queue.consume(on_message)
        yield received
        if durable:
            await queue.delete(if_unused=False, if_empty=False)
    finally:
        await connection.close()


async def declare_exchanges(settings: Settings) -> None:
    connection = await aio_pika.connect_robust(settings.rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        unrouted = await channel.declare_exchange(f"{settings.bus_prefix}sinergi.unrouted",
                                                  aio_pika.ExchangeType.FANOUT, durable=True)
        queue = await channel.declare_queue(f"{settings.bus_prefix}sinergi.unrouted", durable=True)
        await queue.bind(unrouted)
        await channel.declare_exchange(settings.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True,
                                       arguments={"alternate-exchange": unrouted.name})
