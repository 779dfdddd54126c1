"""The event bus on RabbitMQ, in FastStream's terms (CONTRACT §6).

- ``sinergi.events``: a durable topic exchange. Its alternate exchange ``sinergi.unrouted``
  keeps any event no queue was bound for (a subscriber not yet declared), instead of
  letting RabbitMQ drop it.
- Publishes are persistent, mandatory and confirmed; the channel raises on a returned
  message, so "published" always means "in a queue".
- Every consumer, retry and dead-letter queue is a quorum queue (replicated over the cluster's nodes; ``sinergi broker
  migrate`` moves a classic one over). A queue that dead-letters does so ``at-least-once``: RabbitMQ
  removes the message only once the target queue confirmed it.
- Every consumer queue has a ladder of retry queues (``<queue>.retry-<ms>ms``, each with a TTL
  that dead-letters back to the queue through ``<service>.direct``) and a dead-letter queue ``<queue>.dlq``.
- A service puts a message into one queue by name (a retry, a dead letter, a replay) through its
  own direct exchange ``<service>.direct``, where each such queue is bound under its own name;
  never through the default exchange, which reaches every queue of the vhost and whose write
  permission RabbitMQ grants all or nothing (``amq.default``), so no service user is given it.
- With ``SINERGI_SHARDS`` over 1, a consumer queue is K shards ``<queue>.shard-<i>``, each with its
  own ladder and DLQ, fed by the consistent-hash exchange ``<queue>.shards`` bound to
  ``sinergi.events`` with the queue's keys; it hashes the header ``x-sinergi-aggregate`` (the
  event's subject, set on every publish), so one aggregate's events land in one shard.
"""

from __future__ import annotations

import asyncio
import json
from functools import lru_cache
from typing import Any

from aio_pika import RobustConnection
from yarl import URL

from faststream.rabbit import Channel, ExchangeType, QueueType, RabbitBroker, RabbitExchange, RabbitQueue
from faststream.rabbit.message import RabbitMessage

from shared.events import CONTENT_TYPE
from shared.logging import get_logger
from shared.settings import Settings

log = get_logger(__name__)

PUBLISH_TIMEOUT = 5.0

# Set on an event an administrator re-published straight to a subscriber's queue (``POST
# /events/replay``): the routing key it was first published with, which the queue did not see.
REPLAY_HEADER = "x-sinergi-replay"

# The aggregate an event is about (its CloudEvent ``subject``), on every published event: the
# consistent-hash exchanges of sharded queues hash it (``shard_exchange``).
AGGREGATE_HEADER = "x-sinergi-aggregate"


async def undecoded(message: RabbitMessage) -> RabbitMessage:
    """The decoder of every subscriber: the message itself, its body as it came. FastStream's own
    decodes by content type before the handler runs, and fails on a body it cannot read (not JSON
    under ``application/json``, not UTF-8 under ``text/plain``): with manual acks such a message was
    neither acked nor parked and held up the queue. The consumer reads the body and parks what it
    cannot read. The broker calls the handler with what this returns, without FastDepends
    (``apply_types=False``): it found the message for the handler through a sync resolver, which it
    ran in a worker thread for every message (issue 15)."""
    return message


class _FailoverConnection(RobustConnection):
    """aio-pika's robust connection, moving on to the next broker node at each failed attempt and
    each lost connection, round the cluster's nodes (``Settings.broker_urls``); every node serves
    every queue (quorum queues are reached through any node). ``nodes`` is set on a subclass."""

    nodes: tuple[URL, ...] = ()

    def __init__(self, url: URL, loop: Any = None, **kwargs: Any) -> None:
        super().__init__(url, loop=loop, **kwargs)
        self._node = 0

    def _next_node(self) -> None:
        self._node = (self._node + 1) % len(self.nodes)
        self.url = self.nodes[self._node]

    # RobustConnection's private ``__connect_transport``, the one attempt its reconnect loop makes.
    async def _RobustConnection__connect_transport(self) -> None:
        try:
            await RobustConnection._RobustConnection__connect_transport(self)  # type: ignore[attr-defined]
        except BaseException:
            self._next_node()
            log.warning("broker node not reachable; trying the next", next_node=str(self))
            raise

    async def _on_connection_close(self, closing: asyncio.Future[Any]) -> None:
        if self.connected.is_set() and not (self._close_called or self.is_closed):
            self._next_node()  # the node we were on is likely gone: reconnect elsewhere first
        await super()._on_connection_close(closing)


def make_broker(settings: Settings, service: str) -> RabbitBroker:
    broker = _make_broker(settings, service)
    if len(urls := settings.broker_urls) > 1:
        nodes = tuple(URL(url) for url in urls)
        # RabbitBroker passes its connection arguments to aio_pika.connect_robust as they are.
        broker._connection_kwargs["connection_class"] = type("FailoverConnection", (_FailoverConnection,),
                                                             {"nodes": nodes})
    return broker


def _make_broker(settings: Settings, service: str) -> RabbitBroker:
    return RabbitBroker(
        settings.rabbitmq_url,
        decoder=undecoded,
        apply_types=False,
        # Start even while RabbitMQ is away: writes still land in the outbox, and the
        # robust connection (re)subscribes once the broker answers.
        fail_fast=False,
        reconnect_interval=1.0,
        default_channel=Channel(
            prefetch_count=settings.prefetch,
            publisher_confirms=True,
            on_return_raises=True,
        ),
        app_id=f"sinergi-{service}",
        graceful_timeout=10.0,
        logger=None,
    )


