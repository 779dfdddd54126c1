"""The transactional outbox, without multi-document transactions.

(Over 400 lines: the aggregate's write, its leases and the relay that empties its outbox share one
set of guarantees, read together.)

A state change and the events it records are one document write: the aggregate's document
carries its unpublished events in ``_outbox`` (and ``_pending: true`` while any remain). The
relay publishes them with publisher confirms and only then removes them, so a crash between
any two steps re-publishes and never loses. Consumers are idempotent on the event id.

On MongoDB the version-conditioned write is atomic. On FerretDB an update is a read then a
write, so writes to one aggregate are also serialised inside the process (``lock``), and the
version is checked by ``_id`` (``shared.mongo.replace_at_version``: FerretDB would scan the whole
collection for any other filter).

With several processes per service (``SINERGI_PROCESSES`` over 1) that is not enough: two
processes could each read version 3 and both write version 4. Then :meth:`AggregateCollection.lock`
also holds a lease in the store, :class:`WriteLeases`: a document per aggregate whose insert only
one process wins (inserts of one ``_id`` are atomic on FerretDB too), deleted when the write is done.

The relay holds the aggregate's write lock only for the short write that removes what it
published, never across the broker's confirm: a write on an aggregate does not wait for the
relay of its previous event. One aggregate's events still leave in order, because only one
relay works on an aggregate at a time (its own per-aggregate lock).

With one process remembering its aggregates, that removal is not a write of its own: the
published entries are left out of the aggregate's next write (:meth:`AggregateCollection.get`
hands its callers the outbox without them), or removed when the service stops, when more than
``WAITING_MOST`` aggregates wait, or before the event log, their proof, could be pruned. Until
then the store still lists them; a sweep does not publish again what the event log holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import bson
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError, PyMongoError

from shared.clock import utc_ms
from shared.events import AnyEvent, CloudEvent
from shared.group_insert import GroupInsert
from shared.locks import KeyedLocks
from shared.logging import get_logger
from shared.mongo import (
    WhenBack,
    replace_at_version,
    replace_read_under_lock,
    take_over,
    update_at_version,
    update_read_under_lock,
)
from shared.tasks import cancel_all

log = get_logger(__name__)

OUTBOX = "_outbox"
PENDING = "_pending"

Publish = Callable[[dict[str, Any]], Awaitable[None]]


class StaleVersion(Exception):
    """The aggregate changed since it was read; nothing was written."""


class WriteLeases:
    """Leases that keep writers of one aggregate in different processes apart, claimed by insert.

    ``hold(key)`` inserts ``{_id: key, token, until}`` and deletes it when done; while another
    process holds it, the insert fails and is tried again shortly. A lease left by a process that
    died is taken over once past ``until``: the taker first inserts ``<key>#<old token>``, which only
    one taker can, then deletes the old lease. ``SECONDS`` is far above any one write, so a live
    holder is never overtaken.
    """

    SECONDS = 30.0

    def __init__(self, collection: AsyncCollection) -> None:
        self.collection = collection
        self._letting_go = WhenBack()

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        token = uuid.uuid4().hex
        tries = 0
        while True:
            now = time.time()
            try:
                await self.collection.insert_one({"_id": key, "token": token, "until": now + self.SECONDS})
                break
            except DuplicateKeyError:
                pass
            except PyMongoError:
                # The store may have applied the insert before the connection went: such a lease,
                # never let go, kept every process (this one too) from the aggregate for SECONDS.
                self._let_go(key, token, now + self.SECONDS)
                raise
            held = await self.collection.find_one({"_id": key})
            if held is not None and held.get("until", 0) < now and await self._take_over(key, held["token"]):
                continue
            await asyncio.sleep(min(0.05, 0.002 * 2 ** min(tries, 5)))
            tries += 1
        until = now + self.SECONDS
        try:
            yield
        finally:
            try:
                # Shielded: a cancelled write must still let go, or the aggregate waits out the lease.
                await asyncio.shield(self.collection.delete_one({"_id": key, "token": token}))
            except PyMongoError:
                # The store went away with the lease held (the write failed too): let go the moment
                # it is back. Left to run out, the lease kept every process from the aggregate for
                # up to SECONDS after the store returned (the two-process steady stream's writes
                # after a store restart all waited on four such activities).
                self._let_go(key, token, until)

    def _let_go(self, key: str, token: str, until: float) -> None:
        """Delete this holder's lease once the store answers (until it would have run out anyway)."""
        self._letting_go.run(lambda: self.collection.delete_one({"_id": key, "token": token}),
                             until - time.time(), f"let-go-{key}")

    async def _take_over(self, key: str, token: str) -> bool:
        if taken := await take_over(self.collection, key, token, self.SECONDS):
            log.warning("write lease of a process that stopped taken over", lease=key)
        return taken


