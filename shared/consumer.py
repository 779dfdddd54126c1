"""Consuming events on purpose: idempotent, retried with growing delays, then parked.

(Over 400 lines: the queue, the envelope checks and the delivery order are one mechanism, read together.)

A service declares each of its queues as an :class:`EventQueue` (its name, the routing
keys it binds, the retry ladder, the regions its instance serves) and subscribes with
:meth:`EventQueue.subscribe` (FastStream, ``AckPolicy.MANUAL``, the message handed over as it came); every
message goes to :meth:`EventQueue.deliver`, which

1. takes the message's turn, then reads its envelope: the retry header, the CloudEvent, its
   region and routing key — a message that fails any of these is parked at once;
2. skips an event id this queue already processed (``processed_events``, keyed by ``_id``),
   for an :func:`idempotent` handler looked up first only for a message that may have been
   handled before (redelivered, retried, replayed): a duplicate published anew is then handled
   again, changing nothing, and its marker's insert counts it;
3. runs the handler with the event's correlation id bound for logs and new events;
4. on success records the id, then acks (an :func:`idempotent` handler's id after its turn, written
   with the queue's other records of the next ``shared.group_insert.LINGER`` seconds); on failure
   re-publishes the message to the next retry queue (or, after the last, to ``<queue>.dlq`` with
   the error in its headers), with confirms, and only then acks. If even that publish fails, the
   message is nacked and RabbitMQ redelivers it: nothing is acked and forgotten.

Two failures are retried *in place*, holding the aggregate's turn, because sending the message
round the ladder would let the aggregate's later events overtake it (and a consumer that keeps
read models ignores an event older than what it knows): the store being unreachable or refusing
a write as busy (until it answers again, for up to ``STORE_PATIENCE``), and :class:`NotYet` (for
up to ``NOT_YET_PATIENCE``: the event it waits for is usually in flight on another lane right now).

Every queue is consumed on a channel of its own (:meth:`EventQueue.open` declares it there), so
its delivery tags are its messages alone and :class:`DeliveryOrder` can wait for each one without
guessing.

Handlers must be idempotent in effect (the id is recorded after the effect, so a crash in
between replays it once more); replicas achieve that with ``aggregateversion``, notification
rules with deterministic ids.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from faststream.middlewares import AckPolicy
from faststream.rabbit import Channel, QueueType, RabbitBroker, RabbitExchange, RabbitQueue
from faststream.rabbit.annotations import RabbitMessage as Delivered  # what the AsyncAPI document skips
from faststream.rabbit.message import RabbitMessage
from pydantic import ValidationError
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConnectionFailure, OperationFailure

from shared.bus import PUBLISH_TIMEOUT, REPLAY_HEADER, dead_letters_to, events_exchange, service_exchange, undecoded
from shared.events import AnyEvent
from shared.group_insert import LINGER, GroupInsert
from shared.locks import KeyedLocks
from shared.logging import bound, get_logger
from shared.mongo import busy, stopping
from shared.regions import digits
from shared.settings import Settings

log = get_logger(__name__)

Handler = Callable[[AnyEvent], Awaitable[None]]
T = TypeVar("T")

H_ATTEMPT = "x-sinergi-attempt"
H_ERROR = "x-sinergi-error"
H_ERROR_TYPE = "x-sinergi-error-type"
H_QUEUE = "x-sinergi-queue"
H_ROUTING_KEY = "x-sinergi-routing-key"
H_FAILED_AT = "x-sinergi-failed-at"

SHARD_WEIGHT = "1"


class PoisonMessage(Exception):
    """The message can never be processed: park it without retrying."""


class NotYet(Exception):
    """The event needs another that has not been handled yet (say, the partner an activity names):
    retried in place for a while, then on the ladder."""


# How long a message is retried in place before it goes on the ladder. The store's limit stays
# well under RabbitMQ's consumer timeout (30 min), which would close the channel of a message
# held unacknowledged for longer.
STORE_PATIENCE = 600.0
NOT_YET_PATIENCE = 3.0


class DeliveryOrder:
    """Lets a channel's messages take their turn in the order RabbitMQ delivered them.

    aio-pika runs every delivery in a task of its own, and FastStream's tasks reach the handler a
    few places out of order (measured: 54 inversions in 3,000 messages), which would let an
    aggregate's later event be handled before the one before it. Delivery tags count up by one
    per channel from 1, and the queue's channel is its own, so a message waits for those before it
    to take their turn. The wait is bounded by ``patience`` only for a tag that never comes (the
    subscriber stopping mid-window); it is long because a loaded machine can hold a task back for
    a good fraction of a second, and a shorter one let a later event overtake (seen in CI).
    """

    def __init__(self, patience: float = 10.0) -> None:
        self.patience = patience
        self._next: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()
        self._turns = asyncio.Condition()

    async def turn(self, message: RabbitMessage) -> None:
        channel, tag = message.raw_message.channel, message.raw_message.delivery_tag
        if tag is None:
            return
        async with self._turns:
            if tag > self._next.get(channel, 1):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._turns.wait_for(lambda: tag <= self._next.get(channel, 1)),
                                           self.patience)
            self._next[channel] = max(self._next.get(channel, 1), tag + 1)
            self._turns.notify_all()


@dataclass
class EventQueue:
    """A durable consumer queue bound to ``sinergi.events``, with its retry ladder and DLQ."""

    name: str
    binding_keys: list[str]
    exchange: RabbitExchange
    retry_delays: list[float] = field(default_factory=lambda: [1.0, 5.0, 30.0])
    processed: ProcessedEvents | None = None
    prefetch: int = 32
    # The regions whose events this queue applies (``EventQueue.of``: the instance's own); an event
    # claiming another is parked. Empty: any region whose digits match the routing key.
    regions: tuple[str, ...] = ()
    # The service's own exchange (``shared.bus.service_exchange``): a failed message goes on to a retry
    # queue or the DLQ through it, and comes back from a retry queue through it; each of the queue's
    # siblings is bound there under its own name. Not the default exchange: its write permission
    # reaches every queue of the vhost, so no service's broker user has it.
    direct: RabbitExchange | None = None
    # Deliveries without an ack after which RabbitMQ itself parks a message (``x-delivery-limit``).
    delivery_limit: int = 20
    # Several processes of the service consume it (``SINERGI_PROCESSES`` over 1): one at a time.
    single_active: bool = False
    # Set on a shard (``shared.shards``): the consistent-hash exchange that feeds it, instead of
    # binding the keys to ``exchange`` itself; ``binding_keys`` stay the keys its events come with.
    shards: RabbitExchange | None = None
    # The name its processed markers are kept under: a shard's are its whole queue's, so an event
    # handled before ``sinergi broker migrate`` changed K is still known after it lands elsewhere.
    ledger: str | None = None
    channel: Channel = field(init=False, repr=False)
    stats: dict[str, int] = field(default_factory=lambda: {"processed": 0, "duplicates": 0, "retried": 0, "dead": 0})
    _locks: KeyedLocks = field(default_factory=KeyedLocks, repr=False)
    _order: DeliveryOrder = field(default_factory=DeliveryOrder, repr=False)

    @classmethod
    def of(cls, settings: Settings, service: str, purpose: str, event_patterns: list[str],
           regions: Sequence[str] | None = None) -> EventQueue:
        """``event_patterns`` are routing-key tails (``partner.*``) for this instance's region;
        ``regions`` are the regions whose events it applies, by default the one it serves."""
        return cls(
            name=settings.queue_name(service, purpose),
            binding_keys=[f"{settings.region_digits}.{pattern}" for pattern in event_patterns],
            exchange=events_exchange(settings),
            retry_delays=list(settings.retry_delays),
            prefetch=settings.prefetch,
            regions=tuple(regions) if regions is not None else (settings.region,),
            direct=service_exchange(settings, service),
            delivery_limit=settings.delivery_limit,
            single_active=settings.processes > 1,
        )

    def __post_init__(self) -> None:
        # FastStream opens one channel per Channel instance: this one is the queue's alone.
        self.channel = Channel(prefetch_count=self.prefetch, publisher_confirms=True, on_return_raises=True)

    @property
    def queue(self) -> RabbitQueue:
        """The consumer queue: a quorum queue (replicated over the cluster's nodes), with a single active
        consumer when the service runs several processes, that gives a message RabbitMQ delivered ``delivery_limit`` times without an ack (a
        consumer killed mid-message each time) to the DLQ, removing it only once the DLQ has it
        (``at-least-once``)."""
        assert self.direct is not None, "EventQueue.of sets the service's exchange"
        return RabbitQueue(self.name, queue_type=QueueType.QUORUM, routing_key=self.feed_key, arguments={
            # With several processes, one consumer at a time: the others wait as stand-ins, so one
            # aggregate's events are still handled in order (SINERGI_PROCESSES; RabbitMQ then refuses
            # basic.get on the queue, hence not with one process, whose tools peek at it).
            **({"x-single-active-consumer": True} if self.single_active else {}),
            "x-delivery-limit": self.delivery_limit, **dead_letters_to(self.direct.name, self.dlq_name)})

    @property
    def feed(self) -> RabbitExchange:
        """Where the queue's events come from: ``sinergi.events``, or its shards' exchange."""
        return self.shards or self.exchange

    @property
    def feed_key(self) -> str:
        # A shard's binding key is its weight on the hash ring: every shard "1", an equal share.
        return SHARD_WEIGHT if self.shards else self.binding_keys[0]

    @property
    def dlq_name(self) -> str:
        return f"{self.name}.dlq"

    def retry_queue_name(self, delay: float) -> str:
        # The TTL is in the name: changing the ladder declares new queues instead of
        # clashing with the arguments of the old ones. ``retry-`` since they dead-letter through the
        # service's exchange: ``<queue>.retry.<ms>ms`` dead-lettered through the default one.
        return f"{self.name}.retry-{int(delay * 1000)}ms"

    async def declare(self, broker: RabbitBroker) -> None:
        """Declare the queue's siblings and every binding (FastStream declares the first)."""
        assert self.direct is not None, "EventQueue.of sets the service's exchange"
        exchange = await broker.declare_exchange(self.exchange)
        direct = await broker.declare_exchange(self.direct)
        # The DLQ first: the queues that dead-letter into it need it there.
        dlq = await broker.declare_queue(RabbitQueue(self.dlq_name, queue_type=QueueType.QUORUM))
        await dlq.bind(direct, routing_key=self.dlq_name)
        main = await broker.declare_queue(self.queue)
        if self.shards is not None:
            # A shard: its exchange is bound to ``sinergi.events`` once every shard is bound to it
            # (``ShardedQueue.feed``), so no event is hashed over only some of them.
            await main.bind(await broker.declare_exchange(self.shards), routing_key=SHARD_WEIGHT)
        for key in [] if self.shards is not None else self.binding_keys:
            await main.bind(exchange, routing_key=key)
        await main.bind(direct, routing_key=self.name)
        for delay in self.retry_delays:
            # Quorum too: a message waiting out its delay survives the loss of a node.
            retry = await broker.declare_queue(RabbitQueue(
                self.retry_queue_name(delay), queue_type=QueueType.QUORUM,
                arguments={"x-message-ttl": int(delay * 1000), **dead_letters_to(self.direct.name, self.name)}))
            await retry.bind(direct, routing_key=self.retry_queue_name(delay))

    async def open(self, broker: RabbitBroker) -> None:
        """What :meth:`declare` declares, on a connected broker, the queue itself on its own channel.

        FastStream's declarer keeps the first queue object declared under a name and hands that to
        the subscriber, which consumes on the channel it was declared on: declared on the default
        channel, the queue would be consumed there, at the default prefetch, its delivery tags
        mixed with every other queue's of the service (each of which would then wait out
        :class:`DeliveryOrder`'s patience for tags that are not its own)."""
        await self.declare(_OnChannel(broker, self.name, self.channel))

    def subscribe(self, broker: RabbitBroker, handler: Handler, description: str | None = None) -> Any:
        """Hand this queue's messages to :meth:`deliver`: on its own channel, acknowledged by us, the
        body left as it came (:func:`undecoded`). Call :meth:`open` before the broker starts (a
        subscriber added after it started is started by the caller: ``await subscriber.start()``)."""
        subscriber = broker.subscriber(self.queue, self.feed, channel=self.channel, ack_policy=AckPolicy.MANUAL,
                                       decoder=undecoded, title=self.name, description=description)

        @subscriber
        async def on_message(message: Delivered) -> None:  # handed over by :func:`undecoded`
            await self.deliver(message, handler, broker)

        return subscriber

    async def deliver(self, message: RabbitMessage, handler: Handler, broker: RabbitBroker) -> None:
        # One aggregate's events are handled one at a time in this process, in the order the
        # queue delivered them: several messages are in flight at once, and on FerretDB a
        # conditional update is a read then a write, so two versions applied together could
        # race. Every message takes its turn first, poison too (the next one waits for its tag),
        # and waiters get an asyncio lock first come, first served, so the lock is asked for right
        # after the turn with nothing awaited in between.
        await self._order.turn(message)
        headers = dict(message.headers or {})
        attempt = 0
        try:
            attempt = _attempt(headers)
            event = parse(message.body)
            self._check_origin(event, message, headers)
        except Exception as exc:  # PoisonMessage, or a message of a shape nothing here foresaw
            # Parked now: left unacknowledged, it would hold up every message behind it.
            await self._park(message, broker, headers, attempt, exc)
            return

        with bound(event.correlationid, event.id, event_id=event.id, event_type=event.type, queue=self.name,
                   redelivered=bool(message.raw_message.redelivered)):
            async with self._locks(event.subject):
                try:
                    later = await self._handle_in_place(
                        event, handler, _maybe_seen(message, headers) or not getattr(handler, "idempotent", False))
                except PoisonMessage as exc:
                    await self._park(message, broker, headers, attempt, exc)
                    return
                except ConnectionFailure as exc:
                    # The store has been away longer than we hold a message: not the message's
                    # fault, so it never uses up the ladder; it waits on the last rung.
                    await self._retry(message, broker, headers, min(attempt, len(self.retry_delays) - 1), exc)
                    return
                except Exception as exc:
                    if attempt < len(self.retry_delays):
                        await self._retry(message, broker, headers, attempt, exc)
                    else:
                        await self._park(message, broker, headers, attempt, exc)
                    return
            if later:
                try:
                    await self._patiently(lambda _: self._record(event, later=True))
                except Exception as exc:  # the store away past our patience: handled again on redelivery
                    log.warning("could not record the event as processed; nacking it for redelivery",
                                error=repr(exc))
                    await message.nack(requeue=True)
                    return
            await message.ack()

    def _check_origin(self, event: AnyEvent, message: RabbitMessage, headers: dict[str, Any]) -> None:
        """Park an event of a region this instance does not serve, or one that came with another
        region's routing key: applied, it would put another region's partner into this one's data."""
        if self.regions and event.region not in self.regions:
            raise PoisonMessage(f"the event is of region {event.region}; this instance serves "
                                f"{', '.join(self.regions)}")
        key = self._routed_with(message, headers)
        if key is not None and (not isinstance(key, str) or key.split(".", 1)[0] != digits(event.region)):
            raise PoisonMessage(f"the event of region {event.region} came with routing key {key!r}; "
                                f"its routing key starts with {digits(event.region)}")

    def _routed_with(self, message: RabbitMessage, headers: dict[str, Any]) -> Any:
        """The routing key the event was published with: the message's own when it came through
        ``sinergi.events``; when it came straight to the queue (from a retry queue, a DLQ replay or
        an events replay) the one its headers recorded, if any (``None``)."""
        raw = message.raw_message
        if raw.exchange == self.exchange.name:
            return raw.routing_key or ""
        for header in (H_ROUTING_KEY, REPLAY_HEADER):
            if header in headers:
                return headers[header]
        return None

    async def _handle_in_place(self, event: AnyEvent, handler: Handler, maybe_seen: bool = True) -> bool:
        """Handle the event, retried in place; whether its marker is still to be recorded."""
        return await self._patiently(lambda tries: self._handle(event, handler, maybe_seen or tries > 0))

    async def _patiently(self, step: Callable[[int], Awaitable[T]]) -> T:
        """``step(tries)`` until it is done, waiting out the store's absence or a refused write and
        :class:`NotYet`, each up to its patience."""
        waited = 0.0
        for tries in itertools.count():
            try:
                return await step(tries)
            except ConnectionFailure as exc:
                if waited >= STORE_PATIENCE:
                    raise
                delay, error, waiting_for = min(5.0, 0.1 * 2**tries), exc, "the database to answer again"
            except OperationFailure as exc:
                if not (busy(exc) or stopping(exc)) or waited >= STORE_PATIENCE:
                    raise
                if stopping(exc):  # seen in the steady-stream fault test: the store stopping mid-write
                    delay, error, waiting_for = min(5.0, 0.1 * 2**tries), exc, "the database to answer again"
                else:
                    delay, error, waiting_for = min(1.0, 0.05 * 2**tries), exc, "the database to take writes again"
            except NotYet as exc:
                if waited >= NOT_YET_PATIENCE:
                    raise
                delay, error, waiting_for = min(0.5, 0.05 * 2**tries), exc, "an event it needs to be handled first"
            self.stats["retried"] += 1
            log.warning("event retried in place", waiting_for=waiting_for, tries=tries + 1, delay_s=delay,
                        error=repr(error))
            await asyncio.sleep(delay)
            waited += delay
        raise AssertionError("unreachable")

    async def _handle(self, event: AnyEvent, handler: Handler, maybe_seen: bool = True) -> bool:
        # For an :func:`idempotent` handler the marker is looked up first only for a message that
        # may have been handled before (``_maybe_seen``); any other is handled at once, and a
        # duplicate among them (the relay published it again after a crash) is found by its
        # marker's insert, having repeated effects that change nothing: a round trip less for every
        # first delivery. Any other handler's events are looked up first, always.
        if maybe_seen and self.processed and await self.processed.seen(self.ledger or self.name, event.id):
            self.stats["duplicates"] += 1
            log.info("duplicate event skipped")
            return False
        started = time.perf_counter()
        await handler(event)
        log.debug("event processed", ms=round((time.perf_counter() - started) * 1000, 2))
        if self.processed is None:
            self.stats["processed"] += 1
            return False
        # An idempotent handler's marker is recorded after its turn, with others (``record``'s
        # ``later``): its effect is done, and a repeat of it changes nothing. Any other's, now.
        if getattr(handler, "idempotent", False):
            return True
        await self._record(event, later=False)
        return False

    async def _record(self, event: AnyEvent, later: bool) -> None:
        assert self.processed is not None
        if await self.processed.record(self.ledger or self.name, event.id, by=self.name if self.ledger else None,
                                       later=later):
            self.stats["processed"] += 1
        else:
            self.stats["duplicates"] += 1
            log.info("duplicate event handled again, idempotently")

    async def _retry(
        self, message: RabbitMessage, broker: RabbitBroker, headers: dict[str, Any], attempt: int, exc: Exception
    ) -> None:
        delay = self.retry_delays[attempt]
        log.warning("event failed; retrying", attempt=attempt + 1, delay_s=delay, error=repr(exc))
        await self._forward(
            message, broker, self.retry_queue_name(delay), {**headers, **self._failure(exc, attempt + 1, message)}
        )
        self.stats["retried"] += 1

    async def _park(
        self, message: RabbitMessage, broker: RabbitBroker, headers: dict[str, Any], attempt: int, exc: Exception
    ) -> None:
        raw = message.raw_message
        log.error("event dead-lettered", attempts=attempt + 1, error=repr(exc), dlq=self.dlq_name,
                  message_id=raw.message_id, exchange=raw.exchange, routing_key=raw.routing_key)
        await self._forward(message, broker, self.dlq_name, {**headers, **self._failure(exc, attempt + 1, message)})
        self.stats["dead"] += 1

    async def _forward(self, message: RabbitMessage, broker: RabbitBroker, queue: str, headers: dict[str, Any]) -> None:
        raw = message.raw_message
        try:
            await broker.publish(
                message.body,
                exchange=self.direct,
                routing_key=queue,
                persist=True,
                mandatory=True,
                headers=headers,
                content_type=raw.content_type,
                message_id=raw.message_id,
                message_type=raw.type,
                correlation_id=raw.correlation_id,
                timeout=PUBLISH_TIMEOUT,
            )
        except Exception:
            # Could not move it on: leave it with RabbitMQ rather than lose it.
            log.exception("could not forward a failed event; nacking it for redelivery", queue=queue)
            await message.nack(requeue=True)
            return
        await message.ack()

    def _failure(self, exc: Exception, attempt: int, message: RabbitMessage) -> dict[str, Any]:
        headers = message.headers or {}
        failure = {
            H_ATTEMPT: attempt,
            H_ERROR: str(exc)[:1000] or exc.__class__.__name__,
            H_ERROR_TYPE: exc.__class__.__name__,
            H_QUEUE: headers.get(H_QUEUE, self.name),
            H_FAILED_AT: datetime.now(UTC).isoformat(),
        }
        # The key is checked again when the message comes back, so only a routing key goes in here;
        # a message that came straight to the queue with none recorded keeps none.
        if isinstance(key := self._routed_with(message, headers), str):
            failure[H_ROUTING_KEY] = key
        return failure


class _OnChannel:
    """The broker as :meth:`EventQueue.declare` uses it, declaring one queue on a channel of its own."""

    def __init__(self, broker: RabbitBroker, queue: str, channel: Channel) -> None:
        self._broker, self._queue, self._channel = broker, queue, channel

    async def declare_exchange(self, exchange: RabbitExchange) -> Any:
        return await self._broker.declare_exchange(exchange)

    async def declare_queue(self, queue: RabbitQueue) -> Any:
        # RabbitBroker.declare_queue always uses the default channel; its declarer takes one.
        channel = self._channel if queue.name == self._queue else None
        return await self._broker.config.declarer.declare_queue(queue, channel=channel)


def _attempt(headers: dict[str, Any]) -> int:
    """How many times the message was tried: a retry of ours writes a whole number from 0, so any
    other value is not ours (``-10`` would index the ladder from its end)."""
    value = headers.get(H_ATTEMPT, 0)
    if type(value) is not int or value < 0:  # noqa: E721 - a bool is an int too, and not ours
        raise PoisonMessage(f"the header {H_ATTEMPT} is {value!r}; a retry of ours writes a whole number from 0")
    return value


def idempotent(handler: Handler) -> Handler:
    """Mark a handler whose effects a repeat of the event leaves as they are (a version check, ids
    derived from the event): its first deliveries are handled without reading the processed
    marker first (:meth:`EventQueue._handle`)."""
    handler.idempotent = True  # type: ignore[attr-defined]
    return handler


def _maybe_seen(message: RabbitMessage, headers: dict[str, Any]) -> bool:
    """Whether a message may be one this queue handled before, so its marker is worth reading
    first: RabbitMQ redelivers it, it comes back from a retry queue, or it is replayed."""
    return (bool(message.raw_message.redelivered) or H_ATTEMPT in headers or REPLAY_HEADER in headers
            or H_QUEUE in headers)


MAX_EVENT_BYTES = 1 << 20  # the same ceiling as an HTTP body


def parse(body: bytes) -> AnyEvent:
    """The event in a message, or ``PoisonMessage`` when it can never be processed: too large,
    not a CloudEvent, or data with keys MongoDB would read as operators or paths. (Consumers
    read only the fields they need from ``data``, so it is not held to the full snapshot model.)"""
    if len(body) > MAX_EVENT_BYTES:
        raise PoisonMessage(f"the message is {len(body)} bytes; events are at most {MAX_EVENT_BYTES}")
    try:
        event = AnyEvent.model_validate_json(body)
    except ValidationError as exc:
        raise PoisonMessage(f"not a Sinergi CloudEvent: {exc}") from None
    if bad := _operator_key(event.data):
        raise PoisonMessage(f"the data carries the key {bad!r}; keys may not start with '$' or contain '.'")
    return event


def _operator_key(value: Any) -> str | None:
    if isinstance(value, dict):
        for key, inner in value.items():
            if not isinstance(key, str) or key.startswith("$") or "." in key:
                return str(key)
            if found := _operator_key(inner):
                return found
    elif isinstance(value, list):
        for inner in value:
            if found := _operator_key(inner):
                return found
    return None


class ProcessedEvents:
    """Event ids each queue has processed: one document per (queue, event id), keyed by ``_id``."""

    RETENTION = timedelta(days=14)

    def __init__(self, db: AsyncDatabase) -> None:
        self._collection = db["processed_events"]
        # The messages a consumer handles at once record their events together (``GroupInsert``).
        self._inserts = GroupInsert(self._collection)
        self._later = GroupInsert(self._collection, linger=LINGER, name="group-insert-processed-later")

    async def seen(self, queue: str, event_id: str) -> bool:
        return await self._collection.find_one({"_id": f"{queue}:{event_id}"}, {"_id": 1}) is not None

    async def record(self, queue: str, event_id: str, by: str | None = None, later: bool = False) -> bool:
        """Record the id; ``False`` when it was recorded before (the event was a duplicate). ``by``:
        the shard that handled it, when ``queue`` is a sharded queue's name. ``later``: written up to
        ``LINGER`` seconds later (``shared.group_insert``), with the records made meanwhile."""
        inserts = self._later if later else self._inserts
        return await inserts.insert({"_id": f"{queue}:{event_id}", "at": datetime.now(UTC),
                                     **({"by": by} if by else {})})

    async def prune(self) -> int:
        """Forget ids older than the retention (no TTL indexes on FerretDB: called on a timer)."""
        result = await self._collection.delete_many({"at": {"$lt": datetime.now(UTC) - self.RETENTION}})
        return result.deleted_count
