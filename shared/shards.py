"""A consumer queue in K shards, hashed by aggregate, consumed by N processes (``SINERGI_SHARDS``).

With ``SINERGI_SHARDS=K`` over 1, the service's queue ``<queue>`` is K queues ``<queue>.shard-<i>``
(each a whole :class:`EventQueue`: its own retry ladder and DLQ, so a retried message comes back
to the shard it left and cannot overtake or be overtaken by its aggregate's other events), fed by
the consistent-hash exchange ``<queue>.shards`` (``shared.bus.shard_exchange``) that is bound to
``sinergi.events`` with the queue's keys and hashes the event's aggregate. One aggregate's events
are thus in one shard, in order; with several processes each shard has a single active consumer.

Which process is active on which shard: RabbitMQ 3.10 makes the first consumer to attach the
active one, so processes starting together could leave one of them active everywhere. Each
process therefore claims a worker slot ``s`` in its service's database (:class:`WorkerSlots`, an
insert-claimed lease), subscribes at once to its own shards (``i % N == s``), and only
``STAND_IN_DELAY`` later to the others, as a stand-in: when a process dies, RabbitMQ makes a
stand-in active on its shards at once. A process that comes back finds its shards served by
stand-ins and becomes a stand-in on them itself: the load stays on the others until they restart
(docs/operations.md, "Scaling").
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from dataclasses import dataclass
from typing import Any

from faststream.rabbit import RabbitBroker, RabbitExchange
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from shared.bus import shard_exchange
from shared.consumer import DeliveryOrder, EventQueue, Handler
from shared.locks import KeyedLocks
from shared.logging import get_logger
from shared.mongo import take_over
from shared.settings import Settings

log = get_logger(__name__)

# How long a process waits before it stands in on the shards of the others: long enough for the
# processes started with it to attach to their own first.
STAND_IN_DELAY = 3.0


def shard_name(queue: str, index: int) -> str:
    return f"{queue}.shard-{index}"


@dataclass
class ShardedQueue:
    """The K shards of one consumer queue and the exchange that feeds them."""

    name: str
    shards: list[EventQueue]
    exchange: RabbitExchange  # ``<queue>.shards``
    events: RabbitExchange  # ``sinergi.events``
    binding_keys: list[str]
    handler: Handler | None = None
    description: str | None = None

    @classmethod
    def of(cls, settings: Settings, queue: EventQueue) -> ShardedQueue:
        """``queue`` (as ``EventQueue.of`` makes it) in ``settings.shards`` shards."""
        exchange = shard_exchange(settings, queue.name)
        # Each with counters, locks and delivery order of its own (a copy would share the queue's).
        shards = [dataclasses.replace(queue, name=shard_name(queue.name, i), shards=exchange, ledger=queue.name,
                                      stats=dict.fromkeys(queue.stats, 0), _locks=KeyedLocks(), _order=DeliveryOrder())
                  for i in range(settings.shards)]
        return cls(queue.name, shards, exchange, queue.exchange, list(queue.binding_keys))

    @property
    def processed(self) -> Any:
        return self.shards[0].processed

    @processed.setter
    def processed(self, value: Any) -> None:
        for shard in self.shards:
            shard.processed = value

    async def feed(self, broker: Any) -> None:
        """Bind the shards' exchange to ``sinergi.events`` with the queue's keys: after every shard is
        bound to it (:meth:`EventQueue.declare`), or the first events would hash over only some."""
        exchange = await broker.declare_exchange(self.exchange)
        events = await broker.declare_exchange(self.events)
        for key in self.binding_keys:
            await exchange.bind(events, routing_key=key)

    async def declare(self, broker: Any) -> None:
        for shard in self.shards:
            await shard.declare(broker)
        await self.feed(broker)

    async def open(self, broker: RabbitBroker) -> None:
        for shard in self.shards:
            await shard.open(broker)
        await self.feed(broker)

    def subscribe(self, broker: RabbitBroker, handler: Handler, description: str | None = None) -> None:
        """Keep the handler: which shards this process takes first is known only once it has its
        worker slot (``shared.runtime``, :meth:`subscribe_own`, :meth:`stand_in`)."""
        self.handler, self.description = handler, description

    def own(self, slot: int | None, processes: int) -> list[EventQueue]:
        """The shards the process of ``slot`` attaches to first: every one with a single process,
        none without a slot."""
        if processes <= 1:
            return list(self.shards)
        if slot is None:
            return []
        return [shard for i, shard in enumerate(self.shards) if i % processes == slot]

    def subscribe_own(self, broker: RabbitBroker, slot: int | None, processes: int) -> None:
        """Subscribe to the process's own shards (before the broker starts)."""
        assert self.handler is not None, "ShardedQueue.subscribe first"
        for shard in self.own(slot, processes):
            shard.subscribe(broker, self.handler, self.description)

    async def stand_in(self, broker: RabbitBroker, slot: int | None, processes: int) -> None:
        """Subscribe to the other shards, the broker running: consumers that wait while another
        process is active, and take over the moment it goes."""
        assert self.handler is not None, "ShardedQueue.subscribe first"
        own = {shard.name for shard in self.own(slot, processes)}
        for shard in self.shards:
            if shard.name not in own:
                await shard.subscribe(broker, self.handler, self.description).start()


class WorkerSlots:
    """Slots ``0..N-1`` of a service's processes, each claimed by inserting ``{_id: "slot-<s>"}``.

    Insert is atomic on the embedded store (an update is not), so two processes never both claim a
    free slot. A holder renews ``until`` while it runs and deletes the slot when it stops; a slot
    whose holder died is free again once past ``until``, taken over as ``WriteLeases`` does (the
    taker inserts ``<slot>#<old token>`` first, which only one can). A slot is only a preference
    (the single active consumer keeps order either way): two holders would just be unbalanced.
    """

    SECONDS = 15.0

    def __init__(self, collection: AsyncCollection) -> None:
        self.collection = collection
        self.token = uuid.uuid4().hex
        self.slot: int | None = None

    async def claim(self, processes: int) -> int | None:
        """The first free slot, or ``None`` when all are held (a process come back before its old
        lease ran out): it then stands in on every shard."""
        for slot in range(processes):
            if await self._take(f"slot-{slot}"):
                self.slot = slot
                return slot
        return None

    async def _take(self, key: str) -> bool:
        now = time.time()
        try:
            await self.collection.insert_one({"_id": key, "token": self.token, "until": now + self.SECONDS})
            return True
        except DuplicateKeyError:
            pass
        held = await self.collection.find_one({"_id": key})
        if held is None or held.get("until", 0) >= now:
            return False
        if not await take_over(self.collection, key, held["token"], self.SECONDS):
            return False  # another process is taking it over
        log.warning("worker slot of a process that stopped taken over", slot=key)
        return await self._take(key)

    async def renew(self) -> None:
        if self.slot is not None:
            await self.collection.update_one({"_id": f"slot-{self.slot}", "token": self.token},
                                             {"$set": {"until": time.time() + self.SECONDS}})

    async def release(self) -> None:
        if self.slot is not None:
            await asyncio.shield(self.collection.delete_one({"_id": f"slot-{self.slot}", "token": self.token}))
            self.slot = None