class _Held:
    """The in-process lock, then the lease (when there are several processes)."""

    def __init__(self, lock: asyncio.Lock, leases: WriteLeases | None, key: str) -> None:
        self._lock, self._leases, self._key = lock, leases, key
        self._lease: contextlib.AbstractAsyncContextManager[None] | None = None

    async def __aenter__(self) -> None:
        await self._lock.acquire()
        if self._leases is not None:
            try:
                self._lease = self._leases.hold(self._key)
                await self._lease.__aenter__()
            except BaseException:
                self._lock.release()
                raise

    async def __aexit__(self, *exc: object) -> None:
        try:
            if self._lease is not None:
                await self._lease.__aexit__(*exc)
        finally:
            self._lock.release()


def exclusive(lock: asyncio.Lock, leases: WriteLeases | None, key: str) -> contextlib.AbstractAsyncContextManager[None]:
    """Hold ``lock`` in this process and, with ``leases`` (several processes), the lease ``key`` in
    the store: for any document that more than one process updates (FerretDB: a read then a write)."""
    return _Held(lock, leases, key)


class AggregateCollection:
    """Loads and saves one kind of aggregate document; recorded events ride in the same write.

    ``remember``: every write of these documents passes here (no other code of the service updates
    them), so with one process (no leases) the document this process wrote last is the stored one,
    and :meth:`get` hands it back without a round trip (:class:`Remembered`). A change then costs the
    store one write instead of a read and a write.
    """

    # Aggregates whose published events may wait in the store's outbox for their next write (see
    # the module); past this many, the longest waiting are removed from the store.
    WAITING_MOST = 2048

    def __init__(self, collection: AsyncCollection, relay: OutboxRelay | None = None,
                 leases: WriteLeases | None = None, remember: bool = False) -> None:
        self.collection = collection
        self.relay = relay
        # Only with several processes per service: one process needs no lease.
        self.leases = leases
        self.known = Remembered(collection) if remember and leases is None else None
        # Published entries still in the stored outbox, by aggregate, longest waiting first: the
        # time the first of them waited since, and their ids (:meth:`mark_later`).
        self.unmarked: OrderedDict[str, tuple[float, set[str]]] = OrderedDict()
        self._locks = KeyedLocks()
        self._relaying = KeyedLocks()
        # The version of each aggregate this process last wrote with events in its outbox, until the
        # relay removes them: the relay's mark then knows no write came between without reading it.
        self._written: dict[str, int] = {}

    def lock(self, aggregate_id: str) -> contextlib.AbstractAsyncContextManager[None]:
        """Serialises writes (and outbox marking) on one aggregate: in this process, and with
        ``leases`` across the service's processes."""
        return _Held(self._locks(aggregate_id), self.leases, f"{self.collection.name}:{aggregate_id}")

    def relaying(self, aggregate_id: str) -> asyncio.Lock:
        """The in-process lock one relay holds while it publishes an aggregate's outbox."""
        return self._relaying(aggregate_id)

    async def get(self, aggregate_id: str) -> dict[str, Any] | None:
        """The aggregate as stored, less the outbox entries already published (:meth:`mark_later`):
        a caller writes back only what is still to publish."""
        if self.known is None or (doc := self.known.get(aggregate_id)) is None:
            doc = await self.collection.find_one({"_id": aggregate_id})
        if doc is not None and (waiting := self.unmarked.get(aggregate_id)) is not None:
            doc[OUTBOX] = [entry for entry in doc.get(OUTBOX, []) if entry["id"] not in waiting[1]]
            doc[PENDING] = bool(doc[OUTBOX])
        return doc

    def defers_marks(self) -> bool:
        """Whether published entries may wait for the aggregate's next write: one process remembers
        what it wrote (no other writes these aggregates)."""
        return self.known is not None

    def mark_later(self, aggregate_id: str, ids: set[str]) -> None:
        """These published entries stay in the stored outbox until the aggregate's next write."""
        first, waiting = self.unmarked.get(aggregate_id, (time.time(), set()))
        self.unmarked[aggregate_id] = (first, waiting | ids)

    def still_unmarked(self, aggregate_id: str, since: float, ids: set[str]) -> None:
        """Their removal from the store failed: they wait again, as long as they had."""
        first, waiting = self.unmarked.get(aggregate_id, (since, set()))
        self.unmarked[aggregate_id] = (min(first, since), waiting | ids)
        self.unmarked.move_to_end(aggregate_id, last=False)

    def _written_without_unmarked(self, aggregate_id: str, outbox: list[dict[str, Any]]) -> None:
        """A write landed: the published entries it no longer carries are gone from the store."""
        if (waiting := self.unmarked.get(aggregate_id)) is not None:
            self._still_waiting(aggregate_id, waiting[1] & {entry["id"] for entry in outbox})

    def _still_waiting(self, aggregate_id: str, ids: set[str]) -> None:
        if ids:
            self.unmarked[aggregate_id] = (self.unmarked[aggregate_id][0], ids)
        else:
            del self.unmarked[aggregate_id]

    async def insert(self, document: dict[str, Any], events: Iterable[CloudEvent[Any]]) -> None:
        """Insert a new aggregate; ``DuplicateKeyError`` when its ``_id`` exists (claims are inserts)."""
        outbox = [_entry(event) for event in events]
        stored = {**document, OUTBOX: outbox, PENDING: bool(outbox)}
        async with self._remembering(document["_id"]):
            await self.collection.insert_one(stored)
            self._remember(stored)
            self._written_without_unmarked(document["_id"], outbox)
        self._wake(document["_id"], document.get("version"), outbox)

    async def insert_many(self, aggregates: Iterable[tuple[dict[str, Any], Iterable[CloudEvent[Any]]]]) -> None:
        """Insert new aggregates, each with its events, in one write; ``BulkWriteError`` if an ``_id`` exists.

        FerretDB serialises the writes to a database, so a thousand new aggregates cost one write,
        not a thousand. Their events wait in the outbox until :meth:`announce` (or the relay's
        sweep): a caller storing batches announces once all are in, so the relay's writes do not
        queue behind, and slow down, its own.
        """
        documents = []
        for document, events in aggregates:
            outbox = [_entry(event) for event in events]
            documents.append({**document, OUTBOX: outbox, PENDING: bool(outbox)})
        if documents:
            try:
                await self.collection.insert_many(documents)
            except BaseException:
                if self.relay is not None:
                    self.relay.may_have_left()  # some may be stored, and their caller not announce them
                raise

    def announce(self, aggregate_ids: Iterable[str]) -> None:
        """Have the relay publish these aggregates' pending events now, not at its next sweep."""
        if self.relay is not None:
            for aggregate_id in aggregate_ids:
                self.relay.notify(self, aggregate_id)

    async def replace(
        self,
        document: dict[str, Any],
        expected_version: int,
        events: Iterable[CloudEvent[Any]],
        pending: list[dict[str, Any]] | None = None,
        read_under_lock: bool = False,
    ) -> None:
        """Replace the aggregate if it is still at ``expected_version``; else ``StaleVersion``.

        ``pending`` is the outbox as it was read: entries not yet published stay in it.
        ``read_under_lock``: the caller read ``expected_version`` under :meth:`lock` (and, with several
        processes, the lease it takes), which it still holds, so the version is not read again
        (``shared.mongo.replace_read_under_lock``: a round trip less a change).
        """
        outbox = [*(pending or []), *(_entry(event) for event in events)]
        write = replace_read_under_lock if read_under_lock else replace_at_version
        stored = {**document, OUTBOX: outbox, PENDING: bool(outbox)}
        async with self._remembering(document["_id"]):
            if not await write(self.collection, document["_id"], expected_version, stored):
                raise StaleVersion(document["_id"])
            self._remember(stored)
            self._written_without_unmarked(document["_id"], outbox)
        self._wake(document["_id"], document.get("version"), outbox)

    @contextlib.asynccontextmanager
    async def _remembering(self, aggregate_id: str) -> AsyncIterator[None]:
        """A write whose outcome is not known for sure (refused, cut off) leaves nothing remembered:
        the next load reads what the store holds, and the relay's next sweep looks for its events."""
        try:
            yield
        except BaseException as exc:
            if self.known is not None:
                self.known.forget(aggregate_id)
            if self.relay is not None and not isinstance(exc, (StaleVersion, DuplicateKeyError)):
                self.relay.may_have_left()  # stored, perhaps, and not handed over
            raise

    def _remember(self, stored: dict[str, Any]) -> None:
        if self.known is not None:
            self.known.put(stored)

    def published(self, aggregate_id: str, version: int, sent: set[str], emptied: bool) -> None:
        """The relay removed ``sent`` from the outbox of ``version`` (under :meth:`lock`); ``emptied``:
        nothing is left in it."""
        if self.known is not None:
            self.known.pull(aggregate_id, version, sent)
        if (waiting := self.unmarked.get(aggregate_id)) is not None:  # removed by a sweep
            self._still_waiting(aggregate_id, waiting[1] - sent)
        if emptied and self._written.get(aggregate_id) == version:
            del self._written[aggregate_id]

    def _wake(self, aggregate_id: str, version: int | None, outbox: list[dict[str, Any]]) -> None:
        if outbox and self.relay is not None:
            if version is not None:
                self._written[aggregate_id] = version
            # The relay is handed what was just written: it publishes it without reading it back.
            self.relay.notify(self, aggregate_id, None if version is None else (version, outbox))

    def unchanged_since(self, aggregate_id: str, version: int) -> bool:
        """Whether ``version`` is the last this process wrote of the aggregate, with no other process
        writing it (no leases): then, under :meth:`lock`, it is the stored version."""
        return self.leases is None and self._written.get(aggregate_id) == version