def events_exchange(settings: Settings) -> RabbitExchange:
    return RabbitExchange(
        settings.exchange_name,
        type=ExchangeType.TOPIC,
        durable=True,
        arguments={"alternate-exchange": unrouted_exchange(settings).name},
    )


def unrouted_exchange(settings: Settings) -> RabbitExchange:
    return RabbitExchange(f"{settings.bus_prefix}sinergi.unrouted", type=ExchangeType.FANOUT, durable=True)


def service_exchange(settings: Settings, service: str) -> RabbitExchange:
    """``<service>.direct``: how ``service`` puts a message into one queue by name. Its retry
    queues, dead-letter queues and consumer queues are bound here under their own names (the
    retry queues dead-letter back to the consumer queue through it), and so is a queue the
    service replays events to; its broker user alone may write here."""
    return RabbitExchange(f"{settings.bus_prefix}{service}.direct", type=ExchangeType.DIRECT, durable=True)


def shard_exchange(settings: Settings, queue: str) -> RabbitExchange:
    """``<queue>.shards``: spreads the events bound for a sharded consumer queue over its shards by
    the hash of :data:`AGGREGATE_HEADER` (a message without it is hashed as "no header": one fixed
    shard, never dropped). Its alternate exchange catches what it could route nowhere (no shard
    bound yet): an exchange-to-exchange hop does not return a message to its publisher when some
    other queue took it, so without one such an event would vanish for this queue alone."""
    return RabbitExchange(f"{queue}.shards", type=ExchangeType.X_CONSISTENT_HASH, durable=True,
                          arguments={"hash-header": AGGREGATE_HEADER,
                                     "alternate-exchange": unrouted_exchange(settings).name})


def unrouted_queue(settings: Settings) -> RabbitQueue:
    # Classic still: it keeps only events no service subscribes to, and the tests' helper
    # (tests/bus.py) declares it classic; a quorum queue here would clash with that declaration.
    return RabbitQueue(f"{settings.bus_prefix}sinergi.unrouted", durable=True)


def dead_letters_to(exchange: str, routing_key: str) -> dict[str, Any]:
    """A quorum queue's arguments to dead-letter through ``exchange`` under ``routing_key``, keeping
    the message until the target confirmed it (``at-least-once``, which RabbitMQ allows only with
    ``reject-publish`` overflow; no length limit is set, so it never rejects)."""
    return {"x-dead-letter-exchange": exchange, "x-dead-letter-routing-key": routing_key,
            "x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish"}


async def declare_exchanges(broker: RabbitBroker, settings: Settings) -> None:
    unrouted = await broker.declare_exchange(unrouted_exchange(settings))
    queue = await broker.declare_queue(unrouted_queue(settings))
    await queue.bind(unrouted)
    await broker.declare_exchange(events_exchange(settings))


def topic_matches(pattern: str, routing_key: str) -> bool:
    """AMQP topic matching: ``*`` is exactly one word, ``#`` zero or more."""
    return _match(tuple(pattern.split(".")), tuple(routing_key.split(".")))


@lru_cache(maxsize=1024)
def _match(pattern: tuple[str, ...], words: tuple[str, ...]) -> bool:
    if not pattern:
        return not words
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return any(_match(rest, words[i:]) for i in range(len(words) + 1))
    return bool(words) and head in ("*", words[0]) and _match(rest, words[1:])


class EventPublisher:
    """Publishes stored outbox entries to ``sinergi.events``."""

    def __init__(self, broker: RabbitBroker, settings: Settings) -> None:
        self._broker = broker
        self._exchange = events_exchange(settings)

    async def __call__(self, entry: dict[str, Any]) -> None:
        await publish_stored(self._broker, entry["body"], entry["id"], entry["type"], entry.get("correlationid"),
                             exchange=self._exchange, routing_key=entry["routing_key"])


async def publish_stored(broker: RabbitBroker, body: str, event_id: str, event_type: str,
                         correlation_id: str | None, **destination: Any) -> None:
    """Publish a stored CloudEvents document as it was stored: persistent, mandatory (a message
    no queue takes raises) and confirmed; ``destination`` is ``exchange`` and ``routing_key``,
    or ``queue`` (through the default exchange), plus any ``headers``. The event's subject goes in
    :data:`AGGREGATE_HEADER`, read from the body, so entries stored before the header existed get it too."""
    headers = {**_aggregate_header(body), **(destination.pop("headers", None) or {})}
    await broker.publish(
        body.encode(),
        persist=True,
        mandatory=True,
        content_type=CONTENT_TYPE,
        message_id=event_id,
        message_type=event_type,
        correlation_id=correlation_id,
        timeout=PUBLISH_TIMEOUT,
        headers=headers,
        **destination,
    )


def _aggregate_header(body: str) -> dict[str, str]:
    try:
        subject = json.loads(body).get("subject")
    except (ValueError, AttributeError):
        return {}  # not a CloudEvent: a consumer parks it; hashed as "no header" meanwhile
    return {AGGREGATE_HEADER: subject} if isinstance(subject, str) and subject else {}
