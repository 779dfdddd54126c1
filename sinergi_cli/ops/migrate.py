"""Re-declaring a region's queues as the code now declares them (``sinergi broker migrate``): classic
queues become quorum queues, and a queue whose arguments changed (the single active consumer of
``SINERGI_PROCESSES`` over 1, the delivery limit) is declared anew.

RabbitMQ cannot change a queue's type or arguments in place, and a service declaring a queue over
one of the same name with other arguments is refused (``PRECONDITION_FAILED - inequivalent arg``);
importing definitions silently keeps the old queue. So, with the region's services stopped (a queue
with consumers is refused, nothing is touched):

1. each such queue has its messages moved, in order, to a holding quorum queue
   ``<queue>.migrating``, and is deleted;
2. the definitions are imported, which declares the quorum queues and their bindings;
3. each holding queue's messages are moved, in order, into its queue, and it is deleted.

Every message is published with confirms and only then acknowledged at its source, so a run cut
off anywhere loses nothing (at worst a message is in both places: consumers skip an event id they
processed); running it again resumes (step 3 finds the holding queues left behind). Queues the
definitions do not declare (a subscriber's, a shovel's) are left as they are. Then, when
``SINERGI_SHARDS`` changed, each consumer queue's messages are spread over its new shards
(:mod:`sinergi_cli.ops.reshard`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aio_pika

from sinergi_cli.broker import ManagementError
from sinergi_cli.ops.reshard import reshard

HOLDING = ".migrating"


class MigrationRefused(ManagementError):
    """A queue to migrate has consumers: the services are still running."""


def to_migrate(definitions: dict[str, Any], existing: list[dict[str, Any]]) -> list[str]:
    """The queues that exist with another type or other arguments than the definitions declare
    (a classic queue of an older version; one without the single active consumer that
    ``SINERGI_PROCESSES`` over 1 needs; another delivery limit)."""
    wanted = {q["name"]: _arguments(q["arguments"]) for q in definitions["queues"]}
    return sorted(q["name"] for q in existing
                  if q["name"] in wanted and _arguments(q.get("arguments") or {}) != wanted[q["name"]])


def _arguments(arguments: dict[str, Any]) -> dict[str, Any]:
    return {"x-queue-type": "classic", **arguments}  # a queue declared without a type is classic


def held(definitions: dict[str, Any], existing: list[dict[str, Any]]) -> list[str]:
    """The queues whose messages wait in a holding queue (this run's, or one an interrupted run left)."""
    names = {q["name"] for q in existing}
    return sorted(q["name"] for q in definitions["queues"] if q["name"] + HOLDING in names)


async def consumed(amqp_url: str, names: list[str]) -> list[str]:
    """Those of the queues that have consumers now (the management API's count lags by seconds)."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        found = []
        for name in names:
            queue = await channel.declare_queue(name, passive=True)
            if queue.declaration_result.consumer_count:
                found.append(name)
        return found


async def move(amqp_url: str, source: str, target: str) -> int:
    """Move every message of ``source`` to ``target`` in order, each confirmed before it is acked."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        queue = await channel.get_queue(source, ensure=True)
        moved = 0
        while (message := await queue.get(no_ack=False, fail=False)) is not None:
            await channel.default_exchange.publish(
                aio_pika.Message(
                    message.body, headers=message.headers, content_type=message.content_type,
                    content_encoding=message.content_encoding, delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    priority=message.priority, correlation_id=message.correlation_id, reply_to=message.reply_to,
                    expiration=message.expiration, message_id=message.message_id, timestamp=message.timestamp,
                    type=message.type, user_id=message.user_id, app_id=message.app_id),
                routing_key=target, mandatory=True)
            await message.ack()
            moved += 1
        return moved


def migrate(management: Any, vhost: str, definitions: dict[str, Any], amqp_url: str,
            say: Callable[[str], None] = lambda _: None) -> dict[str, int]:
    """Make every queue of ``definitions`` the type they declare and import them; returns the
    messages moved per queue. ``management`` is a :class:`sinergi_cli.broker.Management`."""
    existing = management.queues_of(vhost)
    classic = to_migrate(definitions, existing)
    busy = asyncio.run(consumed(amqp_url, classic)) if classic else []
    if busy:
        raise MigrationRefused(f"{', '.join(busy)} still have consumers: stop the region's services "
                               "(sinergi down), then run sinergi broker migrate again")
    moved: dict[str, int] = {}
    for name in classic:
        management.declare_queue(vhost, name + HOLDING, {"x-queue-type": "quorum"})
        moved[name] = asyncio.run(move(amqp_url, name, name + HOLDING))
        management.delete_queue(vhost, name)
        say(f"{name}: classic queue emptied into {name + HOLDING} ({moved[name]} messages) and deleted")
    management.import_definitions(definitions)
    for name in held(definitions, management.queues_of(vhost)):
        count = asyncio.run(move(amqp_url, name + HOLDING, name))
        moved[name] = count
        management.delete_queue(vhost, name + HOLDING)
        say(f"{name}: now a quorum queue, {count} messages moved back")
    moved.update(reshard(management, vhost, definitions, amqp_url, say))  # SINERGI_SHARDS changed
    return moved