class Remembered:
    """The documents of one collection as this process last wrote them, most recently used kept.

    Kept as BSON, as the store would return them (datetimes to the millisecond, in UTC): a load
    from here reads exactly what a load from the store would, and each load is a fresh copy.
    """

    MOST = 2048

    def __init__(self, collection: AsyncCollection) -> None:
        self._options = collection.codec_options
        self._docs: OrderedDict[str, bytes] = OrderedDict()

    def get(self, aggregate_id: str) -> dict[str, Any] | None:
        raw = self._docs.get(aggregate_id)
        if raw is None:
            return None
        self._docs.move_to_end(aggregate_id)
        return bson.decode(raw, codec_options=self._options)

    def put(self, doc: dict[str, Any]) -> None:
        self._docs[doc["_id"]] = bson.encode(doc, codec_options=self._options)
        self._docs.move_to_end(doc["_id"])
        while len(self._docs) > self.MOST:
            self._docs.popitem(last=False)

    def pull(self, aggregate_id: str, version: int, sent: set[str]) -> None:
        """The published entries left the stored outbox: drop them here too, if this is that version."""
        doc = self.get(aggregate_id)
        if doc is None or doc.get("version") != version:
            self.forget(aggregate_id)
            return
        doc[OUTBOX] = [entry for entry in doc.get(OUTBOX, []) if entry["id"] not in sent]
        doc[PENDING] = bool(doc[OUTBOX])
        self.put(doc)

    def forget(self, aggregate_id: str) -> None:
        self._docs.pop(aggregate_id, None)


