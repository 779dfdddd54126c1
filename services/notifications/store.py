"""The notifications service's MongoDB collections, kept small where they are read often.

(Over 400 lines: every collection of the service is here, so nothing else touches one.)

On the FerretDB store every lookup costs time in proportion to the collection, so:

- each recipient's inbox is its own collection (``inbox_<recipient id>``): reading an inbox or
  marking a notification read touches only that recipient's notifications;
- ``deliveries`` holds the deliveries still at work (pending, sending, failed, dead) and, for
  a few seconds, the sent ones until their ``sinergi.notification.sent`` is published; then
  they move to ``delivery_log``. The scheduler scans ``deliveries`` on every tick;
- ``jobs`` holds only scheduled work not yet done; ``claims`` is insert-only (an insert is
  one unique-index probe however large the collection), pruned on a timer;
- ``partners``, ``activities`` and ``targets`` are read models (:class:`Snapshots`): each
  aggregate's newest snapshot as its event carried it, read back as a typed model.

A notification shows each channel's delivery as a summary taken from the delivery at some
version; a summary is only ever replaced by one of a later version (:meth:`Inboxes.set_delivery`),
so copies written late, twice, or by a repair (:meth:`Inboxes.show`) converge on the newest.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict, defaultdict
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Generic, TypeVar

from pymongo import DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, CollectionInvalid, DuplicateKeyError

from services.notifications.domain import Delivery, Job, JobKind, behind, summary
from services.notifications.inbox_index import Inbox, InboxIndex
from services.notifications.readmodels import Snapshot
from services.notifications.recipient import Recipient
from shared.events import AnyEvent
from shared.group_insert import GroupInsert
from shared.locks import KeyedLocks
from shared.mongo import (DUPLICATE_KEY, delete_by_ids, filters_only_by_id, find_by_ids, replace_at_version,
                          replace_read_under_lock, update_at_version, when_free)
from shared.outbox import OUTBOX, PENDING, AggregateCollection, StaleVersion, WriteLeases, exclusive
from shared.pagination import decode_cursor, encode_cursor, page
from shared.unit_of_work import AlreadyStored, Loaded

REPAIRS_AT_ONCE = 8  # recipients whose notifications one repair pass reads at the same time


async def insert_new(collection: AsyncCollection, docs: list[dict[str, Any]]) -> set[str]:
    """Insert what is not there yet (keyed by ``_id``); returns the ids inserted."""
    if not docs:
        return set()
    try:
        await collection.insert_many(docs, ordered=False)
        return {doc["_id"] for doc in docs}
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if any(error.get("code") != DUPLICATE_KEY for error in errors):
            raise
        failed = {docs[error["index"]]["_id"] for error in errors}
        return {doc["_id"] for doc in docs} - failed


S = TypeVar("S", bound=Snapshot)
T = TypeVar("T")


class Recent(Generic[T]):
    """A value read from the store at most ``SECONDS`` ago, read again once older or forgotten.

    For what this service alone writes and reads on every event (its recipients, the election
    calendar): the writes of this process forget it at once. With several processes
    (``SINERGI_PROCESSES``) another process's change is seen here within ``SECONDS``: an event handled
    in that window goes to the recipients as they were (docs/reliability.md, "Known limits")."""

    SECONDS = 2.0

    def __init__(self, read: Callable[[], Awaitable[T]]) -> None:
        self._read = read
        self._value: tuple[float, T] | None = None
        self._generation = 0
        # The read in progress and the generation it began in: the events a consumer handles at once
        # (a burst, or those a lingering insert let finish together) share it instead of a read each.
        self._reading: tuple[int, asyncio.Future[T]] | None = None

    def forget(self) -> None:
        self._value = None
        self._generation += 1

    async def get(self) -> T:
        if self._value is not None and time.monotonic() - self._value[0] < self.SECONDS:
            return self._value[1]
        if self._reading is None or self._reading[0] != self._generation:  # none, or begun before a change
            reading = asyncio.ensure_future(self._read_now())
            reading.add_done_callback(lambda done: done.cancelled() or done.exception())  # its callers may be gone
            self._reading = (self._generation, reading)
        # Shielded: a caller cancelled does not cancel the others' read.
        return await asyncio.shield(self._reading[1])

    async def _read_now(self) -> T:
        generation, started = self._generation, time.monotonic()
        try:
            value = await self._read()
        finally:
            if self._reading is not None and self._reading[0] == generation:
                self._reading = None
        if generation == self._generation:  # not forgotten while it was read: a change may be missing
            self._value = (started, value)
        return value


class Applied(StrEnum):
    NEWER = "newer"  # the event moved the model forward: its effects are new
    SAME = "same"  # this version was applied before (a redelivery): effects are re-run idempotently
    STALE = "stale"  # an older version than the model holds: no effects


class Snapshots(Generic[S]):
    """A read model: the newest snapshot of each aggregate seen, applied in ``aggregateversion``
    order, stored as the event carried it and read back as ``model``."""

    WRITTEN_KEPT = 4096  # aggregates whose last write this process remembers (the least recent forgotten first)

    def __init__(self, collection: AsyncCollection, model: type[S], sole_writer: bool = False,
                 first_linger: float = 0.0) -> None:
        self.collection = collection
        self.model = model
        # First versions are inserted together: those of a burst at once, and, with ``first_linger``,
        # those a few ms apart too (a staff member registering partners one after another).
        self._firsts = GroupInsert(collection, linger=first_linger, name=f"group-insert-{collection.name}-first")
        self._locks = KeyedLocks()
        self._recent: Recent[dict[str, S]] = Recent(self._everyone)
        # With one process (``SINERGI_PROCESSES`` 1) this one alone writes the model, always through
        # :meth:`apply` under the aggregate's lock: what it wrote last is what is stored, and the
        # next event of the aggregate is applied without reading it back (a round trip an event).
        self.sole_writer = sole_writer
        self._written: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def _changed(self, aggregate_id: str, stored: dict[str, Any]) -> None:
        self._recent.forget()
        if self.sole_writer:
            self._written[aggregate_id] = stored
            self._written.move_to_end(aggregate_id)
            while len(self._written) > self.WRITTEN_KEPT:
                self._written.popitem(last=False)

    async def _everyone(self) -> dict[str, S]:
        await self._firsts.settled()
        return {doc["_id"]: self._read(doc) for doc in await self.collection.find({}).to_list()}

    async def recent(self, ids: list[str]) -> list[S]:
        """Like :meth:`many`, as of at most ``Recent.SECONDS`` ago (this process's own changes at once):
        for what only names things, over a small model (the election calendar: tens of elections)."""
        if not ids:
            return []
        known = await self._recent.get()
        return [known[i] for i in dict.fromkeys(ids) if i in known]

    def lock(self, aggregate_id: str) -> asyncio.Lock:
        """Serialises the handling of one aggregate's events inside the process."""
        return self._locks(aggregate_id)

    def _read(self, doc: dict[str, Any]) -> S:
        return self.model.model_validate({k: v for k, v in doc.items() if k != "_id"})

    async def apply(self, aggregate_id: str, version: int, snapshot: dict[str, Any]) -> tuple[Applied, S | None]:
        """Store ``snapshot`` unless a newer one is known; returns the outcome and the previous one.

        The stored document remembers the status it replaced (``_previous_status``), so a
        redelivered event can still tell what it changed.
        """
        try:
            return await self._apply(aggregate_id, version, snapshot)
        except BaseException:
            # A write cut off may have been stored after all: the next try reads what is there.
            self._written.pop(aggregate_id, None)
            raise

    async def _apply(self, aggregate_id: str, version: int, snapshot: dict[str, Any]) -> tuple[Applied, S | None]:
        doc = {**snapshot, "_id": aggregate_id, "id": aggregate_id, "version": version}
        # An aggregate's first version (a plan, a registration) is mostly the first seen of it: its
        # insert is tried before any read (a round trip an event); refused, the stored one is read.
        first = version == 1 and aggregate_id not in self._written
        while True:
            found = self._written.get(aggregate_id)
            if found is None and not first:
                found = await self.collection.find_one({"_id": aggregate_id})
            first = False
            if found is None:
                if await self._firsts.insert(stored := {**doc, "_previous_status": None}):
                    self._changed(aggregate_id, stored)
                    return Applied.NEWER, None
                continue  # there already: read it
            previous = self._read(found)
            if previous.version > version:
                return Applied.STALE, previous
            if previous.version == version:
                return Applied.SAME, previous
            # Read under the aggregate's lock, which every writer of a read model holds (the queue's
            # single active consumer keeps other processes out): not read again.
            if await replace_read_under_lock(self.collection, aggregate_id, previous.version,
                                             stored := {**doc, "_previous_status": previous.status}):
                self._changed(aggregate_id, stored)
                return Applied.NEWER, previous
            self._written.pop(aggregate_id, None)  # not as remembered (removed by hand?): read it

    # The reads find the first versions this process is inserting (``first_linger``) once stored: an
    # activity's event handled after its partners' registrations names them.

    async def get(self, aggregate_id: str) -> S | None:
        await self._firsts.settled([aggregate_id])
        found = await self.collection.find_one({"_id": aggregate_id})
        return self._read(found) if found else None

    async def many(self, ids: list[str]) -> list[S]:
        if not ids:
            return []
        await self._firsts.settled(ids)
        return [self._read(doc) for doc in await find_by_ids(self.collection, ids)]

    async def all(self, election: str | None = None) -> list[S]:
        """Every snapshot, or those of one election."""
        await self._firsts.settled()
        query = {"election": election} if election is not None else {}
        return [self._read(doc) for doc in await self.collection.find(query).to_list()]


class Recipients:
    """Recipients: the :class:`~shared.unit_of_work.Repository` of :class:`Recipient` (``lock``,
    ``load``, ``add``, ``save``) and the reads of the notifier and the API (documents).

    A save checks the version by ``_id`` (``shared.mongo.replace_at_version``: any other filter
    FerretDB evaluates by scanning, and not atomically), under the per-recipient lock the unit of
    work holds; the unit of work also retries a write the store refused as busy. A recipient's
    events are not published: they are cleared once written.
    """

    def __init__(self, collection: AsyncCollection) -> None:
        self.collection = collection
        self._locks = KeyedLocks()
        # Every event's audience is drawn from all recipients (tens): read once per ``Recent.SECONDS``.
        self._everyone: Recent[list[dict[str, Any]]] = Recent(self.all)

    def lock(self, recipient_id: str) -> asyncio.Lock:
        return self._locks(recipient_id)

    async def recent(self) -> list[dict[str, Any]]:
        """Every recipient, as of at most ``Recent.SECONDS`` ago; this process's changes at once."""
        return await self._everyone.get()

    async def load(self, recipient_id: str) -> Loaded[Recipient] | None:
        doc = await self.get(recipient_id)
        if doc is None:
            return None
        recipient = _recipient(doc)
        return Loaded(recipient, recipient.version, [])

    async def add(self, recipient: Recipient) -> None:
        """Insert a new recipient; ``AlreadyStored`` if its id exists (a retried request)."""
        try:
            await self.collection.insert_one(_recipient_doc(recipient))
        except DuplicateKeyError:
            raise AlreadyStored(recipient.id) from None
        finally:
            self._everyone.forget()
        recipient.events.clear()

    async def save(self, loaded: Loaded[Recipient]) -> None:
        """Write (or, once removed, delete) the recipient if still at ``loaded.version``, else ``StaleVersion``."""
        recipient = loaded.aggregate
        self._everyone.forget()
        if recipient.removed:
            written = await _delete_at_version(self.collection, recipient.id, loaded.version)
        else:
            written = await replace_at_version(self.collection, recipient.id, loaded.version,
                                               _recipient_doc(recipient))
        if not written:
            raise StaleVersion(recipient.id)
        recipient.events.clear()

    async def get(self, recipient_id: str) -> dict[str, Any] | None:
        return await self.collection.find_one({"_id": recipient_id})

    async def all(self) -> list[dict[str, Any]]:
        return await self.collection.find({}).to_list()

    async def of_user(self, user_id: str) -> dict[str, Any] | None:
        """The recipient a console user is (the oldest, should two claim one user). A scan on
        FerretDB, over the recipients only: staff and systems, tens of them."""
        found = await self.collection.find({"user_id": user_id}).sort("_id", 1).limit(1).to_list()
        return found[0] if found else None

    async def page(self, query: dict[str, Any], limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        return await page(self.collection, query, limit, cursor)


def _recipient_doc(recipient: Recipient) -> dict[str, Any]:
    return {"_id": recipient.id, **recipient.state()}


def _recipient(doc: dict[str, Any]) -> Recipient:
    return Recipient.from_doc(doc)


async def _delete_at_version(collection: AsyncCollection, doc_id: str, version: int) -> bool:
    """Delete the document if it is still at ``version`` (by ``_id`` on FerretDB, as
    ``shared.mongo.replace_at_version`` does for a replace)."""
    if await filters_only_by_id(collection):
        current = await collection.find_one({"_id": doc_id}, {"version": 1})
        if current is None or current.get("version") != version:
            return False
        return (await collection.delete_one({"_id": doc_id})).deleted_count == 1
    return (await collection.delete_one({"_id": doc_id, "version": version})).deleted_count == 1


class Inboxes:
    """One collection per recipient; notification ids are time-ordered, so ``_id`` is the order.

    A notification is updated by more than one writer (each channel's outcome, a repair, the
    recipient marking it read), and on FerretDB an update is a read then a write: the later of two
    at once puts back what the earlier changed. So every update of a notification holds its lock
    (:meth:`_writing`), and with several processes (``leases``) its write lease in the store too:
    without it a process's copy of an e-mail's ``sent`` was lost to another's write (issue 15).

    With one process (no ``leases``) it also keeps each inbox's ids and read marks
    (inbox_index.py): a page reads only its notifications, the unread count nothing.
    """

    def __init__(self, db: AsyncDatabase, leases: WriteLeases | None = None) -> None:
        self.db = db
        self.leases = leases
        self._locks = KeyedLocks()
        # With one process, which notifications each inbox holds and which are unread (inbox_index.py).
        self._index = InboxIndex() if leases is None else None
        # Per recipient: the notifications of the events a consumer handles at once, stored together.
        self._inserts: dict[str, GroupInsert] = {}

    def _writing(self, recipient_id: str, notification_id: str) -> Any:
        return exclusive(self._locks(notification_id), self.leases, f"inbox_{recipient_id}:{notification_id}")

    def of(self, recipient_id: str) -> AsyncCollection:
        return self.db[f"inbox_{recipient_id}"]

    async def add(self, recipient_id: str, doc: dict[str, Any]) -> bool:
        """Store a new notification; ``False`` if it was stored before (a redelivered event)."""
        inserts = self._inserts.get(recipient_id)
        if inserts is None:
            inserts = self._inserts[recipient_id] = GroupInsert(self.of(recipient_id))
        try:
            added = await inserts.insert(doc)
        except BaseException:
            self._unsure(recipient_id)
            raise
        if added and self._index is not None:
            self._index.added(recipient_id, doc["_id"])
        return added

    async def get(self, recipient_id: str, notification_id: str) -> dict[str, Any] | None:
        return await self.of(recipient_id).find_one({"_id": notification_id})

    async def page(self, recipient_id: str, unread: bool, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        if (inbox := await self._indexed(recipient_id)) is None:
            query: dict[str, Any] = {"read_at": None} if unread else {}
            return await page(self.of(recipient_id), query, limit, cursor, newest_first=True)
        chosen, more = inbox.newest(limit, decode_cursor(cursor) if cursor else None, unread)
        docs = await find_by_ids(self.of(recipient_id), chosen)
        docs.sort(key=lambda doc: doc["_id"], reverse=True)
        return docs, encode_cursor(chosen[-1]) if more and chosen else None

    async def unread(self, recipient_id: str) -> int:
        if (inbox := await self._indexed(recipient_id)) is None:
            return await self.of(recipient_id).count_documents({"read_at": None})
        return len(inbox.unread)

    async def _indexed(self, recipient_id: str) -> Inbox | None:
        """The inbox's index, with one process (and an inbox within ``InboxIndex.MOST``)."""
        if self._index is None:
            return None
        inbox = self.of(recipient_id)
        return await self._index.of(recipient_id, lambda: inbox.find({}, {"read_at": 1}).to_list())

    def _unsure(self, recipient_id: str) -> None:
        if self._index is not None:
            self._index.unsure(recipient_id)

    async def mark_all_read(self, recipient_id: str, at: datetime) -> int:
        """Mark every unread notification read, one by one under each one's lock (as a delivery's
        copy onto it takes it), so this process never undoes a delivery state it is writing.
        Returns how many it marked."""
        if (indexed := await self._indexed(recipient_id)) is not None:
            ids = sorted(indexed.unread)
        else:
            ids = [doc["_id"] for doc in await self.of(recipient_id).find({"read_at": None}, {"_id": 1}).to_list()]
        marked = 0
        for notification_id in ids:
            async with self._writing(recipient_id, notification_id):
                marked += await self._mark_read(recipient_id, notification_id, at)
        return marked

    async def mark_read(self, recipient_id: str, notification_id: str, at: datetime) -> dict[str, Any] | None:
        inbox = self.of(recipient_id)
        async with self._writing(recipient_id, notification_id):
            await self._mark_read(recipient_id, notification_id, at)
        return await inbox.find_one({"_id": notification_id})

    async def _mark_read(self, recipient_id: str, notification_id: str, at: datetime) -> int:
        """Mark the notification read if it is unread (its caller holds its lock); 1 if it was."""
        try:
            marked = await self._marked_read(self.of(recipient_id), notification_id, at)
        except BaseException:
            self._unsure(recipient_id)
            raise
        if self._index is not None:
            self._index.read(recipient_id, notification_id)
        return marked

    @staticmethod
    async def _marked_read(inbox: AsyncCollection, notification_id: str, at: datetime) -> int:
        """The store's half of :meth:`_mark_read`: the write, by ``_id`` on FerretDB."""
        unread: dict[str, Any] = {"_id": notification_id, "read_at": None}
        if await filters_only_by_id(inbox):  # there ``read_at`` in the filter was a scan of the whole inbox
            found = await inbox.find_one({"_id": notification_id}, {"read_at": 1})
            if found is None or found.get("read_at") is not None:
                return 0
            unread = {"_id": notification_id}
        result = await when_free(lambda: inbox.update_one(
            unread, {"$set": {"read_at": at, "updated_at": at}, "$inc": {"version": 1}}))
        return result.modified_count

    async def set_delivery(self, recipient_id: str, notification_id: str, channel: str, summary: dict[str, Any],
                           at: datetime, verify: bool) -> None:
        """Record a channel's delivery state on the notification, unless it shows a newer one.

        The write is conditioned on the notification showing an older version of the delivery
        (or none), so a copy that arrives late never undoes a newer one, and the same copy twice
        changes nothing. Each channel writes only its own key. An update on FerretDB is a read
        then a write, so when two writers of one notification (two channels, or an outcome and a
        repair) finish at once in two processes one could undo the other: with ``verify`` the
        write is read back and repeated until it, or a newer one, holds.
        """
        inbox = self.of(recipient_id)
        shown = f"delivery.{channel}.version"
        older = {"_id": notification_id,
                 "$or": [{shown: {"$lt": summary["version"]}}, {shown: {"$exists": False}}]}
        change = {"$set": {f"delivery.{channel}": summary, "updated_at": at}, "$inc": {"version": 1}}
        # FerretDB evaluates ``older`` in Go over every notification of the inbox (100 ms at 1,500),
        # and every delivery outcome wrote through it. There the condition is read by ``_id`` and
        # the write goes by ``_id``: the notification's lock (and lease) keeps its writers apart.
        by_id = await filters_only_by_id(inbox)
        async with self._writing(recipient_id, notification_id):
            for _ in range(5):
                if by_id:
                    found = await inbox.find_one({"_id": notification_id}, {"delivery": 1})
                    if found is None or not behind((found.get("delivery") or {}).get(channel), summary):
                        return
                    result = await inbox.update_one({"_id": notification_id}, change)
                else:
                    result = await inbox.update_one(older, change)
                if result.matched_count == 0 or not verify:
                    return
                found = await inbox.find_one({"_id": notification_id}, {"delivery": 1})
                if found is None or not behind((found.get("delivery") or {}).get(channel), summary):
                    return

    async def show(self, deliveries: Iterable[dict[str, Any]]) -> int:
        """Make each delivery's notification show it, where it shows an older state: the repair of
        a copy that a crash or a store error lost after the delivery was stored. One read per
        recipient, a write only where the notification is behind (verified); repeating it writes
        nothing more. Returns how many notifications it changed."""
        wanted: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
        for delivery in deliveries:
            if delivery["recipient_id"]:  # a contact's e-mail has no notification
                wanted[delivery["recipient_id"]].append(delivery)
        slots = asyncio.Semaphore(REPAIRS_AT_ONCE)

        async def repair(recipient_id: str, own: list[dict[str, Any]]) -> int:
            async with slots:
                ids = list({d["notification_id"] for d in own})
                notes = await find_by_ids(self.of(recipient_id), ids, {"delivery": 1})
                showing = {n["_id"]: n.get("delivery") or {} for n in notes}
                written = 0
                for delivery in own:
                    state = summary(delivery)
                    note = showing.get(delivery["notification_id"])
                    if note is not None and behind(note.get(delivery["channel"]), state):
                        await self.set_delivery(recipient_id, delivery["notification_id"], delivery["channel"], state,
                                                delivery["updated_at"], verify=True)
                        written += 1
                return written

        return sum(await asyncio.gather(*(repair(r, own) for r, own in wanted.items())))

    async def create(self, recipient_id: str) -> None:
        """Create a new recipient's inbox up front, so a fan-out does not pay for it."""
        with contextlib.suppress(CollectionInvalid):
            await when_free(lambda: self.db.create_collection(f"inbox_{recipient_id}"))

    async def drop(self, recipient_id: str) -> None:
        if self._index is not None:
            self._index.forget(recipient_id)
        await when_free(lambda: self.of(recipient_id).drop())
        self._unsure(recipient_id)  # a page read meanwhile is not kept


class Deliveries:
    """Deliveries at work (an aggregate collection: outcome events ride in the state write) and the log."""

    WORKING = ("pending", "sending", "failed", "dead")

    def __init__(self, active: AggregateCollection, log: AsyncCollection) -> None:
        self.active = active
        self.log = log

    def lock(self, delivery_id: str) -> asyncio.Lock:
        return self.active.lock(delivery_id)

    async def add_new(self, docs: list[dict[str, Any]], check_log: bool) -> set[str]:
        """Insert deliveries not yet known. ``check_log`` when re-running a cause: a delivery
        that was already sent and moved to the log must not come back to life."""
        if not docs:
            return set()
        if check_log:
            known = await find_by_ids(self.log, [d["_id"] for d in docs], {"_id": 1})
            done = {d["_id"] for d in known}
            docs = [d for d in docs if d["_id"] not in done]
        added = await insert_new(self.active.collection, [{**d, OUTBOX: [], PENDING: False} for d in docs])
        if check_log and added:
            # The scheduler moves a sent delivery to the log by an insert there, then a delete here
            # (no transactions): one moved between that look and this insert is stored here again,
            # to be attempted again. Looked for once more, after the insert, and taken back.
            moved = {d["_id"] for d in await find_by_ids(self.log, added, {"_id": 1})}
            if moved:
                await delete_by_ids(self.active.collection, moved)
                added -= moved
        return added

    async def get(self, delivery_id: str) -> dict[str, Any] | None:
        """A delivery at work or in the log."""
        return await self.active.get(delivery_id) or await self.log.find_one({"_id": delivery_id})

    async def at_work(self, delivery_id: str) -> dict[str, Any] | None:
        return await self.active.get(delivery_id)

    async def logged(self, delivery_id: str) -> bool:
        """Sent, and moved to the log."""
        return await self.log.find_one({"_id": delivery_id}, {"_id": 1}) is not None

    async def mark(self, delivery_id: str, version: int, changes: dict[str, Any]) -> bool:
        """Set ``changes`` if the delivery is still at ``version`` (no event: ``sending`` is not an outcome)."""
        return await when_free(lambda: update_at_version(self.active.collection, delivery_id, version,
                                                         {"$set": changes}))

    async def record(self, doc: dict[str, Any], expected_version: int, events: list[AnyEvent],
                     pending: list[dict[str, Any]]) -> None:
        """Replace the delivery if still at ``expected_version`` (else :class:`StaleVersion`), with its
        outcome events in the same write; a store busy with other writes is waited for."""
        await when_free(lambda: self.active.replace(doc, expected_version, events, pending=pending))

    # --- the Repository of the unit of work, for an admin's retry ------------------------------

    async def load(self, delivery_id: str) -> Loaded[Delivery] | None:
        """A delivery at work (one in the log is sent: nothing changes it any more)."""
        doc = await self.active.get(delivery_id)
        if doc is None:
            return None
        pending = list(doc.pop(OUTBOX, None) or [])
        doc.pop(PENDING, None)
        return Loaded(Delivery(doc), doc["version"], pending)

    async def add(self, delivery: Delivery) -> None:
        try:
            await self.active.insert(delivery.doc, [])
        except DuplicateKeyError:
            raise AlreadyStored(delivery.id) from None
        delivery.events.clear()

    async def save(self, loaded: Loaded[Delivery]) -> None:
        """Replace the delivery if still at the version read, keeping its unpublished outcome events."""
        await self.active.replace(loaded.aggregate.doc, loaded.version, [], pending=loaded.pending)
        loaded.aggregate.events.clear()

    async def working(self) -> list[dict[str, Any]]:
        """Every delivery in the working set (the scheduler's scan; an attempt starts from it)."""
        return await self.active.collection.find({}).to_list()

    async def archive(self, sent: Iterable[dict[str, Any]], show: Callable[[list[dict[str, Any]]], Awaitable[Any]]) -> int:
        """Move sent deliveries whose event is published, as the scheduler's scan read them, to
        the log (insert, then delete). Nothing changes a delivery in that state any more, so they
        are not read again; another process moving the same ones at once inserts nothing new and
        deletes nothing more.

        ``show`` is given the deliveries about to move, first: it makes their notifications show
        them sent (the outcome's own copy may have been lost), and if it fails nothing moves.
        """
        docs = [{k: v for k, v in doc.items() if k not in {OUTBOX, PENDING}}
                for doc in sent if doc["status"] == "sent" and not doc.get(PENDING)]
        if not docs:
            return 0
        await show(docs)
        await insert_new(self.log, docs)
        await delete_by_ids(self.active.collection, [d["_id"] for d in docs])
        return len(docs)

    async def page(self, query: dict[str, Any], limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        """Newest first over the working set and the log together (only the working set holds
        deliveries that are not sent)."""
        scoped = query
        if cursor:
            scoped = {"$and": [query, {"_id": {"$lt": decode_cursor(cursor)}}]}
        found: list[dict[str, Any]] = []
        places = [self.active.collection] if query.get("status") in self.WORKING else [self.active.collection, self.log]
        for collection in places:
            found += await collection.find(scoped, {OUTBOX: 0, PENDING: 0}).sort("_id", DESCENDING).limit(limit + 1).to_list()
        found.sort(key=lambda d: d["_id"], reverse=True)
        more = len(found) > limit
        found = found[:limit]
        return found, encode_cursor(found[-1]["_id"]) if more and found else None


class Jobs:
    """Scheduled work not yet done: one document per (key, occurrence).

    Each job is also *named* under its subject in ``job_names``, one document per job with ``_id``
    ``<subject>/<job id>``, so that re-deriving a subject's jobs on every event finds them without
    reading every job. Naming is an insert and forgetting a delete, each atomic on its own document:
    two processes changing one subject's jobs at once (or an old and a new version during a
    rolling deploy) cannot drop each other's names, as rewriting one list per subject did (FerretDB
    runs an update as a read then a write: the later writer's list replaced the earlier one's, and
    a job whose name was lost was never deleted). A subject's names are read by an ``_id`` range,
    its prefix.

    A job is named before it is stored and forgotten after it is deleted, so a crash in between
    leaves a name without a job (harmless), never a job without a name; and since another process
    may store a job again while this one deletes it, each side checks after the other's step
    could have run (:meth:`sync`).
    """

    def __init__(self, collection: AsyncCollection, several_processes: bool = True) -> None:
        self.collection = collection
        # Only another process can delete a job's name while this one names it (see :meth:`sync`).
        self.several_processes = several_processes
        self.names = collection.database["job_names"]
        # Before job_names: one list of job ids per subject (read, moved to job_names, removed).
        self.lists = collection.database[f"{collection.name}_by_subject"]
        self._indexed = False
        self._indexing = asyncio.Lock()
        self._lists_left = True  # until the first look finds none
        # The events a consumer handles at once store their jobs and names together.
        self._inserts, self._name_inserts = GroupInsert(collection), GroupInsert(self.names)

    @staticmethod
    def _doc(job: Job, now: datetime) -> dict[str, Any]:
        return {"_id": job.id, "key": job.key, "occurrence": job.occurrence, "kind": str(job.kind),
                "subject": job.subject, "due_at": job.due_at, "data": job.data, "created_at": now}

    @staticmethod
    def _name_doc(subject: str, job_id: str, kind: str) -> dict[str, Any]:
        return {"_id": f"{subject}/{job_id}", "subject": subject, "job": job_id, "kind": kind}

    async def sync(self, subject: str, kinds: Iterable[str], desired: list[Job], now: datetime,
                   none_yet: bool = False) -> list[Job]:
        """Make the subject's jobs of these kinds exactly ``desired`` (a job already there keeps its
        due); returns the jobs added. Callers hold the subject's lock (one process at a time).
        ``none_yet``: the caller knows nothing named a job of the subject yet (``domain.no_jobs_yet``),
        so its names are not read (a round trip)."""
        await self._index_older_jobs()
        kinds = {str(kind) for kind in kinds}
        named = [] if none_yet else await self._named(subject)
        existing = {name["job"] for name in named if name["kind"] in kinds}
        wanted = {job.id for job in desired}
        stale = [job_id for job_id in existing if job_id not in wanted]
        await self._name(subject, [(job.id, str(job.kind)) for job in desired if job.id not in existing])
        if stale:
            for job_id in stale:
                await self.collection.delete_one({"_id": job_id})
            for job_id in stale:
                await self.names.delete_one({"_id": f"{subject}/{job_id}"})
            # Another process may have stored one of them again between the two deletes (its event
            # wants it): such a job keeps its name.
            again = await find_by_ids(self.collection, stale, {"kind": 1})
            await self._name(subject, [(doc["_id"], doc["kind"]) for doc in again])
        # Every wanted job is inserted: one already stored keeps its due (its insert is refused),
        # and one a crash left named but not stored is stored now.
        added = await self._inserts.insert_new([self._doc(job, now) for job in desired])
        if added and self.several_processes:
            # Another process deleting one of these as stale may have forgotten its name after
            # this one named it: name it again (an insert that finds the name changes nothing).
            await self._name(subject, [(job.id, str(job.kind)) for job in desired if job.id in added])
        return [job for job in desired if job.id in added]

    async def _named(self, subject: str) -> list[dict[str, Any]]:
        """The subject's names: an ``_id`` range (``/`` sorts just before ``0``), and its list from
        before job_names if a process of an older version left one, moved here. Those lists are
        looked for only while any was found (:meth:`_index_older_jobs` looks once per process), not
        on every event: a round trip each."""
        prefix = f"{subject}/"
        names = await self.names.find({"_id": {"$gte": prefix, "$lt": f"{subject}0"},
                                       "subject": subject}).to_list()
        listed = await self.lists.find_one({"_id": subject}) if self._lists_left else None
        if listed:
            moved = [self._name_doc(subject, entry["id"], entry["kind"]) for entry in listed["jobs"]]
            await insert_new(self.names, moved)
            # Only the list as read: an older process that rewrote it meanwhile leaves it for next time.
            await self.lists.delete_one({"_id": subject, "jobs": listed["jobs"]})
            names += moved
        return names

    async def _name(self, subject: str, jobs: list[tuple[str, str]]) -> None:
        await self._name_inserts.insert_new([self._name_doc(subject, job_id, kind) for job_id, kind in jobs])

    async def _index_older_jobs(self) -> None:
        """Once per process: name the jobs nothing names (stored before any index existed), so their
        subject's next change finds them."""
        if self._indexed:
            return
        async with self._indexing:
            if self._indexed:
                return
            named = {doc["_id"] async for doc in self.names.find({}, {"_id": 1})}
            unnamed = [self._name_doc(doc["subject"], doc["_id"], doc["kind"])
                       async for doc in self.collection.find({}, {"subject": 1, "kind": 1})
                       if f"{doc['subject']}/{doc['_id']}" not in named]
            await insert_new(self.names, unnamed)
            # An older version's process still running (a rolling deploy) may write lists after this
            # look; it names its jobs in them, and this process's next start moves them.
            self._lists_left = await self.lists.find_one({}, {"_id": 1}) is not None
            self._indexed = True

    @staticmethod
    def _job(doc: dict[str, Any]) -> Job:
        return Job(doc["key"], doc["occurrence"], JobKind(doc["kind"]), doc["subject"], doc["due_at"],
                   doc.get("data") or {})

    @property
    def database(self) -> AsyncDatabase:
        """The service's database, where the other scheduled state (open summaries) lives too."""
        return self.collection.database

    async def ensure(self, job: Job, now: datetime) -> None:
        await self._inserts.insert(self._doc(job, now))

    async def any_of(self, kind: JobKind) -> bool:
        return await self.collection.find_one({"kind": str(kind)}, {"_id": 1}) is not None

    async def earliest(self, limit: int = 200) -> list[Job]:
        """The jobs coming due first: the due ones, and after them the next to come."""
        return [self._job(doc) for doc in await self.collection.find({}).sort("due_at", 1).limit(limit).to_list()]

    async def delete(self, job_id: str) -> None:
        await self.collection.delete_one({"_id": job_id})

    async def page(self, query: dict[str, Any], limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        return await page(self.collection, query, limit, cursor)


class Claims:
    """Who runs which job occurrence or delivery attempt: an insert keyed by ``_id`` wins once."""

    def __init__(self, collection: AsyncCollection) -> None:
        self.collection = collection

    async def take(self, claim_id: str, owner: str, at: datetime) -> bool:
        try:
            await self.collection.insert_one({"_id": claim_id, "owner": owner, "at": at})
            return True
        except DuplicateKeyError:
            return False

    async def holder(self, claim_id: str) -> str | None:
        """Who took the claim (``None`` if nobody has)."""
        found = await self.collection.find_one({"_id": claim_id}, {"owner": 1})
        return found.get("owner") if found else None

    async def prune(self, before: datetime) -> int:
        return (await self.collection.delete_many({"at": {"$lt": before}})).deleted_count


class SummaryBook:
    """The summaries being gathered (``summaries.py``): each open group (``summary_groups``, one
    document by group) and its lines (``summary_lines``, ``<group>/<cause>``: inserts, so a
    redelivered event adds nothing). Lines of a sent summary are kept ``kept`` as done."""

    def __init__(self, db: AsyncDatabase, kept: timedelta) -> None:
        self.groups = db["summary_groups"]
        self.lines = db["summary_lines"]
        self.kept = kept

    async def add_line(self, line: dict[str, Any]) -> bool:
        """Insert a line; ``False`` when it is there already (the same cause again)."""
        return bool(await insert_new(self.lines, [{**line, "done_at": None}]))

    async def line_done(self, line_id: str) -> bool:
        """Whether the line was already in a summary that went out."""
        known = await self.lines.find_one({"_id": line_id}, {"done_at": 1})
        return known is not None and known.get("done_at") is not None

    async def open_group(self, group: dict[str, Any]) -> None:
        """Open a group unless it is open already (an insert: the one there stays)."""
        await insert_new(self.groups, [group])

    async def group(self, group_id: str) -> dict[str, Any] | None:
        return await self.groups.find_one({"_id": group_id})

    async def close_group(self, group_id: str) -> None:
        await self.groups.delete_one({"_id": group_id})

    async def open_lines(self, group_id: str) -> list[dict[str, Any]]:
        """The group's lines not yet in a summary, oldest first (an ``_id`` range, not a scan)."""
        return await self.lines.find({"_id": {"$gte": f"{group_id}/", "$lt": f"{group_id}0"},
                                      "done_at": None}).sort("at", 1).to_list()

    async def mark_done(self, line_ids: list[str], now: datetime) -> None:
        """The lines went out in a summary; lines done longer ago than ``kept`` are forgotten."""
        if line_ids:
            await self.lines.update_many({"_id": {"$in": line_ids}}, {"$set": {"done_at": now}})
            await self.lines.delete_many({"done_at": {"$lt": now - self.kept}})
