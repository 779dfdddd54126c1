"""The infrastructure one service process opens and closes: database, broker, outbox relay.

A service's ``main.py`` builds one :class:`Infrastructure`, attaches its aggregate
collections to the relay, registers its subscribers on ``infra.broker`` (best through
:meth:`EventQueue.subscribe`), and runs
``infra.start()`` / ``infra.stop()`` from the FastAPI lifespan (``faststream.rabbit.fastapi``
is deprecated; the broker is started from the lifespan instead).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence

from faststream.rabbit import RabbitBroker
from prometheus_client import CollectorRegistry
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from shared.bus import EventPublisher, declare_exchanges, make_broker
from shared.consumer import EventQueue, ProcessedEvents
from shared.idempotency import IdempotencyKeys
from shared.logging import get_logger
from shared.mongo import connect, ping
from shared.outbox import AggregateCollection, EventLog, OutboxRelay, WriteLeases
from shared.settings import Settings
from shared.shards import STAND_IN_DELAY, ShardedQueue, WorkerSlots
from shared.tasks import cancel_all

log = get_logger(__name__)

PRUNE_EVERY = 3600.0


class _BusMetrics:
    """Prometheus view of the relay and the consumers, read when /metrics is scraped."""

    def __init__(self, infra: Infrastructure) -> None:
        self.infra = infra

    def collect(self):  # noqa: ANN201 - the prometheus_client collector protocol
        from prometheus_client.core import CounterMetricFamily

        published = CounterMetricFamily("sinergi_events_published", "Events published from the outbox (confirmed)")
        published.add_metric([], self.infra.relay.published)
        yield published
        consumed = CounterMetricFamily(
            "sinergi_events_consumed", "Events taken from a queue, by outcome", labels=["queue", "outcome"]
        )
        for queue in self.infra.queues:
            for outcome, count in queue.stats.items():
                consumed.add_metric([queue.name, outcome], count)
        yield consumed


class Infrastructure:
    def __init__(self, settings: Settings, service: str) -> None:
        self.settings = settings
        self.service = service
        self.client: AsyncMongoClient = connect(settings, service)
        self.db: AsyncDatabase = self.client[settings.database_name(service)]
        self.broker: RabbitBroker = make_broker(settings, service)
        self.event_log = EventLog(self.db["event_log"], settings.event_log_days)
        self.relay = OutboxRelay(EventPublisher(self.broker, settings), settings.outbox_sweep_seconds, self.event_log)
        self.processed = ProcessedEvents(self.db)
        self.idempotency = IdempotencyKeys(self.db)
        # Every queue it consumes (with shards, each shard), and the sharded queues they belong to.
        self.queues: list[EventQueue] = []
        self.sharded: list[ShardedQueue] = []
        self.slots = WorkerSlots(self.db["worker_slots"])
        self._slot: tuple[int | None] | None = None  # claimed (or found none free) once
        self._subscribed = False
        self.timers: list[tuple[str, float, Callable[[], Awaitable[object]]]] = [
            ("prune-idempotency-keys", PRUNE_EVERY, self.idempotency.prune),
            ("prune-processed-events", PRUNE_EVERY, self.processed.prune),
            ("prune-event-log", PRUNE_EVERY, self.event_log.prune),
        ]
        self._tasks: list[asyncio.Task[None]] = []
        self.registry = CollectorRegistry()
        self.registry.register(_BusMetrics(self))

    def aggregates(self, name: str, remember: bool = False) -> AggregateCollection:
        """A collection of aggregates whose recorded events the relay publishes; ``remember``: each
        is written only through it (``AggregateCollection``)."""
        leases = WriteLeases(self.db["write_leases"]) if self.settings.processes > 1 else None
        return self.relay.attach(AggregateCollection(self.db[name], leases=leases, remember=remember))

    def queue(self, purpose: str, event_patterns: list[str],
              regions: Sequence[str] | None = None) -> EventQueue | ShardedQueue:
        """Declare one of this service's consumer queues (``<service>.<purpose>``); it applies the
        events of ``regions``, by default the one region this instance serves (``SINERGI_REGION``).
        With ``SINERGI_SHARDS`` over 1, the queue's shards (``shared.shards``)."""
        queue = EventQueue.of(self.settings, self.service, purpose, event_patterns, regions)
        queue.processed = self.processed
        if self.settings.shards <= 1:
            self.queues.append(queue)
            return queue
        sharded = ShardedQueue.of(self.settings, queue)
        self.sharded.append(sharded)
        self.queues.extend(sharded.shards)
        return sharded

    def every(self, name: str, seconds: float, job: Callable[[], Awaitable[object]]) -> None:
        self.timers.append((name, seconds, job))

    async def database_ready(self) -> bool:
        return await ping(self.client)

    async def broker_ready(self) -> bool:
        return self.broker.running and await self.broker.ping(timeout=2.0)

    async def start(self) -> None:
        await self._wait_for_database()
        # HTTP serves as soon as the database answers. The broker may be away: writes then
        # wait in the outbox, and the subscribers start once it is reachable.
        await self.relay.start()
        self._tasks.append(asyncio.create_task(self._connect_broker(), name="broker-connect"))
        for name, seconds, job in self.timers:
            self._tasks.append(asyncio.create_task(_repeat(name, seconds, job), name=name))

    async def _wait_for_database(self, attempts: int = 10) -> None:
        for attempt in range(1, attempts + 1):
            try:
                await self.database_ready()
                return
            except Exception as exc:
                if attempt == attempts:
                    raise RuntimeError(f"the database at {self.settings.mongodb_url} does not answer: {exc}") from exc
                log.warning("database not reachable yet", attempt=attempt, error=repr(exc))
                await asyncio.sleep(1.0)

    async def _connect_broker(self) -> None:
        delay = 0.5
        while True:
            try:
                await self.broker.connect()
                await declare_exchanges(self.broker, self.settings)
                for queue in self.queues:
                    if queue.shards is None:
                        await queue.open(self.broker)
                await self._open_shards()
                await self.broker.start()
                log.info("service connected to the broker", queues=[q.name for q in self.queues])
                if self.sharded and self.settings.processes > 1:
                    self._tasks.append(asyncio.create_task(self._stand_in(), name="shard-stand-ins"))
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if "invalid exchange type" in str(exc):
                    log.error("SINERGI_SHARDS over 1 needs RabbitMQ's consistent-hash exchange: "
                              "rabbitmq-plugins enable rabbitmq_consistent_hash_exchange (docs/operations.md, "
                              "Scaling)", error=str(exc))
                elif "inequivalent arg" in str(exc):
                    # A classic queue left by an older version, or one declared for another number of
                    # processes: RabbitMQ cannot change a queue's type or arguments in place.
                    log.error("a queue of this service was declared otherwise before (a classic queue, or "
                              "another SINERGI_PROCESSES); stop the services and run `sinergi broker migrate` "
                              "(docs/operations.md)", error=str(exc))
                else:
                    log.warning("broker not reachable yet; retrying", error=repr(exc), retry_in_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def _open_shards(self) -> None:
        """Declare the sharded queues and subscribe to this process's own shards: with several
        processes, those of the worker slot it claims (``shared.shards``). Again after a failed
        attempt to connect: declared again, the slot claimed and the shards subscribed once."""
        processes = self.settings.processes
        if self.sharded and processes > 1 and self._slot is None:
            self._slot = (await self.slots.claim(processes),)
            log.info("worker slot claimed" if self._slot[0] is not None else
                     "no worker slot free; standing in on every shard", slot=self._slot[0], processes=processes)
            self._tasks.append(asyncio.create_task(_repeat("renew-worker-slot", WorkerSlots.SECONDS / 3,
                                                           self.slots.renew), name="renew-worker-slot"))
        for sharded in self.sharded:
            await sharded.open(self.broker)
        if not self._subscribed:
            for sharded in self.sharded:
                sharded.subscribe_own(self.broker, self.slots.slot, processes)
            self._subscribed = True

    async def _stand_in(self) -> None:
        await asyncio.sleep(STAND_IN_DELAY)
        for sharded in self.sharded:
            try:
                await sharded.stand_in(self.broker, self.slots.slot, self.settings.processes)
            except Exception as exc:  # a stand-in missing costs only the takeover, never an event
                log.warning("could not stand in on the other shards", queue=sharded.name, error=repr(exc))

    async def stop(self) -> None:
        await cancel_all(self._tasks)
        with contextlib.suppress(Exception):  # the database gone: the slot frees itself past its lease
            await self.slots.release()
        await self.relay.stop()
        await self.broker.stop()
        await self.client.close()


async def _repeat(name: str, seconds: float, job: Callable[[], Awaitable[object]]) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            await job()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("timer job failed", job=name, error=repr(exc))
