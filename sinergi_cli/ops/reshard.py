"""A consumer queue's shards when ``SINERGI_SHARDS`` changed (``sinergi broker migrate``, after the
definitions are imported, so the new shards and their exchange are there).

A queue ``<queue>`` has one family of queues: its shards ``<queue>.shard-<i>`` (or itself, with one
shard) and each one's retry ladder and DLQ. When the family on the broker is not the one the
definitions declare (another K), with the region's services stopped:

1. every main and retry queue of the family, old and new, is drained into the holding quorum queue
   ``<queue>.resharding``: the shards that stay must give up their messages too, since with another
   K an aggregate hashes to another shard, and its old events left behind would be handled beside
   its new ones by another process;
2. each message missing the ``x-sinergi-aggregate`` header (published before shards existed) gets
   it from its body, and the routing key it came with is kept in ``x-sinergi-routing-key``;
3. the holding queue is fed into ``<queue>.shards`` (hashed again) or, with K=1, into ``<queue>``;
4. the parked messages of a DLQ that no longer exists go to the first new DLQ (replaying them puts
   them on that shard: parked messages were out of their aggregate's order already);
5. queues and the shards' exchange the definitions no longer declare are deleted.

As in :mod:`sinergi_cli.ops.migrate`, every message is confirmed at its target before it is acked at
its source, and a run cut off is finished by running it again (step 1 finds the holding queue).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from typing import Any

import aio_pika

from shared.bus import AGGREGATE_HEADER

RESHARDING = ".resharding"
SHARDS_EXCHANGE = ".shards"
_FAMILY = re.compile(r"^(?P<base>.+?)(?P<shard>\.shard-\d+)?(?P<tail>\.dlq|\.retry-\d+ms)?$")
_ROUTING_KEY_HEADER = "x-sinergi-routing-key"  # shared.consumer.H_ROUTING_KEY, without importing FastStream's half


def family(name: str) -> tuple[str, str]:
    """``(base, kind)`` of a queue name; kind is ``main``, ``retry`` or ``dlq``."""
    found = _FAMILY.match(name)
    assert found is not None
    tail = found["tail"] or ""
    return found["base"], "dlq" if tail == ".dlq" else "retry" if tail.startswith(".retry-") else "main"


def reshard(management: Any, vhost: str, definitions: dict[str, Any], amqp_url: str,
            say: Callable[[str], None] = lambda _: None) -> dict[str, int]:
    """Move the messages of each family whose shards changed; returns the messages moved per queue."""
    from sinergi_cli.ops.migrate import MigrationRefused, consumed

    wanted = {q["name"] for q in definitions["queues"]}
    wanted_exchanges = {x["name"] for x in definitions["exchanges"]}
    bases = {family(name)[0] for name in wanted if family(name)[1] == "main"}
    existing = {q["name"] for q in management.queues_of(vhost)}
    moved: dict[str, int] = {}
    for base in sorted(bases):
        members = {name for name in existing if not name.endswith(RESHARDING) and family(name)[0] == base}
        stale = members - wanted
        hold = base + RESHARDING
        if not stale and hold not in existing:
            continue
        sharded = base + SHARDS_EXCHANGE in wanted_exchanges
        drained = sorted((n for n in members if family(n)[1] != "dlq"), key=lambda n: (family(n)[1] != "retry", n))
        if busy := asyncio.run(consumed(amqp_url, drained)):
            raise MigrationRefused(f"{', '.join(busy)} still have consumers: stop the region's services "
                                   "(sinergi down), then run sinergi broker migrate again")
        management.declare_queue(vhost, hold, {"x-queue-type": "quorum"})
        # Retries first (the sort above): they are older than what waits in the main queues.
        for name in drained:
            moved[name] = asyncio.run(_move(amqp_url, name, queue=hold))
        dlqs = sorted(n for n in wanted if family(n) == (base, "dlq"))
        for name in sorted(n for n in stale if family(n)[1] == "dlq"):
            moved[name] = asyncio.run(_move(amqp_url, name, queue=dlqs[0]))
        for name in sorted(stale):
            management.delete_queue(vhost, name)
        count = asyncio.run(_move(amqp_url, hold, exchange=base + SHARDS_EXCHANGE) if sharded
                            else _move(amqp_url, hold, queue=base))
        management.delete_queue(vhost, hold)
        say(f"{base}: {count} messages hashed again over its shards ({', '.join(sorted(stale)) or 'none'} "
            "deleted)" if sharded else f"{base}: {count} messages moved back from its shards, now deleted")
    for exchange in management.exchanges_of(vhost):
        name = exchange["name"]
        if name.endswith(SHARDS_EXCHANGE) and name.removesuffix(SHARDS_EXCHANGE) in bases and name not in wanted_exchanges:
            management.delete_exchange(vhost, name)
            say(f"{name}: the shards' exchange deleted (SINERGI_SHARDS is 1)")
    return moved


async def _move(amqp_url: str, source: str, queue: str | None = None, exchange: str | None = None) -> int:
    """Move every message of ``source``, in order, to ``queue`` (by the default exchange) or into
    ``exchange``, each confirmed before it is acked, with the aggregate header and its routing key."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        source_queue = await channel.get_queue(source, ensure=True)
        target = await channel.get_exchange(exchange, ensure=False) if exchange else channel.default_exchange
        moved = 0
        while (message := await source_queue.get(no_ack=False, fail=False)) is not None:
            headers = dict(message.headers or {})
            if AGGREGATE_HEADER not in headers and (subject := _subject(message.body)):
                headers[AGGREGATE_HEADER] = subject
            if (message.exchange or "").endswith("sinergi.events") and message.routing_key:
                headers.setdefault(_ROUTING_KEY_HEADER, message.routing_key)  # the consumer checks it again
            await target.publish(
                aio_pika.Message(
                    message.body, headers=headers, content_type=message.content_type,
                    content_encoding=message.content_encoding, delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    correlation_id=message.correlation_id, message_id=message.message_id,
                    timestamp=message.timestamp, type=message.type, app_id=message.app_id),
                routing_key=queue or "", mandatory=True)
            await message.ack()
            moved += 1
        return moved


def _subject(body: bytes) -> str | None:
    try:
        subject = json.loads(body).get("subject")
    except (ValueError, AttributeError):
        return None
    return subject if isinstance(subject, str) and subject else None