def _entry(event: CloudEvent[Any]) -> dict[str, Any]:
    # The exact bytes to publish, so a re-publish after a crash sends the same document.
    return {
        "id": event.id,
        "type": event.type,
        "routing_key": event.routing_key,
        "correlationid": event.correlationid,
        "body": event.to_wire().decode(),
    }


def audit_facts(body: str) -> dict[str, Any]:
    """What ``GET /audit`` filters and sorts on, taken from an event's document once, when it is logged:
    its subject, who made it, its aggregate's version and its time (``shared.audit``)."""
    event = AnyEvent.model_validate(json.loads(body))
    return {"subject": event.subject, "actor": event.actor, "actorname": event.actorname,
            "aggregateversion": event.aggregateversion, "time": utc_ms(event.time)}


class EventLog:
    """Every event a service published, keyed by event id, for replays to a subscriber that was away.

    Written by the relay after the broker confirmed an event and before it leaves the outbox,
    so a crash in between only writes the same ``_id`` again. Pruned on a timer.
    """

    def __init__(self, collection: AsyncCollection, retention_days: int = 90) -> None:
        self.collection = collection
        self.retention_days = retention_days
        # The relay's workers publish several aggregates at once: their entries are logged together.
        self._inserts = GroupInsert(collection, name="outbox-event-log")

    async def record(self, entries: list[dict[str, Any]]) -> None:
        """Log published entries; one logged before (a re-publish after a crash) is left as it is."""
        from datetime import UTC, datetime

        now = datetime.now(UTC)
        docs = [{"_id": e["id"], "type": e["type"], "routing_key": e["routing_key"], "body": e["body"],
                 "correlationid": e.get("correlationid"), "published_at": now, **audit_facts(e["body"])}
                for e in entries]
        await asyncio.gather(*(self._inserts.insert(doc) for doc in docs))

    async def between(self, start: Any, end: Any) -> list[dict[str, Any]]:
        """Events published in ``[start, end)``, oldest first."""
        found = self.collection.find({"published_at": {"$gte": start, "$lt": end}}).sort("published_at", 1)
        return await found.to_list(length=None)

    async def prune(self) -> int:
        from datetime import UTC, datetime, timedelta

        cutoff = datetime.now(UTC) - timedelta(days=self.retention_days)
        return (await self.collection.delete_many({"published_at": {"$lt": cutoff}})).deleted_count


class OutboxRelay:
    """Publishes outbox entries right after each write, and sweeps on a timer for leftovers.

    A sweep reads every aggregate of every attached collection: on FerretDB a whole decode of each
    document (0.5-1 ms an activity), which held the store for tenths of a second every
    ``sweep_seconds`` and made the pipeline's slowest events (issue 15). So a sweep runs only when
    something may be left over: at start (a crash may have left events), after anything failed here
    (a publish, a mark, a write of unknown outcome), and on every timer with several processes (one
    of the others may have died with events stored). Otherwise every write with events was handed
    to this relay (:meth:`notify`) and published, and there is nothing for a sweep to find.
    """

    STOP_SECONDS = 5.0  # for removing, at stop, the published entries that wait (:meth:`mark_waiting`)

    def __init__(
        self, publish: Publish, sweep_seconds: float = 10.0, log: EventLog | None = None, workers: int = 32
    ) -> None:
        self._publish = publish
        self.log = log
        # Several aggregates are flushed at once (a confirm round-trip each); one aggregate's
        # events stay in order because every flush of it holds that aggregate's relay lock. A flush
        # mostly waits (the broker's confirm, the event log's insert): with 8, a burst of writes
        # waited ~1 s in the relay's queue (bench/pipeline.py, p50 accept → subscriber), with 32 8 ms.
        self._workers = workers
        self._sweep_seconds = sweep_seconds
        self._collections: list[AggregateCollection] = []
        self._queue: asyncio.Queue[tuple[AggregateCollection, str]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._failures = 0
        self.published = 0
        # What each write handed over (its version and outbox), by aggregate, until a flush takes it;
        # an aggregate written again meanwhile is queued once, with its newest outbox.
        self._handed: dict[tuple[int, str], tuple[int, list[dict[str, Any]]]] = {}
        # Ids this relay published and removed from their outbox lately: an outbox handed over by a
        # write that read it before the removal still lists them (not published again).
        self._sent: dict[str, None] = {}
        self._leftovers = True  # whether the next sweep may find something (see the class)

    def attach(self, collection: AggregateCollection) -> AggregateCollection:
        collection.relay = self
        self._collections.append(collection)
        return collection

    def may_have_left(self) -> None:
        """Something failed: events may be stored and not handed over; the next sweep looks."""
        self._leftovers = True

    def _several_processes(self) -> bool:
        return any(collection.leases is not None for collection in self._collections)

    def notify(self, collection: AggregateCollection, aggregate_id: str,
               handed: tuple[int, list[dict[str, Any]]] | None = None) -> None:
        """Publish the aggregate's outbox soon; ``handed``: its version and outbox as just written."""
        if handed is not None:
            key = (id(collection), aggregate_id)
            queued = key in self._handed
            self._handed[key] = handed
            if queued:
                return
        self._queue.put_nowait((collection, aggregate_id))

    async def start(self) -> None:
        self._tasks = [
            *(asyncio.create_task(self._run_immediate(), name=f"outbox-relay-{n}") for n in range(self._workers)),
            asyncio.create_task(self._run_sweeps(), name="outbox-sweep"),
        ]

    async def stop(self) -> None:
        await cancel_all(self._tasks)
        self._tasks = []
        # What waits for a next write is removed now, so the next start finds nothing to look up.
        # Left (the store away, or slower than this), the next start's sweep does it.
        try:
            await asyncio.wait_for(self.mark_waiting(everything=True), self.STOP_SECONDS)
        except Exception as exc:
            log.warning("published events left in the outbox for the next start", error=repr(exc))

    async def sweep(self) -> int:
        """Publish every pending outbox of every attached collection; returns events published."""
        total = 0
        for collection in self._collections:
            async for doc in collection.collection.find({PENDING: True}, {"_id": 1}):
                total += await self.flush(collection, doc["_id"])
        return total

    async def flush(self, collection: AggregateCollection, aggregate_id: str) -> int:
        """Publish one aggregate's pending events in order, then remove what was published."""
        async with collection.relaying(aggregate_id):
            handed = self._handed.pop((id(collection), aggregate_id), None)
            doc: dict[str, Any] | None
            earlier: set[str] = set()
            if handed is not None:
                version, outbox = handed
                doc = {"_id": aggregate_id, "version": version,
                       OUTBOX: [e for e in outbox if not self._known_sent(collection, aggregate_id, e["id"])]}
            else:
                doc = await collection.collection.find_one({"_id": aggregate_id}, {OUTBOX: 1, "version": 1})
                if doc and doc.get(OUTBOX):
                    earlier = await self._published_before(collection, aggregate_id, doc[OUTBOX])
            if not doc or not doc.get(OUTBOX):
                return 0
            sent: list[dict[str, Any]] = []
            try:
                for entry in doc[OUTBOX]:
                    if entry["id"] not in earlier:
                        await self._publish(entry)
                        sent.append(entry)
            finally:
                if sent and self.log is not None:
                    await self.log.record(sent)
                done = earlier | {e["id"] for e in sent}
                if done:
                    if handed is not None and self.log is not None and collection.defers_marks():
                        # Logged, so provably published: left for the aggregate's next write.
                        collection.mark_later(aggregate_id, done)
                    else:
                        async with collection.lock(aggregate_id):
                            await self._mark_sent(collection, doc, done, handed is not None)
                    self._remember_sent(sent)
            self.published += len(sent)
            return len(sent)

    def _known_sent(self, collection: AggregateCollection, aggregate_id: str, event_id: str) -> bool:
        waiting = collection.unmarked.get(aggregate_id)
        return event_id in self._sent or (waiting is not None and event_id in waiting[1])

    async def _published_before(self, collection: AggregateCollection, aggregate_id: str,
                                outbox: list[dict[str, Any]]) -> set[str]:
        """Entries of a stored outbox that were published already: this process knows, or the event
        log holds them (logged only once confirmed). After a crash, an aggregate's published events
        may still be listed (left for its next write): they are not published again."""
        known = {e["id"] for e in outbox if self._known_sent(collection, aggregate_id, e["id"])}
        if self.log is not None:
            for entry in outbox:
                # One by ``_id``: FerretDB reads the whole log for an ``$in``.
                if entry["id"] not in known and await self.log.collection.find_one({"_id": entry["id"]}, {"_id": 1}):
                    known.add(entry["id"])
        return known

    async def mark_waiting(self, everything: bool = False) -> int:
        """Remove published entries that wait for their aggregate's next write from the store: all
        of them (``everything``, when the service stops), or those past the bound or waiting longer
        than half the event log's retention (the log is what proves them published)."""
        marked = 0
        for collection in self._collections:
            for aggregate_id in self._due(collection, everything):
                if (waiting := collection.unmarked.pop(aggregate_id, None)) is None:
                    continue
                since, ids = waiting
                try:
                    async with collection.lock(aggregate_id):
                        known = collection.known.get(aggregate_id) if collection.known is not None else None
                        doc = known or await collection.collection.find_one(
                            {"_id": aggregate_id}, {OUTBOX: 1, "version": 1})
                        await self._mark_sent(collection, doc, ids, handed=known is not None)
                except BaseException:
                    collection.still_unmarked(aggregate_id, since, ids)
                    raise
                marked += 1
        return marked

    def _due(self, collection: AggregateCollection, everything: bool) -> list[str]:
        if everything:
            return list(collection.unmarked)
        over = len(collection.unmarked) - collection.WAITING_MOST
        oldest = time.time() - (self.log.retention_days * 86400 / 2 if self.log is not None else 0)
        due = []
        for n, (aggregate_id, (since, _)) in enumerate(collection.unmarked.items()):
            if n >= over and since >= oldest:
                break
            due.append(aggregate_id)
        return due

    def _remember_sent(self, sent: list[dict[str, Any]]) -> None:
        for entry in sent:
            self._sent[entry["id"]] = None
        while len(self._sent) > 4096:
            del self._sent[next(iter(self._sent))]

    async def _mark_sent(self, collection: AggregateCollection, doc: dict[str, Any] | None, sent: set[str],
                         handed: bool = False) -> None:
        # Only the published entries are pulled, so an entry recorded meanwhile stays even where
        # the version check is not atomic (FerretDB); the check keeps ``_pending`` true to what
        # is left. The document read (or handed over) before publishing is tried first: mostly
        # nothing was written since, and when this process wrote that version last and holds the
        # aggregate's lock (``unchanged_since``), it is not read again to check.
        aggregate_id = doc["_id"] if doc else None
        while doc is not None:
            published = [entry for entry in doc.get(OUTBOX, []) if entry["id"] in sent]
            remaining = [entry for entry in doc.get(OUTBOX, []) if entry["id"] not in sent]
            update = {"$pullAll": {OUTBOX: published}, "$set": {PENDING: bool(remaining)}}
            if handed and collection.unchanged_since(aggregate_id, doc["version"]):
                marked = await update_read_under_lock(collection.collection, aggregate_id, doc["version"], update)
            else:
                marked = await update_at_version(collection.collection, aggregate_id, doc["version"], update)
            if marked:
                collection.published(aggregate_id, doc["version"], sent, emptied=not remaining)
                return
            doc = await collection.collection.find_one({"_id": aggregate_id}, {OUTBOX: 1, "version": 1})

    async def _run_immediate(self) -> None:
        while True:
            collection, aggregate_id = await self._queue.get()
            try:
                await self.flush(collection, aggregate_id)
                self._failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Broker or store away. Everything queued is marked pending in the store,
                # so drop the queue and let the sweep publish it, in order, once they are back.
                self._failures += 1
                self.may_have_left()
                log.warning("outbox publish failed; the sweep will retry", aggregate_id=aggregate_id, error=repr(exc))
                while not self._queue.empty():
                    self._queue.get_nowait()
                self._handed.clear()
                await asyncio.sleep(self._backoff())

    async def _run_sweeps(self) -> None:
        while True:
            try:
                if self._leftovers or self._several_processes():
                    self._leftovers = False  # a failure from now on is looked for by the next sweep
                    published = await self.sweep()
                    if published:
                        log.info("outbox sweep published leftovers", events=published)
                await self.mark_waiting()
                self._failures = 0
                await asyncio.sleep(self._sweep_seconds)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._failures += 1
                self.may_have_left()
                log.warning("outbox sweep failed; will retry", error=repr(exc))
                await asyncio.sleep(self._backoff())

    def _backoff(self) -> float:
        base = min(self._sweep_seconds, 0.2 * 2 ** min(self._failures, 6))
        return base * (0.5 + random.random() / 2)
